package feeds

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/config"
)

// With applies the [feeds] table and closes the store after fn; Lister
// holds it only while listing; List is never nil and Within is a window
// before the store's clock.
func TestFeedsWithListerAndWindow(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("[feeds]\ngateways = [\"http://127.0.0.1:1\"]\n"), 0o600)
	f, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	var kept *Store
	err = With(dir, f, false, func(s *Store) error {
		kept = s
		src, err := s.AddSource(Source{URL: "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"})
		if err != nil || len(src.Gateway) != 1 {
			t.Fatalf("the [feeds] gateways were not applied: %+v %v", src, err)
		}
		items, err := s.List(ListOptions{})
		if err != nil || items == nil {
			t.Fatalf("an empty store lists %#v, %v (want an empty, non-nil slice)", items, err)
		}
		return errors.New("from fn")
	})
	if err == nil || err.Error() != "from fn" {
		t.Fatalf("fn's error: %v", err)
	}
	if _, err := kept.Sources(); err == nil {
		t.Fatal("the store is still open after With")
	}
	os.WriteFile(p, []byte("[feeds]\nmax_future = \"soon\"\n"), 0o600)
	bad, _ := config.Load(p)
	if err := With(dir, bad, true, func(*Store) error { return nil }); err == nil {
		t.Fatal("a bad [feeds] table was accepted")
	}

	s, err := Open(dir, Options{Now: func() time.Time { return testNow }, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	sk := newKey(t)
	trust(t, s, sk, "A")
	in, _ := s.NewIngester("test")
	if _, err := in.IngestEvents(context.Background(), []*nostr.Event{note(t, sk, "old", testNow.Add(-48*time.Hour)), note(t, sk, "new", testNow.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if items, err := s.List(ListOptions{Within: 24 * time.Hour}); err != nil || len(items) != 1 {
		t.Fatalf("within a day: %d items, %v", len(items), err)
	}
	since := testNow.Add(-72 * time.Hour)
	if items, _ := s.List(ListOptions{Since: since, Within: 24 * time.Hour}); len(items) != 2 {
		t.Fatalf("Since beats Within: %d items", len(items))
	}
	s.Close()
	// Lister opens the store only while it lists: a writer can open it
	// between two listings.
	list := Lister(dir, nil)
	for i := 0; i < 2; i++ {
		if items, err := list(ListOptions{}); err != nil || len(items) != 2 {
			t.Fatalf("lister: %d items, %v", len(items), err)
		}
		w, err := Open(dir, Options{NoSync: true})
		if err != nil {
			t.Fatalf("the lister holds the store: %v", err)
		}
		w.Close()
	}
}

// ExportCARFile selects one author's events; a bad author is ErrBadAuthor.
func TestFeedsExportCARFile(t *testing.T) {
	s := openTestStore(t)
	a, b := newKey(t), newKey(t)
	trust(t, s, a, "A")
	trust(t, s, b, "B")
	in, _ := s.NewIngester("test")
	if _, err := in.IngestEvents(context.Background(), []*nostr.Event{note(t, a, "one", testNow.Add(-time.Hour)), note(t, b, "two", testNow.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "a.car")
	root, n, err := s.ExportCARFile(context.Background(), out, nostr.Npub(a.PublicKey()))
	if err != nil || n != 1 || root == "" {
		t.Fatalf("export: %s %d %v", root, n, err)
	}
	other := openTestStore(t)
	trust(t, other, a, "A")
	f, _ := os.Open(out)
	defer f.Close()
	if c, err := other.ImportCAR(context.Background(), out, f); err != nil || c.Verified != 1 {
		t.Fatalf("import of the export: %+v %v", c, err)
	}
	if _, _, err := s.ExportCARFile(context.Background(), out, "zz"); !errors.Is(err, ErrBadAuthor) {
		t.Fatalf("bad author: %v", err)
	}
}
