package wallet

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/wallet/internal/evm"
)

func TestWalletPayRouterPicksLowestCost(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	net := c.evm.Net
	w := testWallet(t, WithEVMDialer(func(ctx context.Context, n Network) (*EVM, error) {
		if n.CAIP2 != net.CAIP2 {
			return nil, fmt.Errorf("unreachable")
		}
		return c.evm, nil
	}))
	nets := []Network{func() Network { n := net; n.RPC = []string{"sim"}; return n }()}
	_, acct, unlock := testKeys(t)
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000f1").Hex()
	opt := func(amount, asset string) string {
		return fmt.Sprintf(`{"scheme":"exact","network":%q,"amount":%q,"asset":%q,"payTo":%q,"maxTimeoutSeconds":30}`, net.CAIP2, amount, asset, payee)
	}
	req := `{"x402Version":2,"accepts":[` + opt("100000000000000000", "native") + `,` + opt("2000000", c.token.Hex()) + `,` + opt("1500000", c.token.Hex()) + `]}`
	pr, err := ParsePaymentRequired([]byte(req), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	route, err := w.RoutePayment(ctx, pr, nets, acct)
	if err != nil {
		t.Fatal(err)
	}
	if route.Chosen.Index != 3 || !strings.Contains(route.Explanation, "lowest total cost of 3 payable options") {
		t.Fatalf("chose %d: %s", route.Chosen.Index, route.Explanation)
	}
	// the shop's agent pays through a grant the user's session minted
	g, err := w.NewSession(SessionConfig{Caller: "test", Unlock: unlock, Networks: nets}).Grant("agent:shop", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pay := func(r Route) (LedgerEntry, error) {
		p, err := r.Plan()
		if err != nil {
			return LedgerEntry{}, err
		}
		return g.Execute(ctx, p)
	}
	entry, err := pay(route)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Kind != "pay" || entry.Caller != "agent:shop" || entry.Grant != g.ID() {
		t.Fatalf("entry %+v", entry)
	}
	c.sim.Commit()
	if _, err := w.WaitEVM(ctx, c.evm, entry); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.evm.TokenBalance(ctx, c.token, evm.HexToAddress(payee)); got.Cmp(big.NewInt(1_500_000)) != 0 {
		t.Fatalf("payee got %s", got)
	}
	// the policy sees the payment in USDC and refuses beyond the cap
	// (a second request: paying the first again would be refused as paid)
	w.setPolicy(Policy{Limits: map[string]Limit{"USDC": {PerDay: "2"}}}, "test")
	pr2, _ := ParsePaymentRequired([]byte(strings.Replace(req, `{"x402Version":2,`, `{"x402Version":2,"error":"another item",`, 1)), time.Now())
	route, _ = w.RoutePayment(ctx, pr2, nets, acct)
	if _, err := pay(route); err == nil || !strings.Contains(err.Error(), "daily limit of 2 USDC") {
		t.Fatalf("cap: %v", err)
	}
	// the user's session plans straight from the request's bytes: the
	// chosen option as a plan, with the route that explains it
	if _, err := w.Store().Create(abandonMnemonic, "", []byte("pw"), false); err != nil {
		t.Fatal(err)
	}
	p, r, err := w.NewSession(SessionConfig{Caller: "test", Networks: nets}).PlanPayment(ctx, []byte(req), 0)
	if err != nil || p.Kind() != "pay" || r.Chosen.Index != 3 || !strings.HasPrefix(p.Summary(), "Send 1.5 USDC to "+payee) || p.route != r {
		t.Fatalf("plan %v %+v %v", p, r, err)
	}
	p.Close()
	if _, _, err := w.NewSession(SessionConfig{Caller: "test", Networks: nets}).PlanPayment(ctx, []byte(`{"x402Version":2}`), 0); err == nil {
		t.Fatal("planned an empty request")
	}
	// an unknown network and a base64 header form
	b64 := "eyJ4NDAyVmVyc2lvbiI6MiwiYWNjZXB0cyI6W3sic2NoZW1lIjoiZXhhY3QiLCJuZXR3b3JrIjoiZWlwMTU1Ojk5OTkiLCJhbW91bnQiOiIxIiwiYXNzZXQiOiJuYXRpdmUiLCJwYXlUbyI6IjB4MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDBmMSJ9XX0="
	pr, err = ParsePaymentRequired([]byte(b64), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.RoutePayment(ctx, pr, nets, acct); err == nil || !strings.Contains(err.Error(), "unknown network") {
		t.Fatalf("unknown network: %v", err)
	}
	for _, bad := range []string{`{"x402Version":1,"accepts":[]}`, `{"x402Version":2,"accepts":[]}`, `{"x402Version":2,"expiresAt":"2020-01-01T00:00:00Z","accepts":[` + opt("1", "native") + `]}`} {
		if _, err := ParsePaymentRequired([]byte(bad), time.Now()); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
