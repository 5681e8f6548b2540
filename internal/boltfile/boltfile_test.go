package boltfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// newDB writes a real bbolt file with a few transactions and returns its
// path, page size and the size its meta page claims (pgid × page size).
func newDB(t *testing.T) (string, int, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte{byte(i)}, make([]byte, 20000)) // overflow pages: a file of several pages
		}); err != nil {
			t.Fatal(err)
		}
	}
	ps := db.Info().PageSize
	var used int64
	if err := db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, ps, used
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCheckDamaged(t *testing.T) {
	_, _, used := newDB(t)                                             // every newDB has the same layout
	const magicAt, checksummedAt = pageHeaderSize, pageHeaderSize + 40 // magic; pgid, covered by the checksum
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string, ps int)
		damaged bool
		opens   bool // bbolt opens it (and may read it) after Check passes
	}{
		{"intact", func(*testing.T, string, int) {}, false, true},
		{"missing", func(t *testing.T, p string, _ int) { os.Remove(p) }, false, true},
		{"empty", func(t *testing.T, p string, _ int) { os.Truncate(p, 0) }, false, true},
		{"half", func(t *testing.T, p string, _ int) { os.Truncate(p, used/2) }, true, false},
		{"one byte short", func(t *testing.T, p string, _ int) { os.Truncate(p, used-1) }, true, false},
		{"exactly its pages", func(t *testing.T, p string, _ int) { os.Truncate(p, used) }, false, true},
		{"one page", func(t *testing.T, p string, ps int) { os.Truncate(p, int64(ps)) }, true, false},
		{"two pages and a bit", func(t *testing.T, p string, ps int) { os.Truncate(p, int64(2*ps+100)) }, true, false},
		{"a few bytes", func(t *testing.T, p string, _ int) { os.Truncate(p, 40) }, true, false},
		{"meta 0 magic", func(t *testing.T, p string, _ int) { flip(t, p, magicAt) }, false, true},
		{"meta 1 checksum", func(t *testing.T, p string, ps int) { flip(t, p, int64(ps)+checksummedAt) }, false, true},
		{"both metas", func(t *testing.T, p string, ps int) {
			flip(t, p, checksummedAt)
			flip(t, p, int64(ps)+magicAt)
		}, true, false},
		{"meta 0 broken and truncated", func(t *testing.T, p string, ps int) {
			flip(t, p, magicAt)
			os.Truncate(p, int64(3*ps))
		}, true, false},
		{"not bbolt", func(t *testing.T, p string, _ int) { os.WriteFile(p, make([]byte, 8192), 0o600) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, ps, _ := newDB(t)
			tt.damage(t, path, ps)
			err := Check(path)
			var de *DamagedError
			if got := errors.As(err, &de); got != tt.damaged || got != errors.Is(err, ErrDamaged) {
				t.Fatalf("Check = %v, want damaged %v", err, tt.damaged)
			}
			if !tt.damaged && err != nil {
				t.Fatalf("Check = %v", err)
			}
			if tt.damaged && de.Path != path {
				t.Fatalf("Path = %q, want %q", de.Path, path)
			}
			if !tt.opens {
				return
			}
			// What Check passes, bbolt must open and read in full.
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatalf("bolt.Open after Check passed: %v", err)
			}
			defer db.Close()
			if err := db.View(func(tx *bolt.Tx) error {
				for err := range tx.Check() {
					return err
				}
				return nil
			}); err != nil {
				t.Fatalf("bbolt check: %v", err)
			}
		})
	}
}
