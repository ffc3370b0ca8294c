// Text generation on one sequence slot of a DecoderCache: a short driver over one Sequence (sequence.h). The
// prompt runs in chunks of options.batch_size tokens, reusing whatever prefix of it the slot already holds,
// then one token per forward pass until the Sequence finishes. Many sequences at once: Engine (engine.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "models/decoder.h"
#include "runtime/sequence.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

// Runs `tokens` at positions start.. of sequence `seq` in chunks of at most batch_size tokens and returns the
// logits of the last token (all tokens' logits, rows x n_vocab, if all_logits).
std::vector<float> prefill(const DecoderModel& model, DecoderCache& cache, int seq, std::span<const int32_t> tokens,
                           int start, int batch_size, bool all_logits = false);

class Generator {
 public:
  Generator(const DecoderModel& model, const Tokenizer& tokenizer, DecoderCache& cache, int seq = 0);

  GenerateResult generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                          const TextCallback& on_text = {});
  // The tokens the slot holds now (prompt + generated, less a last token that was never run).
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // The slot was filled from elsewhere (load_sequence): it holds `tokens`, which the next prompt may reuse.
  void adopt(std::vector<int32_t> tokens);
  void reset();

 private:
  const DecoderModel& model_;
  const Tokenizer& tok_;
  DecoderCache& cache_;
  int seq_;
  std::vector<int32_t> tokens_;
};

}  // namespace hearth
