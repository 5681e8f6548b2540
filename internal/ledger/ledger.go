// Package ledger is sov's append-only record of what was done on the user's
// behalf: model calls, tool calls, permission decisions, payments and votes.
//
// Invariants:
//   - The ledger holds hashes and small facts, never content: prompts,
//     outputs and documents stay where they live (encrypted where they are).
//   - One file, entries.jsonl, one DSSE envelope per line. Each envelope
//     carries an in-toto Statement v1 serialised as canonical JSON (RFC
//     8785); its predicate names the entry's sequence number and the sha256
//     of the previous line, so the lines form a hash chain.
//   - Lines are only ever appended, under an exclusive file lock, so several
//     processes can write at once and every entry is kept in order.
//   - An entry is signed with the ledger's ed25519 key when the writer holds
//     it; a checkpoint entry signs the RFC 6962 Merkle root of every line
//     before it, so an entry written by a process without the key is
//     authenticated by the next signature after it, the way a transparency
//     log's signed tree head covers unsigned leaves.
//   - A damaged line never hides the others: reading goes on past it.
package ledger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/gowebpki/jcs"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Kinds of entries.
const (
	KindModel      = "model"
	KindTool       = "tool"
	KindPermission = "permission"
	KindPayment    = "payment"
	KindVote       = "vote"
	KindNote       = "note"
	KindCheckpoint = "checkpoint"
)

// Kinds lists every kind, for validation of filters.
var Kinds = []string{KindModel, KindTool, KindPermission, KindPayment, KindVote, KindNote, KindCheckpoint}

const (
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// PredicateType names the shape of sov's ledger predicate.
	PredicateType = "https://github.com/sovos/sov/ledger/entry/v1"

	entriesFile = "entries.jsonl"
	lockFile    = "lock"
	// maxLine bounds one entry; entries hold hashes and small facts only.
	maxLine = 1 << 20
)

// Record is what a caller appends.
type Record struct {
	Kind      string
	Principal string            // who acted: "cli", "tui", "agent:NAME"
	Subjects  map[string]string // what the entry is about: name → sha256 hex (at least one)
	Fields    map[string]any    // kind-specific facts: numbers, short strings, hashes
}

// Entry is one line of the ledger as read back. When the line could not be
// understood, Err says why and only Seq, Hash and Line are set.
type Entry struct {
	Seq       uint64
	Time      time.Time
	Kind      string
	Principal string
	Prev      string // sha256 hex of the previous line, "" for the first
	Subjects  map[string]string
	Fields    map[string]any
	KeyIDs    []string // key ids of the signatures, if any
	Hash      string   // sha256 hex of the line: the entry's identity
	Line      []byte
	Err       error

	env     dsse.Envelope
	payload []byte
}

// Signed reports whether the entry carries a signature.
func (e Entry) Signed() bool { return len(e.KeyIDs) > 0 }

// Ledger is the log under one directory. It holds no open files between
// calls; every method locks what it needs.
type Ledger struct {
	dir string
	now func() time.Time
}

// Open returns the ledger under dir; nothing is created until the first
// append.
func Open(dir string) *Ledger { return &Ledger{dir: dir, now: time.Now} }

// Dir is where the ledger lives.
func (l *Ledger) Dir() string { return l.dir }

func (l *Ledger) path() string { return filepath.Join(l.dir, entriesFile) }

// lock takes an exclusive (or shared) lock for the duration of fn, across
// processes.
func (l *Ledger) lock(exclusive bool, fn func() error) error {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("ledger lock: %w", err)
	}
	defer f.Close()
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("ledger lock: %w", err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN) //nolint:errcheck // closing releases it too
	return fn()
}

// Append writes rec as the next entry, signed by s when s is not nil.
func (l *Ledger) Append(ctx context.Context, rec Record, s *Signer) (Entry, error) {
	if err := validRecord(rec); err != nil {
		return Entry{}, err
	}
	var out Entry
	err := l.lock(true, func() error {
		var err error
		out, err = l.appendLocked(ctx, rec, s)
		return err
	})
	return out, err
}

// appendLocked appends under the caller's exclusive lock.
func (l *Ledger) appendLocked(ctx context.Context, rec Record, s *Signer) (Entry, error) {
	f, err := os.OpenFile(l.path(), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return Entry{}, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	seq, prev, torn, err := tail(f)
	if err != nil {
		return Entry{}, err
	}
	line, err := encode(ctx, seq, prev, l.now(), rec, s)
	if err != nil {
		return Entry{}, err
	}
	// A torn last line (a writer killed mid-write) stays as a damaged entry
	// of its own; the new entry starts on a line of its own.
	buf := make([]byte, 0, len(line)+2)
	if torn {
		buf = append(buf, '\n')
	}
	buf = append(append(buf, line...), '\n')
	if _, err := f.Write(buf); err != nil {
		return Entry{}, fmt.Errorf("ledger write: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Entry{}, fmt.Errorf("ledger sync: %w", err)
	}
	e := decode(seq, line)
	return e, e.Err
}

func validRecord(rec Record) error {
	known := false
	for _, k := range Kinds {
		known = known || k == rec.Kind
	}
	if !known {
		return fmt.Errorf("ledger: unknown kind %q", rec.Kind)
	}
	if len(rec.Subjects) == 0 {
		return errors.New("ledger: an entry needs at least one subject digest")
	}
	for name, d := range rec.Subjects {
		if b, err := hex.DecodeString(d); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("ledger: subject %q: %q is not a sha256 hex digest", name, d)
		}
	}
	return nil
}

// tail finds the next sequence number and the hash of the last line. torn
// reports a last line without its newline.
func tail(f *os.File) (seq uint64, prev string, torn bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, "", false, fmt.Errorf("ledger: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return 0, "", false, nil
	}
	// Read back far enough to hold the last complete line.
	n := min(size, int64(maxLine+1))
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return 0, "", false, fmt.Errorf("ledger read: %w", err)
	}
	torn = buf[len(buf)-1] != '\n'
	body := bytes.TrimSuffix(buf, []byte{'\n'})
	last := body
	if i := bytes.LastIndexByte(body, '\n'); i >= 0 {
		last = body[i+1:]
	} else if n < size {
		return 0, "", false, errors.New("ledger: last entry is larger than any entry sov writes: the file is damaged")
	}
	e := decode(0, last)
	if e.Err == nil {
		return e.Seq + 1, e.Hash, torn, nil
	}
	// The last line is damaged: count lines to keep sequence numbers equal
	// to line numbers.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, "", false, fmt.Errorf("ledger: %w", err)
	}
	lines, err := countLines(f)
	if err != nil {
		return 0, "", false, err
	}
	return lines, e.Hash, torn, nil
}

func countLines(r io.Reader) (uint64, error) {
	var n uint64
	err := scanLines(r, func(_ []byte) error { n++; return nil })
	return n, err
}

// scanLines calls fn for every line, a final line without newline included.
func scanLines(r io.Reader, fn func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine+1)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ledger read: %w", err)
	}
	return nil
}

// predicate is the entry's own facts, inside the statement.
type predicate struct {
	Seq       uint64         `json:"seq"`
	Time      string         `json:"time"`
	Kind      string         `json:"kind"`
	Principal string         `json:"principal,omitempty"`
	Prev      string         `json:"prev"`
	Fields    map[string]any `json:"fields,omitempty"`
}

func encode(ctx context.Context, seq uint64, prev string, now time.Time, rec Record, s *Signer) ([]byte, error) {
	p := predicate{Seq: seq, Time: now.UTC().Format(time.RFC3339Nano), Kind: rec.Kind, Principal: rec.Principal, Prev: prev, Fields: rec.Fields}
	pj, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("ledger: fields: %w", err)
	}
	var pm map[string]any
	if err := json.Unmarshal(pj, &pm); err != nil {
		return nil, fmt.Errorf("ledger: fields: %w", err)
	}
	pred, err := structpb.NewStruct(pm)
	if err != nil {
		return nil, fmt.Errorf("ledger: fields: %w", err)
	}
	names := make([]string, 0, len(rec.Subjects))
	for n := range rec.Subjects {
		names = append(names, n)
	}
	sort.Strings(names)
	st := &intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: PredicateType, Predicate: pred}
	for _, n := range names {
		st.Subject = append(st.Subject, &intoto.ResourceDescriptor{Name: n, Digest: map[string]string{"sha256": rec.Subjects[n]}})
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("ledger: statement: %w", err)
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("ledger: statement: %w", err)
	}
	payload, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("ledger: canonical JSON: %w", err)
	}
	env := dsse.Envelope{PayloadType: PayloadType, Payload: base64.StdEncoding.EncodeToString(payload), Signatures: []dsse.Signature{}}
	if s != nil {
		es, err := dsse.NewEnvelopeSigner(s)
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		signed, err := es.SignPayload(ctx, PayloadType, payload)
		if err != nil {
			return nil, fmt.Errorf("ledger: sign: %w", err)
		}
		env = *signed
	}
	line, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return jcs.Transform(line)
}

// LineHash is the sha256 hex of a line, as the next entry records it.
func LineHash(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}

// decode parses one line; a damaged line comes back with Err set.
func decode(lineNo uint64, line []byte) Entry {
	e := Entry{Seq: lineNo, Hash: LineHash(line), Line: append([]byte(nil), line...)}
	fail := func(format string, a ...any) Entry {
		e.Err = fmt.Errorf(format, a...)
		return e
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return fail("empty line")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e.env); err != nil {
		return fail("not a DSSE envelope (truncated or damaged JSON): %v", err)
	}
	if e.env.PayloadType != PayloadType {
		return fail("payload type %q, not %q", clip(e.env.PayloadType), PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(e.env.Payload)
	if err != nil {
		return fail("payload is not base64: %v", err)
	}
	e.payload = payload
	var st intoto.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		return fail("payload is not an in-toto statement: %v", err)
	}
	if err := st.Validate(); err != nil {
		return fail("in-toto statement: %v", err)
	}
	if st.GetPredicateType() != PredicateType {
		return fail("predicate type %q, not sov's", clip(st.GetPredicateType()))
	}
	pj, err := st.GetPredicate().MarshalJSON()
	if err != nil {
		return fail("predicate: %v", err)
	}
	var p predicate
	if err := json.Unmarshal(pj, &p); err != nil {
		return fail("predicate: %v", err)
	}
	t, err := time.Parse(time.RFC3339Nano, p.Time)
	if err != nil {
		return fail("predicate time %q: %v", clip(p.Time), err)
	}
	e.Seq, e.Time, e.Kind, e.Principal, e.Prev, e.Fields = p.Seq, t, p.Kind, p.Principal, p.Prev, p.Fields
	e.Subjects = map[string]string{}
	for _, rd := range st.GetSubject() {
		e.Subjects[rd.GetName()] = rd.GetDigest()["sha256"]
	}
	for _, s := range e.env.Signatures {
		e.KeyIDs = append(e.KeyIDs, s.KeyID)
	}
	return e
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Entries reads every line in order; damaged lines are returned with Err
// set and reading goes on.
func (l *Ledger) Entries() ([]Entry, error) {
	var out []Entry
	err := l.lock(false, func() error {
		f, err := os.Open(l.path())
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		defer f.Close()
		return scanLines(f, func(line []byte) error {
			out = append(out, decode(uint64(len(out)), line))
			return nil
		})
	})
	return out, err
}

// ErrNotFound means no entry has the given id.
var ErrNotFound = errors.New("no such ledger entry")

// Get returns the entry whose sequence number is id, or whose hash starts
// with id (at least 8 hex digits).
func (l *Ledger) Get(id string) (Entry, error) {
	es, err := l.Entries()
	if err != nil {
		return Entry{}, err
	}
	if n, err := strconv.ParseUint(id, 10, 64); err == nil {
		if n < uint64(len(es)) {
			return es[n], nil
		}
		return Entry{}, fmt.Errorf("%w: %d (the ledger has %d entries)", ErrNotFound, n, len(es))
	}
	if len(id) < 8 {
		return Entry{}, fmt.Errorf("%w: %q (give a sequence number or at least 8 hex digits of a hash)", ErrNotFound, id)
	}
	var found []Entry
	for _, e := range es {
		if len(e.Hash) >= len(id) && e.Hash[:len(id)] == id {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return Entry{}, fmt.Errorf("%w: %s matches %d entries", ErrNotFound, id, len(found))
}

// Statement returns the entry's in-toto statement as canonical JSON.
func (e Entry) Statement() []byte { return e.payload }

// SHA256 hashes content for a subject or field.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// MarshalJSON is the entry as listings print it: its facts, not its bytes.
func (e Entry) MarshalJSON() ([]byte, error) {
	type ok struct {
		ID        uint64            `json:"id"`
		Hash      string            `json:"hash"`
		Time      time.Time         `json:"time"`
		Kind      string            `json:"kind"`
		Principal string            `json:"principal,omitempty"`
		Prev      string            `json:"prev"`
		Subjects  map[string]string `json:"subjects"`
		Fields    map[string]any    `json:"fields,omitempty"`
		KeyIDs    []string          `json:"keyids"`
	}
	if e.Err != nil {
		return json.Marshal(struct {
			ID    uint64 `json:"id"`
			Hash  string `json:"hash"`
			Error string `json:"error"`
		}{e.Seq, e.Hash, e.Err.Error()})
	}
	ids := e.KeyIDs
	if ids == nil {
		ids = []string{}
	}
	return json.Marshal(ok{e.Seq, e.Hash, e.Time, e.Kind, e.Principal, e.Prev, e.Subjects, e.Fields, ids})
}
