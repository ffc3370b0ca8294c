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
// Weight blocks are decoded from the mapped file straight into registers, 64 values at a time, and dotted with up
// to kActs activation rows per step, which share the decode.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/kquant_scales_x86.h"

// GCC 12 warns inside its own intrinsics headers (their intentionally undefined pass-through operands).
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

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

// v shifted so that bit `from` of each byte lands on bit `to` (a 16-bit shift of |from - to| <= 4: what it brings
// over from the neighbouring byte lands on bits below `to` for a left shift, above `to` + 1 for a right shift, so
// masking bits `to` and `to` + 1 keeps only the byte's own).
inline __m256i move_bits(__m256i v, int from, int to) {
  return from <= to ? _mm256_slli_epi16(v, to - from) : _mm256_srli_epi16(v, from - to);
}

// VPSHUFB controls that repeat int16 lane lo of the low 128-bit half across that half and lane hi of the high half
// across the high half. Kept in memory so that each shuffle takes its control as a load operand.
struct alignas(32) Pick16 {
  int8_t bytes[32];
};
constexpr Pick16 pick16(int lo, int hi) {
  Pick16 p{};
  for (int i = 0; i < 32; ++i) p.bytes[i] = int8_t(2 * (i < 16 ? lo : hi) + i % 2);
  return p;
}
// Q4_K / Q5_K: sub-block s in both halves.
constexpr Pick16 kPickSubBlock[8] = {pick16(0, 0), pick16(1, 1), pick16(2, 2), pick16(3, 3),
                                     pick16(4, 4), pick16(5, 5), pick16(6, 6), pick16(7, 7)};
// Q6_K: 16-value groups 2p and 2p + 1 of a set of 8 scales.
constexpr Pick16 kPickGroupPair[4] = {pick16(0, 1), pick16(2, 3), pick16(4, 5), pick16(6, 7)};
inline __m256i shuffle16(__m256i v, const Pick16& p) {
  return _mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.bytes)));
}

// 64 weight values [64c, 64c + 64) of a super-block: u[t] holds values 64c + 32t + [0, 32), sc[t] their int16
// scales (VPMADDWD operands).
struct Chunk {
  __m256i u[2];
  __m256i sc[2];
};

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
    static_assert(offsetof(Block, d) == 0 && offsetof(Block, dmin) == 2);
    uint32_t d_dmin;  // the block's first 4 bytes: the two F16 fields, converted together
    std::memcpy(&d_dmin, &b, 4);
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(int(d_dmin)));
    d = _mm_cvtss_f32(f);
    dmin = _mm_cvtss_f32(_mm_movehdup_ps(f));
  }
  void low4(int c, Chunk& ch) const {
    const __m256i q = load256(qs + 32 * c), m4 = _mm256_set1_epi8(0x0F);
    ch.u[0] = _mm256_and_si256(q, m4);
    ch.u[1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    ch.sc[0] = shuffle16(scales, kPickSubBlock[2 * c]);
    ch.sc[1] = shuffle16(scales, kPickSubBlock[2 * c + 1]);
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
      const __m256i bit4 = _mm256_set1_epi8(0x10);
      ch.u[0] = _mm256_or_si256(ch.u[0], _mm256_and_si256(move_bits(qh, 2 * c, 4), bit4));
      ch.u[1] = _mm256_or_si256(ch.u[1], _mm256_and_si256(move_bits(qh, 2 * c + 1, 4), bit4));
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
      const __m256i m4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
      const __m256i qh = load256(b->qh + 32 * h);
#pragma GCC unroll 2
      for (int t = 0; t < 2; ++t) {
        const int j = 2 * hi_nibble + t;
        const __m256i low = _mm256_and_si256(_mm256_srli_epi16(load256(ql + 32 * t), 4 * hi_nibble), m4);
        ch.u[t] = _mm256_or_si256(low, _mm256_and_si256(move_bits(qh, 2 * j, 4), bits45));
        const int group = 4 * c + 2 * t;  // the 16-value groups of this vector: group, group + 1
        ch.sc[t] = shuffle16(scales[group / 8], kPickGroupPair[group % 8 / 2]);
      }
    }
  };
};

// out[i * ldo] = dot(weight row w, activation row a[i]) for i < NA.
template <typename K, int NA>
void dot_row(int64_t nb, const typename K::Block* w, const BlockQ8_K* const* a, float* out, int64_t ldo) {
  __m256 acc[NA];
#pragma GCC unroll 4
  for (int i = 0; i < NA; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    typename K::Decoded wd;
    wd.load(w[b]);
    __m256i isum[NA];
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i) isum[i] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      Chunk ch;
      wd.chunk(c, ch);
#pragma GCC unroll 4
      for (int i = 0; i < NA; ++i) {
        const int8_t* q = a[i][b].qs + 64 * c;
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(ch.u[0], load256(q)), ch.sc[0]);
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(ch.u[1], load256(q + 32)), ch.sc[1]);
        isum[i] = _mm256_add_epi32(isum[i], _mm256_add_epi32(p0, p1));
      }
      if ((c + 1) % K::kChunksPerConvert == 0) {
#pragma GCC unroll 4
        for (int i = 0; i < NA; ++i) {
          acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]), _mm256_set1_ps(wd.d * a[i][b].d), acc[i]);
          isum[i] = _mm256_setzero_si256();
        }
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i)
      acc[i] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(load256(a[i][b].bsums), wd.mins)),
                                _mm256_set1_ps(wd.dmin * a[i][b].d), acc[i]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < NA; ++i) out[i * ldo] = hsum(acc[i]);
}

// Activation rows per step. One weight row per step: with two, the decoded blocks and accumulators no longer fit
// in the 16 vector registers (GEMV 1.4x / 2.6x slower for Q4_K / Q6_K); more activation rows per step do not pay.
constexpr int kActs = 4;

// dot_row for the na <= NA activation rows left.
template <typename K, int NA>
void dot_group(int na, int64_t nb, const typename K::Block* w, const BlockQ8_K* const* a, float* out, int64_t ldo) {
  if constexpr (NA > 1) {
    if (na < NA) return dot_group<K, NA - 1>(na, nb, w, a, out, ldo);
  }
  dot_row<K, NA>(nb, w, a, out, ldo);
}

template <typename K>
void tile_k(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  using Block = typename K::Block;
  const int64_t nb = k / kQK_K;
  // Weight rows outer: a row's few blocks stay in L1 while every activation row passes by, and with 1 to 4
  // activation rows (decode) every weight row is read once.
  for (int64_t j = 0; j < nw; ++j) {
    const auto* wr = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
    for (int64_t i0 = 0; i0 < na; i0 += kActs) {
      const int g = int(std::min<int64_t>(kActs, na - i0));
      const BlockQ8_K* ar[kActs];
      for (int i = 0; i < g; ++i)
        ar[i] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + size_t(i0 + i) * a_stride);
      dot_group<K, kActs>(g, nb, wr, ar, out + i0 * ldo + j, ldo);
    }
  }
}

}  // namespace

void init_avx2_kquant(KernelSet& ks) {
  ks.for_type(DType::Q4_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q4K>, 1};
  ks.for_type(DType::Q5_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q5K>, 1};
  ks.for_type(DType::Q6_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<Q6K>, 1};
}

}  // namespace hearth::cpu
#endif
