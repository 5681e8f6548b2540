package roles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sovos/sov/agents/roles/coder"
	"github.com/sovos/sov/agents/sandbox"
	"github.com/sovos/sov/agents/tools"
)

// The tester writes the acceptance cases as a test file of the build's
// language (mechanically: the cases are the PM's, approved by the user)
// and runs it in the sandbox. Each case prints one PASS or FAIL line, so
// one run says which cases pass.

// Lang is the language a build writes (coder.Lang, shared with the
// HumanEval harness).
type Lang = coder.Lang

// Languages.
const (
	Python = coder.Python
	Go     = coder.Go
)

// ErrLang: a language sov build does not write.
var ErrLang = coder.ErrLang

// ParseLang reads a language name.
func ParseLang(s string) (Lang, error) { return coder.ParseLang(s) }

func testFile(l Lang) string {
	if l == Go {
		return "acceptance_test.go"
	}
	return "test_acceptance.py"
}

func exampleFile(l Lang) string {
	if l == Go {
		return "calc.go"
	}
	return "calc.py"
}

// testSource is the test file for cases; module maps a function to the
// file (Python module) that defines it.
func testSource(lang Lang, cases []Case, module func(fn string) string) string {
	var b strings.Builder
	if lang == Go {
		b.WriteString("package main\n\n// Written by sov build's tester from docs/acceptance.json.\n\nimport \"testing\"\n")
		for i, c := range cases {
			call := c.Function + "(" + c.Args + ")"
			fmt.Fprintf(&b, "\n// %s\nfunc TestCase%d(t *testing.T) {\n\tgot := %s\n\tif got != (%s) {\n\t\tt.Errorf(\"FAIL %d: %%s: got %%#v, want %%s\", %s, got, %s)\n\t}\n}\n",
				c.Name, i+1, call, c.Expect, i+1, strconv.Quote(c.Name), strconv.Quote(c.Expect))
		}
		return b.String()
	}
	// Each case's expressions are evaluated from strings, so one that is
	// not valid Python fails that case alone, not the whole file.
	b.WriteString(pyHarness)
	q := func(s string) string { j, _ := json.Marshal(s); return string(j) } // a JSON string is a Python literal
	for i, c := range cases {
		fmt.Fprintf(&b, "case(%d, %s, %s, %s, %s, %s)\n", i+1, q(c.Name), q(module(c.Function)), q(c.Function), q(c.Args), q(c.Expect))
	}
	b.WriteString("sys.exit(1 if failed else 0)\n")
	return b.String()
}

const pyHarness = `# Written by sov build's tester from docs/acceptance.json.
import importlib
import os
import sys

# python3 -I leaves the script's folder off the path: the code is there.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
failed = 0


def case(n, name, module, function, args, expect):
    global failed
    try:
        m = importlib.import_module(module)
        got = eval("m." + function + "(" + args + ")", {"m": m})
        want = eval(expect, {})
        if got == want:
            print("PASS %d: %s" % (n, name))
            return
        msg = "got %r, want %r" % (got, want)
    except BaseException as e:
        msg = "%s: %s" % (type(e).__name__, e)
    failed += 1
    print("FAIL %d: %s: %s" % (n, name, msg))


`

// CaseResult is one acceptance case's verdict.
type CaseResult struct {
	Case
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"` // why it failed
}

var (
	pyLine = regexp.MustCompile(`(?m)^(PASS|FAIL) (\d+): (.*)$`)
	goFail = regexp.MustCompile(`(?m)^\s*--- FAIL: TestCase(\d+)`)
	goPass = regexp.MustCompile(`(?m)^\s*--- PASS: TestCase(\d+)`)
	goMsg  = regexp.MustCompile(`(?m)FAIL (\d+): (.*)$`)
)

// verdicts reads each case's result from a run's output; a case the
// output does not mention failed with the run's own end (a syntax error,
// a timeout).
func verdicts(lang Lang, cases []Case, res sandbox.Result) []CaseResult {
	out := string(res.Stdout) + "\n" + string(res.Stderr)
	passed, detail := map[int]bool{}, map[int]string{}
	if lang == Go {
		for _, m := range goPass.FindAllStringSubmatch(out, -1) {
			n, _ := strconv.Atoi(m[1])
			passed[n] = true
		}
		for _, m := range goFail.FindAllStringSubmatch(out, -1) {
			n, _ := strconv.Atoi(m[1])
			detail[n] = "failed"
		}
		for _, m := range goMsg.FindAllStringSubmatch(out, -1) {
			n, _ := strconv.Atoi(m[1])
			detail[n] = m[2]
		}
	} else {
		for _, m := range pyLine.FindAllStringSubmatch(out, -1) {
			n, _ := strconv.Atoi(m[2])
			if m[1] == "PASS" {
				passed[n] = true
			} else {
				detail[n] = m[3]
			}
		}
	}
	rs := make([]CaseResult, len(cases))
	for i, c := range cases {
		r := CaseResult{Case: c, Passed: passed[i+1] && res.Kind != sandbox.Timeout}
		if !r.Passed {
			r.Detail = detail[i+1]
			if r.Detail == "" {
				r.Detail = "the tests did not run it: " + res.String()
				if l := why(res); l != "" {
					r.Detail += ": " + l
				}
			}
		}
		rs[i] = r
	}
	return rs
}

// runner runs the build's tests: in the sandbox, or (unsafe) on the host.
type runner struct {
	dir    string
	lang   Lang
	tc     sandbox.Toolchain
	unsafe bool
	limits sandbox.Limits
	cases  []Case
	module func(string) string
	// refused records a write the workspace refused (outside the folder).
	refused func(path string, err error)
}

func newRunner(ctx context.Context, dir string, lang Lang, unsafe bool, check func() error, wall time.Duration) (*runner, error) {
	r := &runner{dir: dir, lang: lang, unsafe: unsafe}
	if !unsafe {
		if err := check(); err != nil {
			return nil, err
		}
	}
	var err error
	switch lang {
	case Go:
		cache := filepath.Join(dir, ".sov", "gocache")
		if err := os.MkdirAll(cache, 0o700); err != nil {
			return nil, err
		}
		r.tc, err = sandbox.Go(ctx, cache)
		r.limits = sandbox.Limits{Wall: wall, CPU: wall, Output: 64 << 10}
	default:
		r.tc, err = sandbox.Python(ctx)
		r.limits = sandbox.Limits{Wall: wall, CPU: wall, Memory: 2 << 30, Output: 64 << 10}
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// write puts content in the build folder through workspace.write, which
// refuses a path outside it (absolute, "..", a link out).
func (r *runner) write(ctx context.Context, path, content string) error {
	args, _ := json.Marshal(map[string]string{"path": path, "content": content})
	_, err := tools.WorkspaceWrite{}.Run(ctx, &tools.Env{Workspace: r.dir}, args)
	if err != nil && errors.Is(err, tools.ErrOutsideWorkspace) && r.refused != nil {
		r.refused(path, err)
	}
	return err
}

// test runs the test file for cases and returns the run.
func (r *runner) test(ctx context.Context, cases []Case) (sandbox.Result, error) {
	if r.lang == Go {
		if err := r.write(ctx, "go.mod", "module build\n\ngo 1.21\n"); err != nil {
			return sandbox.Result{}, err
		}
	}
	if err := r.write(ctx, testFile(r.lang), testSource(r.lang, cases, r.module)); err != nil {
		return sandbox.Result{}, err
	}
	args := []string{r.tc.Exe, "-I", "-B", testFile(r.lang)} // -B: no __pycache__ in the folder (-I ignores PYTHONDONTWRITEBYTECODE)
	if r.lang == Go {
		args = []string{r.tc.Exe, "test", "-count=1", "-v", "."}
	}
	return r.exec(ctx, args)
}

func (r *runner) exec(ctx context.Context, args []string) (sandbox.Result, error) {
	spec := sandbox.Spec{Dir: r.dir, Args: args, Env: r.tc.Env, Read: r.tc.Read, Limits: r.limits}
	if !r.unsafe {
		return sandbox.Run(ctx, spec)
	}
	return hostRun(ctx, spec)
}

// hostRun runs spec on the host, unsandboxed (--unsafe-host): the wall
// clock and the environment still apply, nothing else.
func hostRun(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, spec.Limits.Wall)
	defer cancel()
	cmd := exec.CommandContext(ctx, spec.Args[0], spec.Args[1:]...)
	cmd.Dir, cmd.Env = spec.Dir, spec.Env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	res := sandbox.Result{Kind: sandbox.Exited, Stdout: []byte(out.String()), Stderr: []byte(errb.String()), Duration: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.Kind = sandbox.Timeout
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		return res, err
	}
	return res, nil
}

// Run is the developer's test run (coder.Runner): the task's code into its
// file, then the task's cases, or a compile check when it has none.
func (r *runner) Run(ctx context.Context, t coder.Task, code string) (coder.Verdict, error) {
	if err := r.write(ctx, t.File, code); err != nil {
		return coder.Verdict{Output: err.Error()}, nil
	}
	var cases []Case
	if t.Tests != "" {
		if err := json.Unmarshal([]byte(t.Tests), &cases); err != nil {
			return coder.Verdict{}, err
		}
	}
	var res sandbox.Result
	var err error
	switch {
	case len(cases) > 0:
		res, err = r.test(ctx, cases)
	case r.lang == Go:
		if err = r.write(ctx, "go.mod", "module build\n\ngo 1.21\n"); err == nil {
			res, err = r.exec(ctx, []string{r.tc.Exe, "vet", "."})
		}
	default:
		// compile() checks the syntax without writing __pycache__ into the folder.
		res, err = r.exec(ctx, []string{r.tc.Exe, "-I", "-c", "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')", t.File})
	}
	if err != nil {
		return coder.Verdict{}, err
	}
	v := coder.Verdict{Passed: res.OK(), Output: string(res.Stdout) + string(res.Stderr)}
	if res.Kind == sandbox.Timeout {
		v.Output += "\n" + res.String()
	}
	for _, cr := range verdicts(r.lang, cases, res) {
		if !cr.Passed {
			v.Case = fmt.Sprintf("%s(%s) should return %s: %s", cr.Function, cr.Args, cr.Expect, cr.Detail)
			break
		}
	}
	return v, nil
}

var goCompileError = regexp.MustCompile(`(?m)^\S*\.go:\d+:\d+: .*$`)

// why is the line of a run's output that says why no case ran: Go's first
// compile error, else the last line of stderr (a traceback's error).
func why(res sandbox.Result) string {
	if m := goCompileError.Find(append(append([]byte(nil), res.Stdout...), res.Stderr...)); m != nil {
		return lastLine(m)
	}
	return lastLine(res.Stderr)
}

// lastLine is the last non-empty line of out (a traceback's error, the
// compiler's last complaint).
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			if len(l) > 200 {
				l = l[:200] + "…"
			}
			return l
		}
	}
	return ""
}
