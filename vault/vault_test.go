package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/seal"
)

var testPass = []byte("correct horse battery staple")

func testOpts() Options {
	k := seal.FastKDF()
	return Options{KDF: &k, OpenTimeout: 200 * time.Millisecond}
}

// newVault creates and opens a vault in a temp dir with cheap KDF params.
func newVault(t testing.TB, mod ...func(*Options)) (*Vault, string) {
	t.Helper()
	dir := t.TempDir()
	o := testOpts()
	for _, m := range mod {
		m(&o)
	}
	ctx := context.Background()
	if err := Init(ctx, dir, testPass, o); err != nil {
		t.Fatal(err)
	}
	v, err := Open(ctx, dir, testPass, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func search(t testing.TB, v *Vault, q string) *Response {
	t.Helper()
	r, err := v.Search(context.Background(), q, SearchOptions{K: 10})
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	return r
}

func TestVaultInitOpenWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := testOpts()
	if _, err := Open(ctx, dir, testPass, o); !errors.Is(err, ErrNotInitialised) {
		t.Fatalf("open before init: %v", err)
	}
	if err := Init(ctx, dir, testPass, o); err != nil {
		t.Fatal(err)
	}
	if err := Init(ctx, dir, testPass, o); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v", err)
	}
	before, _ := os.ReadFile(DBPath(dir))
	_, err := Open(ctx, dir, []byte("wrong"), o)
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if strings.Count(err.Error(), "\n") > 0 {
		t.Fatalf("error is not one line: %q", err)
	}
	after, _ := os.ReadFile(DBPath(dir))
	if !bytes.Equal(before, after) {
		t.Fatal("a wrong passphrase changed the database")
	}
	v, err := Open(ctx, dir, testPass, o)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
}

func TestVaultSmoke(t *testing.T) {
	v, _ := newVault(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "notes.md"), "# Garden\n\nThe tomatoes need water every morning.\n\n# Kitchen\n\nBake sourdough on sunday.\n")
	rep, err := v.Add(context.Background(), []string{src}, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 1 || rep.Chunks != 2 {
		t.Fatalf("report %+v", rep)
	}
	r := search(t, v, "sourdough")
	if len(r.Results) != 1 || r.Results[0].Start != 5 || r.Results[0].End != 7 || r.Results[0].Heading != "Kitchen" {
		t.Fatalf("results %+v", r.Results)
	}
	if r.Mode != ModeLexical {
		t.Fatalf("mode %s", r.Mode)
	}
	_ = fmt.Sprint
	_ = bolt.Options{}
}
