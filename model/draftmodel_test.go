package model

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// perturbedModel writes a copy of the GGUF at src whose feed-forward
// weights carry deterministic noise of the given relative size: a model
// with the same vocabulary that predicts like src most of the time, as a
// smaller model of the same family does, so a draft model made from it is
// sometimes wrong.
func perturbedModel(t *testing.T, src string, noise float64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	return editedModel(t, src, "draft.gguf", func(name string, w float32) (float32, bool) {
		return w * float32(1+noise*rng.NormFloat64()), strings.HasSuffix(name, "ffn_down.weight")
	})
}

// loadWithDraft loads stories260K with draft as its draft model, drafting
// every draft in full (fixed) so that which rows share a batch does not
// depend on timing.
func loadWithDraft(t *testing.T, draft string) *Engine {
	t.Helper()
	e, err := Load(context.Background(), Options{Path: testtool.Model(t, testtool.Stories), DraftModel: draft, ContextSize: 1024, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.draftOverride = &draftConf{max: draftModelMax, fixed: true}
	return e
}

// checkDraftKV fails unless the draft context holds exactly e.dtoks, a
// start of the model's context.
func checkDraftKV(t *testing.T, e *Engine) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	kv := e.draftKVLen()
	if kv != len(e.dtoks) {
		t.Fatalf("the draft context holds %d tokens, the engine records %d", kv, len(e.dtoks))
	}
	full := append(slices.Clone(e.cache), e.undecoded...)
	if len(e.dtoks) > len(full) || !slices.Equal(e.dtoks, full[:len(e.dtoks)]) {
		t.Fatalf("the draft context's tokens are not a start of the context")
	}
}

func TestDraftModelSameOutput(t *testing.T) {
	stories := testtool.Model(t, testtool.Stories)
	tests := []struct {
		name  string
		draft string
		// exact: the draft model is the model itself, so every drafted
		// token it is sure of is the model's choice.
		exact bool
	}{
		{"the model itself", stories, true},
		{"a perturbed copy", perturbedModel(t, stories, 0.8), false},
	}
	turns := []string{"Once upon a time", "Then the little dog"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := loadWithDraft(t, tt.draft)
			if e.Info().DraftModel == "" {
				t.Fatalf("Info does not name the draft model: %+v", e.Info())
			}
			// A conversation of two turns, with and without the draft
			// model: the second turn reuses both KV caches.
			ctx := context.Background()
			var msgs [2][]Message
			var drafted, accepted int
			for _, turn := range turns {
				var out [2]string
				for i, noDraft := range []bool{false, true} {
					msgs[i] = append(msgs[i], Message{Role: RoleUser, Content: turn})
					reply, st, err := e.Chat(ctx, msgs[i], Sampling{MaxTokens: 80, NoDraft: noDraft}, nil)
					if err != nil {
						t.Fatal(err)
					}
					msgs[i] = append(msgs[i], Message{Role: RoleAssistant, Content: reply})
					out[i] = reply
					if !noDraft {
						drafted += st.Drafted
						accepted += st.DraftAccepted
						checkKV(t, e, st)
						checkDraftKV(t, e)
					} else if st.Drafted != 0 {
						t.Fatalf("drafting off, yet %d tokens drafted", st.Drafted)
					}
				}
				if out[0] != out[1] {
					t.Fatalf("greedy output differs with the draft model:\nwith    %q\nwithout %q", out[0], out[1])
				}
			}
			t.Logf("drafted %d, accepted %d", drafted, accepted)
			if accepted == 0 {
				t.Fatalf("no drafted token accepted (%d drafted)", drafted)
			}
			if !tt.exact && accepted == drafted {
				t.Fatalf("the perturbed draft model was never wrong (%d drafted): the test does not exercise rejection", drafted)
			}
		})
	}
}

func TestDraftModelSampling(t *testing.T) {
	// Seeded sampling sees the same sampler calls with the draft model as
	// without it (a deterministic draft is kept when the sampler picks
	// it), so the reply is the same.
	stories := testtool.Model(t, testtool.Stories)
	e := loadWithDraft(t, perturbedModel(t, stories, 0.3))
	s := Sampling{Temperature: 0.8, TopK: 40, Seed: 7, MaxTokens: 80}
	msgs := []Message{{Role: RoleUser, Content: "Once upon a time"}}
	with, without, st := chatBoth(t, e, msgs, s)
	if with != without {
		t.Fatalf("seeded sampling differs with the draft model:\nwith    %q\nwithout %q", with, without)
	}
	if st.DraftAccepted == 0 {
		t.Fatalf("no drafted token accepted: %+v", st)
	}
}

func TestDraftModelBadInput(t *testing.T) {
	stories := testtool.Model(t, testtool.Stories)
	other := testtool.Model(t, testtool.TinyRandom)
	missing := filepath.Join(t.TempDir(), "nope.gguf")
	tests := []struct {
		name     string
		draft    string
		sessions int
		want     error
		wantMsg  string
	}{
		{"another vocabulary", other, 1, ErrDraftModel, "same family"},
		{"several sessions", stories, 4, ErrDraftModel, "single session"},
		{"a missing file", missing, 1, nil, "nope.gguf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Load(context.Background(), Options{Path: stories, DraftModel: tt.draft, ContextSize: 256, Threads: 1, Sessions: tt.sessions})
			if err == nil {
				e.Close()
				t.Fatal("loaded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q should be one line naming %q", err, tt.wantMsg)
			}
		})
	}
}

func TestDraftModelKeepsItsCache(t *testing.T) {
	// The draft context keeps its KV cache across turns, less the drafted
	// tokens the model rejected. If it kept a rejected one (or lost an
	// accepted one), its scores after the tokens it records would differ
	// from a new context's that decodes those tokens from the start.
	stories := testtool.Model(t, testtool.Stories)
	e := loadWithDraft(t, perturbedModel(t, stories, 0.5))
	ctx := context.Background()
	msgs := []Message{{Role: RoleUser, Content: "Once upon a time"}}
	var drafted, accepted int
	for _, turn := range []string{"The cat", "Then"} {
		reply, st, err := e.Chat(ctx, msgs, Sampling{MaxTokens: 60}, nil)
		if err != nil {
			t.Fatal(err)
		}
		drafted, accepted = drafted+st.Drafted, accepted+st.DraftAccepted
		checkDraftKV(t, e)
		msgs = append(msgs, Message{Role: RoleAssistant, Content: reply}, Message{Role: RoleUser, Content: turn})
	}
	if accepted == drafted {
		t.Fatalf("no drafted token was rejected (%d drafted): nothing to drop", drafted)
	}
	toks := append(slices.Clone(e.dtoks), 1, 2, 3)
	kept, fresh := e.draftLogits(toks, true), e.draftLogits(toks, false)
	worst := 0.0
	for i := range kept {
		worst = max(worst, math.Abs(float64(kept[i]-fresh[i])))
	}
	if worst > 0.05 {
		t.Fatalf("after the %d tokens it records, the draft context's scores differ from a new context's by up to %g", len(e.dtoks), worst)
	}
}

func TestDraftModelAfterPanic(t *testing.T) {
	// A callback that panics ends the reply without the engine recording
	// what the draft context holds; the next reply still starts from a
	// draft cache that holds exactly what the engine records.
	stories := testtool.Model(t, testtool.Stories)
	e := loadWithDraft(t, perturbedModel(t, stories, 0.5))
	msgs := []Message{{Role: RoleUser, Content: "Once upon a time"}}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the callback's panic did not come through")
			}
		}()
		n := 0
		e.Chat(context.Background(), msgs, Sampling{MaxTokens: 60}, func(string) error {
			if n++; n == 30 {
				panic("callback")
			}
			return nil
		})
	}()
	if _, _, err := e.Chat(context.Background(), msgs, Sampling{MaxTokens: 20}, nil); err != nil {
		t.Fatal(err)
	}
	checkDraftKV(t, e)
}
