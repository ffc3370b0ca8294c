#include "core/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "core/palettize.h"

namespace hearth {

void quantize_row_q8_0(const float* src, BlockQ8_0* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK8_0 == 0);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* x = src + b * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    // ggml computes the scale and its inverse in float and rounds with roundf (half away from zero); the
    // F16 scale is stored, but the values are quantized with the unrounded float inverse.
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) dst[b].qs[j] = int8_t(std::roundf(x[j] * id));
  }
}

void quantize_row_q4_0(const float* src, BlockQ4_0* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK4_0 == 0);
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* x = src + b * kQK4_0;
    // The signed value of largest magnitude maps to -8, so the full range [-8, 7] is used on its side.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      // +8.5 then truncation = round half up into the unsigned range.
      const uint8_t lo = uint8_t(std::min(15, int(int8_t(x[j] * id + 8.5f))));
      const uint8_t hi = uint8_t(std::min(15, int(int8_t(x[j + kQK4_0 / 2] * id + 8.5f))));
      dst[b].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

namespace {

inline int nearest_int(float v) { return int(std::lround(v)); }

// Inverse of dequant.cpp's scale_min_k4 (ggml's get_scale_min_k4): sub-blocks 0-3 keep their 6-bit scale and
// min in the low 6 bits of bytes 0-3 and 4-7; sub-blocks 4-7 keep the low 4 bits in the nibbles of bytes 8-11
// and the high 2 bits in the top bits of bytes 0-3 (scale) and 4-7 (min).
void pack_scale_min_k4(const uint8_t sc[8], const uint8_t m[8], uint8_t out[kKScaleSize]) {
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

}  // namespace

void quantize_row_q4_k(const float* src, BlockQ4_K* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    // value = d*sc*q - dmin*m with q in [0, 15] and sc, m in [0, 63]: per sub-block, the range from
    // min(x, 0) to max(x) in 15 steps, the min stored negated (it is never positive).
    float scale[8], mins[8], max_scale = 0.0f, max_min = 0.0f;
    for (int s = 0; s < 8; ++s) {
      const float* xs = x + 32 * s;
      float lo = xs[0], hi = xs[0];
      for (int j = 1; j < 32; ++j) {
        lo = std::min(lo, xs[j]);
        hi = std::max(hi, xs[j]);
      }
      lo = std::min(lo, 0.0f);
      scale[s] = (hi - lo) / 15.0f;
      mins[s] = -lo;
      max_scale = std::max(max_scale, scale[s]);
      max_min = std::max(max_min, mins[s]);
    }
    // Super-block scales in F16; the 6-bit sub-block scales are computed against the rounded F16 values.
    dst[b].d = fp32_to_fp16(max_scale / 63.0f);
    dst[b].dmin = fp32_to_fp16(max_min / 63.0f);
    const float d = fp16_to_fp32(dst[b].d), dmin = fp16_to_fp32(dst[b].dmin);
    uint8_t ls[8], lm[8];
    for (int s = 0; s < 8; ++s) {
      ls[s] = uint8_t(d > 0.0f ? std::clamp(nearest_int(scale[s] / d), 0, 63) : 0);
      lm[s] = uint8_t(dmin > 0.0f ? std::clamp(nearest_int(mins[s] / dmin), 0, 63) : 0);
    }
    pack_scale_min_k4(ls, lm, dst[b].scales);
    // q against the quantized scales, so the rounding of d, dmin, sc and m is accounted for.
    uint8_t q[kQK_K];
    for (int s = 0; s < 8; ++s) {
      const float dd = d * float(ls[s]), dm = dmin * float(lm[s]);
      for (int j = 0; j < 32; ++j)
        q[32 * s + j] = uint8_t(dd > 0.0f ? std::clamp(nearest_int((x[32 * s + j] + dm) / dd), 0, 15) : 0);
    }
    // Each 32 bytes of qs hold two sub-blocks: sub-block 2p in the low nibbles, 2p+1 in the high.
    for (int p = 0; p < 4; ++p)
      for (int l = 0; l < 32; ++l) dst[b].qs[32 * p + l] = uint8_t(q[64 * p + l] | (q[64 * p + 32 + l] << 4));
  }
}

void quantize_row_q6_k(const float* src, BlockQ6_K* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK_K == 0);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    // Per sub-block of 16 a signed scale that maps the value of largest magnitude to -32 (as Q4_0 does with
    // -8), so that side gets the full range; the 16 scales go to int8 against d the same way (-128).
    float scale[16], max_scale = 0.0f, amax_scale = 0.0f;
    for (int s = 0; s < 16; ++s) {
      float amax = 0.0f, max = 0.0f;
      for (int j = 0; j < 16; ++j) {
        const float v = x[16 * s + j];
        if (std::fabs(v) > amax) {
          amax = std::fabs(v);
          max = v;
        }
      }
      scale[s] = max / -32.0f;
      if (std::fabs(scale[s]) > amax_scale) {
        amax_scale = std::fabs(scale[s]);
        max_scale = scale[s];
      }
    }
    dst[b].d = fp32_to_fp16(max_scale / -128.0f);
    const float d = fp16_to_fp32(dst[b].d);
    uint8_t L[kQK_K];
    for (int s = 0; s < 16; ++s) {
      const int ls = d != 0.0f ? std::clamp(nearest_int(scale[s] / d), -128, 127) : 0;
      dst[b].scales[s] = int8_t(ls);
      const float dd = d * float(ls);
      for (int j = 0; j < 16; ++j) {
        const int q = dd != 0.0f ? std::clamp(nearest_int(x[16 * s + j] / dd), -32, 31) : 0;
        L[16 * s + j] = uint8_t(q + 32);
      }
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

bool can_quantize(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
    case DType::PAL4G16:
      return true;
    default:
      return false;
  }
}

std::vector<uint8_t> quantize(DType t, const float* src, int64_t n_rows, int64_t row_length) {
  if (!can_quantize(t)) fail(ErrorKind::kUnsupported, "quantization to {} is not supported", dtype_name(t));
  if (t == DType::PAL4G16) return palettize(src, n_rows, row_length);  // tables span rows: not row by row
  if (n_rows < 0 || row_length <= 0 || row_length % traits(t).block_size != 0)
    fail("cannot quantize rows of {} values to {} (block size {})", row_length, dtype_name(t),
         traits(t).block_size);
  const size_t rb = row_bytes(t, row_length);
  std::vector<uint8_t> out(rb * size_t(n_rows));
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* x = src + r * row_length;
    uint8_t* y = out.data() + size_t(r) * rb;
    switch (t) {
      case DType::F32:
        std::memcpy(y, x, rb);
        break;
      case DType::F16:
      case DType::BF16:
        for (int64_t j = 0; j < row_length; ++j) {
          const uint16_t h = t == DType::F16 ? fp32_to_fp16(x[j]) : fp32_to_bf16(x[j]);
          std::memcpy(y + 2 * j, &h, 2);
        }
        break;
      case DType::Q8_0:
        quantize_row_q8_0(x, reinterpret_cast<BlockQ8_0*>(y), row_length);
        break;
      case DType::Q4_0:
        quantize_row_q4_0(x, reinterpret_cast<BlockQ4_0*>(y), row_length);
        break;
      case DType::Q4_K:
        quantize_row_q4_k(x, reinterpret_cast<BlockQ4_K*>(y), row_length);
        break;
      case DType::Q6_K:
        quantize_row_q6_k(x, reinterpret_cast<BlockQ6_K*>(y), row_length);
        break;
      default:
        HEARTH_ASSERT(false);
    }
  }
  return out;
}

}  // namespace hearth
