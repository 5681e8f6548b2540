package model

/*
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/sovos/sov/internal/filehash"
)

// The prompt cache keeps the KV state of long conversation prefixes (the
// system prompt, with an agent's tool descriptions) on disk, so a new
// session, or a new process, restores them instead of decoding them again.
// Files are named by a hash of the model file's sha256, the prefix's tokens
// and the KV layout (llama.cpp's saved state of a sequence restores only
// into the same sequence of a context with as many sequences, so an engine
// with Options.Sessions > 1 keeps a file per session slot); each holds a
// header that repeats the sha256 and the tokens and a sha256 of the state,
// and a file that does not match (another model, a corrupt or truncated
// file) is ignored with a warning and replaced by a fresh one.

// MinCachedPrefix is the shortest prefix, in tokens, that is worth a file.
const MinCachedPrefix = 256

const promptCacheMagic = "SOVKV001"

type promptCache struct {
	dir  string
	path string // the model file
	warn func(string)

	once sync.Once
	sha  [32]byte
	err  error
}

// modelSHA is the model file's sha256, computed once per engine and
// remembered in the cache folder by path, size and modification time, so
// a large model is hashed once, not on every start.
func (pc *promptCache) modelSHA() ([32]byte, error) {
	pc.once.Do(func() {
		pc.sha, pc.err = filehash.SHA256(pc.path, filepath.Join(pc.dir, "models.json"))
	})
	return pc.sha, pc.err
}

func tokenBytes(toks []int32) []byte {
	b := make([]byte, 4*len(toks))
	for i, t := range toks {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
	}
	return b
}

func (pc *promptCache) file(prefix []int32, layout [2]int) (string, [32]byte, error) {
	sha, err := pc.modelSHA()
	if err != nil {
		return "", sha, err
	}
	h := sha256.New()
	h.Write(sha[:])
	fmt.Fprintf(h, "seqs=%d seq=%d;", layout[0], layout[1])
	h.Write(tokenBytes(prefix))
	return filepath.Join(pc.dir, hex.EncodeToString(h.Sum(nil))[:32]+".kv"), sha, nil
}

// errCacheMismatch marks a cache file that belongs to something else.
var errCacheMismatch = errors.New("prompt cache file does not match")

// load reads the state saved for prefix; (nil, nil) when there is none.
func (pc *promptCache) load(prefix []int32, layout [2]int) ([]byte, error) {
	name, sha, err := pc.file(prefix, layout)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	toks := tokenBytes(prefix)
	head := len(promptCacheMagic) + 32 + 8 + len(toks) + 32
	switch {
	case len(b) < head || string(b[:8]) != promptCacheMagic:
		return nil, fmt.Errorf("%w: %s is truncated or not a sov prompt cache", errCacheMismatch, name)
	case !bytes.Equal(b[8:40], sha[:]):
		return nil, fmt.Errorf("%w: %s was written for another model file", errCacheMismatch, name)
	case binary.LittleEndian.Uint64(b[40:48]) != uint64(len(prefix)) || !bytes.Equal(b[48:48+len(toks)], toks):
		return nil, fmt.Errorf("%w: %s holds another prompt", errCacheMismatch, name)
	}
	sum, state := b[48+len(toks):head], b[head:]
	if got := sha256.Sum256(state); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: %s is corrupt (checksum)", errCacheMismatch, name)
	}
	return state, nil
}

func (pc *promptCache) save(prefix []int32, layout [2]int, state []byte) error {
	name, sha, err := pc.file(prefix, layout)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(promptCacheMagic)
	b.Write(sha[:])
	binary.Write(&b, binary.LittleEndian, uint64(len(prefix)))
	b.Write(tokenBytes(prefix))
	sum := sha256.Sum256(state)
	b.Write(sum[:])
	b.Write(state)
	return writeAtomic(name, b.Bytes())
}

// writeAtomic writes a file whole or not at all: a killed process or a full
// disk leaves the old file (or none), never half of a new one.
func writeAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// restorePrefix puts the cached state of toks[:n] into the current
// sequence; false when there is no usable file. The caller holds e.mu.
func (e *Engine) restorePrefix(toks []int32, n int) bool {
	state, err := e.pcache.load(toks[:n], e.kvLayout())
	if err != nil {
		e.pcache.warn(fmt.Sprintf("prompt cache ignored, decoding afresh: %v", err))
		return false
	}
	if state == nil {
		return false
	}
	seq := C.llama_seq_id(e.seq)
	C.llama_memory_seq_rm(C.llama_get_memory(e.lctx), seq, -1, -1)
	var got C.size_t
	e.w.do(func() {
		got = C.llama_state_seq_set_data(e.lctx, (*C.uint8_t)(unsafe.Pointer(&state[0])), C.size_t(len(state)), seq)
	})
	if got == 0 {
		e.resetCache()
		e.pcache.warn("prompt cache ignored, decoding afresh: llama.cpp could not restore the saved KV state")
		return false
	}
	e.cache = append(e.cache[:0], toks[:n]...)
	return true
}

// savePrefix writes the current sequence's state, which holds exactly the
// prefix, to the cache. Failing to save (a full disk) costs only speed.
func (e *Engine) savePrefix() {
	seq := C.llama_seq_id(e.seq)
	n := C.llama_state_seq_get_size(e.lctx, seq)
	if n == 0 {
		return
	}
	state := make([]byte, int(n))
	if C.llama_state_seq_get_data(e.lctx, (*C.uint8_t)(unsafe.Pointer(&state[0])), n, seq) != n {
		return
	}
	if err := e.pcache.save(e.cache, e.kvLayout(), state); err != nil {
		e.pcache.warn(fmt.Sprintf("prompt cache not saved: %v", err))
	}
}

// kvLayout is the number of sequences and the current one: a saved state
// restores only where both are the same.
func (e *Engine) kvLayout() [2]int { return [2]int{len(e.slots), e.seq} }
