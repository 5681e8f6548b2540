package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
)

// walletAnvil is a real anvil node on 127.0.0.1 with a random port.
type walletAnvil struct {
	URL string
	rpc *rpc.Client
	eth *ethclient.Client
}

func startWalletAnvil(t *testing.T) *walletAnvil {
	t.Helper()
	bin := testtool.Need(t, "anvil")
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", "0", "--accounts", "1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Listening on "); ok {
				urlCh <- "http://" + addr
			}
		}
	}()
	var url string
	select {
	case url = <-urlCh:
	case <-time.After(30 * time.Second):
		t.Fatal("anvil did not start")
	}
	c, err := rpc.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &walletAnvil{URL: url, rpc: c, eth: ethclient.NewClient(c)}
}

func (an *walletAnvil) call(t *testing.T, method string, args ...any) {
	t.Helper()
	if err := an.rpc.Call(nil, method, args...); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

// deployToken deploys wallet/testdata/TestToken.bin from key.
func (an *walletAnvil) deployToken(t *testing.T, key *wallet.Keys) common.Address {
	t.Helper()
	code, err := os.ReadFile("../../wallet/testdata/TestToken.bin")
	if err != nil {
		t.Fatal(err)
	}
	abiJSON, _ := os.ReadFile("../../wallet/testdata/TestToken.abi")
	parsed, err := abi.JSON(strings.NewReader(string(abiJSON)))
	if err != nil {
		t.Fatal(err)
	}
	args, _ := parsed.Pack("", "USD Coin", "USDC", uint8(6), big.NewInt(1_000_000_000_000))
	pk, _ := key.EVMKey(0)
	from := crypto.PubkeyToAddress(pk.PublicKey)
	ctx := context.Background()
	nonce, _ := an.eth.PendingNonceAt(ctx, from)
	chainID, _ := an.eth.ChainID(ctx)
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11), Gas: 3_000_000,
		Data: append(common.FromHex(strings.TrimSpace(string(code))), args...)})
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(chainID), pk)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.eth.SendTransaction(ctx, signed); err != nil {
		t.Fatal(err)
	}
	r := an.receipt(t, signed.Hash())
	return r.ContractAddress
}

func (an *walletAnvil) receipt(t *testing.T, h common.Hash) *types.Receipt {
	t.Helper()
	for i := 0; i < 100; i++ {
		if r, err := an.eth.TransactionReceipt(context.Background(), h); err == nil {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no receipt for %s", h)
	return nil
}

func (an *walletAnvil) tokenBalance(t *testing.T, token, owner common.Address) *big.Int {
	t.Helper()
	data := append(common.FromHex("0x70a08231"), common.LeftPadBytes(owner.Bytes(), 32)...)
	out, err := an.eth.CallContract(context.Background(), ethereumCall(token, data), nil)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}

// walletAnvilSetup: a wallet imported from the abandon mnemonic, 10 ETH and
// 1,000,000 test USDC on anvil, and the network configured through the CLI.
func walletAnvilSetup(t *testing.T) (home string, an *walletAnvil, token common.Address) {
	t.Helper()
	an = startWalletAnvil(t)
	home = t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	seed, _ := wallet.SeedFromMnemonic(walletTestAbandon, "")
	keys := wallet.NewKeys(seed)
	defer keys.Wipe()
	me := common.HexToAddress("0x9858EfFD232B4033E47d90003D41EC34EcaEda94")
	an.call(t, "anvil_setBalance", me, hexutil.EncodeBig(new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))))
	token = an.deployToken(t, keys)
	r := runSov(t, home, nil, "", "wallet", "networks", "add", "anvil", "--rpc", an.URL, "--usdc", token.Hex())
	if r.Code != 0 {
		t.Fatalf("networks add: %s", r.Stderr)
	}
	return home, an, token
}

func TestWalletAnvilBalanceSendAndERC20(t *testing.T) {
	home, an, token := walletAnvilSetup(t)
	payee := common.HexToAddress("0x00000000000000000000000000000000000000A1")

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

	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "0.5", "ETH", "to", payee.Hex(), "--chain", "anvil", "--yes")
	if r.Code != 0 || !strings.Contains(r.Stdout, "confirmed") || !strings.Contains(r.Stderr, "network fee at most") {
		t.Fatalf("send ETH: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if bal, _ := an.eth.BalanceAt(context.Background(), payee, nil); bal.Cmp(big.NewInt(5e17)) != 0 {
		t.Fatalf("payee ETH %s", bal)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "25.5", "USDC", "to", payee.Hex(), "--yes")
	if r.Code != 0 || !strings.Contains(r.Stdout, "confirmed") {
		t.Fatalf("send USDC: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if b := an.tokenBalance(t, token, payee); b.Cmp(big.NewInt(25_500_000)) != 0 {
		t.Fatalf("payee USDC %s", b)
	}
	r = runSov(t, home, nil, "", "wallet", "ledger", "--json")
	var ledger []wallet.LedgerEntry
	json.Unmarshal([]byte(r.Stdout), &ledger)
	if len(ledger) != 2 || ledger[0].Status != "confirmed" || ledger[1].Status != "confirmed" {
		t.Fatalf("ledger %s", r.Stdout)
	}

	// bad input: nothing signed, clear one-line errors
	bad := strings.Replace(payee.Hex(), "A1", "a1", 1) // wrong EIP-55 case
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"send", "1", "ETH", "to", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}, 2, "EIP-55"},
		{[]string{"send", "1", "ETH", "to", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"}, 2, "only BTC"},
		{[]string{"send", "1", "ETH", "to", "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"}, 2, "is a Solana address, so ETH"},
		{[]string{"send", "1000", "ETH", "to", payee.Hex()}, 1, "insufficient funds"},
		{[]string{"send", "2000000", "USDC", "to", payee.Hex()}, 1, "insufficient funds"},
		{[]string{"send", "0.1", "ETH", "to", payee.Hex()}, 1, "pass --yes"},
		{[]string{"send", "abc", "ETH", "to", payee.Hex()}, 2, "not a decimal number"},
		{[]string{"send", "1", "DOGE", "to", payee.Hex()}, 2, "unknown asset"},
	} {
		r := runSov(t, home, walletTestEnv, "", append([]string{"wallet"}, tc.args...)...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: code %d stderr %q", tc.args, r.Code, r.Stderr)
		}
	}
	_ = bad
	// above the approval threshold, a caller without a terminal is refused
	// with the reason, even with --yes, and nothing is signed
	if r := runSov(t, home, nil, "", "wallet", "policy", "--asset", "ETH", "--approve-above", "0.2"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "0.3", "ETH", "to", payee.Hex(), "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "above the approval threshold of 0.2 ETH") || !strings.Contains(r.Stderr, "headless") {
		t.Fatalf("headless approval: %d %s", r.Code, r.Stderr)
	}
	r = runSov(t, home, nil, "", "wallet", "audit", "--json")
	if !strings.Contains(r.Stdout, `"decision": "refused"`) {
		t.Fatalf("refusal not audited: %s", r.Stdout)
	}
	r = runSov(t, home, nil, "", "wallet", "ledger", "--json")
	json.Unmarshal([]byte(r.Stdout), &ledger)
	if len(ledger) != 2 {
		t.Fatalf("a refused send reached the ledger: %s", r.Stdout)
	}
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
	payee := common.HexToAddress("0x00000000000000000000000000000000000000B0")
	req := fmt.Sprintf(`{"x402Version":2,"resource":{"url":"https://brand.example/article"},"accepts":[
	 {"scheme":"exact","network":"eip155:8453","amount":"1000000","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"%[1]s","maxTimeoutSeconds":60},
	 {"scheme":"exact","network":"eip155:31337","amount":"5000000000000","asset":"%[2]s","payTo":"%[1]s","maxTimeoutSeconds":60},
	 {"scheme":"exact","network":"eip155:31337","amount":"100000000000000000","asset":"native","payTo":"%[1]s","maxTimeoutSeconds":60}]}`, payee.Hex(), token.Hex())
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
	if bal, _ := an.eth.BalanceAt(context.Background(), payee, nil); bal.Cmp(big.NewInt(1e17)) != 0 {
		t.Fatalf("payee got %s", bal)
	}
	// bad requests
	for _, tc := range []struct{ body, want string }{
		{strings.Replace(req, `"amount":"1000000"`, `"amount":"1.5"`, 1), "not a positive whole number"},
		{`{"x402Version":2,"expiresAt":1000,"accepts":[{"scheme":"exact","network":"eip155:31337","amount":"1","asset":"native","payTo":"` + payee.Hex() + `"}]}`, "expired"},
		{`{"x402Version":2,"accepts":[{"scheme":"exact","network":"eip155:999999","amount":"1","asset":"native","payTo":"` + payee.Hex() + `"}]}`, "unknown network"},
		{`{"x402Version":2,"accepts":[{"scheme":"exact","network":"eip155:31337","amount":"999999999999999999999999","asset":"native","payTo":"` + payee.Hex() + `"}]}`, "insufficient funds"},
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
	an.call(t, "evm_setAutomine", false)
	payee := common.HexToAddress("0x00000000000000000000000000000000000000C0")
	hashOf := func(out string) common.Hash {
		for _, f := range strings.Fields(out) {
			if strings.HasPrefix(f, "0x") && len(f) == 66 {
				return common.HexToHash(f)
			}
		}
		t.Fatalf("no hash in %q", out)
		return common.Hash{}
	}
	r := runSov(t, home, walletTestEnv, "", "wallet", "send", "1", "ETH", "to", payee.Hex(), "--yes", "--no-wait")
	if r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	orig := hashOf(r.Stdout)
	r = runSov(t, home, walletTestEnv, "", "wallet", "speedup", orig.Hex(), "--yes", "--no-wait")
	if r.Code != 0 {
		t.Fatalf("speedup: %s", r.Stderr)
	}
	fast := hashOf(r.Stdout)
	an.call(t, "evm_mine")
	if rc := an.receipt(t, fast); rc.Status != 1 {
		t.Fatal("speed-up failed")
	}
	if _, err := an.eth.TransactionReceipt(context.Background(), orig); err == nil {
		t.Fatal("the original was mined too")
	}
	r = runSov(t, home, nil, "", "wallet", "ledger", "--refresh", "--json")
	var ledger []wallet.LedgerEntry
	json.Unmarshal([]byte(r.Stdout), &ledger)
	status := map[string]string{}
	for _, e := range ledger {
		status[strings.ToLower(e.Hash)] = e.Status
	}
	if status[strings.ToLower(fast.Hex())] != "confirmed" || status[strings.ToLower(orig.Hex())] != "replaced" {
		t.Fatalf("ledger after refresh: %v", status)
	}
	// cancel: the second payment never arrives
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "2", "ETH", "to", payee.Hex(), "--yes", "--no-wait")
	second := hashOf(r.Stdout)
	r = runSov(t, home, walletTestEnv, "", "wallet", "cancel", second.Hex(), "--yes", "--no-wait")
	if r.Code != 0 {
		t.Fatalf("cancel: %s", r.Stderr)
	}
	an.call(t, "evm_mine")
	an.receipt(t, hashOf(r.Stdout))
	if bal, _ := an.eth.BalanceAt(context.Background(), payee, nil); bal.Cmp(big.NewInt(1e18)) != 0 {
		t.Fatalf("payee got %s, want only the sped-up 1 ETH", bal)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "speedup", fast.Hex(), "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "not pending") && !strings.Contains(r.Stderr, "already mined") {
		t.Fatalf("speedup of a mined tx: %d %s", r.Code, r.Stderr)
	}
}

// TestWalletAnvilPolicyHoldsUnder100ConcurrentSends: a daily cap of N USDC
// lets exactly N of 100 concurrent one-unit `sov wallet send` processes
// through; every refusal says why; the audit log verifies, and one flipped
// byte in it is detected.
func TestWalletAnvilPolicyHoldsUnder100ConcurrentSends(t *testing.T) {
	home, an, token := walletAnvilSetup(t)
	const capN = 5
	if r := runSov(t, home, nil, "", "wallet", "policy", "--asset", "USDC", "--per-day", fmt.Sprint(capN)); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	payee := common.HexToAddress("0x00000000000000000000000000000000000000D0")
	var wg sync.WaitGroup
	results := make([]sovResult, 100)
	sem := make(chan struct{}, 100) // all 100 at once
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = runSov(t, home, walletTestEnv, "", "wallet", "send", "1", "USDC", "to", payee.Hex(), "--yes", "--no-wait")
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
	for an.tokenBalance(t, token, payee).Int64() != capN*1_000_000 {
		if time.Now().After(deadline) {
			t.Fatalf("payee has %s", an.tokenBalance(t, token, payee))
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := runSov(t, home, nil, "", "wallet", "audit", "--verify")
	if r.Code != 0 || !strings.Contains(r.Stdout, "101 entries") {
		t.Fatalf("audit: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	log := filepath.Join(home, "wallet", "audit.log")
	b, _ := os.ReadFile(log)
	b[len(b)/2] ^= 0x20
	os.WriteFile(log, b, 0o600)
	r = runSov(t, home, nil, "", "wallet", "audit", "--verify")
	if r.Code != 1 || !strings.Contains(r.Stderr, "audit log is damaged at line") {
		t.Fatalf("tampered audit: %d %s", r.Code, r.Stderr)
	}
	walletCanaryCheck(t, home, walletTestAbandon)
}

func ethereumCall(to common.Address, data []byte) ethereum.CallMsg {
	return ethereum.CallMsg{To: &to, Data: data}
}
