package model

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// copyPassage is a passage a copy-heavy prompt asks the model to repeat.
const copyPassage = "The lighthouse keeper climbed the spiral stairs every evening at dusk. He trimmed the wick, polished the great lens, and wound the clockwork that turned the light. Ships far out at sea saw the beam sweep across the water every ten seconds, and they knew the rocks were near."

// copyMessages asks the model to quote copyPassage back.
func copyMessages() []Message {
	return []Message{
		{Role: RoleSystem, Content: "You repeat text exactly as given."},
		{Role: RoleUser, Content: "Repeat this passage word for word:\n\n" + copyPassage},
	}
}

func TestDraftFind(t *testing.T) {
	tests := []struct {
		name       string
		hist       []int32
		minN, maxK int
		want       []int32
	}{
		{"no earlier occurrence", []int32{1, 2, 3, 4}, 1, 8, nil},
		{"unigram", []int32{5, 6, 7, 5}, 1, 8, []int32{6, 7, 5}},
		{"unigram below the minimum", []int32{5, 6, 7, 5}, 2, 8, nil},
		{"longest n-gram wins over a more recent shorter one", []int32{1, 2, 9, 8, 3, 2, 7, 1, 2}, 1, 2, []int32{9, 8}},
		{"most recent among equal lengths", []int32{1, 2, 10, 1, 2, 11, 1, 2}, 2, 1, []int32{11}},
		{"draft stops at maxK", []int32{1, 2, 3, 4, 5, 6, 1, 2}, 2, 3, []int32{3, 4, 5}},
		{"draft stops at the end of the history", []int32{1, 2, 1, 2}, 2, 8, []int32{1, 2}},
		{"one token", []int32{1}, 1, 8, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := draftFind(tt.hist, tt.minN, tt.maxK)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("draftFind(%v, %d, %d) = %v, want %v", tt.hist, tt.minN, tt.maxK, got, tt.want)
			}
		})
	}
}

func TestDraftLen(t *testing.T) {
	tests := []struct {
		name          string
		first, row    float32 // what 1 drafted row adds to a step, and each further one
		ok, miss      float32
		m, match, min int
		max           int
	}{
		{"free rows: the whole draft", 0, 0, 9, 1, 10, 4, 10, 10},
		{"cheap rows, drafts right: long", 0.05, 0.05, 19, 1, 10, 4, 6, 10},
		{"cheap rows, drafts wrong: none", 0.3, 0.3, 1, 19, 10, 2, 0, 0},
		{"rows as dear as a step: none", 1, 1, 19, 1, 10, 4, 0, 0},
		{"middling: a few", 0.25, 0.25, 4, 1, 10, 3, 1, 6},
		{"never more than drafted", 0, 0, 9, 1, 3, 4, 3, 3},
		// The shape measured on two cores: the first row dear, the rest
		// cheaper. A quote pays with a long draft even though one row
		// alone would not.
		{"dear first row, quoting: long", 0.72, 0.38, 19, 1, 10, 8, 5, 10},
		{"dear first row, chat: none", 0.72, 0.38, 1, 1, 10, 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := draftLen(tt.first, tt.row, tt.ok, tt.miss, tt.m, tt.match); got < tt.min || got > tt.max {
				t.Fatalf("draft length %d, want %d to %d", got, tt.min, tt.max)
			}
		})
	}
}

// fixedDrafts makes e verify every draft in full: which rows share a batch
// then does not depend on the machine's timing, so tests are repeatable.
// engineKinds are the two generation loops that draft: the
// single-sequence one (one session) and the batch loop (a reply
// generating alone on an engine of several sessions).
var engineKinds = []struct {
	name     string
	sessions int
}{{"one session", 1}, {"two sessions", 2}}

// forEachKind runs test on each of engineKinds.
func forEachKind(t *testing.T, test func(t *testing.T, sessions int)) {
	for _, kind := range engineKinds {
		t.Run(kind.name, func(t *testing.T) { test(t, kind.sessions) })
	}
}

func fixedDrafts(e *Engine) *Engine {
	e.draftOverride = &draftConf{max: draftMax, minN: draftMinNgram, fixed: true}
	return e
}

// chatBoth runs msgs with and without drafting, each from an empty cache.
func chatBoth(t *testing.T, e *Engine, msgs []Message, s Sampling) (with, without string, st Stats) {
	t.Helper()
	ctx := context.Background()
	off := s
	off.NoDraft = true
	e.mu.Lock()
	e.resetCache()
	e.mu.Unlock()
	without, stOff, err := e.Chat(ctx, msgs, off, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stOff.Drafted != 0 || stOff.DraftAccepted != 0 {
		t.Fatalf("drafting off, yet the stats count drafts: %+v", stOff)
	}
	e.mu.Lock()
	e.resetCache()
	e.mu.Unlock()
	with, st, err = e.Chat(ctx, msgs, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return with, without, st
}

func TestDraftGreedySameOutput(t *testing.T) {
	tests := []struct {
		name  string
		model testtool.TestModel
		msgs  []Message
		copy  bool // copy-heavy: drafts must be accepted
	}{
		{"SmolLM2 copy", testtool.Chat, copyMessages(), true},
		// Rows decoded in a batch differ from single rows in the last bits
		// on SmolLM2 (Q4_1), which flips close choices on some prompts
		// ("Why is the sky blue?" after 90 tokens): these two are stable.
		{"SmolLM2 chat", testtool.Chat, []Message{{Role: RoleUser, Content: "Explain what a compiler does in two sentences."}}, false},
		{"SmolLM2 haiku", testtool.Chat, []Message{{Role: RoleUser, Content: "Write a haiku about the sea."}}, false},
		{"stories copy", testtool.Stories, []Message{{Role: RoleUser, Content: "Lily saw a big dog. Lily saw a big dog. Lily saw a big dog. Lily saw a big"}}, true},
		{"stories plain", testtool.Stories, []Message{{Role: RoleUser, Content: "Once upon a time"}}, false},
	}
	for _, kind := range engineKinds {
		engines := map[testtool.TestModel]*Engine{}
		for _, tt := range tests {
			if engines[tt.model] == nil {
				engines[tt.model] = fixedDrafts(loadSessions(t, tt.model, 2048, kind.sessions))
			}
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				e := engines[tt.model]
				with, without, st := chatBoth(t, e, tt.msgs, Sampling{MaxTokens: 120})
				if with != without {
					t.Fatalf("greedy output differs with drafting:\nwith    %q\nwithout %q", with, without)
				}
				if tt.copy && st.DraftAccepted == 0 {
					t.Fatalf("no draft token accepted on a copy-heavy prompt: %+v", st)
				}
				checkKV(t, e, st)
				t.Logf("%d tokens, drafted %d, accepted %d", st.GeneratedTokens, st.Drafted, st.DraftAccepted)
			})
		}
	}
}

// checkKV fails unless the KV cache holds exactly the tokens the engine
// thinks it does: rejected draft rows must be gone.
func checkKV(t *testing.T, e *Engine, st Stats) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if kv := e.kvLen(); kv != len(e.cache) || st.ContextUsed != len(e.cache) {
		t.Fatalf("KV cache holds %d tokens, the engine records %d, Stats.ContextUsed %d", kv, len(e.cache), st.ContextUsed)
	}
}

func TestDraftSamplingSameOutput(t *testing.T) { forEachKind(t, testDraftSamplingSameOutput) }

func testDraftSamplingSameOutput(t *testing.T, sessions int) {
	// The sampler chain sees the same calls with and without drafting, so
	// with the same seed the reply is the same (stories260K computes in
	// F32, where batched rows match single ones).
	e := fixedDrafts(loadSessions(t, testtool.Stories, 2048, sessions))
	msgs := []Message{{Role: RoleUser, Content: "Lily saw a big dog. Lily saw a big dog. Lily saw a big dog. Lily saw a big"}}
	for _, s := range []Sampling{
		{Temperature: 0.8, Seed: 7, MaxTokens: 100},
		{Temperature: 0.5, TopK: 20, TopP: 0.9, Seed: 3, MaxTokens: 100},
		{RepeatPenalty: 1.1, MaxTokens: 100},
	} {
		with, without, st := chatBoth(t, e, msgs, s)
		if with != without {
			t.Fatalf("%+v: output differs with drafting:\nwith    %q\nwithout %q", s, with, without)
		}
		if st.DraftAccepted == 0 {
			t.Fatalf("%+v: no draft accepted: %+v", s, st)
		}
		checkKV(t, e, st)
	}
}

func TestDraftGrammarSameOutput(t *testing.T) { forEachKind(t, testDraftGrammarSameOutput) }

func testDraftGrammarSameOutput(t *testing.T, sessions int) {
	// The grammar sampler takes the rows in order and accepts each token
	// it chooses, as without drafting: on stories260K (exact F32 rows)
	// the reply is the same.
	e := fixedDrafts(loadSessions(t, testtool.Stories, 2048, sessions))
	prompt := "Lily saw a big dog. Lily saw a big dog. Lily saw a big"
	g := `root ::= (" Lily" | " saw" | " a" | " big" | " dog" | " cat" | "." | " The")+`
	ctx := context.Background()
	var outs [2]string
	var st Stats
	for i, noDraft := range []bool{true, false} {
		e.mu.Lock()
		e.resetCache()
		e.mu.Unlock()
		var err error
		outs[i], st, err = e.Complete(ctx, prompt, Sampling{Grammar: g, MaxTokens: 80, NoDraft: noDraft}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if outs[0] != outs[1] {
		t.Fatalf("output under a grammar differs with drafting:\nwith    %q\nwithout %q", outs[1], outs[0])
	}
	if st.DraftAccepted == 0 {
		t.Fatalf("no draft accepted under a grammar: %+v", st)
	}
	checkKV(t, e, st)
}

func TestDraftJSON(t *testing.T) { forEachKind(t, testDraftJSON) }

func testDraftJSON(t *testing.T, sessions int) {
	// SmolLM2 quoting a passage as JSON: drafts are accepted and the
	// output is valid JSON for the schema (JSON validates it). Its Q4_1
	// rows differ from single ones in the last bits, which may change a
	// close choice, so the text is not compared here.
	e := fixedDrafts(loadSessions(t, testtool.Chat, 2048, sessions))
	schema, err := CompileSchema([]byte(`{"type":"object","properties":{"quote":{"type":"string"}},"required":["quote"]}`))
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Role: RoleUser, Content: "Answer in JSON with the passage below in the field quote, word for word.\n\n" + copyPassage}}
	out, st, err := e.JSON(context.Background(), msgs, schema, Sampling{MaxTokens: 150}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.DraftAccepted == 0 || !strings.Contains(string(out), "polished the great lens") {
		t.Fatalf("no draft accepted under a grammar: %s %+v", out, st)
	}
	checkKV(t, e, st)
}

// TestDraftLimits ends replies inside accepted drafts (a stop string, the
// token limit, a cancel, a failing callback): each ends exactly where it
// ends without drafting, streams what it returns, and leaves the KV
// cache holding what the engine records, so the next call continues
// correctly.
func TestDraftLimits(t *testing.T) { forEachKind(t, testDraftLimits) }

func testDraftLimits(t *testing.T, sessions int) {
	e := fixedDrafts(loadSessions(t, testtool.Chat, 2048, sessions))
	msgs := copyMessages()
	ctx := context.Background()
	ref, refSt, err := e.Chat(ctx, msgs, Sampling{MaxTokens: 80, NoDraft: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ref, "polished the great lens") {
		t.Skipf("the model does not quote the passage: %q", ref)
	}
	errStop := errors.New("enough")
	tests := []struct {
		name string
		s    Sampling
		// stopAfter > 0: the callback cancels (or fails) after that many pieces.
		stopAfter int
		fail      bool
		want      func(t *testing.T, out string, st Stats, err error)
	}{
		{name: "stop string", s: Sampling{Stop: []string{"great lens"}}, want: func(t *testing.T, out string, st Stats, err error) {
			if err != nil || st.StopReason != StopString || out != ref[:strings.Index(ref, "great lens")] {
				t.Fatalf("got %q %+v %v", out, st, err)
			}
		}},
		{name: "max tokens", s: Sampling{MaxTokens: 23}, want: func(t *testing.T, out string, st Stats, err error) {
			if err != nil || st.StopReason != StopMaxTokens || st.GeneratedTokens != 23 {
				t.Fatalf("got %q %+v %v", out, st, err)
			}
		}},
		{name: "max tokens odd", s: Sampling{MaxTokens: 37}, want: func(t *testing.T, out string, st Stats, err error) {
			if err != nil || st.StopReason != StopMaxTokens || st.GeneratedTokens != 37 {
				t.Fatalf("got %q %+v %v", out, st, err)
			}
		}},
		{name: "cancel", stopAfter: 20, want: func(t *testing.T, out string, st Stats, err error) {
			if !errors.Is(err, context.Canceled) || st.StopReason != StopCancelled || !strings.HasPrefix(ref, out) {
				t.Fatalf("got %q %+v %v", out, st, err)
			}
		}},
		{name: "callback error", stopAfter: 20, fail: true, want: func(t *testing.T, out string, st Stats, err error) {
			if !errors.Is(err, errStop) || !strings.HasPrefix(ref, out) {
				t.Fatalf("got %q %+v %v", out, st, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var results [2]string
			for i, noDraft := range []bool{true, false} {
				e.mu.Lock()
				e.resetCache()
				e.mu.Unlock()
				cctx, cancel := context.WithCancel(ctx)
				var streamed strings.Builder
				pieces := 0
				s := tt.s
				if s.MaxTokens == 0 {
					s.MaxTokens = refSt.GeneratedTokens
				}
				s.NoDraft = noDraft
				out, st, err := e.Chat(cctx, msgs, s, func(p string) error {
					streamed.WriteString(p)
					pieces++
					if tt.stopAfter > 0 && pieces == tt.stopAfter {
						if tt.fail {
							return errStop
						}
						cancel()
					}
					return nil
				})
				cancel()
				tt.want(t, out, st, err)
				if streamed.String() != out {
					t.Fatalf("streamed %q, returned %q", streamed.String(), out)
				}
				if !noDraft && st.DraftAccepted == 0 {
					t.Fatalf("no draft accepted: %+v", st)
				}
				checkKV(t, e, st)
				// The next call reuses the cache and goes on as without drafting.
				msgs2 := append(slices.Clone(msgs), Message{Role: RoleAssistant, Content: out}, Message{Role: RoleUser, Content: "Again."})
				next, _, err := e.Chat(ctx, msgs2, Sampling{MaxTokens: 20, NoDraft: true}, nil)
				if err != nil {
					t.Fatal(err)
				}
				results[i] = out + "|" + next
			}
			if results[0] != results[1] {
				t.Fatalf("differs with drafting:\nwith    %q\nwithout %q", results[1], results[0])
			}
		})
	}
}

func TestDraftWhenOthersEnd(t *testing.T) {
	// A reply that generated together with another drafts once the other
	// ends, and is the same as alone without drafting: the same text and
	// the same tokens left in the KV cache (Stats.ContextUsed).
	e := fixedDrafts(loadSessions(t, testtool.Stories, 2048, 2))
	prompt := "Lily saw a big dog. Lily saw a big dog. Lily saw a big dog. Lily saw a big"
	s := Sampling{MaxTokens: 100}
	off := s
	off.NoDraft = true
	want, wantSt, err := e.NewSession().Complete(context.Background(), prompt, off, nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		rs := runAll(e, []string{"Once upon a time", prompt}, []Sampling{{MaxTokens: 4 + 8*round}, s}, nil)
		r := rs[1]
		if rs[0].err != nil || r.err != nil || r.text != want {
			t.Fatalf("round %d: %q %v (other: %v), alone without drafting %q", round, r.text, r.err, rs[0].err, want)
		}
		if r.st.DraftAccepted == 0 {
			t.Fatalf("round %d: no draft accepted (%d drafted)", round, r.st.Drafted)
		}
		if r.st.ContextUsed != wantSt.ContextUsed || r.st.GeneratedTokens != wantSt.GeneratedTokens {
			t.Fatalf("round %d: context used %d, %d tokens; alone %d, %d", round, r.st.ContextUsed, r.st.GeneratedTokens, wantSt.ContextUsed, wantSt.GeneratedTokens)
		}
	}
}
