// K-quant quantizers (Q4_K, Q5_K, Q6_K) that minimise the plain squared error of the dequantized values.
//
// Each super-block of 256 values is fitted in two stages, as the format nests two levels of scales:
//  1. every sub-block gets the float scale (and, for Q4_K/Q5_K, min) that best fits it: a sweep over candidate
//     grid spacings around the min/max one, each followed by a least-squares refit of scale and min to the
//     integers it produced, keeping the fit of least error;
//  2. those scales are rounded to the 6- or 8-bit integers the format stores against an F16 super-block scale,
//     then improved in turn: each integer scale (and min) is moved by ±1 where that lowers the sub-block's error,
//     and the super-block scales are refitted by least squares to the integers chosen, keeping each step only when
//     the whole block's error goes down.
// The integers q are always re-derived from the final stored (rounded) scales, so the error measured here is the
// error of the block as dequantize_row() reads it. llama.cpp's reference quantizers (no importance matrix)
// minimise a weighted error (weights |x| + rms or x²) instead, so on plain RMSE these come out no worse.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "core/quantize.h"

namespace hearth {
namespace {

// Round to nearest (ties to even) by the float-add trick, branch-free so that the search's loops vectorize (a
// std::lround library call per value and candidate would dominate). Magnitudes beyond 2^22 (a degenerate scale
// ratio) saturate there; callers clamp the result to their range anyway.
inline int nearest_int(float v) {
  v = std::min(std::max(v, -4194303.0f), 4194303.0f);
  float shifted = v + 12582912.0f;  // 1.5 * 2^23: the integer lands in the low mantissa bits
  int32_t bits;
  std::memcpy(&bits, &shifted, 4);
  return (bits & 0x007FFFFF) - 0x00400000;
}
// The grid level nearest v within [0, hi] (integers held as floats, ties to even), written so that the search's
// loops vectorize: no int conversion, and comparisons against zero and hi that map to max/min instructions.
inline float level(float v, float hi) {
  v = v > 0.0f ? v : 0.0f;
  v = v < hi ? v : hi;
  return (v + 12582912.0f) - 12582912.0f;
}

// Q6_K's levels [-32, 31], through level() shifted by 32 (exact: both are small integers in float).
inline float signed_level(float v) { return level(v + 32.0f, 63.0f) - 32.0f; }

inline float round_to_f16(float v) { return fp16_to_fp32(fp32_to_fp16(v)); }

// ---- Asymmetric sub-blocks (Q4_K, Q5_K): x ≈ scale * q - min, q in [0, nmax], scale >= 0, min >= 0 ----

struct AffineFit {
  float scale = 0.0f, min = 0.0f;
};

constexpr int kAffineSub = 32, kSymmetricSub = 16;  // values per sub-block

// Squared error of a sub-block against scale*q - min with the best q for each value. The squares go through an
// array so that the loop vectorizes (a float reduction would not, without -ffast-math).
float affine_error(const float* x, int nmax, float scale, float min) {
  float e[kAffineSub];
  const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
  for (int i = 0; i < kAffineSub; ++i) {
    const float d = scale * level((x[i] + min) * inv, float(nmax)) - min - x[i];
    e[i] = d * d;
  }
  float err = 0.0f;
  for (float v : e) err += v;
  return err;
}

AffineFit fit_affine(const float* x, int nmax) {
  const int n = kAffineSub;
  float lo = x[0], hi = x[0], sx = 0, sxx = 0;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sx += x[i];
    sxx += x[i] * x[i];
  }
  lo = std::min(lo, 0.0f);  // the min is stored unsigned: the grid's floor is at or below zero
  if (hi <= lo) return {0.0f, -lo};
  AffineFit best{(hi - lo) / float(nmax), -lo};
  float best_err = affine_error(x, nmax, best.scale, best.min);
  // Grid spacings from (hi-lo)/(nmax-1) to (hi-lo)/(nmax+1): wider grids clip the extremes but place the bulk
  // of the values better. Each candidate's integers get the least-squares scale and min, and its error follows
  // from the sums alone (the integers are not re-derived per candidate, so it is an upper bound).
  for (int k = -10; k <= 10; ++k) {
    const float iscale = (float(nmax) + 0.1f * float(k)) / (hi - lo);
    float q[kAffineSub], sq = 0, sqq = 0, sqx = 0;  // sums of small integers: exact in float
    for (int i = 0; i < n; ++i) q[i] = level((x[i] - lo) * iscale, float(nmax));
    for (int i = 0; i < n; ++i) {
      sq += q[i];
      sqq += q[i] * q[i];
      sqx += q[i] * x[i];
    }
    // Least squares of x ≈ a*q + b, with b <= 0 (the min) and a >= 0.
    const float det = float(n) * sqq - sq * sq;
    if (det <= 0.0f) continue;
    float a = (float(n) * sqx - sq * sx) / det;
    float b = (sqq * sx - sq * sqx) / det;
    if (b > 0.0f) {
      b = 0.0f;
      a = sqx / sqq;
    }
    if (!(a > 0.0f)) continue;
    // sum (a q + b - x)^2 expanded over the sums.
    const float err = a * a * sqq + 2 * a * b * sq + float(n) * b * b - 2 * a * sqx - 2 * b * sx + sxx;
    if (err < best_err) {
      best_err = err;
      best = {a, -b};
    }
  }
  return best;
}

// A super-block of 8 sub-blocks of 32 values with 6-bit scales and mins against F16 d and dmin.
struct AffineSuperBlock {
  float d = 0.0f, dmin = 0.0f;  // already rounded to F16
  int ls[8] = {}, lm[8] = {};
};

float sub_error(const float* x, int nmax, const AffineSuperBlock& sb, int s) {
  return affine_error(x + 32 * s, nmax, sb.d * float(sb.ls[s]), sb.dmin * float(sb.lm[s]));
}

float block_error(const float* x, int nmax, const AffineSuperBlock& sb) {
  float err = 0.0f;
  for (int s = 0; s < 8; ++s) err += sub_error(x, nmax, sb, s);
  return err;
}

// Rounds each sub-block's scale and min to 6 bits against sb.d / sb.dmin, then moves each by ±1 where that
// lowers the sub-block's error.
void choose_sub_scales(const float* x, int nmax, const AffineFit fits[8], AffineSuperBlock& sb) {
  for (int s = 0; s < 8; ++s) {
    const int ls0 = sb.d > 0.0f ? std::clamp(nearest_int(fits[s].scale / sb.d), 0, 63) : 0;
    const int lm0 = sb.dmin > 0.0f ? std::clamp(nearest_int(fits[s].min / sb.dmin), 0, 63) : 0;
    float best = -1.0f;
    for (int dl = -1; dl <= 1; ++dl)
      for (int dm = -1; dm <= 1; ++dm) {
        const int ls = ls0 + dl, lm = lm0 + dm;
        if (ls < 0 || ls > 63 || lm < 0 || lm > 63) continue;
        const float err = affine_error(x + 32 * s, nmax, sb.d * float(ls), sb.dmin * float(lm));
        if (best < 0.0f || err < best) {
          best = err;
          sb.ls[s] = ls;
          sb.lm[s] = lm;
        }
      }
  }
}

// Least-squares refit of d and dmin to the block's integers (x ≈ d*ls*q - dmin*lm), rounded to F16.
AffineSuperBlock refit_super_scales(const float* x, int nmax, const AffineSuperBlock& sb) {
  double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
  for (int s = 0; s < 8; ++s) {
    const float scale = sb.d * float(sb.ls[s]), min = sb.dmin * float(sb.lm[s]);
    const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
    for (int i = 0; i < 32; ++i) {
      const float v = x[32 * s + i];
      const int q = std::clamp(nearest_int((v + min) * inv), 0, nmax);
      const double a = double(sb.ls[s]) * q, b = -double(sb.lm[s]);
      saa += a * a;
      sab += a * b;
      sbb += b * b;
      sax += a * v;
      sbx += b * v;
    }
  }
  AffineSuperBlock out = sb;
  const double det = saa * sbb - sab * sab;
  if (det <= 0.0) return out;
  const double d = (sax * sbb - sab * sbx) / det, dmin = (saa * sbx - sab * sax) / det;
  if (d > 0.0 && dmin >= 0.0) {
    out.d = round_to_f16(float(d));
    out.dmin = round_to_f16(float(dmin));
  }
  return out;
}

AffineSuperBlock fit_affine_super_block(const float* x, int nmax) {
  AffineFit fits[8];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int s = 0; s < 8; ++s) {
    fits[s] = fit_affine(x + 32 * s, nmax);
    max_scale = std::max(max_scale, fits[s].scale);
    max_min = std::max(max_min, fits[s].min);
  }
  AffineSuperBlock best;
  best.d = round_to_f16(max_scale / 63.0f);
  best.dmin = round_to_f16(max_min / 63.0f);
  choose_sub_scales(x, nmax, fits, best);
  float best_err = block_error(x, nmax, best);
  for (int iter = 0; iter < 2; ++iter) {
    AffineSuperBlock next = refit_super_scales(x, nmax, best);
    choose_sub_scales(x, nmax, fits, next);
    const float err = block_error(x, nmax, next);
    if (!(err < best_err)) break;
    best = next;
    best_err = err;
  }
  return best;
}

// Inverse of dequant.cpp's scale_min_k4 (ggml's get_scale_min_k4): sub-blocks 0-3 keep their 6-bit scale and
// min in the low 6 bits of bytes 0-3 and 4-7; sub-blocks 4-7 keep the low 4 bits in the nibbles of bytes 8-11
// and the high 2 bits in the top bits of bytes 0-3 (scale) and 4-7 (min).
void pack_scale_min_k4(const int sc[8], const int m[8], uint8_t out[kKScaleSize]) {
  std::memset(out, 0, kKScaleSize);
  for (int j = 0; j < 4; ++j) {
    out[j] = uint8_t(sc[j] & 63);
    out[j + 4] = uint8_t(m[j] & 63);
  }
  for (int j = 4; j < 8; ++j) {
    out[j + 4] = uint8_t((sc[j] & 0x0F) | ((m[j] & 0x0F) << 4));
    out[j - 4] |= uint8_t((sc[j] >> 4) << 6);
    out[j] |= uint8_t((m[j] >> 4) << 6);
  }
}

// The integers of a fitted block, against its stored scales.
void affine_levels(const float* x, int nmax, const AffineSuperBlock& sb, uint8_t q[kQK_K]) {
  for (int s = 0; s < 8; ++s) {
    const float scale = sb.d * float(sb.ls[s]), min = sb.dmin * float(sb.lm[s]);
    const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
    for (int i = 0; i < 32; ++i) q[32 * s + i] = uint8_t(std::clamp(nearest_int((x[32 * s + i] + min) * inv), 0, nmax));
  }
}

// ---- Symmetric sub-blocks (Q6_K): x ≈ scale * q, q in [-32, 31] ----

float symmetric_error(const float* x, float scale) {
  float e[kSymmetricSub];
  const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
  for (int i = 0; i < kSymmetricSub; ++i) {
    const float d = scale * signed_level(x[i] * inv) - x[i];
    e[i] = d * d;
  }
  float err = 0.0f;
  for (float v : e) err += v;
  return err;
}

float fit_symmetric(const float* x) {
  const int n = kSymmetricSub;
  float amax = 0.0f, sxx = 0.0f;
  for (int i = 0; i < n; ++i) {
    amax = std::max(amax, std::fabs(x[i]));
    sxx += x[i] * x[i];
  }
  if (amax == 0.0f) return 0.0f;
  float best = amax / 31.0f, best_err = symmetric_error(x, best);
  // Both signs: mapping the extreme value to -32 rather than +31 gives that side one more level. The error of
  // the least-squares scale s = sqx/sqq for a candidate's integers is sxx - sqx^2/sqq.
  for (int sign = -1; sign <= 1; sign += 2)
    for (int k = -8; k <= 8; ++k) {
      const float iscale = float(sign) * (31.5f + 0.25f * float(k)) / amax;
      float q[kSymmetricSub], sqq = 0, sqx = 0;
      for (int i = 0; i < n; ++i) q[i] = signed_level(x[i] * iscale);
      for (int i = 0; i < n; ++i) {
        sqq += q[i] * q[i];
        sqx += q[i] * x[i];
      }
      if (sqq <= 0) continue;
      const float err = sxx - sqx * sqx / sqq;
      if (err < best_err) {
        best_err = err;
        best = sqx / sqq;
      }
    }
  return best;
}

struct SymmetricSuperBlock {
  float d = 0.0f;  // rounded to F16
  int sc[16] = {};
};

float block_error(const float* x, const SymmetricSuperBlock& sb) {
  float err = 0.0f;
  for (int s = 0; s < 16; ++s) err += symmetric_error(x + 16 * s, sb.d * float(sb.sc[s]));
  return err;
}

void choose_sub_scales(const float* x, const float scales[16], SymmetricSuperBlock& sb) {
  for (int s = 0; s < 16; ++s) {
    const int sc0 = sb.d != 0.0f ? std::clamp(nearest_int(scales[s] / sb.d), -128, 127) : 0;
    float best = -1.0f;
    for (int dl = -1; dl <= 1; ++dl) {
      const int sc = sc0 + dl;
      if (sc < -128 || sc > 127) continue;
      const float err = symmetric_error(x + 16 * s, sb.d * float(sc));
      if (best < 0.0f || err < best) {
        best = err;
        sb.sc[s] = sc;
      }
    }
  }
}

SymmetricSuperBlock fit_symmetric_super_block(const float* x) {
  float scales[16], extreme = 0.0f;
  for (int s = 0; s < 16; ++s) {
    scales[s] = fit_symmetric(x + 16 * s);
    if (std::fabs(scales[s]) > std::fabs(extreme)) extreme = scales[s];
  }
  SymmetricSuperBlock best;
  best.d = round_to_f16(extreme / -128.0f);  // the largest scale gets the int8 range's longer side
  choose_sub_scales(x, scales, best);
  float best_err = block_error(x, best);
  for (int iter = 0; iter < 2; ++iter) {
    // Least-squares d for the chosen integer scales and levels.
    double saa = 0, sax = 0;
    for (int s = 0; s < 16; ++s) {
      const float scale = best.d * float(best.sc[s]);
      const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
      for (int i = 0; i < 16; ++i) {
        const float v = x[16 * s + i];
        const double a = double(best.sc[s]) * std::clamp(nearest_int(v * inv), -32, 31);
        saa += a * a;
        sax += a * v;
      }
    }
    if (saa <= 0.0) break;
    SymmetricSuperBlock next;
    next.d = round_to_f16(float(sax / saa));
    choose_sub_scales(x, scales, next);
    const float err = block_error(x, next);
    if (!(err < best_err)) break;
    best = next;
    best_err = err;
  }
  return best;
}

// Q4_K and Q5_K share their header (d, dmin, 12 bytes of scales) and differ only in how q is packed.
template <typename Block>
void quantize_affine_header(const float* x, int nmax, Block& dst, uint8_t q[kQK_K]) {
  const AffineSuperBlock sb = fit_affine_super_block(x, nmax);
  dst.d = fp32_to_fp16(sb.d);
  dst.dmin = fp32_to_fp16(sb.dmin);
  pack_scale_min_k4(sb.ls, sb.lm, dst.scales);
  affine_levels(x, nmax, sb, q);
}

}  // namespace

void quantize_row_q4_k(const float* src, BlockQ4_K* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    uint8_t q[kQK_K];
    quantize_affine_header(src + b * kQK_K, 15, dst[b], q);
    // Each 32 bytes of qs hold two sub-blocks: sub-block 2p in the low nibbles, 2p+1 in the high.
    for (int p = 0; p < 4; ++p)
      for (int l = 0; l < 32; ++l) dst[b].qs[32 * p + l] = uint8_t(q[64 * p + l] | (q[64 * p + 32 + l] << 4));
  }
}

void quantize_row_q5_k(const float* src, BlockQ5_K* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    uint8_t q[kQK_K];
    quantize_affine_header(src + b * kQK_K, 31, dst[b], q);
    // As Q4_K for the low 4 bits; the fifth bit of value l of sub-block s is bit s of qh[l].
    std::memset(dst[b].qh, 0, sizeof dst[b].qh);
    for (int p = 0; p < 4; ++p)
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = q[64 * p + l], hi = q[64 * p + 32 + l];
        dst[b].qs[32 * p + l] = uint8_t((lo & 0x0F) | ((hi & 0x0F) << 4));
        dst[b].qh[l] |= uint8_t(((lo >> 4) << (2 * p)) | ((hi >> 4) << (2 * p + 1)));
      }
  }
}

void quantize_row_q6_k(const float* src, BlockQ6_K* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    const SymmetricSuperBlock sb = fit_symmetric_super_block(x);
    dst[b].d = fp32_to_fp16(sb.d);
    uint8_t L[kQK_K];
    for (int s = 0; s < 16; ++s) {
      dst[b].scales[s] = int8_t(sb.sc[s]);
      const float scale = sb.d * float(sb.sc[s]);
      const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
      for (int i = 0; i < 16; ++i) L[16 * s + i] = uint8_t(std::clamp(nearest_int(x[16 * s + i] * inv), -32, 31) + 32);
    }
    // Per half of 128 values: ql[l] holds values l (low nibble) and l+64 (high), ql[l+32] holds l+32 and
    // l+96; qh[l] holds the top 2 bits of l, l+32, l+64, l+96 at bits 0, 2, 4, 6.
    for (int h = 0; h < 2; ++h) {
      uint8_t* ql = dst[b].ql + 64 * h;
      uint8_t* qh = dst[b].qh + 32 * h;
      const uint8_t* Lh = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
        ql[l] = uint8_t((q1 & 0x0F) | ((q3 & 0x0F) << 4));
        ql[l + 32] = uint8_t((q2 & 0x0F) | ((q4 & 0x0F) << 4));
        qh[l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

}  // namespace hearth
