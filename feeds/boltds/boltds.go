// Package boltds is a go-datastore (Batching) backed by one bbolt bucket,
// so boxo's blockstore can keep IPFS blocks in sov's own database file
// instead of a second storage engine.
package boltds

import (
	"context"
	"fmt"
	"path"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	bolt "go.etcd.io/bbolt"
)

// Datastore stores keys (as their string form) in one bucket.
type Datastore struct {
	db     *bolt.DB
	bucket []byte
}

var _ ds.Batching = (*Datastore)(nil)

// New uses bucket in db, creating it when db is writable. The caller owns
// db and closes it; Close here is a no-op.
func New(db *bolt.DB, bucket string) (*Datastore, error) {
	d := &Datastore{db: db, bucket: []byte(bucket)}
	if !db.IsReadOnly() {
		if err := db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(d.bucket)
			return err
		}); err != nil {
			return nil, fmt.Errorf("datastore bucket %s: %w", bucket, err)
		}
	}
	return d, nil
}

func (d *Datastore) view(fn func(b *bolt.Bucket) error) error {
	return d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(d.bucket)
		if b == nil {
			return fn(nil)
		}
		return fn(b)
	})
}

// Get returns a copy of the value (bbolt's slices die with the tx).
func (d *Datastore) Get(_ context.Context, key ds.Key) ([]byte, error) {
	var out []byte
	err := d.view(func(b *bolt.Bucket) error {
		if b == nil {
			return ds.ErrNotFound
		}
		v := b.Get(key.Bytes())
		if v == nil {
			return ds.ErrNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// Has reports whether key exists.
func (d *Datastore) Has(_ context.Context, key ds.Key) (bool, error) {
	var ok bool
	err := d.view(func(b *bolt.Bucket) error {
		ok = b != nil && b.Get(key.Bytes()) != nil
		return nil
	})
	return ok, err
}

// GetSize returns the value's length.
func (d *Datastore) GetSize(_ context.Context, key ds.Key) (int, error) {
	n := -1
	err := d.view(func(b *bolt.Bucket) error {
		if b == nil {
			return ds.ErrNotFound
		}
		v := b.Get(key.Bytes())
		if v == nil {
			return ds.ErrNotFound
		}
		n = len(v)
		return nil
	})
	return n, err
}

// Put stores value under key.
func (d *Datastore) Put(_ context.Context, key ds.Key, value []byte) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(d.bucket).Put(key.Bytes(), value)
	})
}

// Delete removes key; deleting a missing key is not an error.
func (d *Datastore) Delete(_ context.Context, key ds.Key) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(d.bucket).Delete(key.Bytes())
	})
}

// Query walks the keys under the prefix with a bbolt cursor inside one read
// transaction and applies filters, orders, offset and limit with the
// library's naive helpers, which keeps the semantics identical to the
// reference in-memory datastore.
func (d *Datastore) Query(ctx context.Context, q query.Query) (query.Results, error) {
	prefix := "/"
	if q.Prefix != "" {
		prefix = path.Clean("/" + q.Prefix)
		if prefix != "/" {
			prefix += "/"
		}
	}
	var entries []query.Entry
	err := d.view(func(b *bolt.Bucket) error {
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := query.Entry{Key: string(k), Size: len(v)}
			if !q.KeysOnly {
				e.Value = append([]byte{}, v...)
			}
			entries = append(entries, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	q2 := q
	q2.Prefix = "" // already applied
	return query.NaiveQueryApply(q2, query.ResultsWithEntries(q, entries)), nil
}

func hasPrefix(k []byte, p string) bool {
	return len(k) >= len(p) && string(k[:len(p)]) == p
}

// Sync is a no-op: every bbolt transaction is already durable on commit.
func (d *Datastore) Sync(context.Context, ds.Key) error { return nil }

// Close is a no-op; the owner of the bbolt handle closes it.
func (d *Datastore) Close() error { return nil }

// Batch collects writes and applies them in one bbolt transaction.
func (d *Datastore) Batch(context.Context) (ds.Batch, error) {
	return &batch{d: d, ops: map[string]*[]byte{}}, nil
}

type batch struct {
	d     *Datastore
	ops   map[string]*[]byte // nil pointer = delete
	order []string
}

func (b *batch) Put(_ context.Context, key ds.Key, value []byte) error {
	k := key.String()
	if _, ok := b.ops[k]; !ok {
		b.order = append(b.order, k)
	}
	v := append([]byte{}, value...)
	b.ops[k] = &v
	return nil
}

func (b *batch) Delete(_ context.Context, key ds.Key) error {
	k := key.String()
	if _, ok := b.ops[k]; !ok {
		b.order = append(b.order, k)
	}
	b.ops[k] = nil
	return nil
}

func (b *batch) Commit(context.Context) error {
	err := b.d.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(b.d.bucket)
		for _, k := range b.order {
			if v := b.ops[k]; v != nil {
				if err := bk.Put([]byte(k), *v); err != nil {
					return err
				}
			} else if err := bk.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	b.ops, b.order = map[string]*[]byte{}, nil
	return err
}
