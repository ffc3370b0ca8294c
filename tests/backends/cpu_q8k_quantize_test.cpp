// The AVX-512 Q8_K activation quantizer must be bit-identical to the scalar reference quantize_row_q8_K,
// including the inputs where a conversion instruction or a different max search would differ.
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

void expect_identical(const std::vector<float>& x) {
  const size_t nb = x.size() / kQK_K;
  std::vector<BlockQ8_K> want(nb), got(nb);
  std::memset(want.data(), 0x55, nb * sizeof(BlockQ8_K));
  std::memset(got.data(), 0xAA, nb * sizeof(BlockQ8_K));
  cpu::quantize_row_q8_K(x.data(), want.data(), int64_t(x.size()));
  cpu::quantize_row_q8_K_avx512(x.data(), got.data(), int64_t(x.size()));
  for (size_t b = 0; b < nb; ++b) {
    SCOPED_TRACE("block " + std::to_string(b));
    EXPECT_EQ(std::memcmp(&want[b].d, &got[b].d, sizeof(float)), 0) << want[b].d << " vs " << got[b].d;
    for (int i = 0; i < kQK_K; ++i) ASSERT_EQ(want[b].qs[i], got[b].qs[i]) << "value " << i;
    for (int g = 0; g < kQK_K / 16; ++g) ASSERT_EQ(want[b].bsums[g], got[b].bsums[g]) << "sum " << g;
  }
}

class Q8KQuantizeAvx512 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cpu_info().kernel_level() != "avx512") GTEST_SKIP() << "no AVX-512 on this CPU";
  }
};

TEST_F(Q8KQuantizeAvx512, RandomRowsOfManyScales) {
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float scale : {1e-30f, 1e-6f, 0.01f, 1.0f, 300.0f, 1e20f}) {
    std::vector<float> x(8 * kQK_K);
    for (float& v : x) v = nd(rng) * scale;
    expect_identical(x);
  }
}

TEST_F(Q8KQuantizeAvx512, MaxTiesZerosAndSpecialValues) {
  std::vector<float> x(9 * kQK_K, 0.0f);  // block 0 stays all zero
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  for (size_t i = kQK_K; i < x.size(); ++i) x[i] = ud(rng);
  // Block 1: +2 and -2 tie for the largest magnitude; the first (negative) one sets the sign of the scale.
  x[kQK_K + 100] = -2.0f, x[kQK_K + 200] = 2.0f;
  // Block 2: the tie in the other order, in the same 16-value group.
  x[2 * kQK_K + 17] = 2.0f, x[2 * kQK_K + 18] = -2.0f;
  // Block 3: values whose scaled form lands on exact halves (round half to even).
  for (int i = 0; i < kQK_K; ++i) x[3 * kQK_K + i] = float(i % 9 - 4) * 0.5f;
  x[3 * kQK_K + 5] = -127.0f;  // scale -127 / -127 = 1: every x * 1 is exact, halves tie
  // Block 4: NaN among ordinary values; block 5: +inf; block 6: negative zero only, with one tiny value.
  x[4 * kQK_K + 7] = std::numeric_limits<float>::quiet_NaN();
  x[5 * kQK_K + 250] = std::numeric_limits<float>::infinity();
  for (int i = 0; i < kQK_K; ++i) x[6 * kQK_K + i] = -0.0f;
  x[6 * kQK_K + 255] = std::numeric_limits<float>::denorm_min();
  // Block 7: all equal (every value is a tie for the max); block 8: the max in the last value.
  for (int i = 0; i < kQK_K; ++i) x[7 * kQK_K + i] = -0.75f;
  x[8 * kQK_K + 255] = 5.0f;
  expect_identical(x);
}

// Values where rounding iscale * x before adding ggml's rounding constant (as the scalar code does) differs from
// one fused multiply-add: a kernel whose multiply and add got contracted fails here.
TEST_F(Q8KQuantizeAvx512, ProductIsRoundedBeforeTheRoundingAdd) {
  std::vector<float> x(kQK_K, 0.0f);
  x[0] = 3.0f;
  const float iscale = -127.f / 3.0f;
  int found = 1;
  for (int k = -126; k < 126 && found < kQK_K; ++k) {
    float c = (float(k) + 0.5f) / iscale;
    for (int step = 0; step < 64 && found < kQK_K; ++step, c = std::nextafter(c, 0.0f)) {
      volatile float prod = iscale * c;
      const float two_step = prod + 12582912.f;
      if (std::fma(iscale, c, 12582912.f) != two_step) x[size_t(found++)] = c;
    }
  }
  ASSERT_GT(found, 16);
  expect_identical(x);
}

}  // namespace
}  // namespace hearth
