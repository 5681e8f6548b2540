package model

import (
	"context"
	"errors"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// conversation is one scripted chat: the user's turns, the replies so far.
type conversation struct {
	turns []string
	msgs  []Message
}

func (c *conversation) step(t *testing.T, chat func([]Message) (string, Stats, error), i int) (string, Stats) {
	t.Helper()
	c.msgs = append(c.msgs, Message{Role: RoleUser, Content: c.turns[i]})
	reply, st, err := chat(c.msgs)
	if err != nil {
		t.Fatal(err)
	}
	c.msgs = append(c.msgs, Message{Role: RoleAssistant, Content: reply})
	return reply, st
}

func scripts() [][]string {
	return [][]string{
		{"Name a colour.", "Name another one.", "And a third?"},
		{"What is the capital of France?", "And of Italy?", "And of Spain?"},
	}
}

// Two conversations alternating on one engine with two sessions: each turn
// decodes only its new tokens, and every reply is the one the conversation
// gets alone on its own engine (no state leaks between sequences).
func TestSessionsAlternate(t *testing.T) {
	path := testtool.Model(t, testtool.Chat)
	s := Sampling{MaxTokens: 24}
	ctx := context.Background()
	var alone [][]string
	for _, script := range scripts() {
		e := loadModel(t, testtool.Chat, 1024)
		c := &conversation{turns: script}
		var replies []string
		for i := range script {
			r, _ := c.step(t, func(m []Message) (string, Stats, error) { return e.Chat(ctx, m, s, nil) }, i)
			replies = append(replies, r)
		}
		alone = append(alone, replies)
	}

	e, err := Load(ctx, Options{Path: path, ContextSize: 1024, Threads: 2, Sessions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Info().Sessions != 2 || e.ContextSize() != 1024 {
		t.Fatalf("sessions %d, context %d per session", e.Info().Sessions, e.ContextSize())
	}
	sessions := []*Session{e.NewSession(), e.NewSession()}
	convs := []*conversation{{turns: scripts()[0]}, {turns: scripts()[1]}}
	prev := make([]Stats, 2)
	for i := range 3 {
		for k, sess := range sessions {
			r, st := convs[k].step(t, func(m []Message) (string, Stats, error) { return sess.Chat(ctx, m, s, nil) }, i)
			if r != alone[k][i] {
				t.Errorf("conversation %d turn %d: %q, alone %q", k, i, r, alone[k][i])
			}
			if i > 0 && st.CachedTokens != prev[k].ContextUsed {
				t.Errorf("conversation %d turn %d reused %d tokens, its previous turn left %d", k, i, st.CachedTokens, prev[k].ContextUsed)
			}
			prev[k] = st
		}
	}
}

// More sessions than sequences: the least recently used one loses its
// sequence and decodes again, with the same replies; a closed session's
// sequence goes to the next one without evicting anybody.
func TestSessionsEvictAndClose(t *testing.T) {
	e := loadModel(t, testtool.Chat, 1024)
	ctx := context.Background()
	s := Sampling{MaxTokens: 16}
	a, b := e.NewSession(), e.NewSession()
	msgs := []Message{{Role: RoleUser, Content: "Name a colour."}}
	want, _, err := a.Chat(ctx, msgs, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Chat(ctx, []Message{{Role: RoleUser, Content: "Hello"}}, s, nil); err != nil {
		t.Fatal(err)
	}
	got, st, err := a.Chat(ctx, msgs, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedTokens != 0 || got != want {
		t.Fatalf("after eviction: cached %d, %q want %q", st.CachedTokens, got, want)
	}
	// The same call again reuses the cache: a holds the sequence now.
	if _, st, _ = a.Chat(ctx, msgs, s, nil); st.CachedTokens == 0 {
		t.Fatal("a's second call reused nothing")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Chat(ctx, msgs, s, nil); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("closed session: %v", err)
	}
	// The engine's own calls are a session too.
	if _, _, err := e.Chat(ctx, msgs, s, nil); err != nil {
		t.Fatal(err)
	}
}
