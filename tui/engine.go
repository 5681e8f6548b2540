package tui

import (
	"context"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/internal/events"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/store"
)

// Chatter is the part of *model.Engine the shell uses; tests substitute a
// deterministic streamer.
type Chatter interface {
	Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error)
	Info() model.Info
	Close() error
}

// SessionOpener is an engine that gives each conversation a KV sequence of
// its own, so that switching back to a conversation decodes only its new
// tokens. *model.Engine is one (through NewSession); the engine's
// Info().Sessions says how many it keeps at once.
type SessionOpener interface {
	OpenSession() Chatter
}

// sessionOpener returns how to open a session on e, or nil when e has none.
func sessionOpener(e Chatter) func() Chatter {
	switch e := e.(type) {
	case SessionOpener:
		return e.OpenSession
	case interface{ NewSession() *model.Session }:
		return func() Chatter { return e.NewSession() }
	}
	return nil
}

// EngineSessions is how many conversations the shell keeps decoded on the
// engine at once (model.Options.Sessions): the current one and the last
// ones switched away from. Each costs a full context of KV cache.
const EngineSessions = 4

// convSessions gives each open conversation its own engine session,
// bounded by the engine's: the least recently left one is closed beyond
// that (the engine would take its sequence anyway).
type convSessions struct {
	engine Chatter
	open   func() Chatter // nil: conversations share the engine's default session
	limit  int            // sessions at once, the current one included
	cur    Chatter        // the current conversation's; nil until needed
	kept   []keptSession  // conversations left, least recent first
}

type keptSession struct {
	id  string
	llm Chatter
}

// reset closes every session and serves conversations from e.
func (p *convSessions) reset(e Chatter) {
	p.closeAll()
	p.engine, p.open = e, nil
	if e != nil {
		p.open = sessionOpener(e)
		p.limit = max(1, e.Info().Sessions)
	}
}

// current is the current conversation's session, opened on first use.
func (p *convSessions) current() Chatter {
	if p.open == nil {
		return p.engine
	}
	if p.cur == nil {
		p.cur = p.open()
	}
	return p.cur
}

// leave parks the current conversation's session under id, so that coming
// back to it decodes only what is new. An unsaved conversation ("") cannot
// be come back to: its session closes.
func (p *convSessions) leave(id string) {
	if p.cur == nil {
		return
	}
	if id == "" || p.limit <= 1 {
		p.cur.Close()
	} else {
		p.kept = append(p.kept, keptSession{id: id, llm: p.cur})
		for len(p.kept) > p.limit-1 {
			p.kept[0].llm.Close()
			p.kept = p.kept[1:]
		}
	}
	p.cur = nil
}

// switchTo leaves conversation from (see leave) for conversation to ("" =
// a new one), whose parked session, if any, becomes the current one.
func (p *convSessions) switchTo(from, to string) {
	if to != "" && to == from {
		return
	}
	var next Chatter
	for i, k := range p.kept {
		if to != "" && k.id == to {
			next = k.llm
			p.kept = append(p.kept[:i], p.kept[i+1:]...)
			break
		}
	}
	p.leave(from)
	p.cur = next
}

// drop closes the parked session of a deleted conversation.
func (p *convSessions) drop(id string) {
	for i, k := range p.kept {
		if k.id == id {
			k.llm.Close()
			p.kept = append(p.kept[:i], p.kept[i+1:]...)
			return
		}
	}
}

func (p *convSessions) closeAll() {
	p.leave("")
	for _, k := range p.kept {
		k.llm.Close()
	}
	p.kept = nil
}

// Loader loads the model at path, reporting progress in [0,1].
type Loader func(ctx context.Context, path string, progress func(float32) bool) (Chatter, error)

// ModelEntry is one installed model offered by /model (one whose file is
// Missing is not).
type ModelEntry = store.Model

// EngineLoader loads llama.cpp engines with o, for as many conversations
// as the shell keeps; loading hears each model file before it loads.
func EngineLoader(o model.Options, loading func(path string)) Loader {
	return func(ctx context.Context, path string, progress func(float32) bool) (Chatter, error) {
		loading(path)
		o.Path, o.Progress, o.TrimMemory, o.Sessions = path, progress, true, EngineSessions
		eng, err := model.Load(ctx, o)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return eng, nil
	}
}

// stream shows one answer. The conversation generates and saves it (a
// Turn); the shell renders from its events, through a must-deliver
// subscription whose pump only appends to a buffer and pokes the UI
// through a 1-slot channel. So the engine never waits for a frame, every
// token reaches the screen, and the saved answer depends on no subscriber.
type stream struct {
	turn   *conversation.Turn
	notify chan struct{}           // wakes the UI
	final  chan conversation.Event // the turn's final event

	mu      sync.Mutex
	pending strings.Builder // not yet shown

	next time.Time // earliest next UI delivery (only the wait goroutine uses it)
}

// frameInterval caps UI updates while streaming: each update redraws the
// screen, and on a small machine redrawing per token would steal CPU from
// the engine's threads. 30 per second still reads as smooth.
const frameInterval = time.Second / 30

// streamChunkMsg carries newly generated text to the UI.
type streamChunkMsg struct {
	turn uint64
	text string
}

// streamDoneMsg ends an answer.
type streamDoneMsg struct {
	turn uint64
	text string // unshown remainder
	ev   conversation.Event
}

// startStream starts the answer to conv's last message on g. It subscribes
// before starting, so no event of the turn is missed. A nil stream comes
// with the reason no answer started; a *conversation.SaveError comes with
// a running stream.
func startStream(ctx context.Context, conv *conversation.Conversation, evs *conversation.Events, g Chatter, s model.Sampling, modelName string) (*stream, error) {
	sub := evs.Subscribe(ctx, "shell", events.MustDeliver, 64)
	t, err := conv.Start(ctx, g, s, modelName)
	if t == nil {
		sub.Close()
		return nil, err
	}
	st := &stream{turn: t, notify: make(chan struct{}, 1), final: make(chan conversation.Event, 1)}
	go st.pump(sub)
	return st, err
}

func (s *stream) pump(sub *events.Subscription[conversation.Event]) {
	defer sub.Close()
	for ev := range sub.C {
		if ev.Turn != s.turn.ID() {
			continue
		}
		if ev.Final() {
			s.final <- ev
			return
		}
		s.mu.Lock()
		s.pending.WriteString(ev.Text)
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	// The subscription ended first (the shell is closing): the turn still
	// ends, saved, and says how.
	s.final <- s.turn.Wait()
}

func (s *stream) cancel() { s.turn.Cancel() }

func (s *stream) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.pending.String()
	s.pending.Reset()
	return t
}

// wait returns a command that delivers the next chunk or the end.
func (s *stream) wait() tea.Cmd {
	id := s.turn.ID()
	return func() tea.Msg {
		if d := time.Until(s.next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case ev := <-s.final:
				t.Stop()
				return streamDoneMsg{turn: id, text: s.take(), ev: ev}
			}
		}
		s.next = time.Now().Add(frameInterval)
		select {
		case <-s.notify:
			if t := s.take(); t != "" {
				return streamChunkMsg{turn: id, text: t}
			}
			// Nothing new (already taken); keep waiting.
			select {
			case <-s.notify:
				return streamChunkMsg{turn: id, text: s.take()}
			case ev := <-s.final:
				return streamDoneMsg{turn: id, text: s.take(), ev: ev}
			}
		case ev := <-s.final:
			return streamDoneMsg{turn: id, text: s.take(), ev: ev}
		}
	}
}
