// hearth's quantizers against llama-quantize's output (golden/, llama.cpp b4747, no importance matrix): per
// tensor, the RMSE of hearth's blocks against the source weights must not exceed that of llama.cpp's blocks.
//
// Where golden has the F16 source of a llama.cpp-quantized file (llama-dev, llama-ho) the comparison is direct:
// both quantize the same floats. The K-quant files (kq-dev) were quantized from an F32 master that golden does
// not ship, so there the source is estimated: S = the Q6_K file's dequantized weights, and llama.cpp's own
// errors e4, e5, e6 (Q4_K, Q5_K, Q6_K of the master X) follow from three measured distances, assuming the three
// quantizers' errors are uncorrelated (independent grids):
//   |Q4(X) - S|² = e4² + e6²,  |Q5(X) - S|² = e5² + e6²,  |Q4(X) - Q5(X)|² = e4² + e5².
// hearth quantizes S (which differs from X by e6, a quarter of e4) to Q4_K and Q5_K and its error against S is
// compared with e4 and e5. S itself lies on a Q6_K grid, so hearth's Q6_K of S is (nearly) lossless and says
// nothing: Q6_K is instead compared on fresh Gaussian weights of S's RMS (the master was N(0, std), see
// golden/kquant/README.md) — a statistical comparison, not the same floats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/quantize.h"
#include "formats/quant_recipe.h"
#include "formats/weights.h"
#include "test_util.h"

namespace hearth {
namespace {

std::vector<float> to_floats(const WeightTensor& t) {
  std::vector<float> out(size_t(t.n_elements()));
  dequantize_row(t.type, t.data, out.data(), t.n_elements());
  return out;
}

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double se = 0;
  for (size_t i = 0; i < a.size(); ++i) se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(se / double(a.size()));
}

std::vector<float> hearth_round_trip(DType t, const std::vector<float>& x, int64_t row_length) {
  const auto bytes = quantize(t, x.data(), int64_t(x.size()) / row_length, row_length);
  std::vector<float> back(x.size());
  dequantize_row(t, bytes.data(), back.data(), int64_t(x.size()));
  return back;
}

std::string golden(const std::string& name) { return test::shared_dir() + "/golden/" + name; }

TEST(QuantGolden, SameSourceRmseNoWorseThanLlamaCpp) {
  HEARTH_REQUIRE_SHARED();
  const std::pair<const char*, const char*> files[] = {
      {"models/llama-dev.f16.gguf", "models/llama-dev.q8_0.gguf"},
      {"models/llama-dev.f16.gguf", "models/llama-dev.q4_0.gguf"},
      {"models/llama-ho.f16.gguf", "models/llama-ho.q4_0.gguf"},
      {"models/llama-ho.f16.gguf", "models/llama-ho.q4_k_m.gguf"},
  };
  for (const auto& [source_file, quant_file] : files) {
    auto source = Weights::open(golden(source_file));
    auto quant = Weights::open(golden(quant_file));
    int compared = 0;
    for (const WeightTensor& q : quant->tensors()) {
      if (!traits(q.type).quantized) continue;
      SCOPED_TRACE(std::string(quant_file) + " " + q.name + " " + std::string(dtype_name(q.type)));
      const std::vector<float> x = to_floats(source->get(q.name, q.ne));
      const double theirs = rmse(to_floats(q), x);
      const double ours = rmse(hearth_round_trip(q.type, x, q.row_length()), x);
      EXPECT_LE(ours, theirs * (1 + 1e-12));
      ++compared;
    }
    EXPECT_GT(compared, 0);
  }
}

// The recipe picks, tensor by tensor, the type llama-quantize picked for the same file type (with the
// --token-embedding-type / --output-tensor-type the kq-dev files were made with as embd= / output= overrides).
TEST(QuantGolden, RecipeChoosesLlamaQuantizesTypes) {
  HEARTH_REQUIRE_SHARED();
  const struct {
    const char* file;
    const char* type;
    const char* recipe;
  } cases[] = {
      {"models/llama-dev.q8_0.gguf", "Q8_0", ""},
      {"models/llama-dev.q4_0.gguf", "Q4_0", ""},  // tied output: token_embd planned as the head (Q6_K -> Q8_0)
      {"models/llama-ho.q4_0.gguf", "Q4_0", ""},
      {"models/llama-ho.q4_k_m.gguf", "Q4_K_M", ""},  // rows of 128: Q5_0 and Q8_0 fallbacks
      {"kquant/kq-dev.q4_k_m.gguf", "Q4_K_M", "embd=Q4_K,output=Q5_K"},
      {"kquant/kq-dev.q5_k_m.gguf", "Q5_K_M", "embd=Q4_K,output=Q5_K"},
      {"kquant/kq-dev.q6_k.gguf", "Q6_K", "embd=Q4_K,output=Q5_K"},
  };
  for (const auto& c : cases) {
    auto w = Weights::open(golden(c.file));
    QuantRecipe recipe = recipe_for_type(c.type);
    if (*c.recipe) add_recipe_overrides(recipe, c.recipe);
    EXPECT_EQ(int64_t(recipe.file_type), w->metadata().get_int("general.file_type")) << c.file;
    const QuantPlanner planner(recipe, w->tensors());
    for (const WeightTensor& t : w->tensors())
      EXPECT_EQ(dtype_name(planner.plan(t, t.type).type), dtype_name(t.type)) << c.file << " " << t.name;
  }
}

TEST(QuantGolden, KQuantRmseNoWorseThanLlamaCppsEstimatedError) {
  HEARTH_REQUIRE_SHARED();
  auto q4 = Weights::open(golden("kquant/kq-dev.q4_k_m.gguf"));
  auto q5 = Weights::open(golden("kquant/kq-dev.q5_k_m.gguf"));
  auto q6 = Weights::open(golden("kquant/kq-dev.q6_k.gguf"));
  int compared = 0;
  for (const WeightTensor& t6 : q6->tensors()) {
    const WeightTensor& t4 = q4->get(t6.name, t6.ne);
    const WeightTensor& t5 = q5->get(t6.name, t6.ne);
    if (t6.type != DType::Q6_K || t4.type != DType::Q4_K || t5.type != DType::Q5_K) continue;
    SCOPED_TRACE(t6.name);
    const std::vector<float> s = to_floats(t6), x4 = to_floats(t4), x5 = to_floats(t5);
    const double a4 = rmse(x4, s), a5 = rmse(x5, s), c = rmse(x4, x5);
    const double e6 = std::sqrt(std::max(0.0, (a4 * a4 + a5 * a5 - c * c) / 2));
    const double e4 = std::sqrt(a4 * a4 - e6 * e6), e5 = std::sqrt(a5 * a5 - e6 * e6);
    const int64_t n = t6.row_length();
    const double h4 = rmse(hearth_round_trip(DType::Q4_K, s, n), s);
    const double h5 = rmse(hearth_round_trip(DType::Q5_K, s, n), s);
    double ms = 0;
    for (float v : s) ms += double(v) * v;
    std::mt19937 rng(uint32_t(compared + 1));
    std::normal_distribution<float> gauss(0.0f, float(std::sqrt(ms / double(s.size()))));
    std::vector<float> g(s.size());
    for (float& v : g) v = gauss(rng);
    const double h6 = rmse(hearth_round_trip(DType::Q6_K, g, n), g);
    std::printf("%-26s Q4_K %.6f vs %.6f  Q5_K %.6f vs %.6f  Q6_K %.6f vs %.6f\n", t6.name.c_str(), h4, e4, h5, e5, h6, e6);
    EXPECT_LE(h4, e4);
    EXPECT_LE(h5, e5);
    EXPECT_LE(h6, e6);
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

}  // namespace
}  // namespace hearth
