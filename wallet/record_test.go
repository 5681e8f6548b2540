package wallet

import (
	"context"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/sovos/sov/wallet/internal/evm"

	"github.com/sovos/sov/internal/ledger"
)

// TestWalletFailsClosedWhenTheLedgerCannotBeWritten: a decision that cannot
// be recorded reserves nothing and unlocks nothing; a signed transaction
// whose payment entry cannot be recorded is never broadcast.
func TestWalletFailsClosedWhenTheLedgerCannotBeWritten(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	lg := t.TempDir()
	w := testWallet(t, WithLedger(ledger.Open(lg)))
	c.session(w) // installs the simulated dialer
	acct, _ := c.keys.Accounts(0)
	nets := []Network{c.evm.Net}
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000ab")
	plan := func() *Plan {
		t.Helper()
		p, err := w.Plan(ctx, Transfer{Amount: "1", Asset: "ETH", To: payee.Hex(), Network: "sim"}, nets, acct)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// a directory where the entries file should be: no process, root
	// included, can append to it
	entries := filepath.Join(lg, "entries.jsonl")
	breakLedger := func() {
		os.Rename(entries, entries+".away")
		if err := os.Mkdir(entries, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	mendLedger := func() {
		os.Remove(entries)
		os.Rename(entries+".away", entries)
	}
	nonce := func() uint64 { n, _ := c.evm.Backend.PendingNonceAt(ctx, c.from); return n }
	startNonce := nonce()

	// 1. the decision cannot be recorded
	breakLedger()
	unlocked := false
	s := w.NewSession(SessionConfig{Caller: "test", Networks: nets, Unlock: func() (*Keys, error) { unlocked = true; return c.unlock() }})
	if _, err := s.Execute(ctx, plan()); !errors.Is(err, ErrNotRecorded) || unlocked {
		t.Fatalf("unrecorded decision: %v (unlocked %v)", err, unlocked)
	}
	if spent, _ := w.SpentToday(); len(spent) != 0 {
		t.Fatalf("an unrecorded decision reserved %v", spent)
	}
	mendLedger()

	// 2. the decision is recorded, then the ledger breaks while the keys
	// are unlocked: the payment entry cannot be written, nothing is sent
	s = w.NewSession(SessionConfig{Caller: "test", Networks: nets, Unlock: func() (*Keys, error) { breakLedger(); return c.unlock() }})
	_, err := s.Execute(ctx, plan())
	mendLedger()
	if !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("unrecorded payment: %v", err)
	}
	c.sim.Commit()
	if bal, _ := c.evm.Backend.BalanceAt(ctx, payee, nil); bal.Sign() != 0 || nonce() != startNonce {
		t.Fatalf("an unrecorded payment was broadcast: payee has %s, nonce %d → %d", bal, startNonce, nonce())
	}
	if txs, _ := w.Ledger(); len(txs) != 0 {
		t.Fatalf("transactions %v", txs)
	}
	// its release could not be recorded either, so the budget stays spent
	if spent, _ := w.SpentToday(); spent["ETH"] != "1" {
		t.Fatalf("spent %v", spent)
	}
	log := audit(t, w)
	if len(log) != 1 || log[0].Action != "allowed" {
		t.Fatalf("ledger:\n%s", log)
	}

	// 3. with the ledger back the same payment goes through, at the nonce
	// the failed one gave back
	entry, err := c.session(w).Execute(ctx, plan())
	if err != nil || entry.Nonce != startNonce {
		t.Fatalf("after repair: %+v %v", entry, err)
	}
	c.sim.Commit()
	if bal, _ := c.evm.Backend.BalanceAt(ctx, payee, nil); bal.Cmp(new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)) != 0 {
		t.Fatalf("payee has %s", bal)
	}
	if log := audit(t, w); len(log) != 3 || log[2].Kind != ledger.KindPayment || !log[2].Signed || log[2].Fields["tx"] != entry.Hash {
		t.Fatalf("ledger:\n%s", log)
	}
}

// TestWalletWithoutALedgerDecidesNothing: a wallet made without a ledger
// refuses to act rather than act unrecorded.
func TestWalletWithoutALedgerDecidesNothing(t *testing.T) {
	w := New(t.TempDir())
	_, _, unlock := testKeys(t)
	s := w.NewSession(SessionConfig{Caller: "test", Unlock: unlock})
	if _, err := s.SignPersonal(context.Background(), []byte("hi"), 0); !errors.Is(err, ErrNoLedger) {
		t.Fatalf("sign: %v", err)
	}
	if err := w.setPolicy(Policy{}, "test"); !errors.Is(err, ErrNoLedger) {
		t.Fatalf("policy: %v", err)
	}
	if _, err := s.Grant("agent:x", Limits{}); !errors.Is(err, ErrNoLedger) {
		t.Fatalf("grant: %v", err)
	}
}

// TestWalletKeepsAnotherLedgerKey: a ledger whose key is not the wallet's
// (a local key) keeps it; the wallet's entries are written unsigned.
func TestWalletKeepsAnotherLedgerKey(t *testing.T) {
	l := ledger.Open(t.TempDir())
	other, err := l.CreateLocalKey([]byte("pw"), testKDF())
	if err != nil {
		t.Fatal(err)
	}
	w := testWallet(t, WithLedger(l))
	_, _, unlock := testKeys(t)
	if _, err := w.NewSession(SessionConfig{Caller: "test", Unlock: unlock}).SignPersonal(context.Background(), []byte("hi"), 0); err != nil {
		t.Fatal(err)
	}
	k, _ := l.LoadKey()
	log := audit(t, w)
	if k.KeyID != ledger.KeyID(other.Public()) || len(log) != 2 || log[1].Action != "signed" || log[1].Signed {
		t.Fatalf("key %s, entries:\n%s", k.KeyID, log)
	}
}
