package model

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

func loadSessions(t testing.TB, m testtool.TestModel, ctxSize, sessions int) *Engine {
	t.Helper()
	e, err := Load(context.Background(), Options{Path: testtool.Model(t, m), ContextSize: ctxSize, Threads: 2, Sessions: sessions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

var batchPrompts = []string{"Once upon a time", "Lily and Tom went to the park", "The little dog", "One day, a girl named Sue"}

type result struct {
	text string
	st   Stats
	err  error
}

// runAll runs one call per prompt at once, each in its own session.
func runAll(e *Engine, prompts []string, s []Sampling, fns []TokenFunc) []result {
	out := make([]result, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		sess := e.NewSession()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fn TokenFunc
			if fns != nil {
				fn = fns[i]
			}
			out[i].text, out[i].st, out[i].err = sess.Complete(context.Background(), p, s[i], fn)
		}()
	}
	wg.Wait()
	return out
}

func same(n int, s Sampling) []Sampling {
	out := make([]Sampling, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// Greedy replies are the same whether a session decodes alone on a
// one-session engine (the single-sequence loop), alone on a batching
// engine, or together with others in one batch.
func TestBatchedGreedyMatchesAlone(t *testing.T) {
	s := Sampling{MaxTokens: 48}
	one := loadTest(t, 512)
	var want []string
	var used []int
	for _, p := range batchPrompts {
		out, st, err := one.NewSession().Complete(context.Background(), p, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, used = append(want, out), append(used, st.ContextUsed)
	}
	e := loadSessions(t, testtool.Stories, 512, len(batchPrompts))
	for i, p := range batchPrompts {
		out, _, err := e.NewSession().Complete(context.Background(), p, s, nil)
		if err != nil || out != want[i] {
			t.Fatalf("alone on the batching engine: %q %v, want %q", out, err, want[i])
		}
	}
	for round := range 3 {
		for i, r := range runAll(e, batchPrompts, same(len(batchPrompts), s), nil) {
			if r.err != nil || r.text != want[i] {
				t.Errorf("round %d prompt %d: %q %v, want %q", round, i, r.text, r.err, want[i])
			}
			if r.st.StopReason != StopMaxTokens && r.st.StopReason != StopEOG {
				t.Errorf("round %d prompt %d: stop %s", round, i, r.st.StopReason)
			}
			// The KV cache keeps the same tokens as the one-sequence loop
			// (at the token limit, all but the last reply token), so a next
			// turn reuses them.
			if r.st.ContextUsed != used[i] {
				t.Errorf("round %d prompt %d: context used %d, alone %d", round, i, r.st.ContextUsed, used[i])
			}
		}
	}
}

// Cancelling one call mid-batch ends it within a token or two and leaves
// the others' replies as they are alone.
func TestBatchedCancelOne(t *testing.T) {
	s := Sampling{MaxTokens: 64, IgnoreEOG: true}
	e := loadSessions(t, testtool.Stories, 512, 3)
	prompts := batchPrompts[:3]
	want := make([]string, len(prompts))
	for i, p := range prompts {
		out, _, err := e.NewSession().Complete(context.Background(), p, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	victim := e.NewSession()
	n := 0
	var vres result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		vres.text, vres.st, vres.err = victim.Complete(ctx, prompts[0], s, func(string) error {
			if n++; n == 5 {
				cancel()
			}
			return nil
		})
	}()
	others := runAll(e, prompts[1:], same(2, s), nil)
	wg.Wait()
	if !errors.Is(vres.err, context.Canceled) || vres.st.StopReason != StopCancelled || vres.st.GeneratedTokens > 7 {
		t.Fatalf("cancelled call: %v %+v", vres.err, vres.st)
	}
	if vres.st.ContextUsed < vres.st.PromptTokens || vres.st.ContextUsed > vres.st.PromptTokens+vres.st.GeneratedTokens {
		t.Fatalf("context used after cancel: %+v", vres.st)
	}
	for i, r := range others {
		if r.err != nil || r.text != want[i+1] {
			t.Errorf("prompt %d beside a cancel: %q %v, want %q", i+1, r.text, r.err, want[i+1])
		}
	}
	// The cancelled session goes on from what it kept.
	out, _, err := victim.Complete(context.Background(), prompts[0], s, nil)
	if err != nil || out != want[0] {
		t.Fatalf("after cancel: %q %v", out, err)
	}
}

// A prompt longer than one step's budget joins while others generate: it
// is decoded in chunks between their tokens, in decodes of its own, so its
// first token is the one it gets alone, and the others' replies are as
// alone. (Its later tokens may differ from alone in the last bits: a
// micro-batch of several sequences attends over the longest one's KV
// window, which changes the order llama.cpp sums in; that shows after some
// tens of tokens beside another ~1,000-token sequence, as in llama-server.)
func TestBatchedLongPromptJoins(t *testing.T) {
	s := Sampling{MaxTokens: 96, IgnoreEOG: true}
	e := loadSessions(t, testtool.Stories, 2048, 3)
	long := strings.Repeat("Lily went to the park with her mom. They saw a big tree and a red ball. ", 40)
	toks, err := e.Tokenize(long, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) <= 2*batchBudget {
		t.Fatalf("the long prompt is only %d tokens", len(toks))
	}
	prompts := []string{batchPrompts[0], batchPrompts[1]}
	want := make([]string, len(prompts))
	for i, p := range prompts {
		if want[i], _, err = e.NewSession().Complete(context.Background(), p, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	first := Sampling{MaxTokens: 1}
	wantFirst, _, err := e.NewSession().Complete(context.Background(), long, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The long prompts start once both others have streamed a token; they
	// are still generating while its chunks are decoded.
	started := make(chan struct{}, 2)
	var once [2]sync.Once
	fns := make([]TokenFunc, 2)
	for i := range fns {
		fns[i] = func(string) error { once[i].Do(func() { started <- struct{}{} }); return nil }
	}
	var wg sync.WaitGroup
	var rest []result
	wg.Add(1)
	go func() { defer wg.Done(); rest = runAll(e, prompts, same(2, s), fns) }()
	<-started
	<-started
	out, st, err := e.NewSession().Complete(context.Background(), long, first, nil)
	if err != nil || out != wantFirst || st.PromptTokens != len(toks) {
		t.Errorf("long prompt beside replies: %q %v %+v, want %q", out, err, st, wantFirst)
	}
	wg.Wait()
	for i, r := range rest {
		if r.err != nil || r.text != want[i] {
			t.Errorf("prompt %d beside the long one: %q %v, want %q", i, r.text, r.err, want[i])
		}
		if r.st.GeneratedTokens != s.MaxTokens {
			t.Errorf("prompt %d: %+v", i, r.st)
		}
	}
}

// Grammar-forced calls with sampling, in parallel: each reply is a
// document of its own grammar, and a seed gives the same reply batched
// as alone.
func TestBatchedGrammars(t *testing.T) {
	e := loadSessions(t, testtool.Stories, 512, 4)
	grammars := []string{`root ::= "yes" | "no"`, `root ::= [0-9] [0-9]? "!"`, `root ::= "a" "b"? "b"? "c"`, `root ::= ("red" | "blue") " " ("cat" | "dog")`}
	valid := []func(string) bool{
		func(s string) bool { return s == "yes" || s == "no" },
		func(s string) bool {
			return len(s) > 1 && strings.HasSuffix(s, "!") && strings.Trim(s[:len(s)-1], "0123456789") == ""
		},
		func(s string) bool {
			return strings.HasPrefix(s, "a") && strings.HasSuffix(s, "c") && strings.Trim(s[1:len(s)-1], "b") == ""
		},
		func(s string) bool {
			f := strings.Fields(s)
			return len(f) == 2 && (f[0] == "red" || f[0] == "blue") && (f[1] == "cat" || f[1] == "dog")
		},
	}
	ss := make([]Sampling, len(grammars))
	prompts := make([]string, len(grammars))
	for i, g := range grammars {
		ss[i] = Sampling{Temperature: 1, Seed: uint32(i + 1), Grammar: g, MaxTokens: 12}
		prompts[i] = batchPrompts[i]
	}
	want := make([]string, len(grammars))
	for i := range grammars {
		out, _, err := e.NewSession().Complete(context.Background(), prompts[i], ss[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out
	}
	for round := range 2 {
		for i, r := range runAll(e, prompts, ss, nil) {
			if r.err != nil || !valid[i](r.text) {
				t.Errorf("round %d grammar %d: %q %v", round, i, r.text, r.err)
			}
			if r.text != want[i] {
				t.Errorf("round %d grammar %d: %q batched, %q alone", round, i, r.text, want[i])
			}
		}
	}
}

// More concurrent calls than sequences wait for one; closing the engine
// under running calls ends them with ErrClosed (or their reply) and no
// call touches the freed context.
func TestBatchedQueueAndClose(t *testing.T) {
	e := loadSessions(t, testtool.Stories, 512, 2)
	s := Sampling{MaxTokens: 24}
	want, _, err := e.NewSession().Complete(context.Background(), batchPrompts[0], s, nil)
	if err != nil {
		t.Fatal(err)
	}
	prompts := make([]string, 6)
	for i := range prompts {
		prompts[i] = batchPrompts[0]
	}
	for i, r := range runAll(e, prompts, same(len(prompts), s), nil) {
		if r.err != nil || r.text != want {
			t.Errorf("call %d of 6 on 2 sequences: %q %v", i, r.text, r.err)
		}
	}
	long := Sampling{MaxTokens: 400, IgnoreEOG: true}
	started := make(chan struct{}, 4)
	fns := make([]TokenFunc, 4)
	for i := range fns {
		var once sync.Once
		fns[i] = func(string) error { once.Do(func() { started <- struct{}{} }); return nil }
	}
	done := make(chan []result)
	go func() { done <- runAll(e, prompts[:4], same(4, long), fns) }()
	<-started
	<-started
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for i, r := range <-done {
		if r.err != nil && !errors.Is(r.err, ErrClosed) {
			t.Errorf("call %d under Close: %v", i, r.err)
		}
	}
	if _, _, err := e.Complete(context.Background(), "x", s, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// A call announced with Session.Expect, or before it has a session with
// Engine.Announce (handed over to Expect once it has one, as the server
// does), is waited for: its prompt and the one already submitted are
// decoded in one batch, and both replies are what they are alone. A
// withdrawn announcement is not waited for.
func TestBatchedExpectGathers(t *testing.T) {
	tests := []struct {
		name string
		// announce announces b's call; the func it returns runs just
		// before the call.
		announce func(e *Engine, b *Session) func()
	}{
		{"Session.Expect", func(e *Engine, b *Session) func() {
			b.Expect()
			return func() {}
		}},
		{"Engine.Announce, then Expect", func(e *Engine, b *Session) func() {
			withdraw := e.Announce()
			return func() {
				b.Expect()
				withdraw()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testExpectGathers(t, tt.announce) })
	}
}

func testExpectGathers(t *testing.T, announce func(e *Engine, b *Session) func()) {
	s := Sampling{MaxTokens: 8}
	e := loadSessions(t, testtool.Stories, 512, 2)
	var want []string
	for _, p := range batchPrompts[:2] {
		out, _, err := e.NewSession().Complete(context.Background(), p, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, out)
	}
	e.mu.Lock()
	e.bat.gatherWait = time.Minute // the second call comes when the test says
	before := e.bat.promptDecodes
	e.mu.Unlock()

	a, b := e.NewSession(), e.NewSession()
	handoff := announce(e, b)
	var got [2]string
	var errs [2]error
	done := make(chan struct{})
	go func() {
		got[0], _, errs[0] = a.Complete(context.Background(), batchPrompts[0], s, nil)
		close(done)
	}()
	// a's prompt waits for b's call: nothing comes out of a meanwhile.
	select {
	case <-done:
		t.Fatal("the first call did not wait for the announced one")
	case <-time.After(200 * time.Millisecond):
	}
	handoff()
	got[1], _, errs[1] = b.Complete(context.Background(), batchPrompts[1], s, nil)
	<-done
	for i := range got {
		if errs[i] != nil || got[i] != want[i] {
			t.Fatalf("call %d: %q %v, alone %q", i, got[i], errs[i], want[i])
		}
	}
	e.mu.Lock()
	decodes := e.bat.promptDecodes - before
	e.mu.Unlock()
	if decodes != 1 {
		t.Fatalf("%d prompt decodes for two prompts that arrived together, want 1", decodes)
	}

	// Withdrawn: the next call goes at once.
	c := e.NewSession()
	c.Expect()()
	t0 := time.Now()
	if _, _, err := a.Complete(context.Background(), batchPrompts[2], s, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 30*time.Second {
		t.Fatalf("a call waited %v for a withdrawn announcement", d)
	}
}
