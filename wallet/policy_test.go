package wallet

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovos/sov/internal/ledger"
)

// testWallet is a wallet in a temporary directory with its own ledger.
func testWallet(t *testing.T, opts ...Option) *Wallet {
	t.Helper()
	base := []Option{WithLedger(ledger.Open(t.TempDir())), WithStoreOptions(WithKDF(func() (KDFParams, error) { return testKDF(), nil }))}
	return New(t.TempDir(), append(base, opts...)...)
}

// audit is the wallet's entries in its ledger, failing the test when the
// ledger does not verify.
func audit(t *testing.T, w *Wallet) AuditLog {
	t.Helper()
	rep, err := w.VerifyAudit(context.Background())
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		t.Fatalf("ledger: %v\n%s", err, rep)
	}
	log, err := w.Audit()
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != rep.Entries {
		t.Fatalf("the view has %d entries, verification counted %d", len(log), rep.Entries)
	}
	return log
}

// checkCapOrder checks that the decisions in the ledger follow the
// accounting: under a cap of n units spent one unit at a time, the first n
// decisions in ledger order are allowed and every later one refused by
// rule. Entries lost or reordered against the reservations break it.
func checkCapOrder(t *testing.T, log AuditLog, n, total int, rule string) {
	t.Helper()
	i := 0
	for _, e := range log {
		if e.Fields["request"] == nil {
			continue // policy changes, grants, payments
		}
		want, wantRule := "allowed", ""
		if i >= n {
			want, wantRule = "refused", rule
		}
		if e.Action != want || e.Fields["rule"] != nil && e.Fields["rule"] != wantRule || e.Kind != ledger.KindPermission || e.Signed {
			t.Fatalf("decision %d (entry %d) is %s %v signed=%v, want %s %s unsigned", i, e.Seq, e.Action, e.Fields["rule"], e.Signed, want, wantRule)
		}
		i++
	}
	if i != total {
		t.Fatalf("%d decisions in the ledger, want %d", i, total)
	}
}

func payReq(amount string, payee string) request {
	a, _ := ParseAmount(amount)
	return request{Kind: "pay", Caller: "agent:test", Chain: "eip155:1", Asset: "USDC", Amount: a, Payee: payee, Summary: "pay " + amount + " USDC to " + payee}
}

// usdcPlan is a 1 USDC payment plan as Plan would build it (no chain).
func usdcPlan(amount string, payee string) *Plan {
	a, _ := ToAtomic(amount, 6)
	return &Plan{kind: "pay", net: Network{Name: "ethereum", CAIP2: "eip155:1", Family: FamilyEVM}, asset: "USDC", decimals: 6, amount: a, to: payee,
		summary: "Send " + amount + " USDC to " + payee}
}

// authorizeAs runs the first step of execute for p under g.
func (g *Grant) authorizeAs(p *Plan) error {
	_, err := g.s.w.authorize(context.Background(), p.request(g.actor), g.actor.approve)
	return err
}

func TestWalletGrantDailyCapHoldsUnder100ConcurrentRequests(t *testing.T) {
	w := testWallet(t)
	const capUnits = 37
	// the policy allows more; the grant's own daily limit is the binding one
	if err := w.setPolicy(Policy{Limits: map[string]Limit{"USDC": {PerDay: "1000"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	g, err := w.NewSession(SessionConfig{Caller: "test"}).Grant("agent:test", Limits{PerDay: map[string]string{"USDC": strconv.Itoa(capUnits)}})
	if err != nil {
		t.Fatal(err)
	}
	var allowed, refused atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.authorizeAs(usdcPlan("1", "0xpayee"))
			switch {
			case err == nil:
				allowed.Add(1)
			case errors.Is(err, ErrRefused):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != capUnits || refused.Load() != 100-capUnits {
		t.Fatalf("allowed %d refused %d, want %d/%d", allowed.Load(), refused.Load(), capUnits, 100-capUnits)
	}
	// the policy change, the grant, then 100 decisions in accounting order
	log := audit(t, w)
	if len(log) != 102 || log[0].Action != "policy-changed" || log[1].Action != "grant-minted" || log[1].Principal != "test" {
		t.Fatalf("%d entries:\n%s", len(log), log)
	}
	checkCapOrder(t, log, capUnits, 100, RuleGrant)
	if e := log[len(log)-1]; e.Fields["grant"] != g.ID() || e.Principal != "agent:test" || e.Fields["amount"] != "1" || e.Fields["asset"] != "USDC" {
		t.Fatalf("last decision %+v", e)
	}
}

// TestWalletGrantDailyCapAcrossProcesses runs the authorisations from
// several real processes (this test binary re-executed), each attaching the
// same grant, against one wallet.db.
func TestWalletGrantDailyCapAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("SOV_TEST_WALLET_POLICY_CHILD"); dir != "" {
		w := New(dir, WithLedger(ledger.Open(os.Getenv("SOV_TEST_WALLET_LEDGER"))))
		g, err := w.NewSession(SessionConfig{Caller: "test"}).Attach(os.Getenv("SOV_TEST_WALLET_GRANT"))
		if err != nil {
			fmt.Println("ERR", err)
			return
		}
		n := 0
		for i := 0; i < 20; i++ {
			if err := g.authorizeAs(usdcPlan("1", "0xpayee")); err == nil {
				n++
			} else if !errors.Is(err, ErrRefused) {
				fmt.Println("ERR", err)
			}
		}
		fmt.Println("ALLOWED", n)
		return
	}
	lg := t.TempDir()
	w := testWallet(t, WithLedger(ledger.Open(lg)))
	g, err := w.NewSession(SessionConfig{Caller: "test"}).Grant("agent:test", Limits{PerDay: map[string]string{"USDC": "50"}})
	if err != nil {
		t.Fatal(err)
	}
	const procs = 5
	outs := make([][]byte, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestWalletGrantDailyCapAcrossProcesses$")
			cmd.Env = append(os.Environ(), "SOV_TEST_WALLET_POLICY_CHILD="+w.Dir(), "SOV_TEST_WALLET_GRANT="+g.ID(), "SOV_TEST_WALLET_LEDGER="+lg)
			outs[i], _ = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	total := 0
	for _, o := range outs {
		for _, line := range strings.Split(string(o), "\n") {
			if strings.HasPrefix(line, "ERR") {
				t.Error(line)
			}
			if v, ok := strings.CutPrefix(line, "ALLOWED "); ok {
				n, _ := strconv.Atoi(v)
				total += n
			}
		}
	}
	if total != 50 {
		t.Fatalf("processes together were allowed %d units, want exactly 50\n%s", total, outs)
	}
	checkCapOrder(t, audit(t, w), 50, 100, RuleGrant)
}

func TestWalletPolicyRules(t *testing.T) {
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	now := day
	w := sealed(t, testWallet(t, WithClock(func() time.Time { return now })))
	p := Policy{
		Limits:     map[string]Limit{"USDC": {PerTx: "10", PerDay: "25", ApproveAbove: "5"}},
		PayeeDaily: map[string]map[string]string{"0xShop": {"USDC": "3"}},
	}
	if err := w.setPolicy(p, "test"); err != nil {
		t.Fatal(err)
	}
	yes, no := typing(testPassphrase, nil), typing("", nil)
	interactive := func(r request) request { r.Interactive = true; return r }
	tests := []struct {
		name    string
		req     request
		approve Approver
		ok      bool
		reason  string
	}{
		{"small", payReq("2", "0xA"), nil, true, ""},
		{"over per-tx", payReq("11", "0xA"), yes, false, "per-transaction limit"},
		{"headless above threshold", payReq("6", "0xA"), nil, false, "no human is present"},
		{"interactive approved", interactive(payReq("6", "0xA")), yes, true, ""},
		{"interactive declined", interactive(payReq("6", "0xA")), no, false, "declined"},
		{"payee cap", payReq("4", "0xshop"), nil, false, "for payee"},
		{"payee within cap", payReq("3", "0xshop"), nil, true, ""},
		{"day cap", interactive(payReq("10", "0xA")), yes, true, ""},
		{"day cap exceeded", payReq("5", "0xA"), nil, false, "daily limit of 25"},
		{"message signing ok", request{Kind: "sign-message", Caller: "cli"}, nil, true, ""},
		{"bad amount ok asset", request{Kind: "send", Asset: "ETH", Amount: big.NewRat(1000, 1), Payee: "0xA"}, nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := w.authorize(context.Background(), tt.req, tt.approve)
			if tt.ok != (err == nil) || d.Allowed != tt.ok {
				t.Fatalf("got %+v, %v", d, err)
			}
			if !tt.ok && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.reason)) {
				t.Fatalf("reason %v, want %q", err, tt.reason)
			}
		})
	}
	spent, _ := w.SpentToday()
	if spent["USDC"] != "21" {
		t.Fatalf("spent %v", spent)
	}
	// a released reservation frees the budget; the next day starts afresh
	d, err := w.authorize(context.Background(), payReq("4", "0xA"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Release(context.Background(), d.ID, "broadcast failed"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.authorize(context.Background(), payReq("4", "0xA"), nil); err != nil {
		t.Fatalf("after release: %v", err)
	}
	now = day.Add(24 * time.Hour)
	if _, err := w.authorize(context.Background(), payReq("5", "0xA"), nil); err != nil {
		t.Fatalf("next day: %v", err)
	}
	// allow list
	p.Allow = []string{"0xA"}
	w.setPolicy(p, "test")
	if _, err := w.authorize(context.Background(), payReq("1", "0xB"), nil); err == nil || !strings.Contains(err.Error(), "allow list") {
		t.Fatalf("allow list: %v", err)
	}
	decisions := map[string]int{}
	for _, e := range audit(t, w) {
		decisions[e.Action]++
		if e.Action == "refused" && e.Fields["rule"] == nil || e.Signed {
			t.Errorf("entry %s", e)
		}
	}
	if decisions["approved"] != 2 || decisions["refused"] != 6 || decisions["released"] != 1 || decisions["policy-changed"] != 2 {
		t.Fatalf("decisions %v", decisions)
	}
}
