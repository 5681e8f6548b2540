package model

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/cgo"
	"strings"
	"unsafe"
)

// Prompt-lookup drafting (speculative decoding without a draft model).
// Replies often repeat text from their context: an answer quotes the
// passage it was given, an edit reproduces most of a file. After each
// token, the generation loop (gen_run in shim.c) looks for the longest
// recent n-gram ending at that token which occurred earlier in the
// context (prompt and reply so far), and decodes the tokens that followed
// it there together with the token, in one batch with logits for every
// row. On a CPU a batch of a few tokens costs little more than one (each
// pass reads all the weights from memory once either way), so every
// drafted token the model agrees with is a token gained. The sampler
// verifies the rows in order and the first token it chooses differently
// ends the draft: every token published is the sampler's own choice at
// its position, for greedy decoding, sampling chains and grammars alike.
// The rejected rows leave the KV cache at once.
//
// It runs in the single-sequence loop (Options.Sessions <= 1), and in the
// batch loop for a reply that generates alone (batchDraft); replies that
// generate together do not draft: with one KV stream per sequence
// llama.cpp splits a batch into micro-batches holding the same number of
// tokens of each sequence, so one reply's draft would cost the others
// another pass over the weights.

// Drafting parameters, measured on the two-core machine the benchmarks
// run on (BenchmarkLlamaDraft).
const (
	// draftMax is the most tokens one draft holds (at most SOV_DRAFT_MAX).
	draftMax = 10
	// draftMinNgram is the shortest n-gram whose earlier occurrence makes a
	// draft: a single token recurs too often by chance, and a wrong draft
	// costs the extra rows of the batch.
	draftMinNgram = 2
)

// draftConf is one call's drafting set-up.
type draftConf struct {
	max  int // draft tokens; 0 = off
	minN int
	// fixed: verify every draft in full instead of the length expected to
	// pay (tests: the lengths, and so which rows are batched, then do not
	// depend on timing).
	fixed bool
}

// draftFor says how a call drafts. Tests set e.draftOverride to tune it.
func (e *Engine) draftFor(s Sampling) draftConf {
	if e.noDraft || s.NoDraft {
		return draftConf{}
	}
	if e.draftOverride != nil {
		return *e.draftOverride
	}
	if e.dctx != nil {
		return draftConf{max: draftModelMax}
	}
	return draftConf{max: draftMax, minN: draftMinNgram}
}

// setDraft arms g's drafting for a reply after toks (the whole context),
// with room tokens left.
func (e *Engine) setDraft(g *C.sov_gen, s Sampling, toks []int32, room int) {
	g.n_draft, g.draft_min, g.hist_len = 0, 0, 0
	g.drafted, g.accepted = 0, 0
	g.dctx, g.dn, g.dfail = nil, 0, false
	d := e.draftFor(s)
	if d.max <= 0 {
		return
	}
	need := len(toks) + room + C.SOV_DRAFT_MAX + 1
	if need > e.histCap {
		if e.hist != nil {
			C.free(unsafe.Pointer(e.hist))
		}
		e.hist = (*C.llama_token)(C.malloc(C.size_t(need) * C.size_t(unsafe.Sizeof(C.llama_token(0)))))
		e.histCap = need
	}
	copy(unsafe.Slice((*int32)(unsafe.Pointer(e.hist)), len(toks)), toks)
	g.hist, g.hist_len = e.hist, C.int32_t(len(toks))
	g.n_draft = C.int32_t(min(d.max, C.SOV_DRAFT_MAX))
	g.draft_min = C.int32_t(d.minN)
	g.draft_fixed = C.bool(d.fixed)
	C.sov_gen_draft_reset(g)
	if e.dctx != nil {
		// The draft context keeps what this context shares with the last
		// one it decoded.
		n := 0
		for n < len(e.dtoks) && n < len(toks) && e.dtoks[n] == toks[n] {
			n++
		}
		// Trimmed always: a reply that ended without keepDraft (a panicking
		// callback) may have left more than e.dtoks records.
		if !C.llama_memory_seq_rm(C.llama_get_memory(e.dctx), 0, C.llama_pos(n), -1) {
			C.llama_memory_clear(C.llama_get_memory(e.dctx), true)
			n = 0
		}
		e.dtoks = e.dtoks[:n]
		g.dctx, g.dn, g.d_batch = e.dctx, C.int32_t(n), C.int32_t(e.nBatch)
		// A draft model found too slow is tried again now and then: the
		// machine's load, and so the two steps' costs, change.
		if g.dslow {
			if e.slowReplies++; e.slowReplies >= draftSlowRetry {
				g.dslow, g.dsteps, g.dstep_ns, e.slowReplies = false, 0, 0, 0
			}
		}
	}
}

// freeDraft frees the draft history buffer.
func (e *Engine) freeDraft() {
	if e.hist != nil {
		C.free(unsafe.Pointer(e.hist))
		e.hist, e.histCap = nil, 0
	}
}

// draftFind is sov_draft_find for tests.
func draftFind(hist []int32, minN, maxK int) []int32 {
	if len(hist) == 0 {
		return nil
	}
	out := make([]int32, C.SOV_DRAFT_MAX)
	var match C.int32_t
	n := int(C.sov_draft_find((*C.llama_token)(unsafe.Pointer(&hist[0])), C.int32_t(len(hist)), C.int32_t(minN), C.int32_t(min(maxK, C.SOV_DRAFT_MAX)), (*C.llama_token)(unsafe.Pointer(&out[0])), &match))
	return out[:n]
}

// kvLen is how many tokens the current sequence holds in the KV cache
// (tests: drafting must leave it equal to len(e.cache)).
func (e *Engine) kvLen() int {
	return int(C.llama_memory_seq_pos_max(C.llama_get_memory(e.lctx), C.llama_seq_id(e.seq))) + 1
}

// resetDraft empties the draft context's cache (benchmarks: each run
// starts cold).
func (e *Engine) resetDraft() {
	if e.dctx != nil {
		C.llama_memory_clear(C.llama_get_memory(e.dctx), true)
	}
	e.dtoks = e.dtoks[:0]
}

// draftKVLen is how many tokens the draft context holds (tests).
func (e *Engine) draftKVLen() int {
	return int(C.llama_memory_seq_pos_max(C.llama_get_memory(e.dctx), 0)) + 1
}

// draftLogits is the draft model's scores for the token after toks
// (tests): with cached, the draft context decodes toks beyond e.dtoks
// (which toks must start with) and then forgets them; otherwise a new
// context decodes all of toks.
func (e *Engine) draftLogits(toks []int32, cached bool) []float32 {
	out := make([]float32, int(C.llama_vocab_n_tokens(C.llama_model_get_vocab(e.dmodel))))
	e.w.do(func() {
		dctx, from := e.dctx, len(e.dtoks)
		if !cached {
			dctx, from = C.sov_new_context(e.dmodel, C.uint32_t(e.nCtx), C.uint32_t(e.nBatch), 512, C.int32_t(e.thr), C.int32_t(e.thr), false, 0, 1, nil), 0
			defer C.llama_free(dctx)
		}
		if C.sov_decode(dctx, (*C.llama_token)(unsafe.Pointer(&toks[from])), C.int32_t(len(toks)-from), C.int32_t(e.nBatch), C.bool(e.flush), 0, C.int32_t(from)) != 0 {
			panic("draftLogits: decode failed")
		}
		copy(out, unsafe.Slice((*float32)(unsafe.Pointer(C.llama_get_logits_ith(dctx, -1))), len(out)))
		if cached {
			C.llama_memory_seq_rm(C.llama_get_memory(dctx), 0, C.llama_pos(from), -1)
		}
	})
	return out
}

// draftCost is what k drafted rows add to a one-token step, as the
// engine now estimates it.
func (e *Engine) draftCost(k int) float64 {
	g := e.gen
	if e.bat != nil && e.bat.dgen != nil {
		g = e.bat.dgen
	}
	return float64(g.cost_a) + float64(g.cost_b)*float64(k)
}

// draftLen is sov_draft_len for tests: the draft length chosen for m
// drafted tokens after an n-gram of match tokens, when k drafted rows add
// first + row*(k-1) to a one-token step and drafts after such n-grams were
// right ok times and wrong miss times.
func draftLen(first, row, ok, miss float32, m, match int) int {
	g := C.sov_gen_new()
	defer C.sov_gen_free(g)
	C.sov_gen_draft_reset(g)
	g.cost_a, g.cost_b = C.float(first-row), C.float(row)
	for i := range C.SOV_DRAFT_BUCKETS {
		g.acc_ok[i], g.acc_miss[i] = C.float(ok), C.float(miss)
	}
	return int(C.sov_draft_len(g, C.int32_t(m), C.int32_t(match)))
}

// Drafting with a draft model. A small model of the same family (same
// vocabulary) drafts greedily, token by token, while it is confident and
// each token is expected to pay for its draft step and its row in the
// verifying batch (gen_model_draft in shim.c); the model verifies the
// draft exactly as it verifies a prompt-lookup one. The draft context
// keeps its KV cache across replies: a conversation's next turn decodes
// only what is new to it.

// draftModelMax bounds a draft model's draft (at most SOV_DRAFT_MAX).
const draftModelMax = 12

// draftSlowRetry is after how many replies a draft model found too slow
// to pay is measured again.
const draftSlowRetry = 32

// loadDraft loads Options.DraftModel beside the model and checks that its
// vocabulary can draft for it. nSeq is the model's session count, fa its
// flash-attention mode.
func (e *Engine) loadDraft(ctx context.Context, opts Options, ngl int, fa, nSeq int) error {
	if nSeq > 1 {
		return fmt.Errorf("%w: a draft model drafts for a single session, and %d were asked for", ErrDraftModel, nSeq)
	}
	if err := CheckFile(opts.DraftModel); err != nil {
		return fmt.Errorf("draft model: %w", err)
	}
	cpath := cString(opts.DraftModel)
	defer freeC(cpath)
	handle := cgo.NewHandle(func(float32) bool { return ctx.Err() == nil })
	defer handle.Delete()
	e.w.do(func() { e.dmodel = C.sov_load_model(cpath, C.int32_t(ngl), C.bool(!opts.NoMmap), C.uintptr_t(handle)) })
	if e.dmodel == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("llama.cpp could not load the draft model %s: the file is damaged or its architecture is not supported by this build", opts.DraftModel)
	}
	if C.llama_model_is_recurrent(e.dmodel) || C.llama_model_is_hybrid(e.dmodel) {
		// Its state cannot drop the rejected tokens of a draft.
		return fmt.Errorf("%w: %s is a recurrent model, whose state cannot take back rejected drafts; use a transformer model of the same family", ErrDraftModel, opts.DraftModel)
	}
	var id C.int32_t
	switch C.sov_vocab_compatible(e.vocab, C.llama_model_get_vocab(e.dmodel), &id) {
	case 0:
	case 1:
		return fmt.Errorf("%w: %s uses another kind of tokenizer than %s; use a smaller model of the same family", ErrDraftModel, opts.DraftModel, opts.Path)
	case 2:
		return fmt.Errorf("%w: %s has other special tokens (BOS, EOS) than %s; use a smaller model of the same family", ErrDraftModel, opts.DraftModel, opts.Path)
	case 3:
		return fmt.Errorf("%w: %s has %d tokens and %s %d; use a smaller model of the same family", ErrDraftModel, opts.DraftModel,
			int(C.llama_vocab_n_tokens(C.llama_model_get_vocab(e.dmodel))), opts.Path, int(C.llama_vocab_n_tokens(e.vocab)))
	default:
		return fmt.Errorf("%w: token %d of %s is not the same as in %s; use a smaller model of the same family", ErrDraftModel, int(id), opts.DraftModel, opts.Path)
	}
	e.w.do(func() {
		e.dctx = C.sov_new_context(e.dmodel, C.uint32_t(e.nCtx), C.uint32_t(e.nBatch), C.uint32_t(min(512, e.nBatch)), C.int32_t(e.thr), C.int32_t(e.thr), false, C.int32_t(fa), 1, e.abort)
	})
	if e.dctx == nil {
		return fmt.Errorf("llama.cpp could not create a context of %d tokens for the draft model %s: lower the context size", e.nCtx, opts.DraftModel)
	}
	// Its first steps, timed to judge whether it pays, then run warm.
	e.w.do(func() { C.sov_warmup(e.dctx, C.llama_model_get_vocab(e.dmodel), C.bool(e.flush)) })
	return nil
}

// draftInfo is Info.DraftModel: the draft model's name.
func (e *Engine) draftInfo(path string) string {
	if e.dmodel == nil {
		return ""
	}
	if n := modelMeta(e.dmodel, "general.name"); n != "" {
		return n
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// keepDraft records, once a reply's loop has ended, what the draft
// context's KV cache holds: the start of the loop's history.
func (e *Engine) keepDraft(g *C.sov_gen) {
	if g.dctx == nil {
		return
	}
	if bool(g.dslow) && !e.dslow && e.logger != nil {
		e.logger.Warn("the draft model's step costs at least half the model's: drafting with it cannot pay, so it is off (use a smaller draft model)",
			"draft_ms", float64(g.dstep_ns)/1e6, "model_ms", float64(g.step_ns)/1e6)
	}
	e.dslow = e.dslow || bool(g.dslow)
	e.dtoks = append(e.dtoks[:0], unsafe.Slice((*int32)(unsafe.Pointer(g.hist)), int(g.dn))...)
}
