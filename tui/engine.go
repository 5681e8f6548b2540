package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/model"
)

// Chatter is the part of *model.Engine the shell uses; tests substitute a
// deterministic streamer.
type Chatter interface {
	Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error)
	Info() model.Info
	Close() error
}

// Loader loads the model at path, reporting progress in [0,1].
type Loader func(ctx context.Context, path string, progress func(float32) bool) (Chatter, error)

// ModelEntry is one installed model offered by /model.
type ModelEntry struct {
	Name string
	Path string
}

// stream runs one generation in its own goroutine. Pieces are coalesced in
// a buffer and the UI is poked through a 1-slot channel, so a slow frame
// never blocks the engine: generation speed is independent of rendering.
type stream struct {
	id     int
	cancel context.CancelFunc
	notify chan struct{} // wakes the UI
	poke   chan struct{} // wakes the saver
	done   chan streamResult

	mu      sync.Mutex
	pending strings.Builder // not yet shown
	full    strings.Builder // everything so far, for saving
	version int             // bumps on every piece, for the saver

	next time.Time // earliest next UI delivery (only the wait goroutine uses it)
}

// frameInterval caps UI updates while streaming: each update redraws the
// screen, and on a small machine redrawing per token would steal CPU from
// the engine's threads. 30 per second still reads as smooth.
const frameInterval = time.Second / 30

// saveInterval spaces the saves of a streaming answer; a crash loses at
// most the text of this interval.
const saveInterval = 50 * time.Millisecond

type streamResult struct {
	text  string
	stats model.Stats
	err   error
}

// streamChunkMsg carries newly generated text to the UI.
type streamChunkMsg struct {
	id   int
	text string
}

// streamDoneMsg ends a generation.
type streamDoneMsg struct {
	id     int
	text   string // unshown remainder
	result streamResult
}

// startStream begins generating. save, if not nil, is called from a
// separate goroutine with the text so far whenever it changed, so a crash
// loses at most what arrived during one database write.
func startStream(ctx context.Context, id int, eng Chatter, msgs []model.Message, s model.Sampling, save func(string)) *stream {
	ctx, cancel := context.WithCancel(ctx)
	st := &stream{id: id, cancel: cancel, notify: make(chan struct{}, 1), poke: make(chan struct{}, 1), done: make(chan streamResult, 1)}
	saverDone := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(saverDone)
		if save == nil {
			return
		}
		saved := 0
		for {
			select {
			case <-st.poke:
			case <-stop:
				return
			}
			st.mu.Lock()
			v, text := st.version, st.full.String()
			st.mu.Unlock()
			if v != saved {
				save(text)
				saved = v
			}
			select {
			case <-time.After(saveInterval):
			case <-stop:
				return
			}
		}
	}()
	go func() {
		text, stats, err := safeChat(ctx, eng, msgs, s, func(piece string) error {
			st.mu.Lock()
			st.pending.WriteString(piece)
			st.full.WriteString(piece)
			st.version++
			st.mu.Unlock()
			select {
			case st.notify <- struct{}{}:
			default:
			}
			select {
			case st.poke <- struct{}{}:
			default:
			}
			return nil
		})
		close(stop)
		<-saverDone
		st.done <- streamResult{text: text, stats: stats, err: err}
	}()
	return st
}

// safeChat turns a panic in the engine into an error shown in the chat:
// the shell must survive whatever the engine does.
func safeChat(ctx context.Context, eng Chatter, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (text string, st model.Stats, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the engine failed: %v", r)
		}
	}()
	return eng.Chat(ctx, msgs, s, fn)
}

func (s *stream) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.pending.String()
	s.pending.Reset()
	return t
}

// wait returns a command that delivers the next chunk or the end.
func (s *stream) wait() tea.Cmd {
	return func() tea.Msg {
		if d := time.Until(s.next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case r := <-s.done:
				t.Stop()
				return streamDoneMsg{id: s.id, text: s.take(), result: r}
			}
		}
		s.next = time.Now().Add(frameInterval)
		select {
		case <-s.notify:
			if t := s.take(); t != "" {
				return streamChunkMsg{id: s.id, text: t}
			}
			// Nothing new (already taken); keep waiting.
			select {
			case <-s.notify:
				return streamChunkMsg{id: s.id, text: s.take()}
			case r := <-s.done:
				return streamDoneMsg{id: s.id, text: s.take(), result: r}
			}
		case r := <-s.done:
			return streamDoneMsg{id: s.id, text: s.take(), result: r}
		}
	}
}
