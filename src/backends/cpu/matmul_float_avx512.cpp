// AVX-512 matmul kernels for float weights (F32, F16, BF16) with F32 accumulation. F16 weights multiply
// activations rounded to F16 (kept as F32 so the micro-kernel can broadcast them), as llama.cpp does.
//  - GEMV (few activation rows): weights streamed in place, converted 16 at a time.
//  - GEMM: panels of 16 weight rows, transposed so that one FMA with a broadcast activation value updates 16
//    outputs; kChunk activation rows stay in accumulators. Prepared weights are packed into panels once
//    (pack / tile_packed, source width kept: F16 lanes are converted in the k loop); unpacked weights (the K
//    cache) are converted and transposed into a scratch panel per call (tile).
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx512.h"

namespace hearth::cpu {
namespace {

using namespace avx512;

constexpr int64_t kGemmRows = 4;
constexpr int kChunk = 12;
constexpr int kLanes = 16;

struct LoadF32 {
  using T = float;
  static __m512 load(const T* p) { return _mm512_loadu_ps(p); }
  static __m512 load(const T* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static __m512 lanes(const T* p) { return _mm512_load_ps(p); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m512 load(const T* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load(const T* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
  static __m512 lanes(const T* p) { return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p))); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const T* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load(const T* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
  static __m512 lanes(const T* p) { return widen(_mm256_load_si256(reinterpret_cast<const __m256i*>(p))); }
};

template <typename L, int NA>
void gemv_row(int64_t k, const typename L::T* w, const float* const* a, float* out, int64_t ldo) {
  __m512 acc0[NA], acc1[NA];
  for (int i = 0; i < NA; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 32 <= k; c += 32) {
    const __m512 w0 = L::load(w + c), w1 = L::load(w + c + 16);
    for (int i = 0; i < NA; ++i) {
      acc0[i] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(a[i] + c), acc0[i]);
      acc1[i] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(a[i] + c + 16), acc1[i]);
    }
  }
  for (; c < k; c += 16) {
    const __mmask16 m = head_mask(k - c);
    const __m512 w0 = L::load(w + c, m);
    for (int i = 0; i < NA; ++i) acc0[i] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, a[i] + c), acc0[i]);
  }
  for (int i = 0; i < NA; ++i) out[i * ldo] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[i], acc1[i]));
}

// One 16-row panel (k x 16 lanes of L::T, 64-byte aligned rows of lanes) times C activation rows.
template <typename L, int C>
void kernel(int64_t k, const typename L::T* panel, const float* act, float* out, int64_t ldo, __mmask16 mask) {
  __m512 acc[C];
#pragma GCC unroll 12
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m512 wv = L::lanes(panel + kk * kLanes);
    const float* av = act + kk * C;
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c) acc[c] = _mm512_fmadd_ps(wv, _mm512_set1_ps(av[c]), acc[c]);
  }
#pragma GCC unroll 12
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(out + c * ldo, mask, acc[c]);
}

template <typename L, int C = kChunk>
void dispatch_kernel(int rows, int64_t k, const typename L::T* panel, const float* act, float* out, int64_t ldo,
                     __mmask16 mask) {
  if constexpr (C > 0) {
    if (rows == C) return kernel<L, C>(k, panel, act, out, ldo, mask);
    return dispatch_kernel<L, C - 1>(rows, k, panel, act, out, ldo, mask);
  }
}

// Few activation rows: weight rows read in place.
template <typename L>
void gemv(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
          float* out, int64_t ldo) {
  using T = typename L::T;
  const float* ar[kGemmRows];
  for (int64_t i = 0; i < na; ++i)
    ar[i] = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
  for (int64_t j = 0; j < nw; ++j) {
    const T* wr = reinterpret_cast<const T*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
    if (na == 1) gemv_row<L, 1>(k, wr, ar, out + j, ldo);
    else if (na == 2) gemv_row<L, 2>(k, wr, ar, out + j, ldo);
    else gemv_row<L, 3>(k, wr, ar, out + j, ldo);
  }
}

// Activations by chunk, value-major: act[kk * C + c] (thread-local scratch); returns the number of chunks.
inline const float* pack_activations(int64_t k, const void* a, size_t a_stride, int64_t na, int64_t& n_chunks) {
  n_chunks = (na + kChunk - 1) / kChunk;
  thread_local Scratch act_buf;
  float* act = act_buf.get<float>(size_t(n_chunks * kChunk * k));
  for (int64_t ch = 0; ch < n_chunks; ++ch) {
    const int64_t i0 = ch * kChunk;
    const int C = int(std::min<int64_t>(kChunk, na - i0));
    float* dst = act + ch * kChunk * k;
    for (int c = 0; c < C; ++c) {
      const float* src = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + size_t(i0 + c) * a_stride);
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * C + c] = src[kk];
    }
  }
  return act;
}

template <typename L>
void panel_times_chunks(int64_t k, const typename L::T* panel, int rows, const float* act, int64_t n_chunks,
                        int64_t na, float* out, int64_t ldo) {
  const __mmask16 mask = __mmask16((1u << rows) - 1);
  for (int64_t ch = 0; ch < n_chunks; ++ch) {
    const int64_t i0 = ch * kChunk;
    dispatch_kernel<L>(int(std::min<int64_t>(kChunk, na - i0)), k, panel, act + ch * kChunk * k, out + i0 * ldo,
                       ldo, mask);
  }
}

// Packed layout: panels of 16 weight rows, each k x 16 lanes of the source type (lane r = row r of the panel;
// rows past nw are zero). Panel bytes are a multiple of 32, so every 16-lane group of a 64-byte aligned buffer
// is 32-byte aligned (F16/BF16) or 64-byte aligned (F32).
template <typename L>
size_t packed_bytes(int64_t k, int64_t nw) {
  return size_t((nw + kLanes - 1) / kLanes) * size_t(k) * kLanes * sizeof(typename L::T);
}

// One-time packing: a plain copy-transpose of the raw values (no conversion, no scatter).
template <typename L>
void pack(int64_t k, const void* w, size_t w_stride, int64_t nw, void* dst) {
  using T = typename L::T;
  T* out = static_cast<T*>(dst);
  for (int64_t p0 = 0; p0 < nw; p0 += kLanes) {
    const int rows = int(std::min<int64_t>(kLanes, nw - p0));
    T* panel = out + (p0 / kLanes) * k * kLanes;
    const T* src[kLanes];
    for (int r = 0; r < rows; ++r)
      src[r] = reinterpret_cast<const T*>(static_cast<const uint8_t*>(w) + size_t(p0 + r) * w_stride);
    constexpr int64_t kB = 64;  // k in blocks so the 16 source rows stay in cache
    for (int64_t k0 = 0; k0 < k; k0 += kB) {
      const int64_t k1 = std::min(k, k0 + kB);
      for (int64_t kk = k0; kk < k1; ++kk) {
        T* d = panel + kk * kLanes;
        for (int r = 0; r < rows; ++r) d[r] = src[r][kk];
        for (int r = rows; r < kLanes; ++r) d[r] = T(0);
      }
    }
  }
}

template <typename L>
void tile_packed(int64_t k, const void* packed, const void* w, size_t w_stride, int64_t nw, const void* a,
                 size_t a_stride, int64_t na, float* out, int64_t ldo) {
  using T = typename L::T;
  if (na < kGemmRows) return gemv<L>(k, w, w_stride, nw, a, a_stride, na, out, ldo);
  int64_t n_chunks = 0;
  const float* act = pack_activations(k, a, a_stride, na, n_chunks);
  const T* panels = static_cast<const T*>(packed);
  for (int64_t p0 = 0; p0 < nw; p0 += kLanes) {
    const int rows = int(std::min<int64_t>(kLanes, nw - p0));
    panel_times_chunks<L>(k, panels + (p0 / kLanes) * k * kLanes, rows, act, n_chunks, na, out + p0, ldo);
  }
}

// Unpacked weights (e.g. the K cache in attention): each panel is converted and transposed per call.
template <typename L>
void tile(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
          float* out, int64_t ldo) {
  using T = typename L::T;
  if (na < kGemmRows) return gemv<L>(k, w, w_stride, nw, a, a_stride, na, out, ldo);
  int64_t n_chunks = 0;
  const float* act = pack_activations(k, a, a_stride, na, n_chunks);
  thread_local Scratch panel_buf;
  float* panel = panel_buf.get<float>(size_t(k * kLanes));
  const __m512i scatter_idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                 _mm512_set1_epi32(kLanes));
  for (int64_t p0 = 0; p0 < nw; p0 += kLanes) {
    const int rows = int(std::min<int64_t>(kLanes, nw - p0));
    if (rows < kLanes) std::memset(panel, 0, size_t(k * kLanes) * sizeof(float));
    for (int r = 0; r < rows; ++r) {
      const T* wr = reinterpret_cast<const T*>(static_cast<const uint8_t*>(w) + size_t(p0 + r) * w_stride);
      for (int64_t kk = 0; kk < k; kk += 16) {
        const __mmask16 m = head_mask(k - kk);
        _mm512_mask_i32scatter_ps(panel + kk * kLanes + r, m, scatter_idx, L::load(wr + kk, m), 4);
      }
    }
    panel_times_chunks<LoadF32>(k, panel, rows, act, n_chunks, na, out + p0, ldo);
  }
}

void round_row_f16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<float*>(y);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
  if (i < n) round_row_f16_f32(x + i, out + i, n - i);
}

template <typename L, int NV>
void weighted_sum_block(int64_t rows, const float* p, const uint8_t* x, size_t x_stride, int64_t n, float* out) {
  __m512 acc[NV];
  __mmask16 mask[NV];
  for (int t = 0; t < NV; ++t) acc[t] = _mm512_setzero_ps(), mask[t] = head_mask(n - 16 * t);
  for (int64_t j = 0; j < rows; ++j) {
    const auto* xr = reinterpret_cast<const typename L::T*>(x + size_t(j) * x_stride);
    const __m512 pj = _mm512_set1_ps(p[j]);
    for (int t = 0; t < NV; ++t) acc[t] = _mm512_fmadd_ps(pj, L::load(xr + 16 * t, mask[t]), acc[t]);
  }
  for (int t = 0; t < NV; ++t) _mm512_mask_storeu_ps(out + 16 * t, mask[t], acc[t]);
}

// Columns in slices of up to 128 (8 accumulators), so any head size works.
template <typename L>
void weighted_sum(int64_t rows, const float* p, const void* x, size_t x_stride, int64_t n, float* out) {
  using T = typename L::T;
  for (int64_t c0 = 0; c0 < n; c0 += 128) {
    const uint8_t* xs = static_cast<const uint8_t*>(x) + size_t(c0) * sizeof(T);
    const int64_t w = std::min<int64_t>(128, n - c0);
    switch ((w + 15) / 16) {
      case 1: weighted_sum_block<L, 1>(rows, p, xs, x_stride, w, out + c0); break;
      case 2: weighted_sum_block<L, 2>(rows, p, xs, x_stride, w, out + c0); break;
      case 3: weighted_sum_block<L, 3>(rows, p, xs, x_stride, w, out + c0); break;
      case 4: weighted_sum_block<L, 4>(rows, p, xs, x_stride, w, out + c0); break;
      case 5: weighted_sum_block<L, 5>(rows, p, xs, x_stride, w, out + c0); break;
      case 6: weighted_sum_block<L, 6>(rows, p, xs, x_stride, w, out + c0); break;
      case 7: weighted_sum_block<L, 7>(rows, p, xs, x_stride, w, out + c0); break;
      default: weighted_sum_block<L, 8>(rows, p, xs, x_stride, w, out + c0); break;
    }
  }
}

}  // namespace

void init_avx512_float(KernelSet& ks) {
  ks.for_type(DType::F32) = {DType::F32,          copy_row_f32,  tile<LoadF32>,       kLanes, 0,
                             packed_bytes<LoadF32>, pack<LoadF32>, tile_packed<LoadF32>};
  ks.for_type(DType::F16) = {DType::F32,          round_row_f16, tile<LoadF16>,       kLanes, 0,
                             packed_bytes<LoadF16>, pack<LoadF16>, tile_packed<LoadF16>};
  ks.for_type(DType::BF16) = {DType::F32,           copy_row_f32,   tile<LoadBF16>,       kLanes, 0,
                              packed_bytes<LoadBF16>, pack<LoadBF16>, tile_packed<LoadBF16>};
  ks.weighted_sum_f32 = weighted_sum<LoadF32>;
  ks.weighted_sum_f16 = weighted_sum<LoadF16>;
}

}  // namespace hearth::cpu
#endif
