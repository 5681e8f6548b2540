// Package vault is sov's encrypted store for the user's private documents:
// files are extracted, chunked and indexed for BM25 (and, with an embedding
// model, vector) search, and every byte of documents, chunks and the index
// itself is sealed before it reaches the bbolt file.
//
// Key hierarchy (envelope encryption):
//
//	passphrase --Argon2id(header params, salt)--> KEK
//	KEK   wraps a random master key   (header, AAD binds format version)
//	master wraps per-collection data keys (AAD binds bucket and key)
//	data key seals every record of its collection (AAD binds bucket, key, version)
//
// Changing the passphrase rotates the master and data keys and rewrites
// every record (see Passwd). bbolt bucket names
// and keys are HMACs or random ids, so no path, title, term or query appears
// in the file.
package vault

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sovos/sov/internal/boltfile"
	"github.com/sovos/sov/internal/seal"
)

// FormatVersion is the on-disk format; it is bound into every AAD so records
// of one version cannot be replayed as another.
const FormatVersion = 1

// FileName is the database file inside the vault directory.
const FileName = "vault.db"

var (
	// ErrWrongPassphrase is returned by Open and Unlock; nothing is unlocked.
	ErrWrongPassphrase = errors.New("wrong vault passphrase: nothing was unlocked")
	// ErrNotInitialised means there is no vault file yet.
	ErrNotInitialised = errors.New("no vault here yet")
	// ErrExists is returned by Init when a vault already exists.
	ErrExists = errors.New("a vault already exists here")
	// ErrLocked is returned after Lock or the idle timeout.
	ErrLocked = errors.New("the vault is locked: unlock it again with the passphrase")
	// ErrReadOnly is returned by writes on a vault opened read-only.
	ErrReadOnly = errors.New("the vault was opened read-only")
)

// TamperError names a record that failed authentication; the rest of the
// vault stays readable.
type TamperError struct {
	Record string // e.g. "chunk 42", "document 3f9a…", "postings seg 2/…"
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("vault record %s failed authentication (tampered or corrupt); other records are unaffected — re-add its source to repair", e.Record)
}

// Options tune Open and Init. The zero value is the production default.
type Options struct {
	// KDF is used by Init and Passwd; nil means seal.DefaultKDF(). Tests
	// pass seal.FastKDF() to stay quick.
	KDF *seal.KDF
	// ReadOnly opens the database with a shared lock (search, ls, export).
	ReadOnly bool
	// OpenTimeout bounds waiting for another process's lock (default 2s).
	OpenTimeout time.Duration
	// IdleTimeout wipes the keys after this long without use (0 = never);
	// for the TUI and long-running processes.
	IdleTimeout time.Duration
	// Embedder, when set, adds vector similarity to search.
	Embedder Embedder
	// BatchBytes and BatchFiles bound one ingest transaction (defaults
	// 8 MiB and 256 files). Every file is whole in exactly one batch.
	BatchBytes int
	BatchFiles int
	// StreamThreshold: files whose size exceeds it are streamed in several
	// pending segments and committed at the end (default 32 MiB).
	StreamThreshold int64
	// SegmentBytes is how much text a streamed file buffers before it
	// flushes a pending segment (default 2 MiB).
	SegmentBytes int
}

func (o *Options) defaults() {
	if o.OpenTimeout == 0 {
		o.OpenTimeout = 2 * time.Second
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = 8 << 20
	}
	if o.BatchFiles == 0 {
		o.BatchFiles = 256
	}
	if o.StreamThreshold == 0 {
		o.StreamThreshold = 32 << 20
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = 2 << 20
	}
}

// header is the only record stored unsealed: what is needed to derive the
// KEK, and the wrapped master key.
type header struct {
	Format  int       `json:"format"`
	KDF     seal.KDF  `json:"kdf"`
	Master  []byte    `json:"master"` // master key sealed under the KEK
	Created time.Time `json:"created"`
}

var (
	headerBucket = []byte("sov-vault")
	headerKey    = []byte("header")
)

func masterAAD(format int) []byte {
	return []byte(fmt.Sprintf("sov-vault/%d/master", format))
}

// Vault is an open, unlocked vault. It is safe for concurrent use.
type Vault struct {
	path string
	db   *bolt.DB
	opts Options

	// op is held (shared) by every operation that uses the keys, and
	// exclusively by Lock, so keys are never wiped under a running
	// operation (the idle timer fires on its own goroutine).
	op       sync.RWMutex
	mu       sync.Mutex
	master   []byte // nil when locked
	idKey    []byte // HMAC key for top-level ids
	colls    map[string]*collection
	idle     *time.Timer
	unlocked time.Time
	kdfTime  time.Duration
}

// KDFDuration is how long the last unlock spent in Argon2id (the rest of
// an unlock is microseconds); benchmarks report unlock time without it.
func (v *Vault) KDFDuration() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.kdfTime
}

// Path returns the database file.
func (v *Vault) Path() string { return v.path }

// DBPath returns the database file inside dir.
func DBPath(dir string) string { return filepath.Join(dir, FileName) }

// Exists reports whether a vault database exists in dir.
func Exists(dir string) bool {
	_, err := os.Stat(DBPath(dir))
	return err == nil
}

// Init creates a new vault in dir protected by passphrase.
func Init(ctx context.Context, dir string, passphrase []byte, opts Options) error {
	opts.defaults()
	if len(passphrase) == 0 {
		return errors.New("empty passphrase: choose a passphrase for the vault")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create vault directory: %w", err)
	}
	path := DBPath(dir)
	if _, err := os.Stat(path); err == nil {
		return ErrExists
	}
	kdf, err := pickKDF(opts.KDF)
	if err != nil {
		return err
	}
	kek, err := kdf.Derive(passphrase)
	if err != nil {
		return fmt.Errorf("derive key: %w", err)
	}
	defer seal.Wipe(kek)
	master, err := seal.NewKey()
	if err != nil {
		return err
	}
	defer seal.Wipe(master)
	wrapped, err := seal.Seal(kek, master, masterAAD(FormatVersion))
	if err != nil {
		return err
	}
	h := header{Format: FormatVersion, KDF: kdf, Master: wrapped, Created: time.Now().UTC().Truncate(time.Second)}
	db, err := openBolt(path, false, opts.OpenTimeout)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(headerBucket)
		if err != nil {
			return err
		}
		if b.Get(headerKey) != nil {
			return ErrExists
		}
		raw, err := json.Marshal(h)
		if err != nil {
			return err
		}
		return b.Put(headerKey, raw)
	})
}

func pickKDF(k *seal.KDF) (seal.KDF, error) {
	if k == nil {
		return seal.DefaultKDF()
	}
	out := *k
	if len(out.Salt) == 0 {
		d, err := seal.DefaultKDF()
		if err != nil {
			return seal.KDF{}, err
		}
		out.Salt = d.Salt
	}
	return out, out.Validate()
}

// Open opens and unlocks the vault in dir.
func Open(ctx context.Context, dir string, passphrase []byte, opts Options) (*Vault, error) {
	opts.defaults()
	path := DBPath(dir)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotInitialised
	}
	db, err := openBolt(path, opts.ReadOnly, opts.OpenTimeout)
	if err != nil {
		return nil, err
	}
	v := &Vault{path: path, db: db, opts: opts, colls: map[string]*collection{}}
	if err := v.Unlock(passphrase); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.ReadOnly {
		if err := v.recoverPending(ctx); err != nil {
			v.Close()
			return nil, err
		}
	}
	return v, nil
}

// openBolt opens the database, turning a lock timeout into an error that
// names the process holding it.
func openBolt(path string, readOnly bool, timeout time.Duration) (*bolt.DB, error) {
	if err := boltfile.Check(path); err != nil {
		return nil, err // a truncated file would fault inside bbolt's mmap
	}
	var db *bolt.DB
	var err error
	for try := 0; ; try++ {
		before, serr := os.Stat(path)
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: readOnly})
		if err != nil || serr != nil {
			break
		}
		// A compaction may have renamed a new file over path while this
		// open waited for the lock: the file locked would be an orphan.
		if after, serr := os.Stat(path); serr == nil && os.SameFile(before, after) || try == 3 {
			return db, nil
		}
		db.Close()
	}
	if err == nil {
		return db, nil
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("vault %s is in use by %s: wait for it to finish or stop it, then retry", path, lockHolder(path))
	}
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("open vault %s: permission denied: check the file's owner", path)
	}
	return nil, fmt.Errorf("open vault %s: %w", path, err)
}

func readHeader(db *bolt.DB) (header, error) {
	var h header
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(headerBucket)
		if b == nil {
			return ErrNotInitialised
		}
		raw := b.Get(headerKey)
		if raw == nil {
			return ErrNotInitialised
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			return fmt.Errorf("vault header is corrupt (%v): restore from an export", err)
		}
		return nil
	})
	if err != nil {
		return h, err
	}
	if h.Format != FormatVersion {
		return h, fmt.Errorf("vault format %d is not supported by this sov (wants %d): upgrade sov", h.Format, FormatVersion)
	}
	if err := h.KDF.Validate(); err != nil {
		return h, fmt.Errorf("vault header is corrupt (%v): restore from an export", err)
	}
	return h, nil
}

// Unlock derives the KEK and unwraps the master key. A wrong passphrase
// returns ErrWrongPassphrase and leaves the vault locked.
func (v *Vault) Unlock(passphrase []byte) error {
	h, err := readHeader(v.db)
	if err != nil {
		return err
	}
	t0 := time.Now()
	kek, err := h.KDF.Derive(passphrase)
	if err != nil {
		return err
	}
	kdfTime := time.Since(t0)
	defer seal.Wipe(kek)
	master, err := seal.Open(kek, h.Master, masterAAD(h.Format))
	if err != nil {
		return ErrWrongPassphrase
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.kdfTime = kdfTime
	v.master = master
	v.idKey = subkey(master, "ids")
	v.colls = map[string]*collection{}
	v.unlocked = time.Now()
	v.touchLocked()
	return nil
}

// Lock wipes every key from memory; later calls return ErrLocked until
// Unlock.
func (v *Vault) Lock() {
	v.op.Lock()
	defer v.op.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lockLocked()
}

// begin starts an operation: it honours a pending lock request, fails when
// locked, and holds the keys until the returned func is called.
func (v *Vault) begin() (func(), error) {
	v.mu.Lock()
	requested := v.master != nil && v.lockRequestedLocked()
	v.mu.Unlock()
	if requested {
		v.Lock()
	}
	v.op.RLock()
	v.mu.Lock()
	locked := v.master == nil
	if !locked {
		v.touchLocked()
	}
	v.mu.Unlock()
	if locked {
		v.op.RUnlock()
		return nil, ErrLocked
	}
	return v.op.RUnlock, nil
}

func (v *Vault) lockLocked() {
	seal.Wipe(v.master)
	seal.Wipe(v.idKey)
	for _, c := range v.colls {
		c.wipe()
	}
	v.master, v.idKey, v.colls = nil, nil, map[string]*collection{}
	if v.idle != nil {
		v.idle.Stop()
		v.idle = nil
	}
}

// Locked reports whether the keys have been dropped.
func (v *Vault) Locked() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.master == nil
}

// touchLocked restarts the idle timer; v.mu must be held.
func (v *Vault) touchLocked() {
	if v.opts.IdleTimeout <= 0 {
		return
	}
	if v.idle != nil {
		v.idle.Reset(v.opts.IdleTimeout)
		return
	}
	v.idle = time.AfterFunc(v.opts.IdleTimeout, v.Lock)
}

// Close locks the vault and closes the database.
func (v *Vault) Close() error {
	v.Lock()
	return v.db.Close()
}

// Passwd changes the passphrase (with a fresh salt) and rotates every key
// below it: a new master key, and for each collection a new data key and
// new opaque names, with all records re-encrypted in one transaction. The
// file is then compacted, so no old header is left in it either. An old
// header, restored from anywhere, unwraps only keys nothing uses any more.
// The current passphrase must be given.
func (v *Vault) Passwd(oldPass, newPass []byte, kdf *seal.KDF) error {
	if v.opts.ReadOnly {
		return ErrReadOnly
	}
	if len(newPass) == 0 {
		return errors.New("empty new passphrase: choose a non-empty passphrase")
	}
	h, err := readHeader(v.db)
	if err != nil {
		return err
	}
	oldKEK, err := h.KDF.Derive(oldPass)
	if err != nil {
		return err
	}
	defer seal.Wipe(oldKEK)
	master, err := seal.Open(oldKEK, h.Master, masterAAD(h.Format))
	if err != nil {
		return ErrWrongPassphrase
	}
	defer seal.Wipe(master)
	if kdf == nil {
		k := h.KDF
		k.Salt = nil
		kdf = &k
	}
	nk, err := pickKDF(&seal.KDF{Time: kdf.Time, MemoryKiB: kdf.MemoryKiB, Threads: kdf.Threads, Salt: freshSalt(kdf.Salt)})
	if err != nil {
		return err
	}
	newKEK, err := nk.Derive(newPass)
	if err != nil {
		return err
	}
	defer seal.Wipe(newKEK)
	newMaster, err := seal.NewKey()
	if err != nil {
		return err
	}
	wrapped, err := seal.Seal(newKEK, newMaster, masterAAD(FormatVersion))
	if err != nil {
		return err
	}
	h.KDF, h.Master = nk, wrapped
	raw, err := json.Marshal(h)
	if err != nil {
		return err
	}
	v.op.Lock() // no operation runs while the keys change
	defer v.op.Unlock()
	err = v.update(func(tx *bolt.Tx) error {
		if err := rekey(tx, master, newMaster); err != nil {
			return err
		}
		return tx.Bucket(headerBucket).Put(headerKey, raw)
	})
	if err != nil {
		seal.Wipe(newMaster)
		return fmt.Errorf("change passphrase (nothing was changed): %w", err)
	}
	v.mu.Lock()
	v.lockLocked()
	v.master, v.idKey = newMaster, subkey(newMaster, "ids")
	v.touchLocked()
	v.mu.Unlock()
	if _, err := v.compactFile(context.Background()); err != nil {
		return fmt.Errorf("the passphrase was changed, but %w: %w", ErrNotCompacted, err)
	}
	return nil
}

// ErrNotCompacted means a change was made but the file still holds the
// old bytes (the old header, removed records) until it is compacted.
var ErrNotCompacted = errors.New("old copies of the changed records are still in the file")

// freshSalt keeps an explicitly given salt (tests) and otherwise asks
// pickKDF for a new random one.
func freshSalt(s []byte) []byte {
	if len(s) > 0 {
		return s
	}
	return nil
}

// KDFParams returns the header's Argon2id parameters (no secrets).
func (v *Vault) KDFParams() (seal.KDF, error) {
	h, err := readHeader(v.db)
	if err != nil {
		return seal.KDF{}, err
	}
	h.KDF.Salt = nil
	return h.KDF, nil
}

// subkey derives an independent key for one purpose from a parent key.
func subkey(parent []byte, label string) []byte {
	m := hmac.New(sha256.New, parent)
	m.Write([]byte("sov-vault/subkey/" + label))
	return m.Sum(nil)
}

// tag is an opaque, deterministic id for a name under key.
func tag(key []byte, n int, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)[:n]
}

// aad binds a sealed value to its bucket path, key and format version.
func aad(bucket, key []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "sov-vault/%d/", FormatVersion)
	b.Write(bucket)
	b.WriteByte(0)
	b.Write(key)
	return b.Bytes()
}

func (v *Vault) keys() ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.master == nil {
		return nil, ErrLocked
	}
	return v.master, nil
}

// update runs a write transaction, turning a full disk into a clear error.
func (v *Vault) update(fn func(tx *bolt.Tx) error) error {
	if v.opts.ReadOnly {
		return ErrReadOnly
	}
	err := v.db.Update(fn)
	return diskErr(err)
}
