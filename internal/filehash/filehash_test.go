package filehash

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSHA256Memo(t *testing.T) {
	dir := t.TempDir()
	f, memo := filepath.Join(dir, "model.gguf"), filepath.Join(dir, "memo", "models.json")
	os.WriteFile(f, []byte("weights v1"), 0o600)
	got, err := SHA256(f, memo)
	if err != nil || got != sha256.Sum256([]byte("weights v1")) {
		t.Fatalf("first hash: %x %v", got, err)
	}
	if _, err := os.Stat(memo); err != nil {
		t.Fatalf("memo not written: %v", err)
	}
	// A changed file (new size and mtime) is hashed again, not served from the memo.
	os.WriteFile(f, []byte("weights v2, longer"), 0o600)
	os.Chtimes(f, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	if got, _ := SHA256(f, memo); got != sha256.Sum256([]byte("weights v2, longer")) {
		t.Fatalf("changed file: %x", got)
	}
	// A damaged memo is rebuilt.
	os.WriteFile(memo, []byte("{not json"), 0o600)
	if got, err := SHA256(f, memo); err != nil || got != sha256.Sum256([]byte("weights v2, longer")) {
		t.Fatalf("damaged memo: %x %v", got, err)
	}
	if _, err := SHA256(filepath.Join(dir, "missing"), memo); err == nil {
		t.Fatal("missing file hashed")
	}
}
