// Package events is a typed publish/subscribe broker: conversations publish
// (tokens and finished, stopped or failed answers: conversation.Event), and
// next agents (tool calls, permission requests and decisions); the shell,
// `--json` output and the ledger subscribe.
//
// Subscribers choose how they receive. A Lossy subscriber (a view that
// redraws) never slows the publisher: when its buffer is full the event is
// dropped and counted. A MustDeliver subscriber (the ledger) gets every
// event in order: Publish waits for it, and gives up only when the
// publisher's context ends, reporting which subscriber it could not reach.
package events

import (
	"context"
	"fmt"
	"sync"
)

// Mode is how a subscriber receives events.
type Mode int

const (
	// Lossy: events that find the buffer full are dropped (and counted).
	Lossy Mode = iota
	// MustDeliver: Publish waits until the subscriber has room.
	MustDeliver
)

// Broker fans events of type T out to subscribers. The zero value is not
// usable; use New. Safe for concurrent use.
type Broker[T any] struct {
	mu     sync.RWMutex
	subs   map[*sub[T]]struct{}
	closed bool
}

type sub[T any] struct {
	name    string
	mode    Mode
	ch      chan T
	quit    chan struct{}  // closed when the subscription ends
	sending sync.WaitGroup // sends in flight; ch closes after them
	mu      sync.Mutex     // guards dropped, done and sending.Add
	dropped uint64
	done    bool
}

// New returns an empty broker.
func New[T any]() *Broker[T] { return &Broker[T]{subs: map[*sub[T]]struct{}{}} }

// Subscription is one subscriber's view: its channel and what it missed.
type Subscription[T any] struct {
	C <-chan T
	s *sub[T]
	b *Broker[T]
}

// Dropped is how many events a Lossy subscriber missed so far.
func (s *Subscription[T]) Dropped() uint64 {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	return s.s.dropped
}

// Close ends the subscription and closes C; closing twice is harmless.
func (s *Subscription[T]) Close() { s.b.remove(s.s) }

// Subscribe adds a subscriber with a buffer of size buf (at least 1). It
// ends, and its channel closes, when ctx ends, Close is called or the
// broker closes. name identifies it in errors.
func (b *Broker[T]) Subscribe(ctx context.Context, name string, mode Mode, buf int) *Subscription[T] {
	s := &sub[T]{name: name, mode: mode, ch: make(chan T, max(buf, 1)), quit: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.done = true
		close(s.quit)
		close(s.ch)
		return &Subscription[T]{C: s.ch, s: s, b: b}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	context.AfterFunc(ctx, func() { b.remove(s) })
	return &Subscription[T]{C: s.ch, s: s, b: b}
}

func (b *Broker[T]) remove(s *sub[T]) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	close(s.quit)
	s.mu.Unlock()
	s.sending.Wait() // a send blocked on a full channel leaves through quit
	close(s.ch)
}

// UndeliveredError says which must-deliver subscriber an event could not
// reach before the publisher's context ended.
type UndeliveredError struct {
	Subscriber string
	Err        error
}

func (e *UndeliveredError) Error() string {
	return fmt.Sprintf("event not delivered to %s: %v", e.Subscriber, e.Err)
}

func (e *UndeliveredError) Unwrap() error { return e.Err }

// Publish sends ev to every subscriber: at once to Lossy ones (dropping it
// for those whose buffer is full), and in turn to MustDeliver ones, waiting
// for room. It returns an *UndeliveredError when ctx ends before a
// MustDeliver subscriber took the event; the others still got it.
func (b *Broker[T]) Publish(ctx context.Context, ev T) error {
	b.mu.RLock()
	subs := make([]*sub[T], 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.RUnlock()
	var first error
	for _, s := range subs {
		if err := s.send(ctx, ev); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *sub[T]) send(ctx context.Context, ev T) error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.sending.Add(1)
	s.mu.Unlock()
	defer s.sending.Done()
	if s.mode == Lossy {
		select {
		case s.ch <- ev:
		default:
			s.mu.Lock()
			s.dropped++
			s.mu.Unlock()
		}
		return nil
	}
	select {
	case s.ch <- ev:
		return nil
	case <-s.quit:
		return nil
	case <-ctx.Done():
		return &UndeliveredError{Subscriber: s.name, Err: ctx.Err()}
	}
}

// Close ends every subscription; later Subscribe calls get a closed
// channel and Publish reaches nobody.
func (b *Broker[T]) Close() {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = map[*sub[T]]struct{}{}
	b.mu.Unlock()
	for s := range subs {
		b.remove(s)
	}
}
