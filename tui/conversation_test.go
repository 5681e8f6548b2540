package tui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/internal/events"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

// sessionEngine is a fakeEngine with sessions: each records its calls.
type sessionEngine struct {
	*fakeEngine
	mu     sync.Mutex
	opened []*fakeSession
}

func (e *sessionEngine) OpenSession() Chatter {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &fakeSession{fakeEngine: e.fakeEngine, n: len(e.opened) + 1}
	e.opened = append(e.opened, s)
	return s
}

// session returns session n (from 1) and how many were opened.
func (e *sessionEngine) session(n int) (*fakeSession, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n > len(e.opened) {
		return nil, len(e.opened)
	}
	return e.opened[n-1], len(e.opened)
}

type fakeSession struct {
	*fakeEngine
	n      int
	mu     sync.Mutex
	chats  []string // the last message of each call ("" = a warm-up)
	closed bool
}

func (s *fakeSession) Chat(ctx context.Context, msgs []model.Message, sp model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	s.mu.Lock()
	closed := s.closed
	last := ""
	if fn != nil {
		last = msgs[len(msgs)-1].Content
	}
	s.chats = append(s.chats, last)
	s.mu.Unlock()
	if closed {
		return "", model.Stats{}, model.ErrSessionClosed
	}
	return s.fakeEngine.Chat(ctx, msgs, sp, fn)
}

func (s *fakeSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *fakeSession) state() ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.chats...), s.closed
}

// Each conversation answers on a session of its own, kept when the shell
// switches away, so switching back decodes only the new message; sessions
// are bounded by the engine's, and closed when their conversation is
// deleted, left unsaved or the model is switched.
func TestTUIEachConversationHasItsEngineSession(t *testing.T) {
	st, err := conversation.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng := &sessionEngine{fakeEngine: newFake("ok")}
	eng.info.Sessions = 2
	next := newFake("new model")
	a := newTestApp(t, Options{Engine: eng, Store: st, Loader: func(ctx context.Context, p string, progress func(float32) bool) (Chatter, error) {
		return next, nil
	}}, 80, 20)
	send := func(text string) {
		t.Helper()
		typeText(a, text)
		press(a, "enter")
	}
	send("first")
	first := a.conv.ID()
	send("/new")
	send("second")
	// Back to the first through the sessions list (newest first).
	press(a, "ctrl+o")
	press(a, "down")
	press(a, "enter")
	if a.conv.ID() != first {
		t.Fatalf("switched to %q, want %q", a.conv.ID(), first)
	}
	send("first again")
	s1, n := eng.session(1)
	s2, _ := eng.session(2)
	if n != 2 {
		t.Fatalf("%d sessions opened for two conversations", n)
	}
	if chats, _ := s1.state(); strings.Join(chats, "|") != "first||first again" {
		t.Errorf("first conversation's session got %q (answer, warm-up, answer)", chats)
	}
	if chats, _ := s2.state(); strings.Join(chats, "|") != "second" {
		t.Errorf("second conversation's session got %q", chats)
	}

	// Deleting the second conversation closes its session.
	press(a, "ctrl+o")
	for _, k := range []string{"down", "d", "y", "esc"} {
		press(a, k)
	}
	if _, closed := s2.state(); !closed {
		t.Error("the deleted conversation's session is still open")
	}
	// A third conversation: with two sessions, the least recently left
	// one (the first) is closed when the third is left.
	send("/new")
	send("third")
	send("/new")
	s3, _ := eng.session(3)
	if _, closed := s1.state(); !closed {
		t.Error("more sessions kept than the engine has")
	}
	if _, closed := s3.state(); closed {
		t.Error("the most recently left session was closed")
	}
	// An unsaved conversation cannot be come back to: leaving closes it.
	b := newTestApp(t, Options{Engine: eng}, 80, 20)
	typeText(b, "unsaved")
	press(b, "enter")
	typeText(b, "/new")
	press(b, "enter")
	if s, _ := eng.session(4); s == nil {
		t.Fatal("no session for the unsaved conversation")
	} else if _, closed := s.state(); !closed {
		t.Error("the left unsaved conversation's session is open")
	}

	// Switching the model closes every session of the old one.
	run(a, a.load("/m/new.gguf"))
	if _, closed := s3.state(); !closed || a.engine != next {
		t.Errorf("after /model the old engine's sessions are open (closed %v)", closed)
	}
	send("hi")
	if !strings.Contains(frame(a), "new model") {
		t.Errorf("the new model does not answer:\n%s", frame(a))
	}
}

// The shell renders from the conversation's events; another subscriber
// (the ledger, --json) sees the same answer, token by token, and its final
// event carries the answer as saved.
func TestTUIAnswerEventsReachOtherSubscribers(t *testing.T) {
	evs := conversation.NewEvents()
	ledger := evs.Subscribe(context.Background(), "ledger", events.MustDeliver, 1)
	got := make(chan []conversation.Event)
	go func() {
		var seen []conversation.Event
		for ev := range ledger.C {
			seen = append(seen, ev)
			if ev.Final() {
				break
			}
		}
		ledger.Close()
		got <- seen
	}()
	st, err := conversation.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	text := strings.Repeat("many words ", 100)
	a := newTestApp(t, Options{Engine: newFake(text), Store: st, Events: evs}, 80, 20)
	typeText(a, "go")
	press(a, "enter")
	seen := <-got
	var tokens strings.Builder
	for _, ev := range seen[:len(seen)-1] {
		tokens.WriteString(ev.Text)
	}
	final := seen[len(seen)-1]
	if tokens.String() != text || final.Kind != conversation.EventDone || final.Answer.Content != text || final.Conversation != a.conv.ID() {
		t.Errorf("ledger saw %d token bytes and %+v", tokens.Len(), final)
	}
	if a.lastAnswer() != text {
		t.Errorf("the shell shows %d bytes, want %d", len(a.lastAnswer()), len(text))
	}
}

// On a real engine with sessions, going back to a conversation decodes
// only its new message: its KV sequence survived the other conversation.
// (The warm-up that follows a switch is left out here, as it would hide
// the difference.)
func TestTUISwitchBackReusesTheConversationsCache(t *testing.T) {
	path := testtool.Model(t, testtool.Stories)
	for _, sessions := range []int{1, 2} {
		eng, err := model.Load(context.Background(), model.Options{Path: path, Threads: 1, ContextSize: 512, Sessions: sessions})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		st, err := conversation.Open(t.TempDir(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a := newTestApp(t, Options{Engine: eng, Store: st, Sampling: model.Sampling{MaxTokens: 20}}, 80, 20)
		say := func(text string) {
			typeText(a, text)
			press(a, "enter")
		}
		say("Once upon a time")
		first := a.conv.ID()
		say("/new")
		say("A dog ran")
		if err := a.switchSession(first); err != nil {
			t.Fatal(err)
		}
		say("Then")
		cached := a.lastStats.CachedTokens
		t.Logf("sessions %d: the turn after switching back reused %d tokens, decoded %d", sessions, cached, a.lastStats.PromptTokens)
		switch {
		case sessions == 2 && cached < 20:
			t.Errorf("with 2 sessions, going back reused %d tokens: it decoded the conversation again", cached)
		case sessions == 1 && cached > 5:
			t.Errorf("with 1 session, going back reused %d tokens: the test no longer tells the cases apart", cached)
		}
	}
}

// The conversation whose answer is streaming cannot be deleted from under
// it: the shell says to stop it first and keeps both.
func TestTUIDeleteWhileAnsweringIsRefused(t *testing.T) {
	st, err := conversation.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng := newFake("alpha beta gamma")
	eng.Gate, eng.PauseAt = make(chan struct{}), 1
	a := newTestApp(t, Options{Engine: eng, Store: st}, 80, 16)
	typeText(a, "go")
	_, cmd := a.Update(keyMsg("enter"))
	press(a, "ctrl+o")
	press(a, "d")
	press(a, "y")
	if f := frame(a); !strings.Contains(f, "Stop the answer (esc) before deleting") || len(a.panes) != 0 {
		t.Errorf("delete while answering:\n%s", f)
	}
	close(eng.Gate)
	run(a, cmd)
	if list, _ := st.List(); len(list) != 1 || a.lastAnswer() != "alpha beta gamma" {
		t.Errorf("after the refused delete: %d sessions, answer %q", len(list), a.lastAnswer())
	}
}
