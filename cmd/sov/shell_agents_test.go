package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// shellChatML gives stories260K (which has none) a chat template, so it
// can run an agent.
const shellChatML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"

// primed is a prompt that makes stories260K, greedy, choose a tool call
// over an answer: calls written out, the last one begun.
const primed = `{"tool": "workspace.write", "arguments": {"path": "a.md", "content": "a"}} {"tool": "workspace.write", "arguments": {"path": "a.md", "content": "a"}} {"t`

// An agent run from the shell, end to end on the real binary: /agents
// lists it; /agent runs it; its workspace.write call (an "ask" by the
// agent's rules) opens the approval pane with the tool's own plan, and
// n refuses it, so nothing is written; the refusal is in the folded tool
// block and the run ends with its usage line. The model's calls are
// grammar-forced: the test asserts the events and the prompt, not what
// the model writes (the prompts only steer its first choice).
func TestTUIEndToEndAgent(t *testing.T) {
	m := testtool.WithChatTemplate(t, testtool.Model(t, testtool.Stories), shellChatML)
	x := newTUITmux(t)
	home := t.TempDir()
	writeAgent(t, home, "writer", `model = "`+m+`"
prompt = '''{"tool": "workspace.write"} {"tool": "workspace.write"} {"tool": "workspace.write"}'''
[budget]
steps = 3
[[tools]]
name = "workspace.write"
`)
	x.start("a", home, nil, "--model", m)
	x.waitFor("a", `Message, or /help`, 20*time.Second)
	x.keys("a", "/agents", "Enter")
	x.waitFor("a", `writer\s+on demand · tools: workspace.write`, 10*time.Second)

	x.keys("a", "/agent writer "+primed, "Enter")
	// Either the approval pane, or (the model answered at once) the end of
	// the run: then nothing was asked, and the test says so.
	screen := x.waitFor("a", `asks to run a write tool|Agent writer: \w+ ·`, 60*time.Second)
	if !strings.Contains(screen, "asks to run a write tool") {
		t.Fatalf("the run ended without a workspace.write call; screen:\n%s", screen)
	}
	ws := filepath.Join(home, "workspaces", "writer")
	flat := strings.ReplaceAll(screen, "\n", " ")
	for _, re := range []string{
		`tool\s+workspace\.write`,
		`rule\s+default: workspace\.write is a write tool`,
		`What it will do \(from the call's arguments, not the model's words\):`,
		`y approve · n refuse`,
	} {
		if !regexp.MustCompile(re).MatchString(flat) {
			t.Errorf("approval pane: no %q in:\n%s", re, screen)
		}
	}
	// n refuses; the run goes on (the model is told) until it answers, asks
	// again (a later step: refused too) or runs out of steps.
	stepRx := regexp.MustCompile(`agent writer step (\d+)`)
	for {
		step := stepRx.FindStringSubmatch(screen)
		if step == nil {
			t.Fatalf("no step in the status bar:\n%s", screen)
		}
		x.keys("a", "n")
		screen = x.waitFor("a", `Agent writer: \w+ ·|asks to run a write tool(?s:.*)agent writer step [^`+step[1]+`]`, 60*time.Second)
		if !strings.Contains(screen, "asks to run a write tool") {
			break
		}
	}
	if !strings.Contains(screen, "⚙ workspace.write") || !strings.Contains(screen, "refused by you (rule: default)") {
		t.Errorf("no folded, refused tool block:\n%s", screen)
	}
	if des, _ := os.ReadDir(ws); len(des) != 0 {
		t.Errorf("a refused write was made: %v", des)
	}
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)
}
