package store

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestViews: the listing marks the default and missing files and is an
// array as JSON (empty: []); Summary and Details show the GGUF facts.
func TestViews(t *testing.T) {
	path, _ := testModel(t)
	s := New(t.TempDir())
	if l, err := s.Listing(""); err != nil || l.String() != "NAME  SIZE  ARCH  PARAMS  QUANT  CONTEXT  CHAT TEMPLATE\n" {
		t.Fatalf("empty listing: %v %q", err, l)
	} else if b, _ := json.Marshal(l); string(b) != "[]" {
		t.Errorf("empty listing as JSON: %s", b)
	}
	ctx := context.Background()
	m, err := s.Pull(ctx, path, PullOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Pull(ctx, path, PullOptions{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(gone.Path)
	if want := "llama, 292.8K parameters, F32, 1.1 MiB (" + m.Path + ")"; m.Summary() != want {
		t.Errorf("summary %q, want %q", m.Summary(), want)
	}
	l, err := s.Listing("a")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(l.String(), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "a (default)       1.1 MiB  llama  292.8K  F32    2048     no") ||
		!strings.HasPrefix(lines[2], "b (file missing)") {
		t.Errorf("listing:\n%s", l)
	}
	b, _ := json.Marshal(l)
	var rows []struct {
		Name    string `json:"name"`
		Default bool   `json:"default"`
		Missing bool   `json:"missing"`
	}
	if err := json.Unmarshal(b, &rows); err != nil || len(rows) != 2 || !rows[0].Default || rows[1].Default || !rows[1].Missing {
		t.Errorf("listing as JSON: %v %s", err, b)
	}
	m, f, err := s.Show("a")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDetails(m, f)
	text := d.String()
	for _, want := range []string{"name           a\n", "architecture   llama\n", "parameters     292.8K (292800)\n", "\n  general.architecture                    \"llama\"\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("details lack %q:\n%s", want, text)
		}
	}
	b, _ = json.Marshal(d)
	var js struct {
		Name     string         `json:"name"`
		Version  uint32         `json:"gguf_version"`
		Tensors  int            `json:"tensors"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal(b, &js); err != nil || js.Name != "a" || js.Version != 3 || js.Tensors == 0 || js.Metadata["general.architecture"] != "llama" {
		t.Errorf("details as JSON: %v %s", err, b)
	}
}
