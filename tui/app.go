package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/model"
)

// Options configure the shell.
type Options struct {
	Config    Config
	Store     *conversation.Store // nil: conversations are not saved (e.g. database locked)
	StoreNote string              // why Store is nil, shown in the chat
	Loader    Loader
	ModelPath string // resolved model to load at start ("" = none installed)
	NoModel   string // what to tell the user when no model is installed
	Models    func() ([]ModelEntry, error)
	Sampling  model.Sampling
	System    string // system prompt for new sessions
	SessionID string // open this session ("" = a new one)
	Notice    string // shown in the chat at start
	NoColor   bool
	// Events receives what the conversations do (tokens, answers); nil:
	// the shell makes its own. Pass one to subscribe beside the shell.
	Events *conversation.Events
	// Engine, when set, is used instead of loading ModelPath (tests).
	Engine Chatter
	// Now is the clock (tests pin it for golden frames).
	Now func() time.Time
	// Agents lists the user's agent files (/agents); RunAgent runs one
	// (/agent). Nil: the shell has no agents.
	Agents   func() ([]agents.Entry, error)
	RunAgent RunAgentFunc
	// DAO opens the user's DAO delegate (/votes); nil: the shell has none.
	DAO OpenDAOFunc
}

// App is the root Bubble Tea model. It owns the panes and routes messages;
// the chat, input and status panes are called directly.
type App struct {
	opts   Options
	ctx    context.Context
	keys   KeyMap
	theme  Theme
	width  int
	height int

	chat  *chatPane
	input *inputPane
	panes []Pane // overlays, top last

	store *conversation.Store // nil: conversations are not saved
	conv  *conversation.Conversation
	evs   *conversation.Events

	engine     Chatter
	sessions   convSessions // each conversation's KV sequence on engine
	info       model.Info
	name       string // the model's name in the store (see displayName)
	loading    *loadJob
	loadErr    string
	stream     *stream
	streamItem *item
	warm       context.CancelFunc
	warmJob    *warmJob // the warm-up whose figures the status bar awaits
	lastStats  model.Stats
	lastTPS    float64
	goneNoted  bool
	queued     bool // a message waits for the model to load

	agent        *agentRun // the agent run in progress
	approveGrace time.Duration

	confirmQuit bool
	quitting    bool
	cmds        []string // slash command names, for completion
}

// New builds the shell model. It fails only on bad configuration or an
// unknown session.
func New(ctx context.Context, opts Options) (*App, error) {
	keys, err := NewKeyMap(opts.Config.Keys)
	if err != nil {
		return nil, err
	}
	themeName := opts.Config.Theme
	switch themeName {
	case "", "auto":
		themeName = "dark"
	case "dark", "light", "none":
	default:
		return nil, fmt.Errorf("config [tui] theme %q: use auto, dark, light or none", opts.Config.Theme)
	}
	if opts.NoColor {
		themeName = "none"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &App{opts: opts, ctx: ctx, keys: keys, theme: NewTheme(themeName), store: opts.Store, width: 80, height: 24, approveGrace: defaultApproveGrace}
	a.chat = &chatPane{theme: a.theme}
	a.input = newInputPane(a.theme)
	for _, c := range commands {
		a.cmds = append(a.cmds, "/"+c.name)
	}
	a.evs = opts.Events
	if a.evs == nil {
		a.evs = conversation.NewEvents()
	}
	a.conv = conversation.New(a.convOptions())
	if opts.StoreNote != "" {
		a.chat.errorf(opts.StoreNote)
	}
	if opts.Notice != "" {
		a.chat.notice(opts.Notice)
	}
	if opts.SessionID != "" && a.store != nil {
		if err := a.openSession(opts.SessionID); err != nil {
			return nil, err
		}
	}
	if opts.Engine != nil {
		a.setEngine(opts.Engine)
	}
	a.layout()
	return a, nil
}

// Init starts loading the model and asks for the terminal background.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor}
	switch {
	case a.engine != nil:
		cmds = append(cmds, a.warmUp())
	case a.opts.ModelPath != "" && a.opts.Loader != nil:
		cmds = append(cmds, a.load(a.opts.ModelPath))
	case a.opts.ModelPath != "":
		a.chat.errorf("this build of sov has no inference engine yet: chat is unavailable")
	default:
		a.chat.notice(a.noModelText())
	}
	return tea.Batch(cmds...)
}

func (a *App) noModelText() string {
	if a.opts.NoModel != "" {
		return a.opts.NoModel
	}
	return "No model is installed yet. Quit (ctrl+c) and get one with `sov pull hf.co/OWNER/REPO:QUANT`, or start with `sov --model FILE.gguf`."
}

func (a *App) setEngine(e Chatter) {
	a.engine = e
	a.sessions.reset(e)
	a.info = e.Info()
	a.name = a.displayName(a.info)
	a.chat.model = a.name
	a.goneNoted = false
	// A new engine holds nothing yet; its context size is known at once.
	a.lastStats, a.lastTPS = model.Stats{}, 0
	if c, ok := e.(interface{ ContextSize() int }); ok {
		a.lastStats.ContextSize = c.ContextSize()
	}
	if a.info.TemplateWarning != "" {
		a.chat.notice("Warning: " + a.info.TemplateWarning + ".")
	}
}

// layout sizes the panes for the window.
func (a *App) layout() {
	a.input.setWidth(a.width)
	a.input.setMaxHeight(max(1, min(8, (a.height-2)/3)))
	a.chat.width = a.width
}

// Update routes one message.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = max(1, msg.Width), max(1, msg.Height)
		a.layout()
		return a, nil
	case tea.BackgroundColorMsg:
		if (a.opts.Config.Theme == "" || a.opts.Config.Theme == "auto") && !a.opts.NoColor {
			name := "light"
			if msg.IsDark() {
				name = "dark"
			}
			if name != a.theme.Name {
				a.setTheme(NewTheme(name))
			}
		}
		return a, nil
	case streamChunkMsg:
		return a, a.onChunk(msg)
	case streamDoneMsg:
		return a, a.onDone(msg)
	case loadProgressMsg:
		return a, a.onLoadProgress(msg)
	case loadDoneMsg:
		return a, a.onLoaded(msg)
	case warmDoneMsg:
		a.onWarmDone(msg)
		return a, nil
	case agentEventMsg, agentApprovalMsg, agentAskMsg, agentDoneMsg, agentStopMsg:
		return a, a.onAgentMsg(msg)
	case votesApproveMsg, votesDoneMsg:
		return a, a.onVotesMsg(msg)
	case closePaneMsg:
		if len(a.panes) > 0 {
			a.panes = a.panes[:len(a.panes)-1]
		}
		return a, nil
	case switchSessionMsg:
		a.panes = nil
		if err := a.switchSession(msg.id); err != nil {
			a.chat.errorf(err.Error())
		}
		return a, a.warmUp()
	case renameSessionMsg:
		switch {
		case msg.id == a.conv.ID():
			a.saveFailed(a.conv.Rename(msg.title))
		case a.store != nil:
			if _, err := a.store.Update(msg.id, func(m *conversation.Meta) { m.Title = msg.title }); err != nil {
				a.chat.errorf("rename: " + err.Error())
			}
		}
		return a, nil
	case deleteSessionMsg:
		if msg.id == a.conv.ID() && a.stream != nil {
			// Its answer is still being written: the pane's list would lie.
			a.panes = nil
			a.chat.errorf("Stop the answer (esc) before deleting this conversation.")
			return a, nil
		}
		if a.store != nil {
			if err := a.store.Delete(msg.id); err != nil {
				a.chat.errorf("delete: " + err.Error())
			}
		}
		a.sessions.drop(msg.id)
		if msg.id == a.conv.ID() {
			a.stopWarm()
			a.sessions.leave("") // deleted: nothing to come back to
			a.newSession()
		}
		return a, nil
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			a.chat.scroll(3)
		case tea.MouseWheelDown:
			a.chat.scroll(-3)
		}
		return a, nil
	case tea.PasteMsg:
		if len(a.panes) > 0 {
			return a, a.panes[len(a.panes)-1].Update(msg)
		}
		a.input.paste(msg.Content)
		a.input.updateMatches(a.cmds)
		return a, nil
	case tea.KeyPressMsg:
		return a, a.onKey(msg)
	}
	if len(a.panes) > 0 {
		return a, a.panes[len(a.panes)-1].Update(msg)
	}
	return a, a.input.update(msg)
}

func (a *App) setTheme(t Theme) {
	a.theme = t
	a.chat.theme = t
	a.chat.invalidate()
	v := a.input.ta.Value()
	hist, pos := a.input.history, a.input.histPos
	pastes, n := a.input.pastes, a.input.nPaste
	a.input = newInputPane(t)
	a.input.ta.SetValue(v)
	a.input.history, a.input.histPos, a.input.pastes, a.input.nPaste = hist, pos, pastes, n
	a.layout()
}

func (a *App) onKey(k tea.KeyPressMsg) tea.Cmd {
	if a.confirmQuit {
		a.confirmQuit = false
		if key.Matches(k, a.keys.Quit) || k.String() == "y" {
			return a.quit()
		}
		a.chat.notice("Not quitting.")
		return nil
	}
	if key.Matches(k, a.keys.Quit) {
		switch {
		case a.stream != nil:
			a.confirmQuit = true
			a.chat.notice("An answer is streaming. Press ctrl+c again (or y) to quit, any other key to stay.")
			a.chat.offset = 0
			return nil
		case a.agent != nil:
			a.confirmQuit = true
			a.chat.notice(fmt.Sprintf("Agent %s is running. Press ctrl+c again (or y) to stop it and quit, any other key to stay.", a.agent.name))
			a.chat.offset = 0
			return nil
		}
		return a.quit()
	}
	if len(a.panes) > 0 {
		return a.panes[len(a.panes)-1].Update(k)
	}
	switch {
	case key.Matches(k, a.keys.Stop):
		if a.stream != nil {
			a.stream.cancel()
			return nil
		}
		if a.agent != nil {
			a.stopAgent()
			return nil
		}
		if len(a.input.matches) > 0 {
			a.input.matches = nil
		}
		return nil
	case key.Matches(k, a.keys.PageUp):
		a.chat.scroll(max(1, a.chatHeight()-1))
		return nil
	case key.Matches(k, a.keys.PageDown):
		a.chat.scroll(-max(1, a.chatHeight()-1))
		return nil
	case key.Matches(k, a.keys.Latest):
		a.chat.offset = 0
		return nil
	case key.Matches(k, a.keys.Expand):
		a.toggleTools()
		return nil
	case key.Matches(k, a.keys.Sessions):
		return a.openSessionsPane()
	case key.Matches(k, a.keys.Complete):
		if len(a.input.matches) > 0 {
			a.input.complete()
			a.input.updateMatches(a.cmds)
		}
		return nil
	case key.Matches(k, a.keys.Newline):
		a.input.ta.InsertRune('\n')
		return nil
	case key.Matches(k, a.keys.Send):
		return a.submit()
	case key.Matches(k, a.keys.HistoryPrev) && a.input.onFirstLine():
		if len(a.input.matches) > 1 {
			a.input.matchIdx = (a.input.matchIdx + len(a.input.matches) - 1) % len(a.input.matches)
			return nil
		}
		a.input.historyPrev()
		return nil
	case key.Matches(k, a.keys.HistoryNext) && a.input.onLastLine():
		if len(a.input.matches) > 1 {
			a.input.matchIdx = (a.input.matchIdx + 1) % len(a.input.matches)
			return nil
		}
		a.input.historyNext()
		return nil
	}
	cmd := a.input.update(k)
	a.input.updateMatches(a.cmds)
	return cmd
}

func (a *App) quit() tea.Cmd {
	a.quitting = true
	if a.loading != nil {
		a.loading.cancel()
	}
	if a.stream != nil {
		a.stream.cancel()
	}
	if a.agent != nil {
		a.agent.cancel()
	}
	if a.warm != nil {
		a.warm()
	}
	return tea.Quit
}

// submit sends the input: a slash command or a chat message.
func (a *App) submit() tea.Cmd {
	raw := a.input.value()
	text := a.input.expanded()
	if strings.TrimSpace(text) == "" {
		return nil
	}
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		// Enter on a unique partial command runs it.
		if len(a.input.matches) > 0 && !strings.Contains(raw, " ") {
			raw = a.input.matches[a.input.matchIdx]
		}
		a.input.remember(strings.TrimSpace(raw))
		a.input.reset()
		a.chat.offset = 0
		return a.runCommand(strings.TrimSpace(raw))
	}
	if strings.HasPrefix(raw, "//") {
		text = text[1:] // "//x" sends "/x" as a message
	}
	if a.stream != nil {
		a.chat.notice("Wait for the answer or stop it with esc before sending.")
		return nil
	}
	if a.engine == nil {
		switch {
		case a.loading != nil && !a.queued:
			// Answer as soon as the model is ready.
			a.input.remember(raw)
			a.input.reset()
			a.chat.offset = 0
			a.addUser(text)
			a.queued = true
			a.chat.notice("The model is still loading; the answer starts as soon as it is ready.")
		case a.loading != nil:
			a.chat.notice("The model is still loading; your message is kept in the input.")
		case a.loadErr != "":
			a.chat.errorf("No model is loaded (" + a.loadErr + "). Pick one with /model.")
		default:
			a.chat.notice(a.noModelText())
		}
		return nil
	}
	a.input.remember(raw)
	a.input.reset()
	a.chat.offset = 0
	return a.send(text)
}

// send appends a user message and starts the answer.
func (a *App) send(text string) tea.Cmd {
	a.checkModelFile()
	a.addUser(text)
	return a.generate()
}

// addUser shows and saves a user message.
func (a *App) addUser(text string) {
	msg, err := a.conv.AddUser(sanitize(text))
	var se *conversation.SaveError
	if err != nil && !errors.As(err, &se) { // not added at all
		a.chat.errorf(oneLine(err.Error()))
		return
	}
	a.chat.add(&item{kind: kindUser, msg: msg})
	a.saveFailed(err)
}

// generate starts streaming an answer to the conversation's last message.
func (a *App) generate() tea.Cmd {
	// A running warm-up is not cancelled: it decodes a prefix of this very
	// request, and the engine runs the two in order, so none of it is lost
	// (cancelling mid-decode would drop the cache instead).
	a.warm, a.warmJob = nil, nil
	st, err := startStream(a.ctx, a.conv, a.evs, a.sessions.current(), a.opts.Sampling, a.name)
	if st == nil {
		a.chat.errorf(oneLine(err.Error()))
		return nil
	}
	it := &item{kind: kindAssistant, streaming: true, msg: st.turn.Answer()}
	a.chat.add(it)
	a.saveFailed(err)
	a.stream, a.streamItem = st, it
	return st.wait()
}

// checkModelFile warns once when the loaded model's file disappeared.
func (a *App) checkModelFile() {
	if a.goneNoted || a.info.Path == "" {
		return
	}
	if _, err := os.Stat(a.info.Path); errors.Is(err, os.ErrNotExist) {
		a.goneNoted = true
		a.chat.errorf(fmt.Sprintf("The model file %s was deleted. The copy in memory keeps answering until you quit; reinstall it with `%s` or pick another with /model.", a.info.Path, a.pullHint(a.info.Path)))
	}
}

func (a *App) onChunk(m streamChunkMsg) tea.Cmd {
	if a.stream == nil || m.turn != a.stream.turn.ID() {
		return nil
	}
	it := a.streamItem
	if a.chat.offset > 0 {
		// Keep a scrolled-back view still while lines arrive below it.
		before := len(a.chat.render(it, a.width))
		it.msg.Content += sanitize(m.text)
		a.chat.offset += len(a.chat.render(it, a.width)) - before
	} else {
		it.msg.Content += sanitize(m.text)
	}
	return a.stream.wait()
}

// onDone shows the answer as the conversation saved it.
func (a *App) onDone(m streamDoneMsg) tea.Cmd {
	if a.stream == nil || m.turn != a.stream.turn.ID() {
		return nil
	}
	it, ev := a.streamItem, m.ev
	it.streaming = false
	it.headLines = nil
	it.msg = ev.Answer
	it.msg.Content = sanitize(ev.Answer.Content)
	if ev.Kind == conversation.EventError && errors.Is(ev.Err, model.ErrPromptTooLong) {
		it.msg.Err += ": shorten the message, or restart sov with a larger --ctx"
	}
	it.cut = ev.Kind == conversation.EventDone && ev.Stats.StopReason == model.StopContext
	if ev.Kind != conversation.EventError {
		a.setStats(ev.Stats) // a stopped answer reports its context too
	}
	a.stream, a.streamItem = nil, nil
	a.confirmQuit = false
	a.saveFailed(ev.SaveErr)
	if ev.Kind == conversation.EventError {
		a.checkModelFile()
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// saveFailed reports a store failure (a *conversation.SaveError): the
// conversation goes on unsaved, and so do the next ones.
func (a *App) saveFailed(err error) {
	var se *conversation.SaveError
	if err == nil {
		return
	}
	if errors.As(err, &se) {
		err = se.Err
	}
	a.chat.errorf("Could not save the conversation (" + oneLine(err.Error()) + "); it continues unsaved.")
	a.store = nil
}

// convOptions are the options of the shell's conversations.
func (a *App) convOptions() conversation.Options {
	return conversation.Options{Store: a.store, System: a.opts.System, Events: a.evs, Now: a.opts.Now}
}

// newSession starts an empty conversation (saved on its first message).
// The one left keeps its engine session, so going back to it is quick.
func (a *App) newSession() {
	a.stopWarm()
	a.sessions.switchTo(a.conv.ID(), "")
	a.conv = conversation.New(a.convOptions())
	a.chat.items = nil
	a.chat.offset = 0
	a.resetStats()
}

// openSession loads a saved session into the chat.
func (a *App) openSession(id string) error {
	c, err := conversation.Resume(id, a.convOptions())
	if err != nil {
		return err
	}
	a.stopWarm()
	a.sessions.switchTo(a.conv.ID(), c.ID())
	a.conv = c
	a.resetStats() // until its warm-up says what its session holds
	msgs := c.Messages()
	a.chat.items = make([]*item, 0, len(msgs))
	a.chat.offset = 0
	for _, m := range msgs {
		kind := kindAssistant
		if m.Role == model.RoleUser {
			kind = kindUser
			a.input.remember(m.Content)
		}
		m.Content = sanitize(m.Content)
		a.chat.add(&item{kind: kind, msg: m})
	}
	return nil
}

func (a *App) switchSession(id string) error {
	if a.stream != nil {
		return errors.New("stop the answer (esc) before switching sessions")
	}
	if a.store == nil {
		return errors.New("sessions are not available: " + a.opts.StoreNote)
	}
	return a.openSession(id)
}

// stopWarm cancels a warm-up whose conversation is no longer current.
func (a *App) stopWarm() {
	if a.warm != nil {
		a.warm()
		a.warm = nil
	}
	a.warmJob = nil
}

// warmUp decodes a resumed conversation in the background so the next turn
// only decodes the new message (the engine reuses the common prefix). Its
// figures then show what the conversation's session holds.
func (a *App) warmUp() tea.Cmd {
	if a.engine == nil || a.conv.Len() == 0 || a.stream != nil {
		return nil
	}
	a.stopWarm()
	ctx, cancel := context.WithCancel(a.ctx)
	job := &warmJob{llm: a.sessions.current()}
	a.warm, a.warmJob = cancel, job
	conv := a.conv
	return func() tea.Msg {
		err := conv.Warm(ctx, job) // only a head start: the answer decodes what is missing
		return warmDoneMsg{job: job, err: err}
	}
}

func (a *App) chatHeight() int {
	return max(0, a.height-1-len(a.input.view(a.theme, a.width)))
}

// View draws the window: chat (or the top pane), input, status bar.
func (a *App) View() tea.View {
	var v tea.View
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "sov — " + a.conv.Meta().Title
	if a.quitting {
		return v
	}
	w, h := a.width, a.height
	in := a.input.view(a.theme, w)
	if len(in) > h-1 {
		in = in[len(in)-max(0, h-1):]
	}
	status := a.statusLine(w)
	chatH := max(0, h-1-len(in))
	var body []string
	if len(a.panes) > 0 {
		body = a.panes[len(a.panes)-1].View(a.theme, w, chatH)
		body = clip(body, w)
		for len(body) < chatH {
			body = append(body, "")
		}
		body = body[:chatH]
	} else {
		body = a.chat.view(w, chatH)
	}
	lines := make([]string, 0, h)
	lines = append(lines, body...)
	lines = append(lines, in...)
	if len(lines) < h {
		lines = append(lines, status)
	}
	v.SetContent(strings.Join(lines, "\n"))
	if c := a.input.ta.Cursor(); c != nil && len(a.panes) == 0 {
		c.Y += chatH + len(in) - a.input.ta.Height()
		if c.Y >= 0 && c.Y < h && c.X < w {
			v.Cursor = c
		}
	}
	return v
}

func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// Shutdown stops a running answer and saves it; call after the program
// ends so no partial answer is lost.
func (a *App) Shutdown() {
	if a.warm != nil {
		a.warm()
	}
	a.shutdownAgent()
	if a.stream != nil {
		a.stream.cancel()
		msg := a.stream.wait()()
		for {
			if d, ok := msg.(streamDoneMsg); ok {
				a.onDone(d)
				break
			}
			if c, ok := msg.(streamChunkMsg); ok {
				a.onChunk(c)
			}
			msg = a.stream.wait()()
		}
	}
}
