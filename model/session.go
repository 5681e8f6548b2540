package model

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
)

// Session is one conversation on a loaded model with its own KV sequence,
// so conversations (or agents) that alternate on one engine each decode
// only their new tokens. The engine has Options.Sessions sequences; a
// session beyond that takes the least recently used one's, and the session
// that lost it decodes its whole prompt again on its next call (nothing
// else changes). With one sequence, calls are serialised with every other
// call on the engine; with several, the replies of sessions that generate
// at once are decoded together in one batch (see batch.go), and a session
// waits only while another call uses its own sequence, or while every
// sequence is in use.
// The KV cache costs memory per token of context, for each sequence:
// 2 (K and V) × layers × KV heads × head size × 2 bytes (F16), e.g. 23 KB
// per token for SmolLM2-135M, so 94 MB for a 4,096-token session.
type Session struct {
	e      *Engine
	slot   int // index into e.slots while it holds one, else -1
	closed bool
	// expected: Expect announced a call that has not reached the engine.
	expected atomic.Bool
}

// slot is one KV sequence and the record of what it holds.
type slot struct {
	owner *Session
	cache []int32
	last  *lastTurn
	used  uint64
	busy  bool // a batched call generates in it without holding e.mu
}

// ErrSessionClosed is returned by the calls of a closed session.
var ErrSessionClosed = errors.New("session is closed")

// NewSession returns a session on e. It takes a KV sequence on its first
// call.
func (e *Engine) NewSession() *Session { return &Session{e: e, slot: -1} }

// Expect says a call on sess follows at once (a server has taken the
// session for a request it is reading). An engine about to decode prompts
// while none of its sessions generates waits for such calls, at most
// 5 ms, so that prompts arriving together share one batch instead
// of the first going alone and the others a step later. The call clears
// it; the returned func withdraws it where no call came (it may be called
// in any case).
func (sess *Session) Expect() (withdraw func()) {
	if sess.expected.CompareAndSwap(false, true) {
		sess.e.arriving.Add(1)
	}
	return sess.arrived
}

// Announce says a call on one of e's sessions is on its way, before the
// caller knows which (a server has begun reading a request): prompts wait
// for it as for Session.Expect. A burst of requests then shares a batch
// even when the first reaches the engine before the others have taken
// their sessions. The returned func withdraws it; call it when the
// request takes its session (and Expect) or ends.
func (e *Engine) Announce() (withdraw func()) {
	e.arriving.Add(1)
	var once sync.Once
	return func() { once.Do(func() { e.arriving.Add(-1) }) }
}

// Announced is the number of calls announced (Announce, Session.Expect)
// and not yet come or withdrawn.
func (e *Engine) Announced() int { return int(e.arriving.Load()) }

func (sess *Session) arrived() {
	if sess.expected.CompareAndSwap(true, false) {
		sess.e.arriving.Add(-1)
	}
}

// Chat is Engine.Chat in this session.
func (sess *Session) Chat(ctx context.Context, msgs []Message, s Sampling, fn TokenFunc) (string, Stats, error) {
	return sess.e.chat(ctx, sess, msgs, s, fn)
}

// Complete is Engine.Complete in this session.
func (sess *Session) Complete(ctx context.Context, prompt string, s Sampling, fn TokenFunc) (string, Stats, error) {
	return sess.e.complete(ctx, sess, prompt, s, fn)
}

// Embed is Engine.Embed (embeddings use a context of their own).
func (sess *Session) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return sess.e.Embed(ctx, texts)
}

// Tokenize is Engine.Tokenize.
func (sess *Session) Tokenize(text string, addSpecial bool) ([]int32, error) {
	return sess.e.Tokenize(text, addSpecial)
}

// Info is Engine.Info.
func (sess *Session) Info() Info { return sess.e.Info() }

// Close gives the session's KV sequence back. Closing twice is harmless.
func (sess *Session) Close() error {
	e := sess.e
	e.lock()
	defer e.mu.Unlock()
	if sess.closed {
		return nil
	}
	for !e.closed && sess.slot >= 0 && e.slots[sess.slot].owner == sess && e.slots[sess.slot].busy {
		e.cond.Wait() // its own call is still generating
	}
	sess.closed = true
	if e.closed || sess.slot < 0 || e.slots[sess.slot].owner != sess {
		return nil
	}
	sl := &e.slots[sess.slot]
	C.llama_memory_seq_rm(C.llama_get_memory(e.lctx), C.llama_seq_id(sess.slot), -1, -1)
	sl.owner, sl.cache, sl.last = nil, sl.cache[:0], nil
	if e.seq == sess.slot {
		e.cache, e.last = sl.cache, nil
	}
	sess.slot = -1
	return nil
}

// bind makes sess's sequence the current one (e.seq, e.cache, e.last),
// taking a free or the least recently used sequence when sess holds none.
// The caller holds e.mu.
func (e *Engine) bind(sess *Session) error {
	sess.arrived()
	if e.closed {
		return ErrClosed
	}
	if sess.closed {
		return ErrSessionClosed
	}
	// Wait while another call generates in sess's sequence, or, for a
	// session without one, while every sequence is in use.
	for {
		if e.closed {
			return ErrClosed
		}
		if sess.slot >= 0 && e.slots[sess.slot].owner == sess {
			if !e.slots[sess.slot].busy {
				break
			}
		} else if slices.ContainsFunc(e.slots, func(s slot) bool { return !s.busy }) {
			break
		}
		e.cond.Wait()
	}
	cur := &e.slots[e.seq]
	cur.cache, cur.last = e.cache, e.last
	i := sess.slot
	if i < 0 || e.slots[i].owner != sess {
		i = -1
		for j := range e.slots {
			if e.slots[j].busy {
				continue
			}
			if e.slots[j].owner == nil {
				i = j
				break
			}
			if i < 0 || e.slots[j].used < e.slots[i].used {
				i = j
			}
		}
		sl := &e.slots[i]
		if sl.owner != nil {
			sl.owner.slot = -1
		}
		C.llama_memory_seq_rm(C.llama_get_memory(e.lctx), C.llama_seq_id(i), -1, -1)
		sl.owner, sl.cache, sl.last = sess, sl.cache[:0], nil
		sess.slot = i
	}
	e.tick++
	e.slots[i].used = e.tick
	e.seq = i
	e.cache, e.last = e.slots[i].cache, e.slots[i].last
	return nil
}
