package coder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/scripted"
)

// script answers each call with the next scripted model's pieces (the last
// one repeats) and remembers every call.
type script struct {
	models []*scripted.Model
	calls  [][]model.Message
}

func replies(rs ...string) *script {
	s := &script{}
	for _, r := range rs {
		// Pieces split at line ends, as a model streams.
		s.models = append(s.models, &scripted.Model{Pieces: strings.SplitAfter(r, "\n")})
	}
	return s
}

func (s *script) Chat(ctx context.Context, msgs []model.Message, sm model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	s.calls = append(s.calls, append([]model.Message(nil), msgs...))
	m := s.models[min(len(s.calls), len(s.models))-1]
	text, st, err := m.Chat(ctx, msgs, sm, fn)
	st.PromptTokens = 100
	return text, st, err
}

// tests passes code that contains want; otherwise it fails with a long
// output whose end names the failing case.
type tests struct {
	want string
	err  error
	runs []string
}

func (r *tests) Run(_ context.Context, _ Task, code string) (Verdict, error) {
	r.runs = append(r.runs, code)
	if r.err != nil {
		return Verdict{}, r.err
	}
	if strings.Contains(code, r.want) {
		return Verdict{Passed: true}, nil
	}
	out := strings.Repeat("noise line\n", 500) + "Traceback (most recent call last):\n  File \"program.py\", line 9, in check\n    assert add(1) == 2\nAssertionError\n"
	return Verdict{Output: out, Case: "assert add(1) == 2"}, nil
}

var addTask = Task{Lang: "python", File: "program.py", Prefix: "def add(x):\n    \"\"\"Add one to x.\"\"\"\n", Tests: "assert add(1) == 2\n"}

const (
	wrong = "Here it is:\n```python\ndef add(x):\n    return x\n```\nThis returns x."
	right = "```python\ndef add(x):\n    return x + 1\n```\n"
)

func TestSolveRepairPasses(t *testing.T) {
	gen, run := replies(wrong, right), &tests{want: "return x + 1"}
	res, err := Solve(context.Background(), gen, run, addTask, Options{Repairs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 2 || !res.Passed() || res.FirstPassed() {
		t.Fatalf("attempts %+v", res.Attempts)
	}
	first, second := res.Attempts[0], res.Attempts[1]
	if first.Passed || first.Case != "assert add(1) == 2" || !strings.HasSuffix(first.Output, "AssertionError") || len(first.Output) > DefaultMaxFeedback+10 {
		t.Errorf("first attempt: %+v", first)
	}
	if !second.Passed || second.Round != 1 || second.Output != "" {
		t.Errorf("second attempt: %+v", second)
	}
	// The code tested is the prompt's file with the model's function.
	if !strings.HasPrefix(first.Code, addTask.Prefix) || !strings.Contains(first.Code, "    return x\n") || strings.Contains(first.Code, "This returns") {
		t.Errorf("first code:\n%s", first.Code)
	}
	if p, g := res.Tokens(); p != 200 || g == 0 {
		t.Errorf("tokens %d, %d", p, g)
	}
	// The repair call saw the task, the failed code, the failing case and
	// the trimmed output.
	if len(gen.calls) != 2 {
		t.Fatalf("%d calls", len(gen.calls))
	}
	repair := gen.calls[1]
	if len(repair) != 4 || repair[2].Role != model.RoleAssistant || !strings.Contains(repair[2].Content, "    return x\n") {
		t.Fatalf("repair messages %+v", repair)
	}
	fb := repair[3].Content
	for _, want := range []string{"The failing test case: assert add(1) == 2", "AssertionError", "<data-test-output>", "```python"} {
		if !strings.Contains(fb, want) {
			t.Errorf("feedback lacks %q:\n%s", want, fb)
		}
	}
	if strings.Count(fb, "noise line") > DefaultMaxFeedback/10 {
		t.Errorf("feedback not trimmed: %d bytes", len(fb))
	}
	if !strings.Contains(gen.calls[0][1].Content, addTask.Prefix) || strings.Contains(gen.calls[0][1].Content, addTask.Tests) {
		t.Errorf("task message shows the prefix, not the tests:\n%s", gen.calls[0][1].Content)
	}
}

func TestSolveRounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replies  []string
		repairs  int
		attempts int
		passed   bool
	}{
		{"no repair", []string{wrong, right}, 0, 1, false},
		{"max rounds respected", []string{wrong}, 2, 3, false},
		{"first attempt passes", []string{right}, 3, 1, true},
		{"passes on the last round", []string{wrong, wrong, right}, 2, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen, run := replies(tc.replies...), &tests{want: "return x + 1"}
			res, err := Solve(context.Background(), gen, run, addTask, Options{Repairs: tc.repairs})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Attempts) != tc.attempts || res.Passed() != tc.passed || len(gen.calls) != tc.attempts || len(run.runs) != tc.attempts {
				t.Fatalf("%d attempts (passed %v), %d calls, %d runs", len(res.Attempts), res.Passed(), len(gen.calls), len(run.runs))
			}
			for i, a := range res.Attempts {
				if a.Round != i {
					t.Errorf("attempt %d has round %d", i, a.Round)
				}
			}
		})
	}
}

func TestSolveErrors(t *testing.T) {
	ctx := context.Background()
	harness := errors.New("sandbox broke")
	_, err := Solve(ctx, replies(wrong), &tests{err: harness}, addTask, Options{})
	if !errors.Is(err, harness) {
		t.Errorf("runner error: %v", err)
	}
	failing := &script{models: []*scripted.Model{{Err: errors.New("engine died")}}}
	if _, err := Solve(ctx, failing, &tests{}, addTask, Options{}); err == nil || !strings.Contains(err.Error(), "engine died") {
		t.Errorf("model error: %v", err)
	}
	// A prompt that does not fit is a failed attempt, not an error.
	long := &script{models: []*scripted.Model{{Err: fmt.Errorf("chat: %w", model.ErrPromptTooLong)}}}
	res, err := Solve(ctx, long, &tests{}, addTask, Options{Repairs: 3})
	if err != nil || len(res.Attempts) != 1 || res.Passed() || !strings.Contains(res.Attempts[0].Error, "does not fit") {
		t.Errorf("prompt too long: %+v, %v", res, err)
	}
}

// TestSolveStopsAtClosedFence: generation ends when the code block closes,
// so a rambling small model does not spend its token budget on prose.
func TestSolveStopsAtClosedFence(t *testing.T) {
	gen := &script{models: []*scripted.Model{{Pieces: []string{"```python\n", "def add(x):\n", "    return x + 1\n", "```", "\n", "Now an example:\n", "print(add(2))\n"}}}}
	res, err := Solve(context.Background(), gen, &tests{want: "x + 1"}, addTask, Options{})
	if err != nil || !res.Passed() {
		t.Fatalf("%+v %v", res, err)
	}
	a := res.Attempts[0]
	if a.StopReason != "code_block" || a.GeneratedTokens != 3 || strings.Contains(a.Code, "print") {
		t.Errorf("%+v", a)
	}
}

// TestSolveRealModel runs the loop on the real engine (stories260K, greedy):
// it writes no working code, and the loop still does its rounds, counts
// tokens and gives the same attempts twice.
func TestSolveRealModel(t *testing.T) {
	path := testtool.Model(t, testtool.Stories)
	eng, err := model.Load(context.Background(), model.Options{Path: path, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	run := func() Result {
		sess := eng.NewSession()
		defer sess.Close()
		res, err := Solve(context.Background(), sess, &tests{want: "never in a story"}, addTask, Options{Repairs: 1, Sampling: model.Sampling{MaxTokens: 40}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(), run()
	if len(a.Attempts) != 2 || a.Passed() {
		t.Fatalf("attempts %+v", a.Attempts)
	}
	for i := range a.Attempts {
		if a.Attempts[i].PromptTokens == 0 || a.Attempts[i].GeneratedTokens == 0 {
			t.Errorf("attempt %d counted no tokens: %+v", i, a.Attempts[i])
		}
		if a.Attempts[i].Code != b.Attempts[i].Code {
			t.Errorf("attempt %d differs between runs:\n%q\n%q", i, a.Attempts[i].Code, b.Attempts[i].Code)
		}
	}
}
