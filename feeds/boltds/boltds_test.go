package boltds

import (
	"path/filepath"
	"testing"

	dstest "github.com/ipfs/go-datastore/test"
	bolt "go.etcd.io/bbolt"
)

func openDS(t *testing.T) *Datastore {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "ds.db"), 0o600, &bolt.Options{NoSync: true}) // the suite does thousands of single puts
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d, err := New(db, "blocks")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDatastoreSuite runs go-datastore's own conformance suite (basic
// operations, queries with prefixes/filters/orders/limits, and batching).
func TestDatastoreSuite(t *testing.T) {
	dstest.SubtestAll(t, openDS(t))
}
