// Package humaneval runs HumanEval (Python) and HumanEval-X (Go) problems in
// the sandbox: it builds each problem's program the way the official
// harnesses do (prompt + completion + tests) and reports which pass. The
// data files are read where they lie, never copied.
package humaneval

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sovos/sov/agents/roles/coder"
)

// Lang is a benchmark language (coder.Lang).
type Lang = coder.Lang

const (
	Python = coder.Python
	Go     = coder.Go
)

// ErrLang is an unknown language.
var ErrLang = coder.ErrLang

// ParseLang reads a language name.
func ParseLang(s string) (Lang, error) { return coder.ParseLang(s) }

// DataFile is where lang's problems lie under the shared data folder.
func DataFile(dataDir string, lang Lang) string {
	if lang == Go {
		return filepath.Join(dataDir, "humaneval-x", "humaneval_go.jsonl.gz")
	}
	return filepath.Join(dataDir, "humaneval", "HumanEval.jsonl.gz")
}

// Problem is one task. Import, TestSetup are HumanEval-X (Go) only;
// EntryPoint is HumanEval (Python) only.
type Problem struct {
	Lang       Lang   `json:"-"`
	TaskID     string `json:"task_id"`
	Prompt     string `json:"prompt"`
	EntryPoint string `json:"entry_point"`
	Canonical  string `json:"canonical_solution"`
	Test       string `json:"test"`
	Import     string `json:"import"`
	TestSetup  string `json:"test_setup"`
}

// Load reads a gzipped JSON Lines problem file.
func Load(path string, lang Lang) ([]Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("humaneval data: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("humaneval data %s: %w", path, err)
	}
	var ps []Problem
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var p Problem
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("humaneval data %s line %d: %w", path, line, err)
		}
		if p.TaskID == "" || p.Prompt == "" || p.Test == "" {
			return nil, fmt.Errorf("humaneval data %s line %d: a problem lacks task_id, prompt or test", path, line)
		}
		p.Lang = lang
		ps = append(ps, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("humaneval data %s: %w", path, err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("humaneval data %s: no problems", path)
	}
	return ps, nil
}

// goHelperImports are the packages HumanEval-X's harness adds when the
// completion uses them and the test setup does not import them.
var goHelperImports = []string{"math", "strings", "fmt", "strconv", "time", "bytes", "regexp", "sort", "math/rand", "crypto/md5"}

// Program is the source that tests completion against p: for Python
// prompt + completion + test + check(entry_point) (human-eval's
// execution.py), for Go test_setup + needed imports + prompt without its
// import block + completion + test, one main_test.go (CodeGeeX's
// humaneval-x harness).
func Program(p Problem, completion string) (file, src string) {
	if p.Lang == Go {
		prompt := strings.Replace(p.Prompt, p.Import, "", 1)
		var pkgs []string
		for _, pkg := range goHelperImports {
			if strings.Contains(p.TestSetup, `"`+pkg+`"`) {
				continue
			}
			if strings.Contains(completion, pkg[strings.LastIndex(pkg, "/")+1:]+".") {
				pkgs = append(pkgs, `"`+pkg+`"`)
			}
		}
		var b strings.Builder
		b.WriteString(p.TestSetup + "\n")
		if len(pkgs) > 0 {
			b.WriteString("import (\n" + strings.Join(pkgs, "\n") + "\n)\n")
		}
		b.WriteString(prompt + completion + "\n" + p.Test + "\n")
		return "main_test.go", b.String()
	}
	return "program.py", p.Prompt + completion + "\n" + p.Test + "\n" + "check(" + p.EntryPoint + ")\n"
}
