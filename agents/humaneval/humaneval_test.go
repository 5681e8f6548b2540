package humaneval

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/agents/sandbox"
)

// dataDir is the shared evaluation data (../shared/data from the repo root).
func dataDir(t *testing.T) string {
	if d := os.Getenv("SOV_EVAL_DATA"); d != "" {
		return d
	}
	d, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "data"))
	if _, err := os.Stat(d); err != nil {
		t.Skipf("no evaluation data at %s (set SOV_EVAL_DATA)", d)
	}
	return d
}

func TestProgram(t *testing.T) {
	tests := []struct {
		name       string
		p          Problem
		completion string
		file       string
		want       []string
		notWant    []string
	}{
		{"python", Problem{Lang: Python, Prompt: "def f(x):\n", EntryPoint: "f", Test: "def check(c):\n    assert c(1) == 2\n"}, "    return x + 1\n",
			"program.py", []string{"def f(x):\n    return x + 1\n", "check(f)\n"}, nil},
		{"go adds what the completion uses", Problem{Lang: Go, Import: "import (\n    \"math\"\n)", Prompt: "import (\n    \"math\"\n)\nfunc F(x int) string {\n",
			TestSetup: "package main\n\nimport (\n    \"testing\"\n)\n", Test: "func TestF(t *testing.T) {}\n"},
			"    return strconv.Itoa(x)\n}\n", "main_test.go", []string{"import (\n\"strconv\"\n)", "func F(x int) string {\n    return strconv.Itoa(x)"}, []string{`"math"`}},
		{"go keeps what the setup imports", Problem{Lang: Go, Prompt: "func F() string {\n", TestSetup: "package main\nimport (\n\"testing\"\n\"fmt\"\n)\n", Test: ""},
			"return fmt.Sprint(1)\n}\n", "main_test.go", []string{"fmt.Sprint"}, []string{"import (\n\"fmt\"\n)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file, src := Program(tc.p, tc.completion)
			if file != tc.file {
				t.Errorf("file %q, want %q", file, tc.file)
			}
			for _, w := range tc.want {
				if !strings.Contains(src, w) {
					t.Errorf("program lacks %q:\n%s", w, src)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(src, w) {
					t.Errorf("program has %q:\n%s", w, src)
				}
			}
		})
	}
}

func TestParseLang(t *testing.T) {
	for in, want := range map[string]Lang{"python": Python, "Go": Go} {
		if got, err := ParseLang(in); err != nil || got != want {
			t.Errorf("ParseLang(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseLang("rust"); !errors.Is(err, ErrLang) {
		t.Errorf("ParseLang(rust) = %v, want ErrLang", err)
	}
}

// TestCanonical: the canonical solutions pass in the sandbox, and a wrong
// one fails. -short (and make test) checks a few problems per language;
// SOV_HUMANEVAL_FULL=1 checks all 164 of each.
func TestCanonical(t *testing.T) {
	data := dataDir(t)
	for _, lang := range []Lang{Python, Go} {
		t.Run(string(lang), func(t *testing.T) {
			ps, err := Load(DataFile(data, lang), lang)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 164 {
				t.Fatalf("%d problems, want 164", len(ps))
			}
			ctx := context.Background()
			r, err := NewRunner(ctx, lang)
			if errors.Is(err, sandbox.ErrUnsupported) || errors.Is(err, sandbox.ErrNoToolchain) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()

			wrong, err := r.Check(ctx, ps[0], "    return None\n")
			if lang == Go {
				wrong, err = r.Check(ctx, ps[0], "    return false\n}\n")
			}
			if err != nil || wrong.Passed {
				t.Fatalf("a wrong solution: %+v, %v", wrong, err)
			}
			if os.Getenv("SOV_HUMANEVAL_FULL") != "1" {
				ps = []Problem{ps[0], ps[32], ps[65], ps[100], ps[163]}
			}
			sum, err := r.Canonical(ctx, ps, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s canonical: %d/%d in %v", lang, sum.Passed, sum.Total, sum.Duration)
			for _, f := range sum.Failed {
				t.Errorf("%s: %v\n%s", f.TaskID, f.Result, tailOf(f.Result.Stdout, f.Result.Stderr))
			}
		})
	}
}

func tailOf(bs ...[]byte) string {
	var s string
	for _, b := range bs {
		s += string(b)
	}
	if len(s) > 800 {
		s = s[len(s)-800:]
	}
	return s
}

// TestCheckCanonicalLimit: the limit takes the first problems; missing
// data is fs.ErrNotExist (the CLI's hint names --data).
func TestCheckCanonicalLimit(t *testing.T) {
	ctx := context.Background()
	if _, err := CheckCanonical(ctx, t.TempDir(), Python, 1, 1, nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no data: %v", err)
	}
	data := dataDir(t)
	var seen []string
	sum, err := CheckCanonical(ctx, data, Python, 2, 1, func(o Outcome) { seen = append(seen, o.TaskID) })
	if errors.Is(err, sandbox.ErrUnsupported) || errors.Is(err, sandbox.ErrNoToolchain) {
		t.Skip(err)
	}
	if err != nil || sum.Total != 2 || sum.Passed != 2 || len(seen) != 2 {
		t.Fatalf("%+v %v (saw %v)", sum, err, seen)
	}
}
