// Speculative decoding on one sequence: a small draft model (same vocabulary) guesses the next few tokens one
// at a time, and the target model checks all of them in one batched forward pass (the newest token plus the
// guesses, with every row's logits). Sequence::advance_with_draft keeps the guesses the target's own sampler
// would have produced and the first token where they part, so the output is exactly the target's alone — for
// greedy and seeded sampling — while several tokens may come out of one pass of the big model. Correct because
// the target's logits for a token do not depend on how many tokens ran with it (batch invariance,
// docs/decoder.md).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "models/decoder.h"
#include "runtime/sequence.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

// A draft model guessing tokens for many sequences at once, on its own cache (sequence ids = the caller's slots).
// Each call first brings every sequence's draft cache up to the tokens given (running only what the cache lacks),
// then guesses greedily, all sequences in one draft forward per guessed position. The draft only proposes: the
// target decides (Sequence::advance_with_draft), so a guess changes the speed, never the output.
class DraftRunner {
 public:
  // The draft's vocabulary must be the target's (Error otherwise); `cache` shapes the draft's cache.
  DraftRunner(const DecoderModel& draft, int target_vocab, const CacheOptions& cache);

  struct Request {
    int seq = 0;
    std::span<const int32_t> tokens;  // the sequence so far; its last token is the newest
    int guesses = 0;                  // 0: only follow the tokens (a prompt chunk the target runs)
  };
  // Guesses for each request, in order (fewer than asked where the context ends). Brings the draft's cache up to
  // each request's tokens. Error if the draft's cache has no room: the caller may go on without guesses.
  std::vector<std::vector<int32_t>> guess(std::span<const Request> requests);
  // Lets the sequence's draft cache go (its whole blocks stay cached), or attaches the cached prefix of `tokens`.
  void release(int seq) { cache_->clear(seq); }
  void attach(int seq, std::span<const int32_t> tokens) { cache_->attach_prefix(seq, tokens); }
  // Bytes of the draft's key/value storage.
  int64_t cache_bytes() const { return cache_->bytes(); }

 private:
  const DecoderModel& draft_;
  std::unique_ptr<DecoderCache> cache_;
};

struct SpeculativeStats {
  uint64_t rounds = 0;    // target passes that checked a draft
  uint64_t drafted = 0;   // draft tokens proposed
  uint64_t accepted = 0;  // draft tokens the target kept
  double acceptance_rate() const { return drafted ? double(accepted) / double(drafted) : 0.0; }
};

class SpeculativeGenerator {
 public:
  // The target runs on slot 0 of target_cache; the draft on a cache of its own with the same shape. The draft's
  // vocabulary must be the target's (Error otherwise). max_draft: tokens guessed per round (>= 1).
  SpeculativeGenerator(const DecoderModel& target, DecoderCache& target_cache, const DecoderModel& draft,
                       const Tokenizer& tokenizer, int max_draft = 8);

  GenerateResult generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                          const TextCallback& on_text = {});
  const SpeculativeStats& stats() const { return stats_; }

 private:
  const DecoderModel& target_;
  DecoderCache& target_cache_;
  const Tokenizer& tok_;
  int max_draft_;
  DraftRunner draft_;
  SpeculativeStats stats_;
};

}  // namespace hearth
