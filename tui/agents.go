package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/chat/conversation"
)

// Agents in the shell: /agents lists the user's agent files, /agent NAME
// [PROMPT] runs one in the background. Its events arrive as messages and
// are folded into the chat (one block per tool call); an "ask" call opens
// an approval pane showing the tool's own plan, agent.ask_user a question
// pane; esc stops the run. The run is not part of the chat's conversation
// (the model of the chat never sees it): it has its own transcript.

// RunAgentFunc runs the user's agent name with prompt as its input. approve
// decides "ask" calls, ask answers agent.ask_user, events receives the
// run's events in order. err is for what kept the run from starting; how
// it ended is in the Outcome.
type RunAgentFunc func(ctx context.Context, name, prompt string, approve agents.Approver,
	ask func(ctx context.Context, question string) (string, error), events agents.Sink) (agents.Outcome, error)

// agentRun is the agent run in progress (one at a time).
type agentRun struct {
	name    string
	cancel  context.CancelFunc
	msgs    chan tea.Msg  // events, approval and question requests, then agentDoneMsg
	quit    chan struct{} // closed when the shell goes: sends stop waiting
	done    chan struct{} // closed when RunAgent returned
	stopped bool          // esc asked it to stop
	step    int
	blocks  map[int]*item // the tool blocks, by step
	// approved is what the person answered, by step: the permission
	// event that follows says "user", this says which way.
	approved map[int]bool
}

type (
	agentEventMsg struct {
		run *agentRun
		ev  agents.Event
	}
	agentApprovalMsg struct {
		run   *agentRun
		a     agents.Approval
		reply chan bool
	}
	agentAskMsg struct {
		run      *agentRun
		question string
		reply    chan askReply
	}
	agentDoneMsg struct {
		run *agentRun
		out agents.Outcome
		err error
	}
	// agentStopMsg comes from a pane whose esc stops the run.
	agentStopMsg struct{ run *agentRun }
)

type askReply struct {
	text string
	ok   bool
}

// errNoAnswer: the person closed the question without answering.
var errNoAnswer = errors.New("the user did not answer")

// errShellClosed: the shell went while the run waited for it.
var errShellClosed = errors.New("the shell was closed")

// send delivers m to the shell, or drops it once the shell is gone.
func (r *agentRun) send(m tea.Msg) bool {
	select {
	case r.msgs <- m:
		return true
	case <-r.quit:
		return false
	}
}

func (r *agentRun) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case m := <-r.msgs:
			return m
		case <-r.quit:
			return nil
		}
	}
}

func (r *agentRun) approve(ctx context.Context, a agents.Approval) (bool, error) {
	reply := make(chan bool, 1)
	if !r.send(agentApprovalMsg{run: r, a: a, reply: reply}) {
		return false, errShellClosed
	}
	select {
	case ok := <-reply:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-r.quit:
		return false, errShellClosed
	}
}

func (r *agentRun) ask(ctx context.Context, q string) (string, error) {
	reply := make(chan askReply, 1)
	if !r.send(agentAskMsg{run: r, question: q, reply: reply}) {
		return "", errShellClosed
	}
	select {
	case a := <-reply:
		if !a.ok {
			return "", errNoAnswer
		}
		return a.text, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-r.quit:
		return "", errShellClosed
	}
}

// stopFromPane is esc in a prompt: the run is cancelled at once and the
// prompt left unanswered, so the waiting run ends interrupted rather than
// take a refusal and go on.
func (r *agentRun) stopFromPane(sent *bool) tea.Cmd {
	*sent = true
	r.cancel()
	return tea.Batch(msgCmd(closePaneMsg{}), msgCmd(agentStopMsg{run: r}))
}

func (a *App) cmdAgents(string) tea.Cmd {
	if a.opts.Agents == nil {
		a.chat.errorf("Agents are not available in this shell.")
		return nil
	}
	list, err := a.opts.Agents()
	if err != nil {
		a.chat.errorf("list agents: " + oneLine(err.Error()))
		return nil
	}
	if len(list) == 0 {
		a.chat.notice("No agents yet. Create one with `sov agents new NAME` (in another terminal), then run it here with /agent NAME.")
		return nil
	}
	var b strings.Builder
	b.WriteString("Agents (run one with /agent NAME [PROMPT]):\n")
	for _, e := range list {
		if e.Err != nil || e.Agent == nil {
			msg := "does not load"
			if e.Err != nil {
				msg = oneLine(e.Err.Error())
			}
			fmt.Fprintf(&b, "  %s  broken: %s\n", e.Name, msg)
			continue
		}
		ag := e.Agent
		var tools []string
		for _, t := range ag.Tools {
			tools = append(tools, t.Name)
		}
		sched := "on demand"
		if ag.Schedule != "" {
			sched = "schedule " + ag.Schedule
		}
		line := fmt.Sprintf("  %s  %s · tools: %s", e.Name, sched, strings.Join(tools, ", "))
		if ag.Disabled {
			line += " · disabled"
		}
		b.WriteString(line + "\n")
	}
	a.chat.notice(strings.TrimRight(b.String(), "\n"))
	return nil
}

func (a *App) cmdAgent(arg string) tea.Cmd {
	if a.opts.RunAgent == nil {
		a.chat.errorf("Agents are not available in this shell.")
		return nil
	}
	name, prompt, _ := strings.Cut(arg, " ")
	prompt = strings.TrimSpace(prompt)
	if name == "" {
		a.chat.notice("Run an agent with /agent NAME [PROMPT]; /agents lists them.")
		return nil
	}
	if a.agent != nil {
		a.chat.notice(fmt.Sprintf("Agent %s is running: wait for it or stop it with esc first.", a.agent.name))
		return nil
	}
	ctx, cancel := context.WithCancel(a.ctx)
	r := &agentRun{name: sanitize(name), cancel: cancel, msgs: make(chan tea.Msg, 64),
		quit: make(chan struct{}), done: make(chan struct{}), blocks: map[int]*item{}, approved: map[int]bool{}}
	a.agent = r
	line := "/agent " + name
	if prompt != "" {
		line += " " + prompt
	}
	a.chat.add(&item{kind: kindUser, msg: conversation.Message{Content: sanitize(line)}})
	run := a.opts.RunAgent
	go func() {
		var out agents.Outcome
		var err error
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("the agent run failed: %v", p)
			}
			close(r.done)
			r.send(agentDoneMsg{run: r, out: out, err: err})
		}()
		out, err = run(ctx, name, prompt, r.approve, r.ask, func(ev agents.Event) {
			r.send(agentEventMsg{run: r, ev: ev})
		})
	}()
	return r.wait()
}

// stopAgent cancels the run; its outcome still arrives (interrupted).
func (a *App) stopAgent() {
	if a.agent == nil || a.agent.stopped {
		return
	}
	a.agent.stopped = true
	a.agent.cancel()
	a.chat.notice(fmt.Sprintf("Stopping agent %s…", a.agent.name))
}

func (a *App) onAgentMsg(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case agentEventMsg:
		if m.run != a.agent {
			return nil
		}
		a.onAgentEvent(m.run, m.ev)
		return m.run.wait()
	case agentApprovalMsg:
		if m.run != a.agent || m.run.stopped {
			m.reply <- false
			return m.run.wait()
		}
		a.panes = append(a.panes, &approvalPane{run: m.run, a: m.a, reply: m.reply, readyAt: time.Now().Add(a.approveGrace)})
		return m.run.wait()
	case agentAskMsg:
		if m.run != a.agent || m.run.stopped {
			m.reply <- askReply{}
			return m.run.wait()
		}
		a.panes = append(a.panes, &askPane{run: m.run, question: m.question, reply: m.reply})
		return m.run.wait()
	case agentStopMsg:
		if m.run == a.agent {
			a.stopAgent()
		}
		return nil
	case agentDoneMsg:
		if m.run != a.agent {
			return nil
		}
		a.agent = nil
		m.run.cancel()
		a.dropAgentPanes(m.run)
		if m.err != nil {
			a.chat.errorf(fmt.Sprintf("Agent %s did not start: %s", m.run.name, oneLine(m.err.Error())))
		}
		return nil
	}
	return nil
}

// dropAgentPanes closes the prompts of a run that ended.
func (a *App) dropAgentPanes(r *agentRun) {
	kept := a.panes[:0]
	for _, p := range a.panes {
		switch p := p.(type) {
		case *approvalPane:
			if p.run == r {
				p.answer(false)
				continue
			}
		case *askPane:
			if p.run == r {
				p.answer(askReply{})
				continue
			}
		}
		kept = append(kept, p)
	}
	a.panes = kept
}

// onAgentEvent folds one event into the chat. Everything the run reports
// (arguments, results, answers, messages) is untrusted text: the chat
// renderer cleans it (wrapPlain, the markdown renderer) and so does this.
func (a *App) onAgentEvent(r *agentRun, ev agents.Event) {
	switch ev.Type {
	case agents.EventRunStart:
		model := ""
		if ev.Model != "" {
			model = " on " + ev.Model
		}
		a.chat.notice(fmt.Sprintf("Agent %s is running%s (tools: %s); esc stops it.", r.name, model, strings.Join(ev.Tools, ", ")))
	case agents.EventModelCall:
		r.step = ev.Step
	case agents.EventToolCall:
		it := &item{kind: kindTool, tool: &toolBlock{name: ev.Tool, args: oneLineJSON(ev.Arguments), warning: ev.Warning}}
		r.blocks[ev.Step] = it
		a.chat.add(it)
	case agents.EventPermission:
		if it := r.blocks[ev.Step]; it != nil {
			ok := permitted(ev, r.approved[ev.Step])
			it.tool.perm = permText(ev, ok)
			it.tool.refused = !ok
			it.lines = nil
		}
	case agents.EventToolResult:
		if it := r.blocks[ev.Step]; it != nil {
			it.tool.result, it.tool.source, it.tool.tainted, it.tool.hasResult = ev.Text, ev.Source, ev.Tainted, true
			it.lines = nil
		}
	case agents.EventPayment:
		if it := r.blocks[ev.Step]; it != nil {
			it.tool.payment = true
			it.lines = nil
		}
	case agents.EventFinal:
		a.chat.add(&item{kind: kindAgent, agent: r.name, msg: conversation.Message{Content: sanitize(ev.Answer)}})
	case agents.EventError:
		a.chat.errorf(endText(r.name, ev))
	case agents.EventUsage:
		a.chat.notice(fmt.Sprintf("Agent %s: %s · %d steps · %d tokens · %d tool calls · %s",
			r.name, ev.Status, ev.Steps, ev.Tokens, ev.ToolCalls, (time.Duration(ev.WallMS) * time.Millisecond).Round(100*time.Millisecond)))
	}
}

// permitted says the call went ahead; approved is the person's answer,
// when they were asked.
func permitted(ev agents.Event, approved bool) bool {
	switch ev.Verdict {
	case agents.Allow:
		return true
	case agents.Ask:
		return ev.By == "pre-approved" || ev.By == "user" && approved
	}
	return false
}

func permText(ev agents.Event, ok bool) string {
	var s string
	switch {
	case ev.Verdict == agents.Allow:
		s = "allowed"
	case ev.Verdict == agents.Deny:
		s = "denied"
	case ev.By == "user" && ok:
		s = "approved by you"
	case ev.By == "user":
		s = "refused by you"
	case ev.By == "pre-approved":
		s = "pre-approved"
	default:
		s = "needs approval"
	}
	if ev.Rule != "" {
		s += " (rule: " + ev.Rule + ")"
	}
	if ev.Verdict == agents.Deny && ev.Reason != "" {
		s += ": " + ev.Reason
	}
	return s
}

// endText says how a run that did not finish ended.
func endText(name string, ev agents.Event) string {
	msg := oneLine(ev.Message)
	switch ev.Status {
	case agents.StatusInterrupted:
		return fmt.Sprintf("Agent %s was interrupted: stopped before it finished.", name)
	case agents.StatusHalted:
		return fmt.Sprintf("Agent %s was halted (%s): %s", name, ev.Halt, msg)
	case agents.StatusNeedsApproval:
		return fmt.Sprintf("Agent %s stopped: %s", name, msg)
	}
	return fmt.Sprintf("Agent %s failed: %s", name, msg)
}

// oneLineJSON is a call's arguments on one line (compact JSON keeps a
// string's newlines escaped).
func oneLineJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return oneLine(string(raw))
	}
	return b.String()
}

// toolBlock is one tool call of an agent run in the chat: the call on one
// line, the permission, and the result folded to its first line (the
// expand key shows it whole).
type toolBlock struct {
	name, args, warning string
	perm                string
	refused             bool
	hasResult           bool
	result, source      string
	tainted, payment    bool
}

// expandedLines bounds an expanded result: a whole vault document would
// bury the conversation (the run's transcript has all of it).
const expandedLines = 200

func (c *chatPane) renderTool(it *item, width int, expanded bool) []string {
	t, tb := c.theme, it.tool
	body := max(1, width-4)
	lines := []string{truncate("  "+t.Accent.Render("⚙ "+sanitize(tb.name))+" "+sanitize(tb.args), width)}
	if tb.warning != "" {
		lines = append(lines, "    "+t.Error.Render(truncate("⚠ "+sanitize(tb.warning), body)))
	}
	if tb.perm != "" {
		style := t.Dim
		if tb.refused {
			style = t.Error
		}
		for _, l := range wrapPlain(tb.perm, body) {
			lines = append(lines, "    "+style.Render(l))
		}
	}
	if !tb.hasResult {
		return lines
	}
	label := "result"
	if tb.source != "" {
		label += " from " + tb.source
	}
	if tb.tainted {
		label += " (outside content)"
	}
	if tb.payment {
		label += " · payment"
	}
	text := strings.TrimRight(sanitize(tb.result), "\n")
	if !expanded {
		first, more := headLines(text, 1)
		summary := "▸ " + label + ": " + first
		if more > 0 {
			summary = truncate(summary, max(1, body-22)) + fmt.Sprintf("  [+%d lines]", more)
		} else if w := len([]rune(text)); w > body-2 {
			summary = truncate(summary, max(1, body-22)) + "  [ctrl+r: all]"
		}
		lines = append(lines, "    "+t.Dim.Render(truncate(summary, body)))
		return lines
	}
	lines = append(lines, "    "+t.Dim.Render(truncate("▾ "+label+":", body)))
	head, more := headLines(text, expandedLines)
	for _, l := range wrapPlain(head, body-2) {
		lines = append(lines, "      "+l)
	}
	if more > 0 {
		lines = append(lines, "      "+t.Dim.Render(truncate(fmt.Sprintf("… %d more lines (the run's transcript has them)", more), body-2)))
	}
	return lines
}

// toggleTools expands or folds every tool result in the chat.
func (a *App) toggleTools() {
	a.chat.expanded = !a.chat.expanded
	for _, it := range a.chat.items {
		if it.kind == kindTool {
			it.lines = nil
		}
	}
}

// approvalPane asks the person about one "ask" call. What it shows of the
// effect is Approval.Plan, the tool's own account derived from the
// arguments, never the model's words.
type approvalPane struct {
	run   *agentRun
	a     agents.Approval
	reply chan bool
	sent  bool
	// readyAt: y before it is ignored, so a "y" typed for the chat as the
	// pane opened does not approve a call no one has read.
	readyAt time.Time
}

// defaultApproveGrace is how long a new approval prompt ignores y.
const defaultApproveGrace = 500 * time.Millisecond

func (p *approvalPane) Title() string { return "Approve" }

func (p *approvalPane) answer(ok bool) {
	if !p.sent {
		p.sent = true
		p.run.approved[p.run.step] = ok
		p.reply <- ok
	}
}

func (p *approvalPane) Update(msg tea.Msg) tea.Cmd {
	k, isKey := msg.(tea.KeyPressMsg)
	if !isKey {
		return nil
	}
	switch k.String() {
	case "y", "Y":
		if time.Now().Before(p.readyAt) {
			return nil
		}
		p.answer(true)
		return msgCmd(closePaneMsg{})
	case "n", "N":
		p.answer(false)
		return msgCmd(closePaneMsg{})
	case "esc":
		return p.run.stopFromPane(&p.sent)
	}
	return nil
}

func (p *approvalPane) View(t Theme, width, height int) []string {
	body := max(1, width-4)
	out := []string{t.Accent.Render(truncate(fmt.Sprintf("Agent %s asks to run a %s tool", p.run.name, p.a.Level), width)), ""}
	field := func(name, value string) {
		for i, l := range wrapPlain(value, max(1, body-10)) {
			if i == 0 {
				out = append(out, fmt.Sprintf("  %-9s %s", name, l))
			} else {
				out = append(out, "            "+l)
			}
		}
	}
	field("tool", p.a.Call.Name)
	rule := p.a.Decision.Rule
	if rule == "" {
		rule = "default"
	}
	if p.a.Decision.Reason != "" {
		rule += ": " + p.a.Decision.Reason
	}
	field("rule", rule)
	out = append(out, "")
	if strings.TrimSpace(p.a.Plan) != "" {
		out = append(out, "  What it will do (from the call's arguments, not the model's words):")
		for _, l := range wrapPlain(p.a.Plan, body) {
			out = append(out, "    "+l)
		}
	} else {
		out = append(out, "  The tool does not describe its effect; the call's arguments:")
		for _, l := range wrapPlain(oneLineJSON(p.a.Call.Arguments), body) {
			out = append(out, "    "+l)
		}
	}
	out = append(out, "", t.Dim.Render(truncate("  y approve · n refuse (the agent is told) · esc refuse and stop the run", width)))
	return out
}

// askPane shows agent.ask_user's question and takes a typed answer.
type askPane struct {
	run      *agentRun
	question string
	text     []rune
	reply    chan askReply
	sent     bool
}

func (p *askPane) Title() string { return "Question" }

func (p *askPane) answer(r askReply) {
	if !p.sent {
		p.sent = true
		p.reply <- r
	}
}

func (p *askPane) Update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case tea.PasteMsg:
		p.text = append(p.text, []rune(sanitize(strings.ReplaceAll(m.Content, "\n", " ")))...)
	case tea.KeyPressMsg:
		switch m.String() {
		case "enter":
			p.answer(askReply{text: strings.TrimSpace(string(p.text)), ok: true})
			return msgCmd(closePaneMsg{})
		case "esc":
			return p.run.stopFromPane(&p.sent)
		case "backspace":
			if len(p.text) > 0 {
				p.text = p.text[:len(p.text)-1]
			}
		default:
			if m.Text != "" {
				p.text = append(p.text, []rune(sanitize(m.Text))...)
			}
		}
	}
	return nil
}

func (p *askPane) View(t Theme, width, height int) []string {
	body := max(1, width-4)
	out := []string{t.Accent.Render(truncate(fmt.Sprintf("Agent %s asks you", p.run.name), width)), ""}
	for _, l := range wrapPlain(p.question, body) {
		out = append(out, "  "+l)
	}
	out = append(out, "")
	for _, l := range wrapPlain("› "+string(p.text)+"▌", body) {
		out = append(out, "  "+l)
	}
	out = append(out, "", t.Dim.Render(truncate("  enter answer · esc stop the run", width)))
	return out
}

// shutdownAgent stops a run when the shell goes and waits a while for it to
// save its transcript and history.
func (a *App) shutdownAgent() {
	r := a.agent
	if r == nil {
		return
	}
	a.agent = nil
	r.cancel()
	close(r.quit)
	select {
	case <-r.done:
	case <-time.After(agentShutdownWait):
	}
}

// agentShutdownWait bounds how long quitting waits for a stopped run.
const agentShutdownWait = 10 * time.Second
