package humaneval

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/sovos/sov/agents/sandbox"
)

// testifyVersion is the assert package HumanEval-X's tests import; its
// module and dependencies must be in the module cache before a run (the
// sandbox has no network).
const testifyVersion = "v1.8.4"

// Runner runs programs in the sandbox. Make one with NewRunner and Close it.
type Runner struct {
	lang   Lang
	tc     sandbox.Toolchain
	root   string // this run's folders: one per problem, the Go build cache
	goMod  []byte // go.mod and go.sum every Go problem gets
	goSum  []byte
	Limits sandbox.Limits
}

// NewRunner finds lang's toolchain and, for Go, prepares a module that
// requires testify, its go.sum and the module cache entries (downloaded on
// the host if missing: the only step with network, outside the sandbox).
func NewRunner(ctx context.Context, lang Lang) (*Runner, error) {
	if err := sandbox.Check(); err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "sov-humaneval-")
	if err != nil {
		return nil, err
	}
	r := &Runner{lang: lang, root: root}
	switch lang {
	case Python:
		r.tc, err = sandbox.Python(ctx)
		r.Limits = sandbox.Limits{Wall: 30 * time.Second, CPU: 20 * time.Second, Memory: 2 << 30, Output: 64 << 10}
	case Go:
		gocache := filepath.Join(root, "gocache")
		if err = os.Mkdir(gocache, 0o700); err == nil {
			r.tc, err = sandbox.Go(ctx, gocache)
		}
		if err == nil {
			err = r.prepareGoModule(ctx)
		}
		r.Limits = sandbox.Limits{Wall: 3 * time.Minute, CPU: 2 * time.Minute, Output: 64 << 10}
	default:
		err = fmt.Errorf("%w: %q", ErrLang, lang)
	}
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return r, nil
}

// Close removes the run's folders.
func (r *Runner) Close() error { return os.RemoveAll(r.root) }

func (r *Runner) prepareGoModule(ctx context.Context) error {
	dir := filepath.Join(r.root, "template")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	mod := "module humaneval\n\ngo 1.21\n\nrequire github.com/stretchr/testify " + testifyVersion + "\n"
	src := "package main\n\nimport (\n\t\"testing\"\n\n\t\"github.com/stretchr/testify/assert\"\n)\n\nfunc TestX(t *testing.T) { assert.True(t, true) }\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main_test.go"), []byte(src), 0o600); err != nil {
		return err
	}
	tidy := func(env ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, r.tc.Exe, "mod", "tidy")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local"}, env...)...)
		return cmd.CombinedOutput()
	}
	// The cache first; the network only if the cache lacks something.
	if _, err := tidy("GOPROXY=off"); err != nil {
		if out, err := tidy(); err != nil {
			return fmt.Errorf("preparing the Go module cache (testify %s): %v: %s", testifyVersion, err, out)
		}
	}
	var err error
	if r.goMod, err = os.ReadFile(filepath.Join(dir, "go.mod")); err != nil {
		return err
	}
	r.goSum, err = os.ReadFile(filepath.Join(dir, "go.sum"))
	return err
}

// Outcome is one problem's run.
type Outcome struct {
	TaskID string         `json:"task_id"`
	Passed bool           `json:"passed"`
	Result sandbox.Result `json:"result"`
}

// Check runs p with completion in a fresh folder and reports whether its
// tests pass. An error is the harness's or the host's, never the code's.
func (r *Runner) Check(ctx context.Context, p Problem, completion string) (Outcome, error) {
	if p.Lang != r.lang {
		return Outcome{}, fmt.Errorf("humaneval: a %s problem given to the %s runner", p.Lang, r.lang)
	}
	dir, err := os.MkdirTemp(r.root, "p-")
	if err != nil {
		return Outcome{}, err
	}
	defer os.RemoveAll(dir)
	name, src := Program(p, completion)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
		return Outcome{}, err
	}
	spec := sandbox.Spec{Dir: dir, Env: r.tc.Env, Read: r.tc.Read, Limits: r.Limits}
	if r.lang == Go {
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), r.goMod, 0o600); err != nil {
			return Outcome{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), r.goSum, 0o600); err != nil {
			return Outcome{}, err
		}
		// The build cache is shared by this run's problems (compiling the
		// standard library and testify once); it is this run's, not the host's.
		spec.Write = []string{filepath.Join(r.root, "gocache")}
		spec.Args = []string{r.tc.Exe, "test", "-count=1", name}
	} else {
		spec.Args = []string{r.tc.Exe, "-I", name}
	}
	res, err := sandbox.Run(ctx, spec)
	if err != nil {
		return Outcome{}, fmt.Errorf("%s: %w", p.TaskID, err)
	}
	return Outcome{TaskID: p.TaskID, Passed: res.OK(), Result: res}, nil
}

// Summary counts a batch's outcomes.
type Summary struct {
	Lang     Lang          `json:"lang"`
	Total    int           `json:"total"`
	Passed   int           `json:"passed"`
	Failed   []Outcome     `json:"failed,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Canonical runs every problem's canonical solution, workers at a time,
// calling progress (if not nil, one call at a time) after each. All should pass: a failure is
// the harness's.
func (r *Runner) Canonical(ctx context.Context, ps []Problem, workers int, progress func(Outcome)) (Summary, error) {
	if workers < 1 {
		workers = 1
	}
	start := time.Now()
	sum := Summary{Lang: r.lang, Total: len(ps)}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan Problem)
	)
	for range workers {
		wg.Go(func() {
			for p := range next {
				o, err := r.Check(ctx, p, p.Canonical)
				mu.Lock()
				switch {
				case err != nil:
					if first == nil {
						first = err
					}
				case o.Passed:
					sum.Passed++
				default:
					sum.Failed = append(sum.Failed, o)
				}
				if err == nil && progress != nil {
					progress(o)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, p := range ps {
		select {
		case next <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	sum.Duration = time.Since(start)
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return sum, first
}

// CheckCanonical loads lang's problems from dataDir (the first limit, 0:
// all) and runs their canonical solutions in a fresh sandbox runner.
func CheckCanonical(ctx context.Context, dataDir string, lang Lang, limit, workers int, progress func(Outcome)) (Summary, error) {
	ps, err := Load(DataFile(dataDir, lang), lang)
	if err != nil {
		return Summary{}, err
	}
	if limit > 0 && limit < len(ps) {
		ps = ps[:limit]
	}
	r, err := NewRunner(ctx, lang)
	if err != nil {
		return Summary{}, err
	}
	defer r.Close()
	return r.Canonical(ctx, ps, workers, progress)
}
