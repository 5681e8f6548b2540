package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

// walletLoopbackRPC is a loopback JSON-RPC server standing in for a Solana
// or NEAR node (none can run here); it speaks the methods sov uses.
func walletLoopbackRPC(t *testing.T, handle func(method string, params json.RawMessage) any) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     any             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		json.Unmarshal(body, &req)
		res := handle(req.Method, req.Params)
		out := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if e, ok := res.(error); ok {
			out["error"] = map[string]any{"code": -32000, "message": e.Error()}
		} else {
			out["result"] = res
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type walletRPCErr string

func (e walletRPCErr) Error() string { return string(e) }

func TestWalletSolanaAndNEARSendWithLoopbackJSONRPCServers(t *testing.T) {
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	var solSent, nearSent []byte
	solURL := walletLoopbackRPC(t, func(method string, params json.RawMessage) any {
		switch method {
		case "getBalance":
			return map[string]any{"context": map[string]int{"slot": 9}, "value": 3_000_000_000}
		case "getLatestBlockhash":
			return map[string]any{"context": map[string]int{"slot": 9}, "value": map[string]any{"blockhash": base58.Encode(make([]byte, 32)), "lastValidBlockHeight": 99}}
		case "sendTransaction":
			var p []string
			json.Unmarshal(params, &p)
			solSent, _ = base64.StdEncoding.DecodeString(p[0])
			if !ed25519.Verify(solSent[65+4:65+36], solSent[65:], solSent[1:65]) {
				return walletRPCErr("signature verification failure")
			}
			return base58.Encode(solSent[1:65])
		}
		return walletRPCErr("method not found")
	})
	nearURL := walletLoopbackRPC(t, func(method string, params json.RawMessage) any {
		var p map[string]any
		json.Unmarshal(params, &p)
		switch {
		case p["request_type"] == "view_account":
			return map[string]any{"amount": "2000000000000000000000000"}
		case p["request_type"] == "view_access_key":
			return map[string]any{"nonce": 7, "block_hash": base58.Encode(make([]byte, 32))}
		case method == "send_tx":
			nearSent, _ = base64.StdEncoding.DecodeString(p["signed_tx_base64"].(string))
			h := sha256.Sum256(nearSent[:len(nearSent)-65])
			return map[string]any{"transaction": map[string]any{"hash": base58.Encode(h[:])}}
		}
		return walletRPCErr("method not found")
	})
	for _, args := range [][]string{
		{"wallet", "networks", "add", "sol-local", "--family", "solana", "--caip2", "solana:localnet", "--rpc", "http://127.0.0.1:1", "--rpc", solURL},
		{"wallet", "networks", "add", "near-local", "--family", "near", "--caip2", "near:localnet", "--rpc", nearURL},
	} {
		if r := runSov(t, home, nil, "", args...); r.Code != 0 {
			t.Fatalf("%v: %s", args, r.Stderr)
		}
	}
	r := runSov(t, home, nil, "", "wallet", "balance", "--json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"amount": "3"`) || !strings.Contains(r.Stdout, `"amount": "2"`) {
		t.Fatalf("balance: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "1.5", "SOL", "to", "EN2sCsJ1WDV8UFqsiTXHcUPUxQ4juE71eCknHYYMifkd", "--yes")
	if r.Code != 0 || len(solSent) == 0 {
		t.Fatalf("send SOL: %d %s", r.Code, r.Stderr)
	}
	if lam := binary.LittleEndian.Uint64(solSent[len(solSent)-8:]); lam != 1_500_000_000 {
		t.Fatalf("lamports %d", lam)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "0.5", "NEAR", "to", "bob.near", "--yes")
	if r.Code != 0 || len(nearSent) == 0 {
		t.Fatalf("send NEAR: %d %s", r.Code, r.Stderr)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "5", "SOL", "to", "EN2sCsJ1WDV8UFqsiTXHcUPUxQ4juE71eCknHYYMifkd", "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "insufficient funds") {
		t.Fatalf("overspend: %d %s", r.Code, r.Stderr)
	}
	r = runSov(t, home, nil, "", "wallet", "ledger", "--json")
	if strings.Count(r.Stdout, `"hash"`) != 2 {
		t.Fatalf("ledger %s", r.Stdout)
	}
}
