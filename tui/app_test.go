package tui

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/model/scripted"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/model"
)

var update = flag.Bool("update", false, "rewrite golden frames")

// fakeEngine is the scripted model with an Info, as the shell needs.
type fakeEngine struct {
	scripted.Model
	info model.Info
}

// sizedFake is a fake that reports its context size, as *model.Engine does.
type sizedFake struct {
	*fakeEngine
	size int
}

func (f sizedFake) ContextSize() int { return f.size }

func (f *fakeEngine) Info() model.Info { return f.info }
func (f *fakeEngine) Close() error     { return nil }

func newFake(text string) *fakeEngine {
	var pieces []string
	for _, w := range strings.SplitAfter(text, " ") {
		pieces = append(pieces, w)
	}
	return &fakeEngine{Model: scripted.Model{Pieces: pieces}, info: model.Info{Name: "tiny", Backend: "CPU"}}
}

func newTestApp(t testing.TB, opts Options, w, h int) *App {
	t.Helper()
	opts.NoColor = true
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	}
	a, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	a.Init()
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return a
}

// frame is the plain text of the current view.
func frame(a *App) string {
	return ansi.Strip(a.View().Content)
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("frame %s differs:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

// checkGeometry asserts the frame fills the window exactly, never wider.
func checkGeometry(t *testing.T, a *App, w, h int) {
	t.Helper()
	lines := strings.Split(a.View().Content, "\n")
	if len(lines) > h {
		t.Errorf("%dx%d: %d lines", w, h, len(lines))
	}
	for i, l := range lines {
		if lw := ansi.StringWidth(l); lw > w {
			t.Errorf("%dx%d: line %d is %d wide: %q", w, h, i, lw, ansi.Strip(l))
		}
	}
}

func keyMsg(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "alt+enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter, Mod: tea.ModAlt}
	case "shift+enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter, Mod: tea.ModShift}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "ctrl+g":
		return tea.KeyPressMsg{Code: 'g', Mod: tea.ModCtrl}
	case "ctrl+o":
		return tea.KeyPressMsg{Code: 'o', Mod: tea.ModCtrl}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	}
	r := []rune(s)
	if len(r) != 1 {
		panic("test key " + s)
	}
	return tea.KeyPressMsg{Code: r[0], Text: s}
}

// typeText types s key by key.
func typeText(a *App, s string) {
	for _, r := range s {
		a.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// run executes cmd and feeds its message back, following stream and load
// commands until they end; other messages are delivered once.
func run(a *App, cmd tea.Cmd) {
	for cmd != nil {
		msg := cmd()
		if b, ok := msg.(tea.BatchMsg); ok {
			for _, c := range b {
				run(a, c)
			}
			return
		}
		switch msg.(type) {
		case streamChunkMsg, streamDoneMsg, loadProgressMsg, loadDoneMsg, warmDoneMsg,
			switchSessionMsg, renameSessionMsg, deleteSessionMsg, closePaneMsg:
			_, cmd = a.Update(msg)
		default:
			return
		}
	}
}

// press sends a key and runs what it starts.
func press(a *App, k string) {
	_, cmd := a.Update(keyMsg(k))
	run(a, cmd)
}

func TestTUIGoldenFirstRunNoModel(t *testing.T) {
	a := newTestApp(t, Options{}, 60, 10)
	checkGolden(t, "first_run_no_model", frame(a))
	// Sending without a model explains instead of failing.
	typeText(a, "hi")
	press(a, "enter")
	if !strings.Contains(frame(a), "sov pull") {
		t.Errorf("no pull hint after sending without a model:\n%s", frame(a))
	}
	if a.input.value() != "hi" {
		t.Errorf("input lost: %q", a.input.value())
	}
}

func TestTUIGoldenChat(t *testing.T) {
	eng := newFake("Hello! Here is **bold** and a list:\n\n- one\n- two\n\n```go\nfmt.Println(1)\n```\n")
	a := newTestApp(t, Options{Engine: eng}, 60, 20)
	typeText(a, "Say hi")
	press(a, "enter")
	checkGolden(t, "chat_finished", frame(a))
	if got := eng.LastCall(); len(got) != 1 || got[0].Content != "Say hi" {
		t.Errorf("engine got %+v", got)
	}
	// Second turn re-sends the whole history.
	typeText(a, "More")
	press(a, "enter")
	if got := eng.LastCall(); len(got) != 3 || got[1].Role != model.RoleAssistant {
		t.Errorf("second turn history = %+v", got)
	}
}

func TestTUIGoldenStreamingAndEscStops(t *testing.T) {
	eng := newFake("one two three four five six")
	eng.Gate, eng.PauseAt = make(chan struct{}), 3
	dir := t.TempDir()
	st, err := conversation.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := newTestApp(t, Options{Engine: eng, Store: st}, 50, 10)
	typeText(a, "count")
	_, cmd := a.Update(keyMsg("enter"))
	// Deliver chunks until the three pieces before the gate are shown.
	for !strings.Contains(a.streamItem.msg.Content, "three") {
		_, cmd = a.Update(cmd())
	}
	f := frame(a)
	if !strings.Contains(f, "one two three ▌") || !strings.Contains(f, "generating") {
		t.Errorf("streaming frame:\n%s", f)
	}
	// Esc stops at once; the partial answer is kept and marked.
	a.Update(keyMsg("esc"))
	run(a, cmd)
	f = frame(a)
	if !strings.Contains(f, "[stopped]") || !strings.Contains(f, "one two three") || strings.Contains(f, "four") {
		t.Errorf("stopped frame:\n%s", f)
	}
	if a.stream != nil {
		t.Fatal("still streaming after esc")
	}
	_, msgs, err := st.Load(a.conv.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || !msgs[1].Stopped || msgs[1].Content != "one two three " {
		t.Errorf("saved = %+v", msgs)
	}
}

func TestTUICtrlCAsksWhileGenerating(t *testing.T) {
	eng := newFake("a b c")
	eng.Gate, eng.PauseAt = make(chan struct{}), 1
	a := newTestApp(t, Options{Engine: eng}, 60, 12)
	typeText(a, "x")
	_, cmd := a.Update(keyMsg("enter"))
	_, c := a.Update(keyMsg("ctrl+c"))
	if c != nil || !a.confirmQuit {
		t.Fatal("ctrl+c while generating quit without asking")
	}
	a.Update(keyMsg("n")) // stay
	if a.confirmQuit || a.quitting {
		t.Fatal("other key did not cancel the quit")
	}
	a.Update(keyMsg("ctrl+c"))
	_, c = a.Update(keyMsg("ctrl+c"))
	if c == nil || !a.quitting {
		t.Fatal("second ctrl+c did not quit")
	}
	if _, ok := c().(tea.QuitMsg); !ok {
		t.Error("quit command is not tea.Quit")
	}
	run(a, cmd)
	// Idle: ctrl+c quits at once.
	b := newTestApp(t, Options{Engine: newFake("x")}, 60, 12)
	if _, c := b.Update(keyMsg("ctrl+c")); c == nil {
		t.Error("idle ctrl+c did not quit")
	}
}

func TestTUIResizeWhileStreaming(t *testing.T) {
	eng := newFake(strings.Repeat("word ", 200) + "\n\n```\n" + strings.Repeat("x", 300) + "\n```")
	eng.Gate, eng.PauseAt = make(chan struct{}), 100
	a := newTestApp(t, Options{Engine: eng}, 80, 24)
	typeText(a, strings.Repeat("long prompt ", 20))
	_, cmd := a.Update(keyMsg("enter"))
	for !strings.Contains(a.streamItem.msg.Content, strings.Repeat("word ", 100)) {
		_, cmd = a.Update(cmd())
	}
	sizes := [][2]int{{80, 24}, {40, 12}, {20, 5}, {1, 1}, {20, 5}, {3, 2}, {120, 40}, {20, 5}}
	for _, s := range sizes {
		a.Update(tea.WindowSizeMsg{Width: s[0], Height: s[1]})
		checkGeometry(t, a, s[0], s[1])
	}
	close(eng.Gate)
	run(a, cmd)
	for _, s := range sizes {
		a.Update(tea.WindowSizeMsg{Width: s[0], Height: s[1]})
		checkGeometry(t, a, s[0], s[1])
		press(a, "pgup")
		checkGeometry(t, a, s[0], s[1])
	}
	a.Update(tea.WindowSizeMsg{Width: 20, Height: 5})
	checkGolden(t, "tiny_20x5", frame(a))

	// Panels and long notices at tiny sizes too.
	st, err := conversation.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < 5; i++ {
		m, _ := st.Create("tiny", "")
		st.Append(m.ID, conversation.Message{Role: "user", Content: strings.Repeat("title ", 20)})
	}
	b := newTestApp(t, Options{Engine: eng, Store: st}, 80, 24)
	typeText(b, "/help")
	press(b, "enter")
	press(b, "ctrl+o")
	for _, s := range sizes {
		b.Update(tea.WindowSizeMsg{Width: s[0], Height: s[1]})
		checkGeometry(t, b, s[0], s[1])
		press(b, "down")
	}
}

func TestTUIBigPaste(t *testing.T) {
	eng := newFake("ok")
	a := newTestApp(t, Options{Engine: eng}, 80, 24)
	line := strings.Repeat("0123456789abcdef", 4) + "\n"
	big := strings.Repeat(line, (1<<20)/len(line)+1) // > 1 MB
	start := time.Now()
	a.Update(tea.PasteMsg{Content: big})
	checkGeometry(t, a, 80, 24)
	f := frame(a)
	if !strings.Contains(f, "[pasted 1.0 MB") {
		t.Errorf("no paste placeholder:\n%s", f)
	}
	typeText(a, " summarise")
	press(a, "enter")
	got := eng.LastCall()
	if len(got) != 1 || len(got[0].Content) != len(big)+len(" summarise") {
		t.Fatalf("engine got %d messages, %d bytes", len(got), len(got[0].Content))
	}
	checkGeometry(t, a, 80, 24)
	if f := frame(a); !strings.Contains(f, "more lines (all sent") {
		t.Errorf("1 MB message not collapsed:\n%s", f)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("1 MB paste took %v", d)
	}
	// A small paste goes straight into the editor.
	a.Update(tea.PasteMsg{Content: "small\r\npaste\rcr"})
	if a.input.value() != "small\npaste\ncr" {
		t.Errorf("small paste = %q", a.input.value())
	}
}

func TestTUIInvalidUTF8AndEscapesInOutput(t *testing.T) {
	eng := &fakeEngine{Model: scripted.Model{Pieces: []string{"ok \xff\xfe bad ", "\x1b[2J\x1b]52;c;AAAA\x07clear ", "\x9b31m end"}}, info: model.Info{Name: "tiny"}}
	a := newTestApp(t, Options{Engine: eng}, 60, 12)
	typeText(a, "go")
	press(a, "enter")
	v := a.View().Content
	if strings.Contains(v, "\x1b[2J") || strings.Contains(v, "\x1b]52") || strings.Contains(v, "\x9b") {
		t.Errorf("model output reached the terminal as escape codes: %q", v)
	}
	f := frame(a)
	if !strings.Contains(f, "\uFFFD") || !strings.Contains(f, "end") {
		t.Errorf("frame:\n%s", f)
	}
	checkGeometry(t, a, 60, 12)
}

func TestTUIModelFileDeleted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tiny.gguf")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	eng := newFake("still here")
	eng.info.Path = path
	a := newTestApp(t, Options{Engine: eng}, 70, 20)
	os.Remove(path)
	typeText(a, "hello")
	press(a, "enter")
	f := frame(a)
	if !strings.Contains(f, "was deleted") || !strings.Contains(f, "still here") {
		t.Errorf("frame after deleting the model:\n%s", f)
	}
	// A failing engine shows the error in the chat; the shell keeps working.
	eng.Err = errors.New("llama_decode failed: model file unreadable")
	typeText(a, "again")
	press(a, "enter")
	if !strings.Contains(frame(a), "error: llama_decode failed") {
		t.Errorf("no error in chat:\n%s", frame(a))
	}
	eng.Err = nil
	typeText(a, "/help")
	press(a, "enter")
	if !strings.Contains(frame(a), "Sessions are saved") {
		t.Errorf("shell stopped working after an engine error:\n%s", frame(a))
	}
	// Loading a deleted file: clear error, shell keeps working.
	b := newTestApp(t, Options{ModelPath: path, Loader: func(ctx context.Context, p string, progress func(float32) bool) (Chatter, error) {
		progress(0.5)
		_, err := os.Stat(p)
		return nil, fmt.Errorf("load %s: %w", p, err)
	}}, 70, 12)
	run(b, b.load(path))
	if f := frame(b); !strings.Contains(f, "the file is gone") || !strings.Contains(f, "sov pull") {
		t.Errorf("load of a deleted model:\n%s", f)
	}
	typeText(b, "hi")
	press(b, "enter")
	if !strings.Contains(frame(b), "/model") {
		t.Errorf("send without a loaded model:\n%s", frame(b))
	}
}

func TestTUILockedStoreFallsBackUnsaved(t *testing.T) {
	dir := t.TempDir()
	held, err := conversation.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	start := time.Now()
	_, err = conversation.Open(dir, 100*time.Millisecond)
	var le *conversation.LockedError
	if !errors.As(err, &le) || time.Since(start) > 5*time.Second {
		t.Fatalf("open locked store: %v after %v", err, time.Since(start))
	}
	a := newTestApp(t, Options{Engine: newFake("fine"), StoreNote: err.Error() + ". This chat will not be saved."}, 80, 12)
	typeText(a, "hi")
	press(a, "enter")
	f := frame(a)
	if !strings.Contains(f, "in use by") || !strings.Contains(f, "pid") || !strings.Contains(f, "unsaved") || !strings.Contains(f, "fine") {
		t.Errorf("frame:\n%s", f)
	}
	press(a, "ctrl+o")
	if !strings.Contains(frame(a), "not available") {
		t.Errorf("sessions without a store:\n%s", frame(a))
	}
}

func TestTUISessionsResumeSwitchRenameDelete(t *testing.T) {
	dir := t.TempDir()
	st, err := conversation.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng := newFake("the answer")
	a := newTestApp(t, Options{Engine: eng, Store: st}, 80, 16)
	typeText(a, "first question")
	press(a, "enter")
	first := a.conv.ID()
	typeText(a, "/new")
	press(a, "enter")
	typeText(a, "second question")
	press(a, "enter")
	if a.conv.ID() == first || a.conv.Meta().Title != "second question" {
		t.Fatalf("meta = %+v", a.conv.Meta())
	}

	// Reopen the first one as --session would, in a fresh shell.
	b := newTestApp(t, Options{Engine: eng, Store: st, SessionID: first}, 80, 16)
	f := frame(b)
	if !strings.Contains(f, "first question") || !strings.Contains(f, "the answer") || strings.Contains(f, "second question") {
		t.Errorf("resumed frame:\n%s", f)
	}
	// The resumed context is warmed up in the background.
	run(b, b.warmUp())
	if got := eng.LastCall(); len(got) != 2 || got[0].Content != "first question" {
		t.Errorf("warm-up history = %+v", got)
	}
	// Up recalls the resumed session's inputs.
	press(b, "up")
	if b.input.value() != "first question" {
		t.Errorf("history up = %q", b.input.value())
	}
	press(b, "down")
	if b.input.value() != "" {
		t.Errorf("history down = %q", b.input.value())
	}

	// The sessions pane: list, rename, switch, delete.
	press(b, "ctrl+o")
	f = frame(b)
	if !strings.Contains(f, "first question") || !strings.Contains(f, "second question") {
		t.Fatalf("sessions pane:\n%s", f)
	}
	press(b, "r")
	for i := 0; i < len("first question"); i++ {
		press(b, "backspace")
	}
	typeText(b, "renamed")
	press(b, "enter")
	if b.conv.Meta().Title != "renamed" {
		t.Errorf("rename: title %q", b.conv.Meta().Title)
	}
	press(b, "up") // to "second question"
	press(b, "enter")
	if f := frame(b); !strings.Contains(f, "second question") || len(b.panes) != 0 {
		t.Errorf("switch:\n%s", f)
	}
	press(b, "ctrl+o")
	press(b, "d")
	press(b, "y")
	list, err := st.List()
	if err != nil || len(list) != 1 || list[0].Title != "renamed" {
		t.Errorf("after delete: %+v %v", list, err)
	}
	if b.conv.ID() != "" || len(b.chat.items) != 0 {
		t.Errorf("deleting the current session did not start a new one: %+v", b.conv.Meta())
	}
}

func TestTUISlashCommands(t *testing.T) {
	eng := newFake("answer one")
	dir := t.TempDir()
	a := newTestApp(t, Options{Engine: eng, Models: func() ([]ModelEntry, error) {
		return []ModelEntry{{Name: "tiny", Path: "/m/tiny.gguf"}, {Name: "other", Path: "/m/other.gguf"}}, nil
	}}, 80, 30)
	// Completion.
	typeText(a, "/he")
	if len(a.input.matches) != 1 || !strings.Contains(frame(a), "/help") {
		t.Errorf("completion for /he: %v", a.input.matches)
	}
	press(a, "tab")
	if a.input.value() != "/help " {
		t.Errorf("tab completed to %q", a.input.value())
	}
	press(a, "enter")
	if !strings.Contains(frame(a), "/export") {
		t.Errorf("/help:\n%s", frame(a))
	}
	typeText(a, "/system You are terse.")
	press(a, "enter")
	typeText(a, "hi")
	press(a, "enter")
	if got := eng.LastCall(); len(got) != 2 || got[0].Role != model.RoleSystem || got[0].Content != "You are terse." {
		t.Errorf("system prompt not sent: %+v", got)
	}
	eng.Pieces = []string{"answer ", "two"}
	typeText(a, "/retry")
	press(a, "enter")
	if got := eng.LastCall(); len(got) != 2 || got[1].Role != model.RoleUser {
		t.Errorf("/retry sent %+v", got)
	}
	if f := frame(a); a.lastAnswer() != "answer two" || strings.Contains(f, "answer one") || strings.Count(f, "answer two") != 1 {
		t.Errorf("/retry: last %q:\n%s", a.lastAnswer(), f)
	}
	typeText(a, "/copy")
	_, cmd := a.Update(keyMsg("enter"))
	if cmd == nil {
		t.Error("/copy gave no clipboard command")
	}
	out := filepath.Join(dir, "chat.md")
	typeText(a, "/export "+out)
	press(a, "enter")
	md, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(md), "## You\n\nhi") || !strings.Contains(string(md), "answer two") {
		t.Errorf("export: %v\n%s", err, md)
	}
	typeText(a, "/model")
	press(a, "enter")
	if !strings.Contains(frame(a), "2. other") {
		t.Errorf("/model list:\n%s", frame(a))
	}
	typeText(a, "/model nosuch")
	press(a, "enter")
	if !strings.Contains(frame(a), `No installed model matches "nosuch"`) {
		t.Errorf("/model nosuch:\n%s", frame(a))
	}
	typeText(a, "/bogus")
	press(a, "enter")
	if !strings.Contains(frame(a), "Unknown command /bogus") {
		t.Errorf("unknown command:\n%s", frame(a))
	}
	typeText(a, "/clear")
	press(a, "enter")
	if a.conv.Len() != 0 || strings.Contains(frame(a), "answer two") {
		t.Errorf("/clear left history %v", a.conv.History())
	}
	// "//" sends a literal slash message.
	typeText(a, "//etc")
	press(a, "enter")
	if got := eng.LastCall(); got[len(got)-1].Content != "/etc" {
		t.Errorf("// message sent %+v", got)
	}
}

func TestTUIMultilineInputAndHistory(t *testing.T) {
	eng := newFake("ok")
	a := newTestApp(t, Options{Engine: eng}, 60, 16)
	typeText(a, "line one")
	press(a, "shift+enter")
	typeText(a, "line two")
	press(a, "alt+enter")
	typeText(a, "three")
	if a.input.value() != "line one\nline two\nthree" {
		t.Fatalf("multi-line input = %q", a.input.value())
	}
	// Up inside a multi-line input moves the cursor, not the history.
	press(a, "up")
	if a.input.value() != "line one\nline two\nthree" {
		t.Fatalf("up changed the input: %q", a.input.value())
	}
	press(a, "enter")
	if got := eng.LastCall(); got[0].Content != "line one\nline two\nthree" {
		t.Errorf("sent %q", got[0].Content)
	}
	typeText(a, "second")
	press(a, "enter")
	typeText(a, "draft")
	press(a, "up")
	if a.input.value() != "second" {
		t.Errorf("up = %q", a.input.value())
	}
	press(a, "up")
	if !strings.HasPrefix(a.input.value(), "line one") {
		t.Errorf("up up = %q", a.input.value())
	}
	press(a, "down")
	press(a, "down")
	press(a, "down")
	if a.input.value() != "draft" {
		t.Errorf("down back to draft = %q", a.input.value())
	}
}

func TestTUIScrollAndJumpToLatest(t *testing.T) {
	eng := newFake(strings.Repeat("line\n", 40))
	a := newTestApp(t, Options{Engine: eng}, 40, 10)
	typeText(a, "q")
	press(a, "enter")
	bottom := frame(a)
	press(a, "pgup")
	if a.chat.offset == 0 || frame(a) == bottom || !strings.Contains(frame(a), "more below") {
		t.Errorf("pgup did not scroll:\n%s", frame(a))
	}
	a.Update(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	off := a.chat.offset
	a.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if a.chat.offset != off-3 {
		t.Errorf("wheel down: offset %d -> %d", off, a.chat.offset)
	}
	for i := 0; i < 50; i++ {
		press(a, "pgup")
	}
	if !strings.Contains(frame(a), "› you") {
		t.Errorf("top not reachable:\n%s", frame(a))
	}
	press(a, "ctrl+g")
	if a.chat.offset != 0 || frame(a) != bottom {
		t.Errorf("jump to latest:\n%s", frame(a))
	}
}

func TestTUIKeyConfig(t *testing.T) {
	if _, err := New(context.Background(), Options{Config: Config{Keys: map[string][]string{"fly": {"f"}}}}); err == nil || !strings.Contains(err.Error(), "unknown action") {
		t.Errorf("unknown action: %v", err)
	}
	if _, err := New(context.Background(), Options{Config: Config{Theme: "pink"}}); err == nil {
		t.Error("bad theme accepted")
	}
	eng := newFake("ok")
	a := newTestApp(t, Options{Engine: eng, Config: Config{Keys: map[string][]string{"send": {"ctrl+s"}}}}, 60, 10)
	typeText(a, "x")
	press(a, "enter")
	if len(eng.LastCall()) != 0 {
		t.Error("enter still sends after rebinding send")
	}
	_, cmd := a.Update(tea.KeyPressMsg{Code: 's', Mod: tea.ModCtrl})
	run(a, cmd)
	if len(eng.LastCall()) != 1 {
		t.Error("ctrl+s does not send")
	}
}

func TestTUIThemeFromBackground(t *testing.T) {
	a, err := New(context.Background(), Options{Engine: newFake("x")})
	if err != nil {
		t.Fatal(err)
	}
	a.Update(tea.BackgroundColorMsg{Color: lightColor{}})
	if a.theme.Name != "light" {
		t.Errorf("light background gave theme %q", a.theme.Name)
	}
	b := newTestApp(t, Options{Engine: newFake("x")}, 40, 10) // NO_COLOR
	b.Update(tea.BackgroundColorMsg{Color: lightColor{}})
	if b.theme.Name != "none" || strings.Contains(b.View().Content, "\x1b[3") {
		t.Errorf("NO_COLOR: theme %q", b.theme.Name)
	}
}

type lightColor struct{}

func (lightColor) RGBA() (r, g, b, a uint32) { return 0xffff, 0xffff, 0xffff, 0xffff }

func TestTUIConfigTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	data := "[tui]\ntheme = \"light\"\n[tui.keys]\nsend = [\"ctrl+s\"]\nlatest = [\"f5\"]\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if err := f.Section("tui", &cfg); err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if a.theme.Name != "light" || a.keys.Send.Keys()[0] != "ctrl+s" || a.keys.Latest.Keys()[0] != "f5" {
		t.Errorf("theme %q send %v latest %v", a.theme.Name, a.keys.Send.Keys(), a.keys.Latest.Keys())
	}
	a.cmdHelp("")
	if f := frame(a); !strings.Contains(f, "ctrl+s") {
		t.Errorf("/help does not list the configured key:\n%s", f)
	}
}

func TestTUIModelSwitchShowsProgress(t *testing.T) {
	gate := make(chan struct{})
	loaded := newFake("from the new model")
	loaded.info = model.Info{Name: "other", Backend: "CPU"}
	loader := func(ctx context.Context, p string, progress func(float32) bool) (Chatter, error) {
		progress(0.5)
		<-gate
		progress(1)
		return loaded, nil
	}
	a := newTestApp(t, Options{Engine: newFake("old"), Loader: loader, Models: func() ([]ModelEntry, error) {
		return []ModelEntry{{Name: "tiny", Path: "/m/tiny.gguf"}, {Name: "other", Path: "/m/other.gguf"}}, nil
	}}, 80, 12)
	typeText(a, "/model 2")
	_, cmd := a.Update(keyMsg("enter"))
	msg := cmd()
	_, cmd = a.Update(msg)
	if f := frame(a); !strings.Contains(f, "loading other  50%") {
		t.Errorf("no load progress:\n%s", f)
	}
	close(gate)
	run(a, cmd)
	if a.info.Name != "other" || !strings.Contains(frame(a), "Switched to other") {
		t.Errorf("after load: %q\n%s", a.info.Name, frame(a))
	}
	typeText(a, "hi")
	press(a, "enter")
	if !strings.Contains(frame(a), "from the new model") {
		t.Errorf("new model not used:\n%s", frame(a))
	}
}

func TestTUIQuitWhileStreamingSavesPartial(t *testing.T) {
	eng := newFake("alpha beta gamma")
	eng.Gate, eng.PauseAt = make(chan struct{}), 2
	st, err := conversation.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := newTestApp(t, Options{Engine: eng, Store: st}, 60, 12)
	typeText(a, "go")
	_, cmd := a.Update(keyMsg("enter"))
	for !strings.Contains(a.streamItem.msg.Content, "beta") {
		_, cmd = a.Update(cmd())
	}
	a.Update(keyMsg("ctrl+c"))
	a.Update(keyMsg("ctrl+c"))
	a.Shutdown() // what Run does after the program ends
	_, msgs, err := st.Load(a.conv.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[1].Content != "alpha beta " || !msgs[1].Stopped || !msgs[1].Complete {
		t.Errorf("saved after quit: %+v", msgs)
	}
}

func TestTUIGoldenHelp(t *testing.T) {
	a := newTestApp(t, Options{Engine: newFake("x")}, 90, 34)
	typeText(a, "/help")
	press(a, "enter")
	checkGolden(t, "help", frame(a))
}

func TestTUISendWhileLoadingAnswersWhenReady(t *testing.T) {
	gate := make(chan struct{})
	eng := newFake("ready now")
	loader := func(ctx context.Context, p string, progress func(float32) bool) (Chatter, error) {
		<-gate
		return eng, nil
	}
	a := newTestApp(t, Options{ModelPath: "/m/tiny.gguf", Loader: loader}, 70, 14)
	loadCmd := a.load("/m/tiny.gguf")
	typeText(a, "early question")
	press(a, "enter")
	if f := frame(a); !strings.Contains(f, "early question") || !strings.Contains(f, "as soon as it is") {
		t.Errorf("queued frame:\n%s", f)
	}
	close(gate)
	run(a, loadCmd)
	if f := frame(a); !strings.Contains(f, "ready now") {
		t.Errorf("queued message not answered after load:\n%s", f)
	}
}

type panicEngine struct{ fakeEngine }

func (p *panicEngine) Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	fn("partial ")
	panic("boom")
}

func TestTUIEnginePanicBecomesError(t *testing.T) {
	a := newTestApp(t, Options{Engine: &panicEngine{fakeEngine{info: model.Info{Name: "tiny"}}}}, 60, 12)
	typeText(a, "hi")
	press(a, "enter")
	if f := frame(a); !strings.Contains(f, "the engine failed: boom") || a.stream != nil {
		t.Errorf("frame:\n%s", f)
	}
}

// A model whose chat template llama.cpp does not recognise is said so in
// the transcript when it is opened, once.
func TestTUITemplateWarningShown(t *testing.T) {
	eng := newFake("Hi")
	eng.info.TemplateWarning = "the chat template of tiny is not one llama.cpp recognises: chat turns are sent as plain text without roles"
	a := newTestApp(t, Options{Engine: eng}, 200, 20)
	got := frame(a)
	if strings.Count(got, "Warning: the chat template of tiny is not one llama.cpp recognises") != 1 {
		t.Fatalf("no warning in the transcript:\n%s", got)
	}
}

// The shell's engine is a model.LLM that it may close.
var _ Chatter = struct {
	model.LLM
	io.Closer
}{}
