package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// TxFailedError means a broadcast transaction did not take effect: the
// chain executed it and it failed, or it expired before it landed
// (dropped). The ledger records it so and its daily-budget reservation is
// released.
type TxFailedError struct {
	Hash, Network string
	Status        string // failed or dropped
	Reason        string // the chain's words, on one line
}

func (e *TxFailedError) Error() string {
	verb := "failed on chain"
	if e.Status == "dropped" {
		verb = "was dropped"
	}
	return fmt.Sprintf("transaction %s on %s %s: %s", e.Hash, e.Network, verb, e.Reason)
}

// outcome is where a followed transaction stands: confirmed, failed or
// dropped, or "" while it is pending.
type outcome struct {
	status string
	block  uint64
	reason string
}

// recordOutcome records an ended transaction in the ledger and settles its
// reservation; a failed or dropped one is returned as a *TxFailedError.
func (w *Wallet) recordOutcome(ctx context.Context, entry LedgerEntry, o outcome) (LedgerEntry, error) {
	entry.Status = o.status
	if o.block > 0 {
		entry.Block = o.block
	}
	if err := w.updateLedger(entry.Chain, entry.Hash, func(l *LedgerEntry) { l.Status, l.Block = entry.Status, entry.Block }); err != nil {
		return entry, err
	}
	w.settle(ctx, entry, o.status)
	if o.status != "confirmed" {
		return entry, &TxFailedError{Hash: entry.Hash, Network: entry.Network, Status: o.status, Reason: o.reason}
	}
	return entry, nil
}

// refreshEd25519 asks n's chain (Solana or NEAR), once, about each pending
// entry sent from from, and records those that have ended. An RPC that
// fails its identity check is believed about nothing.
func (w *Wallet) refreshEd25519(ctx context.Context, n Network, from string, all Ledger) error {
	if err := w.checkIdentity(ctx, n); err != nil {
		return err
	}
	var errs []error
	for _, l := range all {
		if l.Chain != n.CAIP2 || l.Status != "pending" || l.From != from {
			continue
		}
		var o outcome
		var err error
		if n.Family == FamilySolana {
			o, err = solanaOutcome(ctx, NewSolanaRPC(n), l)
		} else {
			o, err = nearOutcome(ctx, NewNEARRPC(n), l)
		}
		if err == nil && o.status != "" {
			_, err = w.recordOutcome(ctx, l, o)
		}
		if err != nil && !errors.As(err, new(*TxFailedError)) { // a failure is an outcome, not a refresh error
			errs = append(errs, fmt.Errorf("%s on %s: %w", l.Hash, n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// compactReason puts a chain's error object (JSON) on one short line.
func compactReason(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		b.Reset()
		b.Write(raw)
	}
	if r := []rune(b.String()); len(r) > 300 {
		return string(r[:300]) + "…"
	}
	return b.String()
}

// waitOutcome asks the chain for entry's outcome every poll until it has
// one (then recorded), the node answers with an error (asking again will
// not help), or ctx ends.
func (w *Wallet) waitOutcome(ctx context.Context, entry LedgerEntry, poll time.Duration, ask func(context.Context) (outcome, error)) (LedgerEntry, error) {
	for {
		o, err := ask(ctx)
		switch {
		case err == nil && o.status != "":
			return w.recordOutcome(ctx, entry, o)
		case errors.As(err, new(*RPCError)):
			return entry, err
		}
		select {
		case <-ctx.Done():
			return entry, ctx.Err()
		case <-time.After(poll):
		}
	}
}
