package humaneval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sovos/sov/agents/roles/coder"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// ErrCanonical is wrapped by a *CanonicalError: a canonical solution
// failed in the sandbox, so the harness or the toolchain is at fault and a
// model's figures would mean nothing.
var ErrCanonical = errors.New("canonical solutions fail in the sandbox")

// CanonicalError carries the canonical check that failed.
type CanonicalError struct{ Summary Summary }

func (e *CanonicalError) Error() string {
	return fmt.Sprintf("%v: %d of %d (the harness or the toolchain is at fault, not the model)", ErrCanonical, e.Summary.Total-e.Summary.Passed, e.Summary.Total)
}

func (e *CanonicalError) Unwrap() error { return ErrCanonical }

// Config is one model run.
type Config struct {
	DataDir string
	Lang    Lang
	Limit   int // the first Limit problems; 0: all
	Repairs int // repair rounds after a failed first attempt
	Workers int // problems solved at once, each in its own model session
	// MaxTokens bounds each reply; 0 = coder.DefaultMaxTokens.
	MaxTokens int
	// Model loads the engine; Sessions is set to Workers. Decoding is
	// greedy, so a run is reproducible with a fixed Model.Threads: the
	// thread count changes llama.cpp's arithmetic, and 0 follows the load.
	Model model.Options
}

// ProblemResult is one problem's attempts.
type ProblemResult struct {
	TaskID          string          `json:"task_id"`
	FirstPassed     bool            `json:"first_passed"` // pass@1 without repair
	Passed          bool            `json:"passed"`       // after at most Repairs rounds
	Attempts        []coder.Attempt `json:"attempts"`
	PromptTokens    int             `json:"prompt_tokens"`
	GeneratedTokens int             `json:"generated_tokens"`
	Duration        time.Duration   `json:"duration"`
}

// Report is a model run's figures.
type Report struct {
	Lang            Lang            `json:"lang"`
	Model           string          `json:"model"`
	Repairs         int             `json:"repairs"`
	Total           int             `json:"total"`
	PassedFirst     int             `json:"passed_first"` // first attempt passed
	Passed          int             `json:"passed"`       // passed within Repairs rounds
	PromptTokens    int             `json:"prompt_tokens"`
	GeneratedTokens int             `json:"generated_tokens"`
	Canonical       Summary         `json:"canonical"`
	Duration        time.Duration   `json:"duration"` // the model's part, canonical check excluded
	Problems        []ProblemResult `json:"problems"`
}

// PassAt1 is the share of problems whose first attempt passed.
func (r Report) PassAt1() float64 { return ratio(r.PassedFirst, r.Total) }

// Render writes the report's totals for a terminal.
func (r Report) Render(w io.Writer) {
	fmt.Fprintf(w, "HumanEval %s, %s, %d problems (canonical solutions %d/%d pass):\n", r.Lang, termtext.Clean(r.Model), r.Total, r.Canonical.Passed, r.Canonical.Total)
	fmt.Fprintf(w, "  pass@1, first attempt:      %d/%d (%.1f%%)\n", r.PassedFirst, r.Total, 100*r.PassAt1())
	fmt.Fprintf(w, "  pass@1, repair ≤ %d rounds:  %d/%d (%.1f%%)\n", r.Repairs, r.Passed, r.Total, 100*r.PassAt1Repaired())
	fmt.Fprintf(w, "  tokens: %d prompt, %d generated; %v\n", r.PromptTokens, r.GeneratedTokens, r.Duration.Round(time.Second))
}

// Line is one problem's outcome on one line: pass, pass after N repairs
// or fail, with attempts, tokens, time and the last attempt's error.
func (pr ProblemResult) Line() string {
	verdict := "fail"
	switch {
	case pr.FirstPassed:
		verdict = "pass"
	case pr.Passed:
		verdict = fmt.Sprintf("pass after %d repairs", len(pr.Attempts)-1)
	}
	line := fmt.Sprintf("%s: %s, %d attempts, %d tokens, %v", pr.TaskID, verdict, len(pr.Attempts), pr.PromptTokens+pr.GeneratedTokens, pr.Duration.Round(100*time.Millisecond))
	if n := len(pr.Attempts); n > 0 && pr.Attempts[n-1].Error != "" {
		line += " (" + pr.Attempts[n-1].Error + ")"
	}
	return line
}

// PassAt1Repaired is the share that passed within the repair rounds.
func (r Report) PassAt1Repaired() float64 { return ratio(r.Passed, r.Total) }

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// Evaluate runs cfg.Lang's problems through the developer and tester core
// (coder.Solve) on the model, in the sandbox: first the canonical solutions
// of the same problems (a failure there is a *CanonicalError and no model
// runs), then each problem, calling progress (one call at a time) as each
// finishes.
func Evaluate(ctx context.Context, cfg Config, progress func(ProblemResult)) (Report, error) {
	ps, err := Load(DataFile(cfg.DataDir, cfg.Lang), cfg.Lang)
	if err != nil {
		return Report{}, err
	}
	if cfg.Limit > 0 && cfg.Limit < len(ps) {
		ps = ps[:cfg.Limit]
	}
	workers := max(1, cfg.Workers)
	r, err := NewRunner(ctx, cfg.Lang)
	if err != nil {
		return Report{}, err
	}
	defer r.Close()
	canon, err := r.Canonical(ctx, ps, workers, nil)
	if err != nil {
		return Report{}, err
	}
	if canon.Passed != canon.Total {
		return Report{}, &CanonicalError{Summary: canon}
	}
	o := cfg.Model
	o.Sessions = workers
	eng, err := model.Load(ctx, o)
	if err != nil {
		return Report{}, err
	}
	defer eng.Close()
	rep, err := r.Solve(ctx, ps, func() (coder.Generator, func()) {
		s := eng.NewSession()
		return s, func() { s.Close() }
	}, SolveOptions{Repairs: cfg.Repairs, Workers: workers, MaxTokens: cfg.MaxTokens}, progress)
	rep.Model, rep.Canonical = filepath.Base(o.Path), canon
	return rep, err
}

// SolveOptions bound Solve.
type SolveOptions struct {
	Repairs, Workers, MaxTokens int
}

// Solve runs each problem through coder.Solve, workers at a time, each
// worker with its own generator from newGen (closed with the func it
// returns). Results keep the problems' order.
func (r *Runner) Solve(ctx context.Context, ps []Problem, newGen func() (coder.Generator, func()), opt SolveOptions, progress func(ProblemResult)) (Report, error) {
	start := time.Now()
	rep := Report{Lang: r.lang, Repairs: opt.Repairs, Total: len(ps), Problems: make([]ProblemResult, len(ps))}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range max(1, opt.Workers) {
		gen, done := newGen()
		wg.Go(func() {
			defer done()
			for i := range next {
				pr, err := r.solveOne(ctx, gen, ps[i], opt)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					rep.Problems[i] = pr
					if progress != nil {
						progress(pr)
					}
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range ps {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	rep.Duration = time.Since(start)
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	for _, pr := range rep.Problems {
		rep.PromptTokens += pr.PromptTokens
		rep.GeneratedTokens += pr.GeneratedTokens
		if pr.FirstPassed {
			rep.PassedFirst++
		}
		if pr.Passed {
			rep.Passed++
		}
	}
	return rep, first
}

func (r *Runner) solveOne(ctx context.Context, gen coder.Generator, p Problem, opt SolveOptions) (ProblemResult, error) {
	t := Task(p)
	res, err := coder.Solve(ctx, gen, problemRunner{r, p}, t, coder.Options{Repairs: opt.Repairs, Sampling: model.Sampling{MaxTokens: opt.MaxTokens}})
	if err != nil {
		return ProblemResult{}, fmt.Errorf("%s: %w", p.TaskID, err)
	}
	pr := ProblemResult{TaskID: p.TaskID, FirstPassed: res.FirstPassed(), Passed: res.Passed(), Attempts: res.Attempts, Duration: res.Time()}
	pr.PromptTokens, pr.GeneratedTokens = res.Tokens()
	return pr, nil
}

// Task is p as a coder task: the model completes the prompt; the tests
// stay hidden from it.
func Task(p Problem) coder.Task {
	t := coder.Task{Lang: string(p.Lang), Prefix: p.Prompt, EntryPoint: p.EntryPoint, Tests: p.Test}
	t.File, _ = Program(p, "")
	if p.Lang == Go {
		t.File = "main.go" // the model writes the code, the harness adds the tests
	}
	return t
}

// problemRunner tests a coder attempt on one problem in the sandbox.
type problemRunner struct {
	r *Runner
	p Problem
}

func (pr problemRunner) Run(ctx context.Context, _ coder.Task, code string) (coder.Verdict, error) {
	// coder's code is the prompt and its completion; the harness wants the completion.
	completion, ok := strings.CutPrefix(code, pr.p.Prompt)
	if !ok {
		return coder.Verdict{}, fmt.Errorf("%s: the code does not start with the prompt", pr.p.TaskID)
	}
	o, err := pr.r.Check(ctx, pr.p, completion)
	if err != nil || o.Passed {
		return coder.Verdict{Passed: o.Passed}, err
	}
	file, src := Program(pr.p, completion)
	// The run's folder is named at random: without it the feedback, and
	// so a greedy repair, is the same on every run.
	out := o.Result.String() + "\n" + string(o.Result.Stdout) + string(o.Result.Stderr)
	out = regexp.MustCompile(`(?:/[^\s"/:]+)+/`+regexp.QuoteMeta(file)).ReplaceAllString(out, file)
	from := 1
	if i := strings.LastIndex(src, pr.p.Test); i >= 0 {
		from = strings.Count(src[:i], "\n") + 1
	}
	return coder.Verdict{Output: out, Case: coder.FailingCase(src, file, out, from)}, nil
}
