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

// walletLocalGenesis is the genesis hash the loopback local chains report.
var walletLocalGenesis = base58.Encode(make([]byte, 32))

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
		case "getGenesisHash":
			return walletLocalGenesis
		case "getBlockHeight":
			return 50
		case "getSignatureStatuses":
			return map[string]any{"context": map[string]int{"slot": 12}, "value": []any{map[string]any{"slot": 11, "err": nil, "confirmationStatus": "confirmed"}}}
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
		case method == "status":
			return map[string]any{"chain_id": "localnet", "genesis_hash": walletLocalGenesis}
		case method == "tx":
			return map[string]any{"status": map[string]any{"SuccessValue": ""}, "transaction": map[string]any{"hash": p["tx_hash"]}, "final_execution_status": "FINAL"}
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
	if strings.Count(r.Stdout, `"hash"`) != 2 || strings.Count(r.Stdout, `"status": "confirmed"`) != 2 {
		t.Fatalf("ledger %s", r.Stdout)
	}
}

// TestWalletNEARSendFailureExitsNonZero: a loopback NEAR JSON-RPC server
// whose send_tx outcome is an AccountDoesNotExist failure makes the send
// exit 1 with a one-line error, and the ledger says failed. A loopback
// Solana server configured as mainnet (it is not) is refused before
// anything is signed.
func TestWalletNEARSendFailureExitsNonZero(t *testing.T) {
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	nearURL := walletLoopbackRPC(t, func(method string, params json.RawMessage) any {
		var p map[string]any
		json.Unmarshal(params, &p)
		switch {
		case method == "status":
			return map[string]any{"chain_id": "localnet", "genesis_hash": walletLocalGenesis}
		case p["request_type"] == "view_account":
			return map[string]any{"amount": "2000000000000000000000000"}
		case p["request_type"] == "view_access_key":
			return map[string]any{"nonce": 7, "block_hash": base58.Encode(make([]byte, 32))}
		case method == "send_tx":
			raw, _ := base64.StdEncoding.DecodeString(p["signed_tx_base64"].(string))
			h := sha256.Sum256(raw[:len(raw)-65])
			failure := map[string]any{"ActionError": map[string]any{"index": 0, "kind": map[string]any{"AccountDoesNotExist": map[string]any{"account_id": "nobody.near"}}}}
			return map[string]any{"status": map[string]any{"Failure": failure}, "transaction": map[string]any{"hash": base58.Encode(h[:])}, "final_execution_status": "EXECUTED_OPTIMISTIC"}
		}
		return walletRPCErr("method not found")
	})
	mock := walletLoopbackRPC(t, func(method string, _ json.RawMessage) any {
		if method == "getGenesisHash" {
			return walletLocalGenesis
		}
		return map[string]any{"context": map[string]int{"slot": 9}, "value": 3_000_000_000}
	})
	for _, args := range [][]string{
		{"wallet", "networks", "add", "near-local", "--family", "near", "--caip2", "near:localnet", "--rpc", nearURL},
		{"wallet", "networks", "add", "solana", "--rpc", mock},
	} {
		if r := runSov(t, home, nil, "", args...); r.Code != 0 {
			t.Fatalf("%v: %s", args, r.Stderr)
		}
	}
	r := runSov(t, home, walletTestEnv, "", "wallet", "send", "0.5", "NEAR", "to", "nobody.near", "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "failed on chain: AccountDoesNotExist") || strings.Count(strings.TrimSpace(r.Stderr[strings.Index(r.Stderr, "sov:"):]), "\n") != 0 {
		t.Fatalf("failed send: %d %q", r.Code, r.Stderr)
	}
	r = runSov(t, home, nil, "", "wallet", "ledger", "--json")
	if !strings.Contains(r.Stdout, `"status": "failed"`) || strings.Contains(r.Stdout, `"status": "confirmed"`) {
		t.Fatalf("ledger %s", r.Stdout)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "1", "SOL", "to", "EN2sCsJ1WDV8UFqsiTXHcUPUxQ4juE71eCknHYYMifkd", "--chain", "solana", "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "refusing it (nothing was signed): check the RPC URL") {
		t.Fatalf("mock as mainnet: %d %s", r.Code, r.Stderr)
	}
}
