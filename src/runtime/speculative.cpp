#include "runtime/speculative.h"

#include <algorithm>

#include "core/error.h"
#include "runtime/generator.h"
#include "runtime/sampler.h"

namespace hearth {

SpeculativeGenerator::SpeculativeGenerator(const DecoderModel& target, DecoderCache& target_cache,
                                           const DecoderModel& draft, DecoderCache& draft_cache,
                                           const Tokenizer& tokenizer, int max_draft)
    : target_(target),
      target_cache_(target_cache),
      draft_(draft),
      draft_cache_(draft_cache),
      tok_(tokenizer),
      max_draft_(max_draft) {
  if (max_draft_ < 1) fail("the draft length must be at least 1, not {}", max_draft_);
  if (draft_.hparams().n_vocab != target_.hparams().n_vocab)
    fail("the draft model's vocabulary ({} tokens) is not the target's ({})", draft_.hparams().n_vocab,
         target_.hparams().n_vocab);
  if (draft_cache_.n_ctx() < target_cache_.n_ctx())
    fail("the draft's context ({}) is shorter than the target's ({})", draft_cache_.n_ctx(), target_cache_.n_ctx());
  target_cache_.clear(0);
  draft_cache_.clear(0);
}

std::vector<int32_t> SpeculativeGenerator::guess(const std::vector<int32_t>& tokens, int count, int batch_size) {
  const size_t common = std::min(common_prefix(draft_held_, tokens), tokens.size() - 1);  // the newest token runs: its logits give the first guess
  std::vector<float> logits =
      prefill(draft_, draft_cache_, 0, std::span<const int32_t>(tokens).subspan(common), int(common), batch_size);
  draft_held_.assign(tokens.begin(), tokens.end());
  std::vector<int32_t> guesses;
  for (int i = 0; i < count; ++i) {
    guesses.push_back(argmax(logits));
    if (i + 1 == count) break;  // the last guess needs no logits
    DecoderInput in;
    in.tokens = std::span<const int32_t>(&guesses.back(), 1);
    in.start = int(draft_held_.size());
    logits = draft_.forward(std::span<const DecoderInput>(&in, 1), draft_cache_);
    draft_held_.push_back(guesses.back());
  }
  return guesses;
}

GenerateResult SpeculativeGenerator::generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                                              const TextCallback& on_text) {
  if (options.batch_size < 1) fail("batch size must be positive");
  Sequence seq(tok_, std::vector<int32_t>(prompt.begin(), prompt.end()), options, target_cache_.n_ctx(), on_text);
  draft_held_.clear();
  while (!seq.finished()) {
    const std::vector<int32_t>& tokens = seq.tokens();
    const bool decoding = tokens.size() - size_t(seq.cached_tokens()) == 1;
    // Room for guesses: the context, and the tokens still allowed (the newest one's sample counts too).
    int room = std::min(max_draft_, target_cache_.n_ctx() - int(tokens.size()));
    if (options.max_tokens >= 0) room = std::min(room, options.max_tokens - int(seq.result().tokens.size()) - 1);
    if (!decoding || room < 1) {  // the prompt, or no room to guess: plain steps
      const Sequence::Step step = seq.next_step(options.batch_size);
      DecoderInput in;
      in.tokens = step.tokens;
      in.start = step.start;
      const std::vector<float> logits = target_.forward(std::span<const DecoderInput>(&in, 1), target_cache_);
      seq.advance(step.tokens.size(), step.wants_logits ? std::span<const float>(logits) : std::span<const float>());
      continue;
    }
    const std::vector<int32_t> draft = guess(tokens, room, options.batch_size);
    std::vector<int32_t> run{tokens.back()};
    run.insert(run.end(), draft.begin(), draft.end());
    DecoderInput in;
    in.tokens = run;
    in.start = seq.cached_tokens();
    in.all_logits = true;
    const std::vector<float> logits = target_.forward(std::span<const DecoderInput>(&in, 1), target_cache_);
    const size_t accepted = seq.advance_with_draft(draft, logits);
    ++stats_.rounds;
    stats_.drafted += draft.size();
    stats_.accepted += accepted;
  }
  return seq.take_result();
}

}  // namespace hearth
