package vault

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/seal"
)

// DefaultCollection is used when no collection is named.
const DefaultCollection = "default"

// collection holds one collection's keys and (opaque) bucket names.
type collection struct {
	name                                string
	id                                  []byte // random; the top-level bucket name
	dataKey                             []byte // seals every record
	idKey                               []byte // HMACs document paths
	termKey                             []byte // HMACs index terms
	bDocs, bChunks, bPost, bSegs, bVecs []byte
	accs                                sync.Pool // search accumulators (*acc)

	segMu   sync.Mutex // guards the segment cache below
	segTx   int        // transaction id the cache was read at
	segs    []*segMeta
	segWarn []string
}

func (c *collection) wipe() {
	seal.Wipe(c.dataKey)
	seal.Wipe(c.idKey)
	seal.Wipe(c.termKey)
}

// collRecord is sealed under the master key in the registry bucket.
type collRecord struct {
	Name    string `json:"name"`
	ID      []byte `json:"id"`
	DataKey []byte `json:"key"`
}

func (v *Vault) registryBucket() []byte { return tag(v.idKey, 16, "bucket", "collections") }

func newCollection(r collRecord) *collection {
	c := &collection{name: r.Name, id: r.ID, dataKey: r.DataKey}
	c.idKey = subkey(r.DataKey, "doc-ids")
	c.termKey = subkey(r.DataKey, "terms")
	names := subkey(r.DataKey, "buckets")
	c.bDocs = tag(names, 8, "docs")
	c.bChunks = tag(names, 8, "chunks")
	c.bPost = tag(names, 8, "postings")
	c.bSegs = tag(names, 8, "segments")
	c.bVecs = tag(names, 8, "vectors")
	seal.Wipe(names)
	return c
}

// coll returns the named collection, creating it when create is set.
func (v *Vault) coll(name string, create bool) (*collection, error) {
	if name == "" {
		name = DefaultCollection
	}
	master, err := v.keys()
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	c := v.colls[name]
	v.mu.Unlock()
	if c != nil {
		return c, nil
	}
	key := tag(v.idKey, 16, "collection", name)
	reg := v.registryBucket()
	var rec collRecord
	found := false
	err = v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(reg)
		if b == nil {
			return nil
		}
		raw := b.Get(key)
		if raw == nil {
			return nil
		}
		pt, err := seal.Open(master, raw, aad(reg, key))
		if err != nil {
			return &TamperError{Record: "collection " + hex.EncodeToString(key[:4])}
		}
		found = true
		return json.Unmarshal(pt, &rec)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		if !create {
			if name == DefaultCollection {
				return nil, ErrEmpty
			}
			return nil, &NoCollectionError{Name: name}
		}
		if err := checkCollectionName(name); err != nil {
			return nil, err
		}
		rec, err = v.createCollection(master, reg, key, name)
		if err != nil {
			return nil, err
		}
	}
	c = newCollection(rec)
	v.mu.Lock()
	v.colls[name] = c
	v.mu.Unlock()
	return c, nil
}

// ErrEmpty means the default collection was never written to. Reads
// treat it as no results; it reaches callers only where emptiness matters.
var ErrEmpty = errors.New("the vault is empty")

// ErrBadCollectionName: a new collection's name must be printable text of
// at most maxCollectionName bytes, since it is shown in listings and
// errors (no control character or invisible bidirectional mark).
var ErrBadCollectionName = errors.New("a collection name must be printable text of at most 64 bytes")

const maxCollectionName = 64

func checkCollectionName(name string) error {
	ok := len(name) <= maxCollectionName && utf8.ValidString(name)
	for _, r := range name {
		ok = ok && unicode.IsPrint(r)
	}
	if !ok {
		return fmt.Errorf("collection %s: %w", quoteShort(name), ErrBadCollectionName)
	}
	return nil
}

// NoCollectionError names a collection that does not exist.
type NoCollectionError struct{ Name string }

func (e *NoCollectionError) Error() string {
	return fmt.Sprintf("no collection %q in the vault", e.Name)
}

func (v *Vault) createCollection(master, reg, key []byte, name string) (collRecord, error) {
	id, err := seal.NewKey()
	if err != nil {
		return collRecord{}, err
	}
	dk, err := seal.NewKey()
	if err != nil {
		return collRecord{}, err
	}
	rec := collRecord{Name: name, ID: id[:16], DataKey: dk}
	pt, err := json.Marshal(rec)
	if err != nil {
		return collRecord{}, err
	}
	defer seal.Wipe(pt)
	ct, err := seal.Seal(master, pt, aad(reg, key))
	if err != nil {
		return collRecord{}, err
	}
	c := newCollection(rec)
	err = v.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(reg)
		if err != nil {
			return err
		}
		if err := b.Put(key, ct); err != nil {
			return err
		}
		top, err := tx.CreateBucketIfNotExists(c.id)
		if err != nil {
			return err
		}
		for _, n := range [][]byte{c.bDocs, c.bChunks, c.bPost, c.bSegs, c.bVecs} {
			if _, err := top.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		return nil
	})
	return rec, err
}

// Collections lists the collection names.
func (v *Vault) Collections() ([]string, error) {
	end, err := v.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	return v.collections()
}

func (v *Vault) collections() ([]string, error) {
	master, err := v.keys()
	if err != nil {
		return nil, err
	}
	reg := v.registryBucket()
	var names []string
	err = v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(reg)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, raw []byte) error {
			pt, err := seal.Open(master, raw, aad(reg, k))
			if err != nil {
				return &TamperError{Record: "collection " + hex.EncodeToString(k[:4])}
			}
			var r collRecord
			if err := json.Unmarshal(pt, &r); err != nil {
				return err
			}
			seal.Wipe(r.DataKey)
			names = append(names, r.Name)
			return nil
		})
	})
	sort.Strings(names)
	return names, err
}

// bucket returns the collection's sub-bucket in tx (nil if missing).
func (c *collection) bucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	top := tx.Bucket(c.id)
	if top == nil {
		return nil
	}
	return top.Bucket(name)
}

// fullName is the bucket path bound into AAD.
func (c *collection) fullName(name []byte) []byte {
	out := make([]byte, 0, len(c.id)+1+len(name))
	out = append(out, c.id...)
	out = append(out, '/')
	return append(out, name...)
}

func (c *collection) put(b *bolt.Bucket, bname, key, pt []byte) error {
	ct, err := seal.Seal(c.dataKey, pt, aad(c.fullName(bname), key))
	if err != nil {
		return err
	}
	return b.Put(key, ct)
}

// open decrypts a record; a failure is a TamperError naming the record.
func (c *collection) open(bname, key, ct []byte) ([]byte, error) {
	pt, err := seal.Open(c.dataKey, ct, aad(c.fullName(bname), key))
	if err != nil {
		return nil, &TamperError{Record: c.recordName(bname, key)}
	}
	return pt, nil
}

func (c *collection) recordName(bname, key []byte) string {
	switch string(bname) {
	case string(c.bChunks):
		return fmt.Sprintf("chunk %d", binary.BigEndian.Uint64(key))
	case string(c.bDocs):
		return "document " + hex.EncodeToString(key[:6])
	case string(c.bPost):
		return fmt.Sprintf("postings segment %d/term %s", binary.BigEndian.Uint64(key[:8]), hex.EncodeToString(key[8:14]))
	case string(c.bSegs):
		return fmt.Sprintf("segment %d", binary.BigEndian.Uint64(key))
	case string(c.bVecs):
		if len(key) != 8 {
			return "embedding model record"
		}
		return fmt.Sprintf("vectors of segment %d", binary.BigEndian.Uint64(key))
	}
	return "unknown " + hex.EncodeToString(key)
}

func (c *collection) docKey(path string) []byte { return tag(c.idKey, 16, "doc", path) }

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// isTamper reports whether err names a tampered record.
func isTamper(err error) bool {
	var te *TamperError
	return errors.As(err, &te)
}

var _ = strings.TrimSpace
