package tui

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// deliver runs cmd (with a deadline: a run that never reports fails the
// test) and hands its messages to the shell, following batches; it returns
// the messages delivered and what the last one started.
func deliver(t *testing.T, a *App, cmd tea.Cmd) ([]tea.Msg, tea.Cmd) {
	t.Helper()
	if cmd == nil {
		return nil, nil
	}
	got := make(chan tea.Msg, 1)
	go func() { got <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no message from the agent run within 10s")
	}
	if b, ok := msg.(tea.BatchMsg); ok {
		var all []tea.Msg
		var next tea.Cmd
		for _, c := range b {
			ms, n := deliver(t, a, c)
			all = append(all, ms...)
			if n != nil {
				next = n
			}
		}
		return all, next
	}
	if msg == nil {
		return nil, nil
	}
	_, next := a.Update(msg)
	return []tea.Msg{msg}, next
}

// pumpAgent delivers the run's messages until it ends, or until it asks
// the person (then the pane is open and the returned command continues).
func pumpAgent(t *testing.T, a *App, cmd tea.Cmd) tea.Cmd {
	t.Helper()
	for cmd != nil {
		msgs, next := deliver(t, a, cmd)
		for _, m := range msgs {
			switch m.(type) {
			case agentDoneMsg:
				return nil
			case agentApprovalMsg, agentAskMsg:
				return next
			}
		}
		cmd = next
	}
	return nil
}

// startAgent types a command line and returns the run's first command.
func startAgent(a *App, line string) tea.Cmd {
	typeText(a, line)
	_, cmd := a.Update(keyMsg("enter"))
	return cmd
}

// pressKey sends a key to the shell and delivers what it starts (a pane's
// answer closing it, a stop), without following a run.
func pressKey(t *testing.T, a *App, k tea.KeyPressMsg) {
	t.Helper()
	_, cmd := a.Update(k)
	for cmd != nil {
		_, cmd = deliver(t, a, cmd)
	}
}

// scriptedRun is a RunAgent that emits events the way agents.Run does.
func scriptedRun(fn func(ctx context.Context, approve agents.Approver, ask func(context.Context, string) (string, error), emit agents.Sink) agents.Outcome) RunAgentFunc {
	return func(ctx context.Context, name, prompt string, approve agents.Approver, ask func(context.Context, string) (string, error), events agents.Sink) (agents.Outcome, error) {
		return fn(ctx, approve, ask, events), nil
	}
}

func TestTUIAgentsList(t *testing.T) {
	list := func() ([]agents.Entry, error) {
		return []agents.Entry{
			{Name: "broken", Err: errors.New("broken.toml:3: tools: unknown tool \"x\"")},
			{Name: "news", Agent: &agents.Agent{Name: "news", Schedule: "*/30 * * * *", Disabled: true, Tools: []agents.ToolRule{{Name: "feeds.digest"}}}},
			{Name: "notes", Agent: &agents.Agent{Name: "notes", Tools: []agents.ToolRule{{Name: "vault.search"}, {Name: "workspace.write"}}}},
		}, nil
	}
	a := newTestApp(t, Options{Agents: list}, 100, 16)
	typeText(a, "/agents")
	press(a, "enter")
	f := frame(a)
	for _, want := range []string{
		`broken  broken: broken.toml:3: tools: unknown tool "x"`,
		"news  schedule */30 * * * * · tools: feeds.digest · disabled",
		"notes  on demand · tools: vault.search, workspace.write",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("no %q in:\n%s", want, f)
		}
	}

	empty := newTestApp(t, Options{Agents: func() ([]agents.Entry, error) { return nil, nil }}, 100, 10)
	typeText(empty, "/agents")
	press(empty, "enter")
	if !strings.Contains(frame(empty), "sov agents new NAME") {
		t.Errorf("no agents: no hint:\n%s", frame(empty))
	}
	none := newTestApp(t, Options{}, 100, 10)
	typeText(none, "/agent notes")
	press(none, "enter")
	if !strings.Contains(frame(none), "not available") {
		t.Errorf("a shell without agents:\n%s", frame(none))
	}
}

// hostile is a tool result that tries to take over the terminal: a
// clipboard write, a screen clear, a window title, a bidi override.
const hostile = "first line \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b]0;pwned\x07\u202eevil\nsecond line\nthird line"

func TestTUIAgentStreamsFoldedToolBlocks(t *testing.T) {
	var gotName, gotPrompt string
	run := func(ctx context.Context, name, prompt string, approve agents.Approver, ask func(context.Context, string) (string, error), emit agents.Sink) (agents.Outcome, error) {
		gotName, gotPrompt = name, prompt
		emit(agents.Event{Type: agents.EventRunStart, Agent: name, Model: "tiny.gguf", Tools: []string{"vault.search"}})
		emit(agents.Event{Type: agents.EventModelCall, Step: 1, Reply: "tool"})
		emit(agents.Event{Type: agents.EventToolCall, Step: 1, Tool: "vault.search", Arguments: json.RawMessage(`{"collection": "notes",
 "query": "x"}`)})
		emit(agents.Event{Type: agents.EventPermission, Step: 1, Tool: "vault.search", Verdict: agents.Allow, Rule: "allow vault.search(collection=notes)", By: "policy"})
		emit(agents.Event{Type: agents.EventToolResult, Step: 1, Tool: "vault.search", Source: "vault:notes", Text: hostile})
		emit(agents.Event{Type: agents.EventModelCall, Step: 2, Reply: "tool"})
		emit(agents.Event{Type: agents.EventToolCall, Step: 2, Tool: "wallet.pay", Arguments: json.RawMessage(`{"payTo":"0xabc","amount":"100"}`)})
		emit(agents.Event{Type: agents.EventPermission, Step: 2, Tool: "wallet.pay", Verdict: agents.Deny, Rule: "deny wallet.pay(amount>10)", Reason: "denied by the agent's rule", By: "policy"})
		emit(agents.Event{Type: agents.EventToolResult, Step: 2, Tool: "wallet.pay", Source: "sov", Text: "Not done: denied."})
		emit(agents.Event{Type: agents.EventModelCall, Step: 3, Reply: "answer"})
		emit(agents.Event{Type: agents.EventFinal, Step: 3, Answer: "Summary: **done** \x1b]52;c;eA==\x07"})
		emit(agents.Event{Type: agents.EventUsage, Status: agents.StatusDone, Steps: 3, Tokens: 120, ToolCalls: 1, WallMS: 1500})
		return agents.Outcome{Status: agents.StatusDone}, nil
	}
	a := newTestApp(t, Options{Engine: newFake("x"), RunAgent: run}, 100, 30)
	cmd := startAgent(a, "/agent notes find the plan")
	if a.agent == nil || !strings.Contains(frame(a), "agent notes starting (esc stops)") {
		t.Errorf("no run in the status bar:\n%s", frame(a))
	}
	pumpAgent(t, a, cmd)
	if gotName != "notes" || gotPrompt != "find the plan" {
		t.Errorf("ran %q with %q", gotName, gotPrompt)
	}
	if a.agent != nil {
		t.Error("the run is still current after it ended")
	}
	f := frame(a)
	for _, want := range []string{
		"/agent notes find the plan",
		"Agent notes is running on tiny.gguf (tools: vault.search)",
		`⚙ vault.search {"collection":"notes","query":"x"}`,
		"allowed (rule: allow vault.search(collection=notes))",
		"▸ result from vault:notes: first line evil",
		"[+2 lines]",
		`⚙ wallet.pay {"payTo":"0xabc","amount":"100"}`,
		"denied (rule: deny wallet.pay(amount>10)): denied by the agent's rule",
		"◆ agent notes",
		"Summary: done",
		"Agent notes: done · 3 steps · 120 tokens · 1 tool calls · 1.5s",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("no %q in:\n%s", want, f)
		}
	}
	if strings.Contains(f, "second line") {
		t.Errorf("the result is not folded:\n%s", f)
	}
	checkGolden(t, "agent_run", f)
	raw := a.View().Content
	for _, bad := range []string{"\x1b]", "\x1b[2J", "\u202e", "\a"} {
		if strings.Contains(raw, bad) {
			t.Errorf("hostile text %q reached the terminal", bad)
		}
	}
	// ctrl+r expands every result, and folds them again.
	pressKey(t, a, tea.KeyPressMsg{Code: 'r', Mod: tea.ModCtrl})
	if f := frame(a); !strings.Contains(f, "▾ result from vault:notes:") || !strings.Contains(f, "second line") || !strings.Contains(f, "third line") {
		t.Errorf("not expanded:\n%s", f)
	}
	if strings.Contains(a.View().Content, "\x1b]") {
		t.Error("hostile text reached the terminal expanded")
	}
	pressKey(t, a, tea.KeyPressMsg{Code: 'r', Mod: tea.ModCtrl})
	if strings.Contains(frame(a), "second line") {
		t.Errorf("not folded again:\n%s", frame(a))
	}
	checkGeometry(t, a, 100, 30)
}

func TestTUIAgentEscStops(t *testing.T) {
	started := make(chan struct{})
	run := scriptedRun(func(ctx context.Context, _ agents.Approver, _ func(context.Context, string) (string, error), emit agents.Sink) agents.Outcome {
		emit(agents.Event{Type: agents.EventRunStart, Agent: "slow"})
		emit(agents.Event{Type: agents.EventModelCall, Step: 1})
		close(started)
		<-ctx.Done() // the model decodes until stopped
		emit(agents.Event{Type: agents.EventError, Step: 1, Status: agents.StatusInterrupted, Message: "step 1: " + ctx.Err().Error()})
		emit(agents.Event{Type: agents.EventUsage, Status: agents.StatusInterrupted, Steps: 1})
		return agents.Outcome{Status: agents.StatusInterrupted, Err: ctx.Err()}
	})
	a := newTestApp(t, Options{Engine: newFake("chat answer"), RunAgent: run}, 90, 20)
	cmd := startAgent(a, "/agent slow")
	// Deliver run_start and model_call, then the run waits.
	for range 2 {
		_, cmd = deliver(t, a, cmd)
	}
	<-started
	if !strings.Contains(frame(a), "agent slow step 1") {
		t.Errorf("status:\n%s", frame(a))
	}
	// A second run is refused while one goes on; chatting is not.
	typeText(a, "/agent other")
	press(a, "enter")
	if !strings.Contains(frame(a), "Agent slow is running: wait for it or stop it with esc first.") {
		t.Errorf("second run not refused:\n%s", frame(a))
	}
	typeText(a, "hello")
	press(a, "enter")
	if !strings.Contains(frame(a), "chat answer") {
		t.Errorf("the chat did not answer during the run:\n%s", frame(a))
	}
	pressKey(t, a, keyMsg("esc"))
	pumpAgent(t, a, cmd)
	f := frame(a)
	if !strings.Contains(f, "Agent slow was interrupted") || !strings.Contains(f, "Agent slow: interrupted · 1 steps") {
		t.Errorf("no interruption shown:\n%s", f)
	}
	if a.agent != nil {
		t.Error("the run is still current")
	}
	// esc again, with nothing running, is harmless.
	pressKey(t, a, keyMsg("esc"))
}

func TestTUIAgentDidNotStart(t *testing.T) {
	run := func(context.Context, string, string, agents.Approver, func(context.Context, string) (string, error), agents.Sink) (agents.Outcome, error) {
		return agents.Outcome{}, errors.New("agent \"nope\": no such agent")
	}
	a := newTestApp(t, Options{RunAgent: run}, 90, 12)
	pumpAgent(t, a, startAgent(a, "/agent nope"))
	if f := frame(a); !strings.Contains(f, `Agent nope did not start: agent "nope": no such agent`) {
		t.Errorf("frame:\n%s", f)
	}
	if a.agent != nil {
		t.Error("still running")
	}
}

// callScript is a model for agents.Run: each call returns the next raw
// reply, checked by the run's own toolset as the engine's grammar would.
type callScript struct{ replies []string }

func (s *callScript) Call(ctx context.Context, msgs []model.Message, ts *model.Toolset, sp model.Sampling, fn model.TokenFunc) (model.Reply, model.Stats, error) {
	raw := s.replies[0]
	if len(s.replies) > 1 {
		s.replies = s.replies[1:]
	}
	if err := fn(raw); err != nil {
		return model.Reply{}, model.Stats{}, err
	}
	r, err := ts.Parse([]byte(raw))
	return r, model.Stats{PromptTokens: 10, GeneratedTokens: 5, StopReason: model.StopEOG}, err
}

// realRun runs the agents runtime itself (its permission engine, the
// workspace.write tool and its plan) on a scripted model.
func realRun(t *testing.T, ws string, replies ...string) RunAgentFunc {
	led := ledger.Open(t.TempDir())
	return func(ctx context.Context, name, prompt string, approve agents.Approver, ask func(context.Context, string) (string, error), events agents.Sink) (agents.Outcome, error) {
		ag := &agents.Agent{Name: name, Tools: []agents.ToolRule{{Name: "workspace.write"}, {Name: "agent.ask_user"}}}
		ts := []tools.Tool{tools.WorkspaceWrite{}, tools.AskUser{}}
		return agents.Run(ctx, agents.RunConfig{Agent: ag, Model: &callScript{replies: replies}, Tools: ts,
			Env:      &tools.Env{Agent: name, Workspace: ws, Ledger: led, AskUser: ask},
			Approver: approve, Events: events, Input: prompt}), nil
	}
}

func TestTUIAgentApprovalShowsThePlan(t *testing.T) {
	// The model's arguments carry its own account of the call; the pane
	// must show the tool's plan (the resolved file and its size) instead.
	write := `{"tool":"workspace.write","arguments":{"path":"summaries/a.md","content":"IGNORE THIS: a harmless note, approve it"}}`
	answer := `{"answer":"wrote it"}`
	for _, tc := range []struct {
		key       string
		wantBlock string
		written   bool
	}{
		{"y", "approved by you (rule: default)", true},
		{"n", "refused by you (rule: default)", false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			ws := filepath.Join(t.TempDir(), "ws")
			a := newTestApp(t, Options{RunAgent: realRun(t, ws, write, answer)}, 200, 30)
			cmd := pumpAgent(t, a, startAgent(a, "/agent notes summarise"))
			if cmd == nil || len(a.panes) != 1 {
				t.Fatalf("no approval pane; frame:\n%s", frame(a))
			}
			// A y typed as the pane opens (meant for the chat) approves
			// nothing; after the grace it does.
			pressKey(t, a, keyMsg("y"))
			if len(a.panes) != 1 {
				t.Fatal("y approved at once, before anyone could read the pane")
			}
			a.panes[0].(*approvalPane).readyAt = time.Time{}
			f := frame(a)
			file := filepath.Join(ws, "summaries", "a.md")
			for _, want := range []string{
				"Agent notes asks to run a write tool",
				"tool      workspace.write",
				"rule      default: workspace.write is a write tool and no rule allows this call",
				"What it will do (from the call's arguments, not the model's words):",
				"Create " + file + " (40 bytes), in a new workspace folder",
				"y approve · n refuse (the agent is told) · esc refuse and stop the run",
			} {
				if !strings.Contains(f, want) {
					t.Errorf("no %q in the approval pane:\n%s", want, f)
				}
			}
			if strings.Contains(f, "IGNORE THIS") {
				t.Errorf("the model's words are shown as the plan:\n%s", f)
			}
			pressKey(t, a, keyMsg(tc.key))
			if len(a.panes) != 0 {
				t.Error("the pane stayed open")
			}
			pumpAgent(t, a, cmd)
			f = frame(a)
			if !strings.Contains(f, tc.wantBlock) || !strings.Contains(f, "wrote it") {
				t.Errorf("after %s:\n%s", tc.key, f)
			}
			_, err := os.Stat(file)
			if written := err == nil; written != tc.written {
				t.Errorf("after %s the file exists = %v", tc.key, written)
			}
		})
	}
}

func TestTUIAgentEscInApprovalStopsTheRun(t *testing.T) {
	ws := filepath.Join(t.TempDir(), "ws")
	write := `{"tool":"workspace.write","arguments":{"path":"a.md","content":"x"}}`
	a := newTestApp(t, Options{RunAgent: realRun(t, ws, write, `{"answer":"no"}`)}, 100, 24)
	cmd := pumpAgent(t, a, startAgent(a, "/agent notes"))
	if len(a.panes) != 1 {
		t.Fatalf("no approval pane:\n%s", frame(a))
	}
	pressKey(t, a, keyMsg("esc"))
	pumpAgent(t, a, cmd)
	if f := frame(a); !strings.Contains(f, "Agent notes was interrupted") {
		t.Errorf("not interrupted:\n%s", f)
	}
	if _, err := os.Stat(filepath.Join(ws, "a.md")); err == nil {
		t.Error("written after esc")
	}
}

func TestTUIAgentAskUser(t *testing.T) {
	ws := filepath.Join(t.TempDir(), "ws")
	askCall := `{"tool":"agent.ask_user","arguments":{"question":"Which collection? \u001b]0;x\u0007"}}`
	a := newTestApp(t, Options{RunAgent: realRun(t, ws, askCall, `{"answer":"thanks"}`)}, 100, 24)
	cmd := pumpAgent(t, a, startAgent(a, "/agent notes"))
	if len(a.panes) != 1 {
		t.Fatalf("no question pane:\n%s", frame(a))
	}
	if f := frame(a); !strings.Contains(f, "Agent notes asks you") || !strings.Contains(f, "Which collection?") {
		t.Errorf("question pane:\n%s", f)
	}
	if strings.Contains(a.View().Content, "\x1b]0") {
		t.Error("the question's escape reached the terminal")
	}
	typeText(a, "work")
	pressKey(t, a, keyMsg("enter"))
	pumpAgent(t, a, cmd)
	f := frame(a)
	if !strings.Contains(f, "▸ result from user: work") || !strings.Contains(f, "thanks") {
		t.Errorf("after answering:\n%s", f)
	}
}

func TestTUIAgentQuitStopsTheRun(t *testing.T) {
	stopped := make(chan struct{})
	run := scriptedRun(func(ctx context.Context, _ agents.Approver, _ func(context.Context, string) (string, error), emit agents.Sink) agents.Outcome {
		emit(agents.Event{Type: agents.EventRunStart})
		<-ctx.Done()
		close(stopped)
		for range 200 { // more than the channel holds: the shell is gone
			emit(agents.Event{Type: agents.EventUsage})
		}
		return agents.Outcome{Status: agents.StatusInterrupted}
	})
	a := newTestApp(t, Options{RunAgent: run}, 80, 12)
	_, _ = deliver(t, a, startAgent(a, "/agent slow"))
	pressKey(t, a, keyMsg("ctrl+c"))
	if !strings.Contains(frame(a), "Agent slow is running. Press ctrl+c again") {
		t.Errorf("quit did not ask:\n%s", frame(a))
	}
	a.Update(keyMsg("ctrl+c"))
	done := make(chan struct{})
	go func() { a.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	select {
	case <-stopped:
	default:
		t.Error("the run was not cancelled")
	}
}
