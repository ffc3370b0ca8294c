// Speculative decoding on one sequence: a small draft model (same vocabulary) guesses the next few tokens one
// at a time, and the target model checks all of them in one batched forward pass (the newest token plus the
// guesses, with every row's logits). Sequence::advance_with_draft keeps the guesses the target's own sampler
// would have produced and the first token where they part, so the output is exactly the target's alone — for
// greedy and seeded sampling — while several tokens may come out of one pass of the big model. Correct because
// the target's logits for a token do not depend on how many tokens ran with it (batch invariance,
// docs/decoder.md).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "models/decoder.h"
#include "runtime/sequence.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

struct SpeculativeStats {
  uint64_t rounds = 0;    // target passes that checked a draft
  uint64_t drafted = 0;   // draft tokens proposed
  uint64_t accepted = 0;  // draft tokens the target kept
  double acceptance_rate() const { return drafted ? double(accepted) / double(drafted) : 0.0; }
};

class SpeculativeGenerator {
 public:
  // Each model runs on slot 0 of its own cache; both caches need the same context. The draft's vocabulary
  // must be the target's (Error otherwise). max_draft: tokens guessed per round (>= 1).
  SpeculativeGenerator(const DecoderModel& target, DecoderCache& target_cache, const DecoderModel& draft,
                       DecoderCache& draft_cache, const Tokenizer& tokenizer, int max_draft = 8);

  GenerateResult generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                          const TextCallback& on_text = {});
  const SpeculativeStats& stats() const { return stats_; }

 private:
  // Brings the draft's cache up to `tokens` and guesses up to `count` tokens after them (greedy).
  std::vector<int32_t> guess(const std::vector<int32_t>& tokens, int count, int batch_size);

  const DecoderModel& target_;
  DecoderCache& target_cache_;
  const DecoderModel& draft_;
  DecoderCache& draft_cache_;
  const Tokenizer& tok_;
  int max_draft_;
  std::vector<int32_t> draft_held_;  // what the draft's cache holds (positions 0..)
  SpeculativeStats stats_;
};

}  // namespace hearth
