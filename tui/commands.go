package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/model/store"
)

type command struct {
	name, args, help string
	run              func(a *App, arg string) tea.Cmd
}

// commands are the slash commands, in the order /help lists them. The
// table is filled in init to break the initialisation cycle with runCommand.
var commands []command

func init() {
	commands = []command{
		{"help", "", "show keys and commands", (*App).cmdHelp},
		{"new", "", "start a new conversation (the current one stays saved)", (*App).cmdNew},
		{"sessions", "", "list saved sessions to switch, rename or delete", (*App).cmdSessions},
		{"model", "[N|NAME|FILE]", "list installed models, or switch to one", (*App).cmdModel},
		{"system", "[TEXT|off]", "show or set this session's system prompt", (*App).cmdSystem},
		{"retry", "", "regenerate the last answer", (*App).cmdRetry},
		{"copy", "", "copy the last answer to the clipboard (OSC 52)", (*App).cmdCopy},
		{"export", "[FILE]", "write this session to a Markdown file", (*App).cmdExport},
		{"clear", "", "forget this session's messages", (*App).cmdClear},
		// /agent first: typing "/agent" then enter runs it, not /agents.
		{"agent", "NAME [PROMPT]", "run an agent here (esc stops it)", (*App).cmdAgent},
		{"agents", "", "list your agents (sov agents new NAME makes one)", (*App).cmdAgents},
		{"votes", "", "the DAO delegate's pending votes (approve, change, skip)", (*App).cmdVotes},
		{"quit", "", "leave the shell", func(a *App, _ string) tea.Cmd { return a.quit() }},
	}
}

func (a *App) runCommand(line string) tea.Cmd {
	name, arg, _ := strings.Cut(strings.TrimPrefix(line, "/"), " ")
	arg = strings.TrimSpace(arg)
	for _, c := range commands {
		if c.name == name {
			return c.run(a, arg)
		}
	}
	a.chat.errorf(fmt.Sprintf("Unknown command /%s: type /help for the list (start a message with // to send a literal /).", name))
	return nil
}

func (a *App) cmdHelp(string) tea.Cmd {
	var b strings.Builder
	b.WriteString("Commands\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-24s %s\n", "/"+c.name+" "+c.args, c.help)
	}
	b.WriteString("Keys (change them in the [tui.keys] table of the config file)\n")
	for _, l := range a.keys.HelpLines() {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("Start a message with // to send a literal /.\n")
	b.WriteString("Agents unlock the vault with $SOV_VAULT_PASSPHRASE only: the shell does not ask for it.\n")
	b.WriteString("Sessions are saved as you chat; reopen the last one with `sov --continue`.")
	a.chat.notice(b.String())
	return nil
}

func (a *App) cmdNew(string) tea.Cmd {
	if a.stream != nil {
		a.chat.notice("Stop the answer (esc) before starting a new conversation.")
		return nil
	}
	a.newSession()
	a.chat.notice("New conversation.")
	return nil
}

func (a *App) cmdSessions(string) tea.Cmd { return a.openSessionsPane() }

func (a *App) openSessionsPane() tea.Cmd {
	if a.store == nil {
		a.chat.errorf("Sessions are not available: " + a.opts.StoreNote)
		return nil
	}
	list, err := a.store.List()
	if err != nil {
		a.chat.errorf("list sessions: " + err.Error())
		return nil
	}
	a.panes = append(a.panes, newSessionsPane(list, a.conv.ID()))
	return nil
}

func (a *App) cmdModel(arg string) tea.Cmd {
	var list []ModelEntry
	if a.opts.Models != nil {
		var err error
		if list, err = a.opts.Models(); err != nil {
			a.chat.errorf("list models: " + err.Error())
			return nil
		}
	}
	list = slices.DeleteFunc(list, func(m ModelEntry) bool { return m.Missing })
	if arg == "" {
		if len(list) == 0 {
			a.chat.notice("No installed models found. Get one with `" + pullExample + "` (in another terminal, or after quitting), or give a file: /model FILE.gguf")
			return nil
		}
		var b strings.Builder
		b.WriteString("Installed models (switch with /model N or /model NAME):\n")
		for i, m := range list {
			mark := " "
			if a.engine != nil && sameFile(m.Path, a.info.Path) {
				mark = "•"
			}
			fmt.Fprintf(&b, "%s %d. %s  %s\n", mark, i+1, m.Name, m.Path)
		}
		a.chat.notice(strings.TrimRight(b.String(), "\n"))
		return nil
	}
	if a.stream != nil || a.loading != nil {
		a.chat.notice("Wait for the answer or the load in progress to finish first.")
		return nil
	}
	path := ""
	if n, err := strconv.Atoi(arg); err == nil && n >= 1 && n <= len(list) {
		path = list[n-1].Path
	}
	for _, m := range list {
		if path == "" && (m.Name == arg || strings.HasPrefix(m.Name, arg)) {
			path = m.Path
		}
	}
	if path == "" {
		if _, err := os.Stat(arg); err == nil {
			path = arg
		} else {
			// Suggest pulling what was typed only when it is a reference
			// sov pull takes; a bare name would be read as a missing file.
			pull := pullExample
			if r, err := store.ParseRef(arg); err == nil && r.Kind != store.RefLocal {
				pull = "sov pull " + arg
			}
			a.chat.errorf(fmt.Sprintf("No installed model matches %q: see /model for the list, or get one with `%s`.", arg, pull))
			return nil
		}
	}
	if a.opts.Loader == nil {
		a.chat.errorf("this build of sov has no inference engine yet")
		return nil
	}
	return a.load(path)
}

// pullExample is the form of sov pull that downloads a model (README, first
// steps).
const pullExample = "sov pull hf.co/OWNER/REPO:QUANT"

// pullHint is the command that installs the model at path again: a pull
// of the reference it came from, when the store knows one that still
// works, else the general form.
func (a *App) pullHint(path string) string {
	e, ok := a.entryFor(path)
	if !ok || e.Source == "" || sameFile(e.Source, path) {
		return pullExample // unknown, or a linked file, which is what is gone
	}
	if r, err := store.ParseRef(e.Source); err == nil && r.Kind == store.RefLocal {
		if _, err := os.Stat(e.Source); err != nil {
			return pullExample // the file it was copied from is gone too
		}
	}
	return "sov pull " + e.Source
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(fa, fb)
}

func (a *App) cmdSystem(arg string) tea.Cmd {
	switch arg {
	case "":
		if s := a.conv.Meta().System; s == "" {
			a.chat.notice("No system prompt. Set one with /system TEXT.")
		} else {
			a.chat.notice("System prompt: " + s)
		}
		return nil
	case "off", "none", "clear":
		arg = ""
	}
	a.saveFailed(a.conv.SetSystem(sanitize(arg)))
	if arg == "" {
		a.chat.notice("System prompt removed.")
	} else {
		a.chat.notice("System prompt set.")
	}
	return a.warmUp()
}

func (a *App) cmdRetry(string) tea.Cmd {
	if a.stream != nil {
		a.chat.notice("An answer is already streaming.")
		return nil
	}
	if a.engine == nil {
		a.chat.notice(a.noModelText())
		return nil
	}
	dropped, err := a.conv.Retry()
	if errors.Is(err, conversation.ErrNothingToRetry) {
		a.chat.notice("Nothing to retry yet.")
		return nil
	}
	if dropped != nil {
		// The answer dropped is the last one shown that did not fail.
		for i := len(a.chat.items) - 1; i >= 0; i-- {
			if it := a.chat.items[i]; it.kind == kindAssistant && it.msg.Err == "" {
				a.chat.items = append(a.chat.items[:i], a.chat.items[i+1:]...)
				break
			}
		}
	}
	a.saveFailed(err)
	return a.generate()
}

func (a *App) lastAnswer() string {
	if i := a.chat.lastAssistant(); i >= 0 {
		return a.chat.items[i].msg.Content
	}
	return ""
}

func (a *App) cmdCopy(string) tea.Cmd {
	t := a.lastAnswer()
	if t == "" {
		a.chat.notice("No answer to copy yet.")
		return nil
	}
	a.chat.notice(fmt.Sprintf("Copied the last answer (%d characters) to the clipboard.", len([]rune(t))))
	return tea.SetClipboard(t)
}

func (a *App) cmdExport(arg string) tea.Cmd {
	if a.conv.Len() == 0 {
		a.chat.notice("Nothing to export yet.")
		return nil
	}
	path := arg
	if path == "" {
		meta := a.conv.Meta()
		id := meta.ID
		if id == "" {
			id = "unsaved"
		}
		path = conversation.ExportName(meta.Title, id)
	}
	if strings.HasPrefix(path, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(h, path[2:])
		}
	}
	if err := os.WriteFile(path, []byte(a.conv.Markdown(a.name)), 0o600); err != nil {
		a.chat.errorf("export: " + oneLine(err.Error()) + " (give another path: /export FILE)")
		return nil
	}
	abs, _ := filepath.Abs(path)
	a.chat.notice("Exported to " + abs)
	return nil
}

func (a *App) cmdClear(string) tea.Cmd {
	if a.stream != nil {
		a.chat.notice("Stop the answer (esc) first.")
		return nil
	}
	a.stopWarm()
	err := a.conv.Clear()
	a.chat.items = nil
	a.chat.offset = 0
	a.resetStats()
	a.chat.notice("Conversation cleared; the model starts afresh.")
	a.saveFailed(err)
	return nil
}

// loadJob is a model load in progress.
type loadJob struct {
	name     string
	path     string
	frac     float32
	progress chan float32
	done     chan loadDoneMsg
	cancel   context.CancelFunc
}

type loadProgressMsg struct {
	job  *loadJob
	frac float32
}

type loadDoneMsg struct {
	job    *loadJob
	engine Chatter
	err    error
}

// load starts loading path in the background, showing progress in the
// status bar; the current model keeps working until the new one is ready.
func (a *App) load(path string) tea.Cmd {
	ctx, cancel := context.WithCancel(a.ctx)
	name := strings.TrimSuffix(filepath.Base(path), ".gguf")
	job := &loadJob{name: name, path: path, progress: make(chan float32, 1), done: make(chan loadDoneMsg, 1), cancel: cancel}
	a.loading = job
	loader := a.opts.Loader
	go func() {
		defer func() {
			if r := recover(); r != nil {
				job.done <- loadDoneMsg{job: job, err: fmt.Errorf("loading failed: %v", r)}
			}
		}()
		eng, err := loader(ctx, path, func(f float32) bool {
			select {
			case <-job.progress: // drop a stale value: only the latest matters
			default:
			}
			job.progress <- f
			return ctx.Err() == nil
		})
		job.done <- loadDoneMsg{job: job, engine: eng, err: err}
	}()
	return job.wait()
}

func (j *loadJob) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case f := <-j.progress:
			return loadProgressMsg{job: j, frac: f}
		case d := <-j.done:
			return d
		}
	}
}

func (a *App) onLoadProgress(m loadProgressMsg) tea.Cmd {
	if a.loading != m.job {
		return nil
	}
	m.job.frac = m.frac
	return m.job.wait()
}

func (a *App) onLoaded(m loadDoneMsg) tea.Cmd {
	if a.loading != m.job {
		if m.engine != nil {
			m.engine.Close()
		}
		return nil
	}
	a.loading = nil
	if m.err != nil {
		if a.queued {
			a.queued = false
			defer a.chat.notice("Your message is saved; send /retry once a model is loaded.")
		}
		a.loadErr = oneLine(m.err.Error())
		if os.IsNotExist(m.err) || strings.Contains(m.err.Error(), "no such file") {
			a.chat.errorf(fmt.Sprintf("Could not load %s: the file is gone. Reinstall it with `%s`, or pick another with /model.", m.job.path, a.pullHint(m.job.path)))
		} else {
			a.chat.errorf(fmt.Sprintf("Could not load %s: %s. Pick another model with /model.", m.job.path, a.loadErr))
		}
		return nil
	}
	a.loadErr = ""
	queued := a.queued
	a.queued = false
	if a.engine != nil {
		a.stopWarm()
		a.sessions.closeAll() // they belong to the engine that goes
		a.engine.Close()
		a.chat.notice("Switched to " + a.displayName(m.engine.Info()) + ".")
	}
	a.setEngine(m.engine)
	if queued && a.stream == nil && a.conv.Pending() {
		return a.generate()
	}
	return a.warmUp()
}
