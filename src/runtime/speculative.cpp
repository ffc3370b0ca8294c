#include "runtime/speculative.h"

#include <algorithm>

#include "core/error.h"
#include "runtime/sampler.h"

namespace hearth {

DraftRunner::DraftRunner(const DecoderModel& draft, int target_vocab, const CacheOptions& cache) : draft_(draft) {
  if (draft_.hparams().n_vocab != target_vocab)
    fail("the draft model's vocabulary ({} tokens) is not the target's ({})", draft_.hparams().n_vocab, target_vocab);
  cache_ = draft_.new_cache(cache);
}

std::vector<std::vector<int32_t>> DraftRunner::guess(std::span<const Request> requests) {
  std::vector<std::vector<int32_t>> guesses(requests.size());
  // First pass: what each draft cache lacks, through the newest token (its logits give the first guess). A long
  // gap (a prompt the draft never saw) is run in chunks first, as a prompt is.
  constexpr size_t kChunk = 512;
  std::vector<DecoderInput> inputs;
  std::vector<size_t> owner;  // request of each input
  for (size_t i = 0; i < requests.size(); ++i) {
    const Request& r = requests[i];
    if (r.tokens.empty()) continue;
    size_t common = std::min(common_prefix(cache_->tokens(r.seq), r.tokens), r.tokens.size() - 1);
    for (; r.tokens.size() - common > kChunk; common += kChunk) {
      DecoderInput chunk;
      chunk.seq = r.seq;
      chunk.tokens = r.tokens.subspan(common, kChunk);
      chunk.start = int(common);
      draft_.forward(std::span<const DecoderInput>(&chunk, 1), *cache_);
    }
    DecoderInput in;
    in.seq = r.seq;
    in.tokens = r.tokens.subspan(common);
    in.start = int(common);
    inputs.push_back(in);
    owner.push_back(i);
  }
  // Then one position per pass for the sequences that still want guesses, each pass's guesses as inputs.
  const size_t n_vocab = size_t(draft_.hparams().n_vocab);
  while (!inputs.empty()) {
    const std::vector<float> logits = draft_.forward(inputs, *cache_);
    std::vector<DecoderInput> next;
    std::vector<size_t> next_owner;
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Request& r = requests[owner[k]];
      std::vector<int32_t>& g = guesses[owner[k]];
      if (int(g.size()) >= r.guesses) continue;
      const int position = inputs[k].start + int(inputs[k].tokens.size());
      if (position >= cache_->n_ctx()) continue;
      g.push_back(argmax(std::span<const float>(logits).subspan(k * n_vocab, n_vocab)));
      if (int(g.size()) == r.guesses) continue;  // the last guess needs no logits
      DecoderInput in;
      in.seq = r.seq;
      in.tokens = std::span<const int32_t>(&g.back(), 1);
      in.start = position;
      next.push_back(in);
      next_owner.push_back(owner[k]);
    }
    inputs = std::move(next);
    owner = std::move(next_owner);
  }
  return guesses;
}

namespace {

CacheOptions draft_cache_options(const DecoderCache& target) {
  CacheOptions o;
  o.n_ctx = target.n_ctx();
  o.block_size = target.block_size();
  o.capacity = int64_t(target.n_ctx());
  return o;
}

}  // namespace

SpeculativeGenerator::SpeculativeGenerator(const DecoderModel& target, DecoderCache& target_cache,
                                           const DecoderModel& draft, const Tokenizer& tokenizer, int max_draft)
    : target_(target),
      target_cache_(target_cache),
      tok_(tokenizer),
      max_draft_(max_draft),
      draft_(draft, target.hparams().n_vocab, draft_cache_options(target_cache)) {
  if (max_draft_ < 1) fail("the draft length must be at least 1, not {}", max_draft_);
  target_cache_.clear(0);
}

GenerateResult SpeculativeGenerator::generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                                              const TextCallback& on_text) {
  if (options.batch_size < 1) fail("batch size must be positive");
  Sequence seq(tok_, std::vector<int32_t>(prompt.begin(), prompt.end()), options, target_cache_.n_ctx(), on_text);
  draft_.release(0);
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
    const DraftRunner::Request request{0, tokens, room};
    const std::vector<int32_t> draft = draft_.guess(std::span<const DraftRunner::Request>(&request, 1))[0];
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
