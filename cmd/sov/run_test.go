package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/gguf"
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
	undefGrammar := write("undef.gbnf", []byte("root ::= greeting\ngreeting ::= name \"!\"\n"))
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
		{"invalid grammar", []string{"run", "--model", m, "--grammar", badGrammar, "hi"}, 2, "bad.gbnf: invalid GBNF grammar: line 1, column 15: expecting ')'"},
		{"grammar without its rule", []string{"run", "--model", m, "--grammar", undefGrammar, "hi"}, 2, `line 2, column 14: rule "name" is used but not defined`},
		{"unknown flag", []string{"run", "--frobnicate", "hi"}, 2, "unknown flag"},
		{"bad temp", []string{"run", "--temp", "-1", "hi"}, 2, "--temp"},
		{"empty prompt", []string{"run", "--model", m, "   "}, 2, "empty"},
		{"draft model of another family", []string{"run", "--model", m, "--draft-model", testtool.Model(t, testtool.TinyRandom), "hi"}, 2, "leave out --draft-model"},
		{"draft model not installed", []string{"run", "--model", m, "--draft-model", "nosuch", "hi"}, 1, "--draft-model: no installed model"},
		{"draft model with parallel sessions", []string{"serve", "--model", m, "--parallel", "2", "--draft-model", m}, 2, "--parallel 1"},
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
	// The context used is reported on cancel too: the prompt at least.
	var ev generate.DoneEvent
	if err := json.Unmarshal([]byte(last), &ev); err != nil || ev.ContextTokens < ev.PromptTokens || ev.PromptTokens == 0 {
		t.Fatalf("context_tokens on cancel: %q %v", last, err)
	}
}

// runSovStdin runs the binary with f as its stdin (an *os.File, so sov
// sees a real pipe).
func runSovStdin(t *testing.T, f *os.File, args ...string) sovResult {
	t.Helper()
	cmd := exec.Command(sovBin, args...)
	cmd.Env = append(cleanEnv(), "SOV_HOME="+t.TempDir())
	cmd.Stdin = f
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return sovResult{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

func doneEvent(t *testing.T, r sovResult) generate.DoneEvent {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	var done generate.DoneEvent
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &done); err != nil || done.Type != "done" || r.Code != 0 {
		t.Fatalf("no done event: %+v", r)
	}
	return done
}

// TestRunStdinJoinsArguments: `cat notes | sov run "…"` sends the argument
// and the piped text; an empty, closed or silent stdin leaves the argument
// alone and never blocks.
func TestRunStdinJoinsArguments(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	args := []string{"run", "--model", m, "--temp", "0", "--max-tokens", "4", "--json", "Once upon a time"}
	alone := doneEvent(t, runSov(t, t.TempDir(), nil, "", args...)) // stdin is /dev/null
	r := runSov(t, t.TempDir(), nil, "Lily had a big red ball.\n", args...)
	if joined := doneEvent(t, r); joined.PromptTokens < alone.PromptTokens+6 || r.Stderr != "" {
		t.Fatalf("piped text not in the prompt: %d tokens alone, %d with it; stderr %q", alone.PromptTokens, joined.PromptTokens, r.Stderr)
	}
	// An empty pipe that is closed: the argument alone, no warning.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r = runSovStdin(t, pr, args...)
	pr.Close()
	if d := doneEvent(t, r); d.PromptTokens != alone.PromptTokens || r.Stderr != "" {
		t.Fatalf("empty pipe: %+v", r)
	}
	// A pipe left open and silent: the argument alone after a short wait,
	// with a warning.
	pr, pw, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	start := time.Now()
	r = runSovStdin(t, pr, args...)
	pr.Close()
	if d := doneEvent(t, r); d.PromptTokens != alone.PromptTokens || !strings.Contains(r.Stderr, "stdin is open but sent nothing") || time.Since(start) > 15*time.Second {
		t.Fatalf("silent pipe: %+v after %v", r, time.Since(start))
	}
}

// TestRunContextFull: an answer cut by the full context gets a note on
// stderr in text mode, outside the answer's bytes; --json says it in
// stop_reason only.
func TestRunContextFull(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	args := []string{"run", "--model", m, "--temp", "0", "--ctx", "32", "--ignore-eos", "Once upon a time"}
	r := runSov(t, t.TempDir(), nil, "", args...)
	if r.Code != 0 || strings.TrimSpace(r.Stderr) != "sov: the answer was cut: the context is full (raise --ctx)" || strings.Contains(r.Stdout, "sov:") || !strings.Contains(r.Stdout, "Lily") {
		t.Fatalf("text: %+v", r)
	}
	r = runSov(t, t.TempDir(), nil, "", append(args, "--json")...)
	if d := doneEvent(t, r); d.StopReason != "context" || r.Stderr != "" {
		t.Fatalf("json: %+v", r)
	}
	// An answer that ends for another reason has no note.
	r = runSov(t, t.TempDir(), nil, "", "run", "--model", m, "--temp", "0", "--max-tokens", "4", "Once upon a time")
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("max tokens: %+v", r)
	}
}

// TestRunSchemaIncomplete: JSON cut short is streamed as it came, but the
// run fails with one line that says it is not valid and what to change.
func TestRunSchemaIncomplete(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	dir := t.TempDir()
	sf := filepath.Join(dir, "schema.json")
	os.WriteFile(sf, []byte(runTestSchema), 0o600)
	for _, tt := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--max-tokens", "5"}, "stopped (max_tokens) before the JSON was complete: what was streamed is not valid JSON; raise --max-tokens"},
		{[]string{"--ctx", "16"}, "stopped (context) before the JSON was complete: what was streamed is not valid JSON; raise --ctx"},
		{[]string{"--stop", "oo"}, "stopped (stop) before the JSON was complete: what was streamed is not valid JSON; a --stop string cut it"},
	} {
		r := runSov(t, dir, nil, "", append([]string{"run", "--model", m, "--seed", "1", "--schema", sf, "Once upon a time"}, tt.flags...)...)
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if r.Code != 1 || json.Valid([]byte(r.Stdout)) || len(lines) != 1 || !strings.Contains(r.Stderr, tt.want) {
			t.Errorf("%v: %+v", tt.flags, r)
		}
	}
}

// TestRunDamagedModel: NaN weights fail with one line naming the file as
// damaged, instead of exit 0 and no output.
func TestRunDamagedModel(t *testing.T) {
	src := testtool.Model(t, testtool.Stories)
	f, err := gguf.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(src)
	for _, tn := range f.Tensors {
		if tn.Name == "output_norm.weight" {
			for i := f.DataOffset + int64(tn.Offset); i+4 <= f.DataOffset+int64(tn.Offset+tn.Bytes); i += 4 {
				binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32(math.NaN())))
			}
		}
	}
	nan := filepath.Join(t.TempDir(), "nan.gguf")
	os.WriteFile(nan, b, 0o600)
	for _, temp := range []string{"0", "0.8"} {
		r := runSov(t, t.TempDir(), nil, "", "run", "--model", nan, "--temp", temp, "--max-tokens", "8", "Once upon a time")
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if r.Code != 1 || r.Stdout != "" || len(lines) != 1 || !strings.Contains(r.Stderr, "the model file "+nan+" is damaged") {
			t.Fatalf("temp %s: %+v", temp, r)
		}
	}
}

func TestRunDraftModel(t *testing.T) {
	// A draft model changes the speed, never the greedy reply.
	m := testtool.Model(t, testtool.Stories)
	dir := t.TempDir()
	base := []string{"run", "--model", m, "--temp", "0", "--max-tokens", "40", "Once upon a time"}
	without := runSov(t, dir, nil, "", base...)
	with := runSov(t, dir, nil, "", append(base, "--draft-model", m)...)
	if without.Code != 0 || with.Code != 0 {
		t.Fatalf("exit %d / %d: %q %q", without.Code, with.Code, without.Stderr, with.Stderr)
	}
	if with.Stdout != without.Stdout || strings.TrimSpace(with.Stdout) == "" {
		t.Fatalf("greedy reply with a draft model %q, without %q", with.Stdout, without.Stdout)
	}
}
