package main

// `sov agents`: the user's agent files, their runs (headless, with exit
// codes and NDJSON events), their history and the scheduler.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/agents/mcptools"
	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/internal/boltfile"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/vault"
)

// Exit codes of `sov agents run` besides 0, 1, 2 and 130.
const (
	exitHalted        = 3 // a budget or the loop guard
	exitNeedsApproval = 4 // headless, and a call needed a person
)

// codeError ends sov with code after printing err.
type codeError struct {
	code int
	err  error
}

func (e codeError) Error() string { return e.err.Error() }
func (e codeError) Unwrap() error { return e.err }

func agentsCommands(a *app) []*cobra.Command {
	c := &cobra.Command{Use: "agents", Short: "Your agents: files that say what a model may do for you, run headless, in the shell or on a schedule", Args: nargs(0, 0, "")}
	c.Long = `An agent is a file, $SOV_HOME/agents/NAME.toml (and NAME.md for a long
prompt): its model, prompt, the tools it may use with permission rules
(allow, ask, deny, checked deny first), budgets, and a schedule.
Start with ` + "`sov agents new NAME`" + ` and read the comments in the file.`
	var asJSON bool
	ls := command("ls", "List the agents (a broken file is listed with its error)", nil, func(*cobra.Command, []string) error {
		es, err := a.Agents().List()
		if err != nil {
			return err
		}
		return a.show(asJSON, agentList(es), func(w io.Writer) { agentList(es).render(w) })
	})
	jsonFlag(&asJSON, ls, "write JSON")
	c.AddCommand(
		command("new NAME", "Write a commented template for a new agent and print its path", nargs(1, 1, "a name"), func(_ *cobra.Command, args []string) error {
			p, err := a.Agents().New(args[0])
			return a.say(err, "%s\nEdit it (sov agents edit %s), then: sov agents run %s \"…\"", p, args[0], args[0])
		}),
		ls,
		a.agentShowCmd(),
		command("edit NAME", "Open the agent's file in $VISUAL or $EDITOR, then check it", nargs(1, 1, "an agent's name"), a.agentEdit),
		command("rm NAME", "Remove the agent's file (its workspace, transcripts and history stay)", nargs(1, 1, "an agent's name"), func(_ *cobra.Command, args []string) error {
			return a.say(a.Agents().Remove(args[0]), "removed agent %s (its workspace stays: %s)", args[0], a.AgentWorkspace(args[0]))
		}),
		command("enable NAME", "Let the scheduler run the agent", nargs(1, 1, "an agent's name"), func(_ *cobra.Command, args []string) error {
			return a.say(a.Agents().SetDisabled(args[0], false), "agent %s enabled", args[0])
		}),
		command("disable NAME", "Keep the scheduler from running the agent (it can still be run by hand)", nargs(1, 1, "an agent's name"), func(_ *cobra.Command, args []string) error {
			return a.say(a.Agents().SetDisabled(args[0], true), "agent %s disabled", args[0])
		}),
		a.agentRunCmd(),
		a.agentApproveCmd(),
		a.agentLogCmd(),
		a.agentDaemonCmd(),
	)
	return guard(agentsHint, "the agents' data is damaged (%v): move runs.db or schedule.db aside in the agents folder", c)
}

// agentsHint adds the CLI's way out to the agents' errors.
func agentsHint(err error) error {
	return withFix(err,
		fix{agents.ErrBadName, "", true},
		fix{agents.ErrNotFound, " (sov agents ls lists them; sov agents new NAME makes one)", true},
		fix{agents.ErrExists, " (edit it with sov agents edit NAME, or pick another name)", true},
		fix{agents.ErrNoRun, " (sov agents log NAME lists the runs)", true},
		fix{core.ErrNotListed, " (--approve names one of the agent's tools)", true},
		fix{vault.ErrWrongPassphrase, " (check SOV_VAULT_PASSPHRASE)", false},
		fix{boltfile.ErrDamaged, ": move it aside; the run history starts afresh (transcripts and the ledger keep the runs)", false},
		fix{new(*agents.FileError), "", false},
		fix{new(*agents.DaemonRunningError), " (stop it first, or let it run the agents)", false},
		fix{mcptools.ErrNotStarted, " (check the [[mcp]] entry's command or url in the agent file)", false},
		fix{os.ErrExist, " (--replace overwrites it)", true})
}

type agentList []agents.Entry

func (l agentList) render(w io.Writer) {
	if len(l) == 0 {
		fmt.Fprintln(w, "No agents yet: sov agents new NAME")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tTOOLS\tSTATE")
	for _, e := range l {
		if e.Err != nil {
			fmt.Fprintf(tw, "%s\t\t\tbroken: %v\n", e.Name, e.Err)
			continue
		}
		state := "enabled"
		if e.Agent.Disabled {
			state = "disabled"
		}
		var names []string
		for _, t := range e.Agent.Tools {
			names = append(names, t.Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, cmp.Or(e.Agent.Schedule, "-"), strings.Join(names, ","), state)
	}
	tw.Flush()
}

func (l agentList) MarshalJSON() ([]byte, error) {
	type item struct {
		Name  string        `json:"name"`
		Path  string        `json:"path"`
		Agent *agents.Agent `json:"agent,omitempty"`
		Error string        `json:"error,omitempty"`
	}
	out := make([]item, 0, len(l))
	for _, e := range l {
		it := item{Name: e.Name, Path: e.Path, Agent: e.Agent}
		if e.Err != nil {
			it.Error = e.Err.Error()
		}
		out = append(out, it)
	}
	return json.Marshal(out)
}

func (a *app) agentShowCmd() *cobra.Command {
	var asJSON bool
	c := command("show NAME", "Show an agent: its file, workspace, tools and rules, budget, schedule and last run", nargs(1, 1, "an agent's name"), func(_ *cobra.Command, args []string) error {
		ag, err := a.Agents().Get(args[0])
		if err != nil {
			return err
		}
		runs, err := a.AgentHistory().List(ag.Name)
		if err != nil {
			a.warnf("%v", err)
		}
		v := struct {
			*agents.Agent
			Workspace string              `json:"workspace"`
			Runs      []agents.RunSummary `json:"runs,omitempty"`
		}{ag, a.AgentWorkspace(ag.Name), runs[:min(len(runs), 5)]}
		return a.show(asJSON, v, func(w io.Writer) {
			fmt.Fprintf(w, "%s\nfile       %s\nworkspace  %s\nmodel      %s\nschedule   %s\n", ag.Name, ag.Path, v.Workspace, cmp.Or(ag.Model, "(default)"), cmp.Or(ag.Schedule, "(run by hand)"))
			b := ag.Budget
			fmt.Fprintf(w, "budget     %d steps, %d tokens, %v\n", cmp.Or(b.Steps, agents.DefaultBudget.Steps), cmp.Or(b.Tokens, agents.DefaultBudget.Tokens), cmp.Or(b.Wall, agents.DefaultBudget.Wall))
			for _, t := range ag.Tools {
				fmt.Fprintf(w, "tool       %s", t.Name)
				for _, r := range [][2]any{{"deny", t.Deny}, {"ask", t.Ask}, {"allow", t.Allow}} {
					if rs := r[1].([]string); len(rs) > 0 {
						fmt.Fprintf(w, "  %s %q", r[0], rs)
					}
				}
				fmt.Fprintln(w)
			}
			if len(runs) > 0 {
				r := runs[0]
				fmt.Fprintf(w, "last run   %s %s %s (sov agents log %s %s)\n", r.Run, r.Started.Local().Format(time.DateTime), r.Status, ag.Name, r.Run)
			}
		})
	})
	return jsonFlag(&asJSON, c, "write JSON")
}

func (a *app) agentEdit(cmd *cobra.Command, args []string) error {
	st := a.Agents()
	p, err := st.Path(args[0])
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("agent %q: %w", args[0], agents.ErrNotFound)
	}
	if err := a.edit(cmd.Context(), p); err != nil {
		return err
	}
	if _, err := st.Get(args[0]); err != nil {
		return fmt.Errorf("%w (the file is saved as you left it: sov agents edit %s again)", err, args[0])
	}
	return a.say(nil, "agent %s checked: it loads", args[0])
}

func (a *app) agentRunCmd() *cobra.Command {
	var (
		asJSON bool
		pre    []string
		e      = model.Options{}
	)
	c := command("run NAME [PROMPT…]", "Run an agent once: the prompt is the arguments or stdin; events stream to stderr, the answer to stdout", nargs(1, -1, "an agent's name"), func(cmd *cobra.Command, args []string) error {
		ag, err := a.Agents().Get(args[0])
		if err != nil {
			return err
		}
		text, err := generate.ReadPrompt(args[1:], a.stdin, isTerminal(a.stdin), generate.StdinWait)
		// Piped text is outside content: the run starts tainted.
		piped := err == nil && !isTerminal(a.stdin) && strings.TrimSpace(text) != strings.TrimSpace(strings.Join(args[1:], " "))
		switch {
		case errors.Is(err, generate.ErrNoPrompt):
			return usagef("no prompt: give it as arguments (sov agents run %s \"…\") or on stdin", ag.Name)
		case errors.Is(err, generate.ErrStdinIdle):
		case err != nil:
			return err
		}
		return a.runAgent(cmd.Context(), ag, strings.TrimSpace(text), piped, asJSON, pre, e)
	})
	c.Long = `Run an agent once, until it answers, a budget or the loop guard stops it, or a
call needs a person.

The prompt is the arguments, or stdin when there are none; piped text counts
as outside content (writes and payments then need approval). At a terminal,
calls the rules mark "ask" are shown with what they will do, for y/N.
Without a terminal (headless) they are refused, unless --approve names the
tool; a payment after outside content is never pre-approved.
--json writes the run's events as JSON Lines on stdout (run_start,
model_call, tool_call, permission, tool_result, payment, final, usage, error).
Exit codes: 0 done, 1 error, 2 usage, 3 halted by a budget or the loop
guard, 4 needs approval (headless) or a person's answer, 130 interrupted.`
	c.Example = `  sov agents run notes "Summarise what the vault says about the move"
  sov agents run notes --json --approve workspace.write "…" < /dev/null`
	jsonFlag(&asJSON, c, "write the run's events as JSON Lines on stdout")
	c.Flags().StringArrayVar(&pre, "approve", nil, "let a headless run make this tool's \"ask\" calls (repeatable)")
	c.Flags().IntVar(&e.ContextSize, "ctx", 0, "context size in tokens (0 = the model's, at most 4096)")
	c.Flags().IntVar(&e.Threads, "threads", 0, "CPU threads (0 = the cores other work leaves free)")
	return c
}

// runAgent runs ag and maps its outcome to an exit code.
func (a *app) runAgent(ctx context.Context, ag *agents.Agent, input string, tainted, asJSON bool, pre []string, e model.Options) error {
	interactive := isTerminal(a.stdin) && isTerminal(a.stderr)
	events := a.agentEvents(asJSON)
	r := core.AgentRun{Agent: ag, Input: input, Tainted: tainted, PreApproved: pre, Events: events, Engine: e,
		Env: core.AgentEnvOptions{Caller: "cli", Vault: a.secret(nil, "", "vault passphrase", "SOV_VAULT_PASSPHRASE", false),
			Wallet: a.secret(nil, "", "wallet passphrase", "SOV_WALLET_PASSPHRASE", false)}}
	if interactive {
		r.Approver, r.ApproveTools = a.approveCall, a.approveMCPTools
		r.Env.WalletApprover, r.Env.Interactive = walletApprover(a), true
		r.Env.AskUser = func(_ context.Context, q string) (string, error) {
			fmt.Fprintf(a.stderr, "%s asks: %s\n> ", ag.Name, termtext.Clean(q))
			return prompt.Line(a.stdin)
		}
	}
	out, err := a.RunAgent(ctx, r)
	if errors.Is(err, agents.ErrNeedsApproval) {
		return codeError{exitNeedsApproval, fmt.Errorf("%w (sov agents approve %s shows and approves them)", err, ag.Name)}
	}
	if err != nil {
		return runHint(err)
	}
	if out.TranscriptErr != nil {
		a.warnf("the transcript was not saved in full: %v", out.TranscriptErr)
	}
	switch out.Status {
	case agents.StatusDone:
		if !asJSON {
			return a.say(nil, "%s", out.Answer)
		}
		return nil
	case agents.StatusHalted:
		hint := " (raise [budget] in the agent file: sov agents edit " + ag.Name + ")"
		if out.Halt == agents.HaltLoop {
			hint = " (the agent repeated one call; its prompt or model may need a change)"
		}
		return codeError{exitHalted, fmt.Errorf("%w%s", out.Err, hint)}
	case agents.StatusNeedsApproval:
		hint := " (run it at a terminal to answer)"
		if out.Pending != nil {
			hint = fmt.Sprintf(" (run it at a terminal, or pass --approve %s to allow it headless)", out.Pending.Call.Name)
		}
		return codeError{exitNeedsApproval, fmt.Errorf("%w%s", out.Err, hint)}
	case agents.StatusInterrupted:
		return context.Canceled
	}
	return out.Err
}

// agentEvents streams a run's events: JSON Lines on stdout, or a line per
// step on stderr.
func (a *app) agentEvents(asJSON bool) agents.Sink {
	if asJSON {
		return func(e agents.Event) { writeJSONLines(a.stdout, []agents.Event{e}) } //nolint:errcheck // a closed stdout ends the run's output, not the run
	}
	return func(e agents.Event) {
		var line string
		switch e.Type {
		case agents.EventModelCall:
			if e.Closed {
				line = fmt.Sprintf("  (step %d reached its token cap: the reply was closed short; [budget] step_tokens raises it)", e.Step)
			}
		case agents.EventToolCall:
			line = fmt.Sprintf("→ %s %s", e.Tool, e.Arguments)
			if e.Warning != "" {
				line += "  (" + e.Warning + ")"
			}
		case agents.EventPermission:
			if e.Verdict != agents.Allow || e.By != "policy" {
				line = fmt.Sprintf("  %s %s by %s: %s", e.Verdict, e.Tool, e.By, cmp.Or(e.Reason, e.Rule))
			}
		case agents.EventToolResult:
			line = fmt.Sprintf("  ← %d bytes from %s", len(e.Text), cmp.Or(e.Source, e.Tool))
		case agents.EventPayment:
			line = "  payment: " + e.Text
		case agents.EventUsage:
			line = fmt.Sprintf("%s: %d steps, %d tokens, %d tool calls, %v", e.Status, e.Steps, e.Tokens, e.ToolCalls, time.Duration(e.WallMS)*time.Millisecond)
		}
		if line != "" {
			fmt.Fprintln(a.stderr, termtext.Clean(line))
		}
	}
}

// approveCall asks the person at the terminal about a call, showing what
// the tool says it will do (derived from the arguments), not the model's
// account of it.
func (a *app) approveCall(_ context.Context, ap agents.Approval) (bool, error) {
	fmt.Fprintf(a.stderr, "\nAgent %s wants to call %s (%s, rule %s)\n", ap.Agent, ap.Call.Name, ap.Level, cmp.Or(ap.Decision.Rule, "default"))
	if ap.Decision.Reason != "" {
		fmt.Fprintf(a.stderr, "why it asks: %s\n", termtext.Clean(ap.Decision.Reason))
	}
	fmt.Fprintf(a.stderr, "%s\n", termtext.Clean(cmp.Or(ap.Plan, "arguments: "+string(ap.Call.Arguments))))
	return walletAsk(a, "Allow it?")
}

// approveMCPTools shows MCP tools that are new or changed since approved
// (their text is the server's: cleaned) and asks once for all of them.
func (a *app) approveMCPTools(_ context.Context, changes []mcptools.Change) (bool, error) {
	for _, c := range changes {
		fmt.Fprintf(a.stderr, "\nMCP tool %s (%s", c.Name, c.Kind)
		if len(c.Changed) > 0 {
			fmt.Fprintf(a.stderr, ": %s changed", strings.Join(c.Changed, " and "))
		}
		fmt.Fprintf(a.stderr, ", sha256 %s)\n", c.NewHash[:min(16, len(c.NewHash))])
		if c.OldDescription != "" {
			fmt.Fprintf(a.stderr, "was:  %s\n", termtext.Clean(c.OldDescription))
		}
		fmt.Fprintf(a.stderr, "says: %s\nargs: %s\n", termtext.Clean(c.Description), termtext.Clean(c.Schema))
	}
	return walletAsk(a, fmt.Sprintf("Let the agent use these %d tools as described?", len(changes)))
}

func (a *app) agentApproveCmd() *cobra.Command {
	var yes bool
	c := command("approve NAME", "Show the MCP tools of an agent that are new or changed since you approved them, and approve them", nargs(1, 1, "an agent's name"), func(cmd *cobra.Command, args []string) error {
		ag, err := a.Agents().Get(args[0])
		if err != nil {
			return err
		}
		approve := a.approveMCPTools
		switch {
		case yes:
			approve = func(context.Context, []mcptools.Change) (bool, error) { return true, nil }
		case !isTerminal(a.stdin):
			return usagef("approving MCP tools needs a terminal to ask at, or --yes")
		}
		ts, closeSet, err := a.AgentMCPTools(cmd.Context(), ag, approve)
		if err != nil {
			return err
		}
		closeSet()
		return a.say(nil, "agent %s may use %d MCP tools", ag.Name, len(ts))
	})
	c.Flags().BoolVar(&yes, "yes", false, "approve without asking (you have read the tools' descriptions)")
	return c
}

func (a *app) agentLogCmd() *cobra.Command {
	var asJSON bool
	c := command("log NAME [RUN]", "List an agent's runs, or show one run: its transcript and ledger entries", nargs(1, 2, "an agent's name"), func(_ *cobra.Command, args []string) error {
		if err := agents.CheckName(args[0]); err != nil {
			return err
		}
		h := a.AgentHistory()
		if len(args) == 1 {
			runs, err := h.List(args[0])
			if err != nil {
				return err
			}
			return a.show(asJSON, runs, func(w io.Writer) { renderRuns(w, args[0], runs) })
		}
		r, err := h.Get(args[0], args[1])
		if err != nil {
			return err
		}
		lg, err := a.AgentRunLog(r)
		if err != nil {
			return err
		}
		return a.show(asJSON, lg, runLog{lg}.render)
	})
	return jsonFlag(&asJSON, c, "write JSON")
}

func renderRuns(w io.Writer, name string, runs []agents.RunSummary) {
	if len(runs) == 0 {
		fmt.Fprintf(w, "No runs of %s yet: sov agents run %s \"…\"\n", name, name)
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tBY\tSTATUS\tSTEPS\tTOKENS\tTOOL CALLS\tTIME")
	for _, r := range runs {
		st := string(r.Status)
		if r.Halt != "" {
			st += " (" + string(r.Halt) + ")"
		}
		if r.Input.Type == "cron" && r.Input.Missed > 0 {
			st += fmt.Sprintf(", %d missed", r.Input.Missed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%v\n", r.Run, r.Started.Local().Format(time.DateTime), r.By, st, r.Steps, r.Tokens, r.ToolCalls, r.Wall.Round(time.Millisecond))
	}
	tw.Flush()
}

// runLog renders one run for `sov agents log NAME RUN`.
type runLog struct{ *core.AgentRunLog }

func (lg runLog) render(w io.Writer) {
	r := lg.Run
	fmt.Fprintf(w, "run %s of %s, %s by %s: %s", r.Run, r.Agent, r.Started.Local().Format(time.DateTime), r.By, r.Status)
	if r.Error != "" {
		fmt.Fprintf(w, " (%s)", r.Error)
	}
	fmt.Fprintf(w, "\n%d steps, %d tokens, %d tool calls, %v\n\n", r.Steps, r.Tokens, r.ToolCalls, r.Wall.Round(time.Millisecond))
	for _, m := range lg.Transcript {
		fmt.Fprintf(w, "[%s]\n%s\n\n", m.Role, strings.TrimSpace(m.Content))
	}
	fmt.Fprintf(w, "ledger entries (sov ledger show SEQ):\n")
	for _, e := range lg.Ledger {
		tool, _ := e.Fields["tool"].(string)
		fmt.Fprintf(w, "  #%d %s %s %s\n", e.Seq, e.Kind, tool, e.Hash[:min(12, len(e.Hash))])
	}
}

func (a *app) agentDaemonCmd() *cobra.Command {
	var install, replace bool
	c := command("daemon", "Run scheduled agents when they are due, in the foreground (what a login service starts)", nil, func(cmd *cobra.Command, _ []string) error {
		if install {
			return a.installUnits(replace)
		}
		return a.daemon(cmd.Context())
	})
	c.Long = `Run every enabled agent with a schedule when it is due, one run at a time per
agent, headless: "ask" calls are refused. Runs missed while the machine slept
collapse into one catch-up run (catch_up = "once") or none ("skip"). Only
one scheduler runs at a time. Secrets come from SOV_VAULT_PASSPHRASE and
SOV_WALLET_PASSPHRASE only. --install-unit writes a systemd user service and
timer (Linux) or a launchd agent (macOS) that start it at login.`
	c.Flags().BoolVar(&install, "install-unit", false, "write a login service that starts the scheduler, and say how to enable it")
	c.Flags().BoolVar(&replace, "replace", false, "with --install-unit: overwrite service files that differ")
	return c
}

func (a *app) daemon(ctx context.Context) error {
	notify := func(n agents.Notice) {
		at := n.Time.Local().Format(time.DateTime)
		switch n.Kind {
		case agents.NoticeFire:
			fmt.Fprintf(a.stderr, "%s %s: run (scheduled %s, %d missed)\n", at, n.Agent, n.Input.ScheduledAt.Local().Format(time.TimeOnly), n.Input.Missed)
		case agents.NoticeDone:
			fmt.Fprintf(a.stderr, "%s %s: %s %s\n", at, n.Agent, n.Outcome.Status, termtext.Clean(errText(n.Outcome.Err)))
		case agents.NoticeSkip:
			fmt.Fprintf(a.stderr, "%s %s: skipped %d late runs (catch_up = \"skip\")\n", at, n.Agent, n.Skipped)
		default:
			fmt.Fprintf(a.stderr, "%s %s: %s: %s\n", at, n.Agent, n.Kind, termtext.Clean(errText(n.Err)))
		}
	}
	return a.AgentDaemon(ctx, notify, func() {
		fmt.Fprintf(a.stderr, "sov: agent scheduler running (pid %d); Ctrl-C stops it\n", os.Getpid())
	})
}

func (a *app) installUnits(replace bool) error {
	units, err := a.InstallAgentDaemon(replace)
	if err != nil {
		return err
	}
	for _, u := range units {
		fmt.Fprintln(a.stdout, "wrote", u.Path)
	}
	return a.say(nil, "Start it now and at every login:\n  %s", strings.ReplaceAll(units[0].Start, "\n", "\n  "))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
