package wallet

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testWallet(t *testing.T) *Wallet {
	t.Helper()
	return New(t.TempDir(), WithStoreOptions(WithKDF(func() (KDFParams, error) { return testKDF(), nil })))
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
	if err := w.SetPolicy(Policy{Limits: map[string]Limit{"USDC": {PerDay: "1000"}}}, "test"); err != nil {
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
	rep, err := w.VerifyAudit()
	if err != nil || !rep.OK || rep.Entries != 101 {
		t.Fatalf("audit %+v %v", rep, err)
	}
	entries, _ := ReadAudit(w.Dir())
	if e := entries[len(entries)-1]; e.Grant != g.ID() || e.Caller != "agent:test" {
		t.Fatalf("audit %+v %v", rep, err)
	}
}

// TestWalletGrantDailyCapAcrossProcesses runs the authorisations from
// several real processes (this test binary re-executed), each attaching the
// same grant, against one wallet.db.
func TestWalletGrantDailyCapAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("SOV_TEST_WALLET_POLICY_CHILD"); dir != "" {
		w := New(dir)
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
	w := testWallet(t)
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
			cmd.Env = append(os.Environ(), "SOV_TEST_WALLET_POLICY_CHILD="+w.Dir(), "SOV_TEST_WALLET_GRANT="+g.ID())
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
	if rep, _ := w.VerifyAudit(); !rep.OK || rep.Entries != 100 {
		t.Fatalf("audit %+v", rep)
	}
}

func TestWalletPolicyRules(t *testing.T) {
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	now := day
	w := New(t.TempDir(), WithClock(func() time.Time { return now }))
	p := Policy{
		Limits:     map[string]Limit{"USDC": {PerTx: "10", PerDay: "25", ApproveAbove: "5"}},
		PayeeDaily: map[string]map[string]string{"0xShop": {"USDC": "3"}},
	}
	if err := w.SetPolicy(p, "test"); err != nil {
		t.Fatal(err)
	}
	yes := func(context.Context, string, string) (bool, error) { return true, nil }
	no := func(context.Context, string, string) (bool, error) { return false, nil }
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
	if err := w.Release(d.ID, "broadcast failed"); err != nil {
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
	w.SetPolicy(p, "test")
	if _, err := w.authorize(context.Background(), payReq("1", "0xB"), nil); err == nil || !strings.Contains(err.Error(), "allow list") {
		t.Fatalf("allow list: %v", err)
	}
	entries, _ := ReadAudit(w.Dir())
	decisions := map[string]int{}
	for _, e := range entries {
		decisions[e.Decision]++
	}
	if decisions["approved"] != 2 || decisions["refused"] < 5 || decisions["released"] != 1 {
		t.Fatalf("audit decisions %v", decisions)
	}
}

func TestWalletAuditDetectsEveryFlippedByte(t *testing.T) {
	w := testWallet(t)
	for i := 0; i < 3; i++ {
		w.authorize(context.Background(), payReq("1", "0xA"), nil)
	}
	path := filepath.Join(w.Dir(), auditFile)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifyAudit(w.Dir()); !rep.OK || rep.Entries != 3 {
		t.Fatalf("clean log: %+v", rep)
	}
	for i := range orig {
		b := append([]byte(nil), orig...)
		b[i] ^= 0x01
		os.WriteFile(path, b, 0o600)
		rep, err := VerifyAudit(w.Dir())
		if err != nil || rep.OK {
			t.Fatalf("flip at byte %d (%q) undetected: %+v %v", i, orig[i], rep, err)
		}
	}
	// dropping a whole line is detected too
	lines := strings.SplitAfter(string(orig), "\n")
	os.WriteFile(path, []byte(lines[0]+lines[2]), 0o600)
	if rep, _ := VerifyAudit(w.Dir()); rep.OK {
		t.Fatal("dropped line undetected")
	}
}
