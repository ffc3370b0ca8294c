// AVX-512 matmul kernels for the K-quants (Q4_K, Q5_K, Q6_K) against Q8_K activations.
//
// Each weight row is first unpacked, block by block, into unsigned quants u (so VPMADDUBSW multiplies them
// with the signed activations without saturating: u <= 63, |a| <= 127), 16-bit sub-block scales laid out to
// match VPMADDUBSW's pairs, and a min term; then kRows unpacked rows are dotted with every activation row.
// The integer sums are ggml's exactly:
//   Q4_K/Q5_K: d * da * sum(scale * u * a) - dmin * da * sum(min * bsum)
//   Q6_K:      d * da * sum(scale * (u - 32) * a), computed as the same form with min = 32 * scale, dmin = d.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx512.h"

namespace hearth::cpu {
namespace {

using namespace avx512;

constexpr int kRows = 4;  // weight rows dotted together (shares each activation load)

struct alignas(64) KBlock {
  __m512i u[4];   // 256 quants, 64 per vector in value order
  __m512i sc[4];  // int16 scale of each VPMADDUBSW pair of the matching u vector
  __m256i mins;   // int16 min of each 16-value group
  float d, dmin;
};

// Permutation indices: lane l of vector t (values 64t + 2l, 64t + 2l + 1) takes the scale of its group, for
// per-16 scales (Q6_K: group 4t + l/8) and per-32 scales (Q4_K/Q5_K: group 2t + l/16).
struct ScaleIndex {
  __m512i per16[4], per32[4];
  __m256i min_pairs;  // 16 lanes: min of group l/2 (the 8 mins sit in lanes 8..15 of the source)
  ScaleIndex() {
    alignas(64) int16_t a[32], b[32], m[16];
    for (int t = 0; t < 4; ++t) {
      for (int l = 0; l < 32; ++l) a[l] = int16_t(4 * t + l / 8), b[l] = int16_t(2 * t + l / 16);
      per16[t] = _mm512_load_si512(a);
      per32[t] = _mm512_load_si512(b);
    }
    for (int l = 0; l < 16; ++l) m[l] = int16_t(8 + l / 2);
    min_pairs = _mm256_load_si256(reinterpret_cast<const __m256i*>(m));
  }
};
const ScaleIndex kIdx;

inline __m512i low_high_nibbles(const uint8_t* q32) {
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q32));
  const __m256i m = _mm256_set1_epi8(0x0F);
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m)),
                            _mm256_and_si256(_mm256_srli_epi16(q, 4), m), 1);
}

// Q4_K / Q5_K: eight 6-bit (scale, min) pairs, one per 32 values, packed in 12 bytes: scales 0-3 and mins 0-3
// in the low 6 bits of bytes 0-7; scales/mins 4-7 take their low 4 bits from the nibbles of bytes 8-11 and
// their top 2 bits from the top bits of bytes 0-3 / 4-7. Rearranged with 32-bit ops into 8 scale bytes then
// 8 min bytes.
inline void k4_scales(const uint8_t* q, KBlock& kb) {
  uint32_t w[3];
  std::memcpy(w, q, 12);
  constexpr uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  const uint32_t sc_lo = w[0] & k6, mn_lo = w[1] & k6;
  const uint32_t sc_hi = (w[2] & k4) | (((w[0] >> 6) & k2) << 4);
  const uint32_t mn_hi = ((w[2] >> 4) & k4) | (((w[1] >> 6) & k2) << 4);
  const __m256i v = _mm256_cvtepu8_epi16(_mm_setr_epi32(int(sc_lo), int(sc_hi), int(mn_lo), int(mn_hi)));
  const __m512i v2 = _mm512_castsi256_si512(v);
  for (int t = 0; t < 4; ++t) kb.sc[t] = _mm512_permutexvar_epi16(kIdx.per32[t], v2);
  kb.mins = _mm256_permutexvar_epi16(kIdx.min_pairs, v);
}

void unpack_q4_k(const void* block, KBlock& kb) {
  const auto& b = *static_cast<const BlockQ4_K*>(block);
  kb.d = h2f(b.d);
  kb.dmin = h2f(b.dmin);
  k4_scales(b.scales, kb);
  for (int c = 0; c < 4; ++c) kb.u[c] = low_high_nibbles(b.qs + 32 * c);
}

void unpack_q5_k(const void* block, KBlock& kb) {
  const auto& b = *static_cast<const BlockQ5_K*>(block);
  kb.d = h2f(b.d);
  kb.dmin = h2f(b.dmin);
  k4_scales(b.scales, kb);
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
  const __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), qh, 1);
  for (int c = 0; c < 4; ++c) {
    // Fifth bit of value 64c + l is bit 2c of qh[l]; of value 64c + 32 + l, bit 2c + 1.
    const __m512i sel = _mm512_inserti64x4(_mm512_set1_epi8(char(1 << (2 * c))), _mm256_set1_epi8(char(2 << (2 * c))), 1);
    const __mmask64 hb = _mm512_test_epi8_mask(qh2, sel);
    kb.u[c] = _mm512_or_si512(low_high_nibbles(b.qs + 32 * c), _mm512_maskz_mov_epi8(hb, _mm512_set1_epi8(0x10)));
  }
}

void unpack_q6_k(const void* block, KBlock& kb) {
  const auto& b = *static_cast<const BlockQ6_K*>(block);
  kb.d = h2f(b.d);
  kb.dmin = kb.d;
  const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
  for (int t = 0; t < 4; ++t) kb.sc[t] = _mm512_permutexvar_epi16(kIdx.per16[t], _mm512_castsi256_si512(sc));
  kb.mins = _mm256_slli_epi16(sc, 5);  // 32 * scale: the -32 offset of every quant
  const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
  for (int h = 0; h < 2; ++h) {
    // Half h holds values 128h + [0, 128): 64 bytes of low nibbles (two 64-value vectors: low, then high
    // nibbles) and 32 bytes of 2-bit high parts (bits 0-1: values l, 2-3: l+32, 4-5: l+64, 6-7: l+96).
    const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
    const __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), qh, 1);
    const __m512i hs = _mm512_mask_blend_epi64(0xF0, qh2, _mm512_srli_epi16(qh2, 2));
    const __m512i hi_a = _mm512_slli_epi16(_mm512_and_si512(hs, m2), 4);
    const __m512i hi_b = _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hs, 4), m2), 4);
    kb.u[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), hi_a);
    kb.u[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hi_b);
  }
}

template <int R>
void dot_rows(int64_t nb, const KBlock* const* w, const BlockQ8_K* a, float* out) {
  __m512 acc[R];
  __m256 accm[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps(), accm[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i isum[R];
    for (int r = 0; r < R; ++r) isum[r] = _mm512_setzero_si512();
    for (int t = 0; t < 4; ++t) {
      const __m512i av = _mm512_loadu_si512(a[b].qs + 64 * t);
      for (int r = 0; r < R; ++r)
        isum[r] = _mm512_add_epi32(isum[r], _mm512_madd_epi16(_mm512_maddubs_epi16(w[r][b].u[t], av), w[r][b].sc[t]));
    }
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums));
    for (int r = 0; r < R; ++r) {
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), _mm512_set1_ps(w[r][b].d * a[b].d), acc[r]);
      accm[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, w[r][b].mins)),
                                _mm256_set1_ps(w[r][b].dmin * a[b].d), accm[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]) - hsum8(accm[r]);
}

// ---- GEMV (fewer than 4 activation rows): weight blocks are decoded straight from the mapped file into
// registers and dotted with VPDPBUSD, four values per int32 lane; each lane is then multiplied by the scale of
// its sub-block (VPMULLD). Every lane stays below 2^24 (|u| <= 63, |a| <= 127, |scale| <= 128, 4 values times
// 4 vectors), so converting lanes to float before the final sum is exact and only the float summation order
// differs from the scalar kernel.

// One weight super-block in registers: quants u[t] (values matching the activation vector t), the int32 scale
// of each VPDPBUSD lane, 16 int16 mins to be multiplied with the activation's `bsums` (VPMADDWD), d and dmin.
struct DecodedK {
  __m512i u[4], sc[4];
  __m256i mins;
  float d, dmin;
};

// The int32 scale of each VPDPBUSD lane of vector t (four values per lane), from 16 int32 scales in s32.
// Q6_K (per16): 16 scales of 16 values, vector t covers values [64t, 64t + 64). Q4_K / Q5_K: vector t holds
// sub-blocks 4(t/2) + t%2 (lanes 0-7) and the one two further on (lanes 8-15), see nibbles_64.
inline __m512i lane_scales(__m512i s32, int t, bool per16) {
  const int first = per16 ? 4 * t : 4 * (t / 2) + t % 2;
  const __m512i idx = per16 ? _mm512_add_epi32(_mm512_set1_epi32(first),
                                               _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3))
                            : _mm512_add_epi32(_mm512_set1_epi32(first),
                                               _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2));
  return _mm512_permutexvar_epi32(idx, s32);
}

// Q4_K / Q5_K's 12 scale bytes (see k4_scales) to 8 scale bytes then 8 min bytes, in 32-bit lanes: lanes
// [w0, w2, w1, w2] give scales 0-3, the low nibbles of w2, mins 0-3 and the high nibbles of w2; the top two
// bits of w0 / w1 complete scales / mins 4-7. Reads 16 bytes (the block goes on after its scales).
inline __m128i k4_scale_min_bytes(const uint8_t* q) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m128i a = _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 1, 2, 0));
  const __m128i b = _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 1, 0, 0));
  const __m128i lo = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)),
                                   _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
  const __m128i hi = _mm_and_si128(_mm_srli_epi32(b, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
  return _mm_or_si128(lo, hi);
}

inline void decode_k4_scales(const uint8_t* scales, uint16_t d, uint16_t dmin, DecodedK& w) {
  const __m128i sm = k4_scale_min_bytes(scales);
  const __m512i s32 = _mm512_cvtepu8_epi32(sm);
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t) w.sc[t] = lane_scales(s32, t, false);
  w.mins = _mm256_cvtepu8_epi16(sm);  // lanes 0-7 (scales) meet zero bsums in PreparedQ8K
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

struct Q4K {
  using Block = BlockQ4_K;
  static constexpr bool kPermuted = true;
  static void decode(const Block& b, DecodedK& w) {
    decode_k4_scales(b.scales, b.d, b.dmin, w);
    nibbles_64(b.qs, w.u[0], w.u[1]);
    nibbles_64(b.qs + 64, w.u[2], w.u[3]);
  }
};

struct Q5K {
  using Block = BlockQ5_K;
  static constexpr bool kPermuted = true;
  static void decode(const Block& b, DecodedK& w) {
    decode_k4_scales(b.scales, b.d, b.dmin, w);
    nibbles_64(b.qs, w.u[0], w.u[1]);
    nibbles_64(b.qs + 64, w.u[2], w.u[3]);
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
    const __m512i s32 = _mm512_cvtepi8_epi32(sc8);
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) w.sc[t] = lane_scales(s32, t, true);
    w.mins = _mm256_cvtepi8_epi16(sc8);
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

template <typename K, int NA, typename Act>
void gemv_k(int64_t nb, const uint8_t* w, size_t w_stride, int64_t nw, const Act* const* a, float* out,
            int64_t ldo) {
  for (int64_t j = 0; j < nw; ++j) {
    const auto* blocks = reinterpret_cast<const typename K::Block*>(w + size_t(j) * w_stride);
    __m512 acc[NA];
    __m256 accm[NA];
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i) acc[i] = _mm512_setzero_ps(), accm[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      DecodedK wd;
      K::decode(blocks[b], wd);
#pragma GCC unroll 4
      for (int i = 0; i < NA; ++i) {
        const Act& ab = a[i][b];
        __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int t = 0; t < 4; ++t) {
          const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wd.u[t], _mm512_loadu_si512(ab.qs + 64 * t));
          isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot, wd.sc[t]));
        }
        const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.bsums));
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(wd.d * ab.d), acc[i]);
        accm[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, wd.mins)), _mm256_set1_ps(wd.dmin * ab.d), accm[i]);
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i)
      out[i * ldo + j] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[i], _mm512_zextps256_ps512(accm[i])));
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

template <typename K, void (*Unpack)(const void*, KBlock&)>
void tile_k(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  const int64_t nb = k / kQK_K;
  using Block = typename K::Block;
  auto w_row = [&](int64_t j) {
    return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
  };
  auto a_row = [&](int64_t i) {
    return reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
  };
  if (na < 4) {
    gemv_tile<K>(nb, w, w_stride, nw, static_cast<const uint8_t*>(a), a_stride, na, out, ldo);
    return;
  }
  thread_local Scratch buf;
  KBlock* unpacked = buf.get<KBlock>(size_t(kRows * nb));
  for (int64_t j0 = 0; j0 < nw; j0 += kRows) {
    const int rows = int(std::min<int64_t>(kRows, nw - j0));
    const KBlock* wr[kRows];
    for (int r = 0; r < rows; ++r) {
      const Block* blocks = w_row(j0 + r);
      KBlock* dst = unpacked + r * nb;
      for (int64_t b = 0; b < nb; ++b) Unpack(&blocks[b], dst[b]);
      wr[r] = dst;
    }
    for (int64_t i = 0; i < na; ++i) {
      float res[kRows];
      switch (rows) {
        case 4: dot_rows<4>(nb, wr, a_row(i), res); break;
        case 3: dot_rows<3>(nb, wr, a_row(i), res); break;
        case 2: dot_rows<2>(nb, wr, a_row(i), res); break;
        default: dot_rows<1>(nb, wr, a_row(i), res); break;
      }
      for (int r = 0; r < rows; ++r) out[i * ldo + j0 + r] = res[r];
    }
  }
}

}  // namespace

void init_avx512_kquant(KernelSet& ks) {
  ks.for_type(DType::Q4_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q4K, unpack_q4_k>, kRows, 0};
  ks.for_type(DType::Q5_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q5K, unpack_q5_k>, kRows, 0};
  ks.for_type(DType::Q6_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q6K, unpack_q6_k>, kRows, 0};
}

}  // namespace hearth::cpu
#endif
