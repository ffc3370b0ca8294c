// AVX-512 matmul kernels for float weights (F32, F16, BF16) with F32 accumulation. F16 weights multiply
// activations rounded to F16 (kept as F32 so the micro-kernel can broadcast them), as llama.cpp does.
//  - Prepared weights are packed once into panels of 16 weight rows, k x 16 lanes of the source type (F16 lanes
//    are widened in the k loop). Both paths read only the panels, so the driver may drop the source pages.
//  - GEMM: one FMA with a broadcast activation value updates 16 outputs; 2 panels x kChunk activation rows stay
//    in 24 accumulators (2 weight loads and 12 broadcasts per 24 FMAs).
//  - GEMV (few activation rows): panels streamed once, 16 partial sums per panel (see reduce_lanes).
//  - Unpacked weights (the K cache) are converted and transposed into F32 scratch panels per call (tile); the
//    results are bit-identical to the packed path.
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

// Dot products of a few activation rows sum each output in one fixed order, whichever layout the weights are
// in: lane l of a 16-lane partial sum takes the terms kk = l (mod 16) in order, and the 16 partials are then
// added pairwise (l + l^8, then + l^4, + l^2, + l^1). Source rows (tile) and packed panels (tile_packed, where
// each partial is a vector over the 16 rows of a panel) give bit-identical outputs.
inline float reduce_lanes(__m512 v) {
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

// NW source weight rows at once (independent chains) times one activation row.
// r[i] lane j -> r[j] lane i, for 16 vectors of 32-bit lanes.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // r[4g + e], 128-bit lane j: rows 4g..4g+3 of column 4j + e.
  for (int g = 0; g < 16; g += 4) {
    const __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
    const __m512d c = _mm512_castps_pd(t[g + 2]), d = _mm512_castps_pd(t[g + 3]);
    r[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int e = 0; e < 4; ++e) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0x88), u1 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0xdd);
    const __m512 v0 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0xdd);
    t[e] = _mm512_shuffle_f32x4(u0, v0, 0x88);
    t[e + 4] = _mm512_shuffle_f32x4(u1, v1, 0x88);
    t[e + 8] = _mm512_shuffle_f32x4(u0, v0, 0xdd);
    t[e + 12] = _mm512_shuffle_f32x4(u1, v1, 0xdd);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Raw values (no conversion) in 32-bit lanes, for transposing 16-bit types with the same code.
template <typename T>
__m512 load_bits(const T* p, __mmask16 m) {
  if constexpr (sizeof(T) == 4) return _mm512_maskz_loadu_ps(m, p);
  else return _mm512_castsi512_ps(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)));
}
template <typename T>
void store_bits(T* p, __m512 v) {
  if constexpr (sizeof(T) == 4) _mm512_storeu_ps(p, v);
  else _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(_mm512_castps_si512(v)));
}

// rows (<= 16) weight rows into one panel of k x 16 lanes (lanes past rows zero), 16 x 16 blocks transposed in
// registers; get(r, kk, mask) loads 16 values of row r from kk, put(kk, v) stores the panel row of kk.
template <typename Get, typename Put>
void transpose_panel(int64_t k, int rows, Get get, Put put) {
  for (int64_t k0 = 0; k0 < k; k0 += 16) {
    const int n = int(std::min<int64_t>(16, k - k0));
    const __mmask16 m = head_mask(n);
    __m512 v[16];
    for (int r = 0; r < 16; ++r) v[r] = r < rows ? get(r, k0, m) : _mm512_setzero_ps();
    transpose16(v);
    for (int j = 0; j < n; ++j) put(k0 + j, v[j]);
  }
}

template <typename L, int NW>
void gemv_rows(int64_t k, const typename L::T* const* w, const float* a, float* out) {
  __m512 acc[NW];
  for (int r = 0; r < NW; ++r) acc[r] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= k; c += 16) {
    const __m512 av = _mm512_loadu_ps(a + c);
    for (int r = 0; r < NW; ++r) acc[r] = _mm512_fmadd_ps(L::load(w[r] + c), av, acc[r]);
  }
  if (c < k) {
    const __mmask16 m = head_mask(k - c);
    const __m512 av = _mm512_maskz_loadu_ps(m, a + c);
    for (int r = 0; r < NW; ++r) acc[r] = _mm512_fmadd_ps(L::load(w[r] + c, m), av, acc[r]);
  }
  for (int r = 0; r < NW; ++r) out[r] = reduce_lanes(acc[r]);
}

// One packed panel times one activation row: partial l is a vector over the panel's rows.
template <typename L>
void gemv_panel(int64_t k, const typename L::T* panel, const float* a, float* out, __mmask16 mask) {
  __m512 acc[kLanes];
#pragma GCC unroll 16
  for (int l = 0; l < kLanes; ++l) acc[l] = _mm512_setzero_ps();
  int64_t kk = 0;
  for (; kk + kLanes <= k; kk += kLanes) {
#pragma GCC unroll 16
    for (int l = 0; l < kLanes; ++l)
      acc[l] = _mm512_fmadd_ps(L::lanes(panel + (kk + l) * kLanes), _mm512_set1_ps(a[kk + l]), acc[l]);
  }
  for (int l = 0; kk + l < k; ++l)
    acc[l] = _mm512_fmadd_ps(L::lanes(panel + (kk + l) * kLanes), _mm512_set1_ps(a[kk + l]), acc[l]);
#pragma GCC unroll 8
  for (int l = 0; l < 8; ++l) acc[l] = _mm512_add_ps(acc[l], acc[l + 8]);
#pragma GCC unroll 4
  for (int l = 0; l < 4; ++l) acc[l] = _mm512_add_ps(acc[l], acc[l + 4]);
  acc[0] = _mm512_add_ps(acc[0], acc[2]);
  acc[1] = _mm512_add_ps(acc[1], acc[3]);
  _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(acc[0], acc[1]));
}

// GEMM micro-kernel: NP consecutive panels (NP x 16 weight rows, panel_size elements apart) times C activation
// rows (a_step floats apart, read in place). Each output is one F32 chain over kk in order, so the panel count
// and the chunking never change it.
template <typename L, int NP, int C>
void kernel(int64_t k, const typename L::T* panel, int64_t panel_size, const float* act, int64_t a_step, float* out,
            int64_t ldo, __mmask16 last_mask) {
  __m512 acc[NP][C];
#pragma GCC unroll 2
  for (int p = 0; p < NP; ++p)
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c) acc[p][c] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    __m512 wv[NP];
#pragma GCC unroll 2
    for (int p = 0; p < NP; ++p) wv[p] = L::lanes(panel + p * panel_size + kk * kLanes);
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c) {
      const __m512 b = _mm512_set1_ps(act[c * a_step + kk]);
#pragma GCC unroll 2
      for (int p = 0; p < NP; ++p) acc[p][c] = _mm512_fmadd_ps(wv[p], b, acc[p][c]);
    }
  }
#pragma GCC unroll 2
  for (int p = 0; p < NP; ++p)
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c)
      _mm512_mask_storeu_ps(out + c * ldo + p * kLanes, p == NP - 1 ? last_mask : __mmask16(0xFFFF), acc[p][c]);
}

template <typename L, int NP, int C = kChunk>
void dispatch_kernel(int rows, int64_t k, const typename L::T* panel, int64_t panel_size, const float* act,
                     int64_t a_step, float* out, int64_t ldo, __mmask16 last_mask) {
  if constexpr (C > 0) {
    if (rows == C) return kernel<L, NP, C>(k, panel, panel_size, act, a_step, out, ldo, last_mask);
    return dispatch_kernel<L, NP, C - 1>(rows, k, panel, panel_size, act, a_step, out, ldo, last_mask);
  }
}

inline const float* act_row(const void* a, size_t a_stride, int64_t i) {
  return reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
}

// Few activation rows, source weight rows read in place, 4 at a time.
template <typename L>
void gemv(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
          float* out, int64_t ldo) {
  using T = typename L::T;
  auto row = [&](int64_t j) {
    return reinterpret_cast<const T*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
  };
  for (int64_t i = 0; i < na; ++i) {
    const float* ai = act_row(a, a_stride, i);
    int64_t j = 0;
    for (; j + 4 <= nw; j += 4) {
      const T* rows[4] = {row(j), row(j + 1), row(j + 2), row(j + 3)};
      gemv_rows<L, 4>(k, rows, ai, out + i * ldo + j);
    }
    for (; j < nw; ++j) {
      const T* rows[1] = {row(j)};
      gemv_rows<L, 1>(k, rows, ai, out + i * ldo + j);
    }
  }
}

// nw weight rows in panels of 16 (panel_size elements apart) times na >= kGemmRows activation rows: chunk by
// chunk, so one chunk of activations stays in cache while every panel of the tile passes it, two panels a call.
template <typename L>
void panels_times_rows(int64_t k, const typename L::T* panels, int64_t panel_size, int64_t nw, const void* a,
                       size_t a_stride, int64_t na, float* out, int64_t ldo) {
  const int64_t n_panels = (nw + kLanes - 1) / kLanes;
  const __mmask16 last_mask = head_mask(nw - (n_panels - 1) * kLanes);
  const int64_t a_step = int64_t(a_stride / sizeof(float));
  for (int64_t i0 = 0; i0 < na; i0 += kChunk) {
    const int C = int(std::min<int64_t>(kChunk, na - i0));
    const float* act = act_row(a, a_stride, i0);
    float* o = out + i0 * ldo;
    int64_t p = 0;
    for (; p + 2 <= n_panels; p += 2)
      dispatch_kernel<L, 2>(C, k, panels + p * panel_size, panel_size, act, a_step, o + p * kLanes, ldo,
                            p + 2 == n_panels ? last_mask : __mmask16(0xFFFF));
    if (p < n_panels)
      dispatch_kernel<L, 1>(C, k, panels + p * panel_size, panel_size, act, a_step, o + p * kLanes, ldo, last_mask);
  }
}

// Packed layout: panels of 16 weight rows, each k x 16 lanes of the source type (lane r = row r of the panel;
// rows past nw are zero). Panel bytes are a multiple of 32, so every 16-lane group of a 64-byte aligned buffer
// is 32-byte aligned (F16/BF16) or 64-byte aligned (F32).
template <typename L>
size_t packed_bytes(int64_t k, int64_t nw) {
  return size_t((nw + kLanes - 1) / kLanes) * size_t(k) * kLanes * sizeof(typename L::T);
}

// One-time packing: a copy-transpose of the raw values (no conversion).
template <typename L>
void pack(int64_t k, const void* w, size_t w_stride, int64_t nw, void* dst) {
  using T = typename L::T;
  T* out = static_cast<T*>(dst);
  for (int64_t p0 = 0; p0 < nw; p0 += kLanes) {
    T* panel = out + (p0 / kLanes) * k * kLanes;
    const auto* src = static_cast<const uint8_t*>(w) + size_t(p0) * w_stride;
    transpose_panel(
        k, int(std::min<int64_t>(kLanes, nw - p0)),
        [&](int r, int64_t kk, __mmask16 m) {
          return load_bits(reinterpret_cast<const T*>(src + r * w_stride) + kk, m);
        },
        [&](int64_t kk, __m512 v) { store_bits(panel + kk * kLanes, v); });
  }
}

// Packed weights are read only from the panels (never the source rows), so the source pages may be released.
template <typename L>
void tile_packed(int64_t k, const void* packed, const void*, size_t, int64_t nw, const void* a, size_t a_stride,
                 int64_t na, float* out, int64_t ldo) {
  using T = typename L::T;
  const T* panels = static_cast<const T*>(packed);
  const int64_t panel_size = k * kLanes;
  if (na < kGemmRows) {
    for (int64_t i = 0; i < na; ++i)
      for (int64_t p0 = 0; p0 < nw; p0 += kLanes)
        gemv_panel<L>(k, panels + (p0 / kLanes) * panel_size, act_row(a, a_stride, i), out + i * ldo + p0,
                      head_mask(nw - p0));
    return;
  }
  panels_times_rows<L>(k, panels, panel_size, nw, a, a_stride, na, out, ldo);
}

// Unpacked weights (e.g. the K cache in attention): converted and transposed into F32 scratch panels per call,
// up to 16 panels at a time.
template <typename L>
void tile(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
          float* out, int64_t ldo) {
  using T = typename L::T;
  if (na < kGemmRows) return gemv<L>(k, w, w_stride, nw, a, a_stride, na, out, ldo);
  constexpr int64_t kBlockRows = 16 * kLanes;
  const int64_t panel_size = k * kLanes;
  thread_local Scratch panel_buf;
  float* panels = panel_buf.get<float>(size_t(std::min(nw + kLanes - 1, kBlockRows) / kLanes * panel_size));
  for (int64_t j0 = 0; j0 < nw; j0 += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, nw - j0);
    for (int64_t p0 = 0; p0 < rows; p0 += kLanes) {
      const auto* src = static_cast<const uint8_t*>(w) + size_t(j0 + p0) * w_stride;
      float* panel = panels + (p0 / kLanes) * panel_size;
      transpose_panel(
          k, int(std::min<int64_t>(kLanes, rows - p0)),
          [&](int r, int64_t kk, __mmask16 m) {
            return L::load(reinterpret_cast<const T*>(src + r * w_stride) + kk, m);
          },
          [&](int64_t kk, __m512 v) { _mm512_store_ps(panel + kk * kLanes, v); });
    }
    panels_times_rows<LoadF32>(k, panels, panel_size, rows, a, a_stride, na, out + j0, ldo);
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
