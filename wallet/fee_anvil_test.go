package wallet_test

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

// TestWalletMaxFeeCountsTowardNativeLimits, on a real anvil node whose
// base fee is raised so that a plain ETH transfer's maximum fee (gas limit
// × max fee per gas) is about 0.011 ETH: a 0.0005 ETH send against an ETH
// daily cap of 0.001 is refused, and so is a USDC transfer, whose ETH fee
// counts toward the ETH limits too. At a normal base fee both go through:
// the reservation holds the amount plus the maximum fee, is settled to
// the fee the receipt says was paid (the payer's balance fell by exactly
// amount + that fee), and a send that is never broadcast gives it all back.
func TestWalletMaxFeeCountsTowardNativeLimits(t *testing.T) {
	aw := wallettest.NewAnvilWallet(t)
	an, me, w, nets := aw.Anvil, aw.Me, aw.Wallet, aw.Networks
	ctx := context.Background()
	person := func(context.Context, string, string) ([]byte, error) { return []byte(wallettest.Pass), nil }
	unlock := aw.Unlock()
	s := w.NewSession(wallet.SessionConfig{Caller: "test", Networks: nets, Unlock: unlock, Approver: person, Interactive: true})
	// the fee cap is set high so that the daily limit is what refuses
	if _, err := s.EditPolicy(ctx, wallet.PolicyEdit{Asset: "ETH", PerDay: "0.001", MaxFee: "0.1"}); err != nil {
		t.Fatal(err)
	}
	payee := "0x00000000000000000000000000000000000000A2"
	plan := func(amount, asset string) *wallet.Plan {
		t.Helper()
		p, err := s.Plan(ctx, wallet.Transfer{Amount: amount, Asset: asset, To: payee})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	maxFee := func(p *wallet.Plan) *big.Rat {
		t.Helper()
		var v struct {
			MaxFee string `json:"max_fee"`
		}
		b, _ := p.MarshalJSON()
		jsonUnmarshal(t, b, &v)
		r, err := wallet.ParseAmount(strings.TrimSuffix(v.MaxFee, " ETH"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// 300 gwei now, so the next block's base fee is 262.5 gwei:
	// 21,000 gas × (2 × 262.5 + tip) gwei ≈ 0.011 ETH
	an.Call(t, "anvil_setNextBlockBaseFeePerGas", "0x45d964b800")
	an.Call(t, "evm_mine")
	var refused *wallet.RefusedError
	p := plan("0.0005", "ETH")
	if f := maxFee(p); f.Cmp(big.NewRat(1, 100)) <= 0 || f.Cmp(big.NewRat(12, 1000)) > 0 {
		t.Fatalf("max fee %s ETH, want about 0.011", f.FloatString(6))
	}
	if _, err := s.Execute(ctx, p); !errors.As(err, &refused) || refused.Rule != wallet.RulePerDay || !strings.Contains(refused.Reason, "(0.0005 ETH plus up to 0.011") {
		t.Fatalf("0.0005 ETH with a 0.011 ETH fee against 0.001 ETH a day: %v", err)
	}
	if _, err := s.Execute(ctx, plan("1", "USDC")); !errors.As(err, &refused) || refused.Rule != wallet.RulePerDay || !strings.Contains(refused.Reason, "ETH in network fees would exceed the daily limit of 0.001 ETH") {
		t.Fatalf("a USDC transfer's ETH fee against the ETH limit: %v", err)
	}

	// a normal base fee again: both fit
	an.Call(t, "anvil_setNextBlockBaseFeePerGas", "0x3b9aca00")
	for i := 0; i < 3; i++ {
		an.Call(t, "evm_mine")
	}
	if _, err := s.EditPolicy(ctx, wallet.PolicyEdit{Asset: "ETH", PerDay: "0.01"}); err != nil {
		t.Fatal(err)
	}
	fees := func() *big.Rat {
		t.Helper()
		m, err := w.FeesToday()
		if err != nil {
			t.Fatal(err)
		}
		r, _ := wallet.ParseAmount(cmpOr(m["ETH"], "0"))
		return r
	}
	reserved := new(big.Rat)
	for _, asset := range []string{"ETH", "USDC"} {
		amount := map[string]string{"ETH": "0.0005", "USDC": "1"}[asset]
		before := an.Balance(t, me.EVM)
		p := plan(amount, asset)
		mf := maxFee(p)
		entry, err := s.Execute(ctx, p)
		if err != nil {
			t.Fatalf("%s: %v", asset, err)
		}
		if got, want := fees(), new(big.Rat).Add(reserved, mf); got.Cmp(want) != 0 {
			t.Fatalf("%s: fees reserved %s, want the max fee %s on top of %s", asset, got.FloatString(18), mf.FloatString(18), reserved.FloatString(18))
		}
		if entry, err = s.Follow(ctx, entry); err != nil || entry.Status != "confirmed" || entry.Fee == "" {
			t.Fatalf("%s: %+v %v", asset, entry, err)
		}
		paid, _ := wallet.ParseAmount(entry.Fee)
		if paid.Sign() <= 0 || paid.Cmp(mf) >= 0 {
			t.Fatalf("%s: paid %s, max %s", asset, entry.Fee, mf.FloatString(18))
		}
		reserved.Add(reserved, paid)
		if got := fees(); got.Cmp(reserved) != 0 {
			t.Fatalf("%s: fees after the receipt %s, want %s (settled to what was paid)", asset, got.FloatString(18), reserved.FloatString(18))
		}
		// the chain took exactly the amount (ETH) and the settled fee
		spent := new(big.Rat).SetFrac(new(big.Int).Sub(before, an.Balance(t, me.EVM)), big.NewInt(1e18))
		want := new(big.Rat).Set(paid)
		if asset == "ETH" {
			a, _ := wallet.ParseAmount(amount)
			want.Add(want, a)
		}
		if spent.Cmp(want) != 0 {
			t.Fatalf("%s: balance fell by %s ETH, want %s", asset, spent.FloatString(18), want.FloatString(18))
		}
	}
	if spent, _ := w.SpentToday(); spent["ETH"] != "0.0005" || spent["USDC"] != "1" {
		t.Fatalf("spent today %v (payments, fees apart)", spent)
	}

	// not sent (the keys cannot be unlocked): the amount and the fee go back
	locked := w.NewSession(wallet.SessionConfig{Caller: "test", Networks: nets, Unlock: func() (*wallet.Keys, error) { return nil, errors.New("no keys") }})
	p, err := locked.Plan(ctx, wallet.Transfer{Amount: "0.0005", Asset: "ETH", To: payee})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := locked.Execute(ctx, p); err == nil {
		t.Fatal("sent without keys")
	}
	if got := fees(); got.Cmp(reserved) != 0 {
		t.Fatalf("fees after a send that never left: %s, want %s", got.FloatString(18), reserved.FloatString(18))
	}
	if spent, _ := w.SpentToday(); spent["ETH"] != "0.0005" {
		t.Fatalf("spent today %v", spent)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func jsonUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
