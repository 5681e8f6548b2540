package conversation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sovos/sov/model"
)

// Generator is what a conversation needs from the engine: a model.LLM (a
// *model.Engine or, for a conversation of its own, a *model.Session) or a
// test fake.
type Generator interface {
	Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error)
}

// Errors callers react to.
var (
	// ErrBusy: an answer is being generated; stop it or wait for it first.
	ErrBusy = errors.New("an answer is being generated")
	// ErrNothingToAnswer: the last message already has its answer.
	ErrNothingToAnswer = errors.New("no message waits for an answer")
	// ErrNothingToRetry: the conversation has no message to answer again.
	ErrNothingToRetry = errors.New("nothing to retry yet")
)

// SaveError reports that the store failed. The change it was saving is
// made in memory and the conversation goes on unsaved: it stops writing to
// the store.
type SaveError struct{ Err error }

func (e *SaveError) Error() string { return "could not save the conversation: " + e.Err.Error() }

func (e *SaveError) Unwrap() error { return e.Err }

// Options configure a Conversation.
type Options struct {
	Store  *Store           // nil: the conversation is not saved
	System string           // New: the system prompt
	Events *Events          // nil: nothing is published
	Now    func() time.Time // nil: time.Now
}

// Conversation is one conversation in memory, written through to its Store
// as it changes: a new one is created in the store by its first message,
// and an answer is saved while it streams, so a crash loses at most the
// last fraction of a second. Safe for concurrent use; while an answer is
// being generated (Start), the calls that change the messages return
// ErrBusy.
type Conversation struct {
	mu     sync.Mutex
	store  *Store
	meta   Meta // ID "" until the first message is saved
	msgs   []Message
	events *Events
	now    func() time.Time
	turn   *Turn  // the answer being generated
	turns  uint64 // turn IDs when there is no Events
}

// New starts an empty conversation; it is saved with its first message.
func New(opts Options) *Conversation {
	c := newConversation(opts)
	c.meta = Meta{Title: "New chat", System: opts.System}
	return c
}

// Resume opens the saved conversation id from opts.Store and makes it the
// last one. An answer that never completed (sov was killed while it
// streamed) is marked stopped.
func Resume(id string, opts Options) (*Conversation, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	meta, msgs, err := opts.Store.Load(id)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		if msgs[i].Role == model.RoleAssistant && !msgs[i].Complete {
			msgs[i].Stopped = true
		}
	}
	c := newConversation(opts)
	c.meta, c.msgs = meta, msgs
	return c, nil
}

func newConversation(opts Options) *Conversation {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// Milliseconds, as the store keeps them: a message in memory equals
	// the same message loaded.
	return &Conversation{store: opts.Store, events: opts.Events, now: func() time.Time { return now().UTC().Truncate(time.Millisecond) }}
}

// ID is the conversation's ID in the store ("" while unsaved).
func (c *Conversation) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meta.ID
}

// Meta describes the conversation as the store does.
func (c *Conversation) Meta() Meta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meta
}

// Saved says whether changes are written to a store.
func (c *Conversation) Saved() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.store != nil
}

// Len is the number of messages.
func (c *Conversation) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// Messages returns a copy of the messages; an answer being generated holds
// the text so far.
func (c *Conversation) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]Message(nil), c.msgs...)
	if c.turn != nil {
		out[c.turn.idx].Content = c.turn.Text()
	}
	return out
}

// History is what the engine sees: the system prompt, then every message
// except failed answers and the answer being generated. A stopped answer is
// part of it: the model continues from what it said.
func (c *Conversation) History() []model.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.historyLocked()
}

func (c *Conversation) historyLocked() []model.Message {
	out := make([]model.Message, 0, len(c.msgs)+1)
	if s := strings.TrimSpace(c.meta.System); s != "" {
		out = append(out, model.Message{Role: model.RoleSystem, Content: s})
	}
	for i, m := range c.msgs {
		if m.Err != "" || c.turn != nil && i == c.turn.idx {
			continue
		}
		out = append(out, model.Message{Role: m.Role, Content: m.Content})
	}
	return out
}

// Pending says whether the last message the model would see is the user's,
// so an answer can be generated (a message sent while no model was loaded,
// or whose answer failed).
func (c *Conversation) Pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.turn == nil && c.pendingLocked()
}

func (c *Conversation) pendingLocked() bool {
	i := c.lastKept(len(c.msgs))
	return i >= 0 && c.msgs[i].Role == model.RoleUser
}

// lastKept is the index of the last message before end that is part of the
// history (not a failed answer), or -1.
func (c *Conversation) lastKept(end int) int {
	for i := end - 1; i >= 0; i-- {
		if c.msgs[i].Err == "" {
			return i
		}
	}
	return -1
}

// AddUser appends a user message and saves it (creating the conversation
// in the store on its first message).
func (c *Conversation) AddUser(text string) (Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.turn != nil {
		return Message{}, ErrBusy
	}
	msg := Message{Role: model.RoleUser, Content: text, Time: c.now()}
	err := c.appendLocked(&msg)
	return msg, err
}

// Add appends a finished message of any role and saves it: an agent
// run's transcript holds its tool calls (assistant) and tool results
// (model.RoleTool) besides the request and the answer.
func (c *Conversation) Add(msg Message) (Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.turn != nil {
		return Message{}, ErrBusy
	}
	msg.Seq = 0
	if msg.Time.IsZero() {
		msg.Time = c.now()
	}
	err := c.appendLocked(&msg)
	return msg, err
}

// appendLocked adds msg in memory and in the store, setting msg.Seq.
func (c *Conversation) appendLocked(msg *Message) error {
	var err error
	if c.store != nil && c.meta.ID == "" {
		var m Meta
		if m, err = c.store.Create(msg.Model, c.meta.System); err == nil {
			c.meta = m
		}
	}
	if c.store != nil && err == nil {
		msg.Seq, err = c.store.Append(c.meta.ID, *msg)
	}
	if c.store != nil && err == nil {
		// The store's count and title change only with what it holds.
		c.meta.appended(*msg, c.now())
	}
	c.msgs = append(c.msgs, *msg)
	return c.failedLocked(err)
}

// failedLocked turns a store error into a *SaveError and stops saving.
func (c *Conversation) failedLocked(err error) error {
	if err == nil {
		return nil
	}
	c.store = nil
	return &SaveError{Err: err}
}

// Retry drops the last answer so that the next Start generates it again.
// When the last message is the user's (its answer failed, or none was
// generated yet) nothing is dropped; a failed answer stays as a record.
// It returns the dropped answer, if any, or ErrNothingToRetry.
func (c *Conversation) Retry() (dropped *Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.turn != nil {
		return nil, ErrBusy
	}
	last := c.lastKept(len(c.msgs))
	if last < 0 {
		return nil, ErrNothingToRetry
	}
	if c.msgs[last].Role == model.RoleUser {
		return nil, nil
	}
	if prev := c.lastKept(last); prev < 0 || c.msgs[prev].Role != model.RoleUser || c.msgs[last].Role != model.RoleAssistant {
		return nil, ErrNothingToRetry
	}
	m := c.msgs[last]
	c.msgs = append(c.msgs[:last], c.msgs[last+1:]...)
	if c.store != nil && m.Seq != 0 {
		err = c.store.DeleteMessage(c.meta.ID, m.Seq)
		if err == nil {
			c.meta.Count--
		}
	}
	return &m, c.failedLocked(err)
}

// Clear forgets every message, keeping the conversation (its title and
// system prompt) in the store.
func (c *Conversation) Clear() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.turn != nil {
		return ErrBusy
	}
	c.msgs = nil
	var err error
	if c.store != nil && c.meta.ID != "" {
		if err = c.store.Clear(c.meta.ID); err == nil {
			c.meta.Count = 0
		}
	}
	return c.failedLocked(err)
}

// SetSystem sets the system prompt ("" removes it); the next answer uses it.
func (c *Conversation) SetSystem(system string) error {
	return c.updateMeta(func(m *Meta) { m.System = system })
}

// Rename sets the title.
func (c *Conversation) Rename(title string) error {
	return c.updateMeta(func(m *Meta) { m.Title = title })
}

func (c *Conversation) updateMeta(fn func(*Meta)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.meta)
	if c.store == nil || c.meta.ID == "" {
		return nil
	}
	_, err := c.store.Update(c.meta.ID, fn)
	return c.failedLocked(err)
}

// Markdown renders the conversation for export; modelName names the model
// in the header.
func (c *Conversation) Markdown(modelName string) string {
	return Markdown(c.Meta(), modelName, c.Messages())
}

// Warm decodes the history into g's KV cache without answering, so that the
// next answer decodes only the new message (a resumed conversation warms
// up while the user types). Cancelling it is safe.
func (c *Conversation) Warm(ctx context.Context, g Generator) error {
	msgs := c.History()
	if len(msgs) == 0 {
		return nil
	}
	_, _, err := safeChat(ctx, g, msgs, model.Sampling{MaxTokens: 1}, nil)
	return err
}

// safeChat turns a panic in the engine into an error: whoever shows the
// conversation must survive whatever the engine does.
func safeChat(ctx context.Context, g Generator, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (text string, st model.Stats, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the engine failed: %v", r)
		}
	}()
	return g.Chat(ctx, msgs, s, fn)
}
