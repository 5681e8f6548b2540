package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// flipLargestValue flips a bit in the largest value of any nested bucket
// of the vault file: with one document of one long chunk, that chunk.
func flipLargestValue(t *testing.T, db string) {
	t.Helper()
	d, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Update(func(tx *bolt.Tx) error {
		var best *bolt.Bucket
		var key, val []byte
		_ = tx.ForEach(func(_ []byte, top *bolt.Bucket) error {
			return top.ForEach(func(k, v []byte) error {
				if v != nil {
					return nil
				}
				sub := top.Bucket(k)
				return sub.ForEach(func(k, v []byte) error {
					if len(v) > len(val) {
						best, key, val = sub, append([]byte(nil), k...), append([]byte(nil), v...)
					}
					return nil
				})
			})
		})
		val[len(val)/2] ^= 0x04
		return best.Put(key, val)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVaultCLIVerify(t *testing.T) {
	home, src := t.TempDir(), t.TempDir()
	vaultInit(t, home)
	doc := filepath.Join(src, "notes"+hostile+".md")
	vaultWrite(t, doc, "zqxverify "+strings.Repeat("a long line of words about kestrels ", 30)+"\n")
	vaultRun(t, home, 0, "add", src)
	r := vaultRun(t, home, 0, "verify")
	if !strings.Contains(r.Stdout, "no damage") {
		t.Fatalf("verify of a sound vault: %q", r.Stdout)
	}
	flipLargestValue(t, filepath.Join(home, "vault", "vault.db"))
	r = vaultRun(t, home, exitRejected, "verify")
	assertTermSafe(t, "verify", r.Stdout+r.Stderr)
	if !strings.Contains(r.Stdout, "damaged ") || !strings.Contains(r.Stdout, "gpj.exe.md (chunk 1)") ||
		!strings.Contains(r.Stderr, "damaged records in 1 file(s)") || !strings.Contains(r.Stderr, "sov vault add PATH") {
		t.Fatalf("verify of a damaged vault:\n%s\n%s", r.Stdout, r.Stderr)
	}
	// Export writes the rest and names what it left out; re-adding repairs.
	archive := filepath.Join(t.TempDir(), "out.age")
	r = vaultRun(t, home, exitRejected, "export", archive)
	if _, err := os.Stat(archive); err != nil || !strings.Contains(r.Stderr, "holds 0 document(s)") {
		t.Fatalf("export of a damaged vault: %v %q", err, r.Stderr)
	}
	r = vaultRun(t, home, 0, "add", doc)
	if !strings.Contains(r.Stdout, "updated 1") {
		t.Fatalf("re-add: %q", r.Stdout)
	}
	vaultRun(t, home, 0, "verify")
	if r := vaultRun(t, home, 0, "search", "zqxverify"); !strings.Contains(r.Stdout, "gpj.exe") {
		t.Fatalf("search after repair: %q", r.Stdout)
	}
}

func TestVaultCLICompact(t *testing.T) {
	home, src := t.TempDir(), t.TempDir()
	vaultInit(t, home)
	vaultWrite(t, filepath.Join(src, "big.md"), strings.Repeat("words about herons and their long legs\n\n", 20000))
	vaultWrite(t, filepath.Join(src, "small.md"), "a note about egrets\n")
	vaultRun(t, home, 0, "add", src)
	vaultWrite(t, filepath.Join(src, "big.md"), "now short\n")
	vaultRun(t, home, 0, "add", src)
	r := vaultRun(t, home, 0, "compact")
	if !strings.Contains(r.Stdout, "vault compacted: ") || !strings.Contains(r.Stdout, " → ") {
		t.Fatalf("compact: %q", r.Stdout)
	}
	if r := vaultRun(t, home, 0, "search", "egrets"); !strings.Contains(r.Stdout, "small.md") {
		t.Fatalf("search after compact: %q", r.Stdout)
	}
}
