// Quantizers: hand-computed blocks (the rounding rules of ggml's reference quantizers) and round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
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

// K-quants: a min/max quantizer (not ggml's search), checked through the reference dequantizer.
std::vector<float> k_round_trip(DType t, const std::vector<float>& x) {
  const auto bytes = quantize(t, x.data(), 1, int64_t(x.size()));
  EXPECT_EQ(bytes.size(), row_bytes(t, int64_t(x.size())));
  std::vector<float> back(x.size());
  dequantize_row(t, bytes.data(), back.data(), int64_t(x.size()));
  return back;
}

struct ErrStats {
  float rms_rel, max_rel;  // RMS and max abs error over the data's range (max - min)
};
ErrStats k_error(const std::vector<float>& x, const std::vector<float>& back) {
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  const float range = *hi - *lo;
  double se = 0, mx = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = std::fabs(double(back[i]) - double(x[i]));
    se += e * e;
    mx = std::max(mx, e);
  }
  return {float(std::sqrt(se / double(x.size())) / range), float(mx / range)};
}

TEST(Quantize, KQuantRandomRoundTrip) {
  std::mt19937 rng(42);
  // Uniform, Gaussian, and Gaussian with per-sub-block magnitudes spread over 100x (so the 6-bit / int8
  // sub-block scales matter), each over 16 super-blocks.
  for (int kind = 0; kind < 3; ++kind) {
    std::vector<float> x(16 * 256);
    std::uniform_real_distribution<float> uni(-1.5f, 0.7f);
    std::normal_distribution<float> gauss(0.1f, 1.0f);
    for (size_t i = 0; i < x.size(); ++i) {
      const float mag = kind == 2 ? std::pow(10.0f, float((i / 16) % 5) * 0.5f) : 1.0f;
      x[i] = (kind == 0 ? uni(rng) : gauss(rng)) * mag;
    }
    // Q4_K: 15 steps per sub-block -> RMS about step/sqrt(12) = range/52 when one sub-block spans the range.
    // Q6_K: 63 steps of 2*max|x|/63 (not of the range) -> about range/218 for symmetric data, range/160 for
    // the skewed uniform data here.
    for (DType t : {DType::Q4_K, DType::Q6_K}) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " kind " + std::to_string(kind));
      const auto back = k_round_trip(t, x);
      const ErrStats e = k_error(x, back);
      const float rms_bound = t == DType::Q4_K ? 1.0f / 45 : 1.0f / 150;
      const float max_bound = t == DType::Q4_K ? 1.0f / 12 : 1.0f / 50;
      EXPECT_LE(e.rms_rel, rms_bound);
      EXPECT_LE(e.max_rel, max_bound);
      // Per element, the error is at most about one quantization step of its own sub-block.
      const int sub = t == DType::Q4_K ? 32 : 16;
      const float steps = t == DType::Q4_K ? 15.0f : 31.5f;
      for (size_t s = 0; s < x.size() / sub; ++s) {
        float lo = 0, hi = 0, amax = 0;
        for (int j = 0; j < sub; ++j) {
          lo = std::min(lo, x[s * sub + j]);
          hi = std::max(hi, x[s * sub + j]);
          amax = std::max(amax, std::fabs(x[s * sub + j]));
        }
        const float step = t == DType::Q4_K ? (hi - std::min(lo, 0.0f)) / steps : amax / steps;
        // The 6-bit (Q4_K) or int8 (Q6_K) sub-block scale is relative to the super-block's largest: a
        // small sub-block gets up to half a scale unit of the largest sub-block's step on top.
        float big = 0;
        for (size_t k = (s * sub) / 256 * 256; k < (s * sub) / 256 * 256 + 256; ++k) big = std::max(big, std::fabs(x[k]));
        const float slack = t == DType::Q4_K ? 2 * big / 15 / 63 * 16 : big / 32 / 128 * 33;
        for (int j = 0; j < sub; ++j)
          ASSERT_LE(std::fabs(back[s * sub + j] - x[s * sub + j]), step + slack + 1e-6f) << "at " << s * sub + j;
      }
    }
  }
}

TEST(Quantize, KQuantConstantZeroAndNegativeRows) {
  for (DType t : {DType::Q4_K, DType::Q6_K}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    // All zero: exactly zero back (d = dmin = 0).
    std::vector<float> zero(512, 0.0f);
    for (float v : k_round_trip(t, zero)) EXPECT_EQ(v, 0.0f);
    // Constants of either sign: within F16 rounding of d (and dmin) of the value. For small values d is an
    // F16 subnormal (3e-3 / 4096 for Q6_K), whose absolute rounding (2^-25) is scaled by sc*q (up to 4096
    // for Q6_K, 63*15 for Q4_K), as with ggml's own K-quants.
    const float sub_ulp = (t == DType::Q6_K ? 4096.0f : 945.0f) * std::ldexp(1.0f, -25);
    for (float c : {1.0f, -1.0f, 0.37f, -123.5f, 3e-3f, -3e-3f}) {
      std::vector<float> x(256, c);
      for (float v : k_round_trip(t, x)) EXPECT_NEAR(v, c, std::fabs(c) * 2e-3f + sub_ulp) << "c = " << c;
    }
    // Negative only, from -3 to -1: Q4_K must represent it through the (negated) min alone.
    std::vector<float> neg(512);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-3.0f, -1.0f);
    for (float& v : neg) v = u(rng);
    const auto back = k_round_trip(t, neg);
    for (float v : back) EXPECT_LT(v, 0.0f);
    // The min is folded in as 0 for Q4_K (range [min, 0]), so relative to [-3, 0]:
    const ErrStats e = k_error(neg, back);
    EXPECT_LE(e.rms_rel, t == DType::Q4_K ? 0.06f : 0.015f);
  }
}

TEST(Quantize, KQuantRequantizingIsStable) {
  // Quantizing the dequantized values again gives exactly the same values: the grid found the first time
  // holds them and the min/max of the dequantized sub-blocks reproduce the same scales.
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(8 * 256);
  for (float& v : x) v = g(rng);
  for (DType t : {DType::Q4_K, DType::Q6_K}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const auto once = k_round_trip(t, x);
    const auto twice = k_round_trip(t, once);
    const auto thrice = k_round_trip(t, twice);
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(once[i], twice[i]) << "at " << i;
      ASSERT_EQ(twice[i], thrice[i]) << "at " << i;
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
