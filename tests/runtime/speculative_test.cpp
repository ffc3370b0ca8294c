// Speculative decoding gives exactly the target model's output, greedy and seeded, whether the draft agrees
// with the target (stories260K drafting for itself) or mostly not (a random-weight model with its vocabulary).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/generator.h"
#include "runtime/session.h"
#include "runtime/speculative.h"
#include "test_util.h"

namespace hearth {
namespace {

// A small random-weight llama (F32) over n_vocab tokens: a draft that rarely agrees with a trained target.
struct RandomLlama {
  std::vector<std::vector<float>> data;
  Weights weights;
  std::unique_ptr<Backend> backend = make_cpu_backend(1);
  std::unique_ptr<DecoderModel> model;

  explicit RandomLlama(int n_vocab) {
    constexpr int kEmbd = 32, kFf = 64, kHeads = 2;
    std::mt19937 rng(77);
    std::normal_distribution<float> nd(0.0f, 0.2f);
    Metadata& md = weights.mutable_metadata();
    md.set_string("general.architecture", "llama");
    md.set_u32("llama.embedding_length", kEmbd);
    md.set_u32("llama.block_count", 1);
    md.set_u32("llama.feed_forward_length", kFf);
    md.set_u32("llama.attention.head_count", kHeads);
    md.set_u32("llama.context_length", 256);
    md.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    weights.set_source("random draft");
    data.reserve(16);
    auto add = [&](const std::string& name, int64_t rows, int64_t cols, bool ones = false) {
      data.emplace_back(size_t(rows * cols));
      for (float& v : data.back()) v = ones ? 1.0f : nd(rng);
      WeightTensor w;
      w.name = name;
      w.type = DType::F32;
      w.ne = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
      w.data = reinterpret_cast<const uint8_t*>(data.back().data());
      w.nbytes = data.back().size() * sizeof(float);
      weights.add_tensor(w);
    };
    add("token_embd.weight", n_vocab, kEmbd);
    add("blk.0.attn_norm.weight", 1, kEmbd, true);
    for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output"}) add(std::string("blk.0.") + m + ".weight", kEmbd, kEmbd);
    add("blk.0.ffn_norm.weight", 1, kEmbd, true);
    add("blk.0.ffn_gate.weight", kFf, kEmbd);
    add("blk.0.ffn_up.weight", kFf, kEmbd);
    add("blk.0.ffn_down.weight", kEmbd, kFf);
    add("output_norm.weight", 1, kEmbd, true);
    model = load_decoder(weights, *backend);
  }
};

class StoriesSpeculative : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    target_ = open_decoder(test::shared_dir() + "/models/stories260K.gguf", 1);
    self_draft_ = open_decoder(test::shared_dir() + "/models/stories260K.gguf", 1);
  }
  std::vector<int32_t> encode(const std::string& text) { return target_.tokenizer->encode(text, true, false); }
  GenerateResult alone(const std::vector<int32_t>& prompt, const GenerateOptions& o) {
    auto cache = target_.model->new_cache(kContext);
    Generator gen(*target_.model, *target_.tokenizer, *cache);
    return gen.generate(prompt, o);
  }
  GenerateResult speculative(const DecoderModel& draft, const std::vector<int32_t>& prompt, const GenerateOptions& o,
                             int max_draft, SpeculativeStats* stats = nullptr) {
    auto tc = target_.model->new_cache(kContext);
    SpeculativeGenerator gen(*target_.model, *tc, draft, *target_.tokenizer, max_draft);
    GenerateResult r = gen.generate(prompt, o);
    if (stats) *stats = gen.stats();
    return r;
  }
  static constexpr int kContext = 256;
  DecoderSession target_, self_draft_;
};

TEST_F(StoriesSpeculative, OutputEqualsTheTargetAloneGreedyAndSeeded) {
  RandomLlama random_draft(target_.model->hparams().n_vocab);
  for (const std::string& prompt : {std::string(""), std::string("Tom and his dog went to the"), std::string("Lily")}) {
    for (uint64_t seed : {0ull, 11ull, 12ull}) {
      GenerateOptions o;
      o.max_tokens = 60;
      if (seed) {
        o.sampling = SamplerOptions();
        o.sampling.temperature = 0.9f;
        o.sampling.seed = seed;
      }
      const GenerateResult want = alone(encode(prompt), o);
      for (int max_draft : {1, 4, 8}) {
        SpeculativeStats st;
        const GenerateResult self = speculative(*self_draft_.model, encode(prompt), o, max_draft, &st);
        EXPECT_EQ(self.tokens, want.tokens) << "self draft, prompt '" << prompt << "' seed " << seed << " k " << max_draft;
        EXPECT_EQ(self.text, want.text);
        EXPECT_EQ(self.finish_reason, want.finish_reason);
        EXPECT_GT(st.rounds, 0u);
        if (seed == 0) {
          EXPECT_EQ(st.accepted, st.drafted) << "a greedy model always agrees with itself";
        }
        const GenerateResult other = speculative(*random_draft.model, encode(prompt), o, max_draft, &st);
        EXPECT_EQ(other.tokens, want.tokens) << "random draft, prompt '" << prompt << "' seed " << seed;
        EXPECT_LT(st.acceptance_rate(), 0.5) << "a random draft is mostly rejected";
      }
    }
  }
}

// The batching engine with a draft: many requests at once (more than its slots, with chunked prompts), each
// with exactly the output it has alone, for a draft that agrees (itself) and one that mostly does not.
TEST_F(StoriesSpeculative, TheEngineWithADraftGivesEachRequestTheTargetsOutput) {
  RandomLlama random_draft(target_.model->hparams().n_vocab);
  const std::vector<std::string> prompts = {"", "Tom and his dog went to the", "Lily", "One day, a big red ball",
                                            "The little bird was sad because it could not find its mother"};
  for (const DecoderModel* draft : {self_draft_.model.get(), random_draft.model.get()}) {
    for (bool seeded : {false, true}) {
      EngineOptions eo;
      eo.slots = 3;
      eo.context = kContext;
      eo.step_tokens = 24;  // long prompts in chunks, guesses limited by the budget at times
      eo.draft = draft;
      eo.draft_max = 5;
      Engine engine(*target_.model, *target_.tokenizer, eo);
      auto options = [&](size_t i) {
        GenerateOptions o;
        o.max_tokens = 30 + int(i) * 7;
        if (seeded) {
          o.sampling = SamplerOptions();
          o.sampling.temperature = 0.9f;
          o.sampling.seed = 40 + i;
        }
        return o;
      };
      std::vector<std::shared_ptr<Job>> jobs;
      for (size_t i = 0; i < prompts.size(); ++i)
        jobs.push_back(engine.submit({encode(prompts[i]), options(i), Priority::kInteractive, {}}));
      for (size_t i = 0; i < prompts.size(); ++i) {
        const GenerateResult got = jobs[i]->wait();
        const GenerateResult want = alone(encode(prompts[i]), options(i));
        EXPECT_EQ(got.tokens, want.tokens) << (draft == self_draft_.model.get() ? "self" : "random") << " draft, "
                                           << (seeded ? "seeded" : "greedy") << ", request " << i;
        EXPECT_EQ(got.text, want.text) << i;
        EXPECT_EQ(got.finish_reason, want.finish_reason) << i;
      }
      const EngineStats st = engine.stats();
      EXPECT_GT(st.drafted, 0u);
      if (draft == self_draft_.model.get() && !seeded) {
        EXPECT_EQ(st.accepted, st.drafted) << "a greedy model always agrees with itself";
      }
      if (draft == random_draft.model.get()) {
        EXPECT_LT(st.accepted * 2, st.drafted) << "a random draft is mostly rejected";
      }
    }
  }
}

TEST_F(StoriesSpeculative, StopsAtContextAndMaxTokensLikeTheTarget) {
  GenerateOptions o;
  o.max_tokens = 100;
  o.stop_at_eog = false;
  const auto prompt = encode("Once upon a time");
  auto tc = target_.model->new_cache(20);
  SpeculativeGenerator gen(*target_.model, *tc, *self_draft_.model, *target_.tokenizer, 8);
  const GenerateResult r = gen.generate(prompt, o);
  auto cache = target_.model->new_cache(20);
  Generator plain(*target_.model, *target_.tokenizer, *cache);
  const GenerateResult want = plain.generate(prompt, o);
  EXPECT_EQ(r.tokens, want.tokens);
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  o.max_tokens = 7;
  EXPECT_EQ(gen.generate(prompt, o).tokens.size(), 7u);
}

TEST_F(StoriesSpeculative, ADraftWithAnotherVocabularyIsRefused) {
  RandomLlama other(100);
  auto tc = target_.model->new_cache(kContext);
  EXPECT_THROW(SpeculativeGenerator(*target_.model, *tc, *other.model, *target_.tokenizer, 4), Error);
}

}  // namespace
}  // namespace hearth
