// Text generation on one sequence slot of a DecoderCache: prompt processing in batched chunks (reusing
// whatever prefix of the prompt the slot already holds), then one token per forward pass, sampled by a
// Sampler chain, until max tokens, an end-of-generation token, a stop string, the context limit, or the
// caller says stop. Text is streamed as complete UTF-8 (StreamDecoder), holding back any tail that may
// still turn out to be the start of a stop string.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "models/decoder.h"
#include "runtime/sampler.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

// Stop-string matching on a text stream. push() returns what can be shown now: text up to the first stop
// string once one appears (then stopped() is true and the rest is dropped), otherwise everything except a
// tail that is a prefix of some stop string.
class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);
  std::string push(std::string_view text);
  std::string flush();  // end of generation: the held-back tail was not a stop string after all
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

struct GenerateOptions {
  int max_tokens = 128;  // < 0: until the context is full
  std::vector<std::string> stop;
  bool stop_at_eog = true;  // end on the vocabulary's end-of-generation tokens (EOS, EOT, ...)
  int batch_size = 512;     // prompt tokens per forward pass
  SamplerOptions sampling = SamplerOptions::greedy();
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (including a final EOG token if one ended generation)
  std::string text;             // the streamed text (without the stop string)
  std::string finish_reason;    // "stop" (EOG or stop string), "length" (max tokens or context full), "cancelled"
  int prompt_tokens = 0;        // prompt length
  int prompt_tokens_evaluated = 0;  // prompt tokens actually run (the rest came from the cache)
  double prompt_seconds = 0, generate_seconds = 0;
};

// Called with each piece of text as it becomes final; return false to stop generating.
using TextCallback = std::function<bool(std::string_view)>;

// Runs `tokens` at positions start.. of sequence `seq` in chunks of at most batch_size tokens and returns the
// logits of the last token (all tokens' logits, rows x n_vocab, if all_logits).
std::vector<float> prefill(const DecoderModel& model, DecoderCache& cache, int seq, std::span<const int32_t> tokens,
                           int start, int batch_size, bool all_logits = false);

class Generator {
 public:
  Generator(const DecoderModel& model, const Tokenizer& tokenizer, DecoderCache& cache, int seq = 0);

  // Makes the slot hold `tokens`, keeping the longest prefix it already holds, and returns the last token's
  // logits. Error if they do not fit the context.
  std::vector<float> ingest(std::span<const int32_t> tokens, int batch_size = 512);
  GenerateResult generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                          const TextCallback& on_text = {});
  // The tokens the slot holds now (prompt + generated).
  const std::vector<int32_t>& tokens() const { return tokens_; }
  void reset();

 private:
  const DecoderModel& model_;
  const Tokenizer& tok_;
  DecoderCache& cache_;
  int seq_;
  std::vector<int32_t> tokens_;
  int last_evaluated_ = 0;
};

}  // namespace hearth
