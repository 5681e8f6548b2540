// Package coder is the developer and tester core of the role agents: it asks
// a model for the code of one task, runs the task's tests on it through a
// caller's Runner (the sandbox, for sov), and while they fail feeds the
// trimmed failure and the failing case back for a bounded number of repair
// rounds. It knows no benchmark and no pipeline: `sov build` and
// `sov eval humaneval` both drive it.
package coder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sovos/sov/assets"
	"github.com/sovos/sov/model"
)

// Generator is the model: a chat call. *model.Session and *model.Engine
// implement it (each worker should have its own Session), and so does
// model/scripted's Model for tests.
type Generator interface {
	Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error)
}

// Runner runs a task's tests on code (the whole file) and says whether
// they pass. A failing test is a Verdict, not an error: an error is the
// harness's or the host's, and ends Solve.
type Runner interface {
	Run(ctx context.Context, t Task, code string) (Verdict, error)
}

// Verdict is one test run.
type Verdict struct {
	Passed bool
	// Output is the failure's output (compiler errors, traceback, assertion);
	// Solve trims it before the model sees it.
	Output string
	// Case is the failing test case (the assert line), when known: see
	// FailingCase.
	Case string
}

// Task is one file to write.
type Task struct {
	Lang string // "python" or "go": the fence tag and the language named to the model
	File string // the file's name, as the model is told it
	// Spec says what the code must do: a signature and its documentation,
	// the acceptance criteria. It may be empty when Prefix says it all.
	Spec string
	// Prefix, when set, is the start of the file, which the model completes
	// (HumanEval's prompt: imports, the signature, the docstring). The code
	// tested is always Prefix followed by what the model added; a reply that
	// repeats the function whole is folded in (see Assemble).
	Prefix string
	// EntryPoint is the function the tests call; with a Prefix and none
	// given, the last function Prefix declares.
	EntryPoint string
	// Tests are the tests, for the Runner; the model does not see them
	// (only a failing case, during repair).
	Tests string
}

// Options bound a Solve. The zero value is greedy decoding, DefaultMaxTokens
// per reply, no repair.
type Options struct {
	Repairs     int            // repair rounds after a failed first attempt
	Sampling    model.Sampling // zero value: greedy, for reproducible runs
	MaxFeedback int            // bytes of failure output fed back; 0 = DefaultMaxFeedback
}

// Defaults.
const (
	DefaultMaxTokens   = 512
	DefaultMaxFeedback = 1500
)

// Attempt is one reply and its test run.
type Attempt struct {
	Round           int           `json:"round"` // 0: the first attempt; n: the nth repair
	Code            string        `json:"code"`  // the whole file as tested
	Passed          bool          `json:"passed"`
	Output          string        `json:"output,omitempty"` // the trimmed failure output
	Case            string        `json:"case,omitempty"`   // the failing case, when the Runner knew it
	Error           string        `json:"error,omitempty"`  // the model could not answer (the prompt did not fit); nothing was tested
	PromptTokens    int           `json:"prompt_tokens"`
	GeneratedTokens int           `json:"generated_tokens"`
	StopReason      string        `json:"stop_reason,omitempty"`
	GenTime         time.Duration `json:"gen_time"`
	TestTime        time.Duration `json:"test_time"`
}

// Result is every attempt, in order.
type Result struct {
	Attempts []Attempt `json:"attempts"`
}

// Passed reports whether the last attempt passed.
func (r Result) Passed() bool { return len(r.Attempts) > 0 && r.Attempts[len(r.Attempts)-1].Passed }

// FirstPassed reports whether the first attempt passed (pass@1 without repair).
func (r Result) FirstPassed() bool { return len(r.Attempts) > 0 && r.Attempts[0].Passed }

// Tokens sums the attempts' prompt and generated tokens.
func (r Result) Tokens() (prompt, generated int) {
	for _, a := range r.Attempts {
		prompt += a.PromptTokens
		generated += a.GeneratedTokens
	}
	return prompt, generated
}

// Time sums the attempts' generation and test time.
func (r Result) Time() time.Duration {
	var d time.Duration
	for _, a := range r.Attempts {
		d += a.GenTime + a.TestTime
	}
	return d
}

// errFenceClosed stops generation once the reply's code block is closed:
// what a small model writes after it is never code, and costs time.
var errFenceClosed = errors.New("code block closed")

// Solve asks gen for t's code, tests it with run and repairs it at most
// opt.Repairs times, returning every attempt. It stops at the first pass.
// An error is gen's or run's (or ctx's); what was attempted before it is
// returned too. A prompt too long for the model's context is not an error:
// it ends Solve with a failed attempt that says so.
func Solve(ctx context.Context, gen Generator, run Runner, t Task, opt Options) (Result, error) {
	s := opt.Sampling
	if s.MaxTokens <= 0 {
		s.MaxTokens = DefaultMaxTokens
	}
	maxFeedback := opt.MaxFeedback
	if maxFeedback <= 0 {
		maxFeedback = DefaultMaxFeedback
	}
	if t.EntryPoint == "" && t.Prefix != "" {
		t.EntryPoint = lastFunc(t.Lang, t.Prefix)
	}
	msgs := []model.Message{
		{Role: model.RoleSystem, Content: fill(assets.Role("developer"), t, "", "")},
		{Role: model.RoleUser, Content: taskMessage(t)},
	}
	var res Result
	for round := 0; round <= opt.Repairs; round++ {
		a := Attempt{Round: round}
		start := time.Now()
		reply, st, err := generate(ctx, gen, msgs, s)
		a.GenTime = time.Since(start)
		a.PromptTokens, a.GeneratedTokens, a.StopReason = st.PromptTokens, st.GeneratedTokens, st.StopReason
		if errors.Is(err, model.ErrPromptTooLong) {
			a.Error = err.Error()
			res.Attempts = append(res.Attempts, a)
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("%s: attempt %d: %w", t.File, round, err)
		}
		code := Extract(reply, t.Lang)
		a.Code = Assemble(t, code)
		start = time.Now()
		v, err := run.Run(ctx, t, a.Code)
		a.TestTime = time.Since(start)
		if err != nil {
			return res, fmt.Errorf("%s: testing attempt %d: %w", t.File, round, err)
		}
		a.Passed, a.Case = v.Passed, strings.TrimSpace(v.Case)
		if !v.Passed {
			a.Output = Trim(v.Output, maxFeedback)
		}
		res.Attempts = append(res.Attempts, a)
		if a.Passed {
			break
		}
		// The next round sees the task, the code this attempt wrote and
		// its failure: not every earlier attempt, which a small context
		// cannot hold.
		msgs = append(msgs[:2],
			model.Message{Role: model.RoleAssistant, Content: fence(t.Lang, code)},
			model.Message{Role: model.RoleUser, Content: fill(assets.Role("repair"), t, a.Case, a.Output)})
	}
	return res, nil
}

// generate runs one chat call, ending it when the code block closes.
func generate(ctx context.Context, gen Generator, msgs []model.Message, s model.Sampling) (string, model.Stats, error) {
	var sb strings.Builder
	reply, st, err := gen.Chat(ctx, msgs, s, func(piece string) error {
		sb.WriteString(piece)
		if fenceClosed(sb.String()) {
			return errFenceClosed
		}
		return nil
	})
	if errors.Is(err, errFenceClosed) {
		st.StopReason, err = "code_block", nil
	}
	return reply, st, err
}

// taskMessage is the user's message: the file, the spec, the code to complete.
func taskMessage(t Task) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Write the %s file %s.\n", t.Lang, t.File)
	if spec := strings.TrimSpace(t.Spec); spec != "" {
		b.WriteString(spec + "\n")
	}
	if t.Prefix != "" {
		b.WriteString("Complete this code")
		if t.EntryPoint != "" {
			fmt.Fprintf(&b, " (the function %s)", t.EntryPoint)
		}
		b.WriteString(":\n" + fence(t.Lang, t.Prefix))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// fill replaces a role prompt's placeholders.
func fill(prompt string, t Task, failing, output string) string {
	if failing != "" {
		failing = "The failing test case: " + failing + "\n"
	}
	return strings.NewReplacer("{lang}", t.Lang, "{file}", t.File, "{case}", failing, "{output}", output).Replace(prompt)
}

func fence(lang, code string) string {
	return "```" + lang + "\n" + strings.TrimSuffix(code, "\n") + "\n```"
}

// Trim keeps at most max bytes of a failure's output: its end, where
// tracebacks and test failures say what went wrong, cut at a line start.
func Trim(out string, max int) string {
	out = strings.TrimSpace(out)
	if len(out) <= max {
		return out
	}
	cut := out[len(out)-max:]
	if i := strings.IndexByte(cut, '\n'); i >= 0 && i < len(cut)-1 {
		cut = cut[i+1:]
	}
	return "…\n" + cut
}
