// Portable matmul kernels: every weight type, written for clarity. They define the integer sums the SIMD
// kernels must reproduce: a block's integer dot product is exact, then scaled in float as ggml does.
#include <cstring>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/fp16.h"

namespace hearth::cpu {
namespace {

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Q4_K / Q5_K pack eight 6-bit (scale, min) pairs into 12 bytes.
inline void scale_min_k4(int j, const uint8_t* q, int32_t& d, int32_t& m) {
  if (j < 4) {
    d = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// ---- F32 / F16 / BF16: plain float dot products. ----
template <typename W, typename A, float (*ToW)(W), float (*ToA)(A)>
void tile_float(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
                float* out, int64_t ldo) {
  for (int64_t j = 0; j < nw; ++j) {
    const W* wr = reinterpret_cast<const W*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
    for (int64_t i = 0; i < na; ++i) {
      const A* ar = reinterpret_cast<const A*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
      float sum = 0.0f;
      for (int64_t c = 0; c < k; ++c) sum += ToW(wr[c]) * ToA(ar[c]);
      out[i * ldo + j] = sum;
    }
  }
}
inline float id_f32(float x) { return x; }

// ---- 32-value blocks against Q8_0 (or Q8_1 for the types with an offset). ----
template <typename ActBlock, bool kHasOffset>
void tile_block32(DType wt, size_t w_block_bytes, int64_t k, const void* w, size_t w_stride, int64_t nw,
                  const void* a, size_t a_stride, int64_t na, float* out, int64_t ldo) {
  const int64_t nb = k / 32;
  thread_local std::vector<Unpacked32> row;
  row.resize(size_t(nb));
  for (int64_t j = 0; j < nw; ++j) {
    const uint8_t* wr = static_cast<const uint8_t*>(w) + size_t(j) * w_stride;
    for (int64_t b = 0; b < nb; ++b) unpack_block32(wt, wr + size_t(b) * w_block_bytes, row[size_t(b)]);
    for (int64_t i = 0; i < na; ++i) {
      const auto* ab = reinterpret_cast<const ActBlock*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const Unpacked32& u = row[size_t(b)];
        int32_t sumi = 0;
        for (int c = 0; c < 32; ++c) sumi += int32_t(u.q[c]) * ab[b].qs[c];
        const float da = fp16_to_fp32(ab[b].d);
        if constexpr (kHasOffset) {
          sum += (u.d * da) * float(sumi) + u.m * fp16_to_fp32(ab[b].s);
        } else {
          sum += float(sumi) * u.d * da;
        }
      }
      out[i * ldo + j] = sum;
    }
  }
}

template <DType T>
void tile_q_32(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
               float* out, int64_t ldo) {
  constexpr bool kOffset = T == DType::Q4_1 || T == DType::Q5_1;
  using Act = std::conditional_t<kOffset, BlockQ8_1, BlockQ8_0>;
  tile_block32<Act, kOffset>(T, traits(T).type_size, k, w, w_stride, nw, a, a_stride, na, out, ldo);
}

// ---- 256-value K-quant blocks against Q8_K. ----
template <DType T>
void tile_k(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  const int64_t nb = k / kQK_K;
  const size_t block_bytes = traits(T).type_size;
  thread_local std::vector<UnpackedK> row;
  row.resize(size_t(nb));
  for (int64_t j = 0; j < nw; ++j) {
    const uint8_t* wr = static_cast<const uint8_t*>(w) + size_t(j) * w_stride;
    for (int64_t b = 0; b < nb; ++b) unpack_block_k(T, wr + size_t(b) * block_bytes, row[size_t(b)]);
    for (int64_t i = 0; i < na; ++i) {
      const auto* ab = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const UnpackedK& u = row[size_t(b)];
        int32_t sumi = 0, summ = 0;
        for (int s = 0; s < 16; ++s) {
          int32_t part = 0;
          for (int c = 0; c < 16; ++c) part += int32_t(u.q[s * 16 + c]) * ab[b].qs[s * 16 + c];
          sumi += u.scale[s] * part;
          summ += u.min[s] * ab[b].bsums[s];
        }
        sum += u.d * ab[b].d * float(sumi) - u.dmin * ab[b].d * float(summ);
      }
      out[i * ldo + j] = sum;
    }
  }
}

template <typename T, float (*ToF)(T)>
void weighted_sum(int64_t n_q, const int64_t* visible, const float* p, int64_t p_stride, const void* x,
                  size_t x_stride, int64_t n, float* out, int64_t out_stride, bool accumulate) {
  for (int64_t i = 0; i < n_q; ++i) {
    const float* pi = p + i * p_stride;
    float* oi = out + i * out_stride;
    if (!accumulate)
      for (int64_t c = 0; c < n; ++c) oi[c] = 0.0f;
    for (int64_t j = 0; j < visible[i]; ++j) {
      const T* xr = reinterpret_cast<const T*>(static_cast<const uint8_t*>(x) + size_t(j) * x_stride);
      for (int64_t c = 0; c < n; ++c) oi[c] += pi[j] * ToF(xr[c]);
    }
  }
}

}  // namespace

void unpack_block32(DType t, const void* block, Unpacked32& out) {
  out.m = 0.0f;
  switch (t) {
    case DType::Q4_0: {
      const auto* b = static_cast<const BlockQ4_0*>(block);
      out.d = fp16_to_fp32(b->d);
      for (int j = 0; j < 16; ++j) {
        out.q[j] = int8_t((b->qs[j] & 0xF) - 8);
        out.q[j + 16] = int8_t((b->qs[j] >> 4) - 8);
      }
      return;
    }
    case DType::Q4_1: {
      const auto* b = static_cast<const BlockQ4_1*>(block);
      out.d = fp16_to_fp32(b->d);
      out.m = fp16_to_fp32(b->m);
      for (int j = 0; j < 16; ++j) {
        out.q[j] = int8_t(b->qs[j] & 0xF);
        out.q[j + 16] = int8_t(b->qs[j] >> 4);
      }
      return;
    }
    case DType::Q5_0:
    case DType::Q5_1: {
      // The fifth bit of value j is bit j of qh; Q5_0 centres the 5-bit range on zero, Q5_1 adds an offset m.
      const uint8_t *qh_bytes, *qs;
      int bias;
      if (t == DType::Q5_0) {
        const auto* b = static_cast<const BlockQ5_0*>(block);
        out.d = fp16_to_fp32(b->d);
        qh_bytes = b->qh, qs = b->qs, bias = 16;
      } else {
        const auto* b = static_cast<const BlockQ5_1*>(block);
        out.d = fp16_to_fp32(b->d);
        out.m = fp16_to_fp32(b->m);
        qh_bytes = b->qh, qs = b->qs, bias = 0;
      }
      const uint32_t qh = load_u32(qh_bytes);
      for (int j = 0; j < 16; ++j) {
        const int h0 = int((qh >> j) & 1) << 4, h1 = int((qh >> (j + 16)) & 1) << 4;
        out.q[j] = int8_t(((qs[j] & 0xF) | h0) - bias);
        out.q[j + 16] = int8_t(((qs[j] >> 4) | h1) - bias);
      }
      return;
    }
    case DType::Q8_0: {
      const auto* b = static_cast<const BlockQ8_0*>(block);
      out.d = fp16_to_fp32(b->d);
      std::memcpy(out.q, b->qs, 32);
      return;
    }
    default:
      break;
  }
  __builtin_trap();  // callers only pass 32-blocks types (programmer error)
}

void unpack_block_k(DType t, const void* block, UnpackedK& out) {
  if (t == DType::Q4_K || t == DType::Q5_K) {
    const uint8_t *scales, *qs, *qh = nullptr;
    uint16_t d, dmin;
    if (t == DType::Q4_K) {
      const auto* b = static_cast<const BlockQ4_K*>(block);
      scales = b->scales, qs = b->qs, d = b->d, dmin = b->dmin;
    } else {
      const auto* b = static_cast<const BlockQ5_K*>(block);
      scales = b->scales, qs = b->qs, qh = b->qh, d = b->d, dmin = b->dmin;
    }
    out.d = fp16_to_fp32(d);
    out.dmin = fp16_to_fp32(dmin);
    for (int s = 0; s < 8; ++s) {
      int32_t sc, m;
      scale_min_k4(s, scales, sc, m);
      out.scale[2 * s] = out.scale[2 * s + 1] = sc;
      out.min[2 * s] = out.min[2 * s + 1] = m;
    }
    // Each 64-value chunk: low nibbles of 32 bytes, then their high nibbles; Q5_K's fifth bits are bits
    // 2c and 2c+1 of qh[l].
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t byte = qs[32 * c + l];
        int lo = byte & 0xF, hi = byte >> 4;
        if (qh) {
          lo += ((qh[l] >> (2 * c)) & 1) << 4;
          hi += ((qh[l] >> (2 * c + 1)) & 1) << 4;
        }
        out.q[64 * c + l] = int8_t(lo);
        out.q[64 * c + 32 + l] = int8_t(hi);
      }
    }
    return;
  }
  if (t == DType::Q6_K) {
    const auto* b = static_cast<const BlockQ6_K*>(block);
    out.d = fp16_to_fp32(b->d);
    out.dmin = 0.0f;
    for (int s = 0; s < 16; ++s) {
      out.scale[s] = b->scales[s];
      out.min[s] = 0;
    }
    // Two halves of 128 values: 64 bytes of low nibbles and 32 bytes holding four 2-bit high parts each.
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b->ql + 64 * h;
      const uint8_t* qh = b->qh + 32 * h;
      int8_t* q = out.q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        q[l] = int8_t(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        q[l + 32] = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        q[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        q[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    return;
  }
  __builtin_trap();  // callers only pass K-quant types (programmer error)
}

void init_scalar_kernels(KernelSet& ks) {
  ks.name = "scalar";
  ks.for_type(DType::F32) = {DType::F32, copy_row_f32, tile_float<float, float, id_f32, id_f32>, 1};
  ks.for_type(DType::F16) = {DType::F16, quantize_row_f16, tile_float<uint16_t, uint16_t, fp16_to_fp32, fp16_to_fp32>, 1};
  ks.for_type(DType::BF16) = {DType::BF16, quantize_row_bf16, tile_float<uint16_t, uint16_t, bf16_to_fp32, bf16_to_fp32>, 1};
  ks.for_type(DType::Q4_0) = {DType::Q8_0, quantize_row_q8_0, tile_q_32<DType::Q4_0>, 1};
  ks.for_type(DType::Q4_1) = {DType::Q8_1, quantize_row_q8_1, tile_q_32<DType::Q4_1>, 1};
  ks.for_type(DType::Q5_0) = {DType::Q8_0, quantize_row_q8_0, tile_q_32<DType::Q5_0>, 1};
  ks.for_type(DType::Q5_1) = {DType::Q8_1, quantize_row_q8_1, tile_q_32<DType::Q5_1>, 1};
  ks.for_type(DType::Q8_0) = {DType::Q8_0, quantize_row_q8_0, tile_q_32<DType::Q8_0>, 1};
  ks.for_type(DType::Q4_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<DType::Q4_K>, 1};
  ks.for_type(DType::Q5_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<DType::Q5_K>, 1};
  ks.for_type(DType::Q6_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<DType::Q6_K>, 1};
  init_scalar_pal(ks);
  ks.weighted_sum_f32 = weighted_sum<float, id_f32>;
  ks.weighted_sum_f16 = weighted_sum<uint16_t, fp16_to_fp32>;
  ks.gelu_erf = gelu_erf_scalar;
  ks.softmax = softmax_scalar;
}

}  // namespace hearth::cpu
