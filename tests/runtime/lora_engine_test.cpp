// Run-time LoRA through the batching engine (stories260K and random adapters): requests with different adapters
// in one batch each get what they get alone; a request without adapters gets the base model's output; prefixes
// computed with one adapter are never reused by a request with another.
#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "lora_fixture.h"
#include "models/lora.h"
#include "runtime/engine.h"
#include "runtime/generator.h"
#include "runtime/session.h"
#include "test_util.h"

namespace hearth {
namespace {

class LoraEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    session_ = open_decoder(test::shared_dir() + "/models/stories260K.gguf", 1);
    const DecoderHParams& hp = session_.model->hparams();
    std::mt19937 rng(21);
    auto adapter = [&](const std::string& file, std::initializer_list<const char*> stems, float alpha) {
      std::vector<test::TestPair> pairs;
      for (int l = 0; l < hp.n_layer; ++l)
        for (const char* stem : stems) {
          const std::string target = "blk." + std::to_string(l) + "." + stem + ".weight";
          const WeightTensor& w = session_.weights->get(target);
          pairs.push_back(test::random_pair(target, 4, w.ne[0], w.ne[1], rng));
        }
      test::write_gguf_lora(dir_ / file, pairs, alpha);
      auto stack = std::make_shared<LoraStack>();
      stack->adapters.push_back(
          {std::make_shared<PreparedLora>(load_lora_adapter(dir_ / file, *session_.weights), *session_.model), 1.0f});
      return stack;
    };
    one_ = adapter("one.gguf", {"attn_q", "attn_v", "ffn_up"}, 16.0f);
    two_ = adapter("two.gguf", {"attn_k", "attn_output", "ffn_down"}, 16.0f);
  }
  std::vector<int32_t> encode(const std::string& text) { return session_.tokenizer->encode(text, true, false); }
  static GenerateOptions greedy(int max_tokens) {
    GenerateOptions o;
    o.max_tokens = max_tokens;
    return o;
  }
  // What the request gives alone, through the single-sequence Generator.
  std::vector<int32_t> alone(const std::vector<int32_t>& prompt, std::shared_ptr<const LoraStack> lora,
                             int max_tokens = 16) {
    auto cache = session_.model->new_cache(256);
    const auto model = lora ? with_lora(*session_.model, lora) : nullptr;
    Generator gen(model ? *model : *session_.model, *session_.tokenizer, *cache);
    return gen.generate(prompt, greedy(max_tokens)).tokens;
  }

  test::TempDir dir_;
  DecoderSession session_;
  std::shared_ptr<const LoraStack> one_, two_;
};

TEST_F(LoraEngineTest, MixedAdaptersInOneBatchGiveEachItsOwnOutput) {
  const std::vector<std::vector<int32_t>> prompts = {encode("Once upon a time"), encode("Tom and his dog went to the"),
                                                     encode("Lily liked to"), encode("Once upon a time")};
  const std::vector<std::shared_ptr<const LoraStack>> stacks = {one_, two_, nullptr, two_};
  std::vector<std::vector<int32_t>> want;
  for (size_t i = 0; i < prompts.size(); ++i) want.push_back(alone(prompts[i], stacks[i]));
  EXPECT_NE(want[0], alone(prompts[0], nullptr)) << "the adapter must change the output";
  EXPECT_NE(want[0], want[3]) << "different adapters must give different outputs";

  // The first step's callback holds the scheduler until every request is queued, so the rest run together.
  std::promise<void> all_queued;
  std::shared_future<void> queued = all_queued.get_future().share();
  int most_sequences = 0;
  EngineOptions eo;
  eo.slots = 4;
  eo.context = 256;
  eo.step_tokens = 64;
  eo.on_step = [&](const StepReport& r) {
    (void)queued.wait_for(std::chrono::seconds(10));
    most_sequences = std::max(most_sequences, r.sequences);
  };
  Engine engine(*session_.model, *session_.tokenizer, eo);
  std::vector<std::shared_ptr<Job>> jobs;
  for (size_t i = 0; i < prompts.size(); ++i)
    jobs.push_back(engine.submit({prompts[i], greedy(16), Priority::kInteractive, {}, stacks[i]}));
  all_queued.set_value();
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(jobs[i]->wait().tokens, want[i]) << "request " << i;
  EXPECT_GE(most_sequences, 3);
}

TEST_F(LoraEngineTest, PrefixBlocksAreNotSharedAcrossAdapters) {
  EngineOptions eo;
  eo.slots = 2;
  eo.context = 256;
  eo.block_size = 8;
  Engine engine(*session_.model, *session_.tokenizer, eo);
  const std::vector<int32_t> prompt = encode("The little bird was sad because it could not find its mother in the big tree");
  ASSERT_GT(prompt.size(), 16u);
  auto run = [&](std::shared_ptr<const LoraStack> lora) {
    return engine.submit({prompt, greedy(8), Priority::kInteractive, {}, std::move(lora)})->wait();
  };
  const GenerateResult first = run(one_);
  const GenerateResult other = run(two_);
  const GenerateResult base = run(nullptr);
  const GenerateResult again = run(one_);
  EXPECT_EQ(other.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(base.usage.cached_prompt_tokens, 0);
  EXPECT_GT(again.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(again.tokens, first.tokens);
  EXPECT_EQ(base.tokens, alone(prompt, nullptr, 8));
  EXPECT_EQ(other.tokens, alone(prompt, two_, 8));
}

}  // namespace
}  // namespace hearth
