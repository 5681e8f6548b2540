package model

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import "unsafe"

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
// It runs in the single-sequence loop (Options.Sessions <= 1); sessions
// that generate together in the batch loop do not draft: with one KV
// stream per sequence llama.cpp splits a batch into micro-batches holding
// the same number of tokens of each sequence, so drafts of different
// lengths would cost the other sessions extra passes over the weights.

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
	return draftConf{max: draftMax, minN: draftMinNgram}
}

// setDraft arms g's drafting for a reply after toks (the whole context),
// with room tokens left.
func (e *Engine) setDraft(g *C.sov_gen, s Sampling, toks []int32, room int) {
	g.n_draft, g.draft_min, g.hist_len = 0, 0, 0
	g.drafted, g.accepted = 0, 0
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

// draftCost is what k drafted rows add to a one-token step, as the
// engine now estimates it.
func (e *Engine) draftCost(k int) float64 {
	return float64(e.gen.cost_a) + float64(e.gen.cost_b)*float64(k)
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
