package roles

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovos/sov/agents/sandbox"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// team is a scripted model for every role: the PM and the architect hand
// over fixed documents, the developer replies with fixed code.
type team struct {
	mu     sync.Mutex
	spec   string // the PM's document
	design string // the architect's
	code   string // the developer's reply, fenced
	calls  map[string]int
}

type member struct {
	t    *team
	role string
	done bool
}

func (m *member) Call(_ context.Context, _ []model.Message, _ *model.Toolset, _ model.Sampling, _ model.TokenFunc) (model.Reply, model.Stats, error) {
	m.t.mu.Lock()
	m.t.calls[m.role]++
	m.t.mu.Unlock()
	if m.done {
		return model.Reply{Answer: "handed over"}, model.Stats{PromptTokens: 10, GeneratedTokens: 3, StopReason: model.StopEOG}, nil
	}
	m.done = true
	name, doc := "build.spec", m.t.spec
	if m.role == "architect" {
		name, doc = "build.design", m.t.design
	}
	return model.Reply{ToolCall: &model.ToolCall{Name: name, Arguments: json.RawMessage(doc)}}, model.Stats{PromptTokens: 100, GeneratedTokens: 50, StopReason: model.StopEOG}, nil
}

func (m *member) Chat(_ context.Context, _ []model.Message, _ model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	m.t.mu.Lock()
	m.t.calls[m.role]++
	m.t.mu.Unlock()
	reply := "```python\n" + m.t.code + "\n```"
	return reply, model.Stats{PromptTokens: 80, GeneratedTokens: 20, StopReason: model.StopEOG}, nil
}

func (t *team) count(role string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[role]
}

const (
	addSpec = `{"title":"Adder","summary":"Adds numbers.","stories":[{"as":"a user","want":"to add two numbers","so":"I get their sum"}],
"acceptance":[{"name":"small","function":"add","args":"2, 3","expect":"5"},{"name":"negative","function":"add","args":"-1, 1","expect":"0"}],
"tradeoffs":"Integers only.","question":null}`
	addDesign = `{"overview":"One function.","tasks":[{"file":"calc.py","function":"add","signature":"def add(a, b)","description":"Returns a + b."}]}`
	addCode   = "def add(a, b):\n    return a + b"
)

func newTeam() *team {
	return &team{spec: addSpec, design: addDesign, code: addCode, calls: map[string]int{}}
}

// config is a headless, approved build of t in a fresh folder.
func config(t *testing.T, tm *team) Config {
	t.Helper()
	return Config{
		Dir: filepath.Join(t.TempDir(), "b"), Request: "a function that adds two numbers", Lang: Python,
		Model: func(role string) (Model, func(), error) {
			return &member{t: tm, role: role}, func() {}, nil
		},
		Ledger: ledger.Open(t.TempDir()), Approve: true, Repair: 1, TestWall: 20 * time.Second,
	}
}

// build runs Build, skipping where the host cannot sandbox.
func build(t *testing.T, cfg Config) (*Report, error) {
	t.Helper()
	rep, err := Build(context.Background(), cfg)
	if errors.Is(err, sandbox.ErrUnsupported) || errors.Is(err, sandbox.ErrNoToolchain) && cfg.Lang == Python {
		t.Skip(err)
	}
	return rep, err
}

func stepNames(t *testing.T, dir string) []string {
	t.Helper()
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range st.Steps {
		names = append(names, s.Name)
	}
	return names
}

func TestBuildPassesAndResumes(t *testing.T) {
	tm := newTeam()
	cfg := config(t, tm)
	rep, err := build(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "passed" || rep.Passed != 2 || rep.Failed != 0 || !rep.Sandboxed {
		t.Fatalf("report %+v", rep)
	}
	if got := strings.Join(stepNames(t, cfg.Dir), " "); got != "pm review architect develop:1 test" {
		t.Fatalf("steps %q", got)
	}
	for _, p := range []string{PRDFile, AcceptanceFile, DesignFile, TasksFile, "calc.py", "test_acceptance.py", ReportFile} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "__pycache__")); err == nil {
		t.Error("the tests left __pycache__ in the build folder")
	}
	if err := CheckArtifacts(cfg.Dir); err != nil {
		t.Fatal(err)
	}
	var onDisk Report
	raw, _ := os.ReadFile(filepath.Join(cfg.Dir, ReportFile))
	if err := json.Unmarshal(raw, &onDisk); err != nil || onDisk.Status != "passed" || len(onDisk.Roles) < 3 {
		t.Fatalf("report.json: %v %+v", err, onDisk)
	}

	// A resume of a finished build redoes nothing.
	calls := tm.count("pm") + tm.count("architect") + tm.count("developer")
	cfg.Resume, cfg.Request = true, ""
	rep, err = build(t, cfg)
	if err != nil || rep.Status != "passed" || rep.TestRun != "exit 0" || rep.usage("pm").Calls != 2 {
		t.Fatalf("resume: %v %+v", err, rep)
	}
	if n := tm.count("pm") + tm.count("architect") + tm.count("developer"); n != calls {
		t.Fatalf("a finished build's resume made %d model calls", n-calls)
	}
	for _, s := range rep.Steps {
		if s.Status != "skipped" {
			t.Errorf("step %s: %s", s.Name, s.Status)
		}
	}

	// The user edits the PRD: the steps after the review run again, the
	// PM does not.
	prd := filepath.Join(cfg.Dir, PRDFile)
	b, _ := os.ReadFile(prd)
	if err := os.WriteFile(prd, append(b, []byte("\nAlso: keep it simple.\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	pm, arch := tm.count("pm"), tm.count("architect")
	if _, err = build(t, cfg); err != nil {
		t.Fatal(err)
	}
	if tm.count("pm") != pm || tm.count("architect") == arch {
		t.Fatalf("after editing prd.md: pm calls %d→%d, architect %d→%d", pm, tm.count("pm"), arch, tm.count("architect"))
	}
}

func TestBuildStops(t *testing.T) {
	t.Run("headless without approval", func(t *testing.T) {
		tm := newTeam()
		cfg := config(t, tm)
		cfg.Approve = false
		rep, err := build(t, cfg)
		if !errors.Is(err, ErrNeedsReview) || rep.Status != "needs_review" {
			t.Fatalf("err %v, report %+v", err, rep)
		}
		for _, p := range []string{PRDFile, AcceptanceFile} {
			if _, err := os.Stat(filepath.Join(cfg.Dir, p)); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		// Approved on resume: it goes on from the review.
		cfg.Resume, cfg.Approve = true, true
		rep, err = build(t, cfg)
		if err != nil || rep.Status != "passed" || tm.count("pm") != 2 { // the PM's two calls of the first run
			t.Fatalf("resume: %v %+v pm calls %d", err, rep, tm.count("pm"))
		}
	})
	t.Run("the PM asks a question", func(t *testing.T) {
		tm := newTeam()
		tm.spec = strings.Replace(addSpec, `"question":null`, `"question":"Which numbers: integers or decimals?"`, 1)
		cfg := config(t, tm)
		rep, err := build(t, cfg)
		if !errors.Is(err, ErrNeedsAnswer) || rep.Question != "Which numbers: integers or decimals?" || rep.Status != "needs_answer" {
			t.Fatalf("err %v, report %+v", err, rep)
		}
		raw, _ := os.ReadFile(filepath.Join(cfg.Dir, ReportFile))
		if !strings.Contains(string(raw), "integers or decimals") {
			t.Fatalf("report.json lacks the question: %s", raw)
		}
		if len(stepNames(t, cfg.Dir)) != 0 {
			t.Fatal("the PM's step counts as done")
		}
	})
	t.Run("the PM's question answered at a terminal", func(t *testing.T) {
		tm := newTeam()
		tm.spec = strings.Replace(addSpec, `"question":null`, `"question":"Integers?"`, 1)
		cfg := config(t, tm)
		asked := 0
		cfg.Ask = func(context.Context, string) (string, error) {
			asked++
			tm.mu.Lock()
			tm.spec = addSpec // the answer makes the spec clear
			tm.mu.Unlock()
			return "yes", nil
		}
		rep, err := build(t, cfg)
		if err != nil || asked != 1 || rep.Status != "passed" {
			t.Fatalf("err %v, asked %d, report %+v", err, asked, rep)
		}
		st, _ := LoadState(cfg.Dir)
		if !strings.Contains(st.Request, "The user answered: yes") {
			t.Fatalf("request %q", st.Request)
		}
	})
}

func TestBuildBadInput(t *testing.T) {
	t.Run("code outside the folder", func(t *testing.T) {
		tm := newTeam()
		tm.design = strings.Replace(addDesign, `"calc.py"`, `"../../outside.py"`, 1)
		cfg := config(t, tm)
		rep, err := build(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Refused) != 1 || !strings.Contains(rep.Refused[0].Reason, "outside the build folder") {
			t.Fatalf("refused %+v", rep.Refused)
		}
		for _, p := range []string{filepath.Join(cfg.Dir, "..", "outside.py"), filepath.Join(cfg.Dir, "..", "..", "outside.py")} {
			if _, err := os.Stat(p); err == nil {
				t.Fatalf("%s was written", p)
			}
		}
		if _, err := os.Stat(filepath.Join(cfg.Dir, "outside.py")); err != nil || rep.Status != "passed" {
			t.Fatalf("the code is not in the folder: %v, %s", err, rep.Status)
		}
		log, _ := os.ReadFile(filepath.Join(cfg.Dir, logFile))
		if !strings.Contains(string(log), `"refused"`) {
			t.Fatalf("log: %s", log)
		}
	})
	t.Run("a write through the workspace outside the folder", func(t *testing.T) {
		var got []string
		r := &runner{dir: t.TempDir(), refused: func(p string, err error) { got = append(got, p) }}
		if err := r.write(context.Background(), "../escape.py", "x"); err == nil || len(got) != 1 {
			t.Fatalf("err %v, refused %v", err, got)
		}
	})
	t.Run("tests that never finish", func(t *testing.T) {
		tm := newTeam()
		tm.code = "def add(a, b):\n    while True:\n        pass"
		cfg := config(t, tm)
		cfg.Repair, cfg.TestWall = 0, 2*time.Second
		rep, err := build(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Status != "failed" || !strings.HasPrefix(rep.TestRun, "timeout") || rep.Failed != 2 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("a case that is not valid code fails alone", func(t *testing.T) {
		tm := newTeam()
		tm.spec = strings.Replace(addSpec, `"args":"-1, 1","expect":"0"`, `"args":"-1, 1","expect":"I don't know"`, 1)
		cfg := config(t, tm)
		rep, err := build(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Passed != 1 || rep.Failed != 1 || !strings.Contains(rep.Cases[1].Detail, "SyntaxError") {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("resume a folder that is not a build", func(t *testing.T) {
		_, err := Build(context.Background(), Config{Dir: t.TempDir(), Resume: true})
		if !errors.Is(err, ErrNotABuild) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a new build over an old one", func(t *testing.T) {
		tm := newTeam()
		tm.spec = strings.Replace(addSpec, `"question":null`, `"question":"Integers?"`, 1)
		cfg := config(t, tm)
		cfg.Approve = false
		if _, err := build(t, cfg); !errors.Is(err, ErrNeedsAnswer) {
			t.Fatal(err)
		}
		// Nothing was done: a clearer request starts over in the folder.
		tm.spec = addSpec
		cfg.Request = "a function add(a, b) of two integers"
		if _, err := build(t, cfg); !errors.Is(err, ErrNeedsReview) {
			t.Fatal(err)
		}
		if _, err := build(t, cfg); !errors.Is(err, ErrIsABuild) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("on the host with --unsafe-host", func(t *testing.T) {
		cfg := config(t, newTeam())
		cfg.Unsafe = true
		rep, err := build(t, cfg)
		if err != nil || rep.Status != "passed" || rep.Sandboxed {
			t.Fatalf("err %v, report %+v", err, rep)
		}
		var b strings.Builder
		rep.Render(&b)
		if !strings.Contains(b.String(), "on the host, unsandboxed") {
			t.Fatal(b.String())
		}
	})
	t.Run("a host without the sandbox: refused before any model call, unless --unsafe-host", func(t *testing.T) {
		tm := newTeam()
		cfg := config(t, tm)
		cfg.SandboxCheck = func() error { return &sandbox.UnsupportedError{Reason: "Landlock is not enabled in this kernel"} }
		_, err := Build(context.Background(), cfg)
		if !errors.Is(err, sandbox.ErrUnsupported) || !strings.Contains(err.Error(), "Landlock") {
			t.Fatalf("err %v", err)
		}
		if len(tm.calls) != 0 {
			t.Fatalf("the model was called: %v", tm.calls)
		}
		if _, err := os.Stat(filepath.Join(cfg.Dir, ".sov")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the build started: %v", err)
		}
		cfg.Unsafe = true
		rep, err := Build(context.Background(), cfg)
		if err != nil || rep.Status != "passed" || rep.Sandboxed {
			t.Fatalf("err %v, report %+v", err, rep)
		}
	})
	t.Run("a missing toolchain", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		cfg := config(t, newTeam())
		cfg.Lang, cfg.Unsafe = Go, true
		_, err := Build(context.Background(), cfg)
		var te *sandbox.ToolchainError
		if !errors.As(err, &te) || te.Lang != "go" || !strings.Contains(err.Error(), "go.dev/dl") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("an edited acceptance file that is not valid", func(t *testing.T) {
		tm := newTeam()
		cfg := config(t, tm)
		cfg.Approve = false
		if _, err := build(t, cfg); !errors.Is(err, ErrNeedsReview) {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.Dir, AcceptanceFile), []byte(`{"lang":"python","cases":[{"name":"x","function":"not a name","args":"","expect":"1"}]}`), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Resume, cfg.Approve = true, true
		_, err := build(t, cfg)
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Path != AcceptanceFile {
			t.Fatalf("err %v", err)
		}
	})
}

func TestStateValid(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := writeAtomic(filepath.Join(dir, p), []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	hash := func(p string) string { h, _ := fileHash(filepath.Join(dir, p)); return h }
	tests := []struct {
		name   string
		change func()
		keep   string
	}{
		{"nothing changed", func() {}, "a b c"},
		{"an output edited", func() { write("a.txt", "edited") }, "a"},
		{"an output gone", func() { os.Remove(filepath.Join(dir, "b.txt")) }, "a"},
		{"the last output edited", func() { write("c.txt", "edited") }, "a b c"},
		{"a file rewritten by a later step, edited", func() { write("a2.txt", "edited") }, "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []string{"a.txt", "b.txt", "c.txt", "a2.txt"} {
				write(p, p)
			}
			s := &State{Steps: []Step{
				{Name: "a", Outputs: map[string]string{"a.txt": hash("a.txt")}},
				{Name: "b", Outputs: map[string]string{"b.txt": hash("b.txt"), "a2.txt": hash("a2.txt")}},
				{Name: "c", Outputs: map[string]string{"c.txt": hash("c.txt")}},
			}}
			tt.change()
			s.valid(dir)
			var names []string
			for _, st := range s.Steps {
				names = append(names, st.Name)
			}
			if got := strings.Join(names, " "); got != tt.keep {
				t.Fatalf("kept %q, want %q", got, tt.keep)
			}
		})
	}
}

func TestNormalise(t *testing.T) {
	tests := []struct{ in, ident, py, gofile string }{
		{"add", "add", "add.py", "add.go"},
		{"Add Numbers!", "Add_Numbers", "add_numbers.py", "add_numbers.go"},
		{"2nd", "f_2nd", "f_2nd.py", "f_2nd.go"},
		{"", "solve", "solve.py", "solve.go"},
		{"../../etc/passwd", "etc_passwd", "etc_passwd.py", "etc_passwd.go"},
		{"test_calc.py", "test_calc_py", "impl_test_calc.py", "test_calc.go"},
		{"calc_test.go", "calc_test_go", "calc_test.py", "calc_impl.go"},
	}
	for _, tt := range tests {
		if got := ident(tt.in); got != tt.ident {
			t.Errorf("ident(%q) = %q, want %q", tt.in, got, tt.ident)
		}
		if got := localFile(tt.in, Python); got != tt.py {
			t.Errorf("localFile(%q, python) = %q, want %q", tt.in, got, tt.py)
		}
		if got := localFile(tt.in, Go); got != tt.gofile {
			t.Errorf("localFile(%q, go) = %q, want %q", tt.in, got, tt.gofile)
		}
	}
}

func TestVerdicts(t *testing.T) {
	cases := []Case{{Name: "a", Function: "f", Args: "1", Expect: "1"}, {Name: "b", Function: "f", Args: "2", Expect: "4"}}
	tests := []struct {
		name   string
		lang   Lang
		res    sandbox.Result
		passed []bool
		detail string // of the second case
	}{
		{"python, one fails", Python, sandbox.Result{Kind: sandbox.Exited, Code: 1, Stdout: []byte("PASS 1: a\nFAIL 2: b: got 2, want 4\n")}, []bool{true, false}, "b: got 2, want 4"},
		{"python, a syntax error", Python, sandbox.Result{Kind: sandbox.Exited, Code: 1, Stderr: []byte("  File \"calc.py\", line 1\nSyntaxError: invalid syntax\n")}, []bool{false, false}, "the tests did not run it: exit 1: SyntaxError: invalid syntax"},
		{"go, one fails", Go, sandbox.Result{Kind: sandbox.Exited, Code: 1, Stdout: []byte("--- PASS: TestCase1 (0.00s)\n    acceptance_test.go:9: FAIL 2: b: got 2, want 4\n--- FAIL: TestCase2 (0.00s)\nFAIL\n")}, []bool{true, false}, "b: got 2, want 4"},
		{"go, a compile error", Go, sandbox.Result{Kind: sandbox.Exited, Code: 1, Stderr: []byte("# build\n./calc.go:3:2: undefined: x\n"), Stdout: []byte("FAIL\tbuild [build failed]\n")}, []bool{false, false}, "the tests did not run it: exit 1: ./calc.go:3:2: undefined: x"},
		{"a timeout after a pass", Python, sandbox.Result{Kind: sandbox.Timeout, Stdout: []byte("PASS 1: a\n")}, []bool{false, false}, "the tests did not run it: timeout after 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verdicts(tt.lang, cases, tt.res)
			for i, want := range tt.passed {
				if got[i].Passed != want {
					t.Errorf("case %d passed %v, want %v", i+1, got[i].Passed, want)
				}
			}
			if got[1].Detail != tt.detail {
				t.Errorf("detail %q, want %q", got[1].Detail, tt.detail)
			}
		})
	}
}
