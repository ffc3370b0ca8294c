// Stacked q/k/v weights: one matmul by the stacked matrix gives, column range by column range, exactly what the
// three separate matmuls give (each output is the same dot product), for float and quantized types.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "core/quantize.h"
#include "models/stacked_weights.h"

namespace hearth {
namespace {

std::vector<uint8_t> random_rows(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  // Random floats quantized to t, so the blocks have sane scales.
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> f(size_t(rows * cols));
  for (float& x : f) x = dist(rng);
  return quantize(t, f.data(), rows, cols);
}

WeightTensor tensor(const std::string& name, DType t, std::vector<int64_t> ne, const std::vector<uint8_t>& bytes) {
  WeightTensor w;
  w.name = name;
  w.type = t;
  w.ne = std::move(ne);
  w.data = bytes.data();
  w.nbytes = bytes.size();
  return w;
}

TEST(StackedWeights, FusedMatmulEqualsSeparate) {
  std::unique_ptr<Backend> be = make_cpu_backend(2);
  std::mt19937 rng(5);
  const int64_t k = 256, m = 96;
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_K}) {
    for (int64_t n : {1, 5, 40}) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " n=" + std::to_string(n));
      std::vector<std::vector<uint8_t>> bytes;
      std::vector<WeightTensor> parts;
      for (int i = 0; i < 3; ++i) bytes.push_back(random_rows(t, m, k, rng));
      for (int i = 0; i < 3; ++i) parts.push_back(tensor("w" + std::to_string(i), t, {k, m}, bytes[size_t(i)]));
      std::vector<float> bias_values(static_cast<size_t>(m));
      std::normal_distribution<float> dist;
      for (float& b : bias_values) b = dist(rng);
      const std::vector<uint8_t> bias_bytes(reinterpret_cast<const uint8_t*>(bias_values.data()),
                                            reinterpret_cast<const uint8_t*>(bias_values.data() + m));
      const WeightTensor bias = tensor("b", DType::F32, {m}, bias_bytes);

      ASSERT_TRUE(can_stack_rows(parts));
      std::vector<uint8_t> storage;
      const auto fused = be->prepare_matrix(stack_rows(parts, "qkv", storage));
      ASSERT_EQ(fused->rows, 3 * m);
      // Bias of the first and last part only: the middle one counts as zeros.
      const auto fused_bias = be->make_vector(stack_biases({&bias, nullptr, &bias}, m, "test"));

      auto ws = be->new_workspace();
      std::vector<float> x(size_t(n * k));
      for (float& v : x) v = dist(rng);
      Act xa = ws->act(n, k), out = ws->act(n, 3 * m);
      be->write(xa, x.data());
      be->matmul(out, xa, *fused, fused_bias.get());
      std::vector<float> got(size_t(n * 3 * m));
      be->read(out, got.data());

      const auto bv = be->prepare_vector(bias);
      for (int i = 0; i < 3; ++i) {
        const auto w = be->prepare_matrix(parts[size_t(i)]);
        Act o = ws->act(n, m);
        be->matmul(o, xa, *w, i == 1 ? nullptr : bv.get());
        std::vector<float> want(size_t(n * m));
        be->read(o, want.data());
        for (int64_t r = 0; r < n; ++r)
          for (int64_t c = 0; c < m; ++c)
            ASSERT_EQ(got[size_t(r * 3 * m + i * m + c)], want[size_t(r * m + c)]) << "part " << i << " at " << r << "," << c;
      }
    }
  }
}

TEST(StackedWeights, RefusesMixedPartsAndBadBiases) {
  std::vector<uint8_t> a(row_bytes(DType::F32, 32) * 4), b(row_bytes(DType::F16, 32) * 4), c(row_bytes(DType::F32, 64) * 4);
  EXPECT_FALSE(can_stack_rows({tensor("a", DType::F32, {32, 4}, a), tensor("b", DType::F16, {32, 4}, b)}));
  EXPECT_FALSE(can_stack_rows({tensor("a", DType::F32, {32, 4}, a), tensor("c", DType::F32, {64, 4}, c)}));
  EXPECT_TRUE(can_stack_rows({tensor("a", DType::F32, {32, 4}, a), tensor("a2", DType::F32, {32, 4}, a)}));
  const WeightTensor short_bias = tensor("b", DType::F32, {16}, a);
  EXPECT_THROW(stack_biases({&short_bias}, 32, "test"), Error);
}

}  // namespace
}  // namespace hearth
