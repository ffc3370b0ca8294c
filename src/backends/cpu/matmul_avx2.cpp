// AVX2 + FMA + F16C kernels: float weights (F32, F16, BF16) and the 32-value block types.
// F16 / BF16 weights multiply activations rounded to F16 / BF16 and kept as F32 (widened weights, F32 FMAs).
//  - Float weights of batched products (encoders) are packed once into panels of 8 rows (k x 8 lanes of the
//    source type, widened in the k loop); the GEMM micro-kernel keeps 2 panels x 6 activation rows in 12 of the
//    16 registers (2 weight loads and 6 broadcasts per 12 FMAs), each output one F32 chain over k in order.
//    Decoders' matrices are packed too, and one to three activation rows (token generation) run the same
//    micro-kernel, so an output never depends on how many rows are multiplied (batch invariance). Unpacked float
//    weights (the K cache) are transposed into scratch panels per call, for every row count (the same results).
//  - Block types are read in place; each weight row is dotted with up to kGroup activation rows at once so its
//    loads are shared.
// Integer dots use VPMADDUBSW (u8 x s8 -> s16 pairs), which must not saturate: weights are unpacked to
// unsigned values <= 31 (offset folded back per block as -offset * sum(a)), except Q8_0, whose signed
// weights use the sign trick |w| x (a * sign(w)) (|pair sum| <= 2 * 127 * 127 < 32768).
// The K-quants (Q4_K, Q5_K, Q6_K) are in matmul_kquant_avx2.cpp.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx2.h"

// GCC 12 warns inside its own intrinsics headers (their intentionally undefined pass-through operands).
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace hearth::cpu {
namespace {

constexpr int kGroup = 4;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// ---- float weights ----
struct LoadF32 {
  using T = float;
  static __m256 load(const T* p) { return _mm256_loadu_ps(p); }
  static float one(T v) { return v; }
};
struct LoadF16 {
  using T = uint16_t;
  static __m256 load(const T* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float one(T v) { return h2f(v); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m256 load(const T* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float one(T v) {
    const uint32_t bits = uint32_t(v) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

// ---- packed float weights ----
constexpr int kPanelRows = 8;       // weight rows per panel: one 256-bit vector of F32 lanes
constexpr int kChunkRows = 6;       // activation rows per micro-kernel call
constexpr int64_t kTileRows = 8 * kChunkRows;

template <typename L>
size_t packed_bytes(int64_t k, int64_t nw) {
  return size_t((nw + kPanelRows - 1) / kPanelRows) * size_t(k) * kPanelRows * sizeof(typename L::T);
}

// Panel p holds weight rows 8p..8p+7 as k steps of 8 lanes (rows past nw are zero).
template <typename L>
void pack_panels(int64_t k, const void* w, size_t w_stride, int64_t nw, void* dst) {
  using T = typename L::T;
  auto* out = static_cast<T*>(dst);
  for (int64_t p0 = 0; p0 < nw; p0 += kPanelRows, out += k * kPanelRows)
    for (int l = 0; l < kPanelRows; ++l) {
      const bool real = p0 + l < nw;
      const auto* row = reinterpret_cast<const T*>(static_cast<const uint8_t*>(w) + size_t(real ? p0 + l : 0) * w_stride);
      for (int64_t s = 0; s < k; ++s) out[s * kPanelRows + l] = real ? row[s] : T(0);
    }
}

// NP consecutive panels (panel_size values apart) times C activation rows (a_step floats apart); the last panel
// stores its first `last_rows` outputs only.
template <typename L, int NP, int C>
void gemm_kernel(int64_t k, const typename L::T* panel, int64_t panel_size, const float* act, int64_t a_step,
                 float* out, int64_t ldo, int last_rows) {
  __m256 acc[NP][C];
#pragma GCC unroll 4
  for (int p = 0; p < NP; ++p)
#pragma GCC unroll 6
    for (int c = 0; c < C; ++c) acc[p][c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < k; ++s) {
    __m256 wv[NP];
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) wv[p] = L::load(panel + p * panel_size + s * kPanelRows);
#pragma GCC unroll 6
    for (int c = 0; c < C; ++c) {
      const __m256 b = _mm256_broadcast_ss(act + c * a_step + s);
#pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) acc[p][c] = _mm256_fmadd_ps(wv[p], b, acc[p][c]);
    }
  }
#pragma GCC unroll 4
  for (int p = 0; p < NP; ++p)
#pragma GCC unroll 6
    for (int c = 0; c < C; ++c) store_first(out + c * ldo + p * kPanelRows, acc[p][c], p == NP - 1 ? last_rows : kPanelRows);
}

template <typename L, int NP, int C = kChunkRows>
void dispatch_gemm(int rows, int64_t k, const typename L::T* panel, int64_t panel_size, const float* act,
                   int64_t a_step, float* out, int64_t ldo, int last_rows) {
  if constexpr (C > 0) {
    if (rows == C) return gemm_kernel<L, NP, C>(k, panel, panel_size, act, a_step, out, ldo, last_rows);
    return dispatch_gemm<L, NP, C - 1>(rows, k, panel, panel_size, act, a_step, out, ldo, last_rows);
  }
}

// nw weight rows in panels times na activation rows, chunk by chunk, two panels a call.
template <typename L>
void panels_times_rows(int64_t k, const typename L::T* panels, int64_t nw, const void* a, size_t a_stride,
                       int64_t na, float* out, int64_t ldo) {
  const int64_t panel_size = k * kPanelRows, n_panels = (nw + kPanelRows - 1) / kPanelRows;
  const int last_rows = int(nw - (n_panels - 1) * kPanelRows);
  const int64_t a_step = int64_t(a_stride / sizeof(float));
  for (int64_t i0 = 0; i0 < na; i0 += kChunkRows) {
    const int C = int(std::min<int64_t>(kChunkRows, na - i0));
    const float* act = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + size_t(i0) * a_stride);
    float* o = out + i0 * ldo;
    int64_t p = 0;
    // One activation row (token generation): 4 panels a call, 4 chains to hide the FMA latency.
    if (C == 1)
      for (; p + 4 <= n_panels; p += 4)
        gemm_kernel<L, 4, 1>(k, panels + p * panel_size, panel_size, act, a_step, o + p * kPanelRows, ldo,
                             p + 4 == n_panels ? last_rows : kPanelRows);
    for (; p + 2 <= n_panels; p += 2)
      dispatch_gemm<L, 2>(C, k, panels + p * panel_size, panel_size, act, a_step, o + p * kPanelRows, ldo,
                          p + 2 == n_panels ? last_rows : kPanelRows);
    if (p < n_panels)
      dispatch_gemm<L, 1>(C, k, panels + p * panel_size, panel_size, act, a_step, o + p * kPanelRows, ldo, last_rows);
  }
}

template <typename L>
void tile_packed(int64_t k, const void* packed, const void*, size_t, int64_t nw, const void* a, size_t a_stride,
                 int64_t na, float* out, int64_t ldo) {
  panels_times_rows<L>(k, static_cast<const typename L::T*>(packed), nw, a, a_stride, na, out, ldo);
}

// Unpacked weights (the K cache, embedding tables before their first product): transposed into scratch panels
// (up to 256 weight rows at a time) for every row count, so the outputs are the packed path's, bit for bit.
template <typename L>
void tile_unpacked(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
                   float* out, int64_t ldo) {
  constexpr int64_t kBlockRows = 32 * kPanelRows;
  thread_local Scratch scratch;
  auto* panels = scratch.get<typename L::T>(packed_bytes<L>(k, std::min(nw, kBlockRows)) / sizeof(typename L::T));
  for (int64_t j0 = 0; j0 < nw; j0 += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, nw - j0);
    pack_panels<L>(k, static_cast<const uint8_t*>(w) + size_t(j0) * w_stride, w_stride, rows, panels);
    panels_times_rows<L>(k, panels, rows, a, a_stride, na, out + j0, ldo);
  }
}

void round_row_f16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<float*>(y);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
  if (i < n) round_row_f16_f32(x + i, out + i, n - i);
}

// round_row_bf16_f32, bit-identical: fp32_to_bf16's integer rounding on 8 lanes, the result kept as F32.
void round_row_bf16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<float*>(y);
  const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7fff), quiet = _mm256_set1_epi32(64 << 16);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i high = _mm256_set1_epi32(int32_t(0xffff0000u));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
    const __m256i rounded = _mm256_add_epi32(u, _mm256_add_epi32(half, lsb));
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);  // both sides non-negative
    const __m256i bits = _mm256_blendv_epi8(rounded, _mm256_or_si256(u, quiet), nan);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_and_si256(bits, high));
  }
  if (i < n) round_row_bf16_f32(x + i, out + i, n - i);
}

// ---- 32-value blocks ----
// Byte j = 0x10 where bit j of the 32-bit qh is set.
inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(int(bits)),
                                             _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2,
                                                              2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

struct UQ8_0 {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = false, kSigned = true;
  static __m256i quants(const Block& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
  static float min(const Block&) { return 0.0f; }
};
struct UQ4_0 {
  using Block = BlockQ4_0;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false, kSigned = false;
  static __m256i quants(const Block& b) { return nibbles(b.qs); }
  static float min(const Block&) { return 0.0f; }
};
struct UQ4_1 {
  using Block = BlockQ4_1;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true, kSigned = false;
  static __m256i quants(const Block& b) { return nibbles(b.qs); }
  static float min(const Block& b) { return h2f(b.m); }
};
struct UQ5_0 {
  using Block = BlockQ5_0;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false, kSigned = false;
  static __m256i quants(const Block& b) { return _mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)); }
  static float min(const Block&) { return 0.0f; }
};
struct UQ5_1 {
  using Block = BlockQ5_1;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true, kSigned = false;
  static __m256i quants(const Block& b) { return _mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)); }
  static float min(const Block& b) { return h2f(b.m); }
};

template <typename A>
inline float act_s(const A& a) {
  if constexpr (std::is_same_v<A, BlockQ8_1>) return h2f(a.s);
  return 0.0f;
}

inline int32_t sum_i8(const int8_t* q) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), v);
  const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtsi128_si32(s) + _mm_extract_epi32(s, 1);
}

template <typename U, typename A, int NA>
void dot_q32(int64_t nb, const typename U::Block* w, const A* const* a, const int32_t* const* corr, float* out,
             int64_t ldo) {
  __m256 acc[NA];
  float accm[NA];
  for (int i = 0; i < NA; ++i) acc[i] = _mm256_setzero_ps(), accm[i] = 0.0f;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i u = U::quants(w[b]);
    const float dw = h2f(w[b].d);
    const __m256i ux = U::kSigned ? _mm256_sign_epi8(u, u) : u;  // |w| for the sign trick
    for (int i = 0; i < NA; ++i) {
      __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i][b].qs));
      if constexpr (U::kSigned) av = _mm256_sign_epi8(av, u);
      __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(ux, av), ones);
      if constexpr (U::kOffset != 0) dot = _mm256_add_epi32(dot, _mm256_zextsi128_si256(_mm_cvtsi32_si128(corr[i][b])));
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(dw * h2f(a[i][b].d)), acc[i]);
      if constexpr (U::kMin) accm[i] += U::min(w[b]) * act_s(a[i][b]);
    }
  }
  for (int i = 0; i < NA; ++i) out[i * ldo] = hsum(acc[i]) + accm[i];
}

template <typename U, typename A>
void tile_q32(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
              float* out, int64_t ldo) {
  const int64_t nb = k / 32;
  auto a_row = [&](int64_t i) {
    return reinterpret_cast<const A*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
  };
  // -offset * sum(a) per activation row and block.
  thread_local Scratch corr_buf;
  int32_t* corr = corr_buf.get<int32_t>(size_t(na * nb));
  for (int64_t i = 0; i < na; ++i)
    for (int64_t b = 0; b < nb; ++b) corr[i * nb + b] = U::kOffset ? -U::kOffset * sum_i8(a_row(i)[b].qs) : 0;
  for (int64_t j = 0; j < nw; ++j) {
    const auto* wr = reinterpret_cast<const typename U::Block*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
    for (int64_t i0 = 0; i0 < na; i0 += kGroup) {
      const A* ar[kGroup];
      const int32_t* cr[kGroup];
      const int g = int(std::min<int64_t>(kGroup, na - i0));
      for (int t = 0; t < g; ++t) ar[t] = a_row(i0 + t), cr[t] = corr + (i0 + t) * nb;
      float* o = out + i0 * ldo + j;
      switch (g) {
        case 4: dot_q32<U, A, 4>(nb, wr, ar, cr, o, ldo); break;
        case 3: dot_q32<U, A, 3>(nb, wr, ar, cr, o, ldo); break;
        case 2: dot_q32<U, A, 2>(nb, wr, ar, cr, o, ldo); break;
        default: dot_q32<U, A, 1>(nb, wr, ar, cr, o, ldo); break;
      }
    }
  }
}

// softmax · V: row i of out, column c = sum over j < visible[i] of p_i[j] * x_j[c], one FMA chain per output in
// order of j. Columns in slices of up to 64 (8 vectors), R query rows at once sharing each load of an x row
// (their R * NV accumulators are independent chains); rows whose visible count is past the common one finish
// alone, continuing their chains. The last n % 8 columns one by one, with the same chain.
template <typename L, int NV, int R>
void weighted_sum_rows(const int64_t* visible, const float* p, int64_t p_stride, const uint8_t* x, size_t x_stride,
                       float* out, int64_t out_stride, bool accumulate) {
  __m256 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t) acc[r][t] = accumulate ? _mm256_loadu_ps(out + r * out_stride + 8 * t) : _mm256_setzero_ps();
  int64_t common = visible[0];
#pragma GCC unroll 8
  for (int r = 1; r < R; ++r) common = std::min(common, visible[r]);
  auto row = [&](int64_t j) { return reinterpret_cast<const typename L::T*>(x + size_t(j) * x_stride); };
  for (int64_t j = 0; j < common; ++j) {
    __m256 xv[NV];
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t) xv[t] = L::load(row(j) + 8 * t);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 pj = _mm256_set1_ps(p[r * p_stride + j]);
#pragma GCC unroll 8
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm256_fmadd_ps(pj, xv[t], acc[r][t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    for (int64_t j = common; j < visible[r]; ++j) {
      const __m256 pj = _mm256_set1_ps(p[r * p_stride + j]);
#pragma GCC unroll 8
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm256_fmadd_ps(pj, L::load(row(j) + 8 * t), acc[r][t]);
    }
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t) _mm256_storeu_ps(out + r * out_stride + 8 * t, acc[r][t]);
  }
}

// As many rows at once as leave the accumulators, the loaded x vectors and a broadcast in 16 registers.
template <int NV>
constexpr int kRowsAtOnce = std::max(1, std::min(8, 15 / NV - 1));

template <typename L, int NV, int R = kRowsAtOnce<NV>>
void weighted_sum_group(int64_t n_q, const int64_t* visible, const float* p, int64_t p_stride, const uint8_t* x,
                        size_t x_stride, float* out, int64_t out_stride, bool accumulate) {
  if constexpr (R > 1)
    if (n_q < R) return weighted_sum_group<L, NV, R - 1>(n_q, visible, p, p_stride, x, x_stride, out, out_stride, accumulate);
  weighted_sum_rows<L, NV, R>(visible, p, p_stride, x, x_stride, out, out_stride, accumulate);
}

template <typename L, int NV>
void weighted_sum_slice(int64_t n_q, const int64_t* visible, const float* p, int64_t p_stride, const uint8_t* x,
                        size_t x_stride, float* out, int64_t out_stride, bool accumulate) {
  constexpr int R = kRowsAtOnce<NV>;
  for (int64_t i = 0; i < n_q; i += R)
    weighted_sum_group<L, NV>(std::min<int64_t>(R, n_q - i), visible + i, p + i * p_stride, p_stride, x, x_stride,
                              out + i * out_stride, out_stride, accumulate);
}

template <typename L>
void weighted_sum(int64_t n_q, const int64_t* visible, const float* p, int64_t p_stride, const void* x,
                  size_t x_stride, int64_t n, float* out, int64_t out_stride, bool accumulate) {
  using T = typename L::T;
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t c0 = 0; c0 + 8 <= n; c0 += 64) {
    const uint8_t* xs = xb + size_t(c0) * sizeof(T);
    auto slice = [&](auto fn) { fn(n_q, visible, p, p_stride, xs, x_stride, out + c0, out_stride, accumulate); };
    switch (std::min<int64_t>(8, (n - c0) / 8)) {
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
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t c = n / 8 * 8; c < n; ++c) {
      float acc = accumulate ? out[i * out_stride + c] : 0.0f;
      for (int64_t j = 0; j < visible[i]; ++j)
        acc = std::fma(p[i * p_stride + j], L::one(reinterpret_cast<const T*>(xb + size_t(j) * x_stride)[c]), acc);
      out[i * out_stride + c] = acc;
    }
}

}  // namespace

void init_avx2_kernels(KernelSet& ks) {
  ks.name = "avx2 (fma, f16c)";
  ks.for_type(DType::F32) = {DType::F32,           copy_row_f32,        tile_unpacked<LoadF32>, kPanelRows,
                             kTileRows,            packed_bytes<LoadF32>, pack_panels<LoadF32>, tile_packed<LoadF32>};
  ks.for_type(DType::F16) = {DType::F32,           round_row_f16,       tile_unpacked<LoadF16>, kPanelRows,
                             kTileRows,            packed_bytes<LoadF16>, pack_panels<LoadF16>, tile_packed<LoadF16>};
  ks.for_type(DType::BF16) = {DType::F32,          round_row_bf16,       tile_unpacked<LoadBF16>, kPanelRows,
                              kTileRows,           packed_bytes<LoadBF16>, pack_panels<LoadBF16>, tile_packed<LoadBF16>};
  ks.for_type(DType::Q8_0) = {DType::Q8_0, quantize_row_q8_0, tile_q32<UQ8_0, BlockQ8_0>, 1};
  ks.for_type(DType::Q4_0) = {DType::Q8_0, quantize_row_q8_0, tile_q32<UQ4_0, BlockQ8_0>, 1};
  ks.for_type(DType::Q5_0) = {DType::Q8_0, quantize_row_q8_0, tile_q32<UQ5_0, BlockQ8_0>, 1};
  ks.for_type(DType::Q4_1) = {DType::Q8_1, quantize_row_q8_1, tile_q32<UQ4_1, BlockQ8_1>, 1};
  ks.for_type(DType::Q5_1) = {DType::Q8_1, quantize_row_q8_1, tile_q32<UQ5_1, BlockQ8_1>, 1};
  ks.weighted_sum_f32 = weighted_sum<LoadF32>;
  ks.weighted_sum_f16 = weighted_sum<LoadF16>;
  init_avx2_kquant(ks);
  init_avx2_pal(ks);
  init_avx2_sparse(ks);
}

}  // namespace hearth::cpu
#endif
