// AVX-512 matmul kernels for the K-quants (Q4_K, Q5_K, Q6_K) against Q8_K activations.
//
// The integer sums are ggml's exactly (the scalar kernels in matmul_scalar.cpp):
//   Q4_K/Q5_K: d * da * sum(scale * u * a) - dmin * da * sum(min * bsum)
//   Q6_K:      d * da * sum(scale * (u - 32) * a)
// GEMV (token generation) decodes each weight super-block from the mapped file into registers; GEMM (prompts)
// expands panels of 4 weight rows to int16 scale * quant once per tile call and runs a 4 x 4 VPDPWSSD kernel.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/kquant_scales_x86.h"
#include "backends/cpu/simd_avx512.h"

namespace hearth::cpu {
namespace {

using namespace avx512;

// ---- GEMV (fewer than 4 activation rows): weight blocks are decoded straight from the mapped file into
// registers and dotted with VPDPBUSD, four values per int32 lane; pairs of results are packed to int16 and
// multiplied by the scale of their sub-block with VPMADDWD; the lanes are then added (exactly, in integers) to one
// sum per super-block, scaled in float in the GEMM's order (batch invariance, see gemv_k).

// One weight super-block in registers: quants u[t] (values matching the activation vector t), the sub-block
// scales (see pair_scale_index), 16 int16 mins to be multiplied with the activation's `bsums` (VPMADDWD), d and dmin.
struct DecodedK {
  __m512i u[4];
  __m512i sc[2];  // int16 scales in the order VPACKSSDW puts the lanes of VPDPBUSD results 2q, 2q + 1
  __m256i mins;
  float d, dmin;
};

// VPACKSSDW of VPDPBUSD results 2q and 2q + 1 (four values per int32 lane) puts, in 128-bit block B, lanes
// 4B..4B+3 of the first then of the second; position P of sc[q] takes the scale of that lane. Q6_K (per16): 16
// scales of 16 values, vector t covers values [64t, 64t + 64). Q4_K / Q5_K: vector t holds sub-blocks
// 4(t/2) + t%2 (lanes 0-7) and the one two further on (lanes 8-15), see nibbles_64.
constexpr std::array<int16_t, 32> pair_scale_index(bool per16, int q) {
  std::array<int16_t, 32> idx{};
  for (int p = 0; p < 32; ++p) {
    const int block = p / 8, t = 2 * q + (p % 8) / 4, lane = 4 * block + p % 4;
    idx[size_t(p)] = int16_t(per16 ? 4 * t + lane / 4 : 4 * (t / 2) + t % 2 + (lane >= 8 ? 2 : 0));
  }
  return idx;
}
alignas(64) constexpr std::array<int16_t, 32> kPairIdx16[2] = {pair_scale_index(true, 0), pair_scale_index(true, 1)};
alignas(64) constexpr std::array<int16_t, 32> kPairIdx32[2] = {pair_scale_index(false, 0), pair_scale_index(false, 1)};

// scales16: int16 scale s in lane s.
inline void pair_scales(__m512i scales16, bool per16, __m512i sc[2]) {
#pragma GCC unroll 2
  for (int q = 0; q < 2; ++q)
    sc[q] = _mm512_permutexvar_epi16(_mm512_load_si512((per16 ? kPairIdx16 : kPairIdx32)[q].data()), scales16);
}

inline void decode_k4_scales(const uint8_t* scales, uint16_t d, uint16_t dmin, DecodedK& w) {
  const __m128i sm = k4_scales_then_mins(scales);
  w.mins = _mm256_cvtepu8_epi16(sm);
  pair_scales(_mm512_zextsi256_si512(w.mins), false, w.sc);  // lanes 0-7 (scales) meet zero bsums in PreparedQ8K
  w.d = h2f(d);
  w.dmin = h2f(dmin);
}

// Q4_K / Q5_K values of 64-byte load z: low nibbles are values [0, 32) and [64, 96) of its 128, high nibbles
// [32, 64) and [96, 128).
inline void nibbles_64(const uint8_t* q, __m512i& lo, __m512i& hi) {
  const __m512i z = _mm512_loadu_si512(q), m4 = _mm512_set1_epi8(0x0F);
  lo = _mm512_and_si512(z, m4);
  hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
}

// Scales, mins and the low 4 bits of the quants: Q4_K and Q5_K lay them out alike.
template <typename Block>
inline void decode_low4(const Block& b, DecodedK& w) {
  decode_k4_scales(b.scales, b.d, b.dmin, w);
  nibbles_64(b.qs, w.u[0], w.u[1]);
  nibbles_64(b.qs + 64, w.u[2], w.u[3]);
}

struct Q4K {
  using Block = BlockQ4_K;
  static constexpr bool kPermuted = true;
  static void decode(const Block& b, DecodedK& w) { decode_low4(b, w); }
};

struct Q5K {
  using Block = BlockQ5_K;
  static constexpr bool kPermuted = true;
  static void decode(const Block& b, DecodedK& w) {
    decode_low4(b, w);
    // Fifth bit of value 64c + l is bit 2c of qh[l], of value 64c + 32 + l bit 2c + 1; vector t holds chunks
    // 2(t/2) and 2(t/2) + 1, low nibbles for even t.
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh)));
    const __m512i bit5 = _mm512_set1_epi8(0x10);
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      const int c = 2 * (t / 2), odd = t % 2;
      const __m512i sel = _mm512_inserti64x4(_mm512_set1_epi8(char(1 << (2 * c + odd))),
                                             _mm256_set1_epi8(char(1 << (2 * c + 2 + odd))), 1);
      w.u[t] = _mm512_mask_add_epi8(w.u[t], _mm512_test_epi8_mask(qh, sel), w.u[t], bit5);
    }
  }
};

struct Q6K {
  using Block = BlockQ6_K;
  static constexpr bool kPermuted = false;
  // u = q + 32 (0..63); the offset is taken back through the activation sums: dmin = 32 d, mins = scales.
  static void decode(const Block& b, DecodedK& w) {
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    w.mins = _mm256_cvtepi8_epi16(sc8);
    pair_scales(_mm512_zextsi256_si512(w.mins), true, w.sc);
    w.d = h2f(b.d);
    w.dmin = 32.0f * w.d;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
#pragma GCC unroll 4
    for (int h = 0; h < 2; ++h) {
      // See unpack_q6_k: low nibbles are values 128h + [0, 64), high nibbles 128h + [64, 128).
      const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
      const __m512i qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h)));
      const __m512i hs = _mm512_mask_blend_epi64(0xF0, qh2, _mm512_srli_epi16(qh2, 2));
      w.u[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(hs, m2), 4));
      w.u[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                       _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hs, 4), m2), 4));
    }
  }
};

// A Q8_K activation block rearranged for Q4_K / Q5_K weights: values in the order of DecodedK::u (32-value
// halves [32, 64) and [64, 96) of each 128 swapped), and `bsums` holding in lanes 8 + s the sum of sub-block
// s (two of the original sums) with zeros in lanes 0-7.
struct PreparedQ8K {
  int8_t qs[kQK_K];
  int16_t bsums[16];
  float d;
};

void prepare_q8k(const BlockQ8_K* a, int64_t nb, PreparedQ8K* out) {
  for (int64_t b = 0; b < nb; ++b) {
#pragma GCC unroll 4
    for (int h = 0; h < 2; ++h) {
      const int8_t* src = a[b].qs + 128 * h;
      int8_t* dst = out[b].qs + 128 * h;
      std::memcpy(dst, src, 32);
      std::memcpy(dst + 32, src + 64, 32);
      std::memcpy(dst + 64, src + 32, 32);
      std::memcpy(dst + 96, src + 96, 32);
    }
    for (int s = 0; s < 8; ++s) {
      out[b].bsums[s] = 0;
      out[b].bsums[8 + s] = int16_t(a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
    }
    out[b].d = a[b].d;
  }
}

// The exact integer sums of a super-block: lane 0 = the sum of isum's 16 lanes, lane 8 = the sum of mins' 8 lanes
// (integer adds: any order gives the same sums).
inline __m512i block_sums(__m512i isum, __m256i mins) {
  const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
  __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(s8), mins, 1);
  v = _mm512_add_epi32(v, _mm512_shuffle_i32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));
  return _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB));
}

// Each output is the GEMM's chain (gemm_4x4), so that one activation row gets the same bits alone or with others:
// per super-block, the exact integer sum isum of scale * quant * a (Q6_K: of scale * (u - 32) * a) converted to
// float and added as acc = fma(isum, d * da, acc), then (Q4_K / Q5_K) acc = fma(-msum, dmin * da, acc) with msum
// the exact sum of min * activation sub-block sums.
template <typename K, int NA, typename Act>
void gemv_k(int64_t nb, const uint8_t* w, size_t w_stride, int64_t nw, const Act* const* a, float* out,
            int64_t ldo) {
  for (int64_t j = 0; j < nw; ++j) {
    const auto* blocks = reinterpret_cast<const typename K::Block*>(w + size_t(j) * w_stride);
    __m128 acc[NA];
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i) acc[i] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      DecodedK wd;
      K::decode(blocks[b], wd);
#pragma GCC unroll 4
      for (int i = 0; i < NA; ++i) {
        const Act& ab = a[i][b];
        // VPDPBUSD lanes are at most 4 * 63 * 127 < 2^15: packed to int16 and scaled with one VPMADDWD.
        __m512i dot[4];
#pragma GCC unroll 4
        for (int t = 0; t < 4; ++t)
          dot[t] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wd.u[t], _mm512_loadu_si512(ab.qs + 64 * t));
        const __m512i isum = _mm512_add_epi32(_mm512_madd_epi16(_mm512_packs_epi32(dot[0], dot[1]), wd.sc[0]),
                                              _mm512_madd_epi16(_mm512_packs_epi32(dot[2], dot[3]), wd.sc[1]));
        const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.bsums));
        const __m512i sums = block_sums(isum, _mm256_madd_epi16(bs, wd.mins));
        const __m128i s = _mm512_castsi512_si128(sums), m = _mm512_extracti32x4_epi32(sums, 2);
        if constexpr (K::kPermuted) {
          acc[i] = _mm_fmadd_ss(_mm_cvtepi32_ps(s), _mm_set_ss(wd.d * ab.d), acc[i]);
          acc[i] = _mm_fnmadd_ss(_mm_cvtepi32_ps(m), _mm_set_ss(wd.dmin * ab.d), acc[i]);
        } else {
          // Q6_K: u = q + 32 and mins = scales, so isum - 32 * msum is the sum of scale * q * a.
          const __m128i q = _mm_sub_epi32(s, _mm_slli_epi32(m, 5));
          acc[i] = _mm_fmadd_ss(_mm_cvtepi32_ps(q), _mm_set_ss(wd.d * ab.d), acc[i]);
        }
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i) out[i * ldo + j] = _mm_cvtss_f32(acc[i]);
  }
}

template <typename K>
void gemv_tile(int64_t nb, const void* w, size_t w_stride, int64_t nw, const uint8_t* a, size_t a_stride, int64_t na,
               float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  auto run = [&](const auto* const* ar) {
    if (na == 1) gemv_k<K, 1>(nb, wb, w_stride, nw, ar, out, ldo);
    else if (na == 2) gemv_k<K, 2>(nb, wb, w_stride, nw, ar, out, ldo);
    else gemv_k<K, 3>(nb, wb, w_stride, nw, ar, out, ldo);
  };
  if constexpr (K::kPermuted) {
    thread_local Scratch buf;
    PreparedQ8K* prep = buf.get<PreparedQ8K>(size_t(3 * nb));
    const PreparedQ8K* ar[3];
    for (int64_t i = 0; i < na; ++i) {
      prepare_q8k(reinterpret_cast<const BlockQ8_K*>(a + size_t(i) * a_stride), nb, prep + i * nb);
      ar[i] = prep + i * nb;
    }
    run(ar);
  } else {
    const BlockQ8_K* ar[3];
    for (int64_t i = 0; i < na; ++i) ar[i] = reinterpret_cast<const BlockQ8_K*>(a + size_t(i) * a_stride);
    run(ar);
  }
}

// ---- GEMM (4 or more activation rows). A panel of kPanelRows weight rows is expanded once per tile call into
// int16 products scale * quant in value order (|scale * q| <= 63 * 31 for Q5_K, 128 * 32 for Q6_K: int16), so
// the inner loop is one VPDPWSSD per 32 values per (weight row, activation row) pair with no scale work; the
// 4 x 4 int32 accumulators are reduced per super-block to one vector whose lane 4i + r is the exact integer sum
// of activation row i and weight row r, then scaled in float. The mins are a second small VPDPWSSD on
// (min, min) pairs against the activation's sub-block sums.
constexpr int kPanelRows = 4;

struct alignas(64) PanelBlock {
  int16_t w[kPanelRows][kQK_K];
  int32_t min_pairs[4][kPanelRows];  // [p][r]: int16 mins 2p and 2p + 1 of row r
  float d[kPanelRows], dmin[kPanelRows];
};

// One super-block of weight row r into the panel.
template <typename K>
void expand_block(const typename K::Block& b, PanelBlock& pb, int r) {
  DecodedK wd;
  K::decode(b, wd);
  pb.d[r] = wd.d;
  int16_t* w = pb.w[r];
  if constexpr (K::kPermuted) {
    alignas(16) uint8_t sm[16];  // 8 scales, 8 mins
    _mm_store_si128(reinterpret_cast<__m128i*>(sm), k4_scales_then_mins(b.scales));
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        const int sb = 4 * (t / 2) + t % 2 + 2 * half;  // see nibbles_64
        const __m256i q = half ? _mm512_extracti64x4_epi64(wd.u[t], 1) : _mm512_castsi512_si256(wd.u[t]);
        _mm512_store_si512(w + 32 * sb, _mm512_mullo_epi16(_mm512_cvtepu8_epi16(q), _mm512_set1_epi16(sm[sb])));
      }
    }
    for (int p = 0; p < 4; ++p) pb.min_pairs[p][r] = int32_t(uint32_t(sm[8 + 2 * p]) | (uint32_t(sm[9 + 2 * p]) << 16));
    pb.dmin[r] = wd.dmin;
  } else {
    const __m512i offset = _mm512_set1_epi16(32);
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        const int g = 4 * t + 2 * half;  // two 16-value scale groups per 32 values
        const __m256i q = half ? _mm512_extracti64x4_epi64(wd.u[t], 1) : _mm512_castsi512_si256(wd.u[t]);
        const __m512i sc = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(b.scales[g])),
                                              _mm256_set1_epi16(b.scales[g + 1]), 1);
        _mm512_store_si512(w + 32 * (2 * t + half),
                           _mm512_mullo_epi16(_mm512_sub_epi16(_mm512_cvtepu8_epi16(q), offset), sc));
      }
    }
    for (int p = 0; p < 4; ++p) pb.min_pairs[p][r] = 0;
    pb.dmin[r] = 0.0f;
  }
}

// Sums of the 16 lanes of s[r][i] (r, i < 4) into lane 4i + r: pairwise within 128-bit lanes, then across them.
inline __m512i reduce_4x4(const __m512i s[4][4]) {
  __m512i z[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    const __m512i a01 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[0][i], s[1][i]), _mm512_unpackhi_epi32(s[0][i], s[1][i]));
    const __m512i a23 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[2][i], s[3][i]), _mm512_unpackhi_epi32(s[2][i], s[3][i]));
    z[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(a01, a23), _mm512_unpackhi_epi64(a01, a23));  // 128-bit lane L: r0..r3
  }
  const __m512i u01 = _mm512_add_epi32(_mm512_shuffle_i32x4(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm512_shuffle_i32x4(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i u23 = _mm512_add_epi32(_mm512_shuffle_i32x4(z[2], z[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm512_shuffle_i32x4(z[2], z[3], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i32x4(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Activation sub-block sums for the mins: 8 int16 per super-block, bsums added in pairs.
void pair_sums(const BlockQ8_K* a, int64_t nb, int16_t* out) {
  for (int64_t b = 0; b < nb; ++b)
    for (int s = 0; s < 8; ++s) out[8 * b + s] = int16_t(a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
}

// 4 activation rows (a[i], their pair sums ps[i]) against one panel; out[i * ldo + r] for i < na, r < nw.
template <bool kMins>
void gemm_4x4(int64_t nb, const PanelBlock* panel, const BlockQ8_K* const* a, const int16_t* const* ps, int na,
              int nw, float* out, int64_t ldo) {
  __m512 acc = _mm512_setzero_ps();
  const __m512i lane_row = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  for (int64_t b = 0; b < nb; ++b) {
    const PanelBlock& pb = panel[b];
    __m512i s[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) s[r][i] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int c = 0; c < kQK_K / 32; ++c) {
      __m512i av[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i)
        av[i] = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i][b].qs + 32 * c)));
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        const __m512i wv = _mm512_load_si512(pb.w[r] + 32 * c);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) s[r][i] = _mm512_dpwssd_epi32(s[r][i], wv, av[i]);
      }
    }
    const __m512 da = _mm512_permutexvar_ps(
        lane_row, _mm512_castps128_ps512(_mm_setr_ps(a[0][b].d, a[1][b].d, a[2][b].d, a[3][b].d)));
    const __m512 dw = _mm512_broadcast_f32x4(_mm_load_ps(pb.d));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(reduce_4x4(s)), _mm512_mul_ps(dw, da), acc);
    if constexpr (kMins) {
      // Lane 4i + r, int32 word p: (ps[i][2p], ps[i][2p + 1]) against (min[r][2p], min[r][2p + 1]).
      __m512i q = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ps[0] + 8 * b)));
      q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ps[1] + 8 * b)), 1);
      q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ps[2] + 8 * b)), 2);
      q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ps[3] + 8 * b)), 3);
      __m512i m = _mm512_setzero_si512();
      m = _mm512_dpwssd_epi32(m, _mm512_shuffle_epi32(q, _MM_PERM_AAAA), _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(pb.min_pairs[0]))));
      m = _mm512_dpwssd_epi32(m, _mm512_shuffle_epi32(q, _MM_PERM_BBBB), _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(pb.min_pairs[1]))));
      m = _mm512_dpwssd_epi32(m, _mm512_shuffle_epi32(q, _MM_PERM_CCCC), _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(pb.min_pairs[2]))));
      m = _mm512_dpwssd_epi32(m, _mm512_shuffle_epi32(q, _MM_PERM_DDDD), _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(pb.min_pairs[3]))));
      const __m512 dm = _mm512_broadcast_f32x4(_mm_load_ps(pb.dmin));
      acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m), _mm512_mul_ps(dm, da), acc);
    }
  }
  alignas(64) float res[16];
  _mm512_store_ps(res, acc);
  const __mmask8 cols = __mmask8((1u << nw) - 1);
  for (int i = 0; i < na; ++i) _mm_mask_storeu_ps(out + i * ldo, cols, _mm_load_ps(res + 4 * i));
}

template <typename K>
void tile_k(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  const int64_t nb = k / kQK_K;
  if (na < 4) {
    gemv_tile<K>(nb, w, w_stride, nw, static_cast<const uint8_t*>(a), a_stride, na, out, ldo);
    return;
  }
  auto a_row = [&](int64_t i) {
    return reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
  };
  thread_local Scratch panel_buf, sums_buf;
  PanelBlock* panel = panel_buf.get<PanelBlock>(size_t(nb));
  int16_t* sums = nullptr;
  if constexpr (K::kPermuted) {
    sums = sums_buf.get<int16_t>(size_t(na * nb * 8));
    for (int64_t i = 0; i < na; ++i) pair_sums(a_row(i), nb, sums + i * nb * 8);
  }
  for (int64_t j0 = 0; j0 < nw; j0 += kPanelRows) {
    const int rows = int(std::min<int64_t>(kPanelRows, nw - j0));
    for (int r = 0; r < kPanelRows; ++r) {
      // Rows past the end of the matrix compute on a copy of its last row; their results are not stored.
      const auto* blocks = reinterpret_cast<const typename K::Block*>(static_cast<const uint8_t*>(w) +
                                                                      size_t(j0 + std::min(r, rows - 1)) * w_stride);
      for (int64_t b = 0; b < nb; ++b) expand_block<K>(blocks[b], panel[b], r);
    }
    for (int64_t i0 = 0; i0 < na; i0 += 4) {
      const int n_act = int(std::min<int64_t>(4, na - i0));
      const BlockQ8_K* ar[4];
      const int16_t* ps[4];
      for (int i = 0; i < 4; ++i) {
        const int64_t row = i0 + std::min(i, n_act - 1);
        ar[i] = a_row(row);
        ps[i] = sums ? sums + row * nb * 8 : nullptr;
      }
      gemm_4x4<K::kPermuted>(nb, panel, ar, ps, n_act, rows, out + i0 * ldo + j0, ldo);
    }
  }
}

}  // namespace

void init_avx512_kquant(KernelSet& ks) {
  ks.for_type(DType::Q4_K) = {DType::Q8_K, quantize_row_q8_K_avx512, tile_k<Q4K>, kPanelRows, 0};
  ks.for_type(DType::Q5_K) = {DType::Q8_K, quantize_row_q8_K_avx512, tile_k<Q5K>, kPanelRows, 0};
  ks.for_type(DType::Q6_K) = {DType::Q8_K, quantize_row_q8_K_avx512, tile_k<Q6K>, kPanelRows, 0};
}

}  // namespace hearth::cpu
#endif
