// The AVX-512 activation quantizers (Q8_0, Q8_1) against the scalar reference, bit for bit, on rows chosen to
// hit the edges: all zeros, one non-zero value, huge and tiny magnitudes (denormals included), exact
// rounding ties, negative maxima, and many random rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/cpu_features.h"

namespace hearth {
namespace {

std::vector<std::vector<float>> edge_rows(int64_t n) {
  std::vector<std::vector<float>> rows;
  rows.emplace_back(size_t(n), 0.0f);
  rows.emplace_back(size_t(n), -0.0f);
  {
    std::vector<float> r(size_t(n), 0.0f);
    r[5] = -3.0f;  // a lone negative maximum
    rows.push_back(r);
  }
  for (float scale : {1e-38f, 1e-42f, 3e-30f, 1.0f, 7e20f, 3e38f}) {
    std::vector<float> r(static_cast<size_t>(n), 0.0f);
    for (int64_t i = 0; i < n; ++i) r[size_t(i)] = scale * float((i * 37) % 255 - 127) / 127.0f;
    rows.push_back(r);
  }
  {
    // Values that scale to exact halves: amax 127 gives id == 1, so x + 0.5 lands on a tie.
    std::vector<float> r(static_cast<size_t>(n), 0.0f);
    for (int64_t i = 0; i < n; ++i) r[size_t(i)] = (i % 32 == 0) ? 127.0f : float(i % 32) - 0.5f - 16.0f;
    rows.push_back(r);
  }
  {
    std::vector<float> r(size_t(n), 2.5f);  // constant blocks: every value is the maximum
    rows.push_back(r);
  }
  std::mt19937 rng(2024);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> expo(-30.0f, 30.0f);
  for (int k = 0; k < 300; ++k) {
    std::vector<float> r(static_cast<size_t>(n), 0.0f);
    const float scale = std::exp2(expo(rng));
    for (auto& v : r) v = scale * normal(rng);
    if (k % 7 == 0) r[size_t(k % n)] = 0.0f;
    rows.push_back(r);
  }
  return rows;
}

bool has_avx512() { return cpu_info().kernel_level() == "avx512"; }

TEST(Q32Quantize, Q8_0Avx512IsBitIdenticalToScalar) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const int64_t n = 32 * 12;
  for (const auto& row : edge_rows(n)) {
    std::vector<BlockQ8_0> want(size_t(n / 32)), got(size_t(n / 32));
    std::memset(got.data(), 0x5A, got.size() * sizeof(BlockQ8_0));
    cpu::quantize_row_q8_0(row.data(), want.data(), n);
    cpu::quantize_row_q8_0_avx512(row.data(), got.data(), n);
    for (size_t b = 0; b < want.size(); ++b) {
      ASSERT_EQ(want[b].d, got[b].d) << "block " << b << " first value " << row[0];
      for (int j = 0; j < 32; ++j) ASSERT_EQ(want[b].qs[j], got[b].qs[j]) << "block " << b << " value " << row[b * 32 + size_t(j)];
    }
  }
}

TEST(Q32Quantize, Q8_1Avx512IsBitIdenticalToScalar) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const int64_t n = 32 * 12;
  for (const auto& row : edge_rows(n)) {
    std::vector<BlockQ8_1> want(size_t(n / 32)), got(size_t(n / 32));
    std::memset(got.data(), 0x5A, got.size() * sizeof(BlockQ8_1));
    cpu::quantize_row_q8_1(row.data(), want.data(), n);
    cpu::quantize_row_q8_1_avx512(row.data(), got.data(), n);
    ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(BlockQ8_1)), 0) << "first value " << row[0];
  }
}

// The kernel table hands out the AVX-512 quantizers for the 32-block types at that level.
TEST(Q32Quantize, Avx512KernelsUseTheVectorQuantizers) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const cpu::KernelSet& ks = cpu::kernels_for_level("avx512");
  EXPECT_EQ(ks.for_type(DType::Q8_0).quantize, &cpu::quantize_row_q8_0_avx512);
  EXPECT_EQ(ks.for_type(DType::Q4_0).quantize, &cpu::quantize_row_q8_0_avx512);
  EXPECT_EQ(ks.for_type(DType::Q4_1).quantize, &cpu::quantize_row_q8_1_avx512);
}

}  // namespace
}  // namespace hearth
