package ledger

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestViews: the listing shows each entry (damaged ones with the reason),
// the report its problems and tally.
func TestViews(t *testing.T) {
	l, _ := newSigned(t, 2)
	if _, err := l.Append(context.Background(), modelRecord(2), nil); err != nil {
		t.Fatal(err)
	}
	es, _ := l.Entries()
	lines := strings.Split(strings.TrimSpace(Listing(es).String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID  TIME") || !strings.Contains(lines[1], "model  cli  true    "+es[0].Hash[:12]) ||
		!strings.Contains(lines[3], "false") {
		t.Errorf("listing:\n%s", strings.Join(lines, "\n"))
	}
	r, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := "3 entries (key " + r.KeyID[:16] + "…): 2 signed, 0 covered by a later signature, 1 not yet signed; 0 checkpoints; root " + r.Root + "\n"; r.String() != want {
		t.Errorf("report %q, want %q", r, want)
	}
	r.Problems = []*EntryError{{Seq: 1, Reason: "bad"}}
	if !strings.HasPrefix(r.String(), "entry 1: bad\n3 entries") {
		t.Errorf("report with a problem: %q", r)
	}
	damaged := Listing{{Seq: 5, Err: errors.New("torn line")}}.String()
	if !strings.Contains(damaged, "5   -     damaged  -   -       torn line") {
		t.Errorf("damaged entry: %q", damaged)
	}
}

// TestExportFile: the lines as Export writes them and the key as PEM; an
// existing file is refused, and nothing is written without a key.
func TestExportFile(t *testing.T) {
	l, _ := newSigned(t, 2)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	n, k, err := l.ExportFile(path)
	if err != nil || n != 2 {
		t.Fatalf("export: %d %v", n, err)
	}
	var want bytes.Buffer
	l.Export(&want)
	got, _ := os.ReadFile(path)
	pub, _ := os.ReadFile(path + ".pub")
	if pem, _ := k.PublicPEM(); !bytes.Equal(got, want.Bytes()) || !bytes.Equal(pub, pem) {
		t.Errorf("exported %q, key %q", got, pub)
	}
	if _, _, err := l.ExportFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("existing file: %v", err)
	}
	other := filepath.Join(t.TempDir(), "none.jsonl")
	if _, _, err := Open(t.TempDir()).ExportFile(other); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was left: %v", err)
	}
}
