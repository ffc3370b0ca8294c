#include "runtime/generator.h"

#include <algorithm>

#include "core/error.h"

namespace hearth {

// ---- prompt processing ----

std::vector<float> prefill(const DecoderModel& model, DecoderCache& cache, int seq, std::span<const int32_t> tokens,
                           int start, int batch_size, bool all_logits) {
  if (tokens.empty()) fail("cannot run an empty prompt");
  if (batch_size < 1) fail("batch size must be positive");
  if (int64_t(start) + int64_t(tokens.size()) > cache.n_ctx())
    fail(ErrorKind::kResourceExhausted, "prompt of {} tokens does not fit the context of {} (positions {} used)", tokens.size(), cache.n_ctx(),
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

void Generator::adopt(std::vector<int32_t> tokens) {
  if (int64_t(tokens.size()) != cache_.length(seq_))
    fail("the slot holds {} positions, not the {} tokens adopted", cache_.length(seq_), tokens.size());
  tokens_ = std::move(tokens);
}

void Generator::reset() {
  cache_.clear(seq_);
  tokens_.clear();
}

GenerateResult Generator::generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                                   const TextCallback& on_text) {
  if (options.batch_size < 1) fail("batch size must be positive");
  Sequence seq(tok_, std::vector<int32_t>(prompt.begin(), prompt.end()), options, cache_.n_ctx(), on_text);
  // Reuse the longest prefix of the prompt the slot already holds (a chat's earlier turns).
  seq.set_cached_tokens(int(common_prefix(tokens_, prompt)));
  while (!seq.finished()) {
    const Sequence::Step step = seq.next_step(options.batch_size);
    DecoderInput in;
    in.seq = seq_;
    in.tokens = step.tokens;
    in.start = step.start;
    const std::vector<float> logits = model_.forward(std::span<const DecoderInput>(&in, 1), cache_);
    seq.advance(step.tokens.size(), step.wants_logits ? std::span<const float>(logits) : std::span<const float>());
  }
  // The slot holds every token that ran: all but a last sampled one.
  tokens_.assign(seq.tokens().begin(), seq.tokens().begin() + seq.cached_tokens());
  return seq.take_result();
}

}  // namespace hearth
