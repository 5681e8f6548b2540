package tools

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// TestWalletToolsRefuseWithoutGrant: without a grant the wallet tools have
// nothing to act through; bad arguments are refused before any wallet
// is touched.
func TestWalletToolsRefuseWithoutGrant(t *testing.T) {
	ctx := context.Background()
	pay := `{"payTo":"0x00000000000000000000000000000000000000a1","amount":"1","asset":"ETH"}`
	for _, tc := range []struct {
		tool Tool
		args string
		want error
	}{
		{WalletBalance{}, `{}`, ErrUnavailable},
		{WalletQuote{}, pay, ErrUnavailable},
		{WalletPay{}, pay, ErrUnavailable},
		{WalletPay{}, `{"payTo":"0xa1","amount":"1e3","asset":"ETH"}`, ErrBadArguments},
		{WalletPay{}, `{"payTo":"0xa1","amount":"-1","asset":"ETH"}`, ErrBadArguments},
		{WalletPay{}, `{"payTo":"0xa1","amount":"0","asset":"ETH"}`, ErrBadArguments},
		{WalletPay{}, `{"payTo":" ","amount":"1","asset":"ETH"}`, ErrBadArguments},
		{WalletPay{}, `{"to":"0xa1","amount":"1","asset":"ETH"}`, ErrBadArguments},
		{WalletQuote{}, `{"payTo":"0xa1","amount":"1","asset":""}`, ErrBadArguments},
		{WalletBalance{}, `{"account":1}`, ErrBadArguments},
	} {
		if _, err := tc.tool.Run(ctx, &Env{Agent: "t"}, json.RawMessage(tc.args)); !errors.Is(err, tc.want) {
			t.Errorf("%s %s: %v, want %v", tc.tool.Spec().Name, tc.args, err, tc.want)
		}
	}
	// a grant no session minted grants nothing
	if _, err := (WalletPay{}).Run(ctx, &Env{Wallet: &wallet.Grant{}}, json.RawMessage(pay)); !errors.Is(err, wallet.ErrNoGrant) {
		t.Errorf("self-made grant: %v", err)
	}
}

// TestWalletToolsOnAnvil: on a real chain, through a grant a headless
// session minted: balance and quote move nothing, a payment within the
// grant lands, one past the grant's limit or needing approval is refused
// (nobody is present to approve), and a revoked grant pays nothing.
func TestWalletToolsOnAnvil(t *testing.T) {
	aw := wallettest.NewAnvilWallet(t)
	an, w := aw.Anvil, aw.Wallet
	ctx := context.Background()
	s := w.NewSession(wallet.SessionConfig{Caller: "cli", Networks: aw.Networks, Unlock: aw.Unlock()})
	g, err := s.Grant("agent:t", wallet.Limits{PerTx: map[string]string{"ETH": "1"}, ApproveAbove: map[string]string{"ETH": "0.5"}})
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Agent: "t", Wallet: g}
	payee := "0x00000000000000000000000000000000000000A1"
	call := func(tool Tool, amount string) (Result, error) {
		return tool.Run(ctx, env, args(t, map[string]any{"payTo": payee, "amount": amount, "asset": "ETH"}))
	}
	landed := func() *big.Int { return an.Balance(t, payee) }

	r, err := WalletBalance{}.Run(ctx, env, nil)
	if err != nil || r.Source != "wallet" || r.Tainted {
		t.Fatalf("balance %+v %v", r, err)
	}
	var bal struct {
		Balances wallet.BalanceReport `json:"balances"`
		Grant    wallet.Limits        `json:"grant_limits"`
	}
	if err := json.Unmarshal([]byte(r.Text), &bal); err != nil {
		t.Fatal(err)
	}
	if len(bal.Balances.Totals) == 0 || bal.Balances.Totals[0].Asset != "ETH" || !strings.HasPrefix(bal.Balances.Totals[0].Amount, "9.99") || bal.Grant.PerTx["ETH"] != "1" { // 10 ETH funded, less the token's deployment
		t.Fatalf("balance %s", r.Text)
	}

	// the approval text is the wallet's summary of the plan; nothing moves
	if s, err := (WalletPay{}).Plan(ctx, env, args(t, map[string]any{"payTo": payee, "amount": "0.25", "asset": "ETH"})); err != nil || !strings.HasPrefix(s, "Send 0.25 ETH to "+payee+" on anvil") || landed().Sign() != 0 {
		t.Fatalf("pay plan %q %v (payee has %s)", s, err, landed())
	}
	if _, err := (WalletPay{}).Plan(ctx, &Env{}, args(t, map[string]any{"payTo": payee, "amount": "0.25", "asset": "ETH"})); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("pay plan without a grant: %v", err)
	}

	q, err := call(WalletQuote{}, "0.25")
	if err != nil || !strings.Contains(q.Text, "Send 0.25 ETH to "+payee) || landed().Sign() != 0 {
		t.Fatalf("quote %+v %v (payee has %s)", q, err, landed())
	}

	p, err := call(WalletPay{}, "0.25")
	if err != nil || !strings.Contains(p.Text, `"summary":"Send 0.25 ETH to `+payee) {
		t.Fatalf("pay %+v %v", p, err)
	}
	if landed().Cmp(big.NewInt(25e16)) != 0 {
		t.Fatalf("payee has %s wei", landed())
	}

	var refused *wallet.RefusedError
	if _, err := call(WalletPay{}, "2"); !errors.As(err, &refused) || refused.Rule != wallet.RuleGrant {
		t.Fatalf("past the grant's limit: %v", err)
	}
	if _, err := call(WalletPay{}, "0.75"); !errors.As(err, &refused) || !refused.Headless {
		t.Fatalf("above the approval threshold, headless: %v", err)
	}
	if err := g.Revoke(); err != nil {
		t.Fatal(err)
	}
	if _, err := call(WalletPay{}, "0.1"); !errors.Is(err, wallet.ErrNoGrant) {
		t.Fatalf("revoked grant: %v", err)
	}
	if _, err := (WalletBalance{}).Run(ctx, env, nil); !errors.Is(err, wallet.ErrNoGrant) {
		t.Fatalf("balance through a revoked grant: %v", err)
	}
	if landed().Cmp(big.NewInt(25e16)) != 0 {
		t.Fatalf("payee has %s wei after the refusals", landed())
	}
}
