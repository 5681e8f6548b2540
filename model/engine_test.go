package model

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// loadTest loads stories260K (see loadModel).
func loadTest(t testing.TB, ctxSize int) *Engine {
	t.Helper()
	return loadModel(t, testtool.Stories, ctxSize)
}

func TestCompleteGreedyLily(t *testing.T) {
	e := loadTest(t, 512)
	var streamed strings.Builder
	out, st, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 40}, func(p string) error {
		streamed.WriteString(p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Lily") {
		t.Fatalf("greedy continuation should mention Lily: %q", out)
	}
	if streamed.String() != out {
		t.Fatalf("streamed %q != returned %q", streamed.String(), out)
	}
	if st.GeneratedTokens == 0 || st.GeneratedTokens > 40 || st.PromptTokens == 0 {
		t.Fatalf("stats %+v", st)
	}
	info := e.Info()
	if info.Architecture != "llama" || info.HasTemplate || info.EmbeddingDim != 64 || info.Backend != "CPU" {
		t.Fatalf("info %+v", info)
	}
}

func TestChatReusesCache(t *testing.T) {
	e := loadTest(t, 1024)
	msgs := []Message{{Role: RoleUser, Content: "Once upon a time"}}
	s := Sampling{MaxTokens: 16}
	var decoded int
	for turn := 0; turn < 5; turn++ {
		reply, st, err := e.Chat(context.Background(), msgs, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if turn > 0 && (st.CachedTokens == 0 || st.PromptTokens > 14) {
			// Only the new user line is decoded: the previous reply keeps
			// the tokens the model generated.
			t.Fatalf("turn %d decoded more than the new message: %+v", turn, st)
		}
		decoded += st.PromptTokens + st.GeneratedTokens
		msgs = append(msgs, Message{Role: RoleAssistant, Content: reply}, Message{Role: RoleUser, Content: "Then she saw a dog."})
	}
	// Each turn decodes only what is new, so the total decoded stays close
	// to the final context rather than growing quadratically.
	final, _, _, err := e.renderTokens(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if decoded > len(final)+8 {
		t.Fatalf("decoded %d tokens for a final context of %d", decoded, len(final))
	}
}

func TestStopStringsAndMaxTokens(t *testing.T) {
	e := loadTest(t, 512)
	out, st, err := e.Complete(context.Background(), "Once upon a time", Sampling{Stop: []string{"Lily"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.StopReason != StopString || strings.Contains(out, "Lily") || !strings.Contains(out, "named") {
		t.Fatalf("stop: %q %+v", out, st)
	}
	// One-byte stop strings only: nothing is held back, and streaming
	// stops at the first of them.
	var streamed strings.Builder
	out, st, err = e.Complete(context.Background(), "Once upon a time", Sampling{Stop: []string{" ", "."}}, func(p string) error {
		streamed.WriteString(p)
		return nil
	})
	if err != nil || st.StopReason != StopString || strings.ContainsAny(out, " .") || streamed.String() != out {
		t.Fatalf("one-byte stops: %q (streamed %q) %+v %v", out, streamed.String(), st, err)
	}
	_, st, err = e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 3}, nil)
	if err != nil || st.StopReason != StopMaxTokens || st.GeneratedTokens != 3 {
		t.Fatalf("max tokens: %+v %v", st, err)
	}
}

func TestCancel(t *testing.T) {
	e := loadTest(t, 2048)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, st, err := e.Complete(ctx, "Once upon a time", Sampling{Temperature: 0.8, Seed: 1}, func(string) error {
		n++
		if n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || st.StopReason != StopCancelled {
		t.Fatalf("want cancelled, got %v %+v", err, st)
	}
	if st.GeneratedTokens > 7 {
		t.Fatalf("generation went on after cancel: %d tokens", st.GeneratedTokens)
	}
	// The context used is reported, and what it holds is kept: the same
	// prompt again decodes nothing new but its last token.
	if st.ContextUsed < st.PromptTokens || st.ContextUsed > st.PromptTokens+st.GeneratedTokens {
		t.Fatalf("context used after cancel: %+v", st)
	}
	_, st2, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 1}, nil)
	if err != nil || st2.CachedTokens != st.PromptTokens-1 {
		t.Fatalf("cache after cancel: %+v %v", st2, err)
	}
	// The engine stays usable after a cancel.
	out, _, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 20}, nil)
	if err != nil || !strings.Contains(out, "Lily") {
		t.Fatalf("after cancel: %q %v", out, err)
	}
}

func TestSamplingSeedsDeterministic(t *testing.T) {
	e := loadTest(t, 512)
	s := Sampling{Temperature: 0.9, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 42, MaxTokens: 24}
	a, _, err := e.Complete(context.Background(), "Once upon a time", s, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := e.Complete(context.Background(), "Once upon a time", s, nil)
	if a != b {
		t.Fatalf("same seed gave %q and %q", a, b)
	}
}

func TestGrammarConstrains(t *testing.T) {
	e := loadTest(t, 512)
	g := `root ::= "yes" | "no"`
	for seed := uint32(1); seed <= 3; seed++ {
		out, _, err := e.Complete(context.Background(), "Once upon a time", Sampling{Temperature: 1, Seed: seed, Grammar: g, MaxTokens: 8}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out != "yes" && out != "no" {
			t.Fatalf("seed %d: %q", seed, out)
		}
	}
	_, _, err := e.Complete(context.Background(), "x", Sampling{Grammar: `root ::= (`}, nil)
	if !errors.Is(err, ErrBadGrammar) {
		t.Fatalf("bad grammar: %v", err)
	}
}

func TestPromptTooLong(t *testing.T) {
	e := loadTest(t, 64)
	long := strings.Repeat("Once upon a time there was a girl. ", 40)
	_, _, err := e.Complete(context.Background(), long, Sampling{}, nil)
	var ce *ContextError
	if !errors.Is(err, ErrPromptTooLong) || !errors.As(err, &ce) || ce.Needed <= ce.Available || strings.Contains(err.Error(), "--") {
		t.Fatalf("want a ContextError with the figures and no CLI flag, got %v", err)
	}
	// A chat that overflows drops its oldest turns instead of failing.
	msgs := []Message{{Role: RoleSystem, Content: "Be kind."}}
	for i := 0; i < 10; i++ {
		msgs = append(msgs, Message{Role: RoleUser, Content: "Once upon a time there was a girl."}, Message{Role: RoleAssistant, Content: "She was happy."})
	}
	msgs = append(msgs, Message{Role: RoleUser, Content: "Then"})
	if _, _, err := e.Chat(context.Background(), msgs, Sampling{MaxTokens: 4}, nil); err != nil {
		t.Fatalf("sliding window: %v", err)
	}
}

func TestEmbedRanks(t *testing.T) {
	e := loadTest(t, 256)
	v, err := e.Embed(context.Background(), []string{"The girl played with her ball in the park.", "Lily played with a ball outside.", "Taxes are due in April."})
	if err != nil {
		t.Fatal(err)
	}
	dot := func(a, b []float32) (s float32) {
		for i := range a {
			s += a[i] * b[i]
		}
		return
	}
	if len(v[0]) != 64 || dot(v[0], v[1]) <= dot(v[0], v[2]) {
		t.Fatalf("related %.3f unrelated %.3f", dot(v[0], v[1]), dot(v[0], v[2]))
	}
}

func TestBadModelFiles(t *testing.T) {
	dir := t.TempDir()
	real, err := os.ReadFile(testtool.Model(t, testtool.Stories))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := append([]byte("GGUF"), []byte(strings.Repeat("\xff\x13garbage", 200))...)
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.gguf"), "not found"},
		{"not gguf", write("a.txt", []byte("hello world, not a model at all")), "not a GGUF"},
		{"truncated", write("t.gguf", real[:1000]), "truncated"},
		{"garbage", write("g.gguf", garbage), "GGUF"},
		{"directory", dir, "directory"},
		{"empty", "", "no model file given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			e, err := Load(ctx, Options{Path: tt.path})
			if err == nil {
				e.Close()
				t.Fatal("want error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q should mention %q", err, tt.want)
			}
			// Callers add their own hints; the engine names no flag or command.
			if strings.Contains(err.Error(), "--") || strings.Contains(err.Error(), "sov ") {
				t.Errorf("error %q names a flag or command", err)
			}
		})
	}
}

// TestChatEditedReply: when the caller changes the previous reply, the
// engine cannot keep the generated tokens and re-tokenizes the text.
func TestChatEditedReply(t *testing.T) {
	e := loadTest(t, 1024)
	msgs := []Message{{Role: RoleUser, Content: "Once upon a time"}}
	s := Sampling{MaxTokens: 16}
	reply, first := mustChat(t, e, msgs, s)
	msgs = append(msgs, Message{Role: RoleAssistant, Content: "Edited: " + reply}, Message{Role: RoleUser, Content: "Then she saw a dog."})
	_, st := mustChat(t, e, msgs, s)
	if st.CachedTokens > first.PromptTokens+first.GeneratedTokens || st.PromptTokens < 4 {
		t.Fatalf("edited reply: %+v after %+v", st, first)
	}
	want, _, _, err := e.renderTokens(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.cache[:len(want)]; !slices.Equal(got, want) {
		t.Fatalf("cache does not start with the re-tokenized conversation")
	}
}

// TestRunAheadStop: a slow callback lets the C token loop run ahead of Go
// until the ring is full; a stop string found late must drop the tokens
// sampled after it from the KV cache, so a follow-up on the same engine
// matches the same follow-up on a fresh one.
func TestRunAheadStop(t *testing.T) {
	a := loadTest(t, 512)
	var pieces int
	out, st, err := a.Complete(context.Background(), "Once upon a time", Sampling{Stop: []string{"Lily"}}, func(string) error {
		pieces++
		time.Sleep(3 * time.Millisecond) // far slower than a stories260K token
		return nil
	})
	if err != nil || st.StopReason != StopString || strings.Contains(out, "Lily") {
		t.Fatalf("stop: %q %+v %v", out, st, err)
	}
	if st.ContextUsed != st.PromptTokens+st.GeneratedTokens {
		t.Fatalf("context holds %d tokens, want prompt %d + generated %d", st.ContextUsed, st.PromptTokens, st.GeneratedTokens)
	}
	if got := a.kvPosMax(); got != len(a.cache)-1 {
		t.Fatalf("KV cache ends at position %d, the engine records %d tokens", got, len(a.cache))
	}
	if pieces <= st.GeneratedTokens/2 {
		t.Fatalf("only %d pieces for %d tokens", pieces, st.GeneratedTokens)
	}
	follow := "Once upon a time" + out + "Lily and her dog"
	s := Sampling{MaxTokens: 24}
	got, st2, err := a.Complete(context.Background(), follow, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st2.CachedTokens == 0 {
		t.Fatalf("follow-up reused nothing: %+v", st2)
	}
	b := loadTest(t, 512)
	want, _, err := b.Complete(context.Background(), follow, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("follow-up after a run-ahead stop differs from a fresh engine:\n got %q\nwant %q", got, want)
	}
}

// TestSlowConsumer: with a callback slower than generation the ring fills
// and the loop waits for Go; every token still arrives, in order.
func TestSlowConsumer(t *testing.T) {
	e := loadTest(t, 512)
	want, _, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 60}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	got, st, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 60}, func(p string) error {
		sb.WriteString(p)
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil || got != want || sb.String() != want || st.GeneratedTokens != 60 {
		t.Fatalf("slow consumer: %q (streamed %q) %+v %v, want %q", got, sb.String(), st, err, want)
	}
}

// TestSnapshotRestore backs the multi-turn benchmark: a restored KV cache
// continues the conversation exactly as the original would, decoding only
// the new message.
func TestSnapshotRestore(t *testing.T) {
	e := loadTest(t, 1024)
	msgs := []Message{{Role: RoleUser, Content: "Once upon a time"}}
	s := Sampling{MaxTokens: 16}
	reply, _ := mustChat(t, e, msgs, s)
	msgs = append(msgs, Message{Role: RoleAssistant, Content: reply}, Message{Role: RoleUser, Content: "Then she saw a dog."})
	snap, err := e.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want, wantSt := mustChat(t, e, msgs, s)
	e.resetCache()
	mustChat(t, e, msgs[:1], s)
	if err := e.restore(snap); err != nil {
		t.Fatal(err)
	}
	if got := e.kvPosMax(); got != len(snap.cache)-1 {
		t.Fatalf("restored KV cache ends at %d, want %d", got, len(snap.cache)-1)
	}
	got, st := mustChat(t, e, msgs, s)
	if got != want || st.PromptTokens != wantSt.PromptTokens || st.CachedTokens != wantSt.CachedTokens {
		t.Fatalf("after restore: %q %+v, want %q %+v", got, st, want, wantSt)
	}
}

// mustChat runs one turn without a callback and fails the test on error.
func mustChat(t *testing.T, e *Engine, msgs []Message, s Sampling) (string, Stats) {
	t.Helper()
	reply, st, err := e.Chat(context.Background(), msgs, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reply, st
}
