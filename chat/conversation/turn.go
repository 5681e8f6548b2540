package conversation

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sovos/sov/internal/events"
	"github.com/sovos/sov/model"
)

// EventKind says what happened to an answer.
type EventKind int

const (
	// EventToken: the model generated Text, which starts Offset bytes
	// into the answer.
	EventToken EventKind = iota + 1
	// EventDone: the answer is complete and saved (Answer, Stats).
	EventDone
	// EventStopped: the answer was stopped (its context cancelled); Answer
	// holds what was generated, marked Stopped, and is saved.
	EventStopped
	// EventError: generation failed with Err; Answer holds the text before
	// the failure and the error, and is saved. It is not part of History.
	EventError
)

func (k EventKind) String() string {
	switch k {
	case EventToken:
		return "token"
	case EventDone:
		return "done"
	case EventStopped:
		return "stopped"
	case EventError:
		return "error"
	}
	return "unknown"
}

// Event is what a conversation publishes while it answers. Every turn
// publishes its tokens in order, then exactly one final event (Final).
type Event struct {
	Kind         EventKind
	Turn         uint64 // Turn.ID: tells the answers apart
	Conversation string // the conversation's ID ("" while unsaved)
	Offset       int    // EventToken: bytes of the answer before Text
	Text         string // EventToken: the new text, as the model wrote it
	// Final events: the answer as saved, the generation's figures, what
	// failed (EventError) and, when the store failed, why the conversation
	// goes on unsaved (a *SaveError).
	Answer  Message
	Stats   model.Stats
	Err     error
	SaveErr error
	// Final events: what the model was sent and how it sampled, for the
	// ledger to record their digest.
	Input    []model.Message
	Sampling model.Sampling
}

// Final says whether e ends its turn.
func (e Event) Final() bool { return e.Kind != EventToken }

// Events is the broker conversations publish to; the shell, `--json`
// output and the ledger subscribe. Share one among the conversations of a
// process so that turn IDs are unique.
type Events struct {
	*events.Broker[Event]
	turns atomic.Uint64
}

// NewEvents returns an empty broker.
func NewEvents() *Events { return &Events{Broker: events.New[Event]()} }

// finalPublishTimeout bounds how long a turn waits for a must-deliver
// subscriber to take its final event: the answer is saved by then, and a
// stuck subscriber must not hold the turn open forever.
const finalPublishTimeout = 10 * time.Second

// saveInterval spaces the saves of a streaming answer; a crash loses at
// most the text of this interval.
const saveInterval = 50 * time.Millisecond

// Turn is one answer being generated (Start).
type Turn struct {
	id     uint64
	conv   *Conversation
	idx    int     // the answer's index in conv.msgs
	base   Message // the answer as it started
	cancel context.CancelFunc
	done   chan struct{}
	final  Event

	mu      sync.Mutex
	text    strings.Builder
	version int // bumps with every piece, for the saver
}

// ID identifies the turn in its events.
func (t *Turn) ID() uint64 { return t.id }

// Answer is the answer as it started: role, model, time and, when saved,
// its sequence in the store.
func (t *Turn) Answer() Message { return t.base }

// Text is what was generated so far.
func (t *Turn) Text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.text.String()
}

// Cancel stops the answer; what was generated is kept, marked stopped.
func (t *Turn) Cancel() { t.cancel() }

// Done is closed when the answer is saved and its final event published.
func (t *Turn) Done() <-chan struct{} { return t.done }

// Wait waits for the answer and returns its final event.
func (t *Turn) Wait() Event {
	<-t.done
	return t.final
}

// Start begins generating the answer to the last user message with g in
// the background, and saves it as it streams; events go to the
// conversation's Events. It returns ErrBusy while another answer runs and
// ErrNothingToAnswer when no user message waits. A *SaveError comes with a
// running turn: the answer goes on unsaved.
func (c *Conversation) Start(ctx context.Context, g Generator, s model.Sampling, modelName string) (*Turn, error) {
	c.mu.Lock()
	if c.turn != nil {
		c.mu.Unlock()
		return nil, ErrBusy
	}
	if !c.pendingLocked() {
		c.mu.Unlock()
		return nil, ErrNothingToAnswer
	}
	history := c.historyLocked()
	ans := Message{Role: model.RoleAssistant, Model: modelName, Time: c.now()}
	saveErr := c.appendLocked(&ans)
	ctx, cancel := context.WithCancel(ctx)
	t := &Turn{conv: c, idx: len(c.msgs) - 1, base: ans, cancel: cancel, done: make(chan struct{})}
	if c.events != nil {
		t.id = c.events.turns.Add(1)
	} else {
		c.turns++
		t.id = c.turns
	}
	c.turn = t
	st, id := c.store, c.meta.ID
	c.mu.Unlock()
	go t.run(ctx, g, history, s, st, id)
	return t, saveErr
}

// Reply is Start and Wait: the answer, for callers without a view.
func (c *Conversation) Reply(ctx context.Context, g Generator, s model.Sampling, modelName string) (Event, error) {
	t, err := c.Start(ctx, g, s, modelName)
	if t == nil {
		return Event{}, err
	}
	ev := t.Wait()
	if ev.SaveErr == nil {
		ev.SaveErr = err
	}
	return ev, nil
}

func (t *Turn) run(ctx context.Context, g Generator, history []model.Message, s model.Sampling, st *Store, convID string) {
	defer t.cancel()
	c := t.conv
	// The saver writes the text so far from its own goroutine, so a slow
	// disk never holds up generation.
	poke, stop, saverDone := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(saverDone)
		if st == nil || t.base.Seq == 0 {
			return
		}
		saved := 0
		for {
			select {
			case <-poke:
			case <-stop:
				return
			}
			t.mu.Lock()
			v, text := t.version, t.text.String()
			t.mu.Unlock()
			if v != saved {
				m := t.base
				m.Content = strings.ToValidUTF8(text, "\uFFFD")
				_ = st.PutPartial(convID, t.base.Seq, m) // the final Put reports failures
				saved = v
			}
			select {
			case <-time.After(saveInterval):
			case <-stop:
				return
			}
		}
	}()
	offset := 0
	text, stats, err := safeChat(ctx, g, history, s, func(piece string) error {
		t.mu.Lock()
		t.text.WriteString(piece)
		t.version++
		t.mu.Unlock()
		select {
		case poke <- struct{}{}:
		default:
		}
		if c.events != nil {
			// Nothing depends on delivery: the text is kept above, and the
			// final event carries all of it.
			_ = c.events.Publish(ctx, Event{Kind: EventToken, Turn: t.id, Conversation: convID, Offset: offset, Text: piece})
		}
		offset += len(piece)
		return nil
	})
	close(stop)
	<-saverDone

	ans := t.base
	if text != "" || err == nil {
		ans.Content = text
	} else {
		ans.Content = t.Text() // what streamed before the failure
	}
	ans.Content = strings.ToValidUTF8(ans.Content, "\uFFFD")
	ans.Complete = true
	kind := EventDone
	switch {
	case stats.StopReason == model.StopCancelled || errors.Is(err, context.Canceled):
		kind, err = EventStopped, nil
		ans.Stopped = true
	case err != nil:
		kind = EventError
		ans.Err = strings.Join(strings.Fields(err.Error()), " ")
	}
	if kind != EventError {
		ans.TPS = stats.GenTPS()
	}

	c.mu.Lock()
	c.msgs[t.idx] = ans
	st, id := c.store, c.meta.ID
	c.mu.Unlock()
	var saveErr error
	if st != nil && ans.Seq != 0 {
		if perr := st.Put(id, ans.Seq, ans); perr != nil {
			c.mu.Lock()
			saveErr = c.failedLocked(perr)
			c.mu.Unlock()
		}
	}
	t.final = Event{Kind: kind, Turn: t.id, Conversation: id, Answer: ans, Stats: stats, Err: err, SaveErr: saveErr, Input: history, Sampling: s}
	// The conversation is free before the final event goes out, so a
	// subscriber that reacts to it can start the next answer at once.
	c.mu.Lock()
	c.turn = nil
	c.mu.Unlock()
	if c.events != nil {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalPublishTimeout)
		_ = c.events.Publish(pctx, t.final)
		cancel()
	}
	close(t.done)
}
