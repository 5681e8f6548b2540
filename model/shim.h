// C helpers for the cgo binding: they keep llama.cpp structs on the C side
// (cgo cannot pass Go memory holding Go pointers) and fold the per-token
// sample/detokenize/decode step into one call to keep binding overhead low.
#ifndef SOV_SHIM_H
#define SOV_SHIM_H
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "llama.h"

typedef struct sov_abort { volatile int flag; } sov_abort;

void sov_init(void);
void sov_log_quiet(void);
void sov_log_to_go(void);

struct llama_model *sov_load_model(const char *path, int32_t n_gpu_layers, bool use_mmap, uintptr_t progress_handle);
struct llama_context *sov_new_context(struct llama_model *model, uint32_t n_ctx, uint32_t n_batch, uint32_t n_ubatch,
                                      int32_t n_threads, int32_t n_threads_batch, bool embeddings, int32_t flash_attn, sov_abort *ab);

sov_abort *sov_abort_new(void);
void sov_abort_set(sov_abort *ab, int v);
void sov_abort_free(sov_abort *ab);

// Decodes n tokens of sequence 0 starting at position pos, in chunks of
// n_batch. Only the last token's logits are kept. Returns llama_decode's
// status (2 = aborted).
int32_t sov_decode(struct llama_context *ctx, const llama_token *toks, int32_t n, int32_t n_batch);

// One generation step: sample from the last logits, report end-of-generation,
// write the token's text into piece, and (unless eog) decode it.
// Returns 0 on success, 1 on eog, <0 on error; decode status in *dec.
int32_t sov_step(struct llama_context *ctx, struct llama_sampler *smpl, const struct llama_vocab *vocab,
                 llama_token *tok, char *piece, int32_t piece_cap, int32_t *piece_len, int32_t *dec, bool ignore_eog, bool argmax);

struct llama_sampler *sov_sampler(const struct llama_vocab *vocab, float temp, int32_t top_k, float top_p, float min_p,
                                  float repeat, int32_t repeat_last_n, uint32_t seed, const char *grammar);

void sov_warmup(struct llama_context *ctx, const struct llama_vocab *vocab);
int32_t sov_embed(struct llama_context *ctx, const llama_token *toks, int32_t n, float *out, int32_t dim);

int32_t sov_apply_template(const char *tmpl, const char **roles, const char **contents, size_t n, bool add_ass, char *buf, int32_t cap);

int32_t sov_dev_count(void);
const char *sov_dev_name(int32_t i);
const char *sov_dev_desc(int32_t i);
int32_t sov_dev_type(int32_t i);

int32_t sov_reg_count(void);
const char *sov_reg_name(int32_t i);
#endif
