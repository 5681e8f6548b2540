package generate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
