package wallet

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

const auditFile = "audit.log"

// ErrAuditDamaged means the audit log cannot be appended to safely.
var ErrAuditDamaged = errors.New("the wallet audit log is damaged")

// AuditEntry is one policy decision. Each line of audit.log is
// "<sha256 hex> <entry JSON>", where the hash covers the previous line's
// hash and the exact entry bytes, so any changed, dropped or reordered byte
// breaks the chain.
type AuditEntry struct {
	Seq      uint64 `json:"seq"`
	Time     string `json:"time"`
	Prev     string `json:"prev"`
	Decision string `json:"decision"` // allowed, refused, approved
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

var genesis = hex.EncodeToString(make([]byte, 32))

func chainHash(prev string, entry []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(entry)
	return hex.EncodeToString(h.Sum(nil))
}

// appendAudit adds e to the log in dir. Callers hold the wallet.db lock,
// which serialises appends across goroutines and processes.
func appendAudit(dir string, e AuditEntry) error {
	path := filepath.Join(dir, auditFile)
	seq, prev, err := auditHead(path)
	if err != nil {
		return err
	}
	e.Seq, e.Prev = seq+1, prev
	if e.Time == "" {
		e.Time = time.Now().UTC().Format(time.RFC3339Nano)
	}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	line := chainHash(prev, body) + " " + string(body) + "\n"
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	return f.Close()
}

// auditHead returns the last sequence number and hash (genesis when empty).
func auditHead(path string) (uint64, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, genesis, nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	size := st.Size()
	if size == 0 {
		return 0, genesis, nil
	}
	const tail = 64 << 10
	off := max(size-tail, 0)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, "", err
	}
	buf = bytes.TrimRight(buf, "\n")
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	}
	hash, body, ok := bytes.Cut(buf, []byte(" "))
	var e AuditEntry
	if !ok || json.Unmarshal(body, &e) != nil {
		return 0, "", fmt.Errorf("%w: %s: the last line is damaged", ErrAuditDamaged, path)
	}
	return e.Seq, string(hash), nil
}

// AuditReport is the result of verifying the chain.
type AuditReport struct {
	Entries int    `json:"entries"`
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
	Line    int    `json:"line,omitempty"`
}

// Err is nil for an intact log, else what is damaged and where.
func (r AuditReport) Err() error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("audit log is damaged at line %d: %s — keep a copy for investigation; new decisions will not verify past it", r.Line, r.Problem)
}

// String is the report as text (nothing when the log is damaged: see Err).
func (r AuditReport) String() string {
	if !r.OK {
		return ""
	}
	return fmt.Sprintf("audit log OK: %d entries, hash chain intact\n", r.Entries)
}

// VerifyAudit checks every line of the audit log in dir.
func VerifyAudit(dir string) (AuditReport, error) {
	f, err := os.Open(filepath.Join(dir, auditFile))
	if errors.Is(err, os.ErrNotExist) {
		return AuditReport{OK: true}, nil
	}
	if err != nil {
		return AuditReport{}, fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	prev, n := genesis, 0
	bad := func(msg string) (AuditReport, error) {
		return AuditReport{Entries: n, Problem: msg, Line: n + 1}, nil
	}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return AuditReport{}, fmt.Errorf("audit log: %w", err)
		}
		if !bytes.HasSuffix(line, []byte("\n")) {
			return bad("truncated line")
		}
		hash, body, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
		if !ok {
			return bad("malformed line")
		}
		if chainHash(prev, body) != string(hash) {
			return bad("hash mismatch: the entry or an earlier one was altered")
		}
		var e AuditEntry
		if err := json.Unmarshal(body, &e); err != nil {
			return bad("unreadable entry")
		}
		if e.Seq != uint64(n+1) || e.Prev != prev {
			return bad("sequence broken: an entry was removed or reordered")
		}
		prev = string(hash)
		n++
	}
	return AuditReport{Entries: n, OK: true}, nil
}

// AuditLog is the audit log's entries, oldest first.
type AuditLog []AuditEntry

// ReadAudit returns every entry (without verifying; see VerifyAudit).
func ReadAudit(dir string) (AuditLog, error) {
	b, err := os.ReadFile(filepath.Join(dir, auditFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var out AuditLog
	for _, line := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		_, body, _ := bytes.Cut(line, []byte(" "))
		var e AuditEntry
		if json.Unmarshal(body, &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}
