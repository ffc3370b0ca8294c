// LoRA adapters applied at run time, without merging: each adapted projection computes
//   y = W·x + Σ scale · B·(A·x)
// as two small extra backend matmuls per adapter (A: rank x in, B: out x rank, both F32), so one loaded base model
// serves many adapters, and sequences with different adapters share one forward batch (DecoderInput::lora).
//
// A PreparedLora is immutable after construction and safe to share between threads and engines; it holds its own
// F32 copies of the matrices. A LoraStack (the adapters one sequence uses, with their scales) must outlive every
// forward that names it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/lora.h"
#include "models/decoder.h"

namespace hearth {

// The decoder matrices an adapter may update.
enum class LoraProjection { kQ, kK, kV, kOutput, kGate, kUp, kDown };
constexpr int kLoraProjections = 7;

class PreparedLora {
 public:
  // Prepares `adapter` (loaded against the model's weights) on the model's backend. Error kUnsupported for an
  // update of a matrix other than the attention and feed-forward projections (the output head, say).
  PreparedLora(const LoraAdapter& adapter, const DecoderModel& model);

  struct Factors {
    std::unique_ptr<Matrix> a, b;  // a: rank x in, b: out x rank
    float scale = 1.0f;            // the adapter's own (alpha / r)
    int64_t rank = 0;
  };
  // The update of a layer's projection, or null when the adapter leaves it alone.
  const Factors* get(int layer, LoraProjection p) const {
    return layers_[size_t(layer)][size_t(p)].a ? &layers_[size_t(layer)][size_t(p)] : nullptr;
  }
  const std::string& source() const { return source_; }
  uint64_t fingerprint() const { return fingerprint_; }
  // Memory its F32 factors hold (a server's memory budget counts it).
  int64_t bytes() const {
    int64_t n = 0;
    for (const std::vector<float>& v : storage_) n += int64_t(v.size() * sizeof(float));
    return n;
  }
  // Whether it was prepared for a model of these dimensions (forward refuses an adapter of another model).
  bool fits(const DecoderHParams& hp) const {
    return hp.n_layer == int(layers_.size()) && hp.n_embd == n_embd_ && hp.n_ff == n_ff_ && hp.q_dim() == q_dim_ &&
           hp.kv_dim() == kv_dim_;
  }

 private:
  std::string source_;
  int n_embd_ = 0, n_ff_ = 0, q_dim_ = 0, kv_dim_ = 0;
  uint64_t fingerprint_ = 0;
  std::vector<std::vector<float>> storage_;  // what the matrices point to
  std::vector<std::array<Factors, kLoraProjections>> layers_;
};

// The adapters one sequence runs with, applied in order, each with the user's scale.
struct LoraUse {
  std::shared_ptr<const PreparedLora> adapter;
  float scale = 1.0f;
  bool operator==(const LoraUse& o) const { return adapter == o.adapter && scale == o.scale; }
};
struct LoraStack {
  std::vector<LoraUse> adapters;
  // What a KV cache keys a sequence's blocks by (DecoderCache::attach_prefix): 0 for no adapters (so sequences
  // of the base model share prefixes as before), else a hash of the adapters' fingerprints and scales.
  uint64_t key() const;
};

// The key of an optional stack (null: the base model, 0).
inline uint64_t lora_key(const LoraStack* stack) { return stack ? stack->key() : 0; }

// Loads adapters given as "FILE[:SCALE]" (parse_lora_spec) against the model's weights and prepares them, in order;
// null when `specs` is empty. Errors name the adapter (see load_lora_adapter).
std::shared_ptr<const LoraStack> load_lora_stack(const std::vector<std::string>& specs, const Weights& weights,
                                                 const DecoderModel& model);

// A decoder that runs every input without its own adapters through `stack` (for the single-sequence generators,
// which take a DecoderModel). `base` and `stack` must outlive it.
std::unique_ptr<DecoderModel> with_lora(const DecoderModel& base, std::shared_ptr<const LoraStack> stack);

}  // namespace hearth
