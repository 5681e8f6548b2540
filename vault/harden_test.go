package vault

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// fileBytes reads the vault's database file as it is on disk.
func fileBytes(t *testing.T, v *Vault) []byte {
	t.Helper()
	raw, err := os.ReadFile(v.Path())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// postingValues returns the raw sealed posting lists of the collection.
func postingValues(t *testing.T, v *Vault) [][]byte {
	t.Helper()
	c := mustColl(t, v)
	var out [][]byte
	if err := v.db.View(func(tx *bolt.Tx) error {
		return c.bucket(tx, c.bPost).ForEach(func(_, val []byte) error {
			out = append(out, append([]byte(nil), val...))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVaultRmMakesDataUnreadable(t *testing.T) {
	ctx := context.Background()
	v, _ := newVault(t)
	a, b := addTwo(t, v)
	removed := chunkValue(t, v, a)
	docs, _, _ := v.List(ctx, "")
	postsBefore := postingValues(t, v)
	if !bytes.Contains(fileBytes(t, v), removed) {
		t.Fatal("setup: sealed chunk not in the file")
	}
	if n, err := v.Remove(ctx, "", []string{docs[0].Path}); err != nil || n != 1 {
		t.Fatalf("remove: %d %v", n, err)
	}
	raw := fileBytes(t, v)
	if bytes.Contains(raw, removed) {
		t.Fatal("the removed document's sealed chunk is still in the file")
	}
	// Every posting list of the segment that held it was rewritten: none
	// still names the removed chunk.
	for _, p := range postsBefore {
		if bytes.Contains(raw, p) {
			t.Fatal("a posting list from before the removal is still in the file")
		}
	}
	if r := search(t, v, "apples"); len(r.Results) != 0 {
		t.Fatalf("removed document still found: %+v", r)
	}
	if r := search(t, v, "bananas"); len(r.Results) != 1 || r.Results[0].Chunk != b {
		t.Fatalf("the other document after rm: %+v", r)
	}
	checkIndex(t, v)
}

func TestVaultCompactShrinks(t *testing.T) {
	ctx := context.Background()
	v, dir := newVault(t)
	src := t.TempDir()
	var big strings.Builder
	for i := 0; big.Len() < 1<<20; i++ {
		fmt.Fprintf(&big, "line %d about herons, wading birds and their long legs\n\n", i)
	}
	writeFile(t, filepath.Join(src, "big.txt"), big.String())
	writeFile(t, filepath.Join(src, "small.txt"), "a note about kingfishers\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	// The file is re-indexed with other text: its old chunks are freed
	// but stay in the file until a compaction.
	writeFile(t, filepath.Join(src, "big.txt"), "now only a line about egrets\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fileBytes(t, v), []byte("sov-vault")) {
		t.Fatal("setup: no header in the file")
	}
	// A crashed compaction's leftover is cleaned up.
	stale := filepath.Join(dir, FileName+compactSuffix+"123")
	writeFile(t, stale, "partial")
	res, err := v.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(v.Path())
	if res.After >= res.Before || res.After != fi.Size() || res.Before < 1<<20 || res.After > res.Before/2 {
		t.Fatalf("compact: %+v (file %d)", res, fi.Size())
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale compaction file left: %v", err)
	}
	for _, q := range []string{"egrets", "kingfishers"} {
		if r := search(t, v, q); len(r.Results) != 1 {
			t.Fatalf("%s after compact: %+v", q, r)
		}
	}
	if r := search(t, v, "herons"); len(r.Results) != 0 {
		t.Fatalf("old text after compact: %+v", r)
	}
	// The compacted vault keeps working, and opens again.
	writeFile(t, filepath.Join(src, "more.txt"), "a heron came back\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, v)
	v.Close()
	v2, err := Open(ctx, dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if r := search(t, v2, "heron"); len(r.Results) != 1 {
		t.Fatalf("after re-open: %+v", r)
	}
	// Read-only handles cannot compact.
	v2.Close()
	ro := testOpts()
	ro.ReadOnly = true
	v3, err := Open(ctx, dir, testPass, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer v3.Close()
	if _, err := v3.Compact(ctx); err != ErrReadOnly {
		t.Fatalf("read-only compact: %v", err)
	}
}
