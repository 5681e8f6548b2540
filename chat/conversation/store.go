// Package conversation is the conversation domain shared by the shell and,
// next, `sov run`, agents and the server: a Conversation (the history the
// engine sees, answers saved as they stream, stop, retry, clear, system
// prompt, title) with the events it publishes, the session store (bbolt, so
// every message is saved as it happens and a conversation can be resumed
// later), and the Markdown export.
//
// Layout: bucket "sessions" holds one sub-bucket per session ID with key
// "meta" (JSON Meta) and a sub-bucket "msgs" keyed by an 8-byte big-endian
// sequence number (JSON Message). Bucket "state" holds "last", the ID of the
// most recently used session.
package conversation

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sovos/sov/internal/boltfile"
	bolt "go.etcd.io/bbolt"
)

// Message is one stored chat message.
type Message struct {
	Seq      uint64 // key in the session; set by Load and Append
	Role     string
	Content  string
	Stopped  bool   // generation was cut short by the user
	Err      string // generation failed with this error
	Model    string
	TPS      float64
	Time     time.Time
	Complete bool // assistant message finished (not mid-stream)
}

// Meta describes a session.
type Meta struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Model   string    `json:"model,omitempty"`
	System  string    `json:"system,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Count   int       `json:"count"`
}

// ErrNotFound is returned for an unknown session ID.
var ErrNotFound = errors.New("no such session")

// LockedError reports that another process holds the database.
type LockedError struct {
	Path  string
	Owner string // "sov (pid 123)" when known
}

func (e *LockedError) Error() string {
	who := e.Owner
	if who == "" {
		who = "another process"
	}
	return fmt.Sprintf("sessions database %s is in use by %s: close that shell first", e.Path, who)
}

var (
	bSessions = []byte("sessions")
	bState    = []byte("state")
	bMsgs     = []byte("msgs")
	kMeta     = []byte("meta")
	kLast     = []byte("last")
)

// Store is an open sessions database. It is safe for concurrent use.
type Store struct {
	db      *bolt.DB
	path    string
	owner   string
	mu      sync.Mutex // orders ID generation
	lastID  string
	wmu     sync.Mutex // serialises writes so NoSync can be set per write
	nowFunc func() time.Time
}

// Open opens (creating) the database in dir. If another process holds it,
// Open gives up after timeout and returns a *LockedError.
func Open(dir string, timeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "sessions.db")
	owner := filepath.Join(dir, "sessions.owner")
	if timeout <= 0 {
		timeout = time.Second
	}
	if err := boltfile.Check(path); err != nil {
		return nil, err // a truncated file would fault inside bbolt's mmap
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, &LockedError{Path: path, Owner: readOwner(owner)}
	}
	if err != nil {
		return nil, fmt.Errorf("open sessions database %s: %w (move it aside to start fresh)", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bSessions); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bState)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init sessions database %s: %w", path, err)
	}
	// Record who holds the lock so a second sov can name us.
	_ = os.WriteFile(owner, []byte(fmt.Sprintf("%d %s\n", os.Getpid(), filepath.Base(os.Args[0]))), 0o600)
	return &Store{db: db, path: path, owner: owner, nowFunc: time.Now}, nil
}

// readOwner names the process recorded in the owner file, if it still runs.
func readOwner(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return ""
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return ""
	}
	if p, err := os.FindProcess(pid); err == nil {
		if err := p.Signal(syscall.Signal(0)); err != nil && !errors.Is(err, os.ErrPermission) {
			return "" // stale record: whoever holds the lock is not that process
		}
	}
	name := "sov"
	if len(f) > 1 {
		name = f[1]
	}
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		name = strings.TrimSpace(string(cmd))
	}
	return fmt.Sprintf("%s (pid %d)", name, pid)
}

// update runs a synced write transaction.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.db.Update(fn)
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close releases the database.
func (s *Store) Close() error {
	if s == nil || s.db == nil {
		return nil
	}
	_ = os.Remove(s.owner)
	return s.db.Close()
}

func (s *Store) now() time.Time { return s.nowFunc().UTC() }

// newID returns a short, time-sortable session ID.
func (s *Store) newID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strconv.FormatInt(s.now().UnixMilli(), 36)
	for id <= s.lastID {
		n, _ := strconv.ParseInt(s.lastID, 36, 64)
		id = strconv.FormatInt(n+1, 36)
	}
	s.lastID = id
	return id
}

// Create starts a new, empty session and makes it the last one.
func (s *Store) Create(model, system string) (Meta, error) {
	now := s.now()
	m := Meta{ID: s.newID(), Title: "New chat", Model: model, System: system, Created: now, Updated: now}
	err := s.update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bSessions).CreateBucket([]byte(m.ID))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket(bMsgs); err != nil {
			return err
		}
		if err := putJSON(b, kMeta, m); err != nil {
			return err
		}
		return tx.Bucket(bState).Put(kLast, []byte(m.ID))
	})
	if err != nil {
		return Meta{}, fmt.Errorf("create session: %w", err)
	}
	return m, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func getMeta(tx *bolt.Tx, id string) (*bolt.Bucket, Meta, error) {
	b := tx.Bucket(bSessions).Bucket([]byte(id))
	if b == nil {
		return nil, Meta{}, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	var m Meta
	if err := json.Unmarshal(b.Get(kMeta), &m); err != nil {
		return nil, Meta{}, fmt.Errorf("session %q: corrupt metadata: %w", id, err)
	}
	return b, m, nil
}

// Last returns the ID of the most recently used session ("" if none).
func (s *Store) Last() (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bState).Get(kLast)
		if v != nil && tx.Bucket(bSessions).Bucket(v) != nil {
			id = string(v)
		}
		return nil
	})
	return id, err
}

// Resolve finds the session whose ID is id or uniquely starts with id.
func (s *Store) Resolve(id string) (string, error) {
	var found []string
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bSessions).Cursor()
		p := []byte(id)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			if string(k) == id {
				found = []string{id}
				return nil
			}
			found = append(found, string(k))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("session %q: %w", id, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("session %q is ambiguous (%d match): give more characters", id, len(found))
}

// Pick finds the session to reopen: the one id names (an ID or a unique
// prefix; see Resolve), else with last the most recently used (see Last).
// "" is a new session: neither was asked for, or there is none yet.
func (s *Store) Pick(id string, last bool) (string, error) {
	switch {
	case id != "":
		return s.Resolve(id)
	case last:
		return s.Last()
	}
	return "", nil
}

// List returns all sessions, most recently updated first.
func (s *Store) List() ([]Meta, error) {
	var out []Meta
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bSessions).ForEachBucket(func(k []byte) error {
			_, m, err := getMeta(tx, string(k))
			if err != nil {
				return nil // skip a damaged entry rather than hide all others
			}
			out = append(out, m)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Updated.After(out[j].Updated) })
	return out, err
}

// Load returns a session and all its messages in order, and makes it the
// last session.
func (s *Store) Load(id string) (Meta, []Message, error) {
	var m Meta
	var msgs []Message
	last := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b, meta, err := getMeta(tx, id)
		if err != nil {
			return err
		}
		m = meta
		mb := b.Bucket(bMsgs)
		if mb != nil {
			msgs = make([]Message, 0, mb.Stats().KeyN)
			err := mb.ForEach(func(k, v []byte) error {
				msg, err := decodeMessage(v)
				if err != nil {
					return nil // skip a damaged message, keep the rest
				}
				msg.Seq = binary.BigEndian.Uint64(k)
				msgs = append(msgs, msg)
				return nil
			})
			if err != nil {
				return err
			}
		}
		last = string(tx.Bucket(bState).Get(kLast)) == id
		return nil
	})
	if err != nil || last {
		return m, msgs, err
	}
	err = s.update(func(tx *bolt.Tx) error { return tx.Bucket(bState).Put(kLast, []byte(id)) })
	return m, msgs, err
}

// Messages are stored in a small binary form rather than JSON: decoding
// 5,000 of them must fit well inside one frame when a session opens.
// Layout: version 1, flags, then role, content, err, model as
// uvarint-prefixed strings, TPS as float64 bits, time as varint Unix ms.
const (
	codecV1      = 1
	flagStopped  = 1
	flagComplete = 2
)

func encodeMessage(m Message) []byte {
	b := make([]byte, 0, 32+len(m.Content)+len(m.Role)+len(m.Err)+len(m.Model))
	var flags byte
	if m.Stopped {
		flags |= flagStopped
	}
	if m.Complete {
		flags |= flagComplete
	}
	b = append(b, codecV1, flags)
	for _, s := range []string{m.Role, m.Content, m.Err, m.Model} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.TPS))
	var ms int64
	if !m.Time.IsZero() {
		ms = m.Time.UnixMilli()
	}
	return binary.AppendVarint(b, ms)
}

var errCorrupt = errors.New("corrupt message")

func decodeMessage(b []byte) (Message, error) {
	var m Message
	if len(b) < 2 || b[0] != codecV1 {
		return m, errCorrupt
	}
	m.Stopped, m.Complete = b[1]&flagStopped != 0, b[1]&flagComplete != 0
	b = b[2:]
	for _, dst := range []*string{&m.Role, &m.Content, &m.Err, &m.Model} {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return m, errCorrupt
		}
		*dst = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	if len(b) < 8 {
		return m, errCorrupt
	}
	m.TPS = math.Float64frombits(binary.BigEndian.Uint64(b))
	ms, k := binary.Varint(b[8:])
	if k <= 0 {
		return m, errCorrupt
	}
	if ms != 0 {
		m.Time = time.UnixMilli(ms).UTC()
	}
	return m, nil
}

// Append stores msg at the end of session id and returns its sequence.
func (s *Store) Append(id string, msg Message) (uint64, error) {
	var seq uint64
	err := s.update(func(tx *bolt.Tx) error {
		b, m, err := getMeta(tx, id)
		if err != nil {
			return err
		}
		mb, err := b.CreateBucketIfNotExists(bMsgs)
		if err != nil {
			return err
		}
		seq, err = mb.NextSequence()
		if err != nil {
			return err
		}
		if err := mb.Put(seqKey(seq), encodeMessage(msg)); err != nil {
			return err
		}
		m.appended(msg, s.now())
		if err := putJSON(b, kMeta, m); err != nil {
			return err
		}
		return tx.Bucket(bState).Put(kLast, []byte(id))
	})
	if err != nil {
		return 0, fmt.Errorf("save message: %w", err)
	}
	return seq, nil
}

// Put replaces the message at seq.
func (s *Store) Put(id string, seq uint64, msg Message) error { return s.put(id, seq, msg, true) }

// PutPartial is Put without waiting for the disk, for the frequent saves of
// a streaming answer: the data reaches the OS at once, so a crash of sov
// loses nothing; the final Put makes it durable.
func (s *Store) PutPartial(id string, seq uint64, msg Message) error {
	return s.put(id, seq, msg, false)
}

func (s *Store) put(id string, seq uint64, msg Message, sync bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.db.NoSync = !sync
	defer func() { s.db.NoSync = false }()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, m, err := getMeta(tx, id)
		if err != nil {
			return err
		}
		mb := b.Bucket(bMsgs)
		if mb == nil || mb.Get(seqKey(seq)) == nil {
			return fmt.Errorf("message %d: %w", seq, ErrNotFound)
		}
		if err := mb.Put(seqKey(seq), encodeMessage(msg)); err != nil {
			return err
		}
		m.Updated = s.now()
		return putJSON(b, kMeta, m)
	})
	if err != nil {
		return fmt.Errorf("save message: %w", err)
	}
	return nil
}

// DeleteMessage removes one message (used by /retry).
func (s *Store) DeleteMessage(id string, seq uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		b, m, err := getMeta(tx, id)
		if err != nil {
			return err
		}
		if mb := b.Bucket(bMsgs); mb != nil && mb.Get(seqKey(seq)) != nil {
			if err := mb.Delete(seqKey(seq)); err != nil {
				return err
			}
			m.Count--
		}
		return putJSON(b, kMeta, m)
	})
}

// Update changes a session's metadata through fn.
func (s *Store) Update(id string, fn func(*Meta)) (Meta, error) {
	var out Meta
	err := s.update(func(tx *bolt.Tx) error {
		b, m, err := getMeta(tx, id)
		if err != nil {
			return err
		}
		fn(&m)
		m.ID = id
		out = m
		return putJSON(b, kMeta, m)
	})
	return out, err
}

// Clear removes all messages of a session, keeping its metadata.
func (s *Store) Clear(id string) error {
	return s.update(func(tx *bolt.Tx) error {
		b, m, err := getMeta(tx, id)
		if err != nil {
			return err
		}
		if b.Bucket(bMsgs) != nil {
			if err := b.DeleteBucket(bMsgs); err != nil {
				return err
			}
		}
		if _, err := b.CreateBucket(bMsgs); err != nil {
			return err
		}
		m.Count = 0
		m.Updated = s.now()
		return putJSON(b, kMeta, m)
	})
}

// Delete removes a session entirely.
func (s *Store) Delete(id string) error {
	return s.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bSessions).DeleteBucket([]byte(id)); err != nil {
			if errors.Is(err, bolt.ErrBucketNotFound) {
				return fmt.Errorf("session %q: %w", id, ErrNotFound)
			}
			return err
		}
		st := tx.Bucket(bState)
		if string(st.Get(kLast)) == id {
			return st.Delete(kLast)
		}
		return nil
	})
}

// appended updates m for msg added at time now: the count, the time, the
// title from a first user message and the model that answered. The store
// and an open Conversation apply the same rule, so they agree.
func (m *Meta) appended(msg Message, now time.Time) {
	m.Count++
	m.Updated = now
	if m.Count == 1 && msg.Role == "user" {
		m.Title = TitleFrom(msg.Content)
	}
	if msg.Model != "" {
		m.Model = msg.Model
	}
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// TitleFrom makes a session title from the first user message: its first
// line, trimmed to 48 characters.
func TitleFrom(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > 48 {
		s = strings.TrimSpace(string(r[:47])) + "…"
	}
	if s == "" {
		return "New chat"
	}
	return s
}
