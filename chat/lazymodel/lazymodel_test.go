package lazymodel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// Nothing is resolved or loaded until a method needs the model, and path
// and load errors come back from that method.
func TestModelLoadsOnFirstUse(t *testing.T) {
	ctx := context.Background()
	errNone := errors.New("no model installed")
	calls := 0
	m := &Model{Path: func() (string, error) { calls++; return "", errNone }}
	if err := m.Close(); err != nil || calls != 0 {
		t.Fatalf("close before use: %v, %d resolutions", err, calls)
	}
	if _, err := m.Embed(ctx, []string{"x"}); !errors.Is(err, errNone) || calls != 1 {
		t.Fatalf("embed: %v after %d resolutions", err, calls)
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(bad, []byte("not a model"), 0o600)
	m = &Model{Path: func() (string, error) { return bad, nil }, What: "chat model"}
	if _, err := m.Answerer(8)(ctx, "sys", "hi", nil); err == nil || !strings.HasPrefix(err.Error(), "load chat model: ") {
		t.Fatalf("bad file: %v", err)
	}
}

func TestModelAnswersAndEmbeds(t *testing.T) {
	path := testtool.Model(t, testtool.Stories)
	ctx := context.Background()
	calls := 0
	m := &Model{Path: func() (string, error) { calls++; return path, nil }}
	defer m.Close()
	var streamed strings.Builder
	text, err := m.Answerer(8)(ctx, "You tell stories.", "Once upon a time", func(p string) error {
		streamed.WriteString(p)
		return nil
	})
	if err != nil || text == "" || streamed.String() != text {
		t.Fatalf("answer %q (streamed %q): %v", text, streamed.String(), err)
	}
	vecs, err := m.Embed(ctx, []string{"a red ball", "a shiny stone"})
	if err != nil || len(vecs) != 2 || len(vecs[0]) == 0 {
		t.Fatalf("embed: %d vectors, %v", len(vecs), err)
	}
	if calls != 1 {
		t.Fatalf("model resolved %d times, want once", calls)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx); err != nil || calls != 2 {
		t.Fatalf("reload after close: %v (%d resolutions)", err, calls)
	}
}
