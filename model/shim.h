// C helpers for the cgo binding: they keep llama.cpp structs on the C side
// (cgo cannot pass Go memory holding Go pointers) and run the per-token
// sample/detokenize/decode loop in C.
#ifndef SOV_SHIM_H
#define SOV_SHIM_H
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <pthread.h>
#include "llama.h"

typedef struct sov_abort { volatile int flag; } sov_abort;

void sov_init(void);
void sov_log_quiet(void);
void sov_log_to_go(void);

struct llama_model *sov_load_model(const char *path, int32_t n_gpu_layers, bool use_mmap, uintptr_t progress_handle);
// n_seq sequences (sessions) share the context, each in its own KV stream
// of n_ctx / n_seq cells (kv_unified off, so a sequence's attention reads
// only its own cells).
struct llama_context *sov_new_context(struct llama_model *model, uint32_t n_ctx, uint32_t n_batch, uint32_t n_ubatch,
                                      int32_t n_threads, int32_t n_threads_batch, bool embeddings, int32_t flash_attn,
                                      uint32_t n_seq, sov_abort *ab);

sov_abort *sov_abort_new(void);
void sov_abort_set(sov_abort *ab, int v);
void sov_abort_free(sov_abort *ab);

// Decodes n tokens of sequence seq starting at position pos, in chunks of
// n_batch. Only the last token's logits are kept. Returns llama_decode's
// status (2 = aborted, -1 = out of memory for the batch).
int32_t sov_decode(struct llama_context *ctx, const llama_token *toks, int32_t n, int32_t n_batch, bool flush,
                   int32_t seq, int32_t pos);

// The compute calls take flush: compute with subnormal floats flushed to
// zero (see shim.c). sov_fp_team sets that mode on the other threads of the
// calling thread's OpenMP team of n_threads.
void sov_fp_team(bool flush, int32_t n_threads);
// sov_fp_probe reports, as bit i, whether thread i of that team (0 = the
// calling thread) flushes subnormals right now. For tests.
uint32_t sov_fp_probe(int32_t n_threads);

int32_t sov_argmax(const float *l, int32_t n);

// sov_set_threads sets the context's compute threads (prompt and
// generation) and the floating-point mode of the team that size gives.
void sov_set_threads(struct llama_context *ctx, int32_t n, bool flush);

// sov_gen is one generation loop run by sov_gen_run on the engine's worker
// thread. Tokens go to Go through a ring: Go waits on a pipe, not in a cgo
// call, and a goroutine parked in the network poller holds no P, so the Go
// scheduler's monitor thread sleeps instead of polling every 20 us, which
// on a two-core machine took CPU time from llama.cpp's threads each token.
// The loop never waits for Go unless the ring is full, so Go's scheduling
// latency does not slow generation; when Go decides to stop (a stop string,
// a failing callback) the tokens sampled after that point are dropped and
// removed from the KV cache.
#define SOV_GEN_RING 64
// SOV_DRAFT_MAX bounds a prompt-lookup draft (see gen_run in shim.c).
#define SOV_DRAFT_MAX 16
#define SOV_DRAFT_BUCKETS 3 // n-gram lengths 1-2, 3, 4 and more
#define SOV_GEN_BATCH_NS 4000000 // the longest a token waits to be handed over

typedef struct sov_gen_token {
    llama_token tok;
    int32_t len;
    char piece[256];
} sov_gen_token;

typedef struct sov_gen {
    // Set by Go before each run.
    struct llama_context *ctx;
    struct llama_sampler *smpl;
    const struct llama_vocab *vocab;
    sov_abort *ab;
    int wfd;            // write end of the event pipe
    bool ignore_eog;
    bool argmax;        // greedy without a grammar: take the argmax directly
    bool flush;         // compute with subnormals flushed to zero
    int32_t max_tokens; // 0 = no limit
    int32_t room;       // tokens that still fit in the context
    int32_t seq;        // the sequence generated into
    int32_t pos;        // the position of the next token decoded
    // Prompt-lookup drafting (n_draft > 0): hist holds the context's tokens
    // (hist_len of them: the prompt; the loop appends each token it
    // publishes; room for hist_len + room + SOV_DRAFT_MAX). After each
    // token the loop drafts up to n_draft tokens that followed the longest
    // recent n-gram (at least draft_min tokens) ending there, and verifies
    // them in one batch.
    int32_t n_draft;
    int32_t draft_min;
    bool draft_fixed;   // draft every match in full (tests), not by expected gain
    llama_token *hist;
    int32_t hist_len;
    // How long a draft pays (see sov_draft_len): how often drafts of each
    // n-gram length were right in this reply, and what an extra row costs
    // relative to a one-token step on this machine (kept across replies).
    float acc_ok[SOV_DRAFT_BUCKETS], acc_miss[SOV_DRAFT_BUCKETS];
    int32_t since_probe[SOV_DRAFT_BUCKETS];
    float step_ns;      // a one-token step, smoothed; 0 = not measured yet
    // What k drafted rows add to a step, as a fraction of step_ns:
    // cost_a + cost_b * k, fitted by decaying least squares over the timed
    // drafts (cost_sum: weight, sum k, sum k^2, sum extra, sum k*extra).
    float cost_a, cost_b;
    float cost_sum[5];
    // Drafting with a draft model (dctx set, n_draft > 0): a small model
    // sharing the vocabulary drafts greedily instead of the n-gram search
    // (see gen_model_draft in shim.c). Its context's sequence 0 holds
    // hist[0..dn) in its KV cache, kept across replies; d_batch is its
    // batch size and dstep_ns its one-token step, smoothed (kept across
    // replies). dfail: a draft decode failed, so this reply drafts no more
    // (dn is then 0 and the draft's cache empty).
    struct llama_context *dctx;
    int32_t dn;
    int32_t d_batch;
    float dstep_ns;
    bool dfail;
    // dgain: what a draft attempt gained lately, in one-token steps (tokens
    // accepted less the draft steps and extra rows it cost), a decaying
    // mean kept across replies; while it is negative only every
    // SOV_DRAFT_PROBE-th step drafts (dskip counts).
    float dgain;
    int32_t dskip;
    // dslow: the draft model's step costs at least SOV_DRAFT_SLOW of the
    // model's (measured over dsteps steps), so drafting with it cannot pay
    // (keeping it in step with the context alone costs more than it can
    // gain): the engine drafts no more with it.
    bool dslow;
    int32_t dsteps;

    // Shared state, accessed atomically on both sides.
    int32_t produced;   // tokens published into the ring
    int32_t consumed;   // tokens Go has taken out of the ring
    int32_t stop;       // Go asks the loop to end
    int32_t waiting;    // Go is parked on the pipe
    int32_t sleeping;   // the loop waits on cv for room in the ring
    int32_t threads;    // Go asks for this many threads from the next token on (0 = as is)
    int32_t done;       // the loop has ended; the fields below are final

    int32_t reason;     // SOV_GEN_*
    int32_t status;     // llama_decode's status for SOV_GEN_DECODE
    int32_t ndecoded;   // published tokens that were decoded into the KV cache
    int64_t last_notify; // when the loop last woke Go (CLOCK_MONOTONIC ns)
    int32_t drafted;    // draft tokens verified
    int32_t accepted;   // of those, the ones the model chose too

    struct llama_batch one; // a batch of one token, for seq
    struct llama_batch draft; // a token and its draft (SOV_DRAFT_MAX + 1 rows)
    sov_gen_token ring[SOV_GEN_RING];
    pthread_mutex_t mu;
    pthread_cond_t cv;
} sov_gen;

enum {
    SOV_GEN_MAX_TOKENS = 1,
    SOV_GEN_EOG,
    SOV_GEN_CONTEXT,
    SOV_GEN_STOPPED,  // Go set stop
    SOV_GEN_ABORTED,  // the abort flag was set before sampling
    SOV_GEN_DECODE,   // llama_decode failed (status 2 = aborted mid-decode)
    SOV_GEN_PIECE,    // a token could not be turned into text
    SOV_GEN_NAN,      // the first token's logits hold NaN: the weights are damaged
};

// Batched decoding of several sequences (sessions generating at once):
// Go fills one llama_batch with each active sequence's next token and
// prompt chunks, and sov_batch_step decodes it and samples, for each
// sov_bseq whose row is set, that row's logits with its own sampler.
typedef struct sov_bseq {
    struct llama_sampler *smpl;
    int32_t row;     // the batch row whose logits are sampled; -1 = none this step
    bool argmax;     // greedy without a grammar: take the argmax directly
    bool ignore_eog;
    bool first;      // the reply's first token: check the logits for NaN
    int32_t rc;      // out: 0, SOV_GEN_EOG, SOV_GEN_PIECE or SOV_GEN_NAN
    llama_token tok; // out: the sampled token
    int32_t len;     // out: bytes of piece
    char piece[256];
} sov_bseq;

// sov_draft_find proposes up to n_max tokens to follow hist[0..n): those
// after the most recent earlier occurrence of the longest n-gram (from
// SOV_NGRAM_MAX down to n_min tokens) that ends hist. It returns how many
// it wrote to out (0 = no match).
#define SOV_NGRAM_MAX 8
// *match is set to the n-gram's length.
int32_t sov_draft_find(const llama_token *hist, int32_t n, int32_t n_min, int32_t n_max, llama_token *out, int32_t *match);
// sov_draft_len is how many of m drafted tokens after an n-gram of match
// tokens to verify (see shim.c).
int32_t sov_draft_len(sov_gen *g, int32_t m, int32_t match);
// sov_vocab_compatible says whether a draft model's vocabulary can draft
// for a target's: 0 if so; otherwise 1 (another tokenizer type), 2 (other
// special tokens: BOS, EOS or whether they are added), 3 (sizes differ by
// more than 128) or 4 (token *id differs in its text).
int32_t sov_vocab_compatible(const struct llama_vocab *tgt, const struct llama_vocab *dft, int32_t *id);
// sov_gen_draft_reset starts a reply's acceptance estimates afresh.
void sov_gen_draft_reset(sov_gen *g);
// sov_gen_cost_reset forgets the timed drafts: back to the prior.
void sov_gen_cost_reset(sov_gen *g);

// sov_batch_step returns llama_decode's status; the samples are valid only
// when it is 0.
int32_t sov_batch_step(struct llama_context *ctx, const struct llama_vocab *vocab, struct llama_batch *b,
                       sov_bseq *seqs, int32_t n_seqs, bool flush);

// sov_bdraft_step is one step of a sequence generating alone in a batched
// engine, with prompt-lookup drafting as in gen_run: it decodes next (the
// token sampled last, at pos) with up to left - 1 tokens that followed the
// context's latest n-gram before (hist[0..n_hist), which ends with next),
// then samples the rows in order with s's sampler while it chooses the
// drafted token, and drops the rows it did not reach from the KV cache.
// g holds the drafting set-up (ctx, vocab, flush, seq, n_draft, draft_min,
// draft_fixed) and what drafts taught so far. out receives the tokens
// produced (*n_out of them: the accepted drafts, each decoded, then the
// token sampled after them, not decoded); *k is how many were drafted and
// *a how many accepted. s->rc is set as sov_batch_step sets it, for the
// token that ended the step. It returns llama_decode's status (nothing
// produced unless 0), or -1 when the rejected rows could not be dropped.
int32_t sov_bdraft_step(sov_gen *g, sov_bseq *s, llama_token next, int32_t pos, int32_t left,
                        const llama_token *hist, int32_t n_hist, sov_gen_token *out, int32_t *n_out,
                        int32_t *k, int32_t *a);

sov_gen *sov_gen_new(void);
void sov_gen_free(sov_gen *g);
void sov_gen_run(sov_gen *g);
void sov_gen_wake(sov_gen *g);

// sov_sampler returns NULL when llama.cpp rejects grammar; its messages
// about why are then in err (cap bytes, NUL-terminated).
struct llama_sampler *sov_sampler(const struct llama_vocab *vocab, float temp, int32_t top_k, float top_p, float min_p,
                                  float repeat, int32_t repeat_last_n, uint32_t seed, const char *grammar,
                                  char *err, int32_t cap);
// sov_grammar_check parses grammar as sov_sampler does, without a model
// (so token syntax such as <|im_end|> fails with "no vocab"): 1 when it is
// accepted, else 0 with llama.cpp's messages in err.
int32_t sov_grammar_check(const char *grammar, char *err, int32_t cap);

void sov_warmup(struct llama_context *ctx, const struct llama_vocab *vocab, bool flush);
int32_t sov_embed(struct llama_context *ctx, const llama_token *toks, int32_t n, float *out, int32_t dim, bool flush);

int32_t sov_apply_template(const char *tmpl, const char **roles, const char **contents, size_t n, bool add_ass, char *buf, int32_t cap);

int32_t sov_dev_count(void);
const char *sov_dev_name(int32_t i);
const char *sov_dev_desc(int32_t i);
int32_t sov_dev_type(int32_t i);

int32_t sov_reg_count(void);
const char *sov_reg_name(int32_t i);
#endif
