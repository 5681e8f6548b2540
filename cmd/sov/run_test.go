package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

func TestRunGreedyLily(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	r := runSov(t, t.TempDir(), nil, "", "run", "--model", m, "--temp", "0", "--max-tokens", "40", "Once upon a time")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Lily") {
		t.Fatalf("exit %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	// The prompt may also come from stdin, and SOV_MODEL selects the model.
	r = runSov(t, t.TempDir(), []string{"SOV_MODEL=" + m}, "Once upon a time\n", "run", "--temp", "0", "--max-tokens", "40")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Lily") {
		t.Fatalf("stdin prompt: exit %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
	}
}

func TestRunJSONLines(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	r := runSov(t, t.TempDir(), nil, "", "run", "--model", m, "--temp", "0", "--max-tokens", "12", "--json", "Once upon a time")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	var text strings.Builder
	for i, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %d is not JSON: %q", i, l)
		}
		switch ev["type"] {
		case "token":
			text.WriteString(ev["text"].(string))
		case "done":
			if i != len(lines)-1 {
				t.Fatal("done must be the last event")
			}
			for _, k := range []string{"prompt_tokens", "generated_tokens", "prompt_tokens_per_second", "generated_tokens_per_second", "stop_reason"} {
				if _, ok := ev[k]; !ok {
					t.Fatalf("done lacks %s: %v", k, ev)
				}
			}
			if ev["generated_tokens"].(float64) != 12 || ev["stop_reason"] != "max_tokens" {
				t.Fatalf("done: %v", ev)
			}
		default:
			t.Fatalf("unexpected event %v", ev)
		}
	}
	if !strings.Contains(text.String(), "little girl") {
		t.Fatalf("tokens: %q", text.String())
	}
}

const runTestSchema = `{"type":"object","properties":{"mood":{"type":"string","enum":["happy","sad","angry"]},"age":{"type":"integer"},"friends":{"type":"array","items":{"type":"string","maxLength":12},"maxItems":3}},"required":["mood","age","friends"],"additionalProperties":false}`

func TestRunSchemaSeeds(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	dir := t.TempDir()
	sf := filepath.Join(dir, "schema.json")
	os.WriteFile(sf, []byte(runTestSchema), 0o600)
	schema, err := model.CompileSchema([]byte(runTestSchema))
	if err != nil {
		t.Fatal(err)
	}
	_ = schema
	for _, seed := range []string{"1", "2", "3", "4", "5"} {
		r := runSov(t, dir, nil, "", "run", "--model", m, "--seed", seed, "--schema", sf, "Once upon a time")
		if r.Code != 0 {
			t.Fatalf("seed %s: exit %d %s", seed, r.Code, r.Stderr)
		}
		var v struct {
			Mood    string   `json:"mood"`
			Age     *int     `json:"age"`
			Friends []string `json:"friends"`
		}
		dec := json.NewDecoder(strings.NewReader(r.Stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("seed %s: %q is not the schema's JSON: %v", seed, r.Stdout, err)
		}
		if (v.Mood != "happy" && v.Mood != "sad" && v.Mood != "angry") || v.Age == nil || v.Friends == nil || len(v.Friends) > 3 {
			t.Fatalf("seed %s: %+v", seed, v)
		}
	}
}

func TestRunBadInput(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	dir := t.TempDir()
	real, _ := os.ReadFile(m)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	notGGUF := write("notes.txt", []byte("just some notes, not a model"))
	trunc := write("trunc.gguf", real[:1000])
	garbage := write("garbage.gguf", append([]byte("GGUF"), bytes.Repeat([]byte{0xfe, 0x01, 0x77}, 400)...))
	badSchema := write("bad.json", []byte(`{"type":"object","properties":{"x":{"type":"string","pattern":"a+"}}}`))
	notJSON := write("nj.json", []byte(`{type: object`))
	badGrammar := write("bad.gbnf", []byte(`root ::= ( "a"`))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing model", []string{"run", "--model", filepath.Join(dir, "none.gguf"), "hi"}, 1, "does not exist"},
		{"no model at all", []string{"run", "hi"}, 1, "sov pull"},
		{"not gguf", []string{"run", "--model", notGGUF, "hi"}, 1, "not a GGUF"},
		{"truncated", []string{"run", "--model", trunc, "hi"}, 1, "truncated"},
		{"magic then garbage", []string{"run", "--model", garbage, "hi"}, 1, "GGUF"},
		{"invalid schema keyword", []string{"run", "--model", m, "--schema", badSchema, "hi"}, 2, "pattern"},
		{"schema not json", []string{"run", "--model", m, "--schema", notJSON, "hi"}, 2, "JSON"},
		{"prompt longer than context", []string{"run", "--model", m, "--ctx", "32", strings.Repeat("Once upon a time ", 30)}, 1, "--ctx"},
		{"invalid grammar", []string{"run", "--model", m, "--grammar", badGrammar, "hi"}, 1, "GBNF"},
		{"unknown flag", []string{"run", "--frobnicate", "hi"}, 2, "unknown flag"},
		{"bad temp", []string{"run", "--temp", "-1", "hi"}, 2, "--temp"},
		{"empty prompt", []string{"run", "--model", m, "   "}, 2, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSov(t, dir, nil, "", tt.args...)
			if r.Code != tt.code {
				t.Fatalf("exit %d want %d; stderr %q", r.Code, tt.code, r.Stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if len(lines) != 1 || !strings.Contains(r.Stderr, tt.want) || strings.Contains(r.Stderr, "panic") {
				t.Fatalf("want one line mentioning %q, got %q", tt.want, r.Stderr)
			}
		})
	}
	// --json reports errors as an error event too.
	r := runSov(t, dir, nil, "", "run", "--json", "--model", notGGUF, "hi")
	if r.Code != 1 || !strings.Contains(r.Stdout, `"type":"error"`) {
		t.Fatalf("json error event: %d %q", r.Code, r.Stdout)
	}
}

func TestRunInterrupt(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	cmd := exec.Command(sovBin, "run", "--model", m, "--temp", "0.9", "--seed", "3", "--json", "Once upon a time")
	cmd.Env = append(cleanEnv(), "SOV_HOME="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	var last string
	for sc.Scan() {
		last = sc.Text()
		n++
		if n == 3 {
			cmd.Process.Signal(syscall.SIGINT)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("sov run did not stop on SIGINT")
	}
	if cmd.ProcessState.ExitCode() != exitInterrupted {
		t.Fatalf("exit %d want 130", cmd.ProcessState.ExitCode())
	}
	if !strings.Contains(last, `"stop_reason":"cancelled"`) {
		t.Fatalf("last event %q", last)
	}
}
