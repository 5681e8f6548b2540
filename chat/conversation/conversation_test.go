package conversation

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/model/scripted"

	"github.com/sovos/sov/internal/events"
	"github.com/sovos/sov/model"
)

// fakeGen is the scripted model the conversation tests answer with.
type fakeGen = scripted.Model

func gated(pauseAt int, pieces ...string) *fakeGen {
	return &fakeGen{Pieces: pieces, PauseAt: pauseAt, Gate: make(chan struct{}), Paused: make(chan struct{})}
}

func openStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var fixedNow = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func u(s string) Message { return Message{Role: "user", Content: s} }
func a(s string) Message { return Message{Role: "assistant", Content: s, Complete: true} }
func failed(s string) Message {
	return Message{Role: "assistant", Content: s, Err: "boom", Complete: true}
}
func stopped(s string) Message {
	return Message{Role: "assistant", Content: s, Stopped: true, Complete: true}
}
func mm(role, s string) model.Message {
	return model.Message{Role: role, Content: s}
}

func TestConversationHistoryAndPending(t *testing.T) {
	tests := []struct {
		name    string
		system  string
		msgs    []Message
		want    []model.Message
		pending bool
	}{
		{"empty", "", nil, []model.Message{}, false},
		{"system only", "Be brief.", nil, []model.Message{mm("system", "Be brief.")}, false},
		{"blank system is left out", "  \n", []Message{u("hi")}, []model.Message{mm("user", "hi")}, true},
		{"answered", "S", []Message{u("hi"), a("hello")},
			[]model.Message{mm("system", "S"), mm("user", "hi"), mm("assistant", "hello")}, false},
		{"a stopped answer is kept", "", []Message{u("hi"), stopped("hel")},
			[]model.Message{mm("user", "hi"), mm("assistant", "hel")}, false},
		{"a failed answer is left out", "", []Message{u("hi"), failed("x")},
			[]model.Message{mm("user", "hi")}, true},
		{"unanswered after an answer", "", []Message{u("a"), a("b"), u("c")},
			[]model.Message{mm("user", "a"), mm("assistant", "b"), mm("user", "c")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{System: tt.system})
			c.msgs = tt.msgs
			if got := c.History(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("History = %+v, want %+v", got, tt.want)
			}
			if got := c.Pending(); got != tt.pending {
				t.Errorf("Pending = %v, want %v", got, tt.pending)
			}
		})
	}
}

func TestConversationRetry(t *testing.T) {
	tests := []struct {
		name    string
		msgs    []Message
		dropped string // content of the dropped answer; "" = none
		err     error
		left    int
	}{
		{"empty", nil, "", ErrNothingToRetry, 0},
		{"drops the last answer", []Message{u("q"), a("one")}, "one", nil, 1},
		{"drops a stopped answer", []Message{u("q"), stopped("on")}, "on", nil, 1},
		{"keeps a failed answer", []Message{u("q"), failed("x")}, "", nil, 2},
		{"unanswered", []Message{u("a"), a("b"), u("c")}, "", nil, 3},
		{"an answer without a question", []Message{a("alone")}, "", ErrNothingToRetry, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{})
			c.msgs = tt.msgs
			d, err := c.Retry()
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			switch {
			case tt.dropped == "" && d != nil:
				t.Errorf("dropped %+v, want none", d)
			case tt.dropped != "" && (d == nil || d.Content != tt.dropped):
				t.Errorf("dropped %+v, want %q", d, tt.dropped)
			}
			if c.Len() != tt.left {
				t.Errorf("%d messages left, want %d", c.Len(), tt.left)
			}
			if err == nil && !c.Pending() {
				t.Error("after Retry no message waits for an answer")
			}
		})
	}
}

// A saved conversation: created by its first message, titled from it, the
// answer saved with its model and speed, system prompt and title changes
// written through, and all of it back after Resume.
func TestConversationSavedLifecycle(t *testing.T) {
	st := openStore(t)
	gen := &fakeGen{Pieces: []string{"Once ", "upon"}}
	c := New(Options{Store: st, System: "Be brief.", Now: fixedNow})
	if c.ID() != "" {
		t.Fatal("a new conversation is saved before its first message")
	}
	if _, err := c.Start(context.Background(), gen, model.Sampling{}, "tiny"); !errors.Is(err, ErrNothingToAnswer) {
		t.Fatalf("Start with no message: %v", err)
	}
	if _, err := c.AddUser("Tell me a story\nplease"); err != nil {
		t.Fatal(err)
	}
	ev, err := c.Reply(context.Background(), gen, model.Sampling{}, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	// two tokens in the scripted model's 100 ms
	if ev.Kind != EventDone || ev.Answer.Content != "Once upon" || ev.Answer.TPS != 20 || !ev.Answer.Complete || ev.SaveErr != nil {
		t.Fatalf("final event %+v", ev)
	}
	if got := gen.LastCall(); !reflect.DeepEqual(got, []model.Message{mm("system", "Be brief."), mm("user", "Tell me a story\nplease")}) {
		t.Errorf("engine got %+v", got)
	}
	meta := c.Meta()
	if meta.ID == "" || meta.Title != "Tell me a story" || meta.Count != 2 || meta.Model != "tiny" {
		t.Errorf("meta = %+v", meta)
	}
	if err := c.SetSystem("Be long."); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("Story"); err != nil {
		t.Fatal(err)
	}

	r, err := Resume(meta.ID, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Meta(), c.Meta(); got.Title != "Story" || got.System != "Be long." || got.Count != want.Count || got.Model != "tiny" {
		t.Errorf("resumed meta %+v, want %+v", got, want)
	}
	msgs := r.Messages()
	if len(msgs) != 2 || msgs[0].Time != fixedNow() || msgs[1] != ev.Answer {
		t.Errorf("resumed messages %+v, want the answer %+v", msgs, ev.Answer)
	}
	if !reflect.DeepEqual(r.History(), c.History()) {
		t.Errorf("resumed history %+v, want %+v", r.History(), c.History())
	}

	if err := r.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, msgs, err := st.Load(meta.ID); err != nil || len(msgs) != 0 {
		t.Errorf("after Clear the store holds %d messages (%v)", len(msgs), err)
	}
	if r.Len() != 0 || r.Meta().Title != "Story" || len(r.History()) != 1 {
		t.Errorf("after Clear: %d messages, meta %+v", r.Len(), r.Meta())
	}
}

func TestConversationRetryDeletesTheSavedAnswer(t *testing.T) {
	st := openStore(t)
	c := New(Options{Store: st})
	c.AddUser("q")
	if _, err := c.Reply(context.Background(), &fakeGen{Pieces: []string{"one"}}, model.Sampling{}, "m"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Retry()
	if err != nil || d == nil || d.Content != "one" {
		t.Fatalf("Retry = %+v, %v", d, err)
	}
	ev, err := c.Reply(context.Background(), &fakeGen{Pieces: []string{"two"}}, model.Sampling{}, "m")
	if err != nil {
		t.Fatal(err)
	}
	_, msgs, err := st.Load(c.ID())
	if err != nil || len(msgs) != 2 || msgs[1].Content != "two" || c.Meta().Count != 2 {
		t.Errorf("saved %+v (%v), count %d; want the new answer only", msgs, err, c.Meta().Count)
	}
	if ev.Answer.Seq != msgs[1].Seq {
		t.Errorf("final event seq %d, saved %d", ev.Answer.Seq, msgs[1].Seq)
	}
}

// Stopping keeps the text so far, marked, in memory, in the store and in
// what the model sees next; while the answer runs, changes wait.
func TestTurnStopKeepsPartialAnswer(t *testing.T) {
	st := openStore(t)
	gen := gated(2, "one ", "two ", "three")
	c := New(Options{Store: st})
	c.AddUser("count")
	turn, err := c.Start(context.Background(), gen, model.Sampling{}, "m")
	if err != nil {
		t.Fatal(err)
	}
	<-gen.Paused
	for name, err := range map[string]error{
		"AddUser": func() error { _, err := c.AddUser("x"); return err }(),
		"Retry":   func() error { _, err := c.Retry(); return err }(),
		"Clear":   c.Clear(),
		"Start":   func() error { _, err := c.Start(context.Background(), gen, model.Sampling{}, "m"); return err }(),
	} {
		if !errors.Is(err, ErrBusy) {
			t.Errorf("%s while answering: %v, want ErrBusy", name, err)
		}
	}
	if got := c.Messages(); len(got) != 2 || got[1].Content != "one two " || got[1].Complete {
		t.Errorf("messages while answering: %+v", got)
	}
	if got := c.History(); len(got) != 1 {
		t.Errorf("history while answering includes the answer: %+v", got)
	}
	turn.Cancel()
	ev := turn.Wait()
	if ev.Kind != EventStopped || ev.Err != nil || !ev.Answer.Stopped || ev.Answer.Content != "one two " {
		t.Fatalf("final event %+v", ev)
	}
	_, msgs, _ := st.Load(c.ID())
	if len(msgs) != 2 || msgs[1] != ev.Answer {
		t.Errorf("saved %+v, want %+v", msgs, ev.Answer)
	}
	if h := c.History(); len(h) != 2 || h[1].Content != "one two " {
		t.Errorf("history after stop: %+v", h)
	}
	if _, err := c.AddUser("go on"); err != nil {
		t.Errorf("AddUser after the answer: %v", err)
	}
}

func TestTurnFailureIsSavedButNotSentAgain(t *testing.T) {
	tests := []struct {
		name    string
		gen     *fakeGen
		content string
		errText string
	}{
		{"engine error", &fakeGen{Pieces: []string{"par", "tial"}, Err: errors.New("llama_decode\nfailed")}, "partial", "llama_decode failed"},
		{"engine panic", &fakeGen{Pieces: []string{"partial "}, Panics: true}, "partial ", "the engine failed: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{Store: openStore(t)})
			c.AddUser("hi")
			ev, err := c.Reply(context.Background(), tt.gen, model.Sampling{}, "m")
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != EventError || ev.Err == nil || ev.Answer.Err != tt.errText || ev.Answer.Content != tt.content || ev.Answer.TPS != 0 {
				t.Fatalf("final event %+v", ev)
			}
			if h := c.History(); len(h) != 1 || !c.Pending() {
				t.Errorf("history after a failure: %+v", h)
			}
		})
	}
}

// The saved answer never depends on a subscriber: one that reads nothing
// (lossy, full at once) changes nothing; a must-deliver one gets every
// token in order, at the right offsets, then the final event.
func TestTurnEvents(t *testing.T) {
	evs := NewEvents()
	ctx := context.Background()
	ledger := evs.Subscribe(ctx, "ledger", events.MustDeliver, 1)
	idle := evs.Subscribe(ctx, "view", events.Lossy, 1)
	defer idle.Close()
	got := make(chan []Event)
	go func() {
		var seen []Event
		for ev := range ledger.C {
			seen = append(seen, ev)
			if ev.Final() {
				break
			}
		}
		ledger.Close()
		got <- seen
	}()
	st := openStore(t)
	pieces := strings.SplitAfter(strings.Repeat("word ", 300), " ")
	c := New(Options{Store: st, Events: evs})
	c.AddUser("go")
	turn, err := c.Start(ctx, &fakeGen{Pieces: pieces}, model.Sampling{}, "m")
	if err != nil {
		t.Fatal(err)
	}
	final := turn.Wait()
	seen := <-got
	var text strings.Builder
	for i, ev := range seen[:len(seen)-1] {
		if ev.Kind != EventToken || ev.Turn != turn.ID() || ev.Conversation != c.ID() || ev.Offset != text.Len() {
			t.Fatalf("event %d: %+v (text so far %d bytes)", i, ev, text.Len())
		}
		text.WriteString(ev.Text)
	}
	last := seen[len(seen)-1]
	if last.Kind != EventDone || last.Answer != final.Answer || last.Turn != turn.ID() {
		t.Errorf("last event %+v, want the final %+v", last, final)
	}
	want := strings.Join(pieces, "")
	if text.String() != want || final.Answer.Content != want {
		t.Errorf("tokens %d bytes, answer %d bytes, want %d", text.Len(), len(final.Answer.Content), len(want))
	}
	if idle.Dropped() == 0 {
		t.Error("the idle lossy subscriber dropped nothing")
	}
	if _, msgs, _ := st.Load(c.ID()); len(msgs) != 2 || msgs[1].Content != want {
		t.Errorf("saved answer is %d bytes, want %d", len(msgs[1].Content), len(want))
	}
	// Turn IDs come from the shared Events, so they differ across
	// conversations.
	d := New(Options{Events: evs})
	d.AddUser("x")
	t2, _ := d.Start(ctx, &fakeGen{Pieces: []string{"y"}}, model.Sampling{}, "m")
	if t2.Wait(); t2.ID() == turn.ID() {
		t.Errorf("two turns share ID %d", t2.ID())
	}
}

// A streaming answer reaches the store before it ends, so a crash keeps it.
func TestTurnSavesWhileStreaming(t *testing.T) {
	st := openStore(t)
	gen := gated(2, "alpha ", "beta ", "gamma")
	c := New(Options{Store: st})
	c.AddUser("go")
	turn, err := c.Start(context.Background(), gen, model.Sampling{}, "m")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { turn.Cancel(); turn.Wait() }()
	<-gen.Paused
	// The saver runs on its own goroutine: wait for its write.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, msgs, err := st.Load(c.ID())
		if err == nil && len(msgs) == 2 && msgs[1].Content == "alpha beta " && !msgs[1].Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partial answer not saved: %+v %v", msgs, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r, err := Resume(c.ID(), Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if m := r.Messages(); !m[1].Stopped {
		t.Errorf("an answer cut short by a crash is not marked stopped: %+v", m[1])
	}
}

func TestConversationGoesOnUnsavedWhenTheStoreFails(t *testing.T) {
	st, err := Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{Store: st})
	if _, err := c.AddUser("one"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = c.AddUser("two")
	var se *SaveError
	if !errors.As(err, &se) || c.Saved() {
		t.Fatalf("AddUser on a closed store: %v (saved %v)", err, c.Saved())
	}
	ev, err := c.Reply(context.Background(), &fakeGen{Pieces: []string{"fine"}}, model.Sampling{}, "m")
	if err != nil || ev.Answer.Content != "fine" || ev.SaveErr != nil {
		t.Fatalf("answer after the failure: %+v, %v", ev, err)
	}
	if h := c.History(); len(h) != 3 {
		t.Errorf("history %+v", h)
	}
}

func TestConversationWarmSendsTheHistory(t *testing.T) {
	gen := &fakeGen{}
	c := New(Options{System: "S"})
	if err := c.Warm(context.Background(), gen); err != nil || len(gen.Calls()) != 1 {
		t.Fatalf("warm-up of a conversation with only a system prompt: %v, %d calls", err, len(gen.Calls()))
	}
	empty := New(Options{})
	if err := empty.Warm(context.Background(), gen); err != nil || len(gen.Calls()) != 1 {
		t.Errorf("warm-up of an empty conversation called the engine")
	}
}

func TestMarkdownCleansControlCharacters(t *testing.T) {
	c := New(Options{})
	c.msgs = []Message{u("hi"), a("red \x1b[31mALERT\x07")}
	if got := c.Markdown("m"); strings.ContainsAny(got, "\x1b\x07") || !strings.Contains(got, "red ALERT") {
		t.Errorf("export = %q", got)
	}
}

// Add keeps any role (an agent run's tool calls and results) in memory
// and in the store, in order, and is refused while an answer streams.
func TestConversationAdd(t *testing.T) {
	st := openStore(t)
	c := New(Options{Store: st, Now: fixedNow})
	if _, err := c.AddUser("find the tent"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Message{a(`{"tool":"vault.search"}`), {Role: model.RoleTool, Content: "<data>tent</data>"}, a("The green tent.")} {
		got, err := c.Add(m)
		if err != nil || got.Seq == 0 || !got.Time.Equal(fixedNow()) {
			t.Fatalf("Add(%q) = %+v, %v", m.Content, got, err)
		}
	}
	_, msgs, err := st.Load(c.ID())
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range msgs {
		roles = append(roles, m.Role)
	}
	if !reflect.DeepEqual(roles, []string{"user", "assistant", "tool", "assistant"}) || msgs[2].Content != "<data>tent</data>" {
		t.Fatalf("stored %v: %+v", roles, msgs)
	}

	g := gated(0, "x")
	if _, err := c.AddUser("again"); err != nil {
		t.Fatal(err)
	}
	turn, err := c.Start(context.Background(), g, model.Sampling{}, "m")
	if err != nil {
		t.Fatal(err)
	}
	<-g.Paused
	if _, err := c.Add(a("no")); !errors.Is(err, ErrBusy) {
		t.Errorf("Add while answering: %v", err)
	}
	turn.Cancel()
	close(g.Gate)
	turn.Wait()
}
