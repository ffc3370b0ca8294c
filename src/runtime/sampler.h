// Token sampling with llama.cpp's semantics and default chain order:
//   penalties (repeat / frequency / presence over the last N tokens) → top-k → top-p → min-p → temperature → draw.
// temperature <= 0 means greedy: the highest logit wins, ties going to the lowest token id.
// The random draw uses std::mt19937_64 (its output sequence is fixed by the C++ standard) and our own
// uniform/categorical code, so a seed gives the same tokens on every platform and standard library.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hearth {

struct SamplerOptions {
  float temperature = 0.8f;
  int top_k = 40;        // <= 0: off
  float top_p = 0.95f;   // >= 1: off
  float min_p = 0.05f;   // <= 0: off
  float repeat_penalty = 1.0f;    // llama.cpp: logit/=p if positive, *=p if negative, for tokens seen recently
  float frequency_penalty = 0.0f; // minus count * f
  float presence_penalty = 0.0f;  // minus p once a token was seen
  int penalty_last_n = 64;        // window of recent tokens the penalties look at (0: off, -1: all)
  uint64_t seed = 0;

  static SamplerOptions greedy() {
    SamplerOptions o;
    o.temperature = 0.0f;
    return o;
  }
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options);

  // Records a token of the context (prompt or generated) for the penalties.
  void accept(int32_t id);
  // Picks the next token from a row of logits over the whole vocabulary. Does not accept() it.
  int32_t sample(std::span<const float> logits);
  // Forgets the penalty history and restarts the random sequence from the seed.
  void reset();
  const SamplerOptions& options() const { return opt_; }

  // A uniform double in [0, 1) built from the top 53 bits of one mt19937_64 draw.
  static double uniform01(std::mt19937_64& rng);

 private:
  using Candidate = std::pair<float, int32_t>;  // (logit, id)
  void apply_penalties(std::vector<Candidate>& c) const;

  SamplerOptions opt_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::unordered_map<int32_t, int> counts_;
  std::vector<Candidate> cand_;
  std::vector<double> probs_;
};

// Index of the largest value, the lowest index among equals (greedy decoding).
int32_t argmax(std::span<const float> logits);

}  // namespace hearth
