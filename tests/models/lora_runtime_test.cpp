// Run-time LoRA: the decoder's logits with adapters applied in the projections equal the logits of the model with
// the adapters merged into its weights; scale 0 is the base model; sequences with different adapters share a batch
// without changing each other's logits; the KV cache never shares blocks across adapters.
#include "models/lora.h"

#include <gtest/gtest.h>

#include <cmath>

#include "backends/backend.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "lora_fixture.h"
#include "test_util.h"

namespace hearth {
namespace {

using T = test::TinyLlama;

Backend& backend() {
  static std::unique_ptr<Backend> be = make_cpu_backend(2);
  return *be;
}

std::vector<int32_t> tokens(int n, int salt) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(int32_t((i * 7 + salt * 13 + 1) % T::kVocab));
  return t;
}

// Logits of the last token of each prompt, all run in one batch (each in its own sequence).
std::vector<std::vector<float>> run(const DecoderModel& m, const std::vector<std::vector<int32_t>>& prompts,
                                    const std::vector<const LoraStack*>& stacks) {
  auto cache = m.new_cache(128, int(prompts.size()));
  std::vector<DecoderInput> inputs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    DecoderInput in;
    in.seq = int(i);
    in.tokens = prompts[i];
    in.lora = stacks[i];
    inputs.push_back(in);
  }
  const std::vector<float> all = m.forward(inputs, *cache);
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < prompts.size(); ++i)
    out.emplace_back(all.begin() + int64_t(i * T::kVocab), all.begin() + int64_t((i + 1) * T::kVocab));
  return out;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
  return d;
}

class LoraRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_tiny_llama(dir / "base.gguf", 11);
    base_weights = load_gguf(dir / "base.gguf");
    base = load_decoder(*base_weights, backend());
    std::mt19937 rng(5);
    // Adapter 1 (PEFT, llama q/k rows permuted): every projection of layer 0, q and down of layer 1.
    std::vector<test::TestPair> p1;
    for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      const std::string module = std::string("model.layers.0.") + m;
      const bool kv = module.find("k_proj") != std::string::npos || module.find("v_proj") != std::string::npos;
      const bool up = module.find("gate_proj") != std::string::npos || module.find("up_proj") != std::string::npos;
      const bool down = module.find("down_proj") != std::string::npos;
      p1.push_back(test::random_pair(module, 4, down ? T::kFf : T::kEmbd, kv ? T::kKv : (up ? T::kFf : T::kEmbd), rng));
    }
    p1.push_back(test::random_pair("model.layers.1.self_attn.q_proj", 4, T::kEmbd, T::kEmbd, rng));
    p1.push_back(test::random_pair("model.layers.1.mlp.down_proj", 4, T::kFf, T::kEmbd, rng));
    test::write_peft(dir / "one", p1, 4, 8.0);
    // Adapter 2 (GGUF): the last layer's output and up projections (they run on the gathered rows).
    test::write_gguf_lora(dir / "two.gguf",
                          {test::random_pair("blk.1.attn_output.weight", 8, T::kEmbd, T::kEmbd, rng),
                           test::random_pair("blk.1.ffn_up.weight", 8, T::kEmbd, T::kFf, rng)},
                          16.0f);
    one = load_lora_adapter(dir / "one", *base_weights);
    two = load_lora_adapter(dir / "two.gguf", *base_weights);
    prepared_one = std::make_shared<PreparedLora>(one, *base);
    prepared_two = std::make_shared<PreparedLora>(two, *base);
  }
  // The model with `adapters` merged (F32, as the base).
  std::vector<std::vector<float>> merged_logits(const std::vector<AppliedLora>& adapters,
                                                const std::vector<std::vector<int32_t>>& prompts) {
    merge_lora(*base_weights, adapters, dir / "merged.gguf");
    const auto w = load_gguf(dir / "merged.gguf");
    const auto m = load_decoder(*w, backend());
    return run(*m, prompts, std::vector<const LoraStack*>(prompts.size(), nullptr));
  }

  test::TempDir dir;
  std::unique_ptr<Weights> base_weights;
  std::unique_ptr<DecoderModel> base;
  LoraAdapter one, two;
  std::shared_ptr<const PreparedLora> prepared_one, prepared_two;
};

TEST_F(LoraRuntimeTest, RunTimeLogitsEqualTheMergedModels) {
  const std::vector<std::vector<int32_t>> prompts = {tokens(20, 1), tokens(7, 2)};
  const LoraStack stack{{{prepared_one, 0.8f}, {prepared_two, -0.5f}}};
  const auto got = run(*base, prompts, {&stack, &stack});
  const auto want = merged_logits({{&one, 0.8f}, {&two, -0.5f}}, prompts);
  const auto plain = run(*base, prompts, {nullptr, nullptr});
  for (size_t i = 0; i < prompts.size(); ++i) {
    // F32 weights and activations: only the order of the sums differs (W·x + s·B·(A·x) against (W + s·B·A)·x).
    EXPECT_LT(max_diff(got[i], want[i]), 1e-4) << "prompt " << i;
    EXPECT_GT(max_diff(got[i], plain[i]), 1e-2) << "the adapters must change the logits";
  }
}

TEST_F(LoraRuntimeTest, ScaleZeroIsTheBaseModel) {
  const std::vector<std::vector<int32_t>> prompts = {tokens(12, 3)};
  const LoraStack stack{{{prepared_one, 0.0f}}};
  EXPECT_EQ(run(*base, prompts, {&stack}), run(*base, prompts, {nullptr}));
}

TEST_F(LoraRuntimeTest, MixedBatchesGiveEachSequenceItsOwnLogits) {
  const LoraStack s1{{{prepared_one, 1.0f}}}, s2{{{prepared_two, 1.0f}}};
  const std::vector<std::vector<int32_t>> prompts = {tokens(9, 1), tokens(14, 2), tokens(5, 3), tokens(11, 4)};
  const auto batch = run(*base, prompts, {&s1, nullptr, &s2, &s1});
  EXPECT_EQ(batch[0], run(*base, {prompts[0]}, {&s1})[0]);
  EXPECT_EQ(batch[1], run(*base, {prompts[1]}, {nullptr})[0]);
  EXPECT_EQ(batch[2], run(*base, {prompts[2]}, {&s2})[0]);
  EXPECT_EQ(batch[3], run(*base, {prompts[3]}, {&s1})[0]);
}

TEST_F(LoraRuntimeTest, TheWrapperAppliesItsStack) {
  auto stack = std::make_shared<LoraStack>(LoraStack{{{prepared_two, 0.3f}}});
  const auto wrapped = with_lora(*base, stack);
  const std::vector<std::vector<int32_t>> prompts = {tokens(10, 5)};
  EXPECT_EQ(run(*wrapped, prompts, {nullptr}), run(*base, prompts, {stack.get()}));
}

TEST_F(LoraRuntimeTest, CachedBlocksAreNeverSharedAcrossAdapters) {
  CacheOptions co;
  co.n_ctx = 128;
  co.n_seq = 3;
  co.block_size = 16;
  auto cache = base->new_cache(co);
  const LoraStack s1{{{prepared_one, 1.0f}}}, s2{{{prepared_one, 0.5f}}};
  const std::vector<int32_t> prompt = tokens(40, 6);
  DecoderInput in;
  in.seq = 0;
  in.tokens = prompt;
  in.lora = &s1;
  base->forward(std::span(&in, 1), *cache);
  // Another scale, or no adapter: nothing to attach. The same adapters: the two full blocks.
  EXPECT_EQ(cache->attach_prefix(1, prompt, s2.key()), 0);
  EXPECT_EQ(cache->attach_prefix(2, prompt, 0), 0);
  cache->clear(2);
  EXPECT_EQ(cache->attach_prefix(2, prompt, s1.key()), 32);
  // A sequence is never continued with other adapters than the ones its keys and values were computed with.
  DecoderInput next;
  next.seq = 2;
  next.start = 32;
  next.tokens = std::span(prompt).subspan(32);
  next.lora = &s2;
  EXPECT_THROW(base->forward(std::span(&next, 1), *cache), Error);
  next.lora = &s1;
  const std::vector<float> attached = base->forward(std::span(&next, 1), *cache);
  // ... and what it computes on the attached blocks is what a run from scratch gives.
  auto fresh = base->new_cache(co);
  base->forward(std::span(&in, 1), *fresh);
  DecoderInput again = in;
  again.seq = 1;
  EXPECT_EQ(attached, base->forward(std::span(&again, 1), *fresh));
}

TEST_F(LoraRuntimeTest, NonMatrixTargetsAreRefused) {
  std::mt19937 rng(3);
  test::write_gguf_lora(dir / "embd.gguf", {test::random_pair("output_norm.weight", 2, T::kEmbd, 1, rng)}, 2.0f);
  // A 1-D base tensor (a norm) cannot take a LoRA update.
  EXPECT_THROW(load_lora_adapter(dir / "embd.gguf", *base_weights), Error);
}

}  // namespace
}  // namespace hearth
