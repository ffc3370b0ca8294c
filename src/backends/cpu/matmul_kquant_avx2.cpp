// AVX2 matmul kernels for the K-quants (Q4_K, Q5_K, Q6_K) against Q8_K activations.
//
// The integer sums are the scalar kernel's (matmul_scalar.cpp), per 256-value super-block:
//   Q4_K/Q5_K: d * da * sum_s(scale_s * sum(u * a)) - dmin * da * sum_s(min_s * bsum_s)
//   Q6_K:      d * da * sum_s(scale_s * sum((u - 32) * a)), taken as sum_s(scale_s * sum(u * a)) minus
//              32 * sum_s(scale_s * bsum_s): the weights stay unsigned (u = q + 32) for VPMADDUBSW.
// A 256-bit vector holds 32 values in the activation's order: one Q4_K/Q5_K sub-block (one scale) or two Q6_K
// groups of 16 (one scale per 128-bit half, which is where VPMADDUBSW/VPMADDWD keep them).
//
// Bounds (Q8_K activations are in [-127, 127]; 128 is assumed below to leave no doubt):
//   - VPMADDUBSW(u, a), u <= 63: a pair sums to at most 2 * 63 * 128 = 16128 < 32768, so it never saturates.
//   - VPMADDWD with the int16 scales (|scale| <= 128): |lane| <= 2 * 16128 * 128 < 2^22, no overflow.
//   - The int32 lanes are converted to float every 256 values for Q4_K/Q5_K (each lane sums 32 products of
//     |u * scale * a| <= 31 * 63 * 128: < 2^23) and every 128 values for Q6_K (16 products of 63 * 128 * 128:
//     < 2^24), so conversions are exact and only the float summation order differs from the scalar kernel.
//   - The min terms: VPMADDWD of the 16 activation sums (|bsum| <= 16 * 128) with int16 mins or scales, two
//     per lane: |lane| <= 2 * 2048 * 128 < 2^20.
//
// Weight blocks are decoded from the mapped file straight into registers, 64 values at a time, and dotted with
// kRows weight rows x up to kActs activation rows per step: the activation loads are shared by the weight rows,
// the weight decode by the activation rows. Decode (1 to 3 activation rows) streams every weight row once.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels.h"

// GCC 12 warns inside its own intrinsics headers (their intentionally undefined pass-through operands).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace hearth::cpu {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Int16 lane pair (2i, 2i + 1) of each 128-bit half as a VPSHUFB control that repeats it across the half.
inline __m256i pick16(int lo_half, int hi_half) {
  return _mm256_set_m128i(_mm_set1_epi16(int16_t((2 * hi_half) | ((2 * hi_half + 1) << 8))),
                          _mm_set1_epi16(int16_t((2 * lo_half) | ((2 * lo_half + 1) << 8))));
}

// 64 weight values [64c, 64c + 64) of a super-block: u[t] holds values 64c + 32t + [0, 32), sc[t] their int16
// scales (VPMADDWD operands).
struct Chunk {
  __m256i u[2];
  __m256i sc[2];
};

// Q4_K / Q5_K: 64-bit words of the eight 6-bit scales and of the eight 6-bit mins from the 12 packed bytes
// (words w0, w1, w2): scales 0-3 / mins 0-3 are the low 6 bits of w0 / w1; scales 4-7 / mins 4-7 take their low
// 4 bits from the low / high nibbles of w2 and their top 2 bits from the top bits of w0 / w1.
inline __m128i k4_scales_then_mins(const uint8_t* packed) {
  uint32_t w[3];
  std::memcpy(w, packed, sizeof w);
  const uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, top2 = 0x30303030u;
  const uint64_t scales = (w[0] & lo6) | uint64_t((w[2] & lo4) | ((w[0] >> 2) & top2)) << 32;
  const uint64_t mins = (w[1] & lo6) | uint64_t(((w[2] >> 4) & lo4) | ((w[1] >> 2) & top2)) << 32;
  return _mm_set_epi64x(int64_t(mins), int64_t(scales));
}

// Scales, mins and low 4 bits of Q4_K / Q5_K, which lay them out alike: in chunk c, the low nibbles of bytes
// qs[32c + l] are values 64c + l (sub-block 2c), their high nibbles values 64c + 32 + l (sub-block 2c + 1).
template <typename Block>
struct Low4Decoded {
  const uint8_t* qs;
  __m256i scales;  // the 8 int16 scales, in both 128-bit halves
  __m256i mins;    // min s in int16 lanes 2s and 2s + 1: the lanes of Q8_K's bsums it multiplies
  float d, dmin;

  void load(const Block& b) {
    qs = b.qs;
    const __m128i sm = k4_scales_then_mins(b.scales);
    scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
    d = h2f(b.d);
    dmin = h2f(b.dmin);
  }
  void low4(int c, Chunk& ch) const {
    const __m256i q = load256(qs + 32 * c), m4 = _mm256_set1_epi8(0x0F);
    ch.u[0] = _mm256_and_si256(q, m4);
    ch.u[1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    ch.sc[0] = _mm256_shuffle_epi8(scales, pick16(2 * c, 2 * c));
    ch.sc[1] = _mm256_shuffle_epi8(scales, pick16(2 * c + 1, 2 * c + 1));
  }
};

struct Q4K {
  using Block = BlockQ4_K;
  static constexpr int kChunksPerConvert = 4;
  struct Decoded : Low4Decoded<Block> {
    void chunk(int c, Chunk& ch) const { this->low4(c, ch); }
  };
};

struct Q5K {
  using Block = BlockQ5_K;
  static constexpr int kChunksPerConvert = 4;
  struct Decoded : Low4Decoded<Block> {
    __m256i qh;  // fifth bit of value 64c + l: bit 2c of qh[l]; of value 64c + 32 + l: bit 2c + 1
    void load(const Block& b) {
      Low4Decoded<Block>::load(b);
      qh = load256(b.qh);
    }
    void chunk(int c, Chunk& ch) const {
      this->low4(c, ch);
      // After the 16-bit shift each byte's bits 0 and 1 are its own bits 2c and 2c + 1 (2c + 1 <= 7).
      const __m256i h = _mm256_srli_epi16(qh, 2 * c);
      ch.u[0] = _mm256_or_si256(ch.u[0], _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(1)), 4));
      ch.u[1] = _mm256_or_si256(ch.u[1], _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(2)), 3));
    }
  };
};

struct Q6K {
  using Block = BlockQ6_K;
  static constexpr int kChunksPerConvert = 2;
  struct Decoded {
    const Block* b;
    __m256i scales[2];  // int16 scales 0-7 / 8-15, in both 128-bit halves
    __m256i mins;       // the 16 scales: times 32 * d they take the +32 of u back out through bsums
    float d, dmin;

    void load(const Block& blk) {
      b = &blk;
      const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales));
      scales[0] = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(s8));
      scales[1] = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(s8, 8)));
      mins = _mm256_cvtepi8_epi16(s8);
      d = h2f(blk.d);
      dmin = 32.0f * d;
    }
    // Half h (values 128h + [0, 128)) is 64 bytes of low nibbles ql and 32 bytes qh of four 2-bit high parts:
    // value l + 32j (l < 32) takes nibble (j / 2) of ql[l + 32 (j % 2)] and bits 2j, 2j + 1 of qh[l].
    // Chunk 2h holds j = 0, 1; chunk 2h + 1 holds j = 2, 3.
    void chunk(int c, Chunk& ch) const {
      const int h = c / 2, hi_nibble = c % 2;
      const uint8_t* ql = b->ql + 64 * h;
      const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
      const __m256i qh = _mm256_srli_epi16(load256(b->qh + 32 * h), 4 * hi_nibble);
#pragma GCC unroll 2
      for (int t = 0; t < 2; ++t) {
        const __m256i low = _mm256_and_si256(_mm256_srli_epi16(load256(ql + 32 * t), 4 * hi_nibble), m4);
        const __m256i high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * t), m2), 4);
        ch.u[t] = _mm256_or_si256(low, high);
        const int group = 4 * c + 2 * t;  // the 16-value groups of this vector: group, group + 1
        ch.sc[t] = _mm256_shuffle_epi8(scales[group / 8], pick16(group % 8, group % 8 + 1));
      }
    }
  };
};

// out[i * ldo + r] = dot(weight row w[r], activation row a[i]) for r < NR, i < NA.
template <typename K, int NR, int NA>
void dot_rows(int64_t nb, const typename K::Block* const* w, const BlockQ8_K* const* a, float* out, int64_t ldo) {
  __m256 acc[NR][NA];
#pragma GCC unroll 4
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i) acc[r][i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    typename K::Decoded wd[NR];
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) wd[r].load(w[r][b]);
    __m256i isum[NR][NA];
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
      for (int i = 0; i < NA; ++i) isum[r][i] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      Chunk ch[NR];
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) wd[r].chunk(c, ch[r]);
#pragma GCC unroll 4
      for (int i = 0; i < NA; ++i) {
        const __m256i a0 = load256(a[i][b].qs + 64 * c), a1 = load256(a[i][b].qs + 64 * c + 32);
#pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
          const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(ch[r].u[0], a0), ch[r].sc[0]);
          const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(ch[r].u[1], a1), ch[r].sc[1]);
          isum[r][i] = _mm256_add_epi32(isum[r][i], _mm256_add_epi32(p0, p1));
        }
      }
      if ((c + 1) % K::kChunksPerConvert == 0) {
#pragma GCC unroll 4
        for (int i = 0; i < NA; ++i)
#pragma GCC unroll 4
          for (int r = 0; r < NR; ++r) {
            acc[r][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][i]), _mm256_set1_ps(wd[r].d * a[i][b].d), acc[r][i]);
            isum[r][i] = _mm256_setzero_si256();
          }
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i) {
      const __m256i bsums = load256(a[i][b].bsums);
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r)
        acc[r][i] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, wd[r].mins)),
                                     _mm256_set1_ps(wd[r].dmin * a[i][b].d), acc[r][i]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < NA; ++i)
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) out[i * ldo + r] = hsum(acc[r][i]);
}

// Weight rows per step, and activation rows per step (at most; fewer at the end of the tile).
constexpr int kRows = 2, kActs = 3;

template <typename K, int NR>
void dot_group(int na, int64_t nb, const typename K::Block* const* w, const BlockQ8_K* const* a, float* out,
               int64_t ldo) {
  switch (na) {
    case 3: dot_rows<K, NR, 3>(nb, w, a, out, ldo); break;
    case 2: dot_rows<K, NR, 2>(nb, w, a, out, ldo); break;
    default: dot_rows<K, NR, 1>(nb, w, a, out, ldo); break;
  }
}
static_assert(kActs == 3, "dot_group dispatches 1 to 3 activation rows");

template <typename K>
void tile_k(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  using Block = typename K::Block;
  const int64_t nb = k / kQK_K;
  auto w_row = [&](int64_t j) {
    return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
  };
  // Weight rows outer: their few blocks stay in L1 while every activation row passes by.
  for (int64_t j0 = 0; j0 < nw; j0 += kRows) {
    const int nr = int(std::min<int64_t>(kRows, nw - j0));
    const Block* wr[kRows];
    for (int r = 0; r < nr; ++r) wr[r] = w_row(j0 + r);
    for (int64_t i0 = 0; i0 < na; i0 += kActs) {
      const int g = int(std::min<int64_t>(kActs, na - i0));
      const BlockQ8_K* ar[kActs];
      for (int i = 0; i < g; ++i)
        ar[i] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + size_t(i0 + i) * a_stride);
      float* o = out + i0 * ldo + j0;
      if (nr == kRows) dot_group<K, kRows>(g, nb, wr, ar, o, ldo);
      else dot_group<K, 1>(g, nb, wr, ar, o, ldo);
    }
  }
}

}  // namespace

void init_avx2_kquant(KernelSet& ks) {
  ks.for_type(DType::Q4_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q4K>, kRows};
  ks.for_type(DType::Q5_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q5K>, kRows};
  ks.for_type(DType::Q6_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q6K>, kRows};
}

}  // namespace hearth::cpu
#endif
