// Package model is sov's local inference engine: an in-process binding to
// the pinned llama.cpp, chat templates, sampling, grammar-constrained JSON
// output, embeddings and multi-turn KV-cache reuse.
//
// Every other package (tui, vault, feeds, agents) uses only the API in this
// file. An Engine is safe for use from several goroutines; calls are
// serialised internally.
package model

import (
	"context"
	"log/slog"
	"time"
)

// Role names used in chat messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	// RoleTool is a tool's result, sent back after Call returned a call.
	RoleTool = "tool"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Name    string `json:"name,omitempty"` // RoleTool: the tool that returned Content
}

// Options configure loading a model.
type Options struct {
	Path        string // GGUF file
	ContextSize int    // tokens; 0 = min(model's training context, 4096)
	BatchSize   int    // logical batch for prompt processing; 0 = 512
	// Threads is the CPU threads for prompt and generation. 0 = the cores
	// other processes leave free, measured while the model loads and
	// followed while it generates (Stats.Threads says how many it used).
	Threads   int
	GPULayers int  // layers to offload; -1 = auto (all when a GPU exists), 0 = CPU only
	NoMmap    bool // read the file instead of mapping it
	// FlashAttn is "on", "off" or "auto"; empty picks per backend: off when
	// everything runs on the CPU (llama.cpp's CPU flash-attention kernel is
	// slower once a conversation has a few hundred tokens of history: at
	// 1,300 tokens of context prompt processing runs at 0.7x and generation
	// at 0.77x of the plain path), auto with a GPU.
	FlashAttn string
	Logger    *slog.Logger
	// TrimMemory hands freed Go heap back to the OS and drops the
	// executable's start-up code pages before llama.cpp maps the model. It
	// affects the whole process, so it is for commands that run one model
	// (sov run, the shell); it lowers their peak RSS by about 15 MB.
	TrimMemory bool
	// Subnormals keeps IEEE subnormal arithmetic in llama.cpp's compute.
	// By default sov flushes subnormals to zero (x86 FTZ/DAZ): softmax over
	// a long history produces them by the million, each costing the CPU a
	// microcode assist, and a value below 1e-38 is zero to a softmax. Set it
	// to compute exactly as llama.cpp's own tools do.
	Subnormals bool
	// Sessions is how many conversations keep their own KV sequence on
	// this engine at once (0 = 1). Each gets the full ContextSize, so the
	// KV cache costs Sessions times as much memory; a session beyond the
	// limit takes the least recently used one's sequence, which then
	// decodes its whole prompt again on its next call. With more than one,
	// sessions that generate at the same time decode together, one token
	// of each per pass over the weights (as llama-server's slots do).
	Sessions int
	// NoDraft turns prompt-lookup drafting off (see Sampling.NoDraft). It
	// is on by default: each generated token is decoded in one batch with
	// the tokens that followed the same words earlier in the context, and
	// the model keeps those it would have chosen itself, so replies that
	// quote their context come faster and are otherwise the same.
	NoDraft bool
	// DraftModel is the path of a small GGUF model that shares the
	// model's vocabulary (a smaller model of the same family): it drafts
	// tokens in place of the prompt-lookup search, and the model verifies
	// them as it does those, so every token is still the model's own
	// choice. It drafts for a single session only (Sessions <= 1); it is
	// loaded on the same device as the model. NoDraft turns it off too.
	DraftModel string
	// PromptCache is a folder for the prompt cache: the KV state of a
	// conversation's system prompt, when it is at least MinCachedPrefix
	// tokens, is saved there after it is first decoded and restored from
	// there instead of decoded again (by any session, in any process).
	// Empty = off. The files hold the prompt's KV state, from which its
	// text can be recovered: use a cache only for prompts that are not
	// secret (they are not encrypted).
	PromptCache string
	// Warn receives one-line warnings (a prompt cache file that does not
	// match and was ignored); nil sends them to Logger.
	Warn func(string)
	// Progress is called while loading with a fraction in [0,1]; returning
	// false cancels the load.
	Progress func(fraction float32) bool
	// OnBusy is told, at most once per engine, that other work on the CPU
	// slows generation down with the Threads set here (with Threads 0 the
	// engine moves to fewer threads itself, and says nothing). Nil logs
	// it to Logger.
	OnBusy func(Busy)

	meter *cpuMeter // tests: a fake CPU load source (nil = the machine's)
}

// Busy says that other processes hold cores generation's threads need.
// llama.cpp's threads wait for each other after every step, spinning, so
// a thread without a core stalls the rest: generation can run hundreds of
// times slower than with fewer threads.
type Busy struct {
	Cores   int     // CPUs this process may run on
	Others  float64 // cores' worth of CPU time other processes took
	Threads int     // threads generation was using
	Suggest int     // threads that fit the cores left free
}

// Sampling configures one generation. The zero value is greedy decoding with
// no token limit other than the context.
type Sampling struct {
	Temperature   float32 // 0 = greedy
	TopK          int     // 0 = off
	TopP          float32 // 0 or 1 = off
	MinP          float32 // 0 = off
	RepeatPenalty float32 // 0 or 1 = off
	RepeatLastN   int     // 0 = 64
	Seed          uint32  // used when Temperature > 0
	MaxTokens     int     // 0 = until end of generation or context full
	Grammar       string  // GBNF, root rule "root"; empty = unconstrained
	Stop          []string
	// IgnoreEOG keeps generating past end-of-generation tokens (benchmarks).
	IgnoreEOG bool
	// NoDraft turns prompt-lookup drafting off for this call (see
	// Options.NoDraft). Drafting never changes which token is chosen at a
	// position; it may change the last bits of the scores, since a batch
	// of tokens is computed in another order than one token alone.
	NoDraft bool
}

// Stop reasons reported in Stats.StopReason.
const (
	StopEOG       = "eog"        // the model ended its turn
	StopMaxTokens = "max_tokens" // Sampling.MaxTokens reached
	StopString    = "stop"       // a Sampling.Stop string appeared
	StopContext   = "context"    // the context window is full
	StopCancelled = "cancelled"  // the context.Context was cancelled
)

// Stats describe one generation.
type Stats struct {
	PromptTokens    int           // tokens decoded for the prompt this call (new ones only when the cache was reused)
	CachedTokens    int           // prompt tokens reused from the KV cache
	RestoredTokens  int           // of CachedTokens, those restored from the prompt cache on disk
	GeneratedTokens int           // tokens sampled
	PromptDuration  time.Duration // time to decode the new prompt tokens (≈ time to first token)
	GenDuration     time.Duration // time spent sampling and decoding generated tokens
	StopReason      string
	ContextUsed     int // tokens in the context after the call
	ContextSize     int
	Threads         int // CPU threads at the end of the call (see Options.Threads)
	// Drafted is how many prompt-lookup draft tokens were checked, and
	// DraftAccepted how many of them the model chose too (each one a
	// token gained); zero with drafting off and in batched sessions.
	Drafted       int
	DraftAccepted int
	// Closed: a Call's reply reached its token limit (or the context's
	// end) unfinished, and the engine finished it with the shortest text
	// its grammar allows (see Session.Call).
	Closed bool
}

// PromptTPS is prompt tokens per second.
func (s Stats) PromptTPS() float64 { return rate(s.PromptTokens, s.PromptDuration) }

// GenTPS is generated tokens per second.
func (s Stats) GenTPS() float64 { return rate(s.GeneratedTokens, s.GenDuration) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// TokenFunc receives generated text as it is produced (whole UTF-8
// characters only). Returning an error stops generation with that error.
type TokenFunc func(piece string) error

// Info describes a loaded model.
type Info struct {
	Path         string
	Name         string
	Architecture string
	Parameters   uint64
	ContextTrain int
	EmbeddingDim int
	HasTemplate  bool // the GGUF carries a chat template
	// TemplateWarning is set, as one line, when the GGUF's chat template is
	// not one llama.cpp recognises: Chat then uses the plain fallback (the
	// same as for a model without a template), and callers show the line.
	TemplateWarning string
	Backend         string // "CPU", "CUDA", "Metal"
	GPULayers       int
	Sessions        int    // KV sequences (Options.Sessions)
	DraftModel      string // the draft model's name; empty without one
}

// LLM is the engine seam: what a loaded model offers its consumers (the
// shell, the vault, the news digest, agents, the server). *Engine and
// *Session implement it; an Engine's own calls run in its default session.
// Consumers declare the subset they use (tui.Chatter, digest.Generator,
// vault.Embedder, …), each of which every LLM satisfies, so their test
// fakes stay small.
type LLM interface {
	Chat(ctx context.Context, msgs []Message, s Sampling, fn TokenFunc) (string, Stats, error)
	JSON(ctx context.Context, msgs []Message, schema *Schema, s Sampling, fn TokenFunc) ([]byte, Stats, error)
	Call(ctx context.Context, msgs []Message, ts *Toolset, s Sampling, fn TokenFunc) (Reply, Stats, error)
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Tokenize(text string, addSpecial bool) ([]int32, error)
	Info() Info
}

var (
	_ LLM = (*Engine)(nil)
	_ LLM = (*Session)(nil)
)

// The Engine methods (implemented in engine.go):
//
//	Load(ctx, Options) (*Engine, error)
//	(*Engine).Close() error
//	(*Engine).Info() Info
//	(*Engine).Tokenize(text string, addSpecial bool) ([]int32, error)
//	(*Engine).Detokenize(tokens []int32) string
//	(*Engine).Complete(ctx, prompt string, s Sampling, fn TokenFunc) (string, Stats, error)
//	(*Engine).Chat(ctx, msgs []Message, s Sampling, fn TokenFunc) (string, Stats, error)
//	    Chat reuses the KV cache for the longest common prefix with the
//	    previous call, so a conversation that resends its history decodes
//	    only the new tokens.
//	(*Engine).JSON(ctx, msgs []Message, schema []byte, s Sampling, fn TokenFunc) ([]byte, Stats, error)
//	    Output constrained by the schema's GBNF and validated against the
//	    schema before it is returned.
//	(*Engine).Call(ctx, msgs []Message, ts *Toolset, s Sampling, fn TokenFunc) (Reply, Stats, error)
//	    A tool call (name and arguments valid for its schema) or a final
//	    answer, forced by one grammar (see tools.go).
//	(*Engine).Embed(ctx, texts []string) ([][]float32, error)
//	    Mean-pooled, L2-normalised embeddings.
