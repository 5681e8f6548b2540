package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/internal/testtool"
)

// The agent files' commands: what a user does with them, and the exit
// codes of what goes wrong.
func TestAgentsFiles(t *testing.T) {
	home := t.TempDir()
	editor := filepath.Join(t.TempDir(), "editor.sh")
	// An editor that breaks the file: a string where a table belongs.
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nprintf '\\nbudget = \"lots\"\\n' >> \"$1\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args   []string
		env    []string
		code   int
		stdout string // a substring wanted on stdout
		stderr string // a substring wanted on stderr
	}{
		{[]string{"agents", "ls"}, nil, 0, "No agents yet", ""},
		{[]string{"agents", "new", "notes"}, nil, 0, filepath.Join(home, "agents", "notes.toml"), ""},
		{[]string{"agents", "new", "notes"}, nil, exitUsage, "", "exists"},
		{[]string{"agents", "new", "Bad Name"}, nil, exitUsage, "", "lower-case"},
		{[]string{"agents", "ls"}, nil, 0, "notes", ""},
		{[]string{"agents", "show", "notes"}, nil, 0, "workspace.write", ""},
		{[]string{"agents", "disable", "notes"}, nil, 0, "disabled", ""},
		{[]string{"agents", "ls"}, nil, 0, "disabled", ""},
		{[]string{"agents", "enable", "notes"}, nil, 0, "enabled", ""},
		{[]string{"agents", "show", "nobody"}, nil, exitUsage, "", "sov agents ls"},
		{[]string{"agents", "log", "notes"}, nil, 0, "No runs of notes", ""},
		{[]string{"agents", "run", "notes", "--approve", "wallet.pay", "hi"}, nil, exitUsage, "", "does not list that tool"},
		{[]string{"agents", "edit", "notes"}, []string{"EDITOR=" + editor}, exitError, "", "notes.toml:"},
		{[]string{"agents", "ls"}, nil, 0, "broken", ""},
		{[]string{"agents", "run", "notes", "hi"}, nil, exitError, "", "notes.toml:"},
		{[]string{"agents", "rm", "notes"}, nil, 0, "removed agent notes", ""},
		{[]string{"agents", "rm", "notes"}, nil, exitUsage, "", "no such agent"},
	}
	for _, s := range steps {
		r := runSov(t, home, s.env, "", s.args...)
		if r.Code != s.code || !strings.Contains(r.Stdout, s.stdout) || !strings.Contains(r.Stderr, s.stderr) {
			t.Fatalf("sov %v: exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", s.args, r.Code, s.code, r.Stdout, s.stdout, r.Stderr, s.stderr)
		}
	}
	var list []struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	}
	runSov(t, home, nil, "", "agents", "new", "a1")
	r := runSov(t, home, nil, "", "agents", "ls", "--json")
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list) != 1 || list[0].Name != "a1" || list[0].Error != "" {
		t.Fatalf("ls --json: %v %q", err, r.Stdout)
	}
}

// writeAgent writes agent name's file under home.
func writeAgent(t *testing.T, home, name, text string) {
	t.Helper()
	dir := filepath.Join(home, "agents")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".toml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// events parses a run's JSON Lines.
func events(t *testing.T, out string) []agents.Event {
	t.Helper()
	var evs []agents.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e agents.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not an event: %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// A headless run never makes an "ask" call without --approve naming the
// tool: it stops with exit 4, the refusal in its events and nothing
// written; pre-approved, the same call is made. Every run is in the
// history with its transcript and ledger entries. The model is the small
// chat model, greedy: its calls are grammar-forced, whatever it says.
func TestAgentsRunHeadless(t *testing.T) {
	m := testtool.Model(t, testtool.Chat)
	home := t.TempDir()
	writeAgent(t, home, "writer", `model = "`+m+`"
prompt = "You write notes. Always call workspace.write first."
[budget]
steps = 2
step_tokens = 96
[[tools]]
name = "workspace.write"
`)
	ws := filepath.Join(home, "workspaces", "writer")
	r := runSov(t, home, nil, "", "agents", "run", "writer", "--json", "Write a note about cats to cats.md")
	evs := events(t, r.Stdout)
	var asked, wrote bool
	for _, e := range evs {
		asked = asked || e.Type == agents.EventPermission && e.By == "headless" && e.Verdict == agents.Ask
		wrote = wrote || e.Type == agents.EventToolResult && e.Tool == "workspace.write"
	}
	if r.Code != exitNeedsApproval || !asked || wrote || !strings.Contains(r.Stderr, "--approve workspace.write") {
		t.Fatalf("headless: exit %d, asked %v, wrote %v\nstdout %s\nstderr %s", r.Code, asked, wrote, r.Stdout, r.Stderr)
	}
	if des, _ := os.ReadDir(ws); len(des) != 0 {
		t.Fatalf("a refused run wrote %v", des)
	}
	if evs[0].Type != agents.EventRunStart || evs[len(evs)-1].Type != agents.EventUsage {
		t.Errorf("events: first %s, last %s", evs[0].Type, evs[len(evs)-1].Type)
	}

	r = runSov(t, home, nil, "", "agents", "run", "writer", "--json", "--approve", "workspace.write", "Write a note about cats to cats.md")
	var pre bool
	for _, e := range events(t, r.Stdout) {
		pre = pre || e.Type == agents.EventPermission && e.By == "pre-approved"
	}
	des, _ := os.ReadDir(ws)
	if !pre || len(des) == 0 || r.Code != 0 && r.Code != exitHalted {
		t.Fatalf("pre-approved: exit %d, pre-approved %v, workspace %v\nstdout %s\nstderr %s", r.Code, pre, des, r.Stdout, r.Stderr)
	}

	// The history lists both runs; one run's log has its transcript and
	// its ledger entries (model call, permission, tool call).
	var runs []agents.RunSummary
	r = runSov(t, home, nil, "", "agents", "log", "writer", "--json")
	if err := json.Unmarshal([]byte(r.Stdout), &runs); err != nil || len(runs) != 2 || runs[1].Status != agents.StatusNeedsApproval {
		t.Fatalf("log: %v %s %s", err, r.Stdout, r.Stderr)
	}
	var lg struct {
		Run        agents.RunSummary `json:"run"`
		Transcript []struct{ Role string }
		Ledger     []struct{ Kind string }
	}
	r = runSov(t, home, nil, "", "agents", "log", "writer", runs[0].Run[:8], "--json")
	if err := json.Unmarshal([]byte(r.Stdout), &lg); err != nil {
		t.Fatalf("log RUN: %v %s %s", err, r.Stdout, r.Stderr)
	}
	kinds := map[string]int{}
	for _, e := range lg.Ledger {
		kinds[e.Kind]++
	}
	if lg.Run.Run != runs[0].Run || len(lg.Transcript) < 3 || kinds["model"] == 0 || kinds["permission"] == 0 || kinds["tool"] == 0 {
		t.Fatalf("log RUN: run %s, %d transcript messages, ledger %v", lg.Run.Run, len(lg.Transcript), kinds)
	}
	if r := runSov(t, home, nil, "", "ledger", "verify"); r.Code != 0 {
		t.Fatalf("ledger verify: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
}

// The daemon runs a scheduled agent that missed three due times (the
// machine slept past them) once, with missed: 3; a second daemon is
// refused, naming the first.
func TestAgentsDaemonCatchUp(t *testing.T) {
	m := testtool.Model(t, testtool.Chat)
	home := t.TempDir()
	writeAgent(t, home, "tick", `model = "`+m+`"
prompt = "Note the time."
schedule = "* * * * *"
misfire_grace = "1s"
[budget]
steps = 1
[[tools]]
name = "ledger.note"
allow = ["*"]
`)
	// The last due time dealt with: three due times ago, as a scheduler
	// that ran before the machine slept left it. All three are late by more
	// than the grace, so all three were missed.
	now := time.Now()
	if s := now.Second(); s < 3 || s > 45 { // away from the minute's turn, which would add a fourth
		time.Sleep(time.Duration((63-s)%60) * time.Second)
		now = time.Now()
	}
	last := now.Truncate(time.Minute).Add(-3*time.Minute + time.Second)
	db, err := bolt.Open(filepath.Join(home, "agents", agents.ScheduleDB), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(agents.ScheduleState{Schedule: "* * * * *", Last: last})
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("schedule"))
		if err != nil {
			return err
		}
		return b.Put([]byte("tick"), st)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	d := startDaemon(t, home)
	runs := d.waitRun(t, "tick", 2*time.Minute)
	cmd, stderr := d.cmd, d.stderr
	second := runSov(t, home, nil, "", "agents", "daemon")
	if second.Code == 0 || !strings.Contains(second.Stderr, strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("second daemon: exit %d %q", second.Code, second.Stderr)
	}
	cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != exitInterrupted {
		t.Errorf("daemon after SIGINT: %v\n%s", err, stderr.String())
	}
	in := runs[0].Input
	if len(runs) != 1 || in.Type != "cron" || in.Missed != 3 || runs[0].By != "daemon" || in.ScheduledAt.IsZero() {
		t.Fatalf("runs: %+v\ndaemon said:\n%s", runs, stderr.String())
	}
}

// The README's first agent, step by step: a vault collection, the
// template, a headless run with --json, its log (transcript and ledger
// entries) and a ledger that verifies. What the small model chooses to do
// varies with the model; that the run is whole and recorded does not.
func TestAgentsReadmeWalkthrough(t *testing.T) {
	m := testtool.Model(t, testtool.Chat)
	home, notes := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(notes, "move.md"), []byte("# The move\nWe move to Lisbon in March. The boxes are packed by the 20th.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	editor := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's|^model = \"\"|model = \""+m+"\"|' \"$1\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"EDITOR=" + editor}, vaultEnv...)
	for _, args := range [][]string{
		{"vault", "init", "--kdf-time", "1", "--kdf-memory", "19", "--kdf-threads", "1"},
		{"vault", "add", "-c", "notes", notes},
		{"agents", "new", "notes"},
		{"agents", "edit", "notes"},
	} {
		if r := runSov(t, home, env, "", args...); r.Code != 0 {
			t.Fatalf("sov %v: exit %d\n%s%s", args, r.Code, r.Stdout, r.Stderr)
		}
	}
	// Without the vault's passphrase, headless: one line naming the fix.
	r := runSov(t, home, nil, "", "agents", "run", "notes", "hi")
	if r.Code != exitError || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "set SOV_VAULT_PASSPHRASE") {
		t.Fatalf("locked vault: exit %d %q", r.Code, r.Stderr)
	}
	r = runSov(t, home, env, "", "agents", "run", "notes", "--json", "Summarise what my notes say about the move into summaries/move.md")
	evs := events(t, r.Stdout)
	if r.Code != 0 && r.Code != exitHalted && r.Code != exitNeedsApproval || len(evs) < 3 || evs[0].Type != agents.EventRunStart || evs[len(evs)-1].Type != agents.EventUsage {
		t.Fatalf("run: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
	}
	for _, e := range evs { // the pinned collection, whatever the model wrote
		if e.Type == agents.EventToolCall && strings.HasPrefix(e.Tool, "vault.") && !strings.Contains(string(e.Arguments), `"collection":"notes"`) {
			t.Errorf("%s without the pinned collection: %s", e.Tool, e.Arguments)
		}
	}
	run := evs[0].Run
	r = runSov(t, home, nil, "", "agents", "log", "notes")
	if r.Code != 0 || !strings.Contains(r.Stdout, run) {
		t.Fatalf("log: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	r = runSov(t, home, nil, "", "agents", "log", "notes", run)
	if r.Code != 0 || !strings.Contains(r.Stdout, "[user]") || !strings.Contains(r.Stdout, " model ") {
		t.Fatalf("log RUN: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := runSov(t, home, nil, "", "ledger", "verify"); r.Code != 0 {
		t.Fatalf("ledger verify: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
}

// An agent that uses another MCP server's tools (here sov itself, serving
// agent b's tools): headless, the new tools stop the run with exit 4
// until the user approves them; approved, the run goes on; when a tool's
// description or schema changes (b's file pins an argument), it asks
// again.
func TestAgentsMCPApproval(t *testing.T) {
	m := testtool.Model(t, testtool.Chat)
	home := t.TempDir()
	writeAgent(t, home, "b", "[[tools]]\nname = \"workspace.read\"\n")
	writeAgent(t, home, "a", `model = "`+m+`"
[budget]
steps = 1
step_tokens = 64
[[mcp]]
name = "peer"
command = "`+sovBin+`"
args = ["mcp", "serve", "--agent", "b"]
env = { SOV_HOME = "`+home+`" }
[[tools]]
name = "mcp.peer.workspace.read"
`)
	steps := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"agents", "run", "a", "read notes.md"}, exitNeedsApproval, "sov agents approve a"},
		{[]string{"agents", "approve", "a"}, exitUsage, "needs a terminal"},
		{[]string{"agents", "approve", "a", "--yes"}, 0, ""},
	}
	for _, s := range steps {
		r := runSov(t, home, nil, "", s.args...)
		if r.Code != s.code || !strings.Contains(r.Stderr, s.stderr) {
			t.Fatalf("sov %v: exit %d (want %d)\nstdout %s\nstderr %s", s.args, r.Code, s.code, r.Stdout, r.Stderr)
		}
	}
	r := runSov(t, home, nil, "", "agents", "run", "a", "--json", "read notes.md")
	if strings.Contains(r.Stderr, "approve") || !strings.Contains(r.Stdout, `"tools":["mcp.peer.workspace.read"]`) {
		t.Fatalf("approved run: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
	}
	// The tool changes under the agent: b's file now pins its path.
	writeAgent(t, home, "b", "[[tools]]\nname = \"workspace.read\"\nset = { path = \"notes.md\" }\n")
	r = runSov(t, home, nil, "", "agents", "run", "a", "read notes.md")
	if r.Code != exitNeedsApproval || !strings.Contains(r.Stderr, "approv") {
		t.Fatalf("changed tool: exit %d\nstderr %s", r.Code, r.Stderr)
	}
}

// A scheduled agent fires on time under the daemon: due every few seconds,
// its first run starts within the grace of its due time, with nothing
// missed.
func TestAgentsDaemonOnTime(t *testing.T) {
	m := testtool.Model(t, testtool.Chat)
	home := t.TempDir()
	writeAgent(t, home, "tick", `model = "`+m+`"
prompt = "Note the time."
schedule = "@every 3s"
misfire_grace = "2s"
[budget]
steps = 1
step_tokens = 16
[[tools]]
name = "ledger.note"
allow = ["*"]
`)
	d := startDaemon(t, home)
	runs := d.waitRun(t, "tick", 90*time.Second)
	cmd, stderr := d.cmd, d.stderr
	cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck
	cmd.Wait()                         //nolint:errcheck
	in := runs[len(runs)-1].Input      // the first run
	late := in.FiredAt.Sub(in.ScheduledAt)
	if in.Type != "cron" || in.Missed != 0 || late < 0 || late > 2*time.Second {
		t.Fatalf("first run %+v (fired %v after its due time)\ndaemon said:\n%s", in, late, stderr.String())
	}
}

// daemon is a `sov agents daemon` process over a test's SOV_HOME.
type daemon struct {
	cmd    *exec.Cmd
	home   string
	stderr *strings.Builder
}

// startDaemon starts the scheduler; the test's end kills it.
func startDaemon(t *testing.T, home string) daemon {
	t.Helper()
	d := daemon{cmd: exec.Command(sovBin, "agents", "daemon"), home: home, stderr: new(strings.Builder)}
	d.cmd.Env = append(cleanEnv(), "SOV_HOME="+home)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Kill() }) //nolint:errcheck
	return d
}

// waitRun waits for agent's first run in the history.
func (d daemon) waitRun(t *testing.T, agent string, within time.Duration) []agents.RunSummary {
	t.Helper()
	for deadline := time.Now().Add(within); ; {
		if runs, _ := (agents.History{Dir: filepath.Join(d.home, "agents")}).List(agent); len(runs) > 0 {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run within %v; the daemon said:\n%s", within, d.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
