// arm64 NEON kernels (compiled only for arm64): F32/F16/BF16 weights with float FMAs (F16 / BF16 weights times
// activations rounded to F16 / BF16, kept as F32), Q8_0 with widening 8-bit multiplies (no dot-product extension
// needed). Other types use the portable kernels.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstring>

#include "backends/cpu/kernels.h"
#include "core/fp16.h"

namespace hearth::cpu {
namespace {

struct LoadF32 {
  using T = float;
  static float32x4_t load(const T* p) { return vld1q_f32(p); }
  static float one(T v) { return v; }
};
struct LoadF16 {
  using T = uint16_t;
  static float32x4_t load(const T* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  static float one(T v) { return fp16_to_fp32(v); }
};
struct LoadBF16 {
  using T = uint16_t;
  static float32x4_t load(const T* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
  static float one(T v) { return bf16_to_fp32(v); }
};

template <typename L>
void tile_float(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
                float* out, int64_t ldo) {
  for (int64_t j = 0; j < nw; ++j) {
    const auto* wr = reinterpret_cast<const typename L::T*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
    for (int64_t i = 0; i < na; ++i) {
      const auto* ar = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
      float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
      int64_t c = 0;
      for (; c + 8 <= k; c += 8) {
        acc0 = vfmaq_f32(acc0, L::load(wr + c), vld1q_f32(ar + c));
        acc1 = vfmaq_f32(acc1, L::load(wr + c + 4), vld1q_f32(ar + c + 4));
      }
      float s = vaddvq_f32(vaddq_f32(acc0, acc1));
      for (; c < k; ++c) s += L::one(wr[c]) * ar[c];
      out[i * ldo + j] = s;
    }
  }
}

void round_row_f16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<float*>(y);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  if (i < n) round_row_f16_f32(x + i, out + i, n - i);
}

inline int32_t dot32_i8(const int8_t* a, const int8_t* b) {
  int32x4_t acc = vdupq_n_s32(0);
  for (int h = 0; h < 32; h += 16) {
    const int8x16_t x = vld1q_s8(a + h), y = vld1q_s8(b + h);
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    acc = vpadalq_s16(acc, vmull_s8(vget_high_s8(x), vget_high_s8(y)));
  }
  return vaddvq_s32(acc);
}

void tile_q8_0(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
               float* out, int64_t ldo) {
  const int64_t nb = k / 32;
  for (int64_t j = 0; j < nw; ++j) {
    const auto* wr = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
    for (int64_t i = 0; i < na; ++i) {
      const auto* ar = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
      float s = 0.0f;
      for (int64_t b = 0; b < nb; ++b)
        s += float(dot32_i8(wr[b].qs, ar[b].qs)) * fp16_to_fp32(wr[b].d) * fp16_to_fp32(ar[b].d);
      out[i * ldo + j] = s;
    }
  }
}

}  // namespace

void init_neon_kernels(KernelSet& ks) {
  ks.name = "neon";
  ks.for_type(DType::F32) = {DType::F32, copy_row_f32, tile_float<LoadF32>, 1};
  ks.for_type(DType::F16) = {DType::F32, round_row_f16, tile_float<LoadF16>, 1};
  ks.for_type(DType::BF16) = {DType::F32, round_row_bf16_f32, tile_float<LoadBF16>, 1};
  ks.for_type(DType::Q8_0) = {DType::Q8_0, quantize_row_q8_0, tile_q8_0, 1};
}

}  // namespace hearth::cpu
#endif  // __aarch64__
