// Activation quantizers. These fix the numerics of every quantized matmul, so they reproduce what llama.cpp
// b4747's CPU backend runs on x86-64 (ggml-cpu-quants.c), not merely its portable reference:
//  - Q8_0 / Q8_1 follow the AVX path (the one an x86 build takes): d = amax / 127, id = 127 / amax, and
//    q = x * id rounded half-to-even. The portable reference (id = 1/d, roundf) differs on rare ties.
//  - Q8_1 adds s = d * sum(q), stored as F16 (used by the Q4_1/Q5_1 dot products for the offset term).
//  - Q8_K has no SIMD path on x86 in b4747: quantize_row_q8_K_ref (signed max, iscale = -127/max).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "core/fp16.h"

namespace hearth::cpu {
namespace {

// ggml's nearest_int: round half to even through the float mantissa (valid for |v| < 2^22).
inline int nearest_int(float v) {
  float val = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &val, 4);
  return (i & 0x007fffff) - 0x00400000;
}

template <typename Block>
inline float quantize_block32(const float* x, Block& b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = amax != 0.0f ? 127.f / amax : 0.0f;
  b.d = fp32_to_fp16(d);
  for (int j = 0; j < 32; ++j) b.qs[j] = int8_t(nearest_int(x[j] * id));
  return d;
}

}  // namespace

void copy_row_f32(const float* x, void* y, int64_t n) { std::memcpy(y, x, size_t(n) * sizeof(float)); }

void quantize_row_f16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

void round_row_f16_f32(const float* x, void* y, int64_t n) {
  auto* out = static_cast<float*>(y);
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
}

// BF16 weights multiply activations rounded to BF16, as llama.cpp does (its vec_dot_type for BF16 is BF16).
void quantize_row_bf16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < n; ++i) out[i] = fp32_to_bf16(x[i]);
}

void round_row_bf16_f32(const float* x, void* y, int64_t n) {
  auto* out = static_cast<float*>(y);
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_fp32(fp32_to_bf16(x[i]));
}

void quantize_row_q8_0(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) quantize_block32(x + b * kQK8_0, blocks[b]);
}

void quantize_row_q8_1(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(y);
  for (int64_t b = 0; b < n / kQK8_1; ++b) {
    const float d = quantize_block32(x + b * kQK8_1, blocks[b]);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += blocks[b].qs[j];
    blocks[b].s = fp32_to_fp16(d * float(sum));
  }
}

void quantize_row_q8_K(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(y);
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    BlockQ8_K& out = blocks[b];
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&out, 0, sizeof(out));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j) out.qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += out.qs[j * 16 + i];
      out.bsums[j] = int16_t(sum);
    }
    out.d = 1 / iscale;
  }
}

}  // namespace hearth::cpu
