// One generation request as a state machine that something else drives: the Sequence says what it needs next
// (a chunk of its prompt, or its last sampled token) and accepts the logits that come back. It owns everything
// per request — sampler state, stop strings, the stream decoder, the finish reason, usage counts and per-token
// log-probabilities — and nothing shared: the model, the KV cache and the batching belong to whoever drives it
// (Generator for one sequence, Engine for many in one batch).
//
// A driver loop:
//   while (!seq.finished()) {
//     Step step = seq.next_step(max_tokens);           // tokens to run at positions step.start.. of the slot
//     logits = forward(step.tokens, step.start);        // the last token's logits, if step.wants_logits
//     seq.advance(step.tokens.size(), logits);          // samples when the logits are there; streams text
//   }
// The tokens of a step are those the slot's cache lacks: the driver may rewind (cached_tokens) to recompute,
// e.g. after its cache slot was taken by another request, and the output stays the same.
//
// Not thread-safe: one driver at a time (cancel() is the exception, callable from any thread).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"
#include "runtime/sampler.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

namespace grammar {
class TokenConstraint;
}

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

enum class FinishReason {
  kNone,       // still running
  kStop,       // an end-of-generation token or a stop string
  kLength,     // max_tokens reached, or the context is full
  kCancelled,  // cancel(), or the text callback returned false
};
// "stop", "length", "cancelled" ("" while running): the names OpenAI's API uses.
const char* to_string(FinishReason reason);

struct GenerateOptions {
  int max_tokens = 128;  // < 0: until the context is full
  std::vector<std::string> stop;
  bool stop_at_eog = true;  // end on the vocabulary's end-of-generation tokens (EOS, EOT, ...)
  int batch_size = 512;     // prompt tokens per forward pass (Generator; the Engine has its own step budget)
  int top_logprobs = -1;    // < 0: no log-probabilities; n >= 0: the chosen token's and the n most likely
  SamplerOptions sampling = SamplerOptions::greedy();
  // Constrained decoding (docs/structured_output.md): the generated text is a sentence of this grammar. Before
  // each sample the tokens that cannot continue it get -inf logits; end-of-generation tokens are allowed only
  // where the text is complete, and once nothing may follow the sequence finishes (stop). Log-probabilities
  // stay the model's own (the unmasked distribution). Null: unconstrained, exactly as before.
  std::shared_ptr<const grammar::Grammar> grammar;
  // Added to a token's logit before sampling (OpenAI's logit_bias: -100 bans a token, +100 all but forces it).
  // Like the grammar's mask, it shapes the choice only: log-probabilities stay the model's own.
  std::vector<std::pair<int32_t, float>> logit_bias;
};

struct TokenLogprob {
  int32_t id = -1;
  float logprob = 0;  // natural log of the model's probability (softmax of the raw logits)
};

// One generated token with its log-probability and the most likely alternatives (highest first).
struct GeneratedToken {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;
};

struct Usage {
  int prompt_tokens = 0;         // prompt length
  int cached_prompt_tokens = 0;  // prompt tokens that came from the cache instead of being run
  int completion_tokens = 0;     // generated tokens (including a final end-of-generation token)
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (including a final EOG token if one ended generation)
  std::string text;             // the streamed text (without the stop string)
  FinishReason finish_reason = FinishReason::kNone;
  Usage usage;
  std::vector<GeneratedToken> logprobs;  // one per generated token when options.top_logprobs >= 0
  double prompt_seconds = 0;             // from the Sequence's creation to its first sampled token
  double generate_seconds = 0;           // from the first sampled token to the end

  int evaluated_prompt_tokens() const { return usage.prompt_tokens - usage.cached_prompt_tokens; }
};

// How many leading tokens a and b share: what a cache holding `a` can keep when it is to hold `b`.
size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);

// Called with each piece of text as it becomes final, and the log-probabilities of the tokens sampled since the
// previous piece (empty unless options.top_logprobs >= 0; a piece may complete several tokens' text, and tokens
// whose text never becomes final — an end-of-generation token, a stop string — are in the result only);
// return false to stop generating.
using TextCallback = std::function<bool(std::string_view text, std::span<const GeneratedToken> logprobs)>;

class Sequence {
 public:
  // `context` is the most positions the driver's cache slot holds; Error if the prompt is empty or longer.
  Sequence(const Tokenizer& tokenizer, std::vector<int32_t> prompt, GenerateOptions options, int context,
           TextCallback on_text = {});
  ~Sequence();

  // What to run next: tokens [start, start + size) of tokens(), at those positions.
  struct Step {
    std::span<const int32_t> tokens;
    int start = 0;
    bool wants_logits = false;  // the step ends with the newest token: its logits decide the next one
  };
  // At most max_tokens (>= 1) of the tokens the cache lacks. Empty when finished.
  Step next_step(int max_tokens) const;
  // The first n tokens of the last next_step() ran; `logits` (n_vocab floats) are the last one's if that step
  // wanted them (else empty). Samples, streams text and may finish the sequence.
  void advance(size_t n, std::span<const float> logits);

  // Speculative decoding: the driver ran the newest token followed by `draft` (guesses of the tokens after it)
  // at positions cached_tokens().., with the logits of every one of them: logits holds 1 + draft.size() rows.
  // The sequence samples from each row in turn exactly as it would one step at a time: while what it samples
  // equals the next draft token, that token (already run) is kept and the next row used; the first sample that
  // differs is kept instead of the draft, and the rest of the draft is dropped. So the output is the one of
  // decoding without a draft, for greedy and seeded sampling alike (the sampler draws once per kept token).
  // Returns how many draft tokens were accepted.
  size_t advance_with_draft(std::span<const int32_t> draft, std::span<const float> logits);

  // How many of tokens() the driver's cache slot holds. The driver lowers it to recompute (after its slot was
  // given to another request), or raises it when the slot already held a prefix of the tokens; the newest
  // token always runs again, since its logits are needed. Before the first step this counts as cached prompt.
  int cached_tokens() const { return cached_; }
  void set_cached_tokens(int n);

  bool finished() const { return result_.finish_reason != FinishReason::kNone; }
  bool prompt_done() const { return cached_ >= int(prompt_size_); }
  // Any thread: the sequence finishes as cancelled at its next advance() or next_step().
  void cancel() { cancel_requested_.store(true, std::memory_order_relaxed); }
  bool cancel_requested() const { return cancel_requested_.load(std::memory_order_relaxed); }
  // Ends it as cancelled now (driver's thread).
  void finish_cancelled();

  const std::vector<int32_t>& tokens() const { return tokens_; }  // prompt + generated
  const GenerateResult& result() const { return result_; }
  GenerateResult take_result() { return std::move(result_); }
  const GenerateOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  void finish(FinishReason reason, bool flush_text);
  void sample_from(std::span<const float> logits);  // the next token; may finish the sequence
  void emit(const std::string& text);

  const Tokenizer& tok_;
  GenerateOptions options_;
  int context_;
  size_t prompt_size_;
  std::vector<int32_t> tokens_;
  int cached_ = 0;
  Sampler sampler_;
  StreamDecoder decoder_;
  StopStrings stops_;
  TextCallback on_text_;
  size_t logprobs_emitted_ = 0;  // result_.logprobs already passed to on_text_
  std::atomic<bool> cancel_requested_{false};
  GenerateResult result_;
  Clock::time_point created_ = Clock::now(), first_token_{};
  std::unique_ptr<grammar::TokenConstraint> constraint_;  // when options_.grammar is set
  std::vector<float> masked_;                             // the logits row with the grammar's mask applied
  bool stepped_ = false;  // advance() has run
};

}  // namespace hearth
