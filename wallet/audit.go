package wallet

import (
	"context"
	"time"

	"github.com/sovos/sov/internal/ledger"
)

// The wallet's audit log is a view of the ledger: the entries the wallet
// wrote (fields.source "wallet"), with the ledger's own verification.

// AuditEntry is one of the wallet's entries in the ledger.
type AuditEntry struct {
	Seq       uint64         `json:"seq"`  // the ledger's entry number
	Time      time.Time      `json:"time"` // when it was written (a migrated entry's own time is fields.old_time)
	Kind      string         `json:"kind"` // permission, payment, or note (the migration)
	Principal string         `json:"principal"`
	Action    string         `json:"action"` // allowed, approved, refused, released, settled, signed, policy-changed, grant-minted, grant-revoked, audit-migrated
	Signed    bool           `json:"signed"`
	Hash      string         `json:"hash"`
	Fields    map[string]any `json:"fields"`
}

// AuditLog is the wallet's entries, oldest first.
type AuditLog []AuditEntry

func isWalletEntry(e ledger.Entry) bool { return e.Err == nil && e.Fields["source"] == sourceWallet }

// Audit returns the wallet's entries in the ledger. Lines too damaged to
// tell who wrote them are left out; VerifyAudit reports them.
func (w *Wallet) Audit() (AuditLog, error) {
	if w.ledger == nil {
		return nil, ErrNoLedger
	}
	es, err := w.ledger.Entries()
	if err != nil {
		return nil, err
	}
	var out AuditLog
	for _, e := range es {
		if isWalletEntry(e) {
			action, _ := e.Fields["action"].(string)
			out = append(out, AuditEntry{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Principal: e.Principal, Action: action, Signed: e.Signed(), Hash: e.Hash, Fields: e.Fields})
		}
	}
	return out, nil
}

// AuditReport is the ledger's verification as the wallet sees it.
type AuditReport struct {
	Entries  int `json:"entries"`  // the wallet's entries
	Migrated int `json:"migrated"` // of them, moved from the old audit log
	Signed   int `json:"signed"`   // signed by the ledger key
	Covered  int `json:"covered"`  // authenticated by a later signature
	Unsigned int `json:"unsigned"` // after the ledger's last signature: not yet authenticated
	// Problems are those at the wallet's entries, or at lines too damaged
	// to tell whose they are.
	Problems []*ledger.EntryError `json:"problems,omitempty"`
	Ledger   ledger.Report        `json:"ledger"`
}

// Err is the ledger's verdict: a problem anywhere in it fails the wallet's
// view too, since a removed wallet entry shows only as a break in the chain
// at its neighbours.
func (r AuditReport) Err() error { return r.Ledger.Err() }

// VerifyAudit runs the ledger's verification and counts the wallet's part.
func (w *Wallet) VerifyAudit(ctx context.Context) (AuditReport, error) {
	if w.ledger == nil {
		return AuditReport{}, ErrNoLedger
	}
	rep, err := w.ledger.Verify(ctx)
	if err != nil {
		return AuditReport{}, err
	}
	es, err := w.ledger.Entries()
	if err != nil {
		return AuditReport{}, err
	}
	es = es[:min(len(es), rep.Entries)] // entries appended since Verify read are not counted
	bad := map[uint64]*ledger.EntryError{}
	for _, p := range rep.Problems {
		bad[p.Seq] = p
	}
	lastSigned := -1
	for i, e := range es {
		if e.Err == nil && e.Signed() && bad[uint64(i)] == nil {
			lastSigned = i
		}
	}
	r := AuditReport{Ledger: rep}
	for i, e := range es {
		p := bad[uint64(i)]
		if !isWalletEntry(e) {
			if e.Err != nil && p != nil {
				r.Problems = append(r.Problems, p)
			}
			continue
		}
		r.Entries++
		if e.Fields["migrated"] == true {
			r.Migrated++
		}
		switch {
		case p != nil:
			r.Problems = append(r.Problems, p)
		case e.Signed():
			r.Signed++
		case i < lastSigned:
			r.Covered++
		default:
			r.Unsigned++
		}
	}
	return r, nil
}
