package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sovos/sov/model"
)

// Errors the handlers map to status codes; callers may test for them.
var (
	// ErrUnknownModel: the request names no model the catalog knows.
	ErrUnknownModel = errors.New("model not found")
	// ErrBusy: every session of the model is taken and its queue is full,
	// or no other model can be loaded beside the busy ones.
	ErrBusy = errors.New("server busy")
	// ErrClosed: the server is shutting down.
	ErrClosed = errors.New("server is closed")
)

// Entry is a model the server may load: its name and file, from the
// catalog, never from a request.
type Entry struct {
	Name     string
	Path     string
	Size     int64
	Modified time.Time
	SHA256   string
}

// Catalog resolves the names requests use to model files.
type Catalog interface {
	// Lookup finds the model called name ("" = the default model); it
	// returns an error matching ErrUnknownModel when there is none.
	Lookup(name string) (Entry, error)
	// List is every model a request may name.
	List() ([]Entry, error)
}

// poolKey is one loaded engine: a model at a context size (0 = the
// server's default).
type poolKey struct {
	name string
	ctx  int
}

// pool keeps models loaded between requests. Each loaded model is one
// engine with Parallel KV sequences, one model.Session per sequence; a
// request takes a free session (the one whose history its messages
// continue, so only the new tokens are decoded), waits in a bounded queue
// for one, or is refused with ErrBusy. The engine decodes the sessions
// that generate at once together, one token of each per pass over the
// weights (model.Options.Sessions), so the pool hands out sessions and
// nothing more: it never serialises requests itself.
type pool struct {
	cfg    *Config
	load   func(context.Context, model.Options) (*model.Engine, error)
	mu     sync.Mutex
	models map[poolKey]*resident
	closed bool
}

type resident struct {
	key     poolKey
	entry   Entry
	ready   chan struct{} // closed once eng or err is set
	eng     *model.Engine
	err     error
	loadDur time.Duration
	sem     chan struct{} // one token per busy session
	slots   []*slot
	refs    int           // requests holding or waiting for a session
	queued  int           // of refs, those waiting for a session
	keep    time.Duration // after the last request; <0 forever
	expires time.Time     // zero while in use or kept forever
	idle    time.Time     // when the last request ended
	timer   *time.Timer
}

type slot struct {
	sess *model.Session
	hist []model.Message // the last request's messages and the reply
	busy bool
	used time.Time
}

// lease is one request's session.
type lease struct {
	p     *pool
	r     *resident
	s     *slot
	fresh bool // this request waited for the model to load
}

func newPool(cfg *Config, load func(context.Context, model.Options) (*model.Engine, error)) *pool {
	return &pool{cfg: cfg, load: load, models: map[poolKey]*resident{}}
}

// acquire finds or loads entry's engine for numCtx (0: the default) and
// takes a session for a conversation of msgs.
func (p *pool) acquire(ctx context.Context, entry Entry, numCtx int, keep *time.Duration, msgs []model.Message) (*lease, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	r := p.find(entry.Name, numCtx)
	fresh := false
	if r == nil {
		if err := p.makeRoom(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		r = &resident{key: poolKey{entry.Name, numCtx}, entry: entry, ready: make(chan struct{}),
			sem: make(chan struct{}, p.cfg.Parallel), keep: p.cfg.KeepAlive}
		p.models[r.key] = r
		go p.loadModel(r)
		fresh = true
	}
	if r.refs >= p.cfg.Parallel+p.cfg.Queue {
		p.mu.Unlock()
		return nil, ErrBusy
	}
	r.refs++
	r.expires = time.Time{}
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if keep != nil {
		r.keep = *keep
	}
	p.mu.Unlock()

	select {
	case <-r.ready:
	case <-ctx.Done():
		p.unref(r)
		return nil, ctx.Err()
	}
	if r.err != nil {
		p.unref(r)
		return nil, r.err
	}
	select {
	case r.sem <- struct{}{}:
	default:
		p.mu.Lock()
		r.queued++
		p.mu.Unlock()
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			p.mu.Lock()
			r.queued--
			p.mu.Unlock()
			p.unref(r)
			return nil, ctx.Err()
		}
		p.mu.Lock()
		r.queued--
		p.mu.Unlock()
	}
	p.mu.Lock()
	s := pickSlot(r.slots, msgs)
	s.busy = true
	p.mu.Unlock()
	return &lease{p: p, r: r, s: s, fresh: fresh}, nil
}

// find is the engine of name for numCtx: exactly that key, or for an
// explicit size any engine of that model that has it. The caller holds mu.
// announce tells every loaded model that a generation request is on its
// way (model.Engine.Announce): which model it is for is not known before
// its body is read, and a model it is not for waits at most the engine's
// few milliseconds. The returned func withdraws it.
func (p *pool) announce() (withdraw func()) {
	p.mu.Lock()
	var ws []func()
	for _, r := range p.models {
		if r.eng != nil && len(r.slots) > 1 {
			ws = append(ws, r.eng.Announce())
		}
	}
	p.mu.Unlock()
	return func() {
		for _, w := range ws {
			w()
		}
	}
}

func (p *pool) find(name string, numCtx int) *resident {
	if r := p.models[poolKey{name, numCtx}]; r != nil {
		return r
	}
	if numCtx == 0 {
		return nil
	}
	for k, r := range p.models {
		if k.name == name && r.eng != nil && r.eng.ContextSize() == numCtx {
			return r
		}
	}
	return nil
}

// makeRoom unloads the idle engine unused longest when MaxLoaded engines
// are loaded. The caller holds mu.
func (p *pool) makeRoom() error {
	if len(p.models) < p.cfg.MaxLoaded {
		return nil
	}
	var idle *resident
	for _, r := range p.models {
		if r.refs == 0 && r.eng != nil && (idle == nil || r.idle.Before(idle.idle)) {
			idle = r
		}
	}
	if idle == nil {
		return ErrBusy
	}
	p.unloadLocked(idle)
	return nil
}

// pickSlot is the free slot whose history msgs continue (the longest such
// history), else the free slot whose history shares the longest start
// with msgs (its KV cache then holds that much of the new prompt, as
// llama-server picks a slot by prompt similarity), the one unused longest
// among equals. The caller holds mu and a token of sem, so one is free.
func pickSlot(slots []*slot, msgs []model.Message) *slot {
	var best, near *slot
	nearLen := 0
	for _, s := range slots {
		if s.busy {
			continue
		}
		if len(s.hist) > 0 && len(s.hist) <= len(msgs) && slices.Equal(s.hist, msgs[:len(s.hist)]) &&
			(best == nil || len(s.hist) > len(best.hist)) {
			best = s
		}
		if n := sharedStart(s.hist, msgs); near == nil || n > nearLen || n == nearLen && s.used.Before(near.used) {
			near, nearLen = s, n
		}
	}
	if best != nil {
		return best
	}
	return near
}

// sharedStart is how many bytes of content two conversations share from
// their start: whole messages while they are equal, then the common
// start of the first that differs (same role).
func sharedStart(a, b []model.Message) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			n += len(a[i].Content) + 1
			continue
		}
		if a[i].Role == b[i].Role {
			x, y := a[i].Content, b[i].Content
			j := 0
			for j < len(x) && j < len(y) && x[j] == y[j] {
				j++
			}
			n += j
		}
		break
	}
	return n
}

func (p *pool) loadModel(r *resident) {
	start := time.Now()
	o := p.cfg.Engine
	o.Path = r.entry.Path
	o.ContextSize = p.cfg.Context
	if r.key.ctx > 0 {
		o.ContextSize = r.key.ctx
	}
	o.Sessions = p.cfg.Parallel
	prepared := make(chan error, 1)
	go func() {
		if p.cfg.Prepare == nil {
			prepared <- nil
			return
		}
		prepared <- p.cfg.Prepare(o.Path)
	}()
	eng, err := p.load(context.Background(), o)
	if errors.Is(err, model.ErrDraftModel) {
		// The draft model fits some served models, not this one: it is
		// served without it.
		if p.cfg.Logf != nil {
			p.cfg.Logf("%s: %v; serving it without the draft model", r.entry.Name, err)
		}
		o.DraftModel = ""
		eng, err = p.load(context.Background(), o)
	}
	if perr := <-prepared; perr != nil && err == nil && p.cfg.Logf != nil {
		p.cfg.Logf("%s: %v", r.entry.Name, perr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		r.err = fmt.Errorf("loading %s: %w", r.entry.Name, err)
		delete(p.models, r.key)
		close(r.ready)
		return
	}
	if p.closed {
		eng.Close()
		r.err = ErrClosed
		close(r.ready)
		return
	}
	if w := eng.Info().TemplateWarning; w != "" && p.cfg.Logf != nil {
		p.cfg.Logf("%s: %s", r.entry.Name, w)
	}
	r.eng, r.loadDur = eng, time.Since(start)
	for range p.cfg.Parallel {
		r.slots = append(r.slots, &slot{sess: eng.NewSession()})
	}
	close(r.ready)
	p.idleLocked(r)
}

// release gives the session back; hist is the conversation it now holds
// (empty: unknown, after an error; nil: unchanged, after embeddings).
func (l *lease) release(hist []model.Message) {
	p := l.p
	p.mu.Lock()
	if hist != nil {
		l.s.hist = hist
	}
	l.s.busy, l.s.used = false, time.Now()
	p.mu.Unlock()
	<-l.r.sem
	p.unref(l.r)
}

// unref ends one request's hold on r, starting its keep-alive when it was
// the last.
func (p *pool) unref(r *resident) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r.refs--
	p.idleLocked(r)
}

// idleLocked starts r's keep-alive when nobody holds it (after its last
// request, or a load whose requests all went away). The caller holds mu.
func (p *pool) idleLocked(r *resident) {
	if r.refs > 0 || r.eng == nil || p.models[r.key] != r {
		return
	}
	r.idle = time.Now()
	switch {
	case r.keep == 0:
		p.unloadLocked(r)
	case r.keep > 0:
		r.expires = time.Now().Add(r.keep)
		r.timer = time.AfterFunc(r.keep, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if r.refs == 0 && p.models[r.key] == r && !r.expires.IsZero() && !time.Now().Before(r.expires) {
				p.unloadLocked(r)
			}
		})
	}
}

// unloadLocked frees r's engine; nobody holds it. The caller holds mu.
func (p *pool) unloadLocked(r *resident) {
	delete(p.models, r.key)
	if r.timer != nil {
		r.timer.Stop()
	}
	for _, s := range r.slots {
		s.sess.Close()
	}
	if r.eng != nil {
		r.eng.Close()
	}
}

// stop unloads every engine of the model called name now, or, while
// requests use one, as soon as the last ends. It reports whether one was
// loaded.
func (p *pool) stop(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	found := false
	for k, r := range p.models {
		if k.name != name {
			continue
		}
		found = true
		r.keep = 0
		if r.refs == 0 && r.eng != nil {
			p.unloadLocked(r)
		}
	}
	return found
}

// close unloads everything; requests still running finish first on their
// own engines, which close when Close is called on them again by nobody:
// the engines' own Close waits for their calls.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, r := range p.models {
		if r.eng != nil {
			p.unloadLocked(r)
		}
	}
}

// running describes a loaded engine for /api/ps and sov ps.
type running struct {
	entry                 Entry
	ctx                   int
	sessions, busy, queue int
	expires               time.Time
	draft                 string // the draft model's name; empty without one
}

func (p *pool) snapshot() []running {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []running
	for _, r := range p.models {
		if r.eng == nil {
			continue
		}
		busy := 0
		for _, s := range r.slots {
			if s.busy {
				busy++
			}
		}
		out = append(out, running{entry: r.entry, ctx: r.eng.ContextSize(), sessions: len(r.slots), busy: busy, queue: r.queued, expires: r.expires,
			draft: r.eng.Info().DraftModel})
	}
	slices.SortFunc(out, func(a, b running) int {
		if a.entry.Name != b.entry.Name {
			if a.entry.Name < b.entry.Name {
				return -1
			}
			return 1
		}
		return a.ctx - b.ctx
	})
	return out
}

// queued is the number of requests waiting for a session, on all models.
func (p *pool) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.models {
		n += r.queued
	}
	return n
}
