#include "runtime/generator.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

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

// ---- prompt processing ----

std::vector<float> prefill(const DecoderModel& model, DecoderCache& cache, int seq, std::span<const int32_t> tokens,
                           int start, int batch_size, bool all_logits) {
  if (tokens.empty()) fail("cannot run an empty prompt");
  if (batch_size < 1) fail("batch size must be positive");
  if (int64_t(start) + int64_t(tokens.size()) > cache.n_ctx())
    fail("prompt of {} tokens does not fit the context of {} (positions {} used)", tokens.size(), cache.n_ctx(),
         start);
  std::vector<float> out;
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min(tokens.size() - done, size_t(batch_size));
    DecoderInput in;
    in.seq = seq;
    in.tokens = tokens.subspan(done, n);
    in.start = start + int(done);
    in.all_logits = all_logits;
    std::vector<float> logits = model.forward(std::span<const DecoderInput>(&in, 1), cache);
    done += n;
    if (all_logits) {
      out.insert(out.end(), logits.begin(), logits.end());
    } else if (done == tokens.size()) {
      out = std::move(logits);
    }
  }
  return out;
}

// ---- Generator ----

Generator::Generator(const DecoderModel& model, const Tokenizer& tokenizer, DecoderCache& cache, int seq)
    : model_(model), tok_(tokenizer), cache_(cache), seq_(seq) {
  cache_.clear(seq_);
}

void Generator::reset() {
  cache_.clear(seq_);
  tokens_.clear();
}

std::vector<float> Generator::ingest(std::span<const int32_t> tokens, int batch_size) {
  if (tokens.empty()) fail("the prompt is empty (this vocabulary adds no BOS token)");
  if (int64_t(tokens.size()) > cache_.n_ctx())
    fail("prompt of {} tokens does not fit the context of {}", tokens.size(), cache_.n_ctx());
  size_t common = 0;
  while (common < tokens_.size() && common < tokens.size() && tokens_[common] == tokens[common]) ++common;
  // The last prompt token always runs again: its logits are what the caller needs.
  common = std::min(common, tokens.size() - 1);
  cache_.truncate(seq_, int(common));
  tokens_.resize(common);
  last_evaluated_ = int(tokens.size() - common);
  std::vector<float> logits = prefill(model_, cache_, seq_, tokens.subspan(common), int(common), batch_size);
  tokens_.assign(tokens.begin(), tokens.end());
  return logits;
}

GenerateResult Generator::generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                                   const TextCallback& on_text) {
  using Clock = std::chrono::steady_clock;
  GenerateResult r;
  r.prompt_tokens = int(prompt.size());
  const auto t0 = Clock::now();
  std::vector<float> logits = ingest(prompt, options.batch_size);
  r.prompt_tokens_evaluated = last_evaluated_;
  const auto t1 = Clock::now();
  r.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();

  Sampler sampler(options.sampling);
  for (int32_t id : prompt) sampler.accept(id);
  StreamDecoder decoder(tok_);
  // The decoder drops the leading space of the first text token (SentencePiece's start-of-text rule). That is
  // right when the prompt holds no text (BOS only), but a continuation of text keeps its space, so the
  // decoder first sees the prompt (complete UTF-8, so nothing of it is held back) and its output is dropped.
  if (!tok_.decode(std::vector<int32_t>(prompt.begin(), prompt.end())).empty())
    for (int32_t id : prompt) (void)decoder.push(id);
  StopStrings stops(options.stop);
  bool cancelled = false;
  auto emit = [&](const std::string& text) {
    if (text.empty() || cancelled) return;
    r.text += text;
    if (on_text && !on_text(text)) cancelled = true;
  };

  r.finish_reason = "length";
  bool flush = true;
  for (int n = 0; options.max_tokens < 0 || n < options.max_tokens; ++n) {
    const int32_t id = sampler.sample(logits);
    sampler.accept(id);
    r.tokens.push_back(id);
    if (options.stop_at_eog && tok_.is_end_of_generation(id)) {
      r.finish_reason = "stop";
      break;
    }
    emit(stops.push(decoder.push(id)));
    if (stops.stopped()) {
      r.finish_reason = "stop";
      flush = false;
      break;
    }
    if (cancelled) {
      r.finish_reason = "cancelled";
      flush = false;
      break;
    }
    if (n + 1 == options.max_tokens || int(tokens_.size()) >= cache_.n_ctx()) break;  // no use for more logits
    DecoderInput in;
    in.seq = seq_;
    in.tokens = std::span<const int32_t>(&r.tokens.back(), 1);
    in.start = int(tokens_.size());
    logits = model_.forward(std::span<const DecoderInput>(&in, 1), cache_);
    tokens_.push_back(id);
  }
  if (flush) {
    emit(stops.push(decoder.flush()));
    if (!stops.stopped()) emit(stops.flush());
  }
  r.generate_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return r;
}

}  // namespace hearth
