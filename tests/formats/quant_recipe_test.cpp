// Recipes: the type names convert/quantize accept, --recipe parsing and its errors, which tensor gets which type.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "formats/quant_recipe.h"

namespace hearth {
namespace {

WeightTensor shell(const std::string& name, std::vector<int64_t> ne) {
  WeightTensor t;
  t.name = name;
  t.ne = std::move(ne);
  return t;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(QuantRecipe, TypeNamesAndFileTypes) {
  EXPECT_EQ(recipe_for_type("q4_k_m").file_type, 15u);
  EXPECT_EQ(recipe_for_type("Q5_K_M").base, DType::Q5_K);
  EXPECT_EQ(recipe_for_type("bf16").file_type, 32u);
  EXPECT_EQ(recipe_for_type("Q6_K").file_type, 18u);
  const std::string e = error_of([] { recipe_for_type("Q3_K_S"); });
  EXPECT_NE(e.find("unknown type 'Q3_K_S'"), std::string::npos) << e;
  EXPECT_NE(e.find("Q4_K_M"), std::string::npos) << e;
}

TEST(QuantRecipe, MixedAttentionAndMlp) {
  QuantRecipe r = recipe_for_type("Q4_K_M");
  add_recipe_overrides(r, "attn=Q6_K, ffn=Q4_K ,embd=Q8_0,output=Q6_K,blk.1.ffn_down=Q8_0");
  const std::vector<WeightTensor> tensors = {
      shell("token_embd.weight", {256, 1000}),     shell("blk.0.attn_q.weight", {256, 256}),
      shell("blk.0.attn_v.weight", {256, 128}),    shell("blk.0.ffn_down.weight", {512, 256}),
      shell("blk.1.ffn_down.weight", {512, 256}),  shell("blk.1.ffn_norm.weight", {256}),
      shell("blk.1.attn_q.bias", {256}),           shell("output.weight", {256, 1000}),
      shell("blk.0.ffn_up.weight", {256, 512}),    shell("position_embd.weight", {256, 512}),
  };
  const QuantPlanner p(r, tensors);
  auto type = [&](size_t i) { return p.plan(tensors[i], DType::F32).type; };
  EXPECT_EQ(type(0), DType::Q8_0);
  EXPECT_EQ(type(1), DType::Q6_K);
  EXPECT_EQ(type(2), DType::Q6_K);
  EXPECT_EQ(type(3), DType::Q4_K);  // ffn= beats Q4_K_M's extra bits for layer 0
  EXPECT_EQ(type(4), DType::Q8_0);  // a tensor name beats its class
  EXPECT_EQ(type(5), DType::F32);
  EXPECT_FALSE(p.plan(tensors[5], DType::F32).quantized);
  EXPECT_EQ(type(6), DType::F32);
  EXPECT_EQ(type(7), DType::Q6_K);
  EXPECT_EQ(type(8), DType::Q4_K);
  EXPECT_EQ(type(9), DType::F32);  // position tables are never quantized
}

TEST(QuantRecipe, ShortRowsFallBackAsLlamaQuantizeDoes) {
  const std::vector<WeightTensor> tensors = {shell("blk.0.attn_q.weight", {128, 128}), shell("blk.0.ffn_up.weight", {40, 8})};
  QuantRecipe r = recipe_for_type("Q6_K");
  add_recipe_overrides(r, "ffn_up=Q5_K");
  const QuantPlanner p(r, tensors);
  const TensorPlan a = p.plan(tensors[0], DType::F32);
  EXPECT_EQ(a.type, DType::Q8_0);
  EXPECT_NE(a.note.find("not a multiple of 256"), std::string::npos) << a.note;
  EXPECT_EQ(p.plan(tensors[1], DType::F32).type, DType::F16);  // Q5_K -> Q5_1 -> rows of 40 fit neither: F16
}

TEST(QuantRecipe, Pal4g16WholeGroupsOnlyElseItsFallback) {
  const std::vector<WeightTensor> tensors = {shell("blk.0.attn_q.weight", {128, 128}),
                                             shell("blk.0.ffn_up.weight", {128, 40}),
                                             shell("blk.0.ffn_down.weight", {40, 32})};
  const QuantRecipe r = recipe_for_type("pal4g16");
  EXPECT_EQ(r.file_type, 1000u);
  const QuantPlanner p(r, tensors);
  EXPECT_EQ(p.plan(tensors[0], DType::F32).type, DType::PAL4G16);
  const TensorPlan rows40 = p.plan(tensors[1], DType::F32);  // 40 rows: not whole groups of 16
  EXPECT_EQ(rows40.type, DType::Q8_0);
  EXPECT_NE(rows40.note.find("whole groups of 16 rows"), std::string::npos) << rows40.note;
  EXPECT_EQ(p.plan(tensors[2], DType::F32).type, DType::F16);  // rows of 40 are not whole Q8_0 blocks either
}

TEST(QuantRecipe, BadRecipesGiveOneClearError) {
  QuantRecipe r = recipe_for_type("Q8_0");
  for (const auto& [spec, expected] : std::vector<std::pair<std::string, std::string>>{
           {"attn=Q6_K,mlp=Q4_K", "unknown class 'mlp'"},
           {"attn", "element 'attn' is not class=TYPE"},
           {"attn=Q7_K", "'Q7_K' for 'attn' is not a type"},
           {"attn=Q2_K", "'Q2_K' for 'attn' is not a type"},
           {"ffn=Q4_K,ffn=Q6_K", "'ffn' is given twice"},
           {"", "expected class=TYPE"},
           {"attn=Q6_K,", "element '' is not class=TYPE"},
       }) {
    QuantRecipe copy = r;
    const std::string e = error_of([&copy, recipe = spec] { add_recipe_overrides(copy, recipe); });
    EXPECT_NE(e.find(expected), std::string::npos) << spec << " -> " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos);
  }
}

TEST(QuantRecipe, UseMoreBitsMatchesLlamaQuantize) {
  // 24 layers: 0-2 and 21-23, then every third from layer 5.
  std::string more;
  for (int i = 0; i < 24; ++i)
    if (use_more_bits(i, 24)) more += std::to_string(i) + " ";
  EXPECT_EQ(more, "0 1 2 5 8 11 14 17 20 21 22 23 ");
}

}  // namespace
}  // namespace hearth
