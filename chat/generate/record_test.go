package generate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// llm is a model.LLM for the recording wrapper: Chat from fake, Info with
// a real file to hash.
type llm struct {
	model.LLM
	f    *fake
	path string
}

func (m llm) Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	return m.f.Chat(ctx, msgs, s, fn)
}
func (m llm) Info() model.Info { return model.Info{Path: m.path} }

func TestRecordingRecordsDigestsOnly(t *testing.T) {
	dir := t.TempDir()
	weights := filepath.Join(dir, "m.gguf")
	os.WriteFile(weights, []byte("weights"), 0o600)
	l := ledger.Open(filepath.Join(dir, "ledger"))
	var failed []error
	r := &Recording{LLM: llm{f: &fake{text: "the dentist is on Tuesday"}, path: weights}, Ledger: l, Principal: "vault", OnError: func(err error) { failed = append(failed, err) }}
	msgs := []model.Message{{Role: model.RoleUser, Content: "passage: dentist appointment Tuesday 10:00"}}
	out, _, err := r.Chat(context.Background(), msgs, model.Sampling{Temperature: 0.2, Seed: 9, MaxTokens: 64}, func(string) error { return nil })
	if err != nil || out != "the dentist is on Tuesday" || failed != nil {
		t.Fatalf("chat: %q %v %v", out, err, failed)
	}
	es, _ := l.Entries()
	if len(es) != 1 {
		t.Fatalf("%d entries", len(es))
	}
	e := es[0]
	if e.Kind != ledger.KindModel || e.Principal != "vault" || e.Fields["model_sha256"] != ledger.SHA256([]byte("weights")) ||
		e.Fields["seed"] != 9.0 || e.Fields["max_tokens"] != 64.0 || e.Subjects["output"] != ledger.SHA256([]byte(out)) || e.Fields["kept"] != false {
		t.Fatalf("entry %+v", e)
	}
	if strings.Contains(string(e.Line), "dentist") || strings.Contains(string(e.Statement()), "dentist") {
		t.Fatal("content reached the ledger")
	}
	if _, err := l.Blob(e.Subjects["input"]); err == nil {
		t.Fatal("private input was kept")
	}
	// A ledger that cannot be written is reported, and the answer still returned.
	os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o600)
	r.Ledger = ledger.Open(filepath.Join(dir, "blocker", "ledger"))
	if out, _, err := r.Chat(context.Background(), msgs, model.Sampling{}, func(string) error { return nil }); err != nil || out == "" || len(failed) != 1 {
		t.Fatalf("unwritable ledger: %q %v %v", out, err, failed)
	}
}

// TestRecordConversations: final answers are recorded by digest, tokens
// and answers before a model is loaded are not, and wait counts failures.
func TestRecordConversations(t *testing.T) {
	dir := t.TempDir()
	weights := filepath.Join(dir, "m.gguf")
	os.WriteFile(weights, []byte("weights"), 0o600)
	l := ledger.Open(filepath.Join(dir, "ledger"))
	ctx := context.Background()
	// The first event comes before any model is loaded.
	var calls atomic.Int32
	path := func() string {
		if calls.Add(1) == 1 {
			return ""
		}
		return weights
	}
	evs := conversation.NewEvents()
	wait := RecordConversations(ctx, evs, l, nil, "tui", path)
	answer := conversation.Event{Kind: conversation.EventDone, Answer: conversation.Message{Content: "a secret answer"},
		Input: []model.Message{{Role: model.RoleUser, Content: "a secret question"}}}
	evs.Publish(ctx, answer)
	evs.Publish(ctx, conversation.Event{Kind: conversation.EventToken, Text: "a"})
	evs.Publish(ctx, answer)
	evs.Close()
	if n := wait(); n != 0 {
		t.Fatalf("%d failed", n)
	}
	es, _ := l.Entries()
	if len(es) != 1 {
		t.Fatalf("%d entries, want 1", len(es))
	}
	if e := es[0]; e.Principal != "tui" || e.Subjects["output"] != ledger.SHA256([]byte("a secret answer")) || strings.Contains(string(e.Line), "secret") {
		t.Fatalf("entry %s", e.Line)
	}
	// A ledger that cannot be written: counted, never fatal.
	os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o600)
	evs = conversation.NewEvents()
	wait = RecordConversations(ctx, evs, ledger.Open(filepath.Join(dir, "blocker", "ledger")), nil, "tui", path)
	evs.Publish(ctx, answer)
	evs.Close()
	if n := wait(); n != 1 {
		t.Fatalf("%d failed, want 1", n)
	}
}

// TestReplayedErr: identical is no error; otherwise where the bytes differ.
func TestReplayedErr(t *testing.T) {
	e := ledger.Entry{Seq: 4, Subjects: map[string]string{"output": ledger.SHA256([]byte("abc"))}}
	tests := []struct {
		r    Replayed
		want string
	}{
		{Replayed{Entry: e, Output: []byte("abc"), Identical: true, FirstDiff: -1}, "entry 4: identical: 3 bytes, sha256 " + e.Subjects["output"]},
		{Replayed{Entry: e, Output: []byte("abd"), Recorded: []byte("abc"), FirstDiff: 2}, "entry 4: differing bytes from offset 2 (3 bytes recorded, 3 now)"},
		{Replayed{Entry: e, Output: []byte("x"), FirstDiff: -1}, "entry 4: differing bytes: sha256 " + ledger.SHA256([]byte("x")) + ", recorded " + e.Subjects["output"]},
	}
	for _, tt := range tests {
		if err := tt.r.Err(); tt.r.String() != tt.want || (err == nil) != tt.r.Identical || err != nil && !errors.Is(err, ErrDiffers) {
			t.Errorf("%q, %v; want %q", tt.r, err, tt.want)
		}
	}
}
