package model

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"log/slog"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// llama.cpp's log callback and backend initialisation are process-wide, so
// these two are the only package-level state: the logger the most recent
// Load asked for, and the one-time backend init.
var (
	initOnce  sync.Once
	logTarget atomic.Pointer[slog.Logger]
)

func backendInit() { initOnce.Do(func() { C.sov_init() }) }

func setLogger(l *slog.Logger) {
	backendInit()
	if l == nil {
		logTarget.Store(nil)
		C.sov_log_quiet()
		return
	}
	logTarget.Store(l)
	C.sov_log_to_go()
}

//export sovGoLog
func sovGoLog(level C.int, text *C.char) {
	l := logTarget.Load()
	if l == nil {
		return
	}
	msg := strings.TrimRight(C.GoString(text), "\n")
	if msg == "" {
		return
	}
	lvl := slog.LevelDebug
	switch level {
	case 3: // GGML_LOG_LEVEL_WARN
		lvl = slog.LevelWarn
	case 4: // GGML_LOG_LEVEL_ERROR
		lvl = slog.LevelError
	}
	l.Log(context.Background(), lvl, msg, "src", "llama.cpp")
}

//export sovGoProgress
func sovGoProgress(p C.float, handle C.uintptr_t) C._Bool {
	fn := cgo.Handle(handle).Value().(func(float32) bool)
	return C._Bool(fn(float32(p)))
}

// Device is a compute device llama.cpp found.
type Device struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Kind        string `json:"kind"` // "CPU", "GPU", "iGPU", "accelerator"
}

// Devices lists the devices of the compiled backends.
func Devices() []Device {
	backendInit()
	n := int(C.sov_dev_count())
	out := make([]Device, 0, n)
	for i := 0; i < n; i++ {
		kind := "CPU"
		switch C.sov_dev_type(C.int32_t(i)) {
		case 1:
			kind = "GPU"
		case 2:
			kind = "iGPU"
		case 3:
			kind = "accelerator"
		}
		out = append(out, Device{
			Name:        C.GoString(C.sov_dev_name(C.int32_t(i))),
			Description: C.GoString(C.sov_dev_desc(C.int32_t(i))),
			Kind:        kind,
		})
	}
	return out
}

// SystemInfo is llama.cpp's own summary of compiled CPU features.
func SystemInfo() string {
	backendInit()
	return strings.TrimSpace(C.GoString(C.llama_print_system_info()))
}

func cString(s string) *C.char { return C.CString(s) }
func freeC(p *C.char)          { C.free(unsafe.Pointer(p)) }

// LlamaCommit is the llama.cpp commit sov is built against: the PIN that
// scripts/llama-build.sh builds and verifies (a test keeps the two equal).
const LlamaCommit = "de3ff815ea7d559ee917f063901b8986f038abc6"

// Backends lists the compiled ggml backends ("CPU", "CUDA", "Metal"…).
func Backends() []string {
	backendInit()
	n := int(C.sov_reg_count())
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, C.GoString(C.sov_reg_name(C.int32_t(i))))
	}
	return out
}

// argmax is the greedy fast path's C helper, exposed for its tests.
func argmax(l []float32) int {
	if len(l) == 0 {
		return 0
	}
	return int(C.sov_argmax((*C.float)(unsafe.Pointer(&l[0])), C.int32_t(len(l))))
}

// kvPosMax is the last position the current sequence holds in the KV cache
// (-1 when empty); tests check it against the engine's own record.
func (e *Engine) kvPosMax() int {
	return int(C.llama_memory_seq_pos_max(C.llama_get_memory(e.lctx), C.llama_seq_id(e.seq)))
}

// rewind drops what the KV cache holds after its first n tokens and restores
// the previous turn's record, so a benchmark can time a turn again.
func (e *Engine) rewind(n int, last *lastTurn) {
	C.llama_memory_seq_rm(C.llama_get_memory(e.lctx), C.llama_seq_id(e.seq), C.llama_pos(n), -1)
	e.cache, e.last = e.cache[:n], last
}

// kvSnapshot is a copy of the current sequence's KV cache and the engine's record of
// it, so a benchmark can time a turn from an empty cache and then return to
// a long conversation without decoding it again.
type kvSnapshot struct {
	data  []byte
	cache []int32
	last  *lastTurn
}

func (e *Engine) snapshot() (kvSnapshot, error) {
	seq := C.llama_seq_id(e.seq)
	n := C.llama_state_seq_get_size(e.lctx, seq)
	s := kvSnapshot{data: make([]byte, int(n)), cache: append([]int32(nil), e.cache...), last: e.last}
	if n == 0 || C.llama_state_seq_get_data(e.lctx, (*C.uint8_t)(unsafe.Pointer(&s.data[0])), n, seq) != n {
		return s, errors.New("llama.cpp could not save the KV cache")
	}
	return s, nil
}

func (e *Engine) restore(s kvSnapshot) error {
	seq := C.llama_seq_id(e.seq)
	C.llama_memory_seq_rm(C.llama_get_memory(e.lctx), seq, -1, -1)
	if C.llama_state_seq_set_data(e.lctx, (*C.uint8_t)(unsafe.Pointer(&s.data[0])), C.size_t(len(s.data)), seq) == 0 {
		e.resetCache()
		return errors.New("llama.cpp could not restore the KV cache")
	}
	e.cache, e.last = append(e.cache[:0], s.cache...), s.last
	return nil
}
