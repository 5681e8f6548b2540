package wallet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mr-tron/base58"
)

type solNearVectors struct {
	Sol struct {
		PrivateKey      string `json:"private_key"`
		PublicKey       string `json:"public_key"`
		Recipient       string `json:"recipient"`
		Lamports        uint64 `json:"lamports"`
		RecentBlockhash string `json:"recent_blockhash"`
		Encoded         string `json:"encoded"`
	} `json:"solana_transfer"`
	Near struct {
		SecretKey  string `json:"secret_key"`
		PublicKey  string `json:"public_key"`
		SignerID   string `json:"signer_id"`
		ReceiverID string `json:"receiver_id"`
		Nonce      uint64 `json:"nonce"`
		BlockHash  string `json:"block_hash"`
		Deposit    string `json:"deposit"`
		Serialized string `json:"serialized"`
		SigB64     string `json:"signature_base64"`
		Signed     string `json:"signed"`
		HashHex    string `json:"hash_hex"`
	} `json:"near_transfer"`
}

func b58(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base58.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWalletSolanaTransferVector(t *testing.T) {
	var v solNearVectors
	readJSON(t, "solana_near_vectors.json", &v)
	key := ed25519.NewKeyFromSeed(b58(t, v.Sol.PrivateKey))
	if SolanaAddress(key.Public().(ed25519.PublicKey)) != v.Sol.PublicKey {
		t.Fatal("public key")
	}
	tx, err := signSolanaTransfer(key, b58(t, v.Sol.Recipient), v.Sol.Lamports, b58(t, v.Sol.RecentBlockhash))
	if err != nil {
		t.Fatal(err)
	}
	if got := base58.Encode(tx); got != v.Sol.Encoded {
		t.Fatalf("encoded tx\n got %x\nwant %x", tx, b58(t, v.Sol.Encoded))
	}
}

func TestWalletNEARTransferVector(t *testing.T) {
	var v solNearVectors
	readJSON(t, "solana_near_vectors.json", &v)
	sk := b58(t, strings.TrimPrefix(v.Near.SecretKey, "ed25519:"))
	key := ed25519.PrivateKey(sk)
	if NEARPublicKey(key.Public().(ed25519.PublicKey)) != v.Near.PublicKey {
		t.Fatal("public key")
	}
	dep, _ := new(big.Int).SetString(v.Near.Deposit, 10)
	tr := NEARTransfer{SignerID: v.Near.SignerID, PublicKey: key.Public().(ed25519.PublicKey), Nonce: v.Near.Nonce, ReceiverID: v.Near.ReceiverID, BlockHash: b58(t, v.Near.BlockHash), Deposit: dep}
	raw, err := tr.Serialize()
	if err != nil || hex.EncodeToString(raw) != v.Near.Serialized {
		t.Fatalf("serialized %x %v", raw, err)
	}
	signed, hash, err := signNEARTransfer(key, tr)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(signed) != v.Near.Signed || hex.EncodeToString(hash[:]) != v.Near.HashHex {
		t.Fatalf("signed %x hash %x", signed, hash)
	}
	if base64.StdEncoding.EncodeToString(signed[len(signed)-64:]) != v.Near.SigB64 {
		t.Fatal("signature")
	}
}

// loopbackRPC is a loopback JSON-RPC 2.0 server: tests register method
// handlers that speak the real Solana or NEAR methods sov uses.
type loopbackRPC struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string
}

func newLoopbackRPC(t *testing.T, handle func(method string, params json.RawMessage) (any, *RPCError)) *loopbackRPC {
	l := &loopbackRPC{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     any             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if json.Unmarshal(body, &req) != nil {
			http.Error(w, "bad json", 400)
			return
		}
		l.mu.Lock()
		l.calls = append(l.calls, req.Method)
		l.mu.Unlock()
		res, rerr := handle(req.Method, req.Params)
		out := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if rerr != nil {
			out["error"] = rerr
		} else {
			out["result"] = res
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(l.Close)
	return l
}

func testKeys(t *testing.T) (*Keys, Accounts, Unlocker) {
	seed, _ := SeedFromMnemonic(abandonMnemonic, "")
	k := NewKeys(seed)
	a, err := k.Accounts(0)
	if err != nil {
		t.Fatal(err)
	}
	return k, a, func() (*Keys, error) { return NewKeys(seed), nil }
}

// TestSolanaWithLoopbackJSONRPCServer: a loopback server speaking Solana's
// getBalance / getLatestBlockhash / sendTransaction verifies what sov sends.
func TestWalletSolanaWithLoopbackJSONRPCServer(t *testing.T) {
	_, acct, unlock := testKeys(t)
	dest := "EN2sCsJ1WDV8UFqsiTXHcUPUxQ4juE71eCknHYYMifkd"
	blockhash := base58.Encode(sha256.New().Sum(nil))
	var sent []byte
	srv := newLoopbackRPC(t, func(method string, params json.RawMessage) (any, *RPCError) {
		switch method {
		case "getGenesisHash":
			return localGenesis, nil
		case "getBalance":
			return map[string]any{"context": map[string]int{"slot": 1}, "value": 2_000_000_000}, nil
		case "getLatestBlockhash":
			return map[string]any{"context": map[string]int{"slot": 1}, "value": map[string]any{"blockhash": blockhash, "lastValidBlockHeight": 100}}, nil
		case "sendTransaction":
			var p []json.RawMessage
			json.Unmarshal(params, &p)
			var b64 string
			json.Unmarshal(p[0], &b64)
			sent, _ = base64.StdEncoding.DecodeString(b64)
			sig, msg := sent[1:65], sent[65:]
			from := msg[4:36]
			if !ed25519.Verify(from, msg, sig) {
				return nil, &RPCError{Code: -32003, Message: "Transaction signature verification failure"}
			}
			return base58.Encode(sig), nil
		}
		return nil, &RPCError{Code: -32601, Message: "Method not found"}
	})
	n := Network{Name: "solana-local", CAIP2: "solana:test", Family: FamilySolana, Native: "SOL", NativeDecimals: 9, RPC: []string{"http://127.0.0.1:1", srv.URL}}
	w := testWallet(t)
	ctx := context.Background()
	rep := w.Balances(ctx, []Network{n}, acct)
	if rep.Chains[0].Status != "ok" || rep.Chains[0].Amount != "2" {
		t.Fatalf("balance (with fail-over past a dead RPC): %+v", rep)
	}
	entry, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "1.5", Asset: "SOL", To: dest})
	if err != nil {
		t.Fatal(err)
	}
	msg := sent[65:]
	if base58.Encode(msg[4:36]) != acct.Solana || base58.Encode(msg[36:68]) != dest {
		t.Fatal("accounts in the message")
	}
	if lam := binary.LittleEndian.Uint64(msg[len(msg)-8:]); lam != 1_500_000_000 {
		t.Fatalf("lamports %d", lam)
	}
	if entry.Hash != base58.Encode(sent[1:65]) {
		t.Fatal("ledger hash is not the signature")
	}
	if _, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "5", Asset: "SOL", To: dest}); err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("overspend: %v", err)
	}
	if _, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "1", Asset: "SOL", To: "not-base58-0OIl"}); err == nil {
		t.Fatal("bad address accepted")
	}
	// a failing RPC is reported as failed, never as zero
	down := n
	down.RPC = []string{"http://127.0.0.1:1"}
	if rep := w.Balances(ctx, []Network{down}, acct); rep.Chains[0].Status != "failed" || rep.Chains[0].Amount != "" {
		t.Fatalf("down RPC: %+v", rep)
	}
}

// TestNEARWithLoopbackJSONRPCServer: a loopback server speaking NEAR's
// query(view_account, view_access_key) and send_tx verifies the signed
// Borsh transaction sov broadcasts.
func TestWalletNEARWithLoopbackJSONRPCServer(t *testing.T) {
	_, acct, unlock := testKeys(t)
	bh := base58.Encode(make([]byte, 32))
	srv := newLoopbackRPC(t, func(method string, params json.RawMessage) (any, *RPCError) {
		var p map[string]any
		json.Unmarshal(params, &p)
		switch {
		case method == "status":
			return map[string]any{"chain_id": "localnet", "genesis_hash": localGenesis}, nil
		case method == "query" && p["request_type"] == "view_account":
			if p["account_id"] != acct.NEARAccount {
				return nil, &RPCError{Code: -32000, Message: "UNKNOWN_ACCOUNT"}
			}
			return map[string]any{"amount": "5000000000000000000000000", "block_hash": bh}, nil
		case method == "query" && p["request_type"] == "view_access_key":
			if p["public_key"] != acct.NEARPublicKey {
				return nil, &RPCError{Code: -32000, Message: "UNKNOWN_ACCESS_KEY"}
			}
			return map[string]any{"nonce": 41, "permission": "FullAccess", "block_hash": bh}, nil
		case method == "send_tx":
			raw, _ := base64.StdEncoding.DecodeString(p["signed_tx_base64"].(string))
			tx, sig := raw[:len(raw)-65], raw[len(raw)-64:]
			h := sha256.Sum256(tx)
			pub := tx[4+len(acct.NEARAccount)+1 : 4+len(acct.NEARAccount)+33]
			if !ed25519.Verify(pub, h[:], sig) {
				return nil, &RPCError{Code: -32000, Message: "InvalidSignature"}
			}
			if nonce := binary.LittleEndian.Uint64(tx[4+len(acct.NEARAccount)+33:]); nonce != 42 {
				return nil, &RPCError{Code: -32000, Message: "InvalidNonce"}
			}
			return map[string]any{"transaction": map[string]any{"hash": base58.Encode(h[:])}, "final_execution_status": "EXECUTED_OPTIMISTIC"}, nil
		}
		return nil, &RPCError{Code: -32601, Message: "Method not found"}
	})
	n := Network{Name: "near-local", CAIP2: "near:localnet", Family: FamilyNEAR, Native: "NEAR", NativeDecimals: 24, RPC: []string{srv.URL}}
	w := testWallet(t)
	ctx := context.Background()
	rep := w.Balances(ctx, []Network{n}, acct)
	if rep.Chains[0].Status != "ok" || rep.Chains[0].Amount != "5" {
		t.Fatalf("balance %+v", rep)
	}
	entry, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "1.25", Asset: "NEAR", To: "bob.near"})
	if err != nil {
		t.Fatal(err)
	}
	if entry.Nonce != 42 || entry.Amount != "1.25" {
		t.Fatalf("entry %+v", entry)
	}
	if _, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "10", Asset: "NEAR", To: "bob.near"}); err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("overspend: %v", err)
	}
	if _, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "1.25", Asset: "NEAR", To: "Bad Account!"}); err == nil {
		t.Fatal("bad account id accepted")
	}
	// the node's error is surfaced, and the policy budget released
	w.SetPolicy(Policy{Limits: map[string]Limit{"NEAR": {PerDay: "3"}}}, "test")
	bad := n
	bad.RPC = []string{newLoopbackRPC(t, func(method string, params json.RawMessage) (any, *RPCError) {
		if method == "status" {
			return map[string]any{"chain_id": "localnet", "genesis_hash": localGenesis}, nil
		}
		if method == "send_tx" {
			return nil, &RPCError{Code: -32000, Message: "InvalidTxError"}
		}
		var p map[string]any
		json.Unmarshal(params, &p)
		if p["request_type"] == "view_account" {
			return map[string]any{"amount": "5000000000000000000000000"}, nil
		}
		return map[string]any{"nonce": 1, "block_hash": bh}, nil
	}).URL}
	var rerr *RPCError
	if _, err := sendAs(w, []Network{bad}, acct, unlock, Transfer{Amount: "1.25", Asset: "NEAR", To: "bob.near"}); !errors.As(err, &rerr) {
		t.Fatalf("node error: %v", err)
	}
	if spent, _ := w.SpentToday(); spent["NEAR"] != "1.25" {
		t.Fatalf("failed send still counts: %v", spent)
	}
}

// TestWalletSlowRPCFailsOver: a loopback Solana JSON-RPC server that never
// answers in time is skipped for the next URL; alone, it is reported as a
// failed chain, never as a zero balance.
func TestWalletSlowRPCFailsOver(t *testing.T) {
	_, acct, _ := testKeys(t)
	release := make(chan struct{})
	slow := newLoopbackRPC(t, func(string, json.RawMessage) (any, *RPCError) {
		<-release
		return map[string]any{"value": 1}, nil
	})
	defer close(release)
	fast := newLoopbackRPC(t, func(string, json.RawMessage) (any, *RPCError) {
		return map[string]any{"context": map[string]int{"slot": 1}, "value": 7_000_000_000}, nil
	})
	cfg := Config{RPCTimeout: "200ms", Networks: []NetworkConfig{{Name: "sol", Family: FamilySolana, CAIP2: "solana:x", RPC: []string{slow.URL, fast.URL}}}}
	nets, err := cfg.All()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := FindNetwork(nets, "sol")
	w := testWallet(t)
	start := time.Now()
	rep := w.Balances(context.Background(), []Network{n}, acct)
	if rep.Chains[0].Status != "ok" || rep.Chains[0].Amount != "7" || time.Since(start) > 5*time.Second {
		t.Fatalf("fail-over: %+v after %s", rep, time.Since(start))
	}
	n.RPC = n.RPC[:1]
	rep = w.Balances(context.Background(), []Network{n}, acct)
	if rep.Chains[0].Status != "failed" || rep.Chains[0].Amount != "" || !rep.Totals[0].Partial {
		t.Fatalf("slow only: %+v", rep)
	}
	if _, err := (Config{RPCTimeout: "soon"}).All(); err == nil {
		t.Fatal("bad rpc_timeout accepted")
	}
}

// localGenesis is the genesis hash the loopback nodes of a local chain
// report (any 32 bytes).
var localGenesis = base58.Encode(bytes.Repeat([]byte{7}, 32))

// sendAs sends tr as the user through the one send path.
func sendAs(w *Wallet, nets []Network, acct Accounts, unlock Unlocker, tr Transfer) (LedgerEntry, error) {
	s := w.NewSession(SessionConfig{Caller: "test", Unlock: unlock, Networks: nets})
	p, err := w.Plan(context.Background(), tr, nets, acct)
	if err != nil {
		return LedgerEntry{}, err
	}
	defer p.Close()
	return s.Execute(context.Background(), p)
}
