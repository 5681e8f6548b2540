#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <errno.h>
#include <time.h>
#include <math.h>
#include "shim.h"
#include "ggml-backend.h"
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define SOV_FP_X86 1
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

extern void sovGoLog(int level, char *text);
extern _Bool sovGoProgress(float p, uintptr_t handle);

static void quiet_log(enum ggml_log_level level, const char *text, void *ud) { (void)level; (void)text; (void)ud; }

void sov_init(void) {
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
}
void sov_log_quiet(void) { llama_log_set(quiet_log, NULL); }

static bool progress_cb(float p, void *ud) { return sovGoProgress(p, (uintptr_t)ud); }

struct llama_model *sov_load_model(const char *path, int32_t n_gpu_layers, bool use_mmap, uintptr_t progress_handle) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = n_gpu_layers;
    if (!use_mmap) mp.load_mode = LLAMA_LOAD_MODE_NONE;
    if (progress_handle) {
        mp.progress_callback = progress_cb;
        mp.progress_callback_user_data = (void *)progress_handle;
    }
    return llama_model_load_from_file(path, mp);
}

// llama.cpp computes with subnormal floats flushed to zero (x86 MXCSR FTZ
// and DAZ). Why: attention's softmax over a long history yields exp()
// results below FLT_MIN, and x86 handles each subnormal operand or result
// in microcode at ~100 cycles; on the 125M benchmark model 50 new tokens
// after 1,263 of history took 124 ms instead of 96 ms. Values that small
// are zero to a softmax. The mode is set for the duration of each compute
// call on the calling thread (Go code never runs under it); the threads
// llama.cpp starts inside such a call (its OpenMP team) inherit it, as POSIX
// threads inherit the floating-point environment, and sov_fp_team sets it
// on that team explicitly once. On other CPUs (ARM) this is a no-op; it
// has not been measured there.
#define SOV_MXCSR_FTZ_DAZ 0x8040u

static unsigned fp_enter(bool flush) {
#ifdef SOV_FP_X86
    unsigned old = _mm_getcsr();
    _mm_setcsr(flush ? (old | SOV_MXCSR_FTZ_DAZ) : (old & ~SOV_MXCSR_FTZ_DAZ));
    return old;
#else
    (void)flush;
    return 0;
#endif
}

static void fp_leave(unsigned old) {
#ifdef SOV_FP_X86
    _mm_setcsr(old);
#else
    (void)old;
#endif
}

static bool fp_flushing(void) {
#ifdef SOV_FP_X86
    return (_mm_getcsr() & SOV_MXCSR_FTZ_DAZ) == SOV_MXCSR_FTZ_DAZ;
#else
    return false;
#endif
}

// llama.cpp may log from inside a compute call: the Go logger runs with the
// default floating-point mode.
static void go_log(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    unsigned fp = fp_enter(false);
    sovGoLog((int)level, (char *)text);
    fp_leave(fp);
}

void sov_log_to_go(void) { llama_log_set(go_log, NULL); }

void sov_fp_team(bool flush, int32_t n_threads) {
#ifdef _OPENMP
    // The same master thread and team size as ggml's compute regions, so
    // libgomp hands this region the threads ggml uses; the master's own mode
    // is left as it was.
    if (n_threads > 1) {
#pragma omp parallel num_threads(n_threads)
        {
            if (omp_get_thread_num() != 0) fp_enter(flush);
        }
    }
#else
    (void)flush;
    (void)n_threads;
#endif
}

uint32_t sov_fp_probe(int32_t n_threads) {
    uint32_t mask = 0;
#ifdef _OPENMP
    if (n_threads > 1) {
#pragma omp parallel num_threads(n_threads) reduction(| : mask)
        {
            int i = omp_get_thread_num();
            if (i < 32 && fp_flushing()) mask |= 1u << i;
        }
        return mask;
    }
#else
    (void)n_threads;
#endif
    return fp_flushing() ? 1u : 0u;
}

void sov_set_threads(struct llama_context *ctx, int32_t n, bool flush) {
    llama_set_n_threads(ctx, n, n);
    sov_fp_team(flush, n);
}

static bool abort_cb(void *data) { return ((sov_abort *)data)->flag != 0; }

sov_abort *sov_abort_new(void) { return (sov_abort *)calloc(1, sizeof(sov_abort)); }
void sov_abort_set(sov_abort *ab, int v) { __atomic_store_n(&ab->flag, v, __ATOMIC_SEQ_CST); }
void sov_abort_free(sov_abort *ab) { free(ab); }

struct llama_context *sov_new_context(struct llama_model *model, uint32_t n_ctx, uint32_t n_batch, uint32_t n_ubatch,
                                      int32_t n_threads, int32_t n_threads_batch, bool embeddings, int32_t flash_attn,
                                      uint32_t n_seq, sov_abort *ab) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_ubatch = n_ubatch;
    cp.n_seq_max = n_seq > 0 ? n_seq : 1;
    cp.kv_unified = false;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads_batch;
    cp.no_perf = true;
    cp.flash_attn_type = (enum llama_flash_attn_type)flash_attn;
    if (embeddings) {
        cp.embeddings = true;
        cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    }
    if (ab) {
        cp.abort_callback = abort_cb;
        cp.abort_callback_data = ab;
    }
    return llama_init_from_model(model, cp);
}

int32_t sov_decode(struct llama_context *ctx, const llama_token *toks, int32_t n, int32_t n_batch, bool flush,
                   int32_t seq, int32_t pos) {
    if (seq == 0) {
        // Sequence 0 (every engine's default session) takes llama.cpp's
        // own one-sequence batches, which derive the positions from the KV
        // cache: the path the benchmarks measured before sessions existed.
        unsigned fp = fp_enter(flush);
        int32_t rc = 0;
        for (int32_t i = 0; i < n && rc == 0; i += n_batch) {
            int32_t m = n - i < n_batch ? n - i : n_batch;
            rc = llama_decode(ctx, llama_batch_get_one((llama_token *)toks + i, m));
        }
        fp_leave(fp);
        return rc;
    }
    struct llama_batch b = llama_batch_init(n < n_batch ? n : n_batch, 0, 1);
    if (!b.token) return -1;
    unsigned fp = fp_enter(flush);
    int32_t rc = 0;
    for (int32_t i = 0; i < n && rc == 0; i += n_batch) {
        int32_t m = n - i < n_batch ? n - i : n_batch;
        for (int32_t j = 0; j < m; j++) {
            b.token[j] = toks[i + j];
            b.pos[j] = pos + i + j;
            b.n_seq_id[j] = 1;
            b.seq_id[j][0] = seq;
            b.logits[j] = i + j == n - 1;
        }
        b.n_tokens = m;
        rc = llama_decode(ctx, b);
    }
    fp_leave(fp);
    llama_batch_free(b);
    return rc;
}

// sov_argmax is plain greedy decoding: the first index of the largest
// logit, without copying the vocabulary into a candidate array first. The
// maximum is found in eight independent lanes and then located in a second
// pass: a single running "if (l[i] > l[t])" chains every iteration on the
// previous one and cost about 150 us per token on a 32,000-token vocabulary.
int32_t sov_argmax(const float *l, int32_t n) {
    float m[8];
    for (int k = 0; k < 8; k++) m[k] = -INFINITY;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) m[k] = l[i + k] > m[k] ? l[i + k] : m[k];
    float best = -INFINITY;
    for (int k = 0; k < 8; k++) best = m[k] > best ? m[k] : best;
    for (; i < n; i++) best = l[i] > best ? l[i] : best;
    for (i = 0; i < n; i++) if (l[i] == best) return i;
    return 0; // every logit is NaN
}

sov_gen *sov_gen_new(void) {
    sov_gen *g = (sov_gen *)calloc(1, sizeof(sov_gen));
    if (!g) return NULL;
    g->one = llama_batch_init(1, 0, 1);
    if (!g->one.token) { free(g); return NULL; }
    g->draft = llama_batch_init(SOV_DRAFT_MAX + 1, 0, 1);
    if (!g->draft.token) { llama_batch_free(g->one); free(g); return NULL; }
    sov_gen_cost_reset(g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    return g;
}

void sov_gen_free(sov_gen *g) {
    if (!g) return;
    llama_batch_free(g->one);
    llama_batch_free(g->draft);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

static void gen_notify(sov_gen *g) {
    char b = 1;
    // Go drains the pipe every time it wakes and the ring bounds how far the
    // loop runs ahead, so the pipe holds a few bytes at most: no blocking.
    while (write(g->wfd, &b, 1) < 0 && errno == EINTR) {}
}

static int64_t gen_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int32_t gen_load(int32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void gen_store(int32_t *p, int32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

// gen_wait_room waits until Go has taken a token out of a full ring, or
// asked the loop to stop.
static void gen_wait_room(sov_gen *g) {
    gen_notify(g);
    pthread_mutex_lock(&g->mu);
    gen_store(&g->sleeping, 1);
    while (g->produced - gen_load(&g->consumed) >= SOV_GEN_RING && !gen_load(&g->stop))
        pthread_cond_wait(&g->cv, &g->mu);
    gen_store(&g->sleeping, 0);
    pthread_mutex_unlock(&g->mu);
}

void sov_gen_wake(sov_gen *g) {
    pthread_mutex_lock(&g->mu);
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gen_finish(sov_gen *g, int32_t reason) {
    g->reason = reason;
    gen_store(&g->done, 1);
    gen_notify(g);
}

static void gen_run(sov_gen *g);

void sov_gen_run(sov_gen *g) {
    unsigned fp = fp_enter(g->flush);
    gen_run(g);
    fp_leave(fp);
}

// logits_nan reports whether any logit is NaN, which healthy weights never
// give: a damaged file would otherwise yield empty or random output. It is
// checked once per answer, on the first token (a few microseconds).
static bool logits_nan(const float *l, int32_t n) {
    if (!l) return false;
    for (int32_t i = 0; i < n; i++)
        if (isnan(l[i])) return true;
    return false;
}

int32_t sov_draft_find(const llama_token *hist, int32_t n, int32_t n_min, int32_t n_max, llama_token *out, int32_t *match) {
    *match = 0;
    if (n < 2 || n_max <= 0) return 0;
    if (n_min < 1) n_min = 1;
    llama_token last = hist[n - 1];
    int32_t best = 0, at = -1;
    // The most recent occurrence wins among n-grams of one length: the
    // text being copied is usually the latest one.
    for (int32_t i = n - 2; i >= 0 && best < SOV_NGRAM_MAX; i--) {
        if (hist[i] != last) continue;
        int32_t l = 1;
        while (l < SOV_NGRAM_MAX && i - l >= 0 && hist[i - l] == hist[n - 1 - l]) l++;
        if (l > best) best = l, at = i;
    }
    if (best < n_min) return 0;
    *match = best;
    int32_t k = n - 1 - at; // tokens after the match, up to the end of hist
    if (k > n_max) k = n_max;
    memcpy(out, hist + at + 1, (size_t)k * sizeof(llama_token));
    return k;
}

// gen_publish hands t to Go through the ring; false when it has no text.
static bool gen_publish(sov_gen *g, llama_token t) {
    sov_gen_token *slot = &g->ring[g->produced % SOV_GEN_RING];
    int32_t n = llama_token_to_piece(g->vocab, t, slot->piece, (int32_t)sizeof(slot->piece), 0, false);
    if (n < 0) return false;
    slot->tok = t;
    slot->len = n;
    if (g->n_draft > 0) g->hist[g->hist_len++] = t;
    gen_store(&g->produced, g->produced + 1);
    if (gen_load(&g->waiting)) {
        // Wake Go for every token when tokens are slow; when they come
        // faster than one per SOV_GEN_BATCH_NS, wake it for a few at a
        // time: each wake costs a context switch on a machine whose
        // cores llama.cpp's threads are using.
        int64_t now = gen_now_ns();
        if (now - g->last_notify >= SOV_GEN_BATCH_NS || g->produced - gen_load(&g->consumed) >= SOV_GEN_RING / 2) {
            g->last_notify = now;
            gen_notify(g);
        }
    }
    return true;
}

static int32_t draft_bucket(int32_t match) { return match <= 2 ? 0 : match == 3 ? 1 : 2; }

void sov_gen_draft_reset(sov_gen *g) {
    // Priors, as pseudo-counts: a longer n-gram is more likely to go on
    // as it did before.
    // Even after four or more matching tokens the prior stays below
    // paying for a draft (ordinary chat repeats short phrases of its
    // prompt and goes on differently); a probe settles it.
    static const float ok[SOV_DRAFT_BUCKETS] = {1.0f, 1.5f, 2.0f}, miss[SOV_DRAFT_BUCKETS] = {1.0f, 1.0f, 1.0f};
    for (int i = 0; i < SOV_DRAFT_BUCKETS; i++) {
        g->acc_ok[i] = ok[i];
        g->acc_miss[i] = miss[i];
        g->since_probe[i] = 0;
    }
}

// sov_draft_len is how many of m drafted tokens to verify. A draft token
// is right with probability p (this reply's record for the n-gram's
// length; each only if the ones before it were), so k rows yield
// 1 + p + p^2 + ... + p^k tokens for a step that costs
// 1 + cost_a + cost_b * k one-token steps: the k with the best ratio, if
// it beats 1. A length whose drafts do not pay gets a one-token probe
// now and then, so a reply that starts quoting is noticed.
int32_t sov_draft_len(sov_gen *g, int32_t m, int32_t match) {
    if (g->draft_fixed) return m;
    int32_t b = draft_bucket(match);
    float p = g->acc_ok[b] / (g->acc_ok[b] + g->acc_miss[b]);
    float gain = 1.0f, tokens = 1.0f, pk = 1.0f;
    int32_t best = 0;
    for (int32_t k = 1; k <= m; k++) {
        pk *= p;
        tokens += pk;
        float r = tokens / (1.0f + g->cost_a + g->cost_b * (float)k);
        if (r > gain * 1.02f) gain = r, best = k;
    }
    // A long match earns a probe sooner: a quote shows itself in a few
    // tokens, and chat rarely repeats four tokens of its context.
    static const int32_t probe_every[SOV_DRAFT_BUCKETS] = {64, 16, 4};
    if (best == 0 && ++g->since_probe[b] >= probe_every[b]) best = 1;
    if (best > 0) g->since_probe[b] = 0;
    return best;
}

// Why two numbers: on a CPU the first extra row costs the most (a batch
// of two tokens leaves the one-token kernels), and each further row less:
// SmolLM2-135M Q4_1 on two cores takes 1.7, 2.1, 2.4, 2.9, ... 4.3
// one-token steps for 1, 2, 3, 4, ... 9 drafted rows with logits, that is
// about 0.4 + 0.35 k. A single per-row figure, timed mostly on the
// one-row probes, made every longer draft look as dear as a whole step.
// The prior (a pseudo-draft at k = 1 and one at k = 8, on the line
// 0.45 + 0.4 k) errs dear and never fades, so the fit stays defined when
// every timed draft had one length; timed drafts (older ones fading)
// soon outweigh it, so a GPU or a memory-bound model, where rows are
// nearly free, drafts long.
static void gen_cost_fit(sov_gen *g) {
    float s[5];
    memcpy(s, g->cost_sum, sizeof(s));
    static const float pk[2] = {1, 8};
    for (int i = 0; i < 2; i++) {
        float y = 0.45f + 0.4f * pk[i];
        s[0] += 1, s[1] += pk[i], s[2] += pk[i] * pk[i], s[3] += y, s[4] += pk[i] * y;
    }
    float den = s[0] * s[2] - s[1] * s[1];
    float b = (s[0] * s[4] - s[1] * s[3]) / den;
    if (b < 0) b = 0;
    if (b > 2) b = 2;
    float a = (s[3] - b * s[1]) / s[0];
    if (a < 0) a = 0;
    if (a > 3) a = 3;
    g->cost_a = a, g->cost_b = b;
}

void sov_gen_cost_reset(sov_gen *g) {
    memset(g->cost_sum, 0, sizeof(g->cost_sum));
    gen_cost_fit(g);
}

// gen_draft_learn records a verified draft: a of k accepted, the step
// taking ns; a one-token step (k == 0) times the baseline.
static void gen_draft_learn(sov_gen *g, int32_t match, int32_t k, int32_t a, int64_t ns) {
    if (k == 0) {
        // A smoothed mean rather than the fastest step: the fastest is
        // biased low on a noisy machine and made every draft look dear.
        // A step slowed by other work counts as at most 1.5 of the
        // baseline, so one stall moves it little.
        float x = (float)ns;
        if (g->step_ns <= 0) g->step_ns = x;
        else {
            if (x > 1.5f * g->step_ns) x = 1.5f * g->step_ns;
            g->step_ns += 0.05f * (x - g->step_ns);
        }
        return;
    }
    int32_t b = draft_bucket(match);
    // Older drafts count less: a reply moves between quoting and writing.
    g->acc_ok[b] = 0.9f * g->acc_ok[b] + (float)a;
    g->acc_miss[b] = 0.9f * g->acc_miss[b] + (a < k ? 1.0f : 0.0f);
    if (g->step_ns > 0) {
        float extra = (float)ns / g->step_ns - 1.0f;
        if (extra < 0) extra = 0;
        if (extra > 3.0f * (float)k + 1.0f) extra = 3.0f * (float)k + 1.0f;
        float *s = g->cost_sum, x = (float)k;
        for (int i = 0; i < 5; i++) s[i] *= 0.97f;
        s[0] += 1, s[1] += x, s[2] += x * x, s[3] += extra, s[4] += x * extra;
        gen_cost_fit(g);
    }
}

// A draft model's token is drafted only while the model gives it at least
// this probability (llama.cpp's speculative default is 0.75): a draft the
// draft model itself doubts is seldom the target's choice.
#define SOV_DRAFT_P_MIN 0.6f
// While drafting with the draft model does not pay, one step in this many
// tries it (the draft context then catches up in one batch).
#define SOV_DRAFT_PROBE 16
// A draft model whose step costs this much of the model's cannot pay: a
// useful one is several times smaller. Even skipped, drafting costs the
// catch-up decode of what the draft model skipped (on a CPU a few tenths
// of its step per token).
#define SOV_DRAFT_SLOW 0.5f

// top_prob returns the argmax of l and its probability under softmax.
static llama_token top_prob(const float *l, int32_t n, float *p) {
    llama_token t = sov_argmax(l, n);
    float m = l[t];
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += expf(l[i] - m);
    *p = sum > 0 ? (float)(1.0 / sum) : 0;
    return t;
}

// gen_draft_drop leaves the draft context holding hist[0..n) only.
static bool gen_draft_drop(sov_gen *g, int32_t n) {
    if (!llama_memory_seq_rm(llama_get_memory(g->dctx), 0, n, -1)) return false;
    if (n < g->dn) g->dn = n;
    return true;
}

// gen_draft_fail gives up drafting for this reply after a failed draft
// decode, leaving the draft context empty (what it held is unknown).
static void gen_draft_fail(sov_gen *g) {
    llama_memory_clear(llama_get_memory(g->dctx), true);
    g->dn = 0;
    g->dfail = true;
}

// gen_dstep records a one-token step of the draft model, as
// gen_draft_learn does the model's.
static void gen_dstep(sov_gen *g, int64_t ns) {
    float x = (float)ns;
    if (g->dstep_ns <= 0) g->dstep_ns = x;
    else {
        if (x > 1.5f * g->dstep_ns) x = 1.5f * g->dstep_ns;
        g->dstep_ns += 0.05f * (x - g->dstep_ns);
    }
    if (++g->dsteps >= 8 && g->step_ns > 0 && g->dstep_ns >= SOV_DRAFT_SLOW * g->step_ns && !g->draft_fixed) g->dslow = true;
}

// gen_model_draft drafts up to lim tokens with the draft model, after the
// context hist[0..hist_len) (its last token, the one just sampled, not yet
// decoded by the target). The draft context first decodes what it lacks of
// hist, then proposes its greedy token while it is confident and the token
// is worth its cost: drafting it costs a draft step (dstep_ns) and
// verifying it a row (cost_b), and it gains a token with the probability
// that it and every token before it are right (approximated by the draft
// model's own probabilities). Of the tokens drafted it returns how many to
// verify (the length with the best expected tokens per step, as
// sov_draft_len); *dec is how many of them the draft context decoded
// beyond hist (the caller drops those the target rejects), -1 when it made
// no attempt (drafting has not paid lately, see dgain).
static int32_t gen_model_draft(sov_gen *g, int32_t lim, llama_token *out, int32_t *dec) {
    *dec = -1; // no attempt
    if (g->dfail || g->dslow || (g->step_ns <= 0 && !g->draft_fixed)) return 0;
    if (!g->draft_fixed && g->dgain < 0 && ++g->dskip < SOV_DRAFT_PROBE) return 0;
    g->dskip = 0;
    *dec = 0; // a plain step first: drafts are priced in its time
    int32_t n = g->hist_len - g->dn;
    if (n <= 0) {
        // Every token the target publishes is new to the draft, so this
        // does not happen; if it did, the last token is decoded again for
        // its logits.
        if (g->hist_len == 0 || !gen_draft_drop(g, g->hist_len - 1)) { gen_draft_fail(g); return 0; }
        n = g->hist_len - g->dn;
    }
    int64_t t0 = gen_now_ns();
    if (sov_decode(g->dctx, g->hist + g->dn, n, g->d_batch, g->flush, 0, g->dn) != 0) { gen_draft_fail(g); return 0; }
    if (n == 1) {
        llama_synchronize(g->dctx);
        gen_dstep(g, gen_now_ns() - t0);
    }
    g->dn = g->hist_len;
    int32_t nv = llama_vocab_n_tokens(g->vocab);
    int32_t nvd = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(g->dctx)));
    float dcost = g->step_ns > 0 ? g->dstep_ns / g->step_ns : 0;
    float cum = 1.0f, tokens = 1.0f, gain = 1.0f;
    int32_t best = 0, m = 0;
    for (;;) {
        float p;
        llama_token t = top_prob(llama_get_logits_ith(g->dctx, -1), nvd, &p);
        cum *= p;
        // What the token must earn back: its row in the verifying batch
        // (the first row costs more) and, from the second token on, the
        // draft step that produced it.
        float cost = m > 0 ? g->cost_b + dcost : g->cost_a + g->cost_b;
        if (t >= nv || p < SOV_DRAFT_P_MIN || (cum < cost && !g->draft_fixed)) break;
        out[m++] = t;
        tokens += cum;
        float r = tokens / (1.0f + g->cost_a + g->cost_b * (float)m);
        if (r > gain * 1.02f || g->draft_fixed) gain = r, best = m;
        if (m >= lim) break;
        t0 = gen_now_ns();
        if (llama_decode(g->dctx, llama_batch_get_one(&out[m - 1], 1)) != 0) {
            gen_draft_fail(g);
            *dec = 0;
            return 0;
        }
        (*dec)++;
        llama_synchronize(g->dctx); // a GPU decodes asynchronously
        gen_dstep(g, gen_now_ns() - t0);
        if (g->step_ns > 0) dcost = g->dstep_ns / g->step_ns;
    }
    return best;
}

// gen_model_settle keeps in the draft context the drafted tokens the
// target accepted: it held hist[0..hl) and dec drafted tokens after it.
static void gen_model_settle(sov_gen *g, int32_t hl, int32_t k, int32_t a, int32_t dec) {
    if (g->dfail) return;
    // The attempt cost its catch-up decode and dec draft steps, and k
    // extra rows.
    float dcost = g->step_ns > 0 ? g->dstep_ns / g->step_ns : 0;
    float net = (float)a - dcost * (float)(dec + 1) - (k > 0 ? g->cost_a + g->cost_b * (float)k : 0);
    g->dgain += 0.2f * (net - g->dgain);
    if (dec == 0) return;
    int32_t keep = hl + (a < dec ? a : dec);
    g->dn = hl + dec;
    if (keep < g->dn && !gen_draft_drop(g, keep)) gen_draft_fail(g);
}

static llama_token gen_sample(sov_gen *g, int32_t row) {
    return g->argmax ? sov_argmax(llama_get_logits_ith(g->ctx, row), llama_vocab_n_tokens(g->vocab))
                     : llama_sampler_sample(g->smpl, g->ctx, row);
}

// gen_run samples a token, publishes it and decodes it, until a limit or
// Go stops it. With drafting, the token is decoded in one batch with the
// tokens that followed the same n-gram earlier in the context, with
// logits for every row; the sampler then takes row after row as long as
// it chooses the drafted token, so every published token is the one the
// sampler chose at its position (for a sampling chain this is speculative
// sampling with a one-token draft distribution: the draft is kept with
// the probability the model gives it, else the token comes from the rest
// of the distribution), and the rows it did not reach leave the KV cache.
// The sampler sees exactly the calls it would without drafting, so the
// output is the same but for the last bits batched decoding may change.
static void gen_run(sov_gen *g) {
    int32_t row = -1;     // the batch row whose logits give the next token
    bool have = false;    // next is already sampled (a draft's first miss)
    llama_token next = 0;
    llama_token draft[SOV_DRAFT_MAX];
    for (;;) {
        if (gen_load(&g->stop)) { gen_finish(g, SOV_GEN_STOPPED); return; }
        if (g->ab && __atomic_load_n(&g->ab->flag, __ATOMIC_SEQ_CST)) { gen_finish(g, SOV_GEN_ABORTED); return; }
        if (g->max_tokens > 0 && g->produced >= g->max_tokens) { gen_finish(g, SOV_GEN_MAX_TOKENS); return; }
        if (g->produced >= g->room) { gen_finish(g, SOV_GEN_CONTEXT); return; }
        if (g->produced - gen_load(&g->consumed) >= SOV_GEN_RING) { gen_wait_room(g); continue; }
        if (!have) {
            if (g->produced == 0 && logits_nan(llama_get_logits_ith(g->ctx, row), llama_vocab_n_tokens(g->vocab))) {
                gen_finish(g, SOV_GEN_NAN);
                return;
            }
            next = gen_sample(g, row);
        }
        have = false;
        if (!g->ignore_eog && llama_vocab_is_eog(g->vocab, next)) { gen_finish(g, SOV_GEN_EOG); return; }
        if (!gen_publish(g, next)) { gen_finish(g, SOV_GEN_PIECE); return; }
        // The last token the reply may have ends it before it is decoded:
        // the caller has its answer a step sooner, and the next turn
        // decodes the token with its prompt (the KV cache holds what
        // ndecoded says).
        if (g->max_tokens > 0 && g->produced >= g->max_tokens) { gen_finish(g, SOV_GEN_MAX_TOKENS); return; }
        if (g->produced >= g->room) { gen_finish(g, SOV_GEN_CONTEXT); return; }
        int32_t k = 0, match = 0, dec = -1, hl = g->hist_len;
        if (g->n_draft > 0) {
            // A draft must fit the ring (its tokens are published without
            // waiting), the token limit and the context.
            int32_t lim = g->n_draft;
            int32_t space = SOV_GEN_RING - (g->produced - gen_load(&g->consumed));
            if (space < lim) lim = space;
            if (g->max_tokens > 0 && g->max_tokens - g->produced < lim) lim = g->max_tokens - g->produced;
            if (g->room - g->produced < lim) lim = g->room - g->produced;
            if (g->dctx) {
                if (lim > 0) k = gen_model_draft(g, lim, draft, &dec);
            } else {
                if (lim > 0) k = sov_draft_find(g->hist, g->hist_len, g->draft_min, lim, draft, &match);
                if (k > 0) k = sov_draft_len(g, k, match);
            }
        }
        struct llama_batch b;
        if (k > 0) {
            b = g->draft;
            for (int32_t i = 0; i <= k; i++) {
                b.token[i] = i == 0 ? next : draft[i - 1];
                b.pos[i] = g->pos + i;
                b.n_seq_id[i] = 1;
                b.seq_id[i][0] = g->seq;
                b.logits[i] = 1;
            }
            b.n_tokens = k + 1;
        } else if (g->seq != 0) {
            g->one.token[0] = next;
            g->one.pos[0] = g->pos;
            g->one.n_seq_id[0] = 1;
            g->one.seq_id[0][0] = g->seq;
            g->one.logits[0] = 1;
            g->one.n_tokens = 1;
            b = g->one;
        } else {
            b = llama_batch_get_one(&g->ring[(g->produced - 1) % SOV_GEN_RING].tok, 1);
        }
        g->pos++;
        int32_t nt = __atomic_exchange_n(&g->threads, 0, __ATOMIC_SEQ_CST);
        if (nt > 0) {
            sov_set_threads(g->ctx, nt, g->flush);
            if (g->dctx) sov_set_threads(g->dctx, nt, g->flush);
        }
        int64_t t0 = g->n_draft > 0 ? gen_now_ns() : 0;
        int32_t rc = llama_decode(g->ctx, b);
        if (rc != 0) {
            // A failed batch leaves nothing of itself in the KV cache.
            if (g->dctx && dec >= 0) gen_model_settle(g, hl, k, 0, dec);
            g->status = rc;
            gen_finish(g, SOV_GEN_DECODE);
            return;
        }
        g->ndecoded++;
        row = -1;
        if (k == 0) {
            if (g->n_draft > 0 && nt == 0) gen_draft_learn(g, 0, 0, 0, gen_now_ns() - t0);
            if (g->dctx && dec >= 0) gen_model_settle(g, hl, 0, 0, dec);
            continue;
        }
        int64_t dt = gen_now_ns() - t0;
        g->drafted += k;
        int32_t a = 0;
        bool eog = false, bad = false;
        for (; a < k; a++) {
            if (g->max_tokens > 0 && g->produced >= g->max_tokens) break;
            llama_token y = gen_sample(g, a);
            if (y != draft[a]) { next = y, have = true; break; }
            if (!g->ignore_eog && llama_vocab_is_eog(g->vocab, y)) { eog = true; break; }
            if (!gen_publish(g, y)) { bad = true; break; }
            g->ndecoded++;
        }
        g->accepted += a;
        if (g->dctx) gen_model_settle(g, hl, k, a, dec);
        if (nt == 0) gen_draft_learn(g, match, k, a, dt);
        row = a;
        if (a < k && !llama_memory_seq_rm(llama_get_memory(g->ctx), g->seq, g->pos + a, -1)) {
            g->status = -1;
            gen_finish(g, SOV_GEN_DECODE);
            return;
        }
        g->pos += a;
        if (eog) { gen_finish(g, SOV_GEN_EOG); return; }
        if (bad) { gen_finish(g, SOV_GEN_PIECE); return; }
    }
}

int32_t sov_bdraft_step(sov_gen *g, sov_bseq *s, llama_token next, int32_t pos, int32_t left,
                        const llama_token *hist, int32_t n_hist, sov_gen_token *out, int32_t *n_out,
                        int32_t *k, int32_t *a) {
    *n_out = 0, *k = 0, *a = 0;
    s->rc = 0;
    llama_token draft[SOV_DRAFT_MAX];
    int32_t lim = left - 1, match = 0, nd = 0; // the step produces up to nd + 1 tokens
    if (lim > g->n_draft) lim = g->n_draft;
    if (lim > 0) nd = sov_draft_find(hist, n_hist, g->draft_min, lim, draft, &match);
    if (nd > 0) nd = sov_draft_len(g, nd, match);
    struct llama_batch b = g->draft;
    for (int32_t i = 0; i <= nd; i++) {
        b.token[i] = i == 0 ? next : draft[i - 1];
        b.pos[i] = pos + i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = g->seq;
        b.logits[i] = 1;
    }
    b.n_tokens = nd + 1;
    unsigned fp = fp_enter(g->flush);
    int64_t t0 = gen_now_ns();
    int32_t rc = llama_decode(g->ctx, b);
    int64_t dt = gen_now_ns() - t0;
    if (rc != 0) { fp_leave(fp); return rc; }
    int32_t nv = llama_vocab_n_tokens(g->vocab), acc = 0;
    for (int32_t row = 0;; row++) {
        const float *l = llama_get_logits_ith(g->ctx, row);
        llama_token y = s->argmax ? sov_argmax(l, nv) : llama_sampler_sample(s->smpl, g->ctx, row);
        if (!s->ignore_eog && llama_vocab_is_eog(g->vocab, y)) { s->rc = SOV_GEN_EOG; break; }
        sov_gen_token *o = &out[*n_out];
        int32_t n = llama_token_to_piece(g->vocab, y, o->piece, (int32_t)sizeof(o->piece), 0, false);
        if (n < 0) { s->rc = SOV_GEN_PIECE; break; }
        o->tok = y, o->len = n;
        (*n_out)++;
        if (row == nd || y != draft[row]) break;
        acc++; // draft[row], decoded at pos + 1 + row, was the sampler's choice
    }
    fp_leave(fp);
    gen_draft_learn(g, match, nd, acc, dt);
    *k = nd, *a = acc;
    if (acc < nd && !llama_memory_seq_rm(llama_get_memory(g->ctx), g->seq, pos + 1 + acc, -1)) return -1;
    return 0;
}

int32_t sov_batch_step(struct llama_context *ctx, const struct llama_vocab *vocab, struct llama_batch *b,
                       sov_bseq *seqs, int32_t n_seqs, bool flush) {
    unsigned fp = fp_enter(flush);
    int32_t rc = llama_decode(ctx, *b);
    if (rc != 0) { fp_leave(fp); return rc; }
    int32_t nv = llama_vocab_n_tokens(vocab);
    for (int32_t i = 0; i < n_seqs; i++) {
        sov_bseq *s = &seqs[i];
        if (s->row < 0) continue;
        s->rc = 0;
        const float *l = llama_get_logits_ith(ctx, s->row);
        if (s->first && logits_nan(l, nv)) { s->rc = SOV_GEN_NAN; continue; }
        llama_token t = s->argmax ? sov_argmax(l, nv) : llama_sampler_sample(s->smpl, ctx, s->row);
        s->tok = t;
        if (!s->ignore_eog && llama_vocab_is_eog(vocab, t)) { s->rc = SOV_GEN_EOG; continue; }
        int32_t n = llama_token_to_piece(vocab, t, s->piece, (int32_t)sizeof(s->piece), 0, false);
        if (n < 0) { s->rc = SOV_GEN_PIECE; continue; }
        s->len = n;
    }
    fp_leave(fp);
    return 0;
}

// llama.cpp reports a grammar it rejects in two ways: parse errors are
// printed on stderr (with the position as the rest of the text), checks
// after parsing (a missing root, left recursion) go to its log. Both are
// captured while the grammar is built, so Go can report one line with a
// position. The log callback is process-wide, hence the locks; an error
// another thread logs meanwhile may land in the buffer (sov's log is quiet
// by default), and stderr is hidden from the whole process for that time.
static pthread_mutex_t grammar_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t grammar_log_mu = PTHREAD_MUTEX_INITIALIZER; // guards grammar_log
static struct { char *buf; int32_t cap, len; } grammar_log;

static void grammar_log_cb(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level != GGML_LOG_LEVEL_ERROR && level != GGML_LOG_LEVEL_CONT) return;
    pthread_mutex_lock(&grammar_log_mu);
    int32_t n = (int32_t)strlen(text), room = grammar_log.cap - grammar_log.len - 1;
    if (grammar_log.buf && room > 0) {
        if (n > room) n = room;
        memcpy(grammar_log.buf + grammar_log.len, text, (size_t)n);
        grammar_log.len += n;
        grammar_log.buf[grammar_log.len] = 0;
    }
    pthread_mutex_unlock(&grammar_log_mu);
}

static struct llama_sampler *grammar_sampler(const struct llama_vocab *vocab, const char *grammar, char *err, int32_t cap) {
    if (err && cap > 0) err[0] = 0;
    pthread_mutex_lock(&grammar_mu);
    ggml_log_callback prev_cb = NULL;
    void *prev_ud = NULL;
    llama_log_get(&prev_cb, &prev_ud);
    pthread_mutex_lock(&grammar_log_mu);
    grammar_log.buf = err;
    grammar_log.cap = err ? cap : 0;
    grammar_log.len = 0;
    pthread_mutex_unlock(&grammar_log_mu);
    llama_log_set(grammar_log_cb, NULL);
    // stderr goes to a temporary file, or to /dev/null when none can be
    // made: it is never shown.
    int saved = -1;
    FILE *tmp = tmpfile();
    int sink = tmp ? fileno(tmp) : open("/dev/null", O_WRONLY);
    if (sink >= 0) { fflush(stderr); saved = dup(2); dup2(sink, 2); }
    if (!tmp && sink >= 0) close(sink);
    struct llama_sampler *g = llama_sampler_init_grammar(vocab, grammar, "root");
    if (saved >= 0) { fflush(stderr); dup2(saved, 2); close(saved); }
    llama_log_set(prev_cb, prev_ud);
    pthread_mutex_lock(&grammar_log_mu);
    grammar_log.buf = NULL;
    int32_t used = grammar_log.len;
    pthread_mutex_unlock(&grammar_log_mu);
    pthread_mutex_unlock(&grammar_mu);
    if (tmp) {
        // The parse error comes first: it says where the grammar is wrong.
        if (!g && err && cap > 1) {
            char *log = used > 0 ? strdup(err) : NULL;
            rewind(tmp);
            size_t n = fread(err, 1, (size_t)cap - 1, tmp);
            err[n] = 0;
            if (log) {
                strncat(err, log, (size_t)cap - 1 - n);
                free(log);
            }
        }
        fclose(tmp);
    }
    return g;
}

int32_t sov_grammar_check(const char *grammar, char *err, int32_t cap) {
    struct llama_sampler *g = grammar_sampler(NULL, grammar, err, cap);
    if (!g) return 0;
    llama_sampler_free(g);
    return 1;
}

struct llama_sampler *sov_sampler(const struct llama_vocab *vocab, float temp, int32_t top_k, float top_p, float min_p,
                                  float repeat, int32_t repeat_last_n, uint32_t seed, const char *grammar,
                                  char *err, int32_t cap) {
    struct llama_sampler_chain_params sp = llama_sampler_chain_default_params();
    sp.no_perf = true;
    struct llama_sampler *c = llama_sampler_chain_init(sp);
    if (grammar && grammar[0]) {
        struct llama_sampler *g = grammar_sampler(vocab, grammar, err, cap);
        if (!g) { llama_sampler_free(c); return NULL; }
        llama_sampler_chain_add(c, g);
    }
    if (repeat > 0 && repeat != 1.0f) {
        llama_sampler_chain_add(c, llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), repeat_last_n, repeat, 0.0f, 0.0f));
    }
    if (temp <= 0) {
        llama_sampler_chain_add(c, llama_sampler_init_greedy());
        return c;
    }
    if (top_k > 0) llama_sampler_chain_add(c, llama_sampler_init_top_k(top_k));
    if (top_p > 0 && top_p < 1) llama_sampler_chain_add(c, llama_sampler_init_top_p(top_p, 1));
    if (min_p > 0) llama_sampler_chain_add(c, llama_sampler_init_min_p(min_p, 1));
    llama_sampler_chain_add(c, llama_sampler_init_temp(temp));
    llama_sampler_chain_add(c, llama_sampler_init_dist(seed));
    return c;
}

// Decodes one token and forgets it, as llama.cpp's own tools do at start-up,
// so the first real prompt does not pay for first-touch page faults and
// thread start-up.
void sov_warmup(struct llama_context *ctx, const struct llama_vocab *vocab, bool flush) {
    unsigned fp = fp_enter(flush);
    llama_token t = llama_vocab_bos(vocab);
    if (t < 0) t = 0;
    struct llama_batch b = llama_batch_get_one(&t, 1);
    llama_decode(ctx, b);
    llama_memory_clear(llama_get_memory(ctx), false);
    llama_synchronize(ctx);
    fp_leave(fp);
}

int32_t sov_embed(struct llama_context *ctx, const llama_token *toks, int32_t n, float *out, int32_t dim, bool flush) {
    llama_memory_clear(llama_get_memory(ctx), true);
    struct llama_batch b = llama_batch_get_one((llama_token *)toks, n);
    unsigned fp = fp_enter(flush);
    int32_t rc = llama_decode(ctx, b);
    fp_leave(fp);
    if (rc != 0) return rc;
    float *e = llama_get_embeddings_seq(ctx, 0);
    if (!e) return -1;
    memcpy(out, e, sizeof(float) * (size_t)dim);
    return 0;
}

int32_t sov_apply_template(const char *tmpl, const char **roles, const char **contents, size_t n, bool add_ass, char *buf, int32_t cap) {
    llama_chat_message *msgs = (llama_chat_message *)malloc(sizeof(llama_chat_message) * (n ? n : 1));
    if (!msgs) return -1;
    for (size_t i = 0; i < n; i++) { msgs[i].role = roles[i]; msgs[i].content = contents[i]; }
    int32_t r = llama_chat_apply_template(tmpl, msgs, n, add_ass, buf, cap);
    free(msgs);
    return r;
}

int32_t sov_dev_count(void) { return (int32_t)ggml_backend_dev_count(); }
const char *sov_dev_name(int32_t i) { return ggml_backend_dev_name(ggml_backend_dev_get((size_t)i)); }
const char *sov_dev_desc(int32_t i) { return ggml_backend_dev_description(ggml_backend_dev_get((size_t)i)); }
int32_t sov_dev_type(int32_t i) { return (int32_t)ggml_backend_dev_type(ggml_backend_dev_get((size_t)i)); }
int32_t sov_reg_count(void) { return (int32_t)ggml_backend_reg_count(); }
const char *sov_reg_name(int32_t i) { return ggml_backend_reg_name(ggml_backend_reg_get((size_t)i)); }

int32_t sov_vocab_compatible(const struct llama_vocab *tgt, const struct llama_vocab *dft, int32_t *id) {
    *id = -1;
    if (llama_vocab_type(tgt) != llama_vocab_type(dft)) return 1;
    if (llama_vocab_get_add_bos(tgt) != llama_vocab_get_add_bos(dft) ||
        llama_vocab_get_add_eos(tgt) != llama_vocab_get_add_eos(dft) ||
        llama_vocab_bos(tgt) != llama_vocab_bos(dft) || llama_vocab_eos(tgt) != llama_vocab_eos(dft))
        return 2;
    int32_t nt = llama_vocab_n_tokens(tgt), nd = llama_vocab_n_tokens(dft);
    if (nt - nd > 128 || nd - nt > 128) return 3;
    // As llama.cpp's own check: the first few ids are control tokens that
    // may differ between a family's sizes.
    int32_t n = nt < nd ? nt : nd;
    for (int32_t i = 5; i < n; i++) {
        if (strcmp(llama_vocab_get_text(tgt, i), llama_vocab_get_text(dft, i)) != 0) {
            *id = i;
            return 4;
        }
    }
    return 0;
}
