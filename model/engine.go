package model

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/cgo"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/sovos/sov/internal/procmem"
	"github.com/sovos/sov/model/grammar"
)

// Errors callers may test for with errors.Is. None names a CLI flag: each
// caller (the CLI, the shell, an agent) writes its own hint.
var (
	// ErrPromptTooLong: the prompt does not fit the context; errors.As
	// gives a *ContextError with the figures.
	ErrPromptTooLong = errors.New("prompt does not fit the context")
	ErrClosed        = errors.New("engine is closed")
	ErrBadGrammar    = errors.New("invalid grammar")
	// ErrDamaged: the model computes NaN (its weights hold NaN); errors.As
	// gives a *DamagedError with the file.
	ErrDamaged = errors.New("the model file is damaged")
	// ErrDraftModel: Options.DraftModel cannot draft for the model (another
	// vocabulary, or more than one session).
	ErrDraftModel = errors.New("the draft model cannot draft for this model")
)

// DamagedError is a model whose scores for the next token are NaN, which
// healthy weights never give. It matches ErrDamaged.
type DamagedError struct{ Path string }

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the model file %s is damaged: its weights compute NaN (not a number), so it cannot generate; download it again, or use another model", e.Path)
}

// Is makes errors.Is(err, ErrDamaged) hold.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// ContextError says by how much a prompt misses the context. It matches
// ErrPromptTooLong.
type ContextError struct {
	Needed    int // tokens in the prompt
	Available int // the context size
	Reserved  int // tokens kept free for the reply
}

func (e *ContextError) Error() string {
	if e.Reserved > 0 {
		return fmt.Sprintf("prompt does not fit the context: the prompt is %d tokens and the context holds %d (with %d kept for the reply)", e.Needed, e.Available, e.Reserved)
	}
	return fmt.Sprintf("prompt does not fit the context: the prompt is %d tokens and the context holds %d", e.Needed, e.Available)
}

// Is makes errors.Is(err, ErrPromptTooLong) hold.
func (e *ContextError) Is(target error) bool { return target == ErrPromptTooLong }

// Engine is a loaded model with one inference context.
type Engine struct {
	mu     sync.Mutex
	model  *C.struct_llama_model
	vocab  *C.struct_llama_vocab
	lctx   *C.struct_llama_context
	embCtx *C.struct_llama_context
	abort  *C.sov_abort
	w      *worker // the thread every llama.cpp compute call runs on
	gen    *C.sov_gen
	events *os.File // read end of the pipe sov_gen_run signals on
	evw    *os.File
	nCtx   int
	nBatch int
	thr    int      // compute threads llama.cpp uses now (gov.cur)
	gov    governor // fits thr to the cores other work leaves free
	flush  bool     // compute with subnormals flushed to zero (Options.Subnormals unset)
	cache  []int32  // tokens held in the KV cache for sequence seq
	last   *lastTurn
	// undecoded: the tokens the last generation kept that are not in the
	// KV cache (its last token, when the token limit or the context ended
	// it: a reply ends before its last token is decoded). Set by endGen,
	// read right after it.
	undecoded []int32
	seq       int    // the sequence (slot) the calls work on; see bind
	slots     []slot // one per KV sequence
	tick      uint64 // orders slots by last use
	def       *Session
	tmpl      string       // the GGUF's chat template, when llama.cpp can apply it
	pcache    *promptCache // nil without Options.PromptCache
	prefix    int          // tokens of the current call's system prefix (for the prompt cache)
	// holding: the current call's streamer holds back the text of
	// generated tokens from holdFrom on, which a forced close may take
	// back (see generateClosing).
	holding  bool
	holdFrom int
	info     Info
	closed   bool
	// bat batches the generation of sessions that run at once (Sessions >
	// 1); nil with one session. cond (on mu) signals a slot or the batch
	// loop coming free.
	bat  *batcher
	cond *sync.Cond
	// lockWaiters counts calls waiting in lock; the batch loop lets them
	// have e.mu before its next step, and lockYield (cap 1) wakes it once
	// none is left.
	lockWaiters atomic.Int32
	lockYield   chan struct{}
	// arriving counts calls announced by Session.Expect that have not
	// reached the engine yet.
	arriving atomic.Int32
	// vocabMu guards the vocabulary for Tokenize, which runs without mu;
	// vocabGone is set once Close is about to free the model.
	vocabMu   sync.RWMutex
	vocabGone bool
	// Prompt-lookup drafting (draft.go): off with Options.NoDraft; hist is
	// the C buffer of context tokens the loop searches.
	noDraft       bool
	draftOverride *draftConf // tests
	hist          *C.llama_token
	histCap       int
	// A draft model (Options.DraftModel, draft.go): its context's
	// sequence 0 holds dtoks in its KV cache.
	dmodel *C.struct_llama_model
	dctx   *C.struct_llama_context
	dtoks  []int32
	dslow  bool // said that the draft model is too slow to pay
	// slowReplies counts replies since the draft model was found too slow.
	slowReplies int
	logger      *slog.Logger
}

// Load loads a GGUF model and creates its inference context.
func Load(ctx context.Context, opts Options) (*Engine, error) {
	if err := CheckFile(opts.Path); err != nil {
		return nil, err
	}
	ngl := opts.GPULayers
	if ngl < 0 {
		ngl = -1 // all layers; llama.cpp keeps them on the CPU when no GPU exists
	}
	// Where the CPU computes, the thread count follows the machine's load,
	// read first from here to when the context is made (see cpuload.go).
	meter := opts.meter
	if meter == nil {
		meter = systemMeter()
	}
	if backendName(ngl) != "CPU" || opts.Threads == 1 {
		meter = nil
	}
	var loadStart cpuSample
	measured := false
	if meter != nil && opts.Threads <= 0 && DefaultThreads() > 1 {
		if s, err := meter.sample(); err == nil {
			loadStart, measured = s, true
		}
	}
	trimmed := make(chan struct{})
	if opts.TrimMemory {
		// Checking the GGUF left its metadata (a whole vocabulary) as
		// garbage. The collection runs on the other core while llama.cpp
		// maps the model, which takes longer.
		go func() {
			defer close(trimmed)
			debug.FreeOSMemory()
			procmem.ReleaseExecutablePages() // best effort: only RSS is at stake
		}()
	} else {
		close(trimmed)
	}
	defer func() { <-trimmed }()
	setLogger(opts.Logger)
	var handle cgo.Handle
	progress := func(p float32) bool {
		if ctx.Err() != nil {
			return false
		}
		if opts.Progress != nil {
			return opts.Progress(p)
		}
		return true
	}
	handle = cgo.NewHandle(progress)
	defer handle.Delete()
	cpath := cString(opts.Path)
	defer freeC(cpath)
	w := newWorker()
	var m *C.struct_llama_model
	w.do(func() { m = C.sov_load_model(cpath, C.int32_t(ngl), C.bool(!opts.NoMmap), C.uintptr_t(handle)) })
	if m == nil {
		w.stop()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("llama.cpp could not load %s: the file is damaged or its architecture is not supported by this build; download it again, or use another model", opts.Path)
	}
	e := &Engine{model: m, vocab: C.llama_model_get_vocab(m), w: w, flush: !opts.Subnormals, noDraft: opts.NoDraft, logger: opts.Logger}
	e.cond = sync.NewCond(&e.mu)
	e.lockYield = make(chan struct{}, 1)
	ok := false
	defer func() {
		if !ok {
			e.free()
		}
	}()
	train := int(C.llama_model_n_ctx_train(m))
	e.nCtx = opts.ContextSize
	if e.nCtx <= 0 {
		e.nCtx = min(train, 4096)
		if e.nCtx <= 0 {
			e.nCtx = 4096
		}
	}
	e.nBatch = opts.BatchSize
	if e.nBatch <= 0 {
		e.nBatch = 2048
	}
	e.nBatch = min(e.nBatch, e.nCtx)
	nSeq := max(opts.Sessions, 1)
	ubatch := min(512, e.nBatch)
	e.thr = opts.Threads
	if e.thr <= 0 {
		e.thr = DefaultThreads()
	}
	e.gov = governor{meter: meter, auto: opts.Threads <= 0, limit: e.thr, cur: e.thr, report: opts.OnBusy, logger: opts.Logger}
	if e.gov.report == nil && opts.Logger != nil {
		e.gov.report = func(b Busy) { opts.Logger.Warn(b.String()) }
	}
	if measured {
		e.gov.choose(ctx, loadStart)
		e.thr = e.gov.cur
		if opts.Logger != nil {
			opts.Logger.Debug("compute threads", "threads", e.thr, "of", e.gov.limit)
		}
	}
	fa, err := flashAttnMode(opts.FlashAttn, ngl)
	if err != nil {
		return nil, err
	}
	e.abort = C.sov_abort_new()
	w.do(func() {
		e.lctx = C.sov_new_context(m, C.uint32_t(e.nCtx*nSeq), C.uint32_t(e.nBatch), C.uint32_t(ubatch), C.int32_t(e.thr), C.int32_t(e.thr), false, C.int32_t(fa), C.uint32_t(nSeq), e.abort)
	})
	if e.lctx == nil {
		return nil, fmt.Errorf("llama.cpp could not create a context of %d tokens for %s (%d sessions): lower the context size", e.nCtx*nSeq, opts.Path, nSeq)
	}
	// Each sequence has n_ctx / n_seq cells; llama.cpp may round.
	e.nCtx = min(e.nCtx, int(C.llama_n_ctx_seq(e.lctx)))
	e.slots = make([]slot, nSeq)
	if nSeq > 1 {
		e.bat = newBatcher(e.nBatch, nSeq)
	}
	e.def = e.NewSession()
	if opts.PromptCache != "" {
		abs, err := filepath.Abs(opts.Path)
		if err != nil {
			return nil, err
		}
		warn := opts.Warn
		if warn == nil {
			warn = func(msg string) {
				if opts.Logger != nil {
					opts.Logger.Warn(msg)
				}
			}
		}
		e.pcache = &promptCache{dir: opts.PromptCache, path: abs, warn: warn}
	}
	if opts.DraftModel != "" {
		if err := e.loadDraft(ctx, opts, ngl, fa, nSeq); err != nil {
			return nil, err
		}
	}
	w.do(func() {
		C.sov_warmup(e.lctx, e.vocab, C.bool(e.flush))
		C.sov_fp_team(C.bool(e.flush), C.int32_t(e.thr))
	})
	if e.gen = C.sov_gen_new(); e.gen == nil {
		return nil, errors.New("out of memory")
	}
	if e.events, e.evw, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("create the generation event pipe: %w", err)
	}
	e.gen.wfd = C.int(e.evw.Fd())
	hasTemplate := false
	if t := C.llama_model_chat_template(m, nil); t != nil {
		e.tmpl, hasTemplate = C.GoString(t), true
	}
	e.info = Info{
		Path:         opts.Path,
		Name:         e.meta("general.name"),
		Architecture: e.meta("general.architecture"),
		Parameters:   uint64(C.llama_model_n_params(m)),
		ContextTrain: train,
		EmbeddingDim: int(C.llama_model_n_embd(m)),
		HasTemplate:  hasTemplate,
		Backend:      backendName(ngl),
		GPULayers:    ngl,
		Sessions:     nSeq,
		DraftModel:   e.draftInfo(opts.DraftModel),
	}
	if e.info.Name == "" {
		e.info.Name = strings.TrimSuffix(filepath.Base(opts.Path), filepath.Ext(opts.Path))
	}
	if hasTemplate {
		// llama.cpp has no Jinja engine: it recognises a template by its
		// markers (ChatML, Llama 2/3, Gemma, Mistral, …). One it does not
		// recognise falls back to the plain format, said once here rather
		// than discovered as a poor reply.
		if _, err := e.applyTemplate([]Message{{Role: RoleUser, Content: "x"}}); errors.Is(err, errUnknownTemplate) {
			e.tmpl = ""
			e.info.TemplateWarning = fmt.Sprintf("the chat template of %s is not one llama.cpp recognises: chat turns are sent as plain text without roles, so replies may be poor (use a GGUF with a standard template such as ChatML)", printable(e.info.Name))
			if opts.Logger != nil {
				opts.Logger.Warn(e.info.TemplateWarning)
			}
		}
	}
	if opts.TrimMemory {
		// Again, for the loader's code: generation uses a small part of it.
		<-trimmed
		procmem.ReleaseExecutablePages()
	}
	ok = true
	return e, nil
}

// fpProbe reports, as bit i, whether thread i of the engine's compute team
// (0 = the worker thread itself, between calls) flushes subnormals.
func (e *Engine) fpProbe() uint32 {
	var m C.uint32_t
	e.w.do(func() { m = C.sov_fp_probe(C.int32_t(e.thr)) })
	return uint32(m)
}

// flashAttnMode maps Options.FlashAttn to llama.cpp's flash_attn_type.
func flashAttnMode(s string, ngl int) (int, error) {
	switch s {
	case "":
		if ngl == 0 || !hasGPU() {
			return 0, nil
		}
		return -1, nil
	case "auto":
		return -1, nil
	case "on":
		return 1, nil
	case "off":
		return 0, nil
	}
	return 0, fmt.Errorf("flash attention %q: use on, off or auto", s)
}

func hasGPU() bool {
	for _, d := range Devices() {
		if d.Kind == "GPU" || d.Kind == "iGPU" {
			return true
		}
	}
	return false
}

// DefaultThreads is the most threads an engine uses when Options.Threads
// is 0: one per CPU the process may run on. It uses fewer while other
// processes keep some of them busy.
func DefaultThreads() int { return max(1, runtime.NumCPU()) }

func backendName(ngl int) string {
	if ngl == 0 {
		return "CPU"
	}
	for _, d := range Devices() {
		if d.Kind == "GPU" || d.Kind == "iGPU" {
			switch {
			case strings.HasPrefix(d.Name, "CUDA"):
				return "CUDA"
			case strings.HasPrefix(d.Name, "Metal") || strings.HasPrefix(d.Name, "MTL"):
				return "Metal"
			default:
				return d.Name
			}
		}
	}
	return "CPU"
}

// CheckFile gives a clear error for a path that is missing or not a GGUF
// model before llama.cpp sees it.
func CheckFile(path string) error {
	if path == "" {
		return errors.New("no model file given")
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("model file %s not found: check the path", path)
	}
	if err != nil {
		return fmt.Errorf("open model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open model: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a GGUF model file", path)
	}
	return validateGGUF(f, st.Size(), path)
}

func (e *Engine) meta(key string) string { return modelMeta(e.model, key) }

// modelMeta is a string of m's GGUF metadata ("" when absent).
func modelMeta(m *C.struct_llama_model, key string) string {
	ck := cString(key)
	defer freeC(ck)
	buf := make([]byte, 512)
	n := C.llama_model_meta_val_str(m, ck, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if n < 0 {
		return ""
	}
	return string(buf[:min(int(n), len(buf)-1)])
}

// Info describes the loaded model.
func (e *Engine) Info() Info { return e.info }

// ContextSize is the context window in tokens.
func (e *Engine) ContextSize() int { return e.nCtx }

// Close frees the model and its contexts.
func (e *Engine) Close() error {
	e.lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	// Batched calls run without mu: the loop ends them (closed), and
	// each gives its slot back before the context goes.
	e.cond.Broadcast()
	for e.bat != nil && (e.bat.running || slices.ContainsFunc(e.slots, func(s slot) bool { return s.busy })) {
		e.cond.Wait()
	}
	e.vocabMu.Lock()
	e.vocabGone = true
	e.vocabMu.Unlock()
	e.free()
	return nil
}

func (e *Engine) free() {
	if e.w != nil {
		e.w.do(e.freeC)
		e.w.stop()
		e.w = nil
		return
	}
	e.freeC()
}

func (e *Engine) freeC() {
	if e.embCtx != nil {
		C.llama_free(e.embCtx)
		e.embCtx = nil
	}
	for _, c := range []**C.struct_llama_context{&e.lctx, &e.dctx} {
		if *c != nil {
			C.llama_free(*c)
			*c = nil
		}
	}
	for _, m := range []**C.struct_llama_model{&e.dmodel, &e.model} {
		if *m != nil {
			C.llama_model_free(*m)
			*m = nil
		}
	}
	if e.abort != nil {
		C.sov_abort_free(e.abort)
		e.abort = nil
	}
	if e.gen != nil {
		C.sov_gen_free(e.gen)
		e.gen = nil
	}
	e.bat.free()
	e.freeDraft()
	for _, f := range []*os.File{e.events, e.evw} {
		if f != nil {
			f.Close()
		}
	}
	e.events, e.evw = nil, nil
}

// Tokenize converts text to tokens. addSpecial adds BOS where the model
// wants it; special-token text (e.g. "<|im_end|>") is parsed only in
// rendered chat templates, never in plain text.
//
// It does not wait for the engine: the vocabulary does not change while
// the model is loaded, and a server counts a request's tokens while other
// sessions decode (taking e.mu would cost it a step of the batch loop).
func (e *Engine) Tokenize(text string, addSpecial bool) ([]int32, error) {
	e.vocabMu.RLock()
	defer e.vocabMu.RUnlock()
	if e.vocabGone {
		return nil, ErrClosed
	}
	return e.tokenize(text, addSpecial, false)
}

func (e *Engine) tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	ct := cString(text)
	defer freeC(ct)
	n := len(text) + 8
	for range 2 {
		buf := make([]int32, n)
		got := C.llama_tokenize(e.vocab, ct, C.int32_t(len(text)), (*C.llama_token)(unsafe.Pointer(&buf[0])), C.int32_t(n), C.bool(addSpecial), C.bool(parseSpecial))
		if got >= 0 {
			return buf[:got], nil
		}
		if got == math.MinInt32 {
			return nil, errors.New("tokenize: text too long")
		}
		n = int(-got)
	}
	return nil, errors.New("tokenize failed")
}

// Detokenize converts tokens back to text.
func (e *Engine) Detokenize(tokens []int32) string {
	e.lock()
	defer e.mu.Unlock()
	if e.closed {
		return ""
	}
	return e.detokenize(tokens)
}

func (e *Engine) detokenize(tokens []int32) string {
	var sb strings.Builder
	buf := make([]byte, 256)
	for _, t := range tokens {
		n := C.llama_token_to_piece(e.vocab, C.llama_token(t), (*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), 0, false)
		if n > 0 {
			sb.Write(buf[:n])
		}
	}
	return sb.String()
}

// Complete continues prompt as plain text (no chat template), in the
// engine's default session.
func (e *Engine) Complete(ctx context.Context, prompt string, s Sampling, fn TokenFunc) (string, Stats, error) {
	return e.def.Complete(ctx, prompt, s, fn)
}

func (e *Engine) complete(ctx context.Context, sess *Session, prompt string, s Sampling, fn TokenFunc) (string, Stats, error) {
	e.lock()
	defer e.mu.Unlock()
	if err := e.bind(sess); err != nil {
		return "", Stats{}, err
	}
	toks, err := e.tokenize(prompt, true, false)
	if err != nil {
		return "", Stats{}, err
	}
	return e.generateOnWorker(ctx, toks, s, fn)
}

// Chat renders msgs with the model's chat template (or the plain fallback)
// and generates the assistant's reply. The KV cache is reused for the
// longest common token prefix with the previous call.
//
// When the conversation no longer fits, the oldest messages after the
// system prompt are dropped (a sliding window); when even the system prompt
// and the last message do not fit, ErrPromptTooLong is returned.
//
// Engine.Chat works in the engine's default session; conversations that
// alternate on one engine each take their own (NewSession).
func (e *Engine) Chat(ctx context.Context, msgs []Message, s Sampling, fn TokenFunc) (string, Stats, error) {
	return e.def.Chat(ctx, msgs, s, fn)
}

func (e *Engine) chat(ctx context.Context, sess *Session, msgs []Message, s Sampling, fn TokenFunc) (string, Stats, error) {
	return e.chatClosing(ctx, sess, msgs, s, fn, nil)
}

// chatClosing is chat; with comp (s.Grammar's completer) a reply that
// reaches the token limit is closed instead of cut (generateClosing).
func (e *Engine) chatClosing(ctx context.Context, sess *Session, msgs []Message, s Sampling, fn TokenFunc, comp *grammar.Completer) (string, Stats, error) {
	e.lock()
	defer e.mu.Unlock()
	if err := e.bind(sess); err != nil {
		return "", Stats{}, err
	}
	toks, text, plain, err := e.fitChat(msgs, s)
	if err != nil {
		return "", Stats{}, err
	}
	e.prefix = e.systemPrefix(msgs, toks, plain)
	defer func() { e.prefix = 0 }()
	var (
		reply string
		st    Stats
	)
	if comp != nil {
		reply, st, err = e.generateClosing(ctx, toks, s, fn, comp)
	} else {
		reply, st, err = e.generateOnWorker(ctx, toks, s, fn)
	}
	if len(e.cache) >= len(toks) {
		e.last = &lastTurn{text: text, prompt: len(toks), plain: plain}
		// The reply's own tokens are kept for it unless a stop string cut
		// the text short of them. (Where the reply's text had bytes that are
		// not UTF-8 replaced, the tokens still say what the model wrote.)
		if err == nil && st.StopReason != StopString && len(e.cache)+len(e.undecoded) == len(toks)+st.GeneratedTokens {
			e.last.reply, e.last.n, e.last.tail = reply, len(e.cache), slices.Clone(e.undecoded)
		}
	}
	return reply, st, err
}

// lastTurn is the previous Chat call: its rendered prompt and its reply,
// whose tokens (as the model generated them) end the KV cache. The next
// turn's rendering starts with that prompt and reply, but tokenizing the
// reply's text often gives other tokens than the model generated (a word
// split differently), which would send the whole reply through the model
// again. So the next turn keeps the cached tokens and tokenizes only the
// text after the reply.
type lastTurn struct {
	text   string // the rendered prompt, whose tokens are e.cache[:prompt]
	prompt int
	reply  string // with n > 0: the reply, whose tokens are e.cache[prompt:n] and tail
	n      int
	tail   []int32 // the reply's tokens not in the KV cache (its last, at a token limit)
	plain  bool
}

// reserve is how many tokens of room a reply needs for the prompt to count
// as fitting.
func (e *Engine) reserve(s Sampling) int {
	r := min(256, e.nCtx/4)
	if s.MaxTokens > 0 {
		r = min(r, s.MaxTokens)
	}
	return r
}

func (e *Engine) fitChat(msgs []Message, s Sampling) ([]int32, string, bool, error) {
	if len(msgs) == 0 {
		return nil, "", false, errors.New("chat needs at least one message")
	}
	start := 0
	if msgs[0].Role == RoleSystem {
		start = 1
	}
	limit := e.nCtx - e.reserve(s)
	for drop := 0; ; drop++ {
		kept := append(append([]Message{}, msgs[:start]...), msgs[min(start+drop, len(msgs)-1):]...)
		toks, text, plain, err := e.renderTokens(kept)
		if err != nil {
			return nil, "", false, err
		}
		if len(toks) <= limit {
			return toks, text, plain, nil
		}
		if start+drop >= len(msgs)-1 {
			return nil, "", false, &ContextError{Needed: len(toks), Available: e.nCtx, Reserved: e.reserve(s)}
		}
	}
}

// systemPrefix is how many of toks render msgs' system message alone: the
// part of a prompt the prompt cache keeps. 0 without a cache or a system
// message, or when the template does not render the system message as a
// prefix of the conversation (some merge it into the first user turn).
func (e *Engine) systemPrefix(msgs []Message, toks []int32, plain bool) int {
	if e.pcache == nil || len(msgs) < 2 || msgs[0].Role != RoleSystem {
		return 0
	}
	var text string
	if plain {
		text = renderPlain(msgs[:1])
	} else {
		var err error
		if text, err = e.applyTemplateTo(msgs[:1], false); err != nil {
			return 0
		}
	}
	if len(text) < MinCachedPrefix { // fewer bytes than the tokens needed
		return 0
	}
	pre, err := e.tokenize(text, true, !plain)
	if err != nil {
		return 0
	}
	if !plain && len(pre) > 1 && pre[0] == pre[1] && pre[0] == int32(C.llama_vocab_bos(e.vocab)) {
		pre = pre[1:]
	}
	n := commonPrefix(pre, toks)
	// The last token of the prefix text may merge with what follows it.
	if n < len(pre) {
		n = min(n, len(pre)-1)
	}
	return n
}

// printable drops control characters from GGUF metadata before it goes
// into a message for the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// renderTokens applies the chat template (or the plain fallback) and
// tokenizes the result; it also returns the rendered text and whether it is
// the plain fallback.
func (e *Engine) renderTokens(msgs []Message) ([]int32, string, bool, error) {
	text, plain := "", e.tmpl == ""
	msgs = e.toolResults(msgs, plain)
	if !plain {
		var err error
		text, err = e.applyTemplate(msgs)
		if errors.Is(err, errUnknownTemplate) {
			plain = true
		} else if err != nil {
			return nil, "", false, err
		}
	}
	if plain {
		text = renderPlain(msgs)
	}
	if l := e.last; l != nil && l.plain == plain && len(e.cache) >= l.prompt && strings.HasPrefix(text, l.text) {
		// The conversation grew: keep the previous prompt's tokens, and the
		// reply's when it is unchanged, and tokenize only the rest.
		keep, rest := l.prompt, text[len(l.text):]
		var undecoded []int32
		if l.n > 0 && len(e.cache) == l.n && strings.HasPrefix(rest, l.reply) {
			keep, rest, undecoded = l.n, rest[len(l.reply):], l.tail
		}
		tail, err := e.tokenize(rest, false, !plain)
		if err != nil {
			return nil, "", false, err
		}
		return slices.Concat(e.cache[:keep], undecoded, tail), text, plain, nil
	}
	toks, err := e.tokenize(text, true, !plain)
	if err != nil {
		return nil, "", false, err
	}
	// Templates that spell out BOS themselves would otherwise get two.
	if !plain && len(toks) > 1 && toks[0] == toks[1] && toks[0] == int32(C.llama_vocab_bos(e.vocab)) {
		toks = toks[1:]
	}
	return toks, text, plain, nil
}

// toolResults prepares RoleTool messages for rendering. llama.cpp's
// ChatML rendering writes any role as is, so ChatML templates (SmolLM2,
// Qwen, …) get a "tool" turn, the name on the content's first line. Other
// templates (and the plain format) have no tool turn llama.cpp renders, so
// a result goes in as a user message that says which tool returned it.
func (e *Engine) toolResults(msgs []Message, plain bool) []Message {
	if !slices.ContainsFunc(msgs, func(m Message) bool { return m.Role == RoleTool }) {
		return msgs
	}
	chatml := !plain && strings.Contains(e.tmpl, "<|im_start|>")
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = m
		if m.Role != RoleTool {
			continue
		}
		name := m.Name
		if name == "" {
			name = "the tool"
		}
		if chatml {
			out[i] = Message{Role: RoleTool, Content: name + " returned:\n" + m.Content}
		} else {
			out[i] = Message{Role: RoleUser, Content: "Result of " + name + ":\n" + m.Content}
		}
	}
	return out
}

// renderPlain is the documented fallback for models without a chat template
// (base models such as stories260K): the conversation is plain text that the
// model continues. The system prompt comes first, then each message; a new
// user message starts on a new line, and replies continue the text directly.
func renderPlain(msgs []Message) string {
	var sb strings.Builder
	for i, m := range msgs {
		switch m.Role {
		case RoleSystem:
			sb.WriteString(m.Content)
			sb.WriteString("\n\n")
		case RoleUser:
			if i > 0 && msgs[i-1].Role != RoleSystem {
				sb.WriteString("\n")
			}
			sb.WriteString(m.Content)
		default:
			sb.WriteString(m.Content)
		}
	}
	return sb.String()
}

func (e *Engine) applyTemplate(msgs []Message) (string, error) {
	return e.applyTemplateTo(msgs, true)
}

// applyTemplateTo renders msgs, ending with the assistant's turn opened
// when addAssistant is set.
func (e *Engine) applyTemplateTo(msgs []Message, addAssistant bool) (string, error) {
	ctmpl := cString(e.tmpl)
	defer freeC(ctmpl)
	n := len(msgs)
	roles := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0))))
	contents := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(roles)
	defer C.free(contents)
	rs := unsafe.Slice((**C.char)(roles), n)
	cs := unsafe.Slice((**C.char)(contents), n)
	size := 0
	for i, m := range msgs {
		rs[i] = cString(m.Role)
		cs[i] = cString(m.Content)
		size += len(m.Role) + len(m.Content)
	}
	defer func() {
		for i := range n {
			freeC(rs[i])
			freeC(cs[i])
		}
	}()
	capacity := 2*size + 1024
	for range 2 {
		buf := C.malloc(C.size_t(capacity))
		got := int(C.sov_apply_template(ctmpl, (**C.char)(roles), (**C.char)(contents), C.size_t(n), C.bool(addAssistant), (*C.char)(buf), C.int32_t(capacity)))
		if got < 0 {
			C.free(buf)
			// Templates llama.cpp does not know (it has no Jinja engine) fall
			// back to the plain format rather than failing the chat.
			return "", errUnknownTemplate
		}
		if got <= capacity {
			s := C.GoStringN((*C.char)(buf), C.int(got))
			C.free(buf)
			return s, nil
		}
		C.free(buf)
		capacity = got + 1
	}
	return "", errors.New("chat template output kept growing")
}

var errUnknownTemplate = errors.New("chat template not supported by llama.cpp")

func (e *Engine) generateOnWorker(ctx context.Context, toks []int32, s Sampling, fn TokenFunc) (string, Stats, error) {
	return e.generate(ctx, toks, s, fn)
}

// generate decodes toks (reusing the cached prefix) and samples a reply. The
// prompt is decoded and the token loop runs on the worker thread; this
// goroutine streams the tokens (see sov_gen in shim.h).
func (e *Engine) generate(ctx context.Context, toks []int32, s Sampling, fn TokenFunc) (string, Stats, error) {
	if e.bat != nil {
		return e.generateBatched(ctx, toks, s, fn)
	}
	st, err := e.beginGen(ctx, toks)
	if err != nil {
		return "", st, err
	}
	// Cancellation reaches llama.cpp through its abort callback, which reads
	// a flag this goroutine sets when ctx is done.
	// context.AfterFunc starts no goroutine unless ctx is cancelled.
	C.sov_abort_set(e.abort, 0)
	fired := make(chan struct{})
	stopWatch := context.AfterFunc(ctx, func() {
		C.sov_abort_set(e.abort, 1)
		close(fired)
	})
	defer func() {
		if !stopWatch() {
			<-fired // a late write of the flag must not leak into the next call
		}
	}()
	e.gov.begin()

	p := e.keepPrefix(toks)
	t0 := time.Now()
	// A long system prefix comes from the prompt cache on disk when this
	// sequence lacks it, or is decoded alone first and saved there.
	pre, savePre := e.prefix, false
	if e.pcache != nil && pre >= MinCachedPrefix && p < pre && pre < len(toks) {
		if e.restorePrefix(toks, pre) {
			p, st.RestoredTokens = pre, pre
		} else {
			p, savePre = min(p, len(e.cache)), true // a failed restore empties the sequence
		}
	}
	st.CachedTokens = p
	st.PromptTokens = len(toks) - p
	decode := func(from, to int) (rc C.int32_t) {
		e.w.do(func() {
			rc = C.sov_decode(e.lctx, (*C.llama_token)(unsafe.Pointer(&toks[from])), C.int32_t(to-from), C.int32_t(e.nBatch), C.bool(e.flush), C.int32_t(e.seq), C.int32_t(from))
		})
		return rc
	}
	var rc C.int32_t
	if savePre {
		if rc = decode(p, pre); rc == 0 {
			e.cache = append(e.cache, toks[p:pre]...)
			e.savePrefix()
			p = pre
		}
	}
	if rc == 0 {
		rc = decode(p, len(toks))
	}
	if rc != 0 {
		if rc == 2 && ctx.Err() != nil {
			// Aborted: llama.cpp dropped the batch it was in and kept the
			// ones before, which stay cached for the next call.
			e.keepDecoded(toks)
			st.StopReason = StopCancelled
			st.ContextUsed = len(e.cache)
			return "", st, ctx.Err()
		}
		e.resetCache()
		if ctx.Err() != nil {
			st.StopReason = StopCancelled
			return "", st, ctx.Err()
		}
		return "", st, fmt.Errorf("llama.cpp decode failed (status %d)", int32(rc))
	}
	e.cache = append(e.cache, toks[p:]...)
	tPrompt := time.Now()
	st.PromptDuration = tPrompt.Sub(t0)

	smpl, err := e.newSampler(s)
	if err != nil {
		return "", st, err
	}
	defer C.llama_sampler_free(smpl)

	g := e.gen
	g.ctx, g.smpl, g.vocab, g.ab = e.lctx, smpl, e.vocab, e.abort
	g.ignore_eog = C.bool(s.IgnoreEOG)
	g.flush = C.bool(e.flush)
	g.argmax = C.bool(s.argmax())
	g.max_tokens = C.int32_t(max(s.MaxTokens, 0))
	g.room = C.int32_t(e.nCtx - len(e.cache))
	g.seq, g.pos = C.int32_t(e.seq), C.int32_t(len(e.cache))
	g.produced, g.consumed, g.stop, g.waiting, g.sleeping, g.done = 0, 0, 0, 0, 0, 0
	g.reason, g.status, g.ndecoded, g.last_notify, g.threads = 0, 0, 0, 0, 0
	e.setDraft(g, s, e.cache, e.nCtx-len(e.cache))
	finished := make(chan struct{})
	e.w.jobs <- func() {
		defer close(finished)
		C.sov_gen_run(g)
	}

	out := newStreamer(s.Stop, fn)
	r, err := e.stream(ctx, g, out, finished)
	st.Threads = e.settleThreads(g)
	st.Drafted, st.DraftAccepted = int(g.drafted), int(g.accepted)
	e.keepDraft(g)
	if err != nil {
		return out.text(), st, err
	}
	return e.endGen(ctx, st, out, r, genEnd{reason: int(g.reason), status: int(g.status), ndecoded: int(g.ndecoded)}, tPrompt)
}

// genEnd is how a generation loop ended.
type genEnd struct{ reason, status, ndecoded int }

// endGen settles the cache and the Stats once a generation loop has ended.
func (e *Engine) endGen(ctx context.Context, st Stats, out *streamer, r streamed, g genEnd, tPrompt time.Time) (string, Stats, error) {
	gen, keep, halted, cbErr := r.gen, r.keep, r.halted, r.cbErr
	if keep < 0 {
		keep = len(gen)
	}
	st.GeneratedTokens = keep
	decoded := g.ndecoded
	e.cache = append(e.cache, gen[:min(keep, decoded)]...)
	e.undecoded = append(e.undecoded[:0], gen[min(keep, decoded):keep]...)
	if decoded > keep {
		// Tokens the loop ran ahead with after Go stopped it.
		if !C.llama_memory_seq_rm(C.llama_get_memory(e.lctx), C.llama_seq_id(e.seq), C.llama_pos(len(e.cache)), -1) {
			e.resetCache()
		}
	}
	st.GenDuration = time.Since(tPrompt)
	// A failed step may leave the KV cache half-written. An aborted decode
	// (status 2) does not: llama.cpp removes the token it was decoding, so
	// the cache keeps what was decoded before, and Stats say how much.
	if g.reason == int(C.SOV_GEN_PIECE) || g.reason == int(C.SOV_GEN_DECODE) && g.status != 2 {
		e.resetCache()
	}
	st.ContextUsed = len(e.cache)
	switch {
	case cbErr != nil:
		return out.text(), st, cbErr
	case halted:
		st.StopReason = StopString
	case r.cancelled:
		st.StopReason = StopCancelled
	case g.reason == int(C.SOV_GEN_MAX_TOKENS):
		st.StopReason = StopMaxTokens
	case g.reason == int(C.SOV_GEN_EOG):
		st.StopReason = StopEOG
	case g.reason == int(C.SOV_GEN_CONTEXT):
		st.StopReason = StopContext
	case g.reason == int(C.SOV_GEN_ABORTED):
		st.StopReason = StopCancelled
	case g.reason == int(C.SOV_GEN_PIECE):
		return out.text(), st, errors.New("llama.cpp could not convert a token to text")
	case g.reason == int(C.SOV_GEN_NAN):
		e.resetCache()
		st.ContextUsed = 0
		return "", st, &DamagedError{Path: e.info.Path}
	case g.reason == int(C.SOV_GEN_DECODE):
		if ctx.Err() == nil {
			return out.text(), st, fmt.Errorf("llama.cpp decode failed (status %d)", g.status)
		}
		st.StopReason = StopCancelled
	}
	if err := out.flush(); err != nil {
		return out.text(), st, err
	}
	if st.StopReason == StopCancelled {
		return out.text(), st, ctx.Err()
	}
	return out.text(), st, nil
}

// settleThreads runs once the generation loop has ended: it takes the
// last decision of the window that ran and leaves llama.cpp with the
// governor's thread count (a request the loop ended before applying
// included), which it returns.
func (e *Engine) settleThreads(g *C.sov_gen) int {
	if e.gov.due() {
		e.gov.decide()
	}
	g.threads = 0
	if n := e.gov.cur; int(C.llama_n_threads(e.lctx)) != n {
		e.w.do(func() {
			C.sov_set_threads(e.lctx, C.int32_t(n), C.bool(e.flush))
			if e.dctx != nil {
				C.sov_set_threads(e.dctx, C.int32_t(n), C.bool(e.flush))
			}
		})
	}
	e.thr = e.gov.cur
	return e.thr
}

// llamaThreads is the threads llama.cpp's context computes with, for tests.
func (e *Engine) llamaThreads() int { return int(C.llama_n_threads(e.lctx)) }

// streamed is what stream took out of the generation ring.
type streamed struct {
	gen    []int32 // every token taken from the ring, in order
	keep   int     // tokens kept when Go stopped the loop; -1 = all
	halted bool    // a stop string ended the reply
	cbErr  error   // the TokenFunc's error, which ended the reply
	// cancelled: ctx was done before every token was handed over.
	cancelled bool
}

// stream hands the tokens sov_gen_run publishes to out until the loop ends,
// and returns once it has (even when out's TokenFunc panics).
func (e *Engine) stream(ctx context.Context, g *C.sov_gen, out *streamer, finished <-chan struct{}) (r streamed, err error) {
	r.keep = -1
	var (
		produced = (*int32)(unsafe.Pointer(&g.produced))
		consumed = (*int32)(unsafe.Pointer(&g.consumed))
		stopFlag = (*int32)(unsafe.Pointer(&g.stop))
		waiting  = (*int32)(unsafe.Pointer(&g.waiting))
		sleeping = (*int32)(unsafe.Pointer(&g.sleeping))
		gdone    = (*int32)(unsafe.Pointer(&g.done))
		threads  = (*int32)(unsafe.Pointer(&g.threads))
		ev       [64]byte
	)
	release := func() {
		atomic.StoreInt32(consumed, int32(len(r.gen)))
		if atomic.LoadInt32(sleeping) != 0 {
			C.sov_gen_wake(g)
		}
	}
	defer func() {
		if atomic.LoadInt32(gdone) == 0 {
			atomic.StoreInt32(stopFlag, 1)
			release()
		}
		<-finished
	}()
	for {
		if n := int(atomic.LoadInt32(produced)); n > len(r.gen) {
			for len(r.gen) < n {
				slot := &g.ring[len(r.gen)%C.SOV_GEN_RING]
				r.gen = append(r.gen, int32(slot.tok))
				if r.keep >= 0 {
					continue // sampled after Go stopped the loop: dropped
				}
				if ctx.Err() != nil {
					// Cancelled: nothing more reaches the caller.
					r.keep, r.cancelled = len(r.gen)-1, true
					atomic.StoreInt32(stopFlag, 1)
					continue
				}
				if e.holding && len(r.gen) > e.holdFrom {
					out.frozen = true
				}
				halt, err := out.push(C.GoBytes(unsafe.Pointer(&slot.piece[0]), slot.len))
				if halt || err != nil {
					r.keep, r.halted, r.cbErr = len(r.gen), halt, err
					atomic.StoreInt32(stopFlag, 1)
				}
			}
			release()
			if e.gov.due() {
				if n, changed := e.gov.decide(); changed {
					atomic.StoreInt32(threads, int32(n)) // sov_gen_run applies it before its next token
				}
			}
			continue
		}
		if atomic.LoadInt32(gdone) != 0 {
			if int(atomic.LoadInt32(produced)) > len(r.gen) {
				continue
			}
			return r, nil
		}
		atomic.StoreInt32(waiting, 1)
		if int(atomic.LoadInt32(produced)) == len(r.gen) && atomic.LoadInt32(gdone) == 0 {
			if err := e.waitEvent(ev[:]); err != nil {
				atomic.StoreInt32(waiting, 0)
				return r, fmt.Errorf("wait for tokens: %w", err)
			}
		}
		atomic.StoreInt32(waiting, 0)
	}
}

// waitEvent blocks until sov_gen_run signals on the event pipe. The read
// is a raw system call inside the poller's callback: a plain File.Read
// would wake the Go scheduler's monitor thread on every token.
func (e *Engine) waitEvent(buf []byte) error {
	rc, err := e.events.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		_, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		switch errno {
		case syscall.EAGAIN:
			return false // park in the poller until the pipe is readable
		case 0, syscall.EINTR:
		default:
			rerr = errno
		}
		return true
	})
	if err != nil {
		return err
	}
	return rerr
}

// keepDecoded sets the cache to the prefix of toks the current sequence
// holds after an aborted prompt decode.
func (e *Engine) keepDecoded(toks []int32) {
	n := int(C.llama_memory_seq_pos_max(C.llama_get_memory(e.lctx), C.llama_seq_id(e.seq))) + 1
	if n < len(e.cache) || n > len(toks) {
		e.resetCache()
		return
	}
	e.cache = append(e.cache, toks[len(e.cache):n]...)
}

// resetCache empties the current sequence, and only it.
func (e *Engine) resetCache() {
	C.llama_memory_seq_rm(C.llama_get_memory(e.lctx), C.llama_seq_id(e.seq), -1, -1)
	e.cache = e.cache[:0]
	e.last = nil
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// streamer turns token bytes into whole UTF-8 text, holds back text that may
// start a stop string, and hands the rest to the TokenFunc.
type streamer struct {
	stops   []string
	hold    int // bytes to hold back for stop matching
	fn      TokenFunc
	pending []byte // incomplete UTF-8 sequence
	buf     strings.Builder
	emitted int
	frozen  bool // hold the rest of the text back (Engine.holding)
}

func newStreamer(stops []string, fn TokenFunc) *streamer {
	s := &streamer{fn: fn}
	for _, x := range stops {
		if x != "" {
			s.stops = append(s.stops, x)
			s.hold = max(s.hold, len(x)-1)
		}
	}
	return s
}

// push adds token bytes; it reports whether a stop string was found.
func (s *streamer) push(b []byte) (bool, error) {
	s.pending = append(s.pending, b...)
	valid := s.takeValid()
	if valid == "" {
		return false, nil
	}
	before := s.buf.Len()
	s.buf.WriteString(valid)
	if len(s.stops) > 0 {
		all := s.buf.String()
		from := max(0, before-s.hold)
		for _, x := range s.stops {
			if i := strings.Index(all[from:], x); i >= 0 {
				cut := from + i
				s.buf.Reset()
				s.buf.WriteString(all[:cut])
				return true, s.emit(cut)
			}
		}
		upto := s.buf.Len() - s.hold
		// upto == len(all) when every stop string is one byte (hold 0).
		for upto > s.emitted && upto < len(all) && !utf8.RuneStart(all[upto]) {
			upto--
		}
		return false, s.emit(upto)
	}
	return false, s.emit(s.buf.Len())
}

// takeValid removes and returns the complete UTF-8 prefix of pending;
// bytes that can never become valid are replaced by U+FFFD.
func (s *streamer) takeValid() string {
	var sb strings.Builder
	p := s.pending
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(p) {
				break // an incomplete sequence: wait for the next token
			}
			sb.WriteRune(utf8.RuneError)
			p = p[1:]
			continue
		}
		sb.Write(p[:size])
		p = p[size:]
	}
	s.pending = append(s.pending[:0], p...)
	return sb.String()
}

func (s *streamer) emit(upto int) error {
	if s.frozen || upto <= s.emitted {
		return nil
	}
	chunk := s.buf.String()[s.emitted:upto]
	s.emitted = upto
	if s.fn == nil {
		return nil
	}
	return s.fn(chunk)
}

func (s *streamer) flush() error {
	if len(s.pending) > 0 {
		s.buf.WriteString(strings.ToValidUTF8(string(s.pending), "\uFFFD"))
		s.pending = s.pending[:0]
	}
	return s.emit(s.buf.Len())
}

func (s *streamer) text() string { return s.buf.String() }
