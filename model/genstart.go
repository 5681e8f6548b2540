package model

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"unsafe"
)

// The set-up shared by the single-sequence loop (generate) and the batch loop
// (generateBatched), so the two cannot drift apart.

// beginGen checks a prompt before either loop touches the context. The Stats
// it returns are the call's, also on error.
func (e *Engine) beginGen(ctx context.Context, toks []int32) (Stats, error) {
	st := Stats{ContextSize: e.nCtx, Threads: e.thr}
	e.last = nil // Chat sets it again once the reply is in the cache
	e.undecoded = e.undecoded[:0]
	if len(toks) == 0 {
		return st, errors.New("empty prompt")
	}
	if len(toks) >= e.nCtx {
		return st, &ContextError{Needed: len(toks), Available: e.nCtx}
	}
	return st, ctx.Err()
}

// keepPrefix drops from the session's sequence what follows the part of the
// cache toks starts with, and returns how many tokens stay.
func (e *Engine) keepPrefix(toks []int32) int {
	mem := C.llama_get_memory(e.lctx)
	p := commonPrefix(e.cache, toks)
	if p == len(toks) {
		p-- // the last prompt token must be decoded again to get its logits
	}
	if !C.llama_memory_seq_rm(mem, C.llama_seq_id(e.seq), C.llama_pos(p), -1) {
		C.llama_memory_seq_rm(mem, C.llama_seq_id(e.seq), -1, -1)
		p = 0
	}
	e.cache = e.cache[:p]
	return p
}

// newSampler builds s's sampler chain; the caller frees it with
// llama_sampler_free. A grammar llama.cpp rejects is a *GrammarError.
func (e *Engine) newSampler(s Sampling) (*C.struct_llama_sampler, error) {
	// llama.cpp parses the grammar here and keeps no pointer to the text.
	var cgrammar *C.char
	var gerr cbuf
	if s.Grammar != "" {
		cgrammar = cString(s.Grammar)
		defer freeC(cgrammar)
		gerr = grammarErrBuf(s.Grammar)
		defer C.free(unsafe.Pointer(gerr.p))
	}
	lastN := s.RepeatLastN
	if lastN == 0 {
		lastN = 64
	}
	smpl := C.sov_sampler(e.vocab, C.float(s.Temperature), C.int32_t(s.TopK), C.float(s.TopP), C.float(s.MinP),
		C.float(s.RepeatPenalty), C.int32_t(lastN), C.uint32_t(s.Seed), cgrammar, gerr.p, gerr.n)
	if smpl == nil {
		return nil, grammarError(s.Grammar, C.GoString(gerr.p))
	}
	return smpl, nil
}

// argmax: s always picks the most likely token, so the loop may skip the
// sampler chain.
func (s Sampling) argmax() bool {
	return s.Temperature <= 0 && s.Grammar == "" && (s.RepeatPenalty == 0 || s.RepeatPenalty == 1)
}
