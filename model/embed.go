package model

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"unsafe"
)

// embedCtxMax bounds the embedding context; mean pooling needs a whole text
// in one batch, so longer texts are truncated to this many tokens.
const embedCtxMax = 2048

// Embed returns mean-pooled, L2-normalised embeddings, one per text.
func (e *Engine) Embed(ctx context.Context, texts []string) (out [][]float32, err error) {
	e.lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	e.w.do(func() { out, err = e.embed(ctx, texts) })
	return out, err
}

func (e *Engine) embed(ctx context.Context, texts []string) ([][]float32, error) {
	n := min(e.info.ContextTrain, embedCtxMax)
	if n <= 0 {
		n = embedCtxMax
	}
	if e.embCtx == nil {
		e.embCtx = C.sov_new_context(e.model, C.uint32_t(n), C.uint32_t(n), C.uint32_t(n), C.int32_t(e.thr), C.int32_t(e.thr), true, -1, 1, nil)
		if e.embCtx == nil {
			return nil, fmt.Errorf("llama.cpp could not create an embedding context")
		}
	}
	dim := e.info.EmbeddingDim
	out := make([][]float32, 0, len(texts))
	for _, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		toks, err := e.tokenize(t, true, false)
		if err != nil {
			return nil, err
		}
		if len(toks) == 0 {
			out = append(out, make([]float32, dim))
			continue
		}
		toks = toks[:min(len(toks), n)]
		vec := make([]float32, dim)
		rc := C.sov_embed(e.embCtx, (*C.llama_token)(unsafe.Pointer(&toks[0])), C.int32_t(len(toks)), (*C.float)(unsafe.Pointer(&vec[0])), C.int32_t(dim), C.bool(e.flush))
		if rc != 0 {
			return nil, fmt.Errorf("llama.cpp embedding failed (status %d)", int32(rc))
		}
		normalize(vec)
		out = append(out, vec)
	}
	return out, nil
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}
