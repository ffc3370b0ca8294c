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

namespace {

// The value of largest magnitude, sign kept (the first of equals, as ggml's reference quantizers pick it).
float signed_extreme(const float* x, int n) {
  float amax = 0.0f, extreme = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      extreme = x[j];
    }
  }
  return extreme;
}

}  // namespace

void quantize_row_q4_0(const float* src, BlockQ4_0* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK4_0 == 0);
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* x = src + b * kQK4_0;
    // The signed value of largest magnitude maps to -8, so the full range [-8, 7] is used on its side.
    const float d = signed_extreme(x, kQK4_0) / -8.0f;
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

void quantize_row_q5_0(const float* src, BlockQ5_0* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK5_0 == 0);
  for (int64_t b = 0; b < n / kQK5_0; ++b) {
    const float* x = src + b * kQK5_0;
    // As Q4_0 with 32 levels: the value of largest magnitude maps to -16.
    const float d = signed_extreme(x, kQK5_0) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const uint32_t lo = uint32_t(std::min(31, int(int8_t(x[j] * id + 16.5f))));
      const uint32_t hi = uint32_t(std::min(31, int(int8_t(x[j + kQK5_0 / 2] * id + 16.5f))));
      dst[b].qs[j] = uint8_t((lo & 0x0F) | ((hi & 0x0F) << 4));
      qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + kQK5_0 / 2));
    }
    for (int k = 0; k < 4; ++k) dst[b].qh[k] = uint8_t(qh >> (8 * k));
  }
}

void quantize_row_q5_1(const float* src, BlockQ5_1* dst, int64_t n) {
  HEARTH_ASSERT(n % kQK5_1 == 0);
  for (int64_t b = 0; b < n / kQK5_1; ++b) {
    const float* x = src + b * kQK5_1;
    float lo = x[0], hi = x[0];
    for (int j = 1; j < kQK5_1; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
    }
    const float d = (hi - lo) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = fp32_to_fp16(d);
    dst[b].m = fp32_to_fp16(lo);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      // +0.5 then truncation: round half up (the values are never below the min).
      const uint32_t q0 = uint8_t((x[j] - lo) * id + 0.5f);
      const uint32_t q1 = uint8_t((x[j + kQK5_1 / 2] - lo) * id + 0.5f);
      dst[b].qs[j] = uint8_t((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + kQK5_1 / 2));
    }
    for (int k = 0; k < 4; ++k) dst[b].qh[k] = uint8_t(qh >> (8 * k));
  }
}

bool can_quantize(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K:
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
      case DType::Q5_0:
        quantize_row_q5_0(x, reinterpret_cast<BlockQ5_0*>(y), row_length);
        break;
      case DType::Q5_1:
        quantize_row_q5_1(x, reinterpret_cast<BlockQ5_1*>(y), row_length);
        break;
      case DType::Q5_K:
        quantize_row_q5_k(x, reinterpret_cast<BlockQ5_K*>(y), row_length);
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
