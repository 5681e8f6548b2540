package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/seal"
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
	// Bucket sequences survive: new chunk ids do not reuse old ones.
	for q, want := range map[string]string{"egrets": "big.txt", "kingfishers": "small.txt", "heron": "more.txt"} {
		if r := search(t, v, q); len(r.Results) != 1 || filepath.Base(r.Results[0].Source) != want {
			t.Fatalf("%s after compact and add: %+v", q, r)
		}
	}
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

// rawHeader returns the header record's bytes as stored.
func rawHeader(t *testing.T, v *Vault) []byte {
	t.Helper()
	var out []byte
	if err := v.db.View(func(tx *bolt.Tx) error {
		out = append([]byte(nil), tx.Bucket(headerBucket).Get(headerKey)...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// openAny reports whether any of keys opens any sealed value in the file
// at path, with the AAD its place in the file gives (bucket path and key),
// as someone who had those keys would try.
func openAny(t *testing.T, path string, keys [][]byte) []string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.db") // path may be open and locked
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cp, string(raw))
	db, err := bolt.Open(cp, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var opened []string
	var walk func(b *bolt.Bucket, name []byte)
	walk = func(b *bolt.Bucket, name []byte) {
		_ = b.ForEach(func(k, val []byte) error {
			if val == nil {
				sub := append(append(append([]byte(nil), name...), '/'), k...)
				walk(b.Bucket(k), sub)
				return nil
			}
			for _, key := range keys {
				if _, err := seal.Open(key, val, aad(name, k)); err == nil {
					opened = append(opened, fmt.Sprintf("%x/%x", name, k))
				}
			}
			return nil
		})
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			walk(b, append([]byte(nil), name...))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return opened
}

func TestVaultPasswdOldPassphraseOpensNothingNew(t *testing.T) {
	ctx := context.Background()
	v, dir := newVault(t)
	addTwo(t, v)
	before := search(t, v, "apples")
	oldHeader := rawHeader(t, v)
	// Every key the old passphrase reaches: the master and the data keys.
	c := mustColl(t, v)
	oldKeys := [][]byte{append([]byte(nil), v.master...), append([]byte(nil), c.dataKey...)}
	if len(openAny(t, v.Path(), oldKeys)) == 0 {
		t.Fatal("setup: the old keys open nothing even before passwd")
	}
	newPass := []byte("a new passphrase")
	if err := v.Passwd(testPass, newPass, nil); err != nil {
		t.Fatal(err)
	}
	after := search(t, v, "apples")
	if len(after.Results) != 1 || after.Results[0].Chunk != before.Results[0].Chunk || after.Results[0].Score != before.Results[0].Score {
		t.Fatalf("search changed by passwd: %+v vs %+v", after.Results, before.Results)
	}
	checkIndex(t, v)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "c.txt"), "charlie cherries are written after the change\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if got := openAny(t, DBPath(dir), oldKeys); len(got) > 0 {
		t.Fatalf("keys of the old passphrase open %d records after passwd: %v", len(got), got)
	}
	// The attack: put the old header back and unlock with the old
	// passphrase. It unlocks, and sees nothing.
	db, err := bolt.Open(DBPath(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(headerBucket).Put(headerKey, oldHeader) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	old, err := Open(ctx, dir, testPass, testOpts())
	if err != nil {
		t.Fatalf("old header, old passphrase: %v", err)
	}
	defer old.Close()
	for _, q := range []string{"cherries", "apples"} {
		if r := search(t, old, q); len(r.Results) != 0 {
			t.Fatalf("old passphrase reads %q: %+v", q, r)
		}
	}
	if docs, _, err := old.List(ctx, ""); len(docs) != 0 {
		t.Fatalf("old passphrase lists %v %v", docs, err)
	}
}

func TestVaultPasswdCompacts(t *testing.T) {
	v, _ := newVault(t)
	addTwo(t, v)
	oldHeader := rawHeader(t, v)
	h, _ := readHeader(v.db)
	if !bytes.Contains(fileBytes(t, v), oldHeader) {
		t.Fatal("setup: header bytes not found in the file")
	}
	if err := v.Passwd(testPass, []byte("a new passphrase"), nil); err != nil {
		t.Fatal(err)
	}
	raw := fileBytes(t, v)
	if bytes.Contains(raw, oldHeader) || bytes.Contains(raw, h.Master) || bytes.Contains(raw, h.KDF.Salt) {
		t.Fatal("the old header is still in the file after passwd")
	}
	if r := search(t, v, "bananas"); len(r.Results) != 1 {
		t.Fatalf("after passwd: %+v", r)
	}
}

// damage flips a bit in the middle of the record at key of the
// collection's bucket bname, as a bad disk would; nil key: the first.
func damage(t *testing.T, v *Vault, bname func(*collection) []byte, key []byte) {
	t.Helper()
	c := mustColl(t, v)
	if err := v.db.Update(func(tx *bolt.Tx) error {
		b := c.bucket(tx, bname(c))
		if key == nil {
			key, _ = b.Cursor().First()
			key = append([]byte(nil), key...)
		}
		val := append([]byte(nil), b.Get(key)...)
		if len(val) == 0 {
			t.Fatalf("no record %x", key)
		}
		val[len(val)/2] ^= 0x10
		return b.Put(key, val)
	}); err != nil {
		t.Fatal(err)
	}
}

func chunks(c *collection) []byte   { return c.bChunks }
func docsOf(c *collection) []byte   { return c.bDocs }
func postings(c *collection) []byte { return c.bPost }

// twoDocs adds a.txt and b.txt and returns their paths and chunk ids.
func twoDocs(t *testing.T, v *Vault) (pa, pb string, a, b uint64) {
	t.Helper()
	a, b = addTwo(t, v)
	docs, _, _ := v.List(context.Background(), "")
	return docs[0].Path, docs[1].Path, a, b
}

func TestVaultVerifyListsDamagedBySourceFile(t *testing.T) {
	ctx := context.Background()
	v, _ := newVault(t)
	pa, pb, a, _ := twoDocs(t, v)
	rep, err := v.Verify(ctx, "")
	if err != nil || rep.Err() != nil || rep.Docs != 2 || rep.Records < 6 {
		t.Fatalf("clean vault: %+v %v", rep, err)
	}
	damage(t, v, chunks, u64(a))
	damage(t, v, docsOf, mustColl(t, v).docKey(pb))
	rep, err = v.Verify(ctx, "")
	if !errors.As(err, new(*DamagedError)) {
		t.Fatal(err)
	}
	want := []DamagedFile{{pa, []string{"chunk " + itoa(a)}}, {pb, []string{"document " + fmt.Sprintf("%x", mustColl(t, v).docKey(pb)[:6])}}}
	if fmt.Sprint(rep.Damaged) != fmt.Sprint(want) || len(rep.Other) != 0 {
		t.Fatalf("verify: %+v, want %+v", rep, want)
	}
	var de *DamagedError
	if !errors.As(rep.Err(), &de) || fmt.Sprint(de.Files) != fmt.Sprint([]string{pa, pb}) {
		t.Fatalf("verify error: %v", rep.Err())
	}
	var out strings.Builder
	rep.Write(&out)
	if !strings.Contains(out.String(), "damaged "+pa+" (chunk") || strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("report: %q", out.String())
	}
	// Index damage names every file with a chunk in the segment.
	v2, _ := newVault(t)
	qa, qb, _, _ := twoDocs(t, v2)
	damage(t, v2, postings, nil)
	rep, _ = v2.Verify(ctx, "")
	if len(rep.Damaged) != 2 || rep.Damaged[0].Path != qa || rep.Damaged[1].Path != qb || !strings.HasPrefix(rep.Damaged[0].Records[0], "postings segment") {
		t.Fatalf("postings damage: %+v", rep)
	}
	// A segment's own record names no file: it is listed apart, and the
	// error says so (re-adding does not repair it).
	if _, err := v2.Verify(ctx, ""); errors.Is(err, ErrUnattributed) {
		t.Fatal("unattributed before any such damage")
	}
	damage(t, v2, func(c *collection) []byte { return c.bSegs }, nil)
	rep, err = v2.Verify(ctx, "")
	if len(rep.Damaged) != 0 || len(rep.Other) != 2 || !strings.HasPrefix(rep.Other[0], "postings segment 1/") || rep.Other[1] != "segment 1" ||
		!errors.Is(err, ErrUnattributed) || err.Error() != "2 damaged record(s) belong to no file" {
		t.Fatalf("segment damage: %+v %v", rep, err)
	}
}

func TestVaultExportSkipsDamaged(t *testing.T) {
	ctx := context.Background()
	v, _ := newVault(t)
	pa, pb, a, _ := twoDocs(t, v)
	damage(t, v, chunks, u64(a))
	id, _ := age.GenerateX25519Identity()
	archive := filepath.Join(t.TempDir(), "out.age")
	n, err := v.ExportFile(ctx, archive, "", id.Recipient())
	var de *DamagedError
	if n != 1 || !errors.As(err, &de) || fmt.Sprint(de.Files) != fmt.Sprint([]string{pa}) || !strings.Contains(err.Error(), pa) {
		t.Fatalf("export: %d %v", n, err)
	}
	// A damaged document record is named too, through its chunks.
	damage(t, v, docsOf, mustColl(t, v).docKey(pb))
	var buf bytes.Buffer
	if n, err := v.Export(ctx, &buf, "", id.Recipient()); n != 0 || !errors.As(err, &de) || fmt.Sprint(de.Files) != fmt.Sprint([]string{pa, pb}) || de.Other != 0 {
		t.Fatalf("export with a damaged document record: %d %v", n, err)
	}
	// The first archive holds the undamaged document, whole.
	w, _ := newVault(t)
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := w.Import(ctx, f, "", id); n != 1 || err != nil {
		t.Fatalf("import: %d %v", n, err)
	}
	if r := search(t, w, "bananas"); len(r.Results) != 1 || r.Results[0].Source != pb {
		t.Fatalf("imported: %+v", r)
	}
}

func TestVaultReaddRepairsDamaged(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(v *Vault, pa string, a uint64)
	}{
		{"chunk", func(v *Vault, _ string, a uint64) { damage(t, v, chunks, u64(a)) }},
		{"document", func(v *Vault, pa string, _ uint64) { damage(t, v, docsOf, mustColl(t, v).docKey(pa)) }},
		{"postings", func(v *Vault, _ string, _ uint64) { damage(t, v, postings, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := newVault(t)
			pa, pb, a, _ := twoDocs(t, v)
			tc.damage(v, pa, a)
			rep, _ := v.Verify(ctx, "")
			var paths []string
			for _, d := range rep.Damaged {
				paths = append(paths, d.Path)
			}
			if len(paths) == 0 {
				t.Fatal("setup: no damage found")
			}
			// Sync only checks for changes; Add of the same files repairs.
			if r, err := v.Sync(ctx, AddOptions{}); err != nil || r.Updated != 0 {
				t.Fatalf("sync: %+v %v", r, err)
			}
			r, err := v.Add(ctx, paths, AddOptions{})
			if err != nil || r.Updated != len(paths) || r.Unchanged != 0 {
				t.Fatalf("re-add: %+v %v", r, err)
			}
			if rep, err := v.Verify(ctx, ""); err != nil || rep.Err() != nil || rep.Docs != 2 {
				t.Fatalf("after re-add: %+v %v", rep, err)
			}
			for q, want := range map[string]string{"apples": pa, "bananas": pb} {
				if r := search(t, v, q); len(r.Results) != 1 || r.Results[0].Source != want || len(r.Warnings) != 0 {
					t.Fatalf("%s after repair: %+v", q, r)
				}
			}
			checkIndex(t, v)
			// Unchanged again now.
			if r, err := v.Add(ctx, []string{pa, pb}, AddOptions{}); err != nil || r.Unchanged != 2 {
				t.Fatalf("second re-add: %+v %v", r, err)
			}
		})
	}
}

// A compaction that runs out of space leaves the vault file as it was,
// usable, and no partial copy. Needs root to mount a size-limited tmpfs.
func TestVaultCompactDiskFull(t *testing.T) {
	dir := smallDisk(t, "4m")
	ctx := context.Background()
	o := testOpts()
	if err := Init(ctx, dir, testPass, o); err != nil {
		t.Fatal(err)
	}
	v, err := Open(ctx, dir, testPass, o)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	src := t.TempDir()
	var b strings.Builder
	for i := 0; b.Len() < 200<<10; i++ {
		fmt.Fprintf(&b, "line %d about herons and the reeds they wade in\n\n", i)
	}
	writeFile(t, filepath.Join(src, "herons.txt"), b.String())
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	// Fill the disk but for a few pages.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*st.Bsize-16<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	before := fileBytes(t, v)
	if _, err := v.Compact(ctx); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("compact on a full disk: %v", err)
	}
	if !bytes.Equal(before, fileBytes(t, v)) {
		t.Fatal("a failed compaction changed the vault file")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, FileName+compactSuffix+"*")); len(left) > 0 {
		t.Fatalf("partial copy left: %v", left)
	}
	if r := search(t, v, "herons"); len(r.Results) == 0 {
		t.Fatal("vault unusable after a failed compaction")
	}
	os.Remove(filler)
	if _, err := v.Compact(ctx); err != nil {
		t.Fatalf("compact once space is back: %v", err)
	}
	if r := search(t, v, "herons"); len(r.Results) == 0 {
		t.Fatal("vault unusable after compaction")
	}
}

// Rotation carries every kind of record: several collections, vectors,
// deleted chunks still listed in a segment.
func TestVaultPasswdKeepsCollectionsAndVectors(t *testing.T) {
	ctx := context.Background()
	emb := conceptEmbedder{map[string]string{"automobile": "car"}}
	v, dir := newVault(t, func(o *Options) { o.Embedder = emb })
	src, work := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "car.txt"), "my car needs new tyres\n")
	writeFile(t, filepath.Join(src, "boat.txt"), "the boat needs paint\n")
	writeFile(t, filepath.Join(work, "memo.txt"), "quarterly budget memo\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Add(ctx, []string{work}, AddOptions{Collection: "work"}); err != nil {
		t.Fatal(err)
	}
	// A re-indexed file leaves its old chunks listed as deleted.
	writeFile(t, filepath.Join(src, "boat.txt"), "the boat needs varnish\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	type hitKey struct {
		src   string
		score float64
	}
	snap := func(v *Vault) map[string][]hitKey {
		out := map[string][]hitKey{}
		for _, q := range []string{"automobile", "boat varnish", "tyres"} {
			for _, r := range search(t, v, q).Results {
				out[q] = append(out[q], hitKey{filepath.Base(r.Source), r.Score})
			}
		}
		r, err := v.Search(ctx, "budget", SearchOptions{K: 5, Collection: "work"})
		if err != nil || len(r.Results) != 1 {
			t.Fatalf("work collection: %+v %v", r, err)
		}
		return out
	}
	before := snap(v)
	if r := search(t, v, "automobile"); r.Mode != ModeHybrid || len(r.Results) == 0 {
		t.Fatalf("setup: %+v", r)
	}
	newPass := []byte("a new passphrase")
	if err := v.Passwd(testPass, newPass, nil); err != nil {
		t.Fatal(err)
	}
	if after := snap(v); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("search after passwd:\n%v\nbefore:\n%v", after, before)
	}
	checkIndex(t, v)
	if rep, err := v.Verify(ctx, "work"); err != nil || rep.Docs != 1 {
		t.Fatalf("verify work: %+v %v", rep, err)
	}
	v.Close()
	o := testOpts()
	o.Embedder = emb
	v2, err := Open(ctx, dir, newPass, o)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if after := snap(v2); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("search after re-open: %v", after)
	}
	if names, _ := v2.Collections(); fmt.Sprint(names) != "[default work]" {
		t.Fatalf("collections: %v", names)
	}
}
