package wallet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sovos/sov/wallet/internal/evm"
)

// A confirmed cancel returns the cancelled payment's reservation to the
// daily budget, so the same amount can be sent again within the cap; a
// speed-up does not (its payment still lands), and a dropped transaction
// frees its own.
func TestWalletCancelledSendFreesDailyBudget(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	now := time.Now()
	w := testWallet(t, WithClock(func() time.Time { return now }))
	// 0.5 ETH and its network fee fit the day's 0.6, a second one does not
	if err := w.setPolicy(Policy{Limits: map[string]Limit{"ETH": {PerDay: "0.6"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000dd")
	amt, _ := ToAtomic("0.5", 18)
	send := func() (LedgerEntry, error) {
		p, err := c.evm.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: amt, Decimals: 18})
		if err != nil {
			t.Fatal(err)
		}
		return c.exec(w, p)
	}
	first, err := send()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(); !errors.Is(err, ErrRefused) {
		t.Fatalf("over the cap: %v, want refused", err)
	}
	fast, err := c.session(w).Replace(ctx, first.Hash, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel, err := c.session(w).Replace(ctx, fast.Hash, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(); !errors.Is(err, ErrRefused) {
		t.Fatalf("cancel not yet mined: %v, want refused", err)
	}
	c.sim.Commit()
	if _, err := w.WaitEVM(ctx, c.evm, cancel); err != nil {
		t.Fatal(err)
	}
	if spent, _ := w.SpentToday(); spent["ETH"] != "0" {
		t.Fatalf("spent after the cancel: %v", spent)
	}
	// what stays counted is the fee the cancel paid
	if l, _, _ := w.FindLedger(cancel.Hash); l.Fee == "" {
		t.Fatalf("the cancel's fee is not recorded: %+v", l)
	} else if fees, _ := w.FeesToday(); fees["ETH"] != l.Fee {
		t.Fatalf("fees after the cancel %v, want the %s ETH it paid", fees, l.Fee)
	}
	lost, err := send()
	if err != nil {
		t.Fatalf("after the cancel: %v", err)
	}
	// dropped from the pool: its reservation is freed too
	c.sim.Rollback()
	now = now.Add(2 * nonceQueueTTL)
	w.reconcile(ctx, c.evm, c.from)
	if l, _, _ := w.FindLedger(lost.Hash); l.Status != "dropped" {
		t.Fatalf("status %q", l.Status)
	}
	if _, err := send(); err != nil {
		t.Fatalf("after a dropped send: %v", err)
	}
	released, settled := 0, 0
	for _, e := range audit(t, w) {
		switch e.Action {
		case "released":
			released++
		case "settled":
			settled++
		}
	}
	if released != 1 || settled != 1 {
		t.Fatalf("%d releases and %d settlements recorded, want 1 each (the dropped send's, the cancelled one's)", released, settled)
	}
}
