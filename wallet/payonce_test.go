package wallet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/wallet/internal/evm"
)

// payFixture is a wallet (sealed under testPassphrase, clock at *now)
// paying x402 requests on the simulated chain.
type payFixture struct {
	c     *simChain
	w     *Wallet
	nets  []Network
	payee string
	now   *time.Time
}

func newPayFixture(t *testing.T) *payFixture {
	t.Helper()
	c := newSimChain(t)
	now := time.Now()
	f := &payFixture{c: c, now: &now, payee: evm.HexToAddress("0x00000000000000000000000000000000000000f2").Hex()}
	f.w = sealed(t, testWallet(t, WithClock(func() time.Time { return *f.now }), WithEVMDialer(func(context.Context, Network) (*EVM, error) { return c.evm, nil })))
	n := c.evm.Net
	n.RPC = []string{"sim"}
	f.nets = []Network{n}
	return f
}

// request is a one-option x402 v2 request for amount atomic USDC, the
// option's extra and maxTimeoutSeconds as given.
func (f *payFixture) request(amount string, timeout int, extra string) []byte {
	if extra == "" {
		extra = "{}"
	}
	return []byte(fmt.Sprintf(`{"x402Version":2,"resource":{"url":"https://shop.example/item"},"accepts":[{"scheme":"exact","network":%q,"amount":%q,"asset":%q,"payTo":%q,"maxTimeoutSeconds":%d,"extra":%s}]}`,
		f.c.evm.Net.CAIP2, amount, f.c.token.Hex(), f.payee, timeout, extra))
}

func (f *payFixture) session(approve Approver) *Session {
	return f.w.NewSession(SessionConfig{Caller: "test", Unlock: f.c.unlock, Networks: f.nets, Approver: approve, Interactive: approve != nil})
}

// pay plans raw for s and executes it, paying again when again is set.
func (f *payFixture) pay(t *testing.T, s *Session, raw []byte, again bool) (LedgerEntry, error) {
	t.Helper()
	p, _, err := s.PlanPayment(context.Background(), raw, 0)
	if err != nil {
		return LedgerEntry{}, err
	}
	defer p.Close()
	if again {
		p.PayAgain()
	}
	return s.Execute(context.Background(), p)
}

// TestWalletPaymentRequestPaidOnce: the same x402 payment request paid
// twice — the second is refused before signing, naming the first
// payment's transaction, unless the user says to pay it again (PayAgain,
// `sov wallet pay --again`); an agent under a grant cannot. The key is the
// sha256 of the canonical request and the chosen option, recorded with
// the transaction in wallet.db and in the ledger's entries.
func TestWalletPaymentRequestPaidOnce(t *testing.T) {
	f := newPayFixture(t)
	ctx := context.Background()
	s := f.session(nil)
	raw := f.request("1500000", 60, `{"name":"USDC","version":"2"}`)
	first, err := f.pay(t, s, raw, false)
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := ParsePaymentRequired(raw, time.Now())
	key := PaymentKey(pr, pr.Accepts[0])
	if l, ok, _ := f.w.FindLedger(first.Hash); !ok || l.Request != key || first.Request != key {
		t.Fatalf("ledger %+v, want request %s", l, key)
	}
	// the same request in another JSON form (keys reordered, spaces) is the same request
	same := []byte(strings.Replace(strings.Replace(string(raw), `{"x402Version":2,`, "{\n  ", 1), `]}`, `], "x402Version": 2}`, 1))
	if p2, _ := ParsePaymentRequired(same, time.Now()); PaymentKey(p2, p2.Accepts[0]) != key {
		t.Fatalf("the key depends on the JSON's form: %s", same)
	}
	var refused *RefusedError
	for _, r := range [][]byte{raw, same} {
		_, err := f.pay(t, s, r, false)
		if !errors.As(err, &refused) || refused.Rule != RulePaid || refused.Tx != first.Hash || !strings.Contains(err.Error(), "paid already by transaction "+first.Hash) {
			t.Fatalf("paid twice: %v", err)
		}
	}
	// before it is mined too, and after: it stays paid
	f.c.sim.Commit()
	if _, err := f.w.WaitEVM(ctx, f.c.evm, first); err != nil {
		t.Fatal(err)
	}
	// an agent's grant cannot pay it again, even asking to
	g, err := s.Grant("agent:shop", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pr2, _ := ParsePaymentRequired(raw, f.w.now())
	route, err := g.RoutePayment(ctx, pr2, 0)
	if err != nil {
		t.Fatal(err)
	}
	gp, _ := route.Plan()
	gp.PayAgain()
	if _, err := g.Execute(ctx, gp); !errors.As(err, &refused) || refused.Rule != RulePaid {
		t.Fatalf("a grant paid it again: %v", err)
	}
	route.Close()
	if txs, _ := f.w.Ledger(); len(txs) != 1 {
		t.Fatalf("%d transactions, want 1", len(txs))
	}
	// the user can, saying so; the ledger records that it was on purpose
	again, err := f.pay(t, s, raw, true)
	if err != nil || again.Request != key || again.Hash == first.Hash {
		t.Fatalf("paying again: %+v %v", again, err)
	}
	// another request is another payment
	if _, err := f.pay(t, s, f.request("1500001", 60, `{"name":"USDC","version":"2"}`), false); err != nil {
		t.Fatalf("another request: %v", err)
	}
	// a payment that was cancelled paid nothing: its request can be paid
	other := f.request("1500002", 60, "")
	lost, err := f.pay(t, s, other, false)
	if err != nil {
		t.Fatal(err)
	}
	cancel, err := s.Replace(ctx, lost.Hash, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.c.sim.Commit()
	if _, err := f.w.WaitEVM(ctx, f.c.evm, cancel); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pay(t, s, other, false); err != nil {
		t.Fatalf("a cancelled payment's request: %v", err)
	}
	var signed, refusedPaid, onPurpose int
	for _, e := range audit(t, f.w) {
		switch {
		case e.Kind == "payment" && e.Fields["request_sha256"] == key:
			signed++
		case e.Action == "refused" && e.Fields["rule"] == RulePaid && e.Fields["request_sha256"] == key:
			refusedPaid++
		case e.Action == "allowed" && e.Fields["again"] == true:
			onPurpose++
		}
	}
	if signed != 2 || refusedPaid != 3 || onPurpose != 1 {
		t.Fatalf("ledger: %d payments of the request, %d refused as paid, %d paid again on purpose", signed, refusedPaid, onPurpose)
	}
}

// TestWalletPaymentDeadlineEnforced: an expired request — expiresAt,
// extra.deadline, extra.validBefore, or maxTimeoutSeconds counted from when
// it was read — is refused before anything is signed; a deadline that
// passes while the person approves is refused after the approval too.
func TestWalletPaymentDeadlineEnforced(t *testing.T) {
	f := newPayFixture(t)
	ctx := context.Background()
	past := f.now.Add(-time.Minute)
	for _, tt := range []struct {
		name string
		raw  []byte
	}{
		{"extra.deadline", f.request("1000000", 60, fmt.Sprintf(`{"deadline":%d}`, past.Unix()))},
		{"extra.validBefore", f.request("1000000", 60, fmt.Sprintf(`{"validBefore":"%d"}`, past.Unix()))},
		{"expiresAt", []byte(strings.Replace(string(f.request("1000000", 60, "")), `{"x402Version":2,`, fmt.Sprintf(`{"x402Version":2,"expiresAt":%q,`, past.UTC().Format(time.RFC3339)), 1))},
	} {
		if _, err := f.pay(t, f.session(nil), tt.raw, false); !errors.Is(err, ErrPaymentExpired) {
			t.Errorf("%s in the past: %v", tt.name, err)
		}
	}
	if _, err := ParsePaymentRequired(f.request("1", 60, `{"deadline":"soon"}`), *f.now); err == nil || !strings.Contains(err.Error(), "extra.deadline") {
		t.Errorf("a malformed deadline: %v", err)
	}
	// maxTimeoutSeconds runs from when the request was read: planned, then
	// 31 s later it is refused, unsigned, without asking anyone
	s := f.session(nil)
	p, _, err := s.PlanPayment(ctx, f.request("1000000", 30, ""), 0)
	if err != nil {
		t.Fatal(err)
	}
	*f.now = f.now.Add(31 * time.Second)
	var refused *RefusedError
	if _, err := s.Execute(ctx, p); !errors.As(err, &refused) || refused.Rule != RuleExpired || !strings.Contains(refused.Reason, "maxTimeoutSeconds") {
		t.Fatalf("past maxTimeoutSeconds: %v", err)
	}
	p.Close()
	// the deadline passes while the person reads the summary
	if err := f.w.setPolicy(Policy{Limits: map[string]Limit{"USDC": {ApproveAbove: "0.5"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	deadline := f.now.Add(time.Minute)
	var shown []string
	slow := func(ctx context.Context, summary, why string) ([]byte, error) {
		*f.now = deadline.Add(time.Second)
		return typing(testPassphrase, &shown)(ctx, summary, why)
	}
	s = f.session(slow)
	if _, err := f.pay(t, s, f.request("1000000", 600, fmt.Sprintf(`{"deadline":%d}`, deadline.Unix())), false); !errors.As(err, &refused) || refused.Rule != RuleExpired || !strings.Contains(refused.Reason, "extra.deadline") {
		t.Fatalf("expired during approval: %v", err)
	}
	if len(shown) != 1 {
		t.Fatalf("asked %d times", len(shown))
	}
	if txs, _ := f.w.Ledger(); len(txs) != 0 {
		t.Fatalf("sent %v", txs)
	}
	if spent, _ := f.w.SpentToday(); spent["USDC"] != "" && spent["USDC"] != "0" {
		t.Fatalf("an expired payment holds %v", spent)
	}
	log := audit(t, f.w)
	if last := log[len(log)-1]; last.Action != "refused" || last.Fields["rule"] != RuleExpired {
		t.Fatalf("last entry %+v", last)
	}
}
