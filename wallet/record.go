package wallet

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gowebpki/jcs"
	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/ledger"
)

// The wallet's record is sov's signed ledger (internal/ledger): every policy
// decision, policy change, grant minted or revoked, reservation released and
// transaction or message signed is one entry there, holding facts and
// digests, never text from outside (a message is recorded by its digest).
//
// Where the fail-closed checks sit:
//   - A decision is appended while the wallet.db lock is held, inside the
//     same transaction as the accounting it describes. The wallet's entries
//     are therefore in the order of its accounting across goroutines and
//     processes, and a decision whose entry cannot be written does not take
//     effect: the reservation is rolled back and nothing is unlocked. (The
//     reverse can happen: an entry written whose wallet.db commit then
//     failed; the caller got an error and nothing was signed.)
//   - A transaction's payment entry is appended after it is signed and
//     before it is broadcast, signed with the ledger key; when it cannot be
//     written the transaction is never sent and the reservation released.
//   - A message's entry is appended before the message is signed.

// sourceWallet marks the wallet's entries among the ledger's (fields.source).
const sourceWallet = "wallet"

// Errors callers react to.
var (
	// ErrNoLedger means the wallet was made without a ledger (WithLedger):
	// it refuses to decide anything it could not record.
	ErrNoLedger = errors.New("the wallet has no ledger to record its decisions in")
	// ErrNotRecorded means the ledger could not be written, so the decision
	// did not take effect and nothing was signed or sent.
	ErrNotRecorded = errors.New("the wallet could not record this in the ledger, so it did not take effect")
)

// WithLedger gives the wallet the ledger it records every decision in; the
// program that makes the wallet owns the ledger (normally the one under
// paths.Sub("ledger")).
func WithLedger(l *ledger.Ledger) Option { return func(w *Wallet) { w.ledger = l } }

// record appends one wallet entry, signed by s when s is not nil. Callers
// hold the wallet.db lock (see withDB): that, and migrating any old audit
// log first, keeps the wallet's entries in order. Without subjects the
// entry is about its own facts: the subject "decision" is their canonical
// JSON's digest.
func (w *Wallet) record(ctx context.Context, kind, principal string, subjects map[string]string, fields map[string]any, s *ledger.Signer) error {
	if w.ledger == nil {
		return ErrNoLedger
	}
	if _, err := w.migrateLocked(ctx); err != nil && !errors.As(err, new(*AuditMigrationError)) {
		return err
	}
	fields["source"] = sourceWallet
	if len(subjects) == 0 {
		d, err := canonicalDigest(fields)
		if err != nil {
			return err
		}
		subjects = map[string]string{"decision": d}
	}
	if _, err := w.ledger.Append(ctx, ledger.Record{Kind: kind, Principal: principal, Subjects: subjects, Fields: fields}, s); err != nil {
		return fmt.Errorf("%w: %v", ErrNotRecorded, err)
	}
	return nil
}

// recordNow takes the wallet.db lock for one entry.
func (w *Wallet) recordNow(ctx context.Context, kind, principal string, subjects map[string]string, fields map[string]any, s *ledger.Signer) error {
	if w.ledger == nil {
		return ErrNoLedger
	}
	return withDB(w.dir, func(*bolt.Tx) error { return w.record(ctx, kind, principal, subjects, fields, s) })
}

// canonicalDigest is the sha256 of v as canonical JSON (RFC 8785).
func canonicalDigest(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	if b, err = jcs.Transform(b); err != nil {
		return "", err
	}
	return ledger.SHA256(b), nil
}

// facts is a fields map that leaves out empty values.
type facts map[string]any

func (f facts) put(k, v string) facts {
	if v != "" {
		f[k] = v
	}
	return f
}

// fields are the facts of a request: what was asked, by whom and where.
func (r request) fields(action string) facts {
	f := facts{"action": action, "request": r.Kind}
	f.put("grant", r.Grant).put("chain", r.Chain).put("network", r.Network).put("asset", r.Asset).
		put("amount", ratString(r.Amount)).put("payee", r.Payee).put("message_sha256", r.Message).
		put("warnings", strings.Join(r.Warnings, "; "))
	for k, v := range r.Details {
		f.put(k, v)
	}
	return f
}

// ledgerSigner signs with the wallet's ledger key while keys are unlocked.
// When the ledger has no key yet the wallet's becomes it; when it has
// another (a local key), entries are written unsigned and that key's next
// checkpoint covers them.
func (w *Wallet) ledgerSigner(keys *Keys) *ledger.Signer {
	if w.ledger == nil || keys == nil {
		return nil
	}
	priv, err := keys.LedgerKey()
	if err != nil {
		return nil
	}
	s, err := w.ledger.Signer(priv)
	if errors.Is(err, ledger.ErrNoKey) {
		if err := w.ledger.AdoptKey(priv.Public().(ed25519.PublicKey)); err != nil && !errors.Is(err, ledger.ErrKeyExists) {
			return nil
		}
		s, err = w.ledger.Signer(priv)
	}
	if err != nil {
		return nil
	}
	return s
}

// recordPayment appends the payment entry of a signed transaction before it
// is broadcast.
func (w *Wallet) recordPayment(ctx context.Context, p *Plan, a actor, reservation, hash string, nonce uint64, s *ledger.Signer) error {
	f := facts{"action": "signed", "request": p.kind}
	f.put("chain", p.net.CAIP2).put("network", p.net.Name).put("asset", p.asset).put("amount", p.amountText()).
		put("from", p.from).put("payee", p.to).put("tx", hash).put("reservation", reservation).put("grant", a.grant).
		put("warnings", strings.Join(p.warnings, "; ")).put("request_sha256", p.payKey)
	if p.maxFee != nil {
		f.put("max_fee", FormatAtomic(p.maxFee, p.net.NativeDecimals)+" "+p.net.Native)
	}
	if p.net.Family == FamilyEVM || p.net.Family == FamilyNEAR {
		f["nonce"] = nonce
	}
	if p.replace != nil {
		f.put("replaces", p.replace.old.Hash)
	}
	if p.call != nil {
		f.put("selector", p.call.selector).put("data_sha256", p.call.digest)
	}
	return w.recordNow(ctx, ledger.KindPayment, a.principal, map[string]string{"tx": ledger.SHA256([]byte(hash))}, f, s)
}

// commitFunc records a signed transaction (its id, and its nonce where the
// chain has one) before a broadcaster sends it; an error stops the send.
type commitFunc func(hash string, nonce uint64) error
