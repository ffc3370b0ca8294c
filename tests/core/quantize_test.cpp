// Quantizers: hand-computed blocks (the rounding rules of ggml's reference quantizers) and round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/quantize.h"

namespace hearth {
namespace {

TEST(Quantize, Q8_0HandComputedBlock) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = float(j - 16);  // max |x| = 16 -> d = 16/127, 1/d = 7.9375
  BlockQ8_0 b;
  quantize_row_q8_0(x.data(), &b, 32);
  EXPECT_EQ(b.d, fp32_to_fp16(16.0f / 127.0f));
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[16], 0);
  EXPECT_EQ(b.qs[17], 8);    // 7.9375 -> 8
  EXPECT_EQ(b.qs[18], 16);   // 15.875 -> 16
  EXPECT_EQ(b.qs[31], 119);  // 15 * 7.9375 = 119.0625
  EXPECT_EQ(b.qs[8], -64);   // -8 * 7.9375 = -63.5: halves round away from zero
}

TEST(Quantize, Q8_0ZeroBlock) {
  std::vector<float> x(64, 0.0f);
  BlockQ8_0 b[2];
  quantize_row_q8_0(x.data(), b, 64);
  for (const auto& blk : b) {
    EXPECT_EQ(fp16_to_fp32(blk.d), 0.0f);
    for (int8_t q : blk.qs) EXPECT_EQ(q, 0);
  }
}

TEST(Quantize, Q4_0HandComputedBlock) {
  // The value of largest magnitude is -8: d = -8 / -8 = 1, q = min(15, trunc(x + 8.5)).
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;
  x[1] = 7.0f;
  x[2] = 3.4f;
  x[16] = -2.6f;
  x[17] = 7.4f;
  BlockQ4_0 b;
  quantize_row_q4_0(x.data(), &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0] & 0xf, 0);    // -8 + 8.5 = 0.5 -> 0
  EXPECT_EQ(b.qs[1] & 0xf, 15);   // 15.5 -> 15
  EXPECT_EQ(b.qs[2] & 0xf, 11);   // 11.9 -> 11
  EXPECT_EQ(b.qs[3] & 0xf, 8);    // 0 -> 8
  EXPECT_EQ(b.qs[0] >> 4, 5);     // x[16]: 5.9 -> 5
  EXPECT_EQ(b.qs[1] >> 4, 15);    // x[17]: 15.9 -> clamped to 15
  // Largest magnitude positive: the scale turns negative and +8 maps to 0.
  std::vector<float> y(32, 0.0f);
  y[5] = 8.0f;
  y[6] = -7.0f;
  quantize_row_q4_0(y.data(), &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), -1.0f);
  EXPECT_EQ(b.qs[5] & 0xf, 0);
  EXPECT_EQ(b.qs[6] & 0xf, 15);
}

TEST(Quantize, RoundTripWithinTheQuantizationStep) {
  std::vector<float> x(256);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * float(i)) * (1.0f + float(i % 7));
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::F16, DType::BF16, DType::F32}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const auto bytes = quantize(t, x.data(), 2, 128);
    ASSERT_EQ(bytes.size(), 2 * row_bytes(t, 128));
    std::vector<float> back(x.size());
    dequantize_row(t, bytes.data(), back.data(), int64_t(x.size()));
    for (size_t blk = 0; blk < x.size() / 32; ++blk) {
      float amax = 0;
      for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[blk * 32 + j]));
      // Q4_0 uses [-8, 7] steps with -8 on the largest value's side, so a value of nearly the opposite
      // magnitude is clamped to 7 steps: up to a whole step of error there.
      // Q8_0 quantizes with the float scale but stores it as F16: up to 127 * 2^-11 of a step more.
      const float bound = t == DType::Q8_0 ? amax / 127 * 0.57f : t == DType::Q4_0 ? amax / 8 : amax / 256;
      for (size_t j = 0; j < 32; ++j) EXPECT_LE(std::fabs(back[blk * 32 + j] - x[blk * 32 + j]), bound * 1.001f);
    }
  }
}

TEST(Quantize, RejectsBadRequests) {
  std::vector<float> x(40);
  EXPECT_THROW(quantize(DType::Q8_0, x.data(), 1, 40), Error);
  EXPECT_THROW(quantize(DType::Q4_K, x.data(), 1, 32), Error);
}

}  // namespace
}  // namespace hearth
