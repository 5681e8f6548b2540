package wallet

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/sovos/sov/wallet/internal/evm"
)

// simChain is go-ethereum's in-process simulated backend, funded for the
// abandon mnemonic's first EVM account, which sov's own eth JSON-RPC
// client reaches over HTTP.
type simChain struct {
	sim   *simulated.Backend
	evm   *EVM
	keys  *Keys
	from  EVMAddress
	key   *ecdsa.PrivateKey
	token EVMAddress
}

func newSimChain(t *testing.T) *simChain {
	t.Helper()
	seed, _ := SeedFromMnemonic(abandonMnemonic, "")
	keys := NewKeys(seed)
	key, _ := keys.EVMKey(0)
	from := evm.PubkeyToAddress(key.PublicKey)
	eth := new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))
	sim := simulated.NewBackend(types.GenesisAlloc{common.Address(from): {Balance: eth}})
	t.Cleanup(func() { sim.Close() })
	net := Network{Name: "sim", CAIP2: "eip155:1337", Family: FamilyEVM, ChainID: 1337, Native: "ETH", NativeDecimals: 18}
	cl, err := newEthClient(serveRPC(t, sim), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEVM(context.Background(), net, cl)
	if err != nil {
		t.Fatal(err)
	}
	c := &simChain{sim: sim, evm: e, keys: keys, from: from, key: key}
	c.token = c.deployToken(t)
	c.evm.Net.USDC, c.evm.Net.USDCDecimals = c.token.Hex(), 6
	return c
}

// serveRPC serves the simulated node's JSON-RPC over HTTP (it has no
// listener of its own) and returns the URL. The node's in-process RPC
// client sits in the one field of the wrapper Client returns.
func serveRPC(t *testing.T, sim *simulated.Backend) string {
	ec, ok := reflect.ValueOf(sim.Client()).Field(0).Interface().(*ethclient.Client)
	if !ok {
		t.Fatal("simulated.Client no longer wraps *ethclient.Client")
	}
	rc := ec.Client()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		args := make([]any, len(req.Params))
		for i, p := range req.Params {
			args[i] = p
		}
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		var res json.RawMessage
		if err := rc.CallContext(r.Context(), &res, req.Method, args...); err != nil {
			e := map[string]any{"code": -32000, "message": err.Error()}
			var re rpc.Error
			if errors.As(err, &re) {
				e["code"] = re.ErrorCode()
			}
			var de rpc.DataError
			if errors.As(err, &de) {
				e["data"] = de.ErrorData()
			}
			resp["error"] = e
		} else {
			resp["result"] = res
		}
		json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// deployToken deploys wallettest/testdata/TestToken.bin (a minimal ERC-20 compiled
// from TestToken.sol) with 1,000,000 "USDC" of 6 decimals.
func (c *simChain) deployToken(t *testing.T) EVMAddress {
	t.Helper()
	code, err := os.ReadFile("wallettest/testdata/TestToken.bin")
	if err != nil {
		t.Fatal(err)
	}
	abiJSON, _ := os.ReadFile("wallettest/testdata/TestToken.abi")
	parsed, err := abi.JSON(strings.NewReader(string(abiJSON)))
	if err != nil {
		t.Fatal(err)
	}
	args, err := parsed.Pack("", "USD Coin", "USDC", uint8(6), big.NewInt(1_000_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nonce, _ := c.evm.Backend.PendingNonceAt(ctx, c.from)
	fees, _ := c.evm.SuggestFees(ctx)
	tx := &evm.Tx{Type: evm.DynamicFeeTxType, ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: fees.Tip, GasFeeCap: fees.Cap, Gas: 2_000_000, Data: append(evm.FromHex(strings.TrimSpace(string(code))), args...)}
	signed, _ := signEVMTx(c.key, tx)
	if err := c.evm.Backend.SendTransaction(ctx, signed.Raw); err != nil {
		t.Fatal(err)
	}
	c.sim.Commit()
	r, err := c.evm.Backend.TransactionReceipt(ctx, signed.Hash)
	if err != nil || r.Status != 1 {
		t.Fatalf("deploy: %v", err)
	}
	return r.ContractAddress
}

func (c *simChain) unlock() (*Keys, error) { return NewKeys(c.keys.seed), nil }

// session is the user's session on w over the simulated chain.
func (c *simChain) session(w *Wallet) *Session {
	w.dial = func(context.Context, Network) (*EVM, error) { return &EVM{Net: c.evm.Net, Backend: c.evm.Backend}, nil }
	return w.NewSession(SessionConfig{Caller: "test", Unlock: c.unlock, Networks: []Network{c.evm.Net}})
}

// exec executes a simulated EVM plan as the user.
func (c *simChain) exec(w *Wallet, ep *EVMPlan) (LedgerEntry, error) {
	acct, err := c.keys.Accounts(0)
	if err != nil {
		return LedgerEntry{}, err
	}
	p := &Plan{kind: "send", acct: acct, evm: c.evm}
	p.fromEVMPlan(ep)
	return c.session(w).Execute(context.Background(), p)
}

func TestWalletEVMSendNativeAndERC20Simulated(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	w := testWallet(t)
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000aa")

	tok, dec, sym, err := c.evm.ResolveAsset(ctx, "usdc")
	if err != nil || dec != 6 || sym != "USDC" {
		t.Fatal(err)
	}
	amt, _ := ToAtomic("12.5", dec)
	p, err := c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: sym, Token: tok, Amount: amt, Decimals: dec})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Summary, "12.5 USDC") || !strings.Contains(p.Summary, "eip155:1337") {
		t.Fatalf("summary %q", p.Summary)
	}
	// the same transfer through the one send path: Transfer → Plan → Execute
	s := c.session(w)
	acct, _ := c.keys.Accounts(0)
	plan, err := w.Plan(ctx, Transfer{Amount: "12.5", Asset: "usdc", To: payee.Hex(), Network: "sim"}, s.Networks(), acct)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Summary() != p.Summary {
		t.Fatalf("plan summary %q, want %q", plan.Summary(), p.Summary)
	}
	entry, err := s.Execute(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	c.sim.Commit()
	if entry, err = w.WaitEVM(ctx, c.evm, entry); err != nil || entry.Status != "confirmed" {
		t.Fatalf("%+v %v", entry, err)
	}
	got, _ := c.evm.TokenBalance(ctx, c.token, payee)
	if got.Cmp(amt) != 0 {
		t.Fatalf("payee has %s", got)
	}

	one, _ := ToAtomic("1", 18)
	p, err = c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: one, Decimals: 18})
	if err != nil {
		t.Fatal(err)
	}
	entry, err = c.exec(w, p)
	if err != nil {
		t.Fatal(err)
	}
	c.sim.Commit()
	if _, err := w.WaitEVM(ctx, c.evm, entry); err != nil {
		t.Fatal(err)
	}
	bal, _ := c.evm.Backend.BalanceAt(ctx, payee, nil)
	if bal.Cmp(one) != 0 {
		t.Fatalf("payee ETH %s", bal)
	}
	ledger, _ := w.Ledger()
	if len(ledger) != 2 || ledger[0].Status != "confirmed" {
		t.Fatalf("ledger %+v", ledger)
	}
}

func TestWalletEVMRefusesBeforeSigning(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000bb")
	huge, _ := ToAtomic("1000", 18)
	if _, err := c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: huge, Decimals: 18}); err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("insufficient ETH: %v", err)
	}
	// all but the fee: the fee check must catch it
	bal, _ := c.evm.Backend.BalanceAt(ctx, c.from, nil)
	if _, err := c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: bal, Decimals: 18}); err == nil || !strings.Contains(err.Error(), "in fees") {
		t.Fatalf("fees not counted: %v", err)
	}
	tok := c.token
	bigTok, _ := ToAtomic("2000000", 6)
	if _, err := c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "USDC", Token: &tok, Amount: bigTok, Decimals: 6}); err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("insufficient USDC: %v", err)
	}
	// a chain id mismatch is refused
	lying := c.evm.Net
	lying.ChainID = 1
	if _, err := NewEVM(ctx, lying, c.evm.Backend); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("chain id lie: %v", err)
	}
	if _, err := DialEVM(ctx, Network{Name: "x", Family: FamilyEVM, ChainID: 1}); err == nil || !strings.Contains(err.Error(), "no RPC configured") {
		t.Fatalf("no rpc: %v", err)
	}
}

func TestWalletEVMConcurrentSendsGetDistinctNonces(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	w := testWallet(t)
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000cc")
	amt, _ := ToAtomic("0.01", 18)
	const n = 8
	var wg sync.WaitGroup
	hashes := make([]LedgerEntry, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: amt, Decimals: 18})
			if err != nil {
				errs[i] = err
				return
			}
			hashes[i], errs[i] = c.exec(w, p)
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[hashes[i].Nonce] {
			t.Fatalf("nonce %d used twice", hashes[i].Nonce)
		}
		seen[hashes[i].Nonce] = true
	}
	c.sim.Commit()
	bal, _ := c.evm.Backend.BalanceAt(ctx, payee, nil)
	if bal.Cmp(new(big.Int).Mul(amt, big.NewInt(n))) != 0 {
		t.Fatalf("payee got %s", bal)
	}
}

func TestWalletEVMSpeedupAndCancelSimulated(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	w := testWallet(t)
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000dd")
	amt, _ := ToAtomic("0.5", 18)
	p, _ := c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: amt, Decimals: 18})
	first, err := c.exec(w, p)
	if err != nil {
		t.Fatal(err)
	}
	// not mined within the family's wait: Follow says it is still pending
	w.followFor[FamilyEVM] = 50 * time.Millisecond
	var pending *PendingError
	if _, err := c.session(w).Follow(ctx, first); !errors.As(err, &pending) || pending.Hash != first.Hash {
		t.Fatalf("follow an unmined transaction: %v", err)
	}
	rp, err := c.session(w).PlanReplace(ctx, first.Hash, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rp.Summary(), "Speed up "+first.Hash) || !strings.Contains(rp.Summary(), ": 0.5 ETH to ") {
		t.Fatalf("speed-up summary %q", rp.Summary())
	}
	fast, err := c.session(w).Execute(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	if fast.Nonce != first.Nonce || fast.Hash == first.Hash || fast.Kind != "speedup" || fast.Amount != "0.5" {
		t.Fatalf("speedup %+v", fast)
	}
	if old, _, _ := w.FindLedger(first.Hash); old.ReplacedBy != fast.Hash {
		t.Fatalf("original not marked replaced by %s: %+v", fast.Hash, old)
	}
	c.sim.Commit()
	if fast, err = w.WaitEVM(ctx, c.evm, fast); err != nil || fast.Status != "confirmed" {
		t.Fatalf("%+v %v", fast, err)
	}
	if first, _ = w.WaitEVM(ctx, c.evm, first); first.Status != "replaced" {
		t.Fatalf("original %s", first.Status)
	}
	if _, err := c.session(w).Replace(ctx, fast.Hash, true, 0); err == nil {
		t.Fatal("replaced a mined transaction")
	}
	// cancel: the payment never lands
	p, _ = c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: amt, Decimals: 18})
	second, _ := c.exec(w, p)
	cancel, err := c.session(w).Replace(ctx, second.Hash, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.sim.Commit()
	if _, err := w.WaitEVM(ctx, c.evm, cancel); err != nil {
		t.Fatal(err)
	}
	bal, _ := c.evm.Backend.BalanceAt(ctx, payee, nil)
	if bal.Cmp(amt) != 0 {
		t.Fatalf("payee got %s, want only the first payment", bal)
	}
	if _, err := c.session(w).Replace(ctx, "0x1234", false, 0); !errors.Is(err, ErrUnknownTransaction) {
		t.Fatalf("unknown hash: %v", err)
	}
}

// TestWalletEVMDroppedTransactionFreesItsNonce: a transaction the node
// dropped (simulated by rolling back its pool) must not strand later sends
// behind a nonce gap.
func TestWalletEVMDroppedTransactionFreesItsNonce(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	now := time.Now()
	w := testWallet(t, WithClock(func() time.Time { return now }))
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000ee")
	amt, _ := ToAtomic("0.1", 18)
	p, _ := c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: amt, Decimals: 18})
	lost, err := c.exec(w, p)
	if err != nil {
		t.Fatal(err)
	}
	c.sim.Rollback() // the pool forgets it
	now = now.Add(2 * nonceQueueTTL)
	amt2, _ := ToAtomic("0.2", 18)
	p, _ = c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: amt2, Decimals: 18})
	next, err := c.exec(w, p)
	if err != nil {
		t.Fatal(err)
	}
	if next.Nonce != lost.Nonce {
		t.Fatalf("nonce %d after a dropped %d: a gap", next.Nonce, lost.Nonce)
	}
	c.sim.Commit()
	if e, err := w.WaitEVM(ctx, c.evm, next); err != nil || e.Status != "confirmed" {
		t.Fatalf("%+v %v", e, err)
	}
	if l, _, _ := w.FindLedger(lost.Hash); l.Status != "dropped" {
		t.Fatalf("lost tx status %q", l.Status)
	}
}
