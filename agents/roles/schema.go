package roles

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"github.com/sovos/sov/model/grammar"
)

// The roles' structured outputs. Each is a JSON Schema the engine turns
// into a grammar (so even a tiny model writes a document of this shape),
// and a Go type whose check (normalise) adds what JSON Schema cannot say
// here (the grammar has no "pattern"): identifiers, one-line expressions,
// unique names.

// prdSchema is the product manager's output: the PRD and the acceptance
// cases. question is last, so that a reply closed at its token cap ends
// with it empty rather than stopping the build, and null by default: a
// small model fills any string it is given, and a question stops the build.
const prdSchema = `{"type":"object","properties":{
"title":{"type":"string","minLength":1,"maxLength":80},
"summary":{"type":"string","maxLength":400},
"stories":{"type":"array","minItems":1,"maxItems":3,"items":{"type":"object","properties":{
  "as":{"type":"string","maxLength":60},
  "want":{"type":"string","minLength":1,"maxLength":120},
  "so":{"type":"string","maxLength":120}},
  "required":["as","want","so"],"additionalProperties":false}},
"acceptance":{"type":"array","minItems":1,"maxItems":5,"items":{"type":"object","properties":{
  "name":{"type":"string","minLength":1,"maxLength":80},
  "function":{"type":"string","minLength":1,"maxLength":40},
  "args":{"type":"string","maxLength":120},
  "expect":{"type":"string","minLength":1,"maxLength":120}},
  "required":["name","function","args","expect"],"additionalProperties":false}},
"tradeoffs":{"type":"string","maxLength":300},
"question":{"type":["null","string"],"maxLength":200}},
"required":["title","summary","stories","acceptance","tradeoffs","question"],"additionalProperties":false}`

// designSchema is the architect's output: the design and the tasks, in the
// order they are built.
const designSchema = `{"type":"object","properties":{
"overview":{"type":"string","maxLength":600},
"tasks":{"type":"array","minItems":1,"maxItems":6,"items":{"type":"object","properties":{
  "file":{"type":"string","minLength":1,"maxLength":40},
  "function":{"type":"string","minLength":1,"maxLength":40},
  "signature":{"type":"string","minLength":1,"maxLength":120},
  "description":{"type":"string","maxLength":300}},
  "required":["file","function","signature","description"],"additionalProperties":false}}},
"required":["overview","tasks"],"additionalProperties":false}`

// Story is one user story.
type Story struct {
	As   string `json:"as"`
	Want string `json:"want"`
	So   string `json:"so"`
}

// Case is one acceptance test: Function called with Args (a source-code
// argument list in the build's language) must return Expect (an
// expression in that language).
type Case struct {
	Name     string `json:"name"`
	Function string `json:"function"`
	Args     string `json:"args"`
	Expect   string `json:"expect"`
}

// PRD is the product manager's document.
type PRD struct {
	Title      string  `json:"title"`
	Summary    string  `json:"summary"`
	Stories    []Story `json:"stories"`
	Acceptance []Case  `json:"acceptance"`
	Tradeoffs  string  `json:"tradeoffs"`
	// Question is set when the request cannot be turned into a spec: what
	// the user must answer first.
	Question string `json:"question"`
}

// Acceptance is docs/acceptance.json: the cases the tester turns into tests.
type Acceptance struct {
	Lang  Lang   `json:"lang"`
	Cases []Case `json:"cases"`
}

// Task is one unit of the developer's work: a function in a file.
type Task struct {
	ID          int    `json:"id"`
	File        string `json:"file"`
	Function    string `json:"function"`
	Signature   string `json:"signature"`
	Description string `json:"description"`
}

// Design is the architect's document.
type Design struct {
	Overview string `json:"overview"`
	Tasks    []Task `json:"tasks"`
}

// Tasks is docs/tasks.json: the tasks in build order.
type Tasks struct {
	Lang  Lang   `json:"lang"`
	Tasks []Task `json:"tasks"`
}

// ErrInvalidArtifact: an artifact on disk (edited by a person, or damaged)
// does not satisfy its schema.
var ErrInvalidArtifact = errors.New("artifact is not valid")

// InvalidError names the artifact and what is wrong with it.
type InvalidError struct{ Path, Msg string }

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.Path, ErrInvalidArtifact, e.Msg)
}
func (e *InvalidError) Unwrap() error { return ErrInvalidArtifact }

var notIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// ident makes s a function name valid in both languages: what a small model
// wrote as "Add Numbers" becomes add_numbers (Go: exported later by the
// test's use of the name as written).
func ident(s string) string {
	s = strings.Trim(notIdent.ReplaceAllString(strings.TrimSpace(s), "_"), "_")
	if s == "" {
		return "solve"
	}
	if unicode.IsDigit(rune(s[0])) {
		s = "f_" + s
	}
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// oneLine joins s onto one line: a case's expressions go into a test file
// line by line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// normalise makes the PM's cases safe to put in a test file: identifiers
// for function names, one-line expressions, unique names.
func (p *PRD) normalise() {
	for i := range p.Acceptance {
		c := &p.Acceptance[i]
		c.Name, c.Function = oneLine(c.Name), ident(c.Function)
		c.Args, c.Expect = oneLine(c.Args), oneLine(c.Expect)
		if c.Name == "" {
			c.Name = fmt.Sprintf("case %d", i+1)
		}
		if c.Expect == "" {
			c.Expect = "None"
		}
	}
	p.Question = strings.TrimSpace(p.Question)
}

// check validates acceptance.json as read back from disk.
func (a *Acceptance) check(path string) error {
	if len(a.Cases) == 0 {
		return &InvalidError{path, "no cases"}
	}
	for i, c := range a.Cases {
		switch {
		case ident(c.Function) != c.Function:
			return &InvalidError{path, fmt.Sprintf("case %d: function %q is not an identifier", i+1, c.Function)}
		case oneLine(c.Args) != c.Args || oneLine(c.Expect) != c.Expect || c.Expect == "":
			return &InvalidError{path, fmt.Sprintf("case %d: args and expect must be one-line expressions, expect not empty", i+1)}
		}
	}
	return nil
}

// localFile is a task's file made a plain relative name with the
// language's extension (a small model may write "the main file").
func localFile(name string, lang Lang) string {
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".go"), ".py")
	base = strings.ToLower(ident(base))
	if lang == Go {
		if strings.HasSuffix(base, "_test") {
			base = strings.TrimSuffix(base, "_test") + "_impl"
		}
		return base + ".go"
	}
	if base == "test" || strings.HasPrefix(base, "test_") {
		base = "impl_" + base
	}
	return base + ".py"
}

// normalise gives tasks IDs, identifier names and files of the language.
func (d *Design) normalise(lang Lang) {
	for i := range d.Tasks {
		t := &d.Tasks[i]
		t.ID = i + 1
		t.Function, t.File = ident(t.Function), localFile(t.File, lang)
		t.Signature, t.Description = oneLine(t.Signature), strings.TrimSpace(t.Description)
	}
}

// check validates tasks.json as read back from disk.
func (t *Tasks) check(path string) error {
	if len(t.Tasks) == 0 {
		return &InvalidError{path, "no tasks"}
	}
	for i, k := range t.Tasks {
		if k.ID != i+1 || ident(k.Function) != k.Function || localFile(k.File, t.Lang) != k.File {
			return &InvalidError{path, fmt.Sprintf("task %d: id, function or file is not valid (ids count from 1; a file is a plain name ending in the language's extension)", i+1)}
		}
	}
	return nil
}

func decodeStrict(b []byte, v any, path string) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &InvalidError{path, err.Error()}
	}
	return nil
}

// CheckArtifacts checks every structured artifact of the build in dir:
// the PM's and the architect's documents against their JSON Schemas, and
// acceptance.json and tasks.json against what the pipeline requires of
// them. Those not written yet are skipped.
func CheckArtifacts(dir string) error {
	for _, a := range []struct{ path, schema string }{{pmFile, prdSchema}, {architectFile, designSchema}} {
		raw, err := os.ReadFile(filepath.Join(dir, a.path))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		s, err := grammar.Compile([]byte(a.schema))
		if err != nil {
			return err
		}
		if err := s.Validate(raw); err != nil {
			return &InvalidError{a.path, err.Error()}
		}
	}
	if raw, err := os.ReadFile(filepath.Join(dir, AcceptanceFile)); err == nil {
		var acc Acceptance
		if err := decodeStrict(raw, &acc, AcceptanceFile); err != nil {
			return err
		}
		if err := acc.check(AcceptanceFile); err != nil {
			return err
		}
	}
	if raw, err := os.ReadFile(filepath.Join(dir, TasksFile)); err == nil {
		var ts Tasks
		if err := decodeStrict(raw, &ts, TasksFile); err != nil {
			return err
		}
		return ts.check(TasksFile)
	}
	return nil
}
