package wallet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/ledger"
)

// Before the ledger the wallet kept its own hash-chained audit.log. It is
// moved into the ledger once, the first time the wallet records anything
// or MigrateAudit is called, under the wallet.db lock so concurrent first
// opens migrate it once: its chain is verified, each entry of the verified
// prefix becomes one unsigned ledger entry (fields.migrated, and the old
// line's hash as fields.old_hash and subject "audit-line"), a note entry
// records the whole file's digest and what was not migrated, and the file
// is kept, renamed to audit.log.migrated (never deleted). An entry already in the ledger
// (a migration cut short) is not written twice.

const auditFile = "audit.log"

// oldAuditEntry is one line of audit.log: "<sha256 hex> <entry JSON>\n",
// the hash over the previous line's hash and the exact entry bytes.
type oldAuditEntry struct {
	Seq      uint64 `json:"seq"`
	Time     string `json:"time"`
	Prev     string `json:"prev"`
	Decision string `json:"decision"` // allowed, refused, approved, released, policy-changed, grant-revoked
	Reason   string `json:"reason,omitempty"`
	Caller   string `json:"caller"`
	Grant    string `json:"grant,omitempty"`
	Kind     string `json:"kind"`
	Chain    string `json:"chain,omitempty"`
	Asset    string `json:"asset,omitempty"`
	Amount   string `json:"amount,omitempty"`
	Payee    string `json:"payee,omitempty"`
	ID       string `json:"id,omitempty"`
}

type oldAuditLine struct {
	hash string
	e    oldAuditEntry
}

var oldGenesis = hex.EncodeToString(make([]byte, 32))

func oldChainHash(prev string, entry []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(entry)
	return hex.EncodeToString(h.Sum(nil))
}

// readOldAudit verifies the old chain and returns its verified prefix; bad
// is the first line that does not verify (1-based, 0 when all do) and
// problem says why.
func readOldAudit(b []byte) (good []oldAuditLine, bad int, problem string) {
	prev := oldGenesis
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		n := len(good) + 1
		if !ok {
			return good, n, "truncated line"
		}
		b = rest
		hash, body, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			return good, n, "malformed line"
		}
		if oldChainHash(prev, body) != string(hash) {
			return good, n, "hash mismatch: the entry or an earlier one was altered"
		}
		var e oldAuditEntry
		if err := json.Unmarshal(body, &e); err != nil {
			return good, n, "unreadable entry"
		}
		if e.Seq != uint64(n) || e.Prev != prev {
			return good, n, "sequence broken: an entry was removed or reordered"
		}
		good = append(good, oldAuditLine{hash: string(hash), e: e})
		prev = string(hash)
	}
	return good, 0, ""
}

// fields are the old entry's facts as the ledger records them. A policy
// change's text becomes its digest, as new entries record it.
func (l oldAuditLine) fields() facts {
	e := l.e
	f := facts{"action": e.Decision, "migrated": true, "old_hash": l.hash, "old_seq": e.Seq}
	f.put("old_time", e.Time).put("grant", e.Grant).put("chain", e.Chain).put("asset", e.Asset).
		put("amount", e.Amount).put("payee", e.Payee)
	switch e.Decision {
	case "policy-changed":
		f["policy_sha256"] = ledger.SHA256([]byte(e.Reason))
	case "grant-revoked":
		f.put("grant", e.ID).put("grant_principal", e.Reason)
	case "released":
		f.put("reservation", e.ID).put("reason", e.Reason)
	default:
		f.put("request", e.Kind).put("reservation", e.ID).put("reason", e.Reason)
	}
	return f
}

// AuditMigrationError means the old audit log was damaged: only the entries
// before the damage were moved into the ledger.
type AuditMigrationError struct {
	Migrated int    // entries moved into the ledger
	Line     int    // the first line that was not (1-based)
	Problem  string // why it does not verify
	Kept     string // where the old file is kept
}

func (e *AuditMigrationError) Error() string {
	return fmt.Sprintf("the old wallet audit log is damaged at line %d (%s): its first %d entries were moved into the ledger, line %d and any after it were not; the file is kept as %s",
		e.Line, e.Problem, e.Migrated, e.Line, e.Kept)
}

// MigrateAudit moves an old audit.log into the ledger (see above) and
// returns how many entries it moved; 0 when there is none. A damaged log
// gives an *AuditMigrationError once: the file is renamed, so the next call
// finds nothing to do.
func (w *Wallet) MigrateAudit(ctx context.Context) (int, error) {
	if _, err := os.Stat(filepath.Join(w.dir, auditFile)); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	var n int
	var damaged error
	err := withDB(w.dir, func(*bolt.Tx) error {
		var err error
		n, err = w.migrateLocked(ctx)
		if errors.As(err, new(*AuditMigrationError)) {
			damaged, err = err, nil
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, damaged
}

// migrateLocked migrates under the caller's wallet.db lock.
func (w *Wallet) migrateLocked(ctx context.Context) (int, error) {
	path := filepath.Join(w.dir, auditFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("old audit log: %w", err)
	}
	if w.ledger == nil {
		return 0, ErrNoLedger
	}
	good, bad, problem := readOldAudit(b)
	fileDigest := ledger.SHA256(b)
	done, err := w.migrated()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range good {
		if done[l.hash] {
			continue
		}
		rec := ledger.Record{Kind: ledger.KindPermission, Principal: l.e.Caller, Subjects: map[string]string{"audit-line": l.hash}, Fields: l.fields()}
		rec.Fields["source"] = sourceWallet
		if _, err := w.ledger.Append(ctx, rec, nil); err != nil {
			return n, fmt.Errorf("%w: migrating the old audit log: %v", ErrNotRecorded, err)
		}
		n++
	}
	kept := freeName(path + ".migrated")
	if !done[fileDigest] {
		f := facts{"action": "audit-migrated", "source": sourceWallet, "entries": len(good), "kept": filepath.Base(kept)}
		if bad > 0 {
			f["first_line_not_migrated"], f["problem"] = bad, problem
		}
		rec := ledger.Record{Kind: ledger.KindNote, Principal: "wallet", Subjects: map[string]string{"audit-log": fileDigest}, Fields: f}
		if _, err := w.ledger.Append(ctx, rec, nil); err != nil {
			return n, fmt.Errorf("%w: migrating the old audit log: %v", ErrNotRecorded, err)
		}
	}
	// Kept, never deleted: the ledger holds only digests of what it said.
	if err := os.Rename(path, kept); err != nil {
		return n, fmt.Errorf("keep the old audit log: %w", err)
	}
	if bad > 0 {
		return n, &AuditMigrationError{Migrated: len(good), Line: bad, Problem: problem, Kept: kept}
	}
	return n, nil
}

// migrated returns the old lines (and old files) already in the ledger.
func (w *Wallet) migrated() (map[string]bool, error) {
	es, err := w.ledger.Entries()
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, e := range es {
		if e.Err != nil || e.Fields["source"] != sourceWallet {
			continue
		}
		if h, ok := e.Subjects["audit-line"]; ok {
			done[h] = true
		}
		if h, ok := e.Subjects["audit-log"]; ok {
			done[h] = true
		}
	}
	return done, nil
}

// freeName is base, or base.N for the first N not taken.
func freeName(base string) string {
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s.%d", base, i)
	}
}
