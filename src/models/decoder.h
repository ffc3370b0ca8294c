// Decoder-only language models (llama / qwen2 / qwen3 families): the interface the generation runtime and the
// server are written against, and the per-sequence state (KV cache) they keep between calls.
//
// One loaded DecoderModel is immutable and may serve many sequences at once: everything that changes while
// generating lives in a DecoderCache, which holds n_seq independent sequence slots of n_ctx positions each.
// Keys and values are stored as F16, like llama.cpp's default KV cache (`-ctk f16 -ctv f16`); parity with
// llama.cpp's logits depends on that rounding (see docs/decoder.md).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/weights.h"

namespace hearth {

struct DecoderHParams {
  std::string arch;  // "llama", "qwen2", "qwen3"
  int n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int n_ctx_train = 0;  // <arch>.context_length
  float rms_eps = 1e-5f;
  RopeParams rope;  // n_head / head_dim / n_rot / base / scaling; n_head is set per use (q or k)
  bool qkv_bias = false;     // qwen2
  bool qk_norm = false;      // qwen3: RMSNorm of each head of q and k before rope
  bool tied_output = false;  // no output.weight: the token embedding doubles as the output head

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// KV cache and scratch memory for up to n_seq sequences of at most n_ctx positions each. Not thread-safe:
// one cache is driven by one thread at a time (the server gives each worker its own, or serializes).
class DecoderCache {
 public:
  DecoderCache(Backend& backend, const DecoderHParams& hp, int n_ctx, int n_seq);

  int n_ctx() const { return n_ctx_; }
  int n_seq() const { return n_seq_; }
  // Positions already stored for sequence `seq` (the next token goes at this position).
  int length(int seq) const;
  // Forgets positions >= n of sequence `seq` (n <= length): rewinds for prompt-prefix reuse or a new request.
  void truncate(int seq, int n);
  void clear(int seq) { truncate(seq, 0); }

  int n_layer() const { return int(k_.size()); }
  int64_t kv_dim() const { return kv_dim_; }

  // ---- for the model ----
  Act k(int layer) const { return *k_[size_t(layer)]; }  // [n_seq * n_ctx, kv_dim] F16; seq s owns rows s*n_ctx..
  Act v(int layer) const { return *v_[size_t(layer)]; }
  void set_length(int seq, int n);
  Workspace& workspace() { return *workspace_; }
  Backend& backend() { return backend_; }

 private:
  Backend& backend_;
  int n_ctx_ = 0, n_seq_ = 0;
  int64_t kv_dim_ = 0;
  std::vector<int> length_;
  std::vector<std::shared_ptr<Act>> k_, v_;
  std::unique_ptr<Workspace> workspace_;
};

// One sequence's part of a forward batch: `tokens` go at positions start, start+1, ... of sequence `seq`.
// start must be <= the cache's length for seq; anything stored at positions >= start is replaced.
struct DecoderInput {
  int seq = 0;
  std::span<const int32_t> tokens;
  int start = 0;
  bool all_logits = false;  // logits for every token (teacher forcing) instead of only the last one
};

class DecoderModel {
 public:
  virtual ~DecoderModel() = default;
  virtual const DecoderHParams& hparams() const = 0;
  virtual Backend& backend() const = 0;

  std::unique_ptr<DecoderCache> new_cache(int n_ctx, int n_seq = 1) const {
    return std::make_unique<DecoderCache>(backend(), hparams(), n_ctx, n_seq);
  }

  // Runs the inputs (distinct sequences) as one batch, appends their K/V to the cache, and returns the
  // logits of the rows asked for, in input order (each input: all its tokens or only its last), as
  // rows x n_vocab floats. Error if a sequence would exceed the cache's n_ctx or a token id is out of range.
  virtual std::vector<float> forward(std::span<const DecoderInput> inputs, DecoderCache& cache) const = 0;
};

// Saving one sequence's cache to a file and back, so that a conversation survives a restart without running
// its tokens again. The file (format version 1) holds the tokens, their keys and values (F16, as stored), the
// model's fingerprint (Weights::fingerprint) and the cache's shape, and a checksum. It is written to a temporary
// file and renamed over `path`, so a crash mid-write leaves the old file whole. `note` is opaque text saved with
// it (e.g. a chat's messages).
void save_sequence(DecoderCache& cache, int seq, std::span<const int32_t> tokens, uint64_t model_fingerprint,
                   const std::string& note, const std::string& path);
struct SavedSequence {
  std::vector<int32_t> tokens;  // what the slot now holds, positions 0..
  std::string note;
};
// Fills slot `seq` from the file. Error kNotFound (no file), kCorruptData (damaged, truncated, checksum, another
// format version), kInvalidArgument (saved for another model or cache shape), kResourceExhausted (longer than
// the context). Everything is checked before the slot is touched: on error it is unchanged.
SavedSequence load_sequence(DecoderCache& cache, int seq, uint64_t model_fingerprint, const std::string& path);

struct DecoderLoadOptions {
  // Nothing yet beyond the backend; kept so that callers need not change when options appear.
};

// Builds the decoder for weights.architecture() ("llama", "qwen2", "qwen3"); Error naming an unknown
// architecture or the first missing / misshapen tensor or inconsistent hyper-parameter. `weights` and
// `backend` must outlive the model.
std::unique_ptr<DecoderModel> load_decoder(const Weights& weights, Backend& backend,
                                           const DecoderLoadOptions& options = {});
// The architectures load_decoder runs.
const std::vector<std::string>& decoder_architectures();

}  // namespace hearth
