package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// walletAnvilSetup: a wallet imported from the abandon mnemonic, 10 ETH and
// 1,000,000 test USDC on anvil, and the network configured through the CLI.
func walletAnvilSetup(t *testing.T) (home string, an *wallettest.Anvil, token string) {
	t.Helper()
	an = wallettest.StartAnvil(t)
	home = t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	seed, _ := wallet.SeedFromMnemonic(walletTestAbandon, "")
	keys := wallet.NewKeys(seed)
	defer keys.Wipe()
	an.Fund(t, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", 10)
	token = an.DeployToken(t, keys)
	r := runSov(t, home, nil, "", "wallet", "networks", "add", "anvil", "--rpc", an.URL, "--usdc", token)
	if r.Code != 0 {
		t.Fatalf("networks add: %s", r.Stderr)
	}
	return home, an, token
}

func TestWalletAnvilBalanceSendAndERC20(t *testing.T) {
	home, an, token := walletAnvilSetup(t)
	payee := "0x00000000000000000000000000000000000000A1"

	r := runSov(t, home, nil, "", "wallet", "balance", "--json")
	if r.Code != 0 {
		t.Fatalf("balance: %s", r.Stderr)
	}
	var rep wallet.BalanceReport
	json.Unmarshal([]byte(r.Stdout), &rep)
	got := map[string]string{}
	for _, b := range rep.Chains {
		got[b.Asset] = b.Amount
	}
	if !strings.HasPrefix(got["ETH"], "9.99") || got["USDC"] != "1000000" {
		t.Fatalf("balances %+v", rep)
	}

	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "0.5", "ETH", "to", payee, "--chain", "anvil", "--yes")
	if r.Code != 0 || !strings.Contains(r.Stdout, "confirmed") || !strings.Contains(r.Stderr, "network fee at most") {
		t.Fatalf("send ETH: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if bal := an.Balance(t, payee); bal.Cmp(big.NewInt(5e17)) != 0 {
		t.Fatalf("payee ETH %s", bal)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "25.5", "USDC", "to", payee, "--yes")
	if r.Code != 0 || !strings.Contains(r.Stdout, "confirmed") {
		t.Fatalf("send USDC: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if b := an.TokenBalance(t, token, payee); b.Cmp(big.NewInt(25_500_000)) != 0 {
		t.Fatalf("payee USDC %s", b)
	}
	r = runSov(t, home, nil, "", "wallet", "ledger", "--json")
	var ledger []wallet.LedgerEntry
	json.Unmarshal([]byte(r.Stdout), &ledger)
	if len(ledger) != 2 || ledger[0].Status != "confirmed" || ledger[1].Status != "confirmed" {
		t.Fatalf("ledger %s", r.Stdout)
	}
	// each send left a payment entry in sov's ledger, signed with the
	// wallet's ledger key, with the plan's facts
	payments := walletAudit(t, home, ledgerPayment)
	if len(payments) != 2 {
		t.Fatalf("payment entries %+v", payments)
	}
	for i, want := range []map[string]any{
		{"request": "send", "chain": "eip155:31337", "network": "anvil", "asset": "ETH", "amount": "0.5", "payee": payee, "from": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"},
		{"request": "send", "chain": "eip155:31337", "network": "anvil", "asset": "USDC", "amount": "25.5", "payee": payee},
	} {
		e := payments[i]
		want["tx"] = ledger[1-i].Hash // the transaction list is newest first
		for k, v := range want {
			if e.Fields[k] != v {
				t.Errorf("payment %d: %s = %v, want %v", i, k, e.Fields[k], v)
			}
		}
		if !e.Signed || e.Principal != "cli" || e.Action != "signed" {
			t.Errorf("payment %d: %+v", i, e)
		}
	}

	// bad input: nothing signed, clear one-line errors
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"send", "1", "ETH", "to", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}, 2, "EIP-55"},
		{[]string{"send", "1", "ETH", "to", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"}, 2, "only BTC"},
		{[]string{"send", "1", "ETH", "to", "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"}, 2, "is a Solana address, so ETH"},
		{[]string{"send", "1000", "ETH", "to", payee}, 1, "insufficient funds"},
		{[]string{"send", "2000000", "USDC", "to", payee}, 1, "insufficient funds"},
		{[]string{"send", "0.1", "ETH", "to", payee}, 1, "pass --yes"},
		{[]string{"send", "abc", "ETH", "to", payee}, 2, "not a decimal number"},
		{[]string{"send", "1", "DOGE", "to", payee}, 2, "unknown asset"},
	} {
		r := runSov(t, home, walletTestEnv, "", append([]string{"wallet"}, tc.args...)...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: code %d stderr %q", tc.args, r.Code, r.Stderr)
		}
	}
	// above the approval threshold, a caller without a terminal is refused
	// with the reason, even with --yes, and nothing is signed
	walletSetPolicy(t, home, "--asset", "ETH", "--approve-above", "0.2")
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "0.3", "ETH", "to", payee, "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "above the approval threshold of 0.2 ETH") || !strings.Contains(r.Stderr, "headless") {
		t.Fatalf("headless approval: %d %s", r.Code, r.Stderr)
	}
	// the refusal is the wallet's last entry: unsigned, with its rule
	all := walletAudit(t, home, nil)
	if last := all[len(all)-1]; last.Kind != "permission" || last.Action != "refused" || last.Signed ||
		last.Fields["rule"] != wallet.RuleApproval || last.Fields["amount"] != "0.3" || last.Fields["headless"] != true {
		t.Fatalf("refusal entry %+v", last)
	}
	r = runSov(t, home, nil, "", "wallet", "ledger", "--json")
	json.Unmarshal([]byte(r.Stdout), &ledger)
	if len(ledger) != 2 {
		t.Fatalf("a refused send reached the ledger: %s", r.Stdout)
	}
	// after the session the whole ledger verifies, and the text view
	// names the refusal's rule
	if r := runSov(t, home, nil, "", "ledger", "verify"); r.Code != 0 || !strings.Contains(r.Stdout, "2 signed") {
		t.Fatalf("ledger verify: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := runSov(t, home, nil, "", "wallet", "audit"); r.Code != 0 || !strings.Contains(r.Stdout, "refused") || !strings.Contains(r.Stdout, "approval: 0.3 ETH is above the approval threshold") {
		t.Fatalf("audit: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	// a per-transaction fee cap below what a transfer costs refuses it, and
	// the CLI names the flag that raises it
	walletSetPolicy(t, home, "--asset", "ETH", "--max-fee", "0.000000001")
	if r := runSov(t, home, nil, "", "wallet", "policy"); !strings.Contains(r.Stdout, "network fee at most 0.000000001 per transaction") {
		t.Fatalf("policy: %s", r.Stdout)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "0.01", "ETH", "to", payee, "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "exceeds the per-transaction fee cap of 0.000000001 ETH") || !strings.Contains(r.Stderr, "--max-fee") {
		t.Fatalf("fee cap: %d %s", r.Code, r.Stderr)
	}
}

func ledgerPayment(e wallet.AuditEntry) bool { return e.Kind == "payment" }

// walletAudit is `sov wallet audit --json`, the entries keep picks (nil:
// all of them).
func walletAudit(t *testing.T, home string, keep func(wallet.AuditEntry) bool) []wallet.AuditEntry {
	t.Helper()
	r := runSov(t, home, nil, "", "wallet", "audit", "--json")
	var all, out []wallet.AuditEntry
	if err := json.Unmarshal([]byte(r.Stdout), &all); r.Code != 0 || err != nil {
		t.Fatalf("audit: %d %v %s %s", r.Code, err, r.Stdout, r.Stderr)
	}
	for _, e := range all {
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func TestWalletAnvilFailedAndLyingRPC(t *testing.T) {
	home, an, _ := walletAnvilSetup(t)
	// base pointed at a dead port; "liar" claims chain 1 but the node is 31337
	runSov(t, home, nil, "", "wallet", "networks", "add", "base", "--rpc", "http://127.0.0.1:1")
	runSov(t, home, nil, "", "wallet", "networks", "add", "liar", "--rpc", an.URL, "--chain-id", "1")
	r := runSov(t, home, nil, "", "wallet", "balance", "--json")
	if r.Code != 1 || !strings.Contains(r.Stderr, "could not be queried") {
		t.Fatalf("balance: %d %s", r.Code, r.Stderr)
	}
	var rep wallet.BalanceReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, b := range rep.Chains {
		switch b.Network {
		case "base", "liar":
			if b.Status != "failed" || b.Amount != "" {
				t.Errorf("%s reported %+v, want failed without an amount", b.Network, b)
			}
			if b.Network == "liar" && !strings.Contains(b.Error, "chain id") {
				t.Errorf("liar: %s", b.Error)
			}
		case "anvil":
			if b.Status != "ok" {
				t.Errorf("anvil: %+v", b)
			}
		}
	}
	for _, tot := range rep.Totals {
		if tot.Asset == "USDC" && !tot.Partial {
			t.Errorf("USDC total not marked partial: %+v", tot)
		}
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "0.1", "ETH", "to", "0x00000000000000000000000000000000000000A2", "--chain", "liar", "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "refusing") {
		t.Fatalf("send via lying RPC: %d %s", r.Code, r.Stderr)
	}
}

func TestWalletAnvilPayRoutesToTheOnlyPayableOption(t *testing.T) {
	home, an, token := walletAnvilSetup(t)
	runSov(t, home, nil, "", "wallet", "networks", "add", "base", "--rpc", "http://127.0.0.1:1")
	payee := "0x00000000000000000000000000000000000000B0"
	req := fmt.Sprintf(`{"x402Version":2,"resource":{"url":"https://brand.example/article"},"accepts":[
	 {"scheme":"exact","network":"eip155:8453","amount":"1000000","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"%[1]s","maxTimeoutSeconds":60},
	 {"scheme":"exact","network":"eip155:31337","amount":"5000000000000","asset":"%[2]s","payTo":"%[1]s","maxTimeoutSeconds":60},
	 {"scheme":"exact","network":"eip155:31337","amount":"100000000000000000","asset":"native","payTo":"%[1]s","maxTimeoutSeconds":60}]}`, payee, token)
	f := filepath.Join(t.TempDir(), "req.json")
	os.WriteFile(f, []byte(req), 0o600)
	r := runSov(t, home, walletTestEnv, "", "wallet", "pay", f, "--yes", "--json")
	if r.Code != 0 {
		t.Fatalf("pay: %d %s", r.Code, r.Stderr)
	}
	var out struct {
		Route wallet.Route
		Tx    wallet.LedgerEntry `json:"transaction"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v %s", err, r.Stdout)
	}
	if out.Route.Chosen == nil || out.Route.Chosen.Index != 3 || out.Tx.Status != "confirmed" {
		t.Fatalf("route %+v tx %+v", out.Route.Chosen, out.Tx)
	}
	if !strings.Contains(r.Stderr, "the only option you can pay") || strings.Count(out.Route.Explanation, "\n") != 0 {
		t.Fatalf("explanation %q", r.Stderr)
	}
	if bal := an.Balance(t, payee); bal.Cmp(big.NewInt(1e17)) != 0 {
		t.Fatalf("payee got %s", bal)
	}
	// the same request again: refused, naming the payment, unless --again
	if r := runSov(t, home, walletTestEnv, "", "wallet", "pay", f, "--yes"); r.Code != 1 || !strings.Contains(r.Stderr, "paid already by transaction "+out.Tx.Hash) || !strings.Contains(r.Stderr, "--again") {
		t.Fatalf("paid twice: %d %s", r.Code, r.Stderr)
	}
	if r := runSov(t, home, walletTestEnv, "", "wallet", "pay", f, "--yes", "--again"); r.Code != 0 || an.Balance(t, payee).Cmp(big.NewInt(2e17)) != 0 {
		t.Fatalf("pay --again: %d %s", r.Code, r.Stderr)
	}
	// bad requests
	for _, tc := range []struct{ body, want string }{
		{strings.Replace(req, `"amount":"1000000"`, `"amount":"1.5"`, 1), "not a positive whole number"},
		{`{"x402Version":2,"expiresAt":1000,"accepts":[{"scheme":"exact","network":"eip155:31337","amount":"1","asset":"native","payTo":"` + payee + `"}]}`, "expired"},
		{`{"x402Version":2,"accepts":[{"scheme":"exact","network":"eip155:999999","amount":"1","asset":"native","payTo":"` + payee + `"}]}`, "unknown network"},
		{`{"x402Version":2,"accepts":[{"scheme":"exact","network":"eip155:31337","amount":"999999999999999999999999","asset":"native","payTo":"` + payee + `"}]}`, "insufficient funds"},
		{`not json`, "neither JSON nor base64"},
	} {
		os.WriteFile(f, []byte(tc.body), 0o600)
		r := runSov(t, home, walletTestEnv, "", "wallet", "pay", f, "--yes")
		if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: %d %s", tc.want, r.Code, r.Stderr)
		}
	}
}

func TestWalletAnvilSpeedupAndCancel(t *testing.T) {
	home, an, _ := walletAnvilSetup(t)
	an.Call(t, "evm_setAutomine", false)
	payee := "0x00000000000000000000000000000000000000C0"
	hashOf := func(out string) string {
		for _, f := range strings.Fields(out) {
			if strings.HasPrefix(f, "0x") && len(f) == 66 {
				return f
			}
		}
		t.Fatalf("no hash in %q", out)
		return ""
	}
	r := runSov(t, home, walletTestEnv, "", "wallet", "send", "1", "ETH", "to", payee, "--yes", "--no-wait")
	if r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	orig := hashOf(r.Stdout)
	r = runSov(t, home, walletTestEnv, "", "wallet", "speedup", orig, "--yes", "--no-wait")
	if r.Code != 0 {
		t.Fatalf("speedup: %s", r.Stderr)
	}
	fast := hashOf(r.Stdout)
	an.Call(t, "evm_mine")
	if !an.Succeeded(t, fast) {
		t.Fatal("speed-up failed")
	}
	if an.Mined(orig) {
		t.Fatal("the original was mined too")
	}
	r = runSov(t, home, nil, "", "wallet", "ledger", "--refresh", "--json")
	var ledger []wallet.LedgerEntry
	json.Unmarshal([]byte(r.Stdout), &ledger)
	status := map[string]string{}
	for _, e := range ledger {
		status[strings.ToLower(e.Hash)] = e.Status
	}
	if status[strings.ToLower(fast)] != "confirmed" || status[strings.ToLower(orig)] != "replaced" {
		t.Fatalf("ledger after refresh: %v", status)
	}
	// cancel: the second payment never arrives
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "2", "ETH", "to", payee, "--yes", "--no-wait")
	second := hashOf(r.Stdout)
	r = runSov(t, home, walletTestEnv, "", "wallet", "cancel", second, "--yes", "--no-wait")
	if r.Code != 0 {
		t.Fatalf("cancel: %s", r.Stderr)
	}
	an.Call(t, "evm_mine")
	if !an.Succeeded(t, hashOf(r.Stdout)) {
		t.Fatal("cancel failed")
	}
	if bal := an.Balance(t, payee); bal.Cmp(big.NewInt(1e18)) != 0 {
		t.Fatalf("payee got %s, want only the sped-up 1 ETH", bal)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "speedup", fast, "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "not pending") && !strings.Contains(r.Stderr, "already mined") {
		t.Fatalf("speedup of a mined tx: %d %s", r.Code, r.Stderr)
	}
}

// TestWalletAnvilPolicyHoldsUnder100ConcurrentSends: a daily cap of N USDC
// lets exactly N of 100 concurrent one-unit `sov wallet send` processes
// through; every refusal says why; the ledger holds every decision in the
// order of the accounting, and one flipped byte in it is detected.
func TestWalletAnvilPolicyHoldsUnder100ConcurrentSends(t *testing.T) {
	home, an, token := walletAnvilSetup(t)
	const capN = 5
	walletSetPolicy(t, home, "--asset", "USDC", "--per-day", fmt.Sprint(capN))
	payee := "0x00000000000000000000000000000000000000D0"
	var wg sync.WaitGroup
	results := make([]sovResult, 100)
	sem := make(chan struct{}, 100) // all 100 at once
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = runSov(t, home, walletTestEnv, "", "wallet", "send", "1", "USDC", "to", payee, "--yes", "--no-wait")
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, r := range results {
		switch {
		case r.Code == 0:
			ok++
		case r.Code == 1 && strings.Contains(r.Stderr, "daily limit of 5 USDC"):
			refused++
		default:
			t.Errorf("unexpected: %d %s", r.Code, r.Stderr)
		}
	}
	if ok != capN || refused != 100-capN {
		t.Fatalf("allowed %d refused %d", ok, refused)
	}
	deadline := time.Now().Add(30 * time.Second)
	for an.TokenBalance(t, token, payee).Int64() != capN*1_000_000 {
		if time.Now().After(deadline) {
			t.Fatalf("payee has %s", an.TokenBalance(t, token, payee))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// the policy change, 100 decisions and 5 payments; in ledger order the
	// first capN decisions are the allowed ones, as the accounting had them
	r := runSov(t, home, nil, "", "wallet", "audit", "--verify", "--json")
	var rep wallet.AuditReport
	// (and one fee settlement for each payment followed to its receipt)
	settled := len(walletAudit(t, home, func(e wallet.AuditEntry) bool { return e.Action == "settled" }))
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 || settled > capN || rep.Entries != 106+settled || rep.Signed != capN || len(rep.Ledger.Problems) != 0 {
		t.Fatalf("audit --verify: %d %v %+v %s", r.Code, err, rep, r.Stderr)
	}
	decisions := walletAudit(t, home, func(e wallet.AuditEntry) bool { return e.Kind == "permission" && e.Fields["request"] != nil })
	for i, e := range decisions {
		if want := i < capN; (e.Action == "allowed") != want || !want && e.Fields["rule"] != wallet.RulePerDay {
			t.Fatalf("decision %d (entry %d) is %s %v", i, e.Seq, e.Action, e.Fields["rule"])
		}
	}
	if len(decisions) != 100 {
		t.Fatalf("%d decisions", len(decisions))
	}
	entries := filepath.Join(home, "ledger", "entries.jsonl")
	b, _ := os.ReadFile(entries)
	b[len(b)/2] ^= 0x20
	os.WriteFile(entries, b, 0o600)
	r = runSov(t, home, nil, "", "wallet", "audit", "--verify")
	if r.Code != 1 || !strings.Contains(r.Stderr, "the ledger does not verify: entry") || !strings.Contains(r.Stdout, "do not verify") {
		t.Fatalf("tampered ledger: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	walletCanaryCheck(t, home, walletTestAbandon)
}
