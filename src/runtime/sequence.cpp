#include "runtime/sequence.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "grammar/token_constraint.h"

namespace hearth {

// ---- StopStrings ----

StopStrings::StopStrings(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopStrings::push(std::string_view text) {
  if (stopped_) return {};
  pending_ += text;
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, pending_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, first);
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that a stop string starts with; it may complete with the next piece.
  size_t hold = 0;
  for (const auto& s : stops_) {
    for (size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k) {
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopStrings::flush() {
  std::string out;
  if (!stopped_) out.swap(pending_);
  pending_.clear();
  return out;
}

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  return size_t(std::mismatch(a.begin(), a.begin() + long(n), b.begin()).first - a.begin());
}

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "";
}

namespace {

// The chosen token's log-probability under softmax(logits) and the `top` most likely tokens (highest first,
// ties to the lower id). Accumulated in double: these are compared with `hearth logits` to 1e-4.
GeneratedToken log_probabilities(std::span<const float> logits, int32_t chosen, int top) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float x : logits) sum += std::exp(double(x) - double(max));
  const double log_z = double(max) + std::log(sum);
  GeneratedToken g;
  g.chosen = {chosen, float(double(logits[size_t(chosen)]) - log_z)};
  if (top > 0) {
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
    const size_t k = std::min(size_t(top), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + long(k), ids.end(), [&](int32_t a, int32_t b) {
      return logits[size_t(a)] != logits[size_t(b)] ? logits[size_t(a)] > logits[size_t(b)] : a < b;
    });
    for (size_t i = 0; i < k; ++i) g.top.push_back({ids[i], float(double(logits[size_t(ids[i])]) - log_z)});
  }
  return g;
}

}  // namespace

// ---- Sequence ----

Sequence::Sequence(const Tokenizer& tokenizer, std::vector<int32_t> prompt, GenerateOptions options, int context,
                   TextCallback on_text)
    : tok_(tokenizer),
      options_(std::move(options)),
      context_(context),
      prompt_size_(prompt.size()),
      tokens_(std::move(prompt)),
      sampler_(options_.sampling),
      decoder_(tokenizer),
      stops_(options_.stop),
      on_text_(std::move(on_text)) {
  if (tokens_.empty()) fail("the prompt is empty (this vocabulary adds no BOS token)");
  if (int64_t(tokens_.size()) > context_)
    fail(ErrorKind::kResourceExhausted, "prompt of {} tokens does not fit the context of {}", tokens_.size(), context_);
  for (int32_t id : tokens_) {
    if (id < 0 || id >= tok_.n_vocab()) fail("prompt token id {} is outside the vocabulary (0..{})", id, tok_.n_vocab() - 1);
    sampler_.accept(id);
  }
  result_.usage.prompt_tokens = int(prompt_size_);
  // The decoder drops the leading space of the first text token (SentencePiece's start-of-text rule). That is
  // right when the prompt holds no text (BOS only), but a continuation of text keeps its space, so the
  // decoder first sees the prompt (complete UTF-8, so nothing of it is held back) and its output is dropped.
  if (!tok_.decode(tokens_).empty())
    for (int32_t id : tokens_) (void)decoder_.push(id);
  for (const auto& [id, bias] : options_.logit_bias)
    if (id < 0 || id >= tok_.n_vocab() || !std::isfinite(bias))
      fail("logit_bias: token id {} is outside the vocabulary (0..{}) or its bias is not finite", id, tok_.n_vocab() - 1);
  if (options_.grammar)
    constraint_ = std::make_unique<grammar::TokenConstraint>(options_.grammar, grammar::VocabularyTrie::of(tok_));
}

Sequence::~Sequence() = default;

void Sequence::set_cached_tokens(int n) {
  cached_ = std::clamp(n, 0, int(tokens_.size()) - 1);
  if (!stepped_) result_.usage.cached_prompt_tokens = std::min(cached_, int(prompt_size_));
}

Sequence::Step Sequence::next_step(int max_tokens) const {
  Step step;
  if (finished() || max_tokens < 1) return step;
  const size_t begin = size_t(cached_);
  const size_t n = std::min(tokens_.size() - begin, size_t(max_tokens));
  step.tokens = std::span<const int32_t>(tokens_).subspan(begin, n);
  step.start = cached_;
  step.wants_logits = begin + n == tokens_.size();
  return step;
}

void Sequence::emit(const std::string& text) {
  if (text.empty() || finished()) return;
  result_.text += text;
  const std::span<const GeneratedToken> logprobs = std::span<const GeneratedToken>(result_.logprobs).subspan(logprobs_emitted_);
  logprobs_emitted_ = result_.logprobs.size();
  if (on_text_ && !on_text_(text, logprobs)) cancel();
}

void Sequence::finish(FinishReason reason, bool flush_text) {
  if (finished()) return;
  if (flush_text) {
    emit(stops_.push(decoder_.flush()));
    if (!stops_.stopped()) emit(stops_.flush());
  }
  result_.finish_reason = reason;
  const auto now = Clock::now();
  const auto first = result_.tokens.empty() ? now : first_token_;
  result_.prompt_seconds = std::chrono::duration<double>(first - created_).count();
  result_.generate_seconds = std::chrono::duration<double>(now - first).count();
}

void Sequence::finish_cancelled() { finish(FinishReason::kCancelled, false); }

void Sequence::advance(size_t n, std::span<const float> logits) {
  if (finished()) return;
  stepped_ = true;
  if (n == 0 || cached_ + n > tokens_.size()) fail("advance({}) past the {} tokens of the sequence", n, tokens_.size());
  cached_ += int(n);
  if (cancel_requested()) return finish_cancelled();
  if (size_t(cached_) < tokens_.size()) return;  // a prompt chunk (or recomputation) without logits
  if (logits.empty()) fail("advance() needs the logits of the sequence's newest token");
  if (options_.max_tokens == 0) return finish(FinishReason::kLength, true);

  sample_from(logits);
}

void Sequence::sample_from(std::span<const float> logits) {
  std::span<const float> distribution = logits;
  if (constraint_ || !options_.logit_bias.empty()) {
    masked_.assign(logits.begin(), logits.end());
    for (const auto& [id, bias] : options_.logit_bias) masked_[size_t(id)] += bias;
    distribution = masked_;
  }
  if (constraint_) {
    // No token continues the text (the vocabulary cannot spell what the grammar needs next): the output is
    // incomplete, which "length" says.
    if (constraint_->mask(masked_, options_.stop_at_eog) == 0) return finish(FinishReason::kLength, true);
  }
  const int32_t id = sampler_.sample(distribution);
  sampler_.accept(id);
  if (constraint_) constraint_->accept(id);
  if (result_.tokens.empty()) first_token_ = Clock::now();
  result_.tokens.push_back(id);
  ++result_.usage.completion_tokens;
  if (options_.top_logprobs >= 0) result_.logprobs.push_back(log_probabilities(logits, id, options_.top_logprobs));
  tokens_.push_back(id);

  if (options_.stop_at_eog && tok_.is_end_of_generation(id)) return finish(FinishReason::kStop, true);
  emit(stops_.push(decoder_.push(id)));
  if (stops_.stopped()) return finish(FinishReason::kStop, false);
  if (cancel_requested()) return finish_cancelled();
  if (constraint_ && constraint_->complete()) return finish(FinishReason::kStop, true);
  const int n_generated = int(result_.tokens.size());
  // The newest token is not run when nothing would use its logits (max_tokens is met) or it has no position
  // left in the context.
  if (n_generated == options_.max_tokens || int(tokens_.size()) > context_) finish(FinishReason::kLength, true);
}

size_t Sequence::advance_with_draft(std::span<const int32_t> draft, std::span<const float> logits) {
  if (finished()) return 0;
  if (tokens_.size() - size_t(cached_) != 1) fail("advance_with_draft() needs a sequence that is decoding");
  const size_t n_vocab = logits.size() / (draft.size() + 1);
  if (n_vocab == 0 || logits.size() != n_vocab * (draft.size() + 1))
    fail("advance_with_draft(): {} logits are not {} rows", logits.size(), draft.size() + 1);
  stepped_ = true;
  ++cached_;  // the newest token ran
  if (cancel_requested()) {
    finish_cancelled();
    return 0;
  }
  size_t accepted = 0;
  for (size_t row = 0; row <= draft.size(); ++row) {
    sample_from(logits.subspan(row * n_vocab, n_vocab));
    if (finished() || row == draft.size() || tokens_.back() != draft[row]) break;
    ++accepted;
    ++cached_;  // the draft token ran at this position: its cache entry is the sampled token's
  }
  return accepted;
}

}  // namespace hearth
