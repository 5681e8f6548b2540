package model

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// An engine with more than one session (Options.Sessions > 1) decodes the
// sessions that generate at once together, the way llama-server's slots
// do: each step of one loop decodes every active reply's next token in one
// llama_batch (one pass over the weights for all of them) and samples each
// sequence with its own sampler; a waiting prompt is decoded a chunk of at
// most batchBudget tokens a step (across prompts), so a long prompt
// shares the steps with the replies under way.
// A step holds e.mu, so everything else that touches the context (binding
// a session, trimming its KV sequence, the prompt cache) runs between
// steps; a call waiting for its tokens does not hold e.mu.
//
// An engine with one session keeps the single-sequence loop (sov_gen_run).

// batchBudget bounds the tokens of one step: one llama.cpp micro-batch.
const batchBudget = 512

// defaultGatherWait bounds how long prompts wait for announced calls
// (Session.Expect) before they are decoded: a request reading its body
// and counting its tokens takes well under a millisecond.
const defaultGatherWait = 5 * time.Millisecond

type batcher struct {
	active  []*breq
	running bool // a loop goroutine is stepping
	// gather: the step decoded nothing, to let announced calls join the
	// prompts waiting (until gatherUntil; loop goroutine only).
	gather        bool
	gatherUntil   time.Time
	gatherWait    time.Duration // defaultGatherWait; tests lengthen it
	promptDecodes int           // decodes of prompt chunks (tests)
	batch         C.struct_llama_batch
	cap           int
	seqs          *C.sov_bseq // one per KV sequence, indexed by seq id
	nSeq          int

	// Prompt-lookup drafting for a reply that generates alone (see
	// batchDraft): dgen holds the set-up and what drafts taught, across
	// replies; dreq is the reply its acceptance estimates are for; dout
	// receives a step's tokens. Made on first use.
	dgen *C.sov_gen
	dreq *breq
	dout *C.sov_gen_token
}

// breq is one call's generation in the batch.
type breq struct {
	ctx       context.Context
	seq       int
	prompt    []int32 // prompt tokens not yet decoded
	pos       int     // position of the next token decoded
	smpl      *C.struct_llama_sampler
	argmax    bool
	ignoreEOG bool
	maxTokens int // 0 = no limit
	room      int // tokens that fit after the prompt
	// draft: how the reply drafts when it generates alone; hist is then
	// its context, prompt and reply, up to next.
	draft draftConf
	hist  []int32

	// Loop state (under e.mu).
	next      int32 // the last sampled token, decoded next step
	take      int   // prompt tokens in the current chunk
	produced  int
	promptDec int  // prompt tokens decoded
	ended     bool // finish was called: leaves the batch
	drafted   int  // draft tokens verified
	accepted  int  // of those, the ones the sampler chose too

	stop   atomic.Bool   // the caller asks the loop to drop the request
	notify chan struct{} // cap 1: tokens or the end are ready

	mu       sync.Mutex // guards the fields below
	toks     []int32
	pieces   [][]byte
	done     bool
	reason   int // SOV_GEN_*, or genPrompt when the prompt failed to decode
	status   int
	ndecoded int
	tPrompt  time.Time
}

// genPrompt: decoding the prompt failed (status in breq.status).
const genPrompt = 100

func newBatcher(nBatch, nSeq int) *batcher {
	b := &batcher{cap: min(nBatch, batchBudget), nSeq: nSeq, gatherWait: defaultGatherWait}
	b.batch = C.llama_batch_init(C.int32_t(b.cap), 0, 1)
	b.seqs = (*C.sov_bseq)(C.calloc(C.size_t(nSeq), C.size_t(unsafe.Sizeof(C.sov_bseq{}))))
	return b
}

func (b *batcher) free() {
	if b == nil {
		return
	}
	if b.batch.token != nil {
		C.llama_batch_free(b.batch)
		b.batch.token = nil
	}
	if b.seqs != nil {
		C.free(unsafe.Pointer(b.seqs))
		b.seqs = nil
	}
	if b.dgen != nil {
		C.sov_gen_free(b.dgen)
		C.free(unsafe.Pointer(b.dout))
		b.dgen, b.dout, b.dreq = nil, nil, nil
	}
}

func (r *breq) signal() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// finish ends r; the loop forgets it in the same step. The caller holds e.mu.
func (r *breq) finish(reason, status int) {
	r.ended = true
	r.mu.Lock()
	r.done, r.reason, r.status = true, reason, status
	r.mu.Unlock()
	r.signal()
}

func (r *breq) isDone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// submit adds r to the batch, starting the loop if it is idle. The caller
// holds e.mu.
func (e *Engine) submit(r *breq) {
	b := e.bat
	b.active = append(b.active, r)
	if !b.running {
		b.running = true
		go e.batchLoop()
	}
}

func (e *Engine) batchLoop() {
	for e.batchStep() {
		if b := e.bat; b.gather {
			// Prompts wait for calls on their way (Session.Expect); nothing
			// generates meanwhile.
			b.gather = false
			for e.arriving.Load() > 0 && time.Now().Before(b.gatherUntil) {
				time.Sleep(200 * time.Microsecond)
			}
		}
		// Calls waiting for e.mu go before the next step: a new request
		// binding its session, a finished one settling its cache (its
		// client waits for that). Go's mutex would let this loop take the
		// lock straight back, so they would wait a step or more each
		// (measured at four clients: the time to first token 1.2 times
		// llama-server's).
		for e.lockWaiters.Load() > 0 {
			<-e.lockYield
		}
	}
}

// lock takes e.mu ahead of the batch loop's next step.
func (e *Engine) lock() {
	e.lockWaiters.Add(1)
	e.mu.Lock()
	if e.lockWaiters.Add(-1) == 0 {
		select {
		case e.lockYield <- struct{}{}:
		default:
		}
	}
}

// batchStep decodes one batch; false once no request is left.
func (e *Engine) batchStep() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.bat
	live := b.active[:0]
	for _, r := range b.active {
		switch {
		case r.ended:
		case e.closed || r.ctx.Err() != nil:
			r.finish(int(C.SOV_GEN_ABORTED), 0)
		case r.stop.Load():
			r.finish(int(C.SOV_GEN_STOPPED), 0)
		default:
			live = append(live, r)
		}
	}
	clear(b.active[len(live):])
	b.active = live
	if b.dreq != nil && b.dreq.ended {
		b.dreq = nil // its tokens go with it
	}
	if len(live) == 0 {
		b.running = false
		e.cond.Broadcast() // Close waits for the loop to end
		return false
	}
	// The replies' next tokens go in one decode; then the waiting prompts'
	// next chunks, together in another. A prompt is cut into the same
	// chunks as alone, and llama.cpp gives each sequence its own KV
	// stream, so each row computes what it would alone (a stream's
	// attention window grows only by masked cells, which add zeros at the
	// end of its sums); prompts that arrive together then share passes over
	// the weights (four 30-token prompts: one pass of 120 rows, 0.84 of
	// four passes of 30, and the fourth client's first token much sooner).
	var gens, prompts []*breq
	for _, r := range live {
		if len(r.prompt) == 0 {
			gens = append(gens, r)
		} else {
			prompts = append(prompts, r)
		}
	}
	if len(gens) == 0 && e.arriving.Load() > 0 {
		if b.gatherUntil.IsZero() {
			b.gatherUntil = time.Now().Add(b.gatherWait)
		}
		if time.Now().Before(b.gatherUntil) {
			b.gather = true
			return true
		}
	}
	b.gatherUntil = time.Time{}
	// In seq id order: llama.cpp puts only consecutive sequence ids in one
	// micro-batch of a multi-stream KV cache (and as many tokens of each),
	// and each micro-batch is another pass over the weights.
	bySeq := func(a, b *breq) int { return a.seq - b.seq }
	switch {
	case len(gens) == 1 && gens[0].draft.max > 0:
		e.batchDraft(gens[0])
	case len(gens) > 0:
		slices.SortFunc(gens, bySeq)
		e.batchDecode(gens, nil)
	}
	// Prompts that arrive together (short ones, typically) are decoded in
	// this step while a whole chunk of each fits the budget.
	budget := b.cap
	var chunks []*breq
	for _, r := range prompts {
		k := min(len(r.prompt), b.cap)
		if k > budget {
			break
		}
		budget -= k
		chunks = append(chunks, r)
	}
	if len(chunks) > 0 {
		slices.SortFunc(chunks, bySeq)
		e.batchDecode(nil, chunks)
		b.promptDecodes++
	}
	return true
}

// batchDecode decodes the next token of each of gens, or the next chunk of
// each of prs' prompts, samples where a reply's next token is due, and
// hands the tokens over. The caller holds e.mu.
func (e *Engine) batchDecode(gens, prs []*breq) {
	b := e.bat
	var (
		tok    = unsafe.Slice(b.batch.token, b.cap)
		pos    = unsafe.Slice(b.batch.pos, b.cap)
		nseq   = unsafe.Slice(b.batch.n_seq_id, b.cap)
		seqid  = unsafe.Slice(b.batch.seq_id, b.cap)
		logits = unsafe.Slice(b.batch.logits, b.cap)
		seqs   = unsafe.Slice(b.seqs, b.nSeq)
		n      = 0
	)
	add := func(t int32, p, seq int, out bool) {
		tok[n], pos[n], nseq[n] = C.llama_token(t), C.llama_pos(p), 1
		*seqid[n] = C.llama_seq_id(seq)
		logits[n] = 0
		if out {
			logits[n] = 1
		}
		n++
	}
	for i := range seqs {
		seqs[i].row = -1
	}
	reqs := gens
	for _, r := range gens {
		seqs[r.seq].row = C.int32_t(n)
		add(r.next, r.pos, r.seq, true)
	}
	if prs != nil {
		reqs = prs
		for _, pr := range prs {
			pr.take = min(len(pr.prompt), b.cap-n)
			for j := range pr.take {
				last := j == len(pr.prompt)-1
				if last {
					seqs[pr.seq].row = C.int32_t(n)
				}
				add(pr.prompt[j], pr.pos+j, pr.seq, last)
			}
		}
	}
	for _, r := range reqs {
		sq := &seqs[r.seq]
		sq.smpl, sq.argmax, sq.ignore_eog = r.smpl, C.bool(r.argmax), C.bool(r.ignoreEOG)
		sq.first = C.bool(r.produced == 0)
	}
	b.batch.n_tokens = C.int32_t(n)
	var rc C.int32_t
	e.w.do(func() { rc = C.sov_batch_step(e.lctx, e.vocab, &b.batch, b.seqs, C.int32_t(b.nSeq), C.bool(e.flush)) })
	now := time.Now()
	for _, r := range reqs {
		if rc != 0 {
			if prs != nil {
				r.finish(genPrompt, int(rc))
			} else {
				r.finish(int(C.SOV_GEN_DECODE), int(rc))
			}
			continue
		}
		if prs != nil {
			r.prompt, r.pos, r.promptDec = r.prompt[r.take:], r.pos+r.take, r.promptDec+r.take
			if len(r.prompt) > 0 {
				continue
			}
			r.mu.Lock()
			r.tPrompt = now
			r.mu.Unlock()
		} else {
			r.pos++
			r.mu.Lock()
			r.ndecoded++
			r.mu.Unlock()
		}
		sq := &seqs[r.seq]
		if sq.rc != 0 {
			r.finish(int(sq.rc), 0)
			continue
		}
		piece := C.GoBytes(unsafe.Pointer(&sq.piece[0]), sq.len)
		r.mu.Lock()
		r.toks = append(r.toks, int32(sq.tok))
		r.pieces = append(r.pieces, piece)
		r.mu.Unlock()
		r.produced++
		r.next = int32(sq.tok)
		if r.draft.max > 0 {
			r.hist = append(r.hist, r.next)
		}
		r.handOver()
	}
}

// handOver ends r when it has all the tokens it may produce, else tells
// its caller its tokens are ready. As in the single-sequence loop, the
// last token ends the reply undecoded: the next turn decodes it with its
// prompt. The caller holds e.mu.
func (r *breq) handOver() {
	switch {
	case r.maxTokens > 0 && r.produced >= r.maxTokens:
		r.finish(int(C.SOV_GEN_MAX_TOKENS), 0)
	case r.produced >= r.room:
		r.finish(int(C.SOV_GEN_CONTEXT), 0)
	default:
		r.signal()
	}
}

// batchDraft decodes the next token of r, which generates alone, with a
// prompt-lookup draft (sov_bdraft_step), as the single-sequence loop
// does. With several replies generating, none drafts: llama.cpp gives
// each sequence its own KV stream and splits a batch into micro-batches
// holding as many tokens of each, so one reply's draft would cost the
// others another pass over the weights. The caller holds e.mu.
func (e *Engine) batchDraft(r *breq) {
	b := e.bat
	if b.dgen == nil {
		b.dgen = C.sov_gen_new()
		b.dout = (*C.sov_gen_token)(C.calloc(C.SOV_DRAFT_MAX+1, C.size_t(unsafe.Sizeof(C.sov_gen_token{}))))
		if b.dgen == nil || b.dout == nil {
			// Out of memory: this reply goes on without drafting.
			C.sov_gen_free(b.dgen)
			C.free(unsafe.Pointer(b.dout))
			b.dgen, b.dout = nil, nil
			r.draft = draftConf{}
			e.batchDecode([]*breq{r}, nil)
			return
		}
	}
	g := b.dgen
	if b.dreq != r {
		// Acceptance is the reply's own; what a drafted row costs is the
		// machine's, kept.
		C.sov_gen_draft_reset(g)
		b.dreq = r
	}
	g.ctx, g.vocab, g.flush, g.seq = e.lctx, e.vocab, C.bool(e.flush), C.int32_t(r.seq)
	g.n_draft, g.draft_min, g.draft_fixed = C.int32_t(min(r.draft.max, C.SOV_DRAFT_MAX)), C.int32_t(r.draft.minN), C.bool(r.draft.fixed)
	sq := &unsafe.Slice(b.seqs, b.nSeq)[r.seq]
	sq.smpl, sq.argmax, sq.ignore_eog, sq.first = r.smpl, C.bool(r.argmax), C.bool(r.ignoreEOG), false
	left := r.room - r.produced
	if r.maxTokens > 0 {
		left = min(left, r.maxTokens-r.produced)
	}
	var rc, n, k, a C.int32_t
	e.w.do(func() {
		rc = C.sov_bdraft_step(g, sq, C.llama_token(r.next), C.int32_t(r.pos), C.int32_t(left),
			(*C.llama_token)(unsafe.Pointer(&r.hist[0])), C.int32_t(len(r.hist)), b.dout, &n, &k, &a)
	})
	if rc != 0 {
		r.finish(int(C.SOV_GEN_DECODE), int(rc))
		return
	}
	r.pos += 1 + int(a)
	r.drafted += int(k)
	r.accepted += int(a)
	r.mu.Lock()
	r.ndecoded += 1 + int(a)
	for _, o := range unsafe.Slice(b.dout, n) {
		r.produced++
		r.next = int32(o.tok)
		r.hist = append(r.hist, r.next)
		r.toks = append(r.toks, r.next)
		r.pieces = append(r.pieces, C.GoBytes(unsafe.Pointer(&o.piece[0]), o.len))
	}
	r.mu.Unlock()
	if sq.rc != 0 {
		r.finish(int(sq.rc), 0)
		return
	}
	r.handOver()
}

// consume hands r's tokens to out until the loop has finished r, as stream
// does for the single-sequence loop.
func (e *Engine) consume(ctx context.Context, r *breq, out *streamer, holding bool, holdFrom int) (res streamed) {
	res.keep = -1
	got := 0
	for {
		r.mu.Lock()
		toks, pieces, done := r.toks[got:], r.pieces[got:], r.done
		r.mu.Unlock()
		for i, t := range toks {
			res.gen = append(res.gen, t)
			if res.keep >= 0 {
				continue // sampled after the caller stopped the request: dropped
			}
			if ctx.Err() != nil {
				res.keep, res.cancelled = len(res.gen)-1, true
				r.stop.Store(true)
				continue
			}
			if holding && len(res.gen) > holdFrom {
				out.frozen = true
			}
			halt, err := out.push(pieces[i])
			if halt || err != nil {
				res.keep, res.halted, res.cbErr = len(res.gen), halt, err
				r.stop.Store(true)
			}
		}
		got += len(toks)
		if done {
			return res
		}
		<-r.notify
	}
}

// generateBatched is generate for an engine with several sessions: the
// prompt and the reply go through the batch loop, and e.mu is let go
// while they do. The caller holds e.mu, bound to the call's session.
func (e *Engine) generateBatched(ctx context.Context, toks []int32, s Sampling, fn TokenFunc) (string, Stats, error) {
	st, err := e.beginGen(ctx, toks)
	if err != nil {
		return "", st, err
	}
	p := e.keepPrefix(toks)
	t0 := time.Now()
	pre := e.prefix
	if e.pcache != nil && pre >= MinCachedPrefix && p < pre && pre < len(toks) {
		if e.restorePrefix(toks, pre) {
			p, st.RestoredTokens = pre, pre
		} else {
			// Decoded alone (between the loop's steps: this call holds
			// e.mu) and saved for the next session or process.
			p = min(p, len(e.cache))
			var rc C.int32_t
			e.w.do(func() {
				rc = C.sov_decode(e.lctx, (*C.llama_token)(unsafe.Pointer(&toks[p])), C.int32_t(pre-p), C.int32_t(e.nBatch), C.bool(e.flush), C.int32_t(e.seq), C.int32_t(p))
			})
			if rc != 0 {
				e.resetCache()
				return "", st, fmt.Errorf("llama.cpp decode failed (status %d)", int32(rc))
			}
			e.cache = append(e.cache, toks[p:pre]...)
			e.savePrefix()
			p = pre
		}
	}
	st.CachedTokens = p
	st.PromptTokens = len(toks) - p

	smpl, err := e.newSampler(s)
	if err != nil {
		return "", st, err
	}
	defer C.llama_sampler_free(smpl)

	r := &breq{
		ctx: ctx, seq: e.seq, prompt: toks[p:], pos: p, smpl: smpl,
		argmax:    s.argmax(),
		ignoreEOG: s.IgnoreEOG, maxTokens: max(s.MaxTokens, 0), room: e.nCtx - len(toks),
		notify: make(chan struct{}, 1),
	}
	if d := e.draftFor(s); d.max > 0 && e.dctx == nil {
		r.draft, r.hist = d, slices.Clone(toks)
	}
	out := newStreamer(s.Stop, fn)
	holding, holdFrom := e.holding, e.holdFrom
	seq := e.seq
	e.slots[seq].busy = true
	e.submit(r)
	var res streamed
	func() {
		e.mu.Unlock()
		defer func() {
			// Also when fn panics: the loop lets go of r (and its sampler)
			// before the call goes on.
			if !r.isDone() {
				r.stop.Store(true)
				for !r.isDone() {
					<-r.notify
				}
			}
			e.lock()
			e.switchTo(seq)
			e.slots[seq].busy = false
			e.cond.Broadcast()
		}()
		res = e.consume(ctx, r, out, holding, holdFrom)
	}()

	tPrompt := r.tPrompt
	if r.reason == genPrompt || tPrompt.IsZero() {
		// The loop ended r before its prompt was decoded: the part decoded
		// stays cached (a failed decode leaves nothing certain).
		if r.reason == genPrompt {
			e.resetCache()
			return "", st, fmt.Errorf("llama.cpp decode failed (status %d)", r.status)
		}
		e.cache = append(e.cache, toks[p:p+r.promptDec]...)
		st.StopReason = StopCancelled
		st.ContextUsed = len(e.cache)
		st.PromptDuration = time.Since(t0)
		if err := ctx.Err(); err != nil {
			return "", st, err
		}
		return "", st, ErrClosed
	}
	e.cache = append(e.cache, toks[p:]...)
	st.PromptDuration = tPrompt.Sub(t0)
	st.Drafted, st.DraftAccepted = r.drafted, r.accepted
	text, st, err := e.endGen(ctx, st, out, res, genEnd{reason: r.reason, status: r.status, ndecoded: r.ndecoded}, tPrompt)
	if err == nil && st.StopReason == StopCancelled && ctx.Err() == nil {
		err = ErrClosed // the engine closed under the call
	}
	return text, st, err
}

// switchTo makes sequence i the current one again after a batched call let
// go of e.mu (its slot was busy meanwhile, so it is still the call's).
func (e *Engine) switchTo(i int) {
	cur := &e.slots[e.seq]
	cur.cache, cur.last = e.cache, e.last
	e.seq = i
	e.cache, e.last = e.slots[i].cache, e.slots[i].last
}
