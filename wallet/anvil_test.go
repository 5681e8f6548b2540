package wallet_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// TestWalletAnvilSendPathThroughTheGoAPI: the one send path (Plan →
// Execute → Follow) on a real anvil node through the API a front end or an
// agent's host uses: ETH and ERC-20 sends confirm and land, a stuck send is
// sped up through the same path, and a grant pays under its principal.
func TestWalletAnvilSendPathThroughTheGoAPI(t *testing.T) {
	aw := wallettest.NewAnvilWallet(t)
	an, keys, me, token, w, lg, nets := aw.Anvil, aw.Keys, aw.Me, aw.Token, aw.Wallet, aw.Ledger, aw.Networks
	ctx := context.Background()
	s := w.NewSession(wallet.SessionConfig{Caller: "test", Networks: nets, Unlock: aw.Unlock()})
	payee := "0x00000000000000000000000000000000000000A1"
	send := func(t *testing.T, amount, asset string) wallet.LedgerEntry {
		t.Helper()
		p, err := s.Plan(ctx, wallet.Transfer{Amount: amount, Asset: asset, To: payee})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if !strings.HasPrefix(p.Summary(), "Send "+amount+" "+asset+" to "+payee+" on anvil") {
			t.Fatalf("summary %q", p.Summary())
		}
		entry, err := s.Execute(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return entry
	}
	// payment finds the ledger's payment entry of a transaction
	payment := func(t *testing.T, hash string) ledger.Entry {
		t.Helper()
		es, err := lg.Entries()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Kind == ledger.KindPayment && e.Fields["tx"] == hash {
				return e
			}
		}
		t.Fatalf("no payment entry for %s", hash)
		return ledger.Entry{}
	}
	for _, tc := range []struct {
		amount, asset string
		landed        func() *big.Int
		want          int64
	}{
		{"0.5", "ETH", func() *big.Int { return an.Balance(t, payee) }, 5e17},
		{"25.5", "USDC", func() *big.Int { return an.TokenBalance(t, token, payee) }, 25_500_000},
	} {
		entry, err := s.Follow(ctx, send(t, tc.amount, tc.asset))
		if err != nil || entry.Status != "confirmed" || entry.Block == 0 {
			t.Fatalf("%s: %+v %v", tc.asset, entry, err)
		}
		if got := tc.landed(); got.Cmp(big.NewInt(tc.want)) != 0 {
			t.Fatalf("payee has %s %s", got, tc.asset)
		}
		// the payment entry: signed with the wallet's ledger key, the
		// plan's facts, the transaction by digest
		e := payment(t, entry.Hash)
		want := map[string]any{"source": "wallet", "action": "signed", "request": "send", "chain": "eip155:31337", "network": "anvil",
			"asset": tc.asset, "amount": tc.amount, "from": me.EVM, "payee": payee, "reservation": entry.Policy, "nonce": float64(entry.Nonce)}
		for k, v := range want {
			if e.Fields[k] != v {
				t.Errorf("%s payment entry: %s = %v, want %v", tc.asset, k, e.Fields[k], v)
			}
		}
		if !e.Signed() || e.Principal != "test" || e.Subjects["tx"] != ledger.SHA256([]byte(entry.Hash)) {
			t.Fatalf("%s payment entry %+v", tc.asset, e)
		}
	}
	priv, _ := keys.LedgerKey()
	if k, err := lg.LoadKey(); err != nil || k.KeyID != ledger.KeyID(priv.Public().(ed25519.PublicKey)) || k.Source != ledger.SourceWallet {
		t.Fatalf("the ledger did not adopt the wallet's ledger key: %+v %v", k, err)
	}

	// a stuck send is replaced through the same path
	an.Call(t, "evm_setAutomine", false)
	stuck := send(t, "1", "ETH")
	rp, err := s.PlanReplace(ctx, stuck.Hash, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	fast, err := s.Execute(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	an.Call(t, "evm_mine")
	if fast, err = s.Follow(ctx, fast); err != nil || fast.Status != "confirmed" || fast.Kind != "speedup" {
		t.Fatalf("speed-up %+v %v", fast, err)
	}
	if stuck, err = s.Follow(ctx, stuck); err != nil || stuck.Status != "replaced" {
		t.Fatalf("original %+v %v", stuck, err)
	}
	an.Call(t, "evm_setAutomine", true)

	// a grant pays under its principal, and not past its own limit
	g, err := s.Grant("agent:shop", wallet.Limits{PerTx: map[string]string{"USDC": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		amount string
		rule   string
	}{{"1", ""}, {"3", wallet.RuleGrant}} {
		p, err := g.Plan(ctx, wallet.Transfer{Amount: tc.amount, Asset: "USDC", To: payee})
		if err != nil {
			t.Fatal(err)
		}
		entry, err := g.Execute(ctx, p)
		p.Close()
		var refused *wallet.RefusedError
		switch {
		case tc.rule != "" && (!errors.As(err, &refused) || refused.Rule != tc.rule):
			t.Fatalf("%s USDC over the grant's limit: %v", tc.amount, err)
		case tc.rule == "" && (err != nil || entry.Caller != "agent:shop" || entry.Grant != g.ID()):
			t.Fatalf("%s USDC under the grant: %+v %v", tc.amount, entry, err)
		case tc.rule == "":
			if e := payment(t, entry.Hash); e.Principal != "agent:shop" || e.Fields["grant"] != g.ID() || !e.Signed() {
				t.Fatalf("grant payment entry %+v", e)
			}
		}
	}
	// the refusal is the last entry: unsigned, with its rule; the
	// speed-up names what it replaced; the whole ledger verifies
	es, _ := lg.Entries()
	last := es[len(es)-1]
	if last.Kind != ledger.KindPermission || last.Signed() || last.Fields["action"] != "refused" || last.Fields["rule"] != wallet.RuleGrant || last.Principal != "agent:shop" {
		t.Fatalf("refusal entry %+v", last)
	}
	if e := payment(t, fast.Hash); e.Fields["request"] != "speedup" || e.Fields["replaces"] != stuck.Hash {
		t.Fatalf("speed-up entry %+v", e.Fields)
	}
	// (12 entries, the fee settlements of the two confirmed sends and of
	// the sped-up one)
	rep, err := lg.Verify(ctx)
	if err != nil || rep.Err() != nil || rep.Entries != 15 || rep.Signed != 5 || rep.Unsigned != 1 {
		t.Fatalf("ledger verify %+v %v", rep, err)
	}
}
