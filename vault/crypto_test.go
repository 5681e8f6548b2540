package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/seal"
)

// chunkValue returns the raw sealed bytes of chunk id.
func chunkValue(t *testing.T, v *Vault, id uint64) []byte {
	t.Helper()
	c, err := v.coll("", false)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := v.db.View(func(tx *bolt.Tx) error {
		out = append([]byte(nil), c.bucket(tx, c.bChunks).Get(u64(id))...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out == nil {
		t.Fatalf("no chunk %d", id)
	}
	return out
}

func addTwo(t *testing.T, v *Vault) (a, b uint64) {
	t.Helper()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), "alpha apples are red\n")
	writeFile(t, filepath.Join(src, "b.txt"), "bravo bananas are yellow\n")
	if _, err := v.Add(context.Background(), []string{src}, AddOptions{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	ra, rb := search(t, v, "apples"), search(t, v, "bananas")
	if len(ra.Results) != 1 || len(rb.Results) != 1 {
		t.Fatalf("setup: %+v %+v", ra, rb)
	}
	return ra.Results[0].Chunk, rb.Results[0].Chunk
}

func TestVaultSealRoundTripAndAAD(t *testing.T) {
	key, _ := seal.NewKey()
	ct, err := seal.Seal(key, []byte("secret"), aad([]byte("b1"), []byte("k1")))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := seal.Open(key, ct, aad([]byte("b1"), []byte("k1")))
	if err != nil || string(pt) != "secret" {
		t.Fatalf("round trip: %q %v", pt, err)
	}
	for _, bad := range [][2]string{{"b2", "k1"}, {"b1", "k2"}, {"b1k", "1"}} {
		if _, err := seal.Open(key, ct, aad([]byte(bad[0]), []byte(bad[1]))); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("aad %v accepted", bad)
		}
	}
}

func TestVaultAADSwapRejected(t *testing.T) {
	v, _ := newVault(t)
	a, b := addTwo(t, v)
	va, vb := chunkValue(t, v, a), chunkValue(t, v, b)
	c, _ := v.coll("", false)
	// Swap the two sealed chunks: each is valid ciphertext under the same
	// key, but bound to the other key.
	if err := v.db.Update(func(tx *bolt.Tx) error {
		bk := c.bucket(tx, c.bChunks)
		if err := bk.Put(u64(a), vb); err != nil {
			return err
		}
		return bk.Put(u64(b), va)
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{a, b} {
		_, err := v.Get(context.Background(), "", id)
		var te *TamperError
		if !errors.As(err, &te) || !strings.Contains(te.Record, "chunk") {
			t.Fatalf("swapped chunk %d: %v", id, err)
		}
	}
	r := search(t, v, "apples")
	if len(r.Results) != 0 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "chunk") {
		t.Fatalf("search over swapped chunk: %+v", r)
	}
}

func TestVaultTamperDetection(t *testing.T) {
	ctx := context.Background()
	v, dir := newVault(t)
	a, b := addTwo(t, v)
	val := chunkValue(t, v, a)
	v.Close()
	path := DBPath(dir)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, val)
	if i < 0 || bytes.Index(raw[i+1:], val) >= 0 {
		t.Fatal("sealed chunk not found exactly once in the file")
	}
	raw[i+len(val)/2] ^= 0x01
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err = Open(ctx, dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	r := search(t, v, "apples")
	if len(r.Results) != 0 || len(r.Warnings) != 1 {
		t.Fatalf("tampered chunk returned: %+v", r)
	}
	want := (&TamperError{Record: "chunk " + itoa(a)}).Error()
	if r.Warnings[0] != want {
		t.Fatalf("warning %q, want %q", r.Warnings[0], want)
	}
	// The rest is still readable.
	if r := search(t, v, "bananas"); len(r.Results) != 1 || r.Results[0].Chunk != b {
		t.Fatalf("untampered chunk: %+v", r)
	}
	if docs, warn, err := v.List(ctx, ""); err != nil || len(docs) != 2 || len(warn) != 0 {
		t.Fatalf("list: %v %v %v", docs, warn, err)
	}
	// Removing and re-adding the source repairs it.
	docs, _, _ := v.List(ctx, "")
	if n, err := v.Remove(ctx, "", []string{docs[0].Path}); err != nil || n != 1 {
		t.Fatalf("remove: %d %v", n, err)
	}
	if _, err := v.Add(ctx, []string{docs[0].Path}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := search(t, v, "apples"); len(r.Results) != 1 || len(r.Warnings) != 0 {
		t.Fatalf("after repair: %+v", r)
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestVaultPasswd(t *testing.T) {
	ctx := context.Background()
	v, dir := newVault(t)
	addTwo(t, v)
	h1, _ := readHeader(v.db)
	newPass := []byte("new passphrase")
	if err := v.Passwd([]byte("wrong"), newPass, nil); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("passwd with wrong current passphrase: %v", err)
	}
	fast := seal.FastKDF()
	fast.Salt = []byte("another-salt-16b")
	if err := v.Passwd(testPass, newPass, &fast); err != nil {
		t.Fatal(err)
	}
	h2, _ := readHeader(v.db)
	if bytes.Equal(h1.KDF.Salt, h2.KDF.Salt) || bytes.Equal(h1.Master, h2.Master) {
		t.Fatal("passwd did not re-wrap with a new salt")
	}
	v.Close()
	if _, err := Open(ctx, dir, testPass, testOpts()); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("old passphrase after passwd: %v", err)
	}
	v2, err := Open(ctx, dir, newPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if r := search(t, v2, "apples"); len(r.Results) != 1 {
		t.Fatalf("data after passwd: %+v", r)
	}
}

func TestVaultOpenTimeoutNamesHolder(t *testing.T) {
	_, dir := newVault(t)
	o := testOpts()
	o.OpenTimeout = 50 * time.Millisecond
	_, err := Open(context.Background(), dir, testPass, o)
	if err == nil || !strings.Contains(err.Error(), "in use by this process (pid") {
		t.Fatalf("second open: %v", err)
	}
}

func TestVaultLockAndIdle(t *testing.T) {
	v, dir := newVault(t, func(o *Options) { o.IdleTimeout = time.Second })
	addTwo(t, v)
	time.Sleep(1500 * time.Millisecond)
	if _, err := v.Search(context.Background(), "apples", SearchOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("after idle timeout: %v", err)
	}
	if err := v.Unlock([]byte("nope")); !errors.Is(err, ErrWrongPassphrase) || !v.Locked() {
		t.Fatalf("unlock wrong: %v", err)
	}
	if err := v.Unlock(testPass); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := RequestLock(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Search(context.Background(), "apples", SearchOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("after lock request: %v", err)
	}
}
