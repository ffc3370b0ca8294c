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
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q5_1, DType::F16, DType::BF16, DType::F32}) {
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
      // Q5_0 likewise with [-16, 15]; Q5_1 spans [min, max] in 31 steps: half a step of at most 2*amax/31.
      const float bound = t == DType::Q8_0   ? amax / 127 * 0.57f
                          : t == DType::Q4_0 ? amax / 8
                          : t == DType::Q5_0 ? amax / 16
                          : t == DType::Q5_1 ? amax / 31 * 1.01f
                                             : amax / 256;
      for (size_t j = 0; j < 32; ++j) EXPECT_LE(std::fabs(back[blk * 32 + j] - x[blk * 32 + j]), bound * 1.001f);
    }
  }
}

// ---- K-quants: checked through the reference dequantizer, against the plain min/max quantizer below ----

std::vector<float> k_round_trip(DType t, const std::vector<float>& x) {
  const auto bytes = quantize(t, x.data(), 1, int64_t(x.size()));
  EXPECT_EQ(bytes.size(), row_bytes(t, int64_t(x.size())));
  std::vector<float> back(x.size());
  dequantize_row(t, bytes.data(), back.data(), int64_t(x.size()));
  return back;
}

double rmse(const std::vector<float>& x, const std::vector<float>& back) {
  double se = 0;
  for (size_t i = 0; i < x.size(); ++i) se += (double(back[i]) - x[i]) * (double(back[i]) - x[i]);
  return std::sqrt(se / double(x.size()));
}

inline int nearest(float v) { return int(std::lround(v)); }

// The obvious K-quant quantizer (hearth's before the search): per sub-block its min/max grid (Q4_K/Q5_K) or the
// grid that maps the extreme value to -32 (Q6_K), sub-block scales rounded against the largest. Written as
// floats, not blocks: value = d*sc*q - dmin*m with every factor rounded as the format stores it.
std::vector<float> minmax_k_values(DType t, const std::vector<float>& x) {
  std::vector<float> out(x.size());
  for (size_t b = 0; b < x.size() / 256; ++b) {
    const float* xb = x.data() + 256 * b;
    float* yb = out.data() + 256 * b;
    if (t == DType::Q6_K) {
      float scale[16], extreme = 0;
      for (int s = 0; s < 16; ++s) {
        float amax = 0, max = 0;
        for (int j = 0; j < 16; ++j) {
          if (std::fabs(xb[16 * s + j]) > amax) amax = std::fabs(xb[16 * s + j]), max = xb[16 * s + j];
        }
        scale[s] = max / -32.0f;
        if (std::fabs(scale[s]) > std::fabs(extreme)) extreme = scale[s];
      }
      const float d = fp16_to_fp32(fp32_to_fp16(extreme / -128.0f));
      for (int s = 0; s < 16; ++s) {
        const float dd = d * float(d != 0 ? std::clamp(nearest(scale[s] / d), -128, 127) : 0);
        for (int j = 0; j < 16; ++j)
          yb[16 * s + j] = dd * float(dd != 0 ? std::clamp(nearest(xb[16 * s + j] / dd), -32, 31) : 0);
      }
      continue;
    }
    const int nmax = t == DType::Q4_K ? 15 : 31;
    float scale[8], mins[8], max_scale = 0, max_min = 0;
    for (int s = 0; s < 8; ++s) {
      const auto [lo, hi] = std::minmax_element(xb + 32 * s, xb + 32 * s + 32);
      scale[s] = (*hi - std::min(*lo, 0.0f)) / float(nmax);
      mins[s] = -std::min(*lo, 0.0f);
      max_scale = std::max(max_scale, scale[s]);
      max_min = std::max(max_min, mins[s]);
    }
    const float d = fp16_to_fp32(fp32_to_fp16(max_scale / 63)), dmin = fp16_to_fp32(fp32_to_fp16(max_min / 63));
    for (int s = 0; s < 8; ++s) {
      const float dd = d * float(d > 0 ? std::clamp(nearest(scale[s] / d), 0, 63) : 0);
      const float dm = dmin * float(dmin > 0 ? std::clamp(nearest(mins[s] / dmin), 0, 63) : 0);
      for (int j = 0; j < 32; ++j)
        yb[32 * s + j] = dd * float(dd > 0 ? std::clamp(nearest((xb[32 * s + j] + dm) / dd), 0, nmax) : 0) - dm;
    }
  }
  return out;
}

constexpr DType kKQuants[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST(Quantize, KQuantErrorIsBelowTheMinMaxQuantizers) {
  std::mt19937 rng(42);
  // Uniform, Gaussian, heavy-tailed (Laplacian-like), and Gaussian with per-sub-block magnitudes spread over 100x
  // (so the 6-bit / int8 sub-block scales matter), each over 16 super-blocks.
  for (int kind = 0; kind < 4; ++kind) {
    std::vector<float> x(16 * 256);
    std::uniform_real_distribution<float> uni(-1.5f, 0.7f);
    std::normal_distribution<float> gauss(0.1f, 1.0f);
    std::exponential_distribution<float> expo(1.0f);
    for (size_t i = 0; i < x.size(); ++i) {
      const float mag = kind == 3 ? std::pow(10.0f, float((i / 16) % 5) * 0.5f) : 1.0f;
      x[i] = kind == 0 ? uni(rng) : kind == 2 ? expo(rng) * (rng() % 2 ? 1.0f : -1.0f) : gauss(rng) * mag;
    }
    for (DType t : kKQuants) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " kind " + std::to_string(kind));
      const auto back = k_round_trip(t, x);
      const double ours = rmse(x, back), naive = rmse(x, minmax_k_values(t, x));
      EXPECT_LE(ours, naive);
      // Bounds from the step alone: a sub-block spanning ~6 sigma in 15/31/63 steps has RMS ~step/sqrt(12).
      double sd = 0;
      for (float v : x) sd += double(v) * v;
      sd = std::sqrt(sd / double(x.size()));
      const double bound = t == DType::Q4_K ? 0.10 : t == DType::Q5_K ? 0.05 : 0.025;
      if (kind != 3) {
        EXPECT_LE(ours / sd, bound);
      }
    }
  }
}

TEST(Quantize, KQuantConstantZeroAndNegativeRows) {
  for (DType t : kKQuants) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    // All zero: exactly zero back (d = dmin = 0).
    std::vector<float> zero(512, 0.0f);
    for (float v : k_round_trip(t, zero)) EXPECT_EQ(v, 0.0f);
    // Constants of either sign: within F16 rounding of d (and dmin) of the value. For small values d is an
    // F16 subnormal (2^-24 apart), whose absolute rounding is scaled by sc*q (up to 128*32 for Q6_K, 63*31).
    const float sub_ulp = (t == DType::Q6_K ? 4096.0f : 63.0f * 31.0f) * std::ldexp(1.0f, -25);
    for (float c : {1.0f, -1.0f, 0.37f, -123.5f, 3e-3f, -3e-3f}) {
      std::vector<float> x(256, c);
      for (float v : k_round_trip(t, x)) EXPECT_NEAR(v, c, std::fabs(c) * 2e-3f + sub_ulp) << "c = " << c;
    }
    // Negative only, from -3 to -1: Q4_K/Q5_K must represent it through the (negated) min alone.
    std::vector<float> neg(512);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-3.0f, -1.0f);
    for (float& v : neg) v = u(rng);
    const auto back = k_round_trip(t, neg);
    for (float v : back) EXPECT_LT(v, 0.0f);
    EXPECT_LE(rmse(neg, back), rmse(neg, minmax_k_values(t, neg)));
    EXPECT_LE(rmse(neg, back), t == DType::Q4_K ? 0.06 * 3 : 0.015 * 3);
  }
}

TEST(Quantize, KQuantRequantizingDoesNotDrift) {
  // Quantizing the dequantized values again lands on (nearly) the same values: they lie on a grid the format
  // can store, so the search finds it or one as good.
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(8 * 256);
  for (float& v : x) v = g(rng);
  for (DType t : kKQuants) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const auto once = k_round_trip(t, x);
    const auto twice = k_round_trip(t, once);
    EXPECT_LE(rmse(once, twice), 0.1 * rmse(x, once));
  }
}

TEST(Quantize, Q5_0AndQ5_1HandComputedBlocks) {
  // Q5_0: the value of largest magnitude is -16 -> d = 1, q = min(31, trunc(x + 16.5)), fifth bit in qh.
  std::vector<float> x(32, 0.0f);
  x[0] = -16.0f;
  x[1] = 15.0f;
  x[16] = 3.4f;
  x[17] = 15.6f;  // 32.1 -> clamped to 31, i.e. 15
  BlockQ5_0 b0;
  quantize_row_q5_0(x.data(), &b0, 32);
  EXPECT_EQ(fp16_to_fp32(b0.d), 1.0f);
  std::vector<float> back(32);
  dequantize_row(DType::Q5_0, &b0, back.data(), 32);
  EXPECT_EQ(back[0], -16.0f);
  EXPECT_EQ(back[1], 15.0f);
  EXPECT_EQ(back[2], 0.0f);
  EXPECT_EQ(back[16], 3.0f);
  EXPECT_EQ(back[17], 15.0f);
  // Q5_1: min 0, max 31 -> d = 1, m = 0: integers come back exactly.
  std::vector<float> y(32);
  for (int j = 0; j < 32; ++j) y[j] = float(j);
  BlockQ5_1 b1;
  quantize_row_q5_1(y.data(), &b1, 32);
  dequantize_row(DType::Q5_1, &b1, back.data(), 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(back[j], y[j]) << j;
}

TEST(Quantize, RejectsBadRequests) {
  std::vector<float> x(40);
  EXPECT_THROW(quantize(DType::Q8_0, x.data(), 1, 40), Error);
  EXPECT_THROW(quantize(DType::Q4_K, x.data(), 1, 32), Error);
}

}  // namespace
}  // namespace hearth
