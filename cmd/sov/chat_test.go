package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// `sov run` and the shell on SmolLM2-135M-Instruct, whose ChatML template
// comes from its GGUF. Greedy decoding keeps every reply fixed.

func TestRunChatModel(t *testing.T) {
	m := testtool.Model(t, testtool.Chat)
	dir := t.TempDir()
	schema := filepath.Join(dir, "tool.json")
	os.WriteFile(schema, []byte(`{"type":"object","properties":{"tool":{"type":"string","enum":["weather","email","calculator"]}},"required":["tool"],"additionalProperties":false}`), 0o600)
	grammar := filepath.Join(dir, "yesno.gbnf")
	os.WriteFile(grammar, []byte(`root ::= "yes" | "no"`), 0o600)
	tools := "Pick the tool for the request: weather (forecasts, rain, temperature), email (sending messages), calculator (arithmetic)."
	tests := []struct {
		name string
		args []string
		want func(string) bool
	}{
		{"answer", []string{"What is the capital of France? Answer in one word."}, func(s string) bool { return strings.Contains(s, "Paris") }},
		{"system", []string{"--system", "Your name is Zorblax.", "Hello, who are you?"}, func(s string) bool { return strings.Contains(s, "Zorblax") }},
		{"no system", []string{"Hello, who are you?"}, func(s string) bool { return !strings.Contains(s, "Zorblax") }},
		{"schema", []string{"--schema", schema, "--system", tools, "Is it going to rain in London today?"}, func(s string) bool { return strings.TrimSpace(s) == `{"tool":"weather"}` }},
		{"grammar", []string{"--grammar", grammar, "Is the sky blue? Answer yes or no."}, func(s string) bool { s = strings.TrimSpace(s); return s == "yes" || s == "no" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"run", "--model", m, "--temp", "0", "--max-tokens", "32", "--threads", "2"}, tt.args...)
			r := runSov(t, t.TempDir(), nil, "", args...)
			if r.Code != 0 || !tt.want(r.Stdout) || r.Stderr != "" {
				t.Fatalf("exit %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
	// The reply ends at the model's end of turn, not at the token limit.
	r := runSov(t, t.TempDir(), nil, "", "run", "--json", "--model", m, "--temp", "0", "--max-tokens", "64", "What is the capital of France? Answer in one word.")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	var done struct {
		Type       string `json:"type"`
		StopReason string `json:"stop_reason"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &done); err != nil || done.Type != "done" || done.StopReason != "eog" {
		t.Fatalf("exit %d, last event %q: %v", r.Code, lines[len(lines)-1], err)
	}
}

// A template llama.cpp does not recognise: one warning line on stderr, and
// the answer still comes through the plain fallback.
func TestRunUnknownTemplateWarns(t *testing.T) {
	m := testtool.WithChatTemplate(t, testtool.Model(t, testtool.Stories), "{% for m in messages %}[[{{ m.content }}]]{% endfor %}")
	r := runSov(t, t.TempDir(), nil, "", "run", "--model", m, "--temp", "0", "--max-tokens", "20", "Once upon a time")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Lily") {
		t.Fatalf("exit %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "sov: warning: ") || !strings.Contains(lines[0], "not one llama.cpp recognises") {
		t.Fatalf("stderr should be one warning line: %q", r.Stderr)
	}
}

func TestTUIEndToEndChatModel(t *testing.T) {
	m := testtool.Model(t, testtool.Chat)
	x := newTUITmux(t)
	home := t.TempDir()
	x.start("a", home, nil, "--model", m, "--temp", "0", "--threads", "2", "--max-tokens", "48", "--system", "Your name is Zorblax.")
	x.waitReady("a")
	x.keys("a", "Hello, who are you?", "Enter")
	x.waitFor("a", `(?s)● .*Zorblax.*tok/s`, 60*time.Second)
	// The follow-up reuses the first turn from the engine's cache.
	x.keys("a", "What is the capital of France? Answer in one word.", "Enter")
	screen := x.waitFor("a", `(?s)capital of France.*● .*Paris.*\(\d+ cached\)`, 60*time.Second)
	if strings.Contains(screen, "<|im_") {
		t.Errorf("template markers on screen:\n%s", screen)
	}
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)

	// Headless-only flags are refused in the shell, not ignored.
	x.start("b", home, nil, "--model", m, "--tools", "tools.json")
	x.waitFor("b", `(?s)are for .sov run., not the shell.*SOV-EXIT=2`, 10*time.Second)
}

func TestRunTools(t *testing.T) {
	m := testtool.Model(t, testtool.Chat)
	dir := t.TempDir()
	tools := filepath.Join(dir, "tools.json")
	os.WriteFile(tools, []byte(`[{"name":"weather","description":"Weather forecast for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":40}},"required":["city"],"additionalProperties":false}},
		{"name":"calculator","description":"Arithmetic on two numbers.","parameters":{"type":"object","properties":{"op":{"enum":["add","multiply"]},"a":{"type":"number"},"b":{"type":"number"}},"required":["op","a","b"],"additionalProperties":false}}]`), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"name":"weather"}`), 0o600)
	r := runSov(t, t.TempDir(), nil, "", "run", "--json", "--model", m, "--temp", "0", "--tools", tools, "--tool-choice", "weather", "What will the weather be in Paris tomorrow?")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	var done struct {
		Type     string
		ToolCall *struct {
			Name      string
			Arguments struct{ City string }
		} `json:"tool_call"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &done); err != nil || r.Code != 0 || done.ToolCall == nil || done.ToolCall.Name != "weather" || done.ToolCall.Arguments.City == "" {
		t.Fatalf("exit %d, done %q (%v), stderr %q", r.Code, lines[len(lines)-1], err, r.Stderr)
	}
	for _, args := range [][]string{
		{"--tools", tools, "--tool-choice", "search"},
		{"--tool-choice", "none"},
		{"--tools", bad},
		{"--tools", tools, "--schema", tools},
	} {
		r := runSov(t, t.TempDir(), nil, "", append(append([]string{"run", "--model", m}, args...), "hello")...)
		if r.Code != exitUsage || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, r.Code, r.Stderr)
		}
	}
}

// --prompt-cache: the second run restores the long system prompt from the
// data directory instead of decoding it, and answers the same.
func TestRunPromptCache(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	home := t.TempDir()
	system := strings.Repeat("Once upon a time there was a little girl named Lily who loved to play in the park. ", 16)
	var first string
	for i := range 2 {
		r := runSov(t, home, nil, "", "run", "--json", "--prompt-cache", "--model", m, "--temp", "0", "--max-tokens", "12", "--system", system, "One day")
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		var done struct {
			Type     string
			Restored int `json:"restored_tokens"`
			Prompt   int `json:"prompt_tokens"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &done); err != nil || r.Code != 0 || r.Stderr != "" {
			t.Fatalf("run %d: exit %d %q %q", i, r.Code, r.Stdout, r.Stderr)
		}
		text := strings.Join(lines[:len(lines)-1], "\n")
		switch {
		case i == 0:
			first = text
			if done.Restored != 0 {
				t.Fatalf("first run restored %d tokens", done.Restored)
			}
		case done.Restored < 256 || done.Prompt > 8 || text != first:
			t.Fatalf("second run restored %d, decoded %d; same answer: %v", done.Restored, done.Prompt, text == first)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(home, "kvcache", "*.kv")); len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
}
