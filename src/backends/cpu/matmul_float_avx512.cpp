// AVX-512 matmul kernels for float weights (F32, F16, BF16) with F32 accumulation. F16 weights multiply
// activations rounded to F16 (kept as F32 so the micro-kernel can broadcast them), BF16 weights activations rounded
// to BF16, as llama.cpp does.
//  - Prepared weights are packed once into panels of 16 weight rows, k x 16 lanes of the source type (F16 lanes
//    are widened in the k loop), F16 and BF16 in groups of 8 panels (see Layout). Both paths read only the panels,
//    so the driver may drop the source pages.
//  - BF16 with AVX512_BF16: VDPBF16PS multiplies a pair of k per lane (panels of k/2 pairs x 16 lanes, activations
//    stored as BF16), twice the multiply-adds of an F32 FMA. Without it, BF16 is widened like F16.
//  - GEMM: one multiply-add with a broadcast activation value (pair) updates 16 outputs; 2 panels x kChunk
//    activation rows stay in 24 accumulators (2 weight loads and 12 broadcasts per 24 multiply-adds).
//  - GEMV (few activation rows) on packed panels: the same micro-kernel with 1 to 3 activation rows (8 or 4 panels
//    a call for one row), so every output is the same F32 chain over k whatever the row count (batch invariance).
//  - Unpacked weights (the K cache) are converted and transposed into scratch panels per call (tile), for every
//    row count; the results are bit-identical to the packed path.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx512.h"
#include "core/cpu_features.h"

namespace hearth::cpu {
namespace {

using namespace avx512;

constexpr int kChunk = 12;
constexpr int kLanes = 16;
// Activation rows per tile call: the driver's epilogue (bias, residual add, activation) then finds the call's
// outputs still in cache (USE lite, 512-token batches: 8-10 % faster than one call for all rows).
constexpr int64_t kTileRows = 4 * kChunk;

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

// How the micro-kernels multiply one weight type. A step is what one multiply-add instruction takes per output
// lane: one k for weights widened to F32 (FMA with an F32 activation), a pair of k for VDPBF16PS. Packed panels
// hold steps x 16 lanes of P; activations are rows of A.
template <typename L>
struct Widening {
  using T = typename L::T;  // source weight value
  using P = T;
  using A = float;
  static constexpr int64_t kPerStep = 1;
  static __m512 lanes(const P* p) { return L::lanes(p); }
  static __m512 bcast(const A* a, int64_t s) { return _mm512_set1_ps(a[s]); }
  static __m512 bcast_last(const A* a, int64_t s) { return bcast(a, s); }
  static __m512 madd(__m512 acc, __m512 w, __m512 a) { return _mm512_fmadd_ps(w, a, acc); }
  // 16 steps of a source weight row / an activation row; with n values left, lanes past them are zero.
  static __m512 row(const T* p) { return L::load(p); }
  static __m512 row(const T* p, int64_t n) { return L::load(p, head_mask(n)); }
  static __m512 act(const A* a) { return _mm512_loadu_ps(a); }
  static __m512 act(const A* a, int64_t n) { return _mm512_maskz_loadu_ps(head_mask(n), a); }
  // 16 steps of row (k values) from step s0 in 32-bit lanes: raw bits (packing) or as F32 (the scratch panels of
  // tile, multiplied by TileDot).
  static __m512 raw(const T* row, int64_t s0, int64_t k) { return load_bits(row + s0, head_mask(k - s0)); }
  static void put_raw(P* dst, __m512 v) { store_bits(dst, v); }
  static __m512 widened(const T* row, int64_t s0, int64_t k) { return L::load(row + s0, head_mask(k - s0)); }
  using TileDot = Widening<LoadF32>;
};

// VDPBF16PS: lane i += a.bf16[2i+1] * b.bf16[2i+1], then += a.bf16[2i] * b.bf16[2i], each add rounded to nearest
// even (the products of two BF16 values are exact in F32). Unlike the scalar kernel it treats denormal inputs as
// zero and flushes denormal results to zero, whatever MXCSR says (Intel SDM, VDPBF16PS). BF16 denormals are below
// 2^-126 in magnitude, so a dot product of k values moves by at most about k * 2^-126 * max|value|: only results
// that are themselves that small can differ by more than the summation order makes them.
struct DotBF16 {
  using T = uint16_t;
  using P = uint32_t;  // (w[2s], w[2s+1]) in the low and high half; for odd k the last pair's high half is zero
  using A = uint16_t;
  static constexpr int64_t kPerStep = 2;
  static __mmask32 values(int64_t n) { return n >= 32 ? ~__mmask32(0) : __mmask32((1u << n) - 1); }
  static __m512i lanes(const P* p) { return _mm512_load_si512(p); }
  static __m512i bcast(const A* a, int64_t s) { return _mm512_set1_epi32(int32_t(load_u32(a + 2 * s))); }
  // Odd k: the last pair's second value would be read past the row.
  static __m512i bcast_last(const A* a, int64_t s) { return _mm512_set1_epi32(a[2 * s]); }
  static __m512 madd(__m512 acc, __m512i w, __m512i a) { return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)a); }
  static __m512i row(const T* p) { return _mm512_loadu_si512(p); }
  static __m512i row(const T* p, int64_t n) { return _mm512_maskz_loadu_epi16(values(n), p); }
  static __m512i act(const A* a) { return row(a); }
  static __m512i act(const A* a, int64_t n) { return row(a, n); }
  static __m512 raw(const T* row, int64_t s0, int64_t k) {
    return _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(values(k - 2 * s0), row + 2 * s0));
  }
  static void put_raw(P* dst, __m512 v) { _mm512_store_ps(dst, v); }
  static __m512 widened(const T* row, int64_t s0, int64_t k) { return raw(row, s0, k); }
  using TileDot = DotBF16;
};

template <typename L>
constexpr int64_t steps(int64_t k) {
  return (k + L::kPerStep - 1) / L::kPerStep;
}

// GEMM micro-kernel: NP consecutive panels (NP x 16 weight rows, panel_size elements apart, their steps step_size
// elements apart) times C activation rows (a_step elements apart, read in place). Each output is one F32 chain over the steps in order, so the panel
// count and the chunking never change it.
template <typename L, int NP, int C>
void kernel(int64_t k, const typename L::P* panel, int64_t panel_size, int64_t step_size, const typename L::A* act,
            int64_t a_step, float* out, int64_t ldo, __mmask16 last_mask) {
  __m512 acc[NP][C];
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p)
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c) acc[p][c] = _mm512_setzero_ps();
  auto step = [&](int64_t s, auto bcast) __attribute__((always_inline)) {
    decltype(L::lanes(panel)) wv[NP];
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) wv[p] = L::lanes(panel + p * panel_size + s * step_size);
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c) {
      const auto b = bcast(act + c * a_step, s);
#pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) acc[p][c] = L::madd(acc[p][c], wv[p], b);
    }
  };
  const int64_t full = k / L::kPerStep;
  for (int64_t s = 0; s < full; ++s) step(s, L::bcast);
  if (full < steps<L>(k)) step(full, L::bcast_last);
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p)
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c)
      _mm512_mask_storeu_ps(out + c * ldo + p * kLanes, p == NP - 1 ? last_mask : __mmask16(0xFFFF), acc[p][c]);
}

template <typename L, int NP, int C = kChunk>
void dispatch_kernel(int rows, int64_t k, const typename L::P* panel, int64_t panel_size, int64_t step_size,
                     const typename L::A* act, int64_t a_step, float* out, int64_t ldo, __mmask16 last_mask) {
  if constexpr (C > 0) {
    if (rows == C) return kernel<L, NP, C>(k, panel, panel_size, step_size, act, a_step, out, ldo, last_mask);
    return dispatch_kernel<L, NP, C - 1>(rows, k, panel, panel_size, step_size, act, a_step, out, ldo, last_mask);
  }
}

template <typename L>
const typename L::A* act_row(const void* a, size_t a_stride, int64_t i) {
  return reinterpret_cast<const typename L::A*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
}

// Panel layouts: groups of G panels of 16 weight rows, each group steps x (G x 16) lanes of P (step s of panel q of
// a group at s * G * 16 + q * 16; lane r = row r of the panel; rows past nw are zero), groups back to back. With
// G = 8 (F16, BF16) a one-row product (token generation) takes a whole group per call: 8 FMA chains reading one
// stream of memory (llama-336m F16 tg at 2 threads: 4 separate panels per call 12 % slower than the 16-partial GEMV
// before it, 4 grouped panels 5 % slower, 8 grouped 5-10 % faster). G = 1 is panels one after the other (scratch
// panels; F32, whose panels the sparse product reads too). Group bytes are a multiple of 64 and every 16-lane piece
// is 32-byte aligned (F16/BF16 widened) or 64-byte aligned (F32, BF16 pairs) in a 64-byte aligned buffer.
template <int G>
struct Layout {
  int64_t steps;
  int64_t group_size() const { return steps * G * kLanes; }
  int64_t at(int64_t p) const { return (p / G) * group_size() + (p % G) * kLanes; }
  // Elements from a panel to the next one of the same group (G > 1), or to the next panel (G = 1).
  int64_t panel_size() const { return G == 1 ? steps * kLanes : kLanes; }
  static constexpr int64_t step_size = G * kLanes;
};

// nw weight rows in panels (layout G) times na activation rows: chunk by chunk, so one chunk of activations stays
// in cache while every panel of the tile passes it, two panels a call (eight or four for one activation row; those
// never straddle two groups).
template <typename L, int G>
void panels_times_rows(int64_t k, const typename L::P* panels, int64_t nw, const void* a, size_t a_stride,
                       int64_t na, float* out, int64_t ldo) {
  static_assert(G == 1 || G == 4 || G == 8);
  const Layout<G> lay{steps<L>(k)};
  const int64_t n_panels = (nw + kLanes - 1) / kLanes, ps = lay.panel_size(), ss = lay.step_size;
  const __mmask16 last_mask = head_mask(nw - (n_panels - 1) * kLanes);
  const int64_t a_step = int64_t(a_stride / sizeof(typename L::A));
  for (int64_t i0 = 0; i0 < na; i0 += kChunk) {
    const int C = int(std::min<int64_t>(kChunk, na - i0));
    const auto* act = act_row<L>(a, a_stride, i0);
    float* o = out + i0 * ldo;
    int64_t p = 0;
    // One activation row (token generation): a group of 8 (else 4) panels a call, as many independent chains.
    if (C == 1) {
      if constexpr (G == 8)
        for (; p + 8 <= n_panels; p += 8)
          kernel<L, 8, 1>(k, panels + lay.at(p), ps, ss, act, a_step, o + p * kLanes, ldo,
                          p + 8 == n_panels ? last_mask : __mmask16(0xFFFF));
      for (; p + 4 <= n_panels; p += 4)
        kernel<L, 4, 1>(k, panels + lay.at(p), ps, ss, act, a_step, o + p * kLanes, ldo,
                        p + 4 == n_panels ? last_mask : __mmask16(0xFFFF));
    }
    for (; p + 2 <= n_panels; p += 2)
      dispatch_kernel<L, 2>(C, k, panels + lay.at(p), ps, ss, act, a_step, o + p * kLanes, ldo,
                            p + 2 == n_panels ? last_mask : __mmask16(0xFFFF));
    if (p < n_panels)
      dispatch_kernel<L, 1>(C, k, panels + lay.at(p), ps, ss, act, a_step, o + p * kLanes, ldo, last_mask);
  }
}

template <typename L, int G>
size_t packed_bytes(int64_t k, int64_t nw) {
  return size_t((nw + G * kLanes - 1) / (G * kLanes)) * size_t(Layout<G>{steps<L>(k)}.group_size()) *
         sizeof(typename L::P);
}

// rows source weight rows (of T, w_stride bytes apart) into one panel of L whose steps are step_size elements
// apart, get(row, s0) giving 16 steps of a row.
template <typename L, typename T, typename Get>
void fill_panel(int64_t k, const uint8_t* src, size_t w_stride, int rows, typename L::P* panel, int64_t step_size,
                Get get) {
  transpose_panel(
      steps<L>(k), rows,
      [&](int r, int64_t s0, __mmask16) { return get(reinterpret_cast<const T*>(src + r * w_stride), s0); },
      [&](int64_t s, __m512 v) { L::put_raw(panel + s * step_size, v); });
}

// One-time packing (nw <= G * 16 rows: one group): a copy-transpose of the raw values (no conversion).
template <typename L, int G>
void pack(int64_t k, const void* w, size_t w_stride, int64_t nw, void* dst) {
  auto* out = static_cast<typename L::P*>(dst);
  if (nw < G * kLanes) std::memset(dst, 0, packed_bytes<L, G>(k, nw));
  const Layout<G> lay{steps<L>(k)};
  for (int64_t p0 = 0; p0 < nw; p0 += kLanes)
    fill_panel<L, typename L::T>(k, static_cast<const uint8_t*>(w) + size_t(p0) * w_stride, w_stride,
                                 int(std::min<int64_t>(kLanes, nw - p0)), out + lay.at(p0 / kLanes), lay.step_size,
                                 [&](const typename L::T* row, int64_t s0) { return L::raw(row, s0, k); });
}

// Packed weights are read only from the panels (never the source rows), so the source pages may be released.
// Every row count takes the micro-kernel: one F32 chain per output over the steps in order (batch invariance).
template <typename L, int G>
void tile_packed(int64_t k, const void* packed, const void*, size_t, int64_t nw, const void* a, size_t a_stride,
                 int64_t na, float* out, int64_t ldo) {
  panels_times_rows<L, G>(k, static_cast<const typename L::P*>(packed), nw, a, a_stride, na, out, ldo);
}

// Unpacked weights (the K cache in attention, embedding tables before their first product): converted and
// transposed into scratch panels of TileDot per call (F32 for widened types), up to 16 panels at a time, for every
// row count: the outputs are the packed path's, bit for bit.
template <typename L>
void tile(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
          float* out, int64_t ldo) {
  using D = typename L::TileDot;
  constexpr int64_t kBlockRows = 16 * kLanes;
  const int64_t panel_size = steps<D>(k) * kLanes;
  thread_local Scratch panel_buf;
  auto* panels = panel_buf.get<typename D::P>(size_t(std::min(nw + kLanes - 1, kBlockRows) / kLanes * panel_size));
  for (int64_t j0 = 0; j0 < nw; j0 += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, nw - j0);
    for (int64_t p0 = 0; p0 < rows; p0 += kLanes)
      fill_panel<D, typename L::T>(k, static_cast<const uint8_t*>(w) + size_t(j0 + p0) * w_stride, w_stride,
                                   int(std::min<int64_t>(kLanes, rows - p0)), panels + (p0 / kLanes) * panel_size,
                                   kLanes, [&](const typename L::T* row, int64_t s0) { return L::widened(row, s0, k); });
    panels_times_rows<D, 1>(k, panels, rows, a, a_stride, na, out + j0, ldo);
  }
}

void round_row_f16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<float*>(y);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
  if (i < n) round_row_f16_f32(x + i, out + i, n - i);
}

// fp32_to_bf16 on 16 lanes, bit-identical: the BF16 value in the high half of each lane (low half garbage).
// VCVTNEPS2BF16 would flush denormals to zero, so the rounding is done on the integer bits.
inline __m512i bf16_high_halves(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_or_epi32(rounded, nan, u, _mm512_set1_epi32(64 << 16));  // quiet NaN
}

// round_row_bf16_f32 (activations of widened BF16 weights) and quantize_row_bf16 (of VDPBF16PS), bit-identical.
void round_row_bf16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<float*>(y);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    const __m512i h = bf16_high_halves(_mm512_maskz_loadu_ps(m, x + i));
    _mm512_mask_storeu_ps(out + i, m, _mm512_castsi512_ps(_mm512_and_si512(h, _mm512_set1_epi32(int32_t(0xffff0000u)))));
  }
}
void quantize_row_bf16_x16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    _mm512_mask_cvtepi32_storeu_epi16(out + i, m, _mm512_srli_epi32(bf16_high_halves(_mm512_maskz_loadu_ps(m, x + i)), 16));
  }
}

// R query rows x NV vectors of columns: each x_j vector loaded once serves R rows, and the R * NV accumulators are
// independent chains (one row of a 64-wide head alone would be 4 chains, bound by the FMA latency). Rows whose
// visible count is past the common one finish alone, continuing their chains.
template <typename L, int NV, int R>
void weighted_sum_rows(const int64_t* visible, const float* p, int64_t p_stride, const uint8_t* x, size_t x_stride,
                       int64_t n, float* out, int64_t out_stride, bool accumulate) {
  __m512 acc[R][NV];
  __mmask16 mask[NV];
#pragma GCC unroll 8
  for (int t = 0; t < NV; ++t) mask[t] = head_mask(n - 16 * t);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t)
      acc[r][t] = accumulate ? _mm512_maskz_loadu_ps(mask[t], out + r * out_stride + 16 * t) : _mm512_setzero_ps();
  int64_t common = visible[0];
#pragma GCC unroll 8
  for (int r = 1; r < R; ++r) common = std::min(common, visible[r]);
  auto row = [&](int64_t j) { return reinterpret_cast<const typename L::T*>(x + size_t(j) * x_stride); };
  for (int64_t j = 0; j < common; ++j) {
    __m512 xv[NV];
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t) xv[t] = L::load(row(j) + 16 * t, mask[t]);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 pj = _mm512_set1_ps(p[r * p_stride + j]);
#pragma GCC unroll 8
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_fmadd_ps(pj, xv[t], acc[r][t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    for (int64_t j = common; j < visible[r]; ++j) {
      const __m512 pj = _mm512_set1_ps(p[r * p_stride + j]);
#pragma GCC unroll 8
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_fmadd_ps(pj, L::load(row(j) + 16 * t, mask[t]), acc[r][t]);
    }
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t) _mm512_mask_storeu_ps(out + r * out_stride + 16 * t, mask[t], acc[r][t]);
  }
}

// As many rows at once as leave the accumulators, the loaded x vectors and a broadcast in 32 registers.
template <int NV>
constexpr int kRowsAtOnce = std::min(8, 28 / NV - 1);

template <typename L, int NV, int R = kRowsAtOnce<NV>>
void weighted_sum_group(int64_t n_q, const int64_t* visible, const float* p, int64_t p_stride, const uint8_t* x,
                        size_t x_stride, int64_t n, float* out, int64_t out_stride, bool accumulate) {
  if constexpr (R > 1)
    if (n_q < R) return weighted_sum_group<L, NV, R - 1>(n_q, visible, p, p_stride, x, x_stride, n, out, out_stride, accumulate);
  weighted_sum_rows<L, NV, R>(visible, p, p_stride, x, x_stride, n, out, out_stride, accumulate);
}

// Columns in slices of up to 128 (8 vectors), so any head size works; rows in groups of kRowsAtOnce.
template <typename L, int NV>
void weighted_sum_slice(int64_t n_q, const int64_t* visible, const float* p, int64_t p_stride, const uint8_t* x,
                        size_t x_stride, int64_t n, float* out, int64_t out_stride, bool accumulate) {
  constexpr int R = kRowsAtOnce<NV>;
  for (int64_t i = 0; i < n_q; i += R)
    weighted_sum_group<L, NV>(std::min<int64_t>(R, n_q - i), visible + i, p + i * p_stride, p_stride, x, x_stride, n,
                              out + i * out_stride, out_stride, accumulate);
}

template <typename L>
void weighted_sum(int64_t n_q, const int64_t* visible, const float* p, int64_t p_stride, const void* x,
                  size_t x_stride, int64_t n, float* out, int64_t out_stride, bool accumulate) {
  using T = typename L::T;
  for (int64_t c0 = 0; c0 < n; c0 += 128) {
    const uint8_t* xs = static_cast<const uint8_t*>(x) + size_t(c0) * sizeof(T);
    const int64_t w = std::min<int64_t>(128, n - c0);
    auto slice = [&](auto fn) { fn(n_q, visible, p, p_stride, xs, x_stride, w, out + c0, out_stride, accumulate); };
    switch ((w + 15) / 16) {
      case 1: slice(weighted_sum_slice<L, 1>); break;
      case 2: slice(weighted_sum_slice<L, 2>); break;
      case 3: slice(weighted_sum_slice<L, 3>); break;
      case 4: slice(weighted_sum_slice<L, 4>); break;
      case 5: slice(weighted_sum_slice<L, 5>); break;
      case 6: slice(weighted_sum_slice<L, 6>); break;
      case 7: slice(weighted_sum_slice<L, 7>); break;
      default: slice(weighted_sum_slice<L, 8>); break;
    }
  }
}

}  // namespace

void init_avx512_bf16(KernelSet& ks, bool dot_instructions) {
  using Widened = Widening<LoadBF16>;
  if (dot_instructions)
    ks.for_type(DType::BF16) = {DType::BF16,             quantize_row_bf16_x16, tile<DotBF16>,          8 * kLanes,
                                kTileRows,               packed_bytes<DotBF16, 8>, pack<DotBF16, 8>,
                                tile_packed<DotBF16, 8>};
  else
    ks.for_type(DType::BF16) = {DType::F32,              round_row_bf16,  tile<Widened>,          8 * kLanes,
                                kTileRows,               packed_bytes<Widened, 8>, pack<Widened, 8>,
                                tile_packed<Widened, 8>};
}

void init_avx512_float(KernelSet& ks) {
  using F32 = Widening<LoadF32>;
  using F16 = Widening<LoadF16>;
  // F32 keeps single panels (G = 1): the sparse product (matmul_sparse_avx512.cpp) reads them.
  ks.for_type(DType::F32) = {DType::F32,         copy_row_f32, tile<F32>,          kLanes, kTileRows,
                             packed_bytes<F32, 1>, pack<F32, 1>, tile_packed<F32, 1>};
  ks.for_type(DType::F16) = {DType::F32,         round_row_f16, tile<F16>,          8 * kLanes, kTileRows,
                             packed_bytes<F16, 8>, pack<F16, 8>,  tile_packed<F16, 8>};
  init_avx512_bf16(ks, cpu_info().avx512_bf16);
  ks.weighted_sum_f32 = weighted_sum<LoadF32>;
  ks.weighted_sum_f16 = weighted_sum<LoadF16>;
}

}  // namespace hearth::cpu
#endif
