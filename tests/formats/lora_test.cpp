// LoRA adapters: PEFT and GGUF loading against a base model, and merging (W + scale · B · A, checked against the
// same update computed here in double precision).
#include "formats/lora.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "error_kind_util.h"
#include "formats/gguf.h"
#include "lora_fixture.h"
#include "test_util.h"

namespace hearth {
namespace {

using test::TinyLlama;
#define EXPECT_KIND(expr, kind) EXPECT_EQ(test::thrown_kind([&] { (void)(expr); }), to_string(kind))
using T = TinyLlama;

std::vector<float> dequantized(const WeightTensor& t) {
  std::vector<float> out(size_t(t.n_elements()));
  const size_t rb = row_bytes(t.type, t.row_length());
  for (int64_t r = 0; r < t.n_rows(); ++r)
    dequantize_row(t.type, t.data + size_t(r) * rb, out.data() + size_t(r * t.row_length()), t.row_length());
  return out;
}

// Largest |got - (base + delta)| relative to the row's largest expected value (per-row scale, as quantizers use).
double worst_row_error(const WeightTensor& base, const WeightTensor& merged, const std::vector<double>& delta) {
  const std::vector<float> w = dequantized(base), m = dequantized(merged);
  const int64_t in = base.ne[0];
  double worst = 0;
  for (int64_t o = 0; o < base.ne[1]; ++o) {
    double amax = 0, err = 0;
    for (int64_t i = 0; i < in; ++i) {
      const size_t at = size_t(o * in + i);
      const double want = double(w[at]) + delta[at];
      amax = std::max(amax, std::fabs(want));
      err = std::max(err, std::fabs(double(m[at]) - want));
    }
    worst = std::max(worst, err / amax);
  }
  return worst;
}

class LoraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // q F32, k F16, v Q8_0, ffn_up Q4_1 (which hearth cannot write: merged as F16), the rest F32.
    test::write_tiny_llama(dir / "base.gguf", 7, [](const std::string& name) {
      if (name.find("attn_k.") != std::string::npos) return DType::F16;
      if (name.find("attn_v.") != std::string::npos) return DType::Q8_0;
      if (name.find("ffn_up.") != std::string::npos) return DType::Q4_1;
      return DType::F32;
    });
    base = load_gguf(dir / "base.gguf");
  }
  std::unique_ptr<Weights> merge(const std::vector<AppliedLora>& adapters, LoraMergeOptions options = {}) {
    merge_lora(*base, adapters, dir / "merged.gguf", options);
    return load_gguf(dir / "merged.gguf");
  }

  test::TempDir dir;
  std::unique_ptr<Weights> base;
  std::mt19937 rng{99};
};

TEST_F(LoraTest, GgufAdapterMergesExactlyInF32) {
  const auto q = test::random_pair("blk.1.attn_q.weight", 4, T::kEmbd, T::kEmbd, rng);
  const auto down = test::random_pair("blk.0.ffn_down.weight", 4, T::kFf, T::kEmbd, rng);
  test::write_gguf_lora(dir / "a.gguf", {q, down}, 8.0f);
  const LoraAdapter a = load_lora_adapter(dir / "a.gguf", *base);
  EXPECT_EQ(a.format, "gguf");
  ASSERT_EQ(a.pairs.size(), 2u);
  EXPECT_FLOAT_EQ(a.find("blk.1.attn_q.weight")->scale, 2.0f);  // alpha 8 / rank 4
  const auto merged = merge({{&a, 0.5f}});
  // F32 output: the merge sums in F32, the reference in double; rank-4 sums of products of ~0.1 values.
  EXPECT_LT(worst_row_error(base->get(q.module), merged->get(q.module), test::reference_delta(q, 1.0)), 1e-6);
  EXPECT_LT(worst_row_error(base->get(down.module), merged->get(down.module), test::reference_delta(down, 1.0)), 1e-6);
  EXPECT_EQ(merged->get(q.module).type, DType::F32);
  // Everything else, metadata included, is the base's.
  const WeightTensor& k = merged->get("blk.0.attn_k.weight");
  EXPECT_EQ(0, std::memcmp(k.data, base->get("blk.0.attn_k.weight").data, k.nbytes));
  EXPECT_EQ(merged->metadata().get_int("llama.attention.head_count"), T::kHeads);
  EXPECT_EQ(merged->tensors().size(), base->tensors().size());
}

TEST_F(LoraTest, PeftAdapterPermutesLlamaQkRowsAndKeepsQuantizedTypes) {
  // PEFT's B rows are in HF order; for a llama base the q/k rows of GGUF are permuted, so must B's be.
  const auto q = test::random_pair("model.layers.0.self_attn.q_proj", 8, T::kEmbd, T::kEmbd, rng);
  const auto k = test::random_pair("model.layers.0.self_attn.k_proj", 8, T::kEmbd, T::kKv, rng);
  const auto v = test::random_pair("model.layers.1.self_attn.v_proj", 8, T::kEmbd, T::kKv, rng);
  const auto up = test::random_pair("model.layers.1.mlp.up_proj", 8, T::kEmbd, T::kFf, rng);
  test::write_peft(dir / "peft", {q, k, v, up}, 8, 16.0);
  const LoraAdapter a = load_lora_adapter(dir / "peft", *base);
  EXPECT_EQ(a.format, "peft");
  EXPECT_FLOAT_EQ(a.find("blk.0.attn_q.weight")->scale, 2.0f);
  const auto merged = merge({{&a, 1.0f}});
  const auto permuted = test::hf_row_of(T::kHeadDim);
  EXPECT_LT(worst_row_error(base->get("blk.0.attn_q.weight"), merged->get("blk.0.attn_q.weight"),
                            test::reference_delta(q, 2.0, permuted)),
            1e-6);
  // F16 output: within F16 rounding (half an ulp, 2^-11 of the largest value of a row, at most).
  EXPECT_EQ(merged->get("blk.0.attn_k.weight").type, DType::F16);
  EXPECT_LT(worst_row_error(base->get("blk.0.attn_k.weight"), merged->get("blk.0.attn_k.weight"),
                            test::reference_delta(k, 2.0, permuted)),
            std::ldexp(1.0, -11));
  // Without the permutation the update would be far off: the check above can fail.
  EXPECT_GT(worst_row_error(base->get("blk.0.attn_k.weight"), merged->get("blk.0.attn_k.weight"),
                            test::reference_delta(k, 2.0)),
            1e-2);
  // Q8_0 stays Q8_0: within one quantization step (1/127 of a block's largest value, bounded by the row's).
  EXPECT_EQ(merged->get("blk.1.attn_v.weight").type, DType::Q8_0);
  EXPECT_LT(worst_row_error(base->get("blk.1.attn_v.weight"), merged->get("blk.1.attn_v.weight"),
                            test::reference_delta(v, 2.0)),
            1.0 / 127);
  // Q4_1 cannot be written: F16.
  EXPECT_EQ(merged->get("blk.1.ffn_up.weight").type, DType::F16);
  EXPECT_LT(worst_row_error(base->get("blk.1.ffn_up.weight"), merged->get("blk.1.ffn_up.weight"),
                            test::reference_delta(up, 2.0)),
            std::ldexp(1.0, -11));
}

TEST_F(LoraTest, ChainedAdaptersSumTheirScaledUpdates) {
  const auto g1 = test::random_pair("blk.0.attn_output.weight", 2, T::kEmbd, T::kEmbd, rng);
  test::write_gguf_lora(dir / "a.gguf", {g1}, 0.0f);  // alpha 0: no alpha scaling, as llama.cpp
  const auto p2 = test::random_pair("model.layers.0.self_attn.o_proj", 6, T::kEmbd, T::kEmbd, rng);
  test::write_peft(dir / "b", {p2}, 6, 3.0, {{"use_rslora", true}});  // alpha / sqrt(r)
  const LoraAdapter a = load_lora_adapter(dir / "a.gguf", *base), b = load_lora_adapter(dir / "b", *base);
  const auto merged = merge({{&a, 0.7f}, {&b, -1.5f}});
  std::vector<double> delta = test::reference_delta(g1, 0.7);
  const std::vector<double> d2 = test::reference_delta(p2, -1.5 * 3.0 / std::sqrt(6.0));
  for (size_t i = 0; i < delta.size(); ++i) delta[i] += d2[i];
  EXPECT_LT(worst_row_error(base->get(g1.module), merged->get(g1.module), delta), 1e-6);
}

TEST_F(LoraTest, MergeTypeOption) {
  const auto q = test::random_pair("blk.0.attn_q.weight", 4, T::kEmbd, T::kEmbd, rng);
  test::write_gguf_lora(dir / "a.gguf", {q}, 4.0f);
  const LoraAdapter a = load_lora_adapter(dir / "a.gguf", *base);
  LoraMergeOptions o;
  o.type = DType::Q8_0;
  const auto merged = merge({{&a, 1.0f}}, o);
  EXPECT_EQ(merged->get(q.module).type, DType::Q8_0);
  EXPECT_LT(worst_row_error(base->get(q.module), merged->get(q.module), test::reference_delta(q, 1.0)), 1.0 / 127);
  o.type = DType::Q4_1;
  EXPECT_KIND(merge({{&a, 1.0f}}, o), ErrorKind::kUnsupported);
}

TEST_F(LoraTest, ScaleZeroLeavesTheBaseValues) {
  const auto q = test::random_pair("blk.0.attn_q.weight", 4, T::kEmbd, T::kEmbd, rng);
  test::write_gguf_lora(dir / "a.gguf", {q}, 4.0f);
  const LoraAdapter a = load_lora_adapter(dir / "a.gguf", *base);
  const auto merged = merge({{&a, 0.0f}});
  EXPECT_EQ(0, std::memcmp(merged->get(q.module).data, base->get(q.module).data, base->get(q.module).nbytes));
}

std::string load_error(const std::string& path, const Weights& base) {
  try {
    load_lora_adapter(path, base);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(LoraTest, AdaptersForAnotherModelAreRefused) {
  // Another architecture.
  const auto q = test::random_pair("blk.0.attn_q.weight", 4, T::kEmbd, T::kEmbd, rng);
  test::write_gguf_lora(dir / "qwen.gguf", {q}, 4.0f, "qwen2");
  EXPECT_NE(load_error(dir / "qwen.gguf", *base).find("'qwen2' model but the base model"), std::string::npos);
  // Another shape (a wider model).
  const auto wide = test::random_pair("blk.0.attn_q.weight", 4, 128, 128, rng);
  test::write_gguf_lora(dir / "wide.gguf", {wide}, 4.0f);
  EXPECT_NE(load_error(dir / "wide.gguf", *base).find("is 128 x 128 (out x in) but the base model's matrix is 64 x 64"),
            std::string::npos);
  // A layer the base does not have.
  const auto deep = test::random_pair("blk.9.attn_q.weight", 4, T::kEmbd, T::kEmbd, rng);
  test::write_gguf_lora(dir / "deep.gguf", {deep}, 4.0f);
  EXPECT_NE(load_error(dir / "deep.gguf", *base).find("'blk.9.attn_q.weight', which the base model"), std::string::npos);
  // A PEFT module with no llama counterpart (a BERT adapter).
  test::write_peft(dir / "bert", {test::random_pair("bert.encoder.layer.0.attention.self.query", 4, 64, 64, rng)}, 4, 8);
  EXPECT_NE(load_error(dir / "bert", *base).find("no counterpart in a llama model"), std::string::npos);
  // Ranks that disagree with the config.
  test::write_peft(dir / "rank", {test::random_pair("model.layers.0.self_attn.q_proj", 4, 64, 64, rng)}, 8, 8);
  EXPECT_NE(load_error(dir / "rank", *base).find("has rank 4 but adapter_config.json says r = 8"), std::string::npos);
  // A target module without tensors.
  test::write_peft(dir / "missing", {test::random_pair("model.layers.0.self_attn.q_proj", 4, 64, 64, rng)}, 4, 8,
                   {{"target_modules", {"q_proj", "v_proj"}}});
  EXPECT_NE(load_error(dir / "missing", *base).find("target module 'v_proj'"), std::string::npos);
  // Unsupported variants.
  test::write_peft(dir / "dora", {test::random_pair("model.layers.0.self_attn.q_proj", 4, 64, 64, rng)}, 4, 8,
                   {{"use_dora", true}});
  EXPECT_KIND(load_lora_adapter(dir / "dora", *base), ErrorKind::kUnsupported);
  // Not an adapter at all, and no file.
  EXPECT_NE(load_error(dir / "base.gguf", *base).find("not a LoRA adapter"), std::string::npos);
  EXPECT_KIND(load_lora_adapter(dir / "nothing.gguf", *base), ErrorKind::kNotFound);
}

TEST_F(LoraTest, HalfPairsAndStrayTensorsAreCorrupt) {
  GgufWriter w;
  w.metadata().set_string("general.architecture", "llama");
  w.metadata().set_string("general.type", "adapter");
  w.metadata().set_string("adapter.type", "lora");
  const std::vector<float> a(4 * 64, 0.1f);
  w.add_tensor("blk.0.attn_q.weight.lora_a", DType::F32, {64, 4}, a.data(), a.size() * 4);
  w.write(dir / "half.gguf");
  EXPECT_NE(load_error(dir / "half.gguf", *base).find("has a lora_A matrix but no lora_B"), std::string::npos);
  GgufWriter s;
  s.metadata() = w.metadata();
  s.add_tensor("blk.0.attn_q.weight", DType::F32, {64, 4}, a.data(), a.size() * 4);
  s.write(dir / "stray.gguf");
  EXPECT_NE(load_error(dir / "stray.gguf", *base).find("is not a LoRA matrix"), std::string::npos);
}

TEST(LoraSpecTest, ParsesScales) {
  EXPECT_EQ(parse_lora_spec("a.gguf").path, "a.gguf");
  EXPECT_EQ(parse_lora_spec("a.gguf").scale, 1.0f);
  EXPECT_EQ(parse_lora_spec("dir/a.gguf:0.25").path, "dir/a.gguf");
  EXPECT_EQ(parse_lora_spec("dir/a.gguf:0.25").scale, 0.25f);
  EXPECT_EQ(parse_lora_spec("a:-2").scale, -2.0f);
  EXPECT_KIND(parse_lora_spec("a.gguf:half"), ErrorKind::kInvalidArgument);
  EXPECT_KIND(parse_lora_spec("a.gguf:inf"), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace hearth
