// Package scripted is a chat model for the tests of what consumes one (the
// conversation layer, the shell): it streams a script of pieces, can hold
// at a gate, fail or panic, and remembers what it was sent. It is its own
// package so that test helpers that do not need the engine do not link it.
package scripted

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/sovos/sov/model"
)

// Model streams Pieces. With Gate set it waits for Gate to close (or the
// context to end) before piece PauseAt, closing Paused (when set) as it
// gets there. After the pieces it fails with Err, or ends with Stop ("" =
// end of generation); Panics panics after the first piece. A call without
// a token callback is a warm-up: a few tokens per message, nothing written.
type Model struct {
	Pieces  []string
	PauseAt int
	Gate    chan struct{}
	Paused  chan struct{}
	Err     error
	Stop    string
	Panics  bool

	mu    sync.Mutex
	calls [][]model.Message
}

// Chat implements the model's Chat.
func (f *Model) Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	f.mu.Lock()
	f.calls = append(f.calls, append([]model.Message(nil), msgs...))
	f.mu.Unlock()
	if fn == nil {
		return "", model.Stats{PromptTokens: 4 * len(msgs), GeneratedTokens: 1, StopReason: model.StopMaxTokens}, nil
	}
	var out strings.Builder
	st := model.Stats{ContextSize: 512, GenDuration: 100 * time.Millisecond}
	for i, p := range f.Pieces {
		if f.Gate != nil && i == f.PauseAt {
			if f.Paused != nil {
				close(f.Paused)
			}
			select {
			case <-f.Gate:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			st.StopReason = model.StopCancelled
			return out.String(), st, nil
		}
		if err := fn(p); err != nil {
			return out.String(), st, err
		}
		out.WriteString(p)
		st.GeneratedTokens++
		st.ContextUsed = 10 + i
		if f.Panics {
			panic("boom")
		}
	}
	if f.Err != nil {
		return out.String(), st, f.Err
	}
	st.StopReason = model.StopEOG
	if f.Stop != "" {
		st.StopReason = f.Stop
	}
	return out.String(), st, nil
}

// Calls is what every call was sent, warm-ups included.
func (f *Model) Calls() [][]model.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]model.Message(nil), f.calls...)
}

// LastCall is the last non-empty message list it was sent.
func (f *Model) LastCall() []model.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if len(f.calls[i]) > 0 {
			return f.calls[i]
		}
	}
	return nil
}
