// PAL4G16 against Q4_0 end to end: each reference model's matrices are quantized in memory to one type or the other
// (only the matrices both types can take, so both change the same weights), the model runs teacher-forced over a
// fixed token sequence, and its logits are compared with the unquantized model's: RMSE over every position and
// vocabulary entry, and how often the top-1 token agrees. The figures are printed (docs/benchmarks.md quotes them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/palettize.h"
#include "core/quantize.h"
#include "formats/weights.h"
#include "models/decoder.h"
#include "test_util.h"

namespace hearth {
namespace {

Backend& backend() {
  static std::unique_ptr<Backend> b = make_cpu_backend(2);
  return *b;
}

bool both_types_fit(const WeightTensor& t) {
  return t.ne.size() == 2 && t.ne[0] % kQK4_0 == 0 && can_palettize(t.ne[0], t.ne[1]) &&
         (t.type == DType::F16 || t.type == DType::F32 || t.type == DType::BF16);
}

// A copy of `src` whose matrices that both types fit are quantized to `type`.
std::unique_ptr<Weights> quantized(const Weights& src, DType type, int* changed) {
  auto w = std::make_unique<Weights>();
  w->set_source(std::string(dtype_name(type)));
  w->mutable_metadata() = src.metadata();
  *changed = 0;
  for (WeightTensor t : src.tensors()) {
    if (both_types_fit(t)) {
      std::vector<float> x(size_t(t.n_elements()));
      for (int64_t r = 0; r < t.n_rows(); ++r)
        dequantize_tensor_row(t.type, t.data, t.ne[0], r, &x[size_t(r * t.ne[0])]);
      const std::vector<uint8_t> bytes = quantize(type, x.data(), t.n_rows(), t.ne[0]);
      t.type = type;
      t.data = w->own_bytes(bytes.data(), bytes.size());
      t.nbytes = bytes.size();
      ++*changed;
    }
    w->add_tensor(t);
  }
  return w;
}

std::vector<float> logits(const Weights& w, const std::vector<int32_t>& tokens) {
  auto model = load_decoder(w, backend());
  auto cache = model->new_cache(int(tokens.size()) + 1);
  DecoderInput in;
  in.tokens = tokens;
  in.all_logits = true;
  return model->forward({&in, 1}, *cache);
}

struct Closeness {
  double rmse = 0.0, top1 = 0.0;
};

Closeness compare(const std::vector<float>& ref, const std::vector<float>& got, int64_t n_vocab) {
  Closeness c;
  const size_t rows = ref.size() / size_t(n_vocab);
  int agree = 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* a = ref.data() + r * size_t(n_vocab);
    const float* b = got.data() + r * size_t(n_vocab);
    agree += std::max_element(a, a + n_vocab) - a == std::max_element(b, b + n_vocab) - b;
    for (int64_t v = 0; v < n_vocab; ++v) c.rmse += (double(a[v]) - b[v]) * (double(a[v]) - b[v]);
  }
  c.rmse = std::sqrt(c.rmse / double(ref.size()));
  c.top1 = double(agree) / double(rows);
  return c;
}

class Pal4g16Logits : public ::testing::TestWithParam<std::string> {};

TEST_P(Pal4g16Logits, LogitsErrorStaysNearQ4_0s) {
  HEARTH_REQUIRE_SHARED();
  auto src = Weights::open(test::shared_dir() + "/" + GetParam());
  const int64_t n_vocab = load_decoder(*src, backend())->hparams().n_vocab;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(1, int32_t(n_vocab) - 1);
  std::vector<int32_t> tokens(48);
  for (auto& t : tokens) t = id(rng);
  const std::vector<float> ref = logits(*src, tokens);
  int n_q4 = 0, n_pal = 0;
  const Closeness q4 = compare(ref, logits(*quantized(*src, DType::Q4_0, &n_q4), tokens), n_vocab);
  const Closeness pal = compare(ref, logits(*quantized(*src, DType::PAL4G16, &n_pal), tokens), n_vocab);
  ASSERT_EQ(n_q4, n_pal);
  ASSERT_GT(n_pal, 0);
  std::printf("[ figures  ] %s, %d matrices, %zu positions: logits RMSE vs unquantized: q4_0 %.4f, pal4g16 %.4f "
              "(ratio %.2f); top-1 agreement: q4_0 %.1f%%, pal4g16 %.1f%%\n",
              GetParam().c_str(), n_pal, tokens.size(), q4.rmse, pal.rmse, pal.rmse / q4.rmse, 100 * q4.top1,
              100 * pal.top1);
  ASSERT_TRUE(std::isfinite(pal.rmse));
  // The target (PAL4G16 closer to the unquantized model than Q4_0) is not met: PAL4G16 spends 4 bits a weight
  // (plus 32 a row) to Q4_0's 4.5, and on these models its logits error is 1.01 to 1.28 times Q4_0's
  // (docs/toolchain.md). This bound catches a regression of the quantizer or the kernels.
  EXPECT_LT(pal.rmse, 1.4 * q4.rmse);
  EXPECT_GE(pal.top1, q4.top1 - 0.25);
}

INSTANTIATE_TEST_SUITE_P(Models, Pal4g16Logits,
                         ::testing::Values("models/stories260K.gguf", "golden/models/llama-dev.f16.gguf",
                                           "golden/models/qwen2-dev.f32.gguf"),
                         [](const auto& info) {
                           std::string n = info.param.substr(info.param.rfind('/') + 1);
                           n = n.substr(0, n.find('.'));
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace hearth
