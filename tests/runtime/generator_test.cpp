#include "runtime/generator.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/session.h"
#include "test_util.h"

namespace hearth {
namespace {

TEST(StopStrings, HoldsBackAPossibleStartAndCutsAtTheMatch) {
  StopStrings s({"world", "###"});
  EXPECT_EQ(s.push("Hello wor"), "Hello ");  // "wor" may begin "world"
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.push("ld! and more"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.push("ignored"), "");
  EXPECT_EQ(s.flush(), "");
}

TEST(StopStrings, ReleasesTextThatTurnsOutNotToMatch) {
  StopStrings s({"world"});
  EXPECT_EQ(s.push("a w"), "a ");
  EXPECT_EQ(s.push("ow"), "wo");  // the last "w" may still begin "world"
  EXPECT_EQ(s.push("wo"), "w");
  EXPECT_EQ(s.flush(), "wo");
  StopStrings none({});
  EXPECT_EQ(none.push("anything"), "anything");
  StopStrings empty_only({""});  // an empty stop string means nothing
  EXPECT_EQ(empty_only.push("x"), "x");
}

TEST(StopStrings, EarliestStopWins) {
  StopStrings s({"cd", "b"});
  EXPECT_EQ(s.push("abcd"), "a");
  EXPECT_TRUE(s.stopped());
}

// ---- with a real model ----

class StoriesGenerator : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    session_ = open_decoder(test::shared_dir() + "/models/stories260K.gguf", 1);
  }
  std::vector<int32_t> encode(const std::string& text) { return session_.tokenizer->encode(text, true, false); }
  DecoderSession session_;
};

TEST_F(StoriesGenerator, GreedyStoryFromBos) {
  auto cache = session_.model->new_cache(256);
  Generator gen(*session_.model, *session_.tokenizer, *cache);
  GenerateOptions o;
  o.max_tokens = 40;
  std::string streamed;
  o.top_logprobs = 2;
  std::vector<GeneratedToken> streamed_logprobs;
  size_t pieces_with_logprobs = 0;
  GenerateResult r = gen.generate(encode(""), o, [&](std::string_view t, std::span<const GeneratedToken> lp) {
    streamed += t;
    streamed_logprobs.insert(streamed_logprobs.end(), lp.begin(), lp.end());
    pieces_with_logprobs += lp.empty() ? 0 : 1;
    return true;
  });
  EXPECT_EQ(r.text, streamed);
  // Each piece brings the log-probabilities of the tokens it completes: in order, a prefix of the result's list
  // (tokens whose text never becomes final are only in the result).
  ASSERT_LE(streamed_logprobs.size(), r.logprobs.size());
  EXPECT_GE(streamed_logprobs.size() + 1, r.logprobs.size());
  EXPECT_GT(pieces_with_logprobs, 1u);
  for (size_t k = 0; k < streamed_logprobs.size(); ++k) {
    EXPECT_EQ(streamed_logprobs[k].chosen.id, r.logprobs[k].chosen.id);
    EXPECT_EQ(streamed_logprobs[k].chosen.logprob, r.logprobs[k].chosen.logprob);
  }
  EXPECT_EQ(r.tokens.size(), 40u);
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.text.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", 0),
            0u)
      << r.text;
}

TEST_F(StoriesGenerator, ContinuationKeepsItsLeadingSpace) {
  auto cache = session_.model->new_cache(256);
  Generator gen(*session_.model, *session_.tokenizer, *cache);
  GenerateOptions o;
  o.max_tokens = 3;
  GenerateResult r = gen.generate(encode("Tom and his dog went to the"), o);
  EXPECT_EQ(r.text.rfind(" park", 0), 0u) << r.text;
}

TEST_F(StoriesGenerator, StopStringEndsGenerationBeforeIt) {
  auto cache = session_.model->new_cache(256);
  Generator gen(*session_.model, *session_.tokenizer, *cache);
  GenerateOptions o;
  o.max_tokens = 60;
  o.stop = {"Lily"};
  GenerateResult r = gen.generate(encode(""), o);
  EXPECT_EQ(r.finish_reason, FinishReason::kStop);
  EXPECT_EQ(r.text, "Once upon a time, there was a little girl named ");
}

TEST_F(StoriesGenerator, SeededSamplingRepeatsAndCallbackCancels) {
  auto cache = session_.model->new_cache(256);
  Generator gen(*session_.model, *session_.tokenizer, *cache);
  GenerateOptions o;
  o.max_tokens = 30;
  o.sampling = SamplerOptions();
  o.sampling.temperature = 1.0f;
  o.sampling.seed = 1234;
  const auto a = gen.generate(encode("Once upon a time"), o);
  const auto b = gen.generate(encode("Once upon a time"), o);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.text, b.text);
  // The second call found the whole prompt but its last token cached.
  EXPECT_EQ(b.evaluated_prompt_tokens(), 1);
  int pieces = 0;
  const auto c = gen.generate(encode("Once upon a time"), o, [&](std::string_view, std::span<const GeneratedToken>) { return ++pieces < 3; });
  EXPECT_EQ(c.finish_reason, FinishReason::kCancelled);
  EXPECT_LT(c.tokens.size(), a.tokens.size());
}

TEST_F(StoriesGenerator, ChunkedPromptAndSecondSlotGiveTheSameTokens) {
  const auto prompt = encode("The little bird was sad because it could not find its mother in the big tree");
  GenerateOptions o;
  o.max_tokens = 20;
  auto cache = session_.model->new_cache(256, 2);
  Generator one(*session_.model, *session_.tokenizer, *cache, 0);
  const auto ref = one.generate(prompt, o);
  o.batch_size = 3;
  Generator two(*session_.model, *session_.tokenizer, *cache, 1);
  const auto chunked = two.generate(prompt, o);
  EXPECT_EQ(chunked.tokens, ref.tokens);
  // Slot 0 still holds its sequence: a longer prompt reuses it.
  auto longer = one.tokens();
  longer.push_back(ref.tokens.back());
  const auto again = one.generate(longer, o);
  EXPECT_EQ(again.evaluated_prompt_tokens(), 1);
}

TEST_F(StoriesGenerator, StopsAtTheContextLimit) {
  auto cache = session_.model->new_cache(12);
  Generator gen(*session_.model, *session_.tokenizer, *cache);
  GenerateOptions o;
  o.max_tokens = 100;
  o.stop_at_eog = false;
  const auto prompt = encode("Once upon a time");
  const auto r = gen.generate(prompt, o);
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.tokens.size() + prompt.size(), 13u);  // 12 positions run, the last sampled token never runs
  const std::vector<int32_t> too_long(13, 5);
  EXPECT_THROW(gen.generate(too_long, o), Error);
  EXPECT_THROW(gen.generate(std::vector<int32_t>{}, o), Error);
}

TEST_F(StoriesGenerator, BadTokensAndPositionsAreErrors) {
  auto cache = session_.model->new_cache(16, 2);
  const std::vector<int32_t> bad = {1, 99999};
  DecoderInput in;
  in.tokens = bad;
  EXPECT_THROW(session_.model->forward(std::span<const DecoderInput>(&in, 1), *cache), Error);
  EXPECT_EQ(cache->length(0), 0);
  const std::vector<int32_t> ok = {1, 2};
  in.tokens = ok;
  in.start = 3;  // past the cached length
  EXPECT_THROW(session_.model->forward(std::span<const DecoderInput>(&in, 1), *cache), Error);
  in.start = 0;
  in.seq = 2;  // no such slot
  EXPECT_THROW(session_.model->forward(std::span<const DecoderInput>(&in, 1), *cache), Error);
  DecoderInput twice[2];
  twice[0].tokens = ok;
  twice[1].tokens = ok;
  EXPECT_THROW(session_.model->forward(std::span<const DecoderInput>(twice, 2), *cache), Error);
}

TEST_F(StoriesGenerator, TwoSequencesInOneBatchMatchSeparateRuns) {
  const auto a = encode("Once upon a time");
  const auto b = encode("Tom and his dog went to the park");
  const int n_vocab = session_.model->hparams().n_vocab;
  auto cache = session_.model->new_cache(64, 2);
  DecoderInput in[2];
  in[0].seq = 0;
  in[0].tokens = a;
  in[1].seq = 1;
  in[1].tokens = b;
  in[1].all_logits = true;
  const auto both = session_.model->forward(std::span<const DecoderInput>(in, 2), *cache);
  ASSERT_EQ(both.size(), size_t(1 + b.size()) * size_t(n_vocab));
  auto solo = session_.model->new_cache(64, 1);
  const auto la = prefill(*session_.model, *solo, 0, a, 0, 512);
  solo->clear(0);
  const auto lb = prefill(*session_.model, *solo, 0, b, 0, 512, true);
  for (int v = 0; v < n_vocab; ++v) EXPECT_NEAR(both[size_t(v)], la[size_t(v)], 1e-3);
  for (size_t i = 0; i < lb.size(); ++i) ASSERT_NEAR(both[size_t(n_vocab) + i], lb[i], 1e-3);
}

}  // namespace
}  // namespace hearth
