package humaneval

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sovos/sov/agents/roles/coder"
	"github.com/sovos/sov/agents/sandbox"
	"github.com/sovos/sov/model"
)

// oracle is a model that answers a problem wrongly first and, asked to
// repair, with its canonical solution; it remembers the repair requests.
type oracle struct {
	ps      []Problem
	repairs chan string
}

func (o *oracle) Chat(_ context.Context, msgs []model.Message, _ model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	reply := "```python\n    return None\n```"
	if len(msgs) > 2 {
		o.repairs <- msgs[len(msgs)-1].Content
		for _, p := range o.ps {
			if strings.Contains(msgs[1].Content, p.Prompt) {
				reply = "```python\n" + p.Canonical + "```"
			}
		}
	}
	if err := fn(reply); err != nil && err.Error() != "code block closed" {
		return reply, model.Stats{}, err
	}
	return reply, model.Stats{PromptTokens: 50, GeneratedTokens: 10}, nil
}

// TestSolveRepairs: a wrong first attempt fails in the sandbox, its failing
// assert is fed back, the repair passes; the report counts both figures.
func TestSolveRepairs(t *testing.T) {
	ps, err := Load(DataFile(dataDir(t), Python), Python)
	if err != nil {
		t.Fatal(err)
	}
	ps = ps[:2]
	ctx := context.Background()
	r, err := NewRunner(ctx, Python)
	if errors.Is(err, sandbox.ErrUnsupported) || errors.Is(err, sandbox.ErrNoToolchain) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o := &oracle{ps: ps, repairs: make(chan string, 10)}
	var seen []string
	rep, err := r.Solve(ctx, ps, func() (coder.Generator, func()) { return o, func() {} }, SolveOptions{Repairs: 1, Workers: 2},
		func(pr ProblemResult) { seen = append(seen, pr.TaskID) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 2 || rep.PassedFirst != 0 || rep.Passed != 2 || rep.PassAt1() != 0 || rep.PassAt1Repaired() != 1 || len(seen) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if rep.PromptTokens != 200 || rep.GeneratedTokens != 40 {
		t.Errorf("tokens %d, %d", rep.PromptTokens, rep.GeneratedTokens)
	}
	for i, pr := range rep.Problems {
		if pr.TaskID != ps[i].TaskID || len(pr.Attempts) != 2 || pr.Attempts[0].Passed || !pr.Attempts[1].Passed {
			t.Errorf("problem %d: %+v", i, pr)
		}
		if c := pr.Attempts[0].Case; !strings.HasPrefix(c, "assert candidate(") {
			t.Errorf("%s: failing case %q\n%s", pr.TaskID, c, pr.Attempts[0].Output)
		}
		if out := pr.Attempts[0].Output; strings.Contains(out, r.root) || !strings.Contains(out, `File "program.py"`) {
			t.Errorf("%s: the output names the run's folder:\n%s", pr.TaskID, out)
		}
	}
	close(o.repairs)
	for fb := range o.repairs {
		if !strings.Contains(fb, "The failing test case: assert candidate(") || !strings.Contains(fb, "AssertionError") {
			t.Errorf("feedback:\n%s", fb)
		}
	}
}

func TestTask(t *testing.T) {
	py := Task(Problem{Lang: Python, Prompt: "def f():\n", EntryPoint: "f", Test: "def check(c): pass\n"})
	gp := Task(Problem{Lang: Go, Prompt: "func F() {\n", Test: "func TestF(t *testing.T) {}\n"})
	if py.File != "program.py" || py.Prefix != "def f():\n" || py.EntryPoint != "f" || gp.File != "main.go" || gp.Lang != "go" {
		t.Errorf("%+v %+v", py, gp)
	}
}
