package wallet

import (
	"context"
	"time"

	"github.com/sovos/sov/internal/ledger"
)

// Wallet is the package's entry point for one data directory: the sealed
// seed, the policy engine and its accounting, the transactions it sent, and
// the signed ledger it records every decision in (see record.go).
type Wallet struct {
	dir    string
	store  *Store
	ledger *ledger.Ledger
	now    func() time.Time
	dial   func(context.Context, Network) (*EVM, error)
	// followFor is how long Session.Follow waits for a family's first
	// confirmation: a few blocks on EVM chains, three on Bitcoin.
	followFor map[string]time.Duration
}

// Option adjusts a Wallet.
type Option func(*Wallet)

// WithClock sets the clock (tests pin the day).
func WithClock(now func() time.Time) Option { return func(w *Wallet) { w.now = now } }

// WithEVMDialer replaces how the router connects to EVM networks (tests use
// a simulated chain).
func WithEVMDialer(d func(context.Context, Network) (*EVM, error)) Option {
	return func(w *Wallet) { w.dial = d }
}

// WithStoreOptions passes options to the seed store.
func WithStoreOptions(o ...StoreOption) Option {
	return func(w *Wallet) { w.store = OpenStore(w.dir, o...) }
}

// New returns the wallet kept in dir (normally paths.Sub("wallet")).
func New(dir string, opts ...Option) *Wallet {
	w := &Wallet{dir: dir, store: OpenStore(dir), now: time.Now, dial: DialEVM,
		followFor: map[string]time.Duration{FamilyEVM: 2 * time.Minute, FamilyBitcoin: 30 * time.Minute, FamilySolana: 2 * time.Minute, FamilyNEAR: time.Minute}}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Store is the sealed seed store.
func (w *Wallet) Store() *Store { return w.store }

// Dir is the data directory.
func (w *Wallet) Dir() string { return w.dir }
