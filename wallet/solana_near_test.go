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
	w.setPolicy(Policy{Limits: map[string]Limit{"NEAR": {PerDay: "3"}}}, "test")
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

// nearSendNode is a loopback NEAR JSON-RPC server speaking status, query,
// send_tx and tx: send answers send_tx and txs answer tx calls in turn
// (the last repeats); each is an outcome's status object, or an *RPCError.
// It returns the server and the params of every tx call.
func nearSendNode(t *testing.T, acct Accounts, send any, txs ...any) (*loopbackRPC, *[]map[string]any) {
	var mu sync.Mutex
	var txCalls []map[string]any
	srv := newLoopbackRPC(t, func(method string, params json.RawMessage) (any, *RPCError) {
		var p map[string]any
		json.Unmarshal(params, &p)
		answer := func(a any, hash any, stage string) (any, *RPCError) {
			if e, ok := a.(*RPCError); ok {
				return nil, e
			}
			return map[string]any{"status": a, "transaction": map[string]any{"hash": hash}, "transaction_outcome": map[string]any{}, "receipts_outcome": []any{}, "final_execution_status": stage}, nil
		}
		switch {
		case method == "status":
			return map[string]any{"chain_id": "localnet", "genesis_hash": localGenesis}, nil
		case p["request_type"] == "view_account":
			return map[string]any{"amount": "5000000000000000000000000"}, nil
		case p["request_type"] == "view_access_key":
			return map[string]any{"nonce": 41, "block_hash": localGenesis}, nil
		case method == "send_tx":
			raw, _ := base64.StdEncoding.DecodeString(p["signed_tx_base64"].(string))
			h := sha256.Sum256(raw[:len(raw)-65])
			return answer(send, base58.Encode(h[:]), "EXECUTED_OPTIMISTIC")
		case method == "tx":
			mu.Lock()
			defer mu.Unlock()
			txCalls = append(txCalls, p)
			return answer(txs[min(len(txCalls), len(txs))-1], p["tx_hash"], "FINAL")
		}
		return nil, &RPCError{Code: -32601, Message: "Method not found"}
	})
	return srv, &txCalls
}

func nearHandlerError(cause string) *RPCError {
	return &RPCError{Code: -32000, Message: "Server error", Name: "HANDLER_ERROR", Cause: &RPCErrorCause{Name: cause}}
}

var (
	nearSuccess = map[string]any{"SuccessValue": ""}
	nearNoSuch  = map[string]any{"Failure": map[string]any{"ActionError": map[string]any{"index": 0, "kind": map[string]any{"AccountDoesNotExist": map[string]any{"account_id": "nobody.near"}}}}}
)

// TestWalletNEARSendFailureIsRecordedAsFailed: a loopback NEAR node whose
// send_tx outcome is an AccountDoesNotExist failure makes the send return
// a *TxFailedError; the ledger says failed and the day's budget gets the
// amount back. A send_tx that times out on the node (routed, not yet
// executed) stays pending and keeps its reservation.
func TestWalletNEARSendFailureIsRecordedAsFailed(t *testing.T) {
	_, acct, unlock := testKeys(t)
	for _, tt := range []struct {
		name   string
		send   any
		status string
		spent  string
	}{
		{"account does not exist", nearNoSuch, "failed", "0"},
		{"node timed out waiting", nearHandlerError("TIMEOUT_ERROR"), "pending", "1.25"},
		{"executed, not yet final", nearSuccess, "pending", "1.25"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := nearSendNode(t, acct, tt.send)
			n := Network{Name: "near-local", CAIP2: "near:localnet", Family: FamilyNEAR, Native: "NEAR", NativeDecimals: 24, RPC: []string{srv.URL}}
			w := testWallet(t)
			w.setPolicy(Policy{Limits: map[string]Limit{"NEAR": {PerDay: "3"}}}, "test")
			entry, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "1.25", Asset: "NEAR", To: "nobody.near"})
			var fe *TxFailedError
			if failed := errors.As(err, &fe); failed != (tt.status == "failed") || !failed && err != nil {
				t.Fatalf("send: %v", err)
			}
			if fe != nil && (fe.Status != "failed" || !strings.Contains(fe.Error(), `failed on chain: AccountDoesNotExist {"account_id":"nobody.near"}`)) {
				t.Fatalf("error %q", fe)
			}
			l, ok, _ := w.FindLedger(entry.Hash)
			if entry.Status != tt.status || !ok || l.Status != tt.status || l.Nonce != 42 {
				t.Fatalf("entry %+v, ledger %+v", entry, l)
			}
			if spent, _ := w.SpentToday(); cmpOr(spent["NEAR"], "0") != tt.spent {
				t.Fatalf("spent today %v, want %s", spent, tt.spent)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestWalletNEARSendIsFollowedToFinal: after send_tx, Follow asks a
// loopback NEAR node's tx (wait_until FINAL) until the outcome is final or
// failed; a transaction the node does not know yet is asked about again.
func TestWalletNEARSendIsFollowedToFinal(t *testing.T) {
	_, acct, unlock := testKeys(t)
	for _, tt := range []struct {
		name   string
		txs    []any
		status string
	}{
		{"final", []any{nearHandlerError("UNKNOWN_TRANSACTION"), nearSuccess}, "confirmed"},
		{"failed", []any{nearNoSuch}, "failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := nearSendNode(t, acct, nearSuccess, tt.txs...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a follow that never ends fails here, not after minutes
			defer cancel()
			n := Network{Name: "near-local", CAIP2: "near:localnet", Family: FamilyNEAR, Native: "NEAR", NativeDecimals: 24, RPC: []string{srv.URL}}
			w := testWallet(t)
			s := w.NewSession(SessionConfig{Caller: "test", Unlock: unlock, Networks: []Network{n}})
			entry, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "1", Asset: "NEAR", To: "bob.near"})
			if err != nil || entry.Status != "pending" {
				t.Fatalf("send: %+v %v", entry, err)
			}
			entry, err = s.Follow(ctx, entry)
			if (err != nil) != (tt.status == "failed") || entry.Status != tt.status {
				t.Fatalf("follow: %+v %v", entry, err)
			}
			if l, _, _ := w.FindLedger(entry.Hash); l.Status != tt.status {
				t.Fatalf("ledger %+v", l)
			}
			c := (*calls)[0]
			if len(*calls) != len(tt.txs) || c["tx_hash"] != entry.Hash || c["sender_account_id"] != acct.NEARAccount || c["wait_until"] != "FINAL" {
				t.Fatalf("tx calls %v", *calls)
			}
		})
	}
}

// solanaSendNode is a loopback Solana JSON-RPC server: getSignatureStatuses
// answers statuses in turn (the last repeats; nil: not seen), and
// getBlockHeight the height set with setHeight; getLatestBlockhash gives
// lastValidBlockHeight 100.
type solanaSendNode struct {
	*loopbackRPC
	mu       sync.Mutex
	statuses []any
	asked    int
	height   int
}

func newSolanaSendNode(t *testing.T, genesis string, statuses ...any) *solanaSendNode {
	n := &solanaSendNode{statuses: statuses, height: 90}
	n.loopbackRPC = newLoopbackRPC(t, func(method string, params json.RawMessage) (any, *RPCError) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch method {
		case "getGenesisHash":
			return genesis, nil
		case "getBalance":
			return map[string]any{"context": map[string]int{"slot": 1}, "value": 5_000_000_000}, nil
		case "getLatestBlockhash":
			return map[string]any{"context": map[string]int{"slot": 1}, "value": map[string]any{"blockhash": localGenesis, "lastValidBlockHeight": 100}}, nil
		case "sendTransaction":
			var p []string
			json.Unmarshal(params, &p)
			tx, _ := base64.StdEncoding.DecodeString(p[0])
			return base58.Encode(tx[1:65]), nil
		case "getBlockHeight":
			return n.height, nil
		case "getSignatureStatuses":
			n.asked++
			return map[string]any{"context": map[string]int{"slot": 80}, "value": []any{n.statuses[min(n.asked, len(n.statuses))-1]}}, nil
		}
		return nil, &RPCError{Code: -32601, Message: "Method not found"}
	})
	return n
}

func (n *solanaSendNode) setHeight(h int) { n.mu.Lock(); n.height = h; n.mu.Unlock() }

func solStatus(slot int, err any, level string) map[string]any {
	return map[string]any{"slot": slot, "confirmations": nil, "err": err, "status": map[string]any{"Ok": nil}, "confirmationStatus": level}
}

// TestWalletSolanaSendIsFollowedToConfirmation: Follow asks a loopback
// Solana node's getSignatureStatuses until the send is confirmed or
// finalized, or failed on chain; one the cluster never saw is dropped once
// the block height passes the blockhash's lastValidBlockHeight, so it
// never stays pending. Failed and dropped sends give back their budget.
func TestWalletSolanaSendIsFollowedToConfirmation(t *testing.T) {
	_, acct, unlock := testKeys(t)
	for _, tt := range []struct {
		name     string
		statuses []any
		height   int
		status   string
		block    uint64
		spent    string
	}{
		{"confirmed", []any{nil, solStatus(77, nil, "processed"), solStatus(77, nil, "confirmed")}, 90, "confirmed", 77, "1.5"},
		{"finalized", []any{solStatus(78, nil, "finalized")}, 90, "confirmed", 78, "1.5"},
		{"failed on chain", []any{solStatus(79, map[string]any{"InstructionError": []any{0, map[string]any{"Custom": 1}}}, "confirmed")}, 90, "failed", 79, "0"},
		{"blockhash expired", []any{nil}, 101, "dropped", 0, "0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSolanaSendNode(t, localGenesis, tt.statuses...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a follow that never ends fails here, not after minutes
			defer cancel()
			srv.setHeight(tt.height)
			n := Network{Name: "sol-local", CAIP2: "solana:localnet", Family: FamilySolana, Native: "SOL", NativeDecimals: 9, RPC: []string{srv.URL}}
			w := testWallet(t)
			w.setPolicy(Policy{Limits: map[string]Limit{"SOL": {PerDay: "10"}}}, "test")
			s := w.NewSession(SessionConfig{Caller: "test", Unlock: unlock, Networks: []Network{n}})
			entry, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "1.5", Asset: "SOL", To: "EN2sCsJ1WDV8UFqsiTXHcUPUxQ4juE71eCknHYYMifkd"})
			if err != nil || entry.Status != "pending" || entry.ValidUntil != 100 {
				t.Fatalf("send: %+v %v", entry, err)
			}
			entry, err = s.Follow(ctx, entry)
			var fe *TxFailedError
			if errors.As(err, &fe) != (tt.status != "confirmed") || fe == nil && err != nil || entry.Status != tt.status || entry.Block != tt.block {
				t.Fatalf("follow: %+v %v", entry, err)
			}
			if fe != nil && fe.Status != tt.status {
				t.Fatalf("error %+v", fe)
			}
			if l, _, _ := w.FindLedger(entry.Hash); l.Status != tt.status || l.Block != tt.block {
				t.Fatalf("ledger %+v", l)
			}
			if spent, _ := w.SpentToday(); cmpOr(spent["SOL"], "0") != tt.spent {
				t.Fatalf("spent today %v, want %s", spent, tt.spent)
			}
		})
	}
}

// TestWalletSolanaPendingIsBoundedAndRefreshed: a send the loopback Solana
// node never sees stays pending while its blockhash is valid (the wait is
// bounded by the caller's context); Refresh drops it once the block height
// passes lastValidBlockHeight, and believes nothing from an RPC that now
// serves another chain.
func TestWalletSolanaPendingIsBoundedAndRefreshed(t *testing.T) {
	_, acct, unlock := testKeys(t)
	srv := newSolanaSendNode(t, localGenesis, nil)
	n := Network{Name: "sol-local", CAIP2: "solana:localnet", Family: FamilySolana, Native: "SOL", NativeDecimals: 9, RPC: []string{srv.URL}}
	w := testWallet(t)
	entry, err := sendAs(w, []Network{n}, acct, unlock, Transfer{Amount: "1", Asset: "SOL", To: "EN2sCsJ1WDV8UFqsiTXHcUPUxQ4juE71eCknHYYMifkd"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if e, err := w.WaitSolana(ctx, NewSolanaRPC(n), entry); !errors.Is(err, context.DeadlineExceeded) || e.Status != "pending" {
		t.Fatalf("wait: %+v %v", e, err)
	}
	srv.setHeight(101)
	liar := newSolanaSendNode(t, solanaDevnetGenesis, solStatus(5, nil, "finalized"))
	moved := n
	moved.RPC = []string{liar.URL}
	var ie *ChainIdentityError
	if errs := w.Refresh(context.Background(), []Network{moved}); len(errs) != 1 || !errors.As(errs[0], &ie) {
		t.Fatalf("refresh against another chain: %v", errs)
	}
	if l, _, _ := w.FindLedger(entry.Hash); l.Status != "pending" {
		t.Fatalf("believed another chain: %+v", l)
	}
	if errs := w.Refresh(context.Background(), []Network{n}); len(errs) != 0 {
		t.Fatal(errs)
	}
	if l, _, _ := w.FindLedger(entry.Hash); l.Status != "dropped" {
		t.Fatalf("after refresh %+v", l)
	}
}
