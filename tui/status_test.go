package tui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/store"
)

// statusOf is the status bar of the current frame, spaces squeezed.
func statusOf(a *App) string {
	lines := strings.Split(frame(a), "\n")
	return strings.Join(strings.Fields(lines[len(lines)-1]), " ")
}

// TestTUIStatusBarFollowsConversation: the status bar shows the store's
// name of the model, and what it says of the context, cache and speed
// follows Esc, /new, /clear, a session switch and a model switch instead
// of keeping the last answer's figures.
func TestTUIStatusBarFollowsConversation(t *testing.T) {
	st, err := conversation.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng := newFake("one two three")
	eng.info = model.Info{Name: "TinyStories GGUF general.name", Path: "/m/stories.gguf", Backend: "CPU"}
	other := newFake("from the other model")
	other.info = model.Info{Name: "Other GGUF name", Path: "/m/other.gguf", Backend: "CPU"}
	models := func() ([]ModelEntry, error) {
		return []ModelEntry{{Name: "stories", Path: "/m/stories.gguf"}, {Name: "other-q4", Path: "/m/other.gguf"}}, nil
	}
	loader := func(ctx context.Context, p string, progress func(float32) bool) (Chatter, error) {
		return sizedFake{other, 256}, nil
	}
	a := newTestApp(t, Options{Engine: sizedFake{eng, 512}, Store: st, Models: models, Loader: loader}, 100, 12)
	expect := func(step string, want []string, not ...string) {
		t.Helper()
		s := statusOf(a)
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("%s: status %q lacks %q", step, s, w)
			}
		}
		for _, n := range not {
			if strings.Contains(s, n) {
				t.Errorf("%s: status %q still shows %q", step, s, n)
			}
		}
	}
	expect("start", []string{"stories · CPU · ctx 0/512"}, "general.name", "tok/s")

	typeText(a, "count")
	press(a, "enter")
	expect("answer", []string{"ctx 12/512", "tok/s", "count"})
	first := a.conv.ID()

	// Esc before any token: the engine reports the context it holds now.
	eng.Gate, eng.PauseAt = make(chan struct{}), 0
	typeText(a, "again")
	_, cmd := a.Update(keyMsg("enter"))
	a.Update(keyMsg("esc"))
	run(a, cmd)
	expect("esc", []string{"ctx 0/512"}, "12/512", "tok/s")
	eng.Gate = nil

	typeText(a, "count")
	press(a, "enter")
	typeText(a, "/new")
	press(a, "enter")
	expect("/new", []string{"ctx 0/512", "New chat"}, "12/512", "tok/s", "cached")

	typeText(a, "more")
	press(a, "enter")
	typeText(a, "/clear")
	press(a, "enter")
	expect("/clear", []string{"ctx 0/512"}, "12/512", "tok/s")

	// Back to the first conversation: its warm-up says what it holds.
	a.Update(switchSessionMsg{id: first})
	run(a, a.warmUp())
	expect("switch", []string{"ctx 24/512"}, "tok/s") // 3 questions, 3 answers

	typeText(a, "/model 2")
	press(a, "enter")
	expect("model switch", []string{"other-q4 · CPU · ctx 24/256"}, "Other GGUF name", "512", "tok/s")
	if !strings.Contains(frame(a), "Switched to other-q4") {
		t.Errorf("switch notice:\n%s", frame(a))
	}
}

// TestTUIContextFullMarker: an answer cut by the full context is marked
// as such, outside its text.
func TestTUIContextFullMarker(t *testing.T) {
	eng := newFake("and then the")
	eng.Stop = model.StopContext
	a := newTestApp(t, Options{Engine: eng}, 60, 12)
	typeText(a, "tell")
	press(a, "enter")
	if f := frame(a); !strings.Contains(f, "and then the") || !strings.Contains(f, "[cut: the context is full]") {
		t.Errorf("no marker on a cut answer:\n%s", f)
	}
	if got := a.conv.Messages()[1].Content; got != "and then the" {
		t.Errorf("the marker went into the answer: %q", got)
	}
	eng.Stop = ""
	typeText(a, "more")
	press(a, "enter")
	if n := strings.Count(frame(a), "[cut:"); n != 1 {
		t.Errorf("%d markers after a complete answer:\n%s", n, frame(a))
	}
}

// pullsIn returns every `sov pull …` command in the chat's messages.
func pullsIn(a *App) []string {
	var out []string
	for _, it := range a.chat.items {
		for _, part := range strings.Split(it.msg.Content, "`")[1:] {
			if strings.HasPrefix(part, "sov pull") {
				out = append(out, part)
			}
		}
	}
	return out
}

// TestTUIModelHintsArePulls: every `sov pull …` the shell suggests is a
// reference sov pull takes, the one a missing model came from when the
// store knows it.
func TestTUIModelHintsArePulls(t *testing.T) {
	dir := t.TempDir()
	gone := filepath.Join(dir, "stories260K-F32.gguf")
	os.WriteFile(gone, []byte("x"), 0o600)
	src := "hf.co/karpathy/stories-GGUF:F32"
	var entries []ModelEntry
	models := func() ([]ModelEntry, error) { return entries, nil }
	loader := func(ctx context.Context, p string, progress func(float32) bool) (Chatter, error) {
		_, err := os.Stat(p)
		return nil, err
	}
	a := newTestApp(t, Options{Models: models, Loader: loader}, 80, 20) // the first-run notice
	typeText(a, "/model")
	press(a, "enter")
	typeText(a, "/model llama3")
	press(a, "enter")
	typeText(a, "/model hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M")
	press(a, "enter")

	entries = []ModelEntry{{Name: "stories260K-F32", Path: gone, Source: src}}
	os.Remove(gone)
	entries[0].Missing = true
	run(a, a.load(gone))

	eng := newFake("still here")
	eng.info.Path = gone
	b := newTestApp(t, Options{Engine: eng, Models: models}, 80, 20)
	typeText(b, "hello")
	press(b, "enter")

	pulls := append(pullsIn(a), pullsIn(b)...)
	want := []string{"sov pull hf.co/OWNER/REPO:QUANT", "sov pull hf.co/OWNER/REPO:QUANT", "sov pull hf.co/OWNER/REPO:QUANT", "sov pull hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "sov pull " + src, "sov pull " + src}
	if strings.Join(pulls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("pull hints:\n%s\nwant:\n%s", strings.Join(pulls, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range pulls {
		if r, err := store.ParseRef(strings.TrimPrefix(p, "sov pull ")); err != nil || r.Kind == store.RefLocal {
			t.Errorf("%q is not a reference sov pull downloads: %v", p, err)
		}
	}
}
