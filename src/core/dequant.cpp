// Scalar reference dequantizers for the GGUF block types, defined value by value as ggml defines them, so the
// output is bit-identical to llama.cpp's (and gguf-py's) reference dequantization.
//
// Bit-exactness note: every `scale * q - min` is split into two statements. A compiler allowed to contract
// floating-point expressions (clang's default -ffp-contract=on, or any FMA-capable target) would otherwise fuse
// them into one FMA with a single rounding, and the results would differ from the reference in the last bit.
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/palettize.h"

namespace hearth {
namespace {

inline float h2f(uint16_t h) { return fp16_to_fp32(h); }

// y = d * q - m, rounded twice (see the note at the top).
inline float scale_sub(float d, float q, float m) {
  const float p = d * q;
  return p - m;
}
inline float scale_add(float d, float q, float m) {
  const float p = d * q;
  return p + m;
}

void dq_q4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK4_0) {
    const float d = h2f(x[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = float((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + kQK4_0 / 2] = float((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dq_q4_1(const BlockQ4_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK4_1) {
    const float d = h2f(x[i].d), m = h2f(x[i].m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = scale_add(d, float(x[i].qs[j] & 0x0F), m);
      y[j + kQK4_1 / 2] = scale_add(d, float(x[i].qs[j] >> 4), m);
    }
  }
}

// The fifth bit of value j (0..31) is bit j of the little-endian 32-bit qh.
inline uint32_t load_qh(const uint8_t qh[4]) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}

void dq_q5_0(const BlockQ5_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK5_0) {
    const float d = h2f(x[i].d);
    const uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int lo = int((x[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
      const int hi = int((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      y[j] = float(lo) * d;
      y[j + kQK5_0 / 2] = float(hi) * d;
    }
  }
}

void dq_q5_1(const BlockQ5_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK5_1) {
    const float d = h2f(x[i].d), m = h2f(x[i].m);
    const uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int lo = int((x[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4));
      const int hi = int((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
      y[j] = scale_add(d, float(lo), m);
      y[j + kQK5_1 / 2] = scale_add(d, float(hi), m);
    }
  }
}

void dq_q8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK8_0) {
    const float d = h2f(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = float(x[i].qs[j]) * d;
  }
}

// Q2_K: 16 groups of 16 values; scales[g] holds a 4-bit scale (low nibble) and a 4-bit min (high nibble).
// Values are 2 bits, packed so that byte l of each 32-byte chunk holds 4 values 32 apart (shifts 0,2,4,6).
void dq_q2_k(const BlockQ2_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int g = 0;
    for (int half = 0; half < kQK_K; half += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++g) {
          const uint8_t sc = x[i].scales[g];
          const float dl = d * float(sc & 0x0F), ml = dmin * float(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = scale_sub(dl, float((q[l + 16 * part] >> shift) & 3), ml);
        }
      }
    }
  }
}

// Q3_K: 16 groups with 6-bit signed scales (offset 32) packed into 12 bytes: the low 4 bits of scale g are in
// byte g % 8 (low nibble for g < 8, high for g >= 8), the top 2 bits in byte 8 + g % 4 at bit 2 * (g / 4).
// Values are 2 low bits (as in Q2_K) plus a high bit in hmask; a clear high bit subtracts 4.
void dq_q3_k(const BlockQ3_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(x[i].d);
    int8_t scales[16];
    for (int g = 0; g < 16; ++g) {
      const int low = (x[i].scales[g % 8] >> (g < 8 ? 0 : 4)) & 0x0F;
      const int high = (x[i].scales[8 + g % 4] >> (2 * (g / 4))) & 0x03;
      scales[g] = int8_t((low | (high << 4)) - 32);
    }
    const uint8_t* q = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    uint8_t bit = 1;
    int g = 0;
    for (int half = 0; half < kQK_K; half += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, bit = uint8_t(bit << 1)) {
        for (int part = 0; part < 2; ++part, ++g) {
          const float dl = d * float(scales[g]);
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * part;
            const int v = int((q[k] >> shift) & 3) - ((hm[k] & bit) ? 0 : 4);
            *y++ = dl * float(v);
          }
        }
      }
    }
  }
}

// Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins packed into 12 bytes (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = uint8_t((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
    m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void dq_q4_k(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int s = 0; s < 8; s += 2, q += 32) {
      uint8_t sc, m;
      scale_min_k4(s, x[i].scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(s + 1, x[i].scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      for (int l = 0; l < 32; ++l) *y++ = scale_sub(d1, float(q[l] & 0x0F), m1);
      for (int l = 0; l < 32; ++l) *y++ = scale_sub(d2, float(q[l] >> 4), m2);
    }
  }
}

void dq_q5_k(const BlockQ5_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int s = 0; s < 8; s += 2, ql += 32, u1 = uint8_t(u1 << 2), u2 = uint8_t(u2 << 2)) {
      uint8_t sc, m;
      scale_min_k4(s, x[i].scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(s + 1, x[i].scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      for (int l = 0; l < 32; ++l) *y++ = scale_sub(d1, float((ql[l] & 0x0F) + ((qh[l] & u1) ? 16 : 0)), m1);
      for (int l = 0; l < 32; ++l) *y++ = scale_sub(d2, float((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)), m2);
    }
  }
}

// Q6_K: 4 low bits in ql, 2 high bits in qh, offset 32; 16 signed 8-bit scales, one per 16 values.
void dq_q6_k(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < kQK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = int((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[is]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
    }
  }
}

}  // namespace

bool can_dequantize(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q8_0:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  if (!can_dequantize(t)) fail(ErrorKind::kUnsupported, "cannot dequantize tensors of type {}", dtype_name(t));
  const int64_t bs = traits(t).block_size;
  if (n < 0 || n % bs != 0)
    fail(ErrorKind::kCorruptData, "cannot dequantize {} values of type {}: not a multiple of the block size {}", n,
         dtype_name(t), bs);
  const int64_t nb = n / bs;
  switch (t) {
    case DType::F32:
      if (n) std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::F16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
      return;
    }
    case DType::BF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
      return;
    }
    case DType::Q4_0: return dq_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb);
    case DType::Q4_1: return dq_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb);
    case DType::Q5_0: return dq_q5_0(static_cast<const BlockQ5_0*>(src), dst, nb);
    case DType::Q5_1: return dq_q5_1(static_cast<const BlockQ5_1*>(src), dst, nb);
    case DType::Q8_0: return dq_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb);
    case DType::Q2_K: return dq_q2_k(static_cast<const BlockQ2_K*>(src), dst, nb);
    case DType::Q3_K: return dq_q3_k(static_cast<const BlockQ3_K*>(src), dst, nb);
    case DType::Q4_K: return dq_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb);
    case DType::Q5_K: return dq_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb);
    case DType::Q6_K: return dq_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb);
    default: break;
  }
  HEARTH_ASSERT(false && "can_dequantize and dequantize_row disagree");
}

void dequantize_tensor_row(DType t, const void* tensor, int64_t n, int64_t row, float* dst) {
  if (t == DType::PAL4G16) {
    if (n % kPalBlock != 0) fail(ErrorKind::kCorruptData, "cannot dequantize pal4g16 rows of {} values", n);
    return dequantize_pal4g16_row(tensor, n, row, dst);
  }
  dequantize_row(t, static_cast<const uint8_t*>(tensor) + size_t(row) * row_bytes(t, n), dst, n);
}

}  // namespace hearth
