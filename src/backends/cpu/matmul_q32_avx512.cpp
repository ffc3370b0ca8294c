// AVX-512 (F, BW, VL, DQ, VNNI) matmul kernels for the 32-value block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1).
//
// 16 weight rows form a panel whose every 512-bit vector holds 4 consecutive values of each of the 16 rows, so
// one VPDPBUSD with a broadcast activation word does 64 MACs for 16 outputs at once; up to kChunk activation
// rows are kept in accumulators. Activations are repacked per tile call so that one chunk's words for a block
// are contiguous.
// Panels are packed per tile call. With fewer than kGemmRows activation rows (GEMV, token generation) the weight
// rows are read in place, two blocks at a time (Q4_0: four), dotted with each activation row.
// Quantized weights are unpacked to unsigned bytes u with value = d * (u - offset) (+ m), so VPDPBUSD's
// unsigned operand is the weight; the offset is folded back exactly as -offset * sum(a) per block.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx512.h"
#include "core/fp16.h"

namespace hearth::cpu {
namespace {

using namespace avx512;

constexpr int64_t kGemmRows = 4;  // from this many activation rows on, repacking a weight panel pays
constexpr int kChunk = 12;        // activation rows per micro-kernel call (2 * 12 accumulators + temporaries)
constexpr int kLanes = 16;        // weight rows per panel



// ---------------------------------------------------------------------------------------------------------
// 32-value block types.
inline __m256i nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}
inline __m256i fifth_bits(const uint8_t* qh) {
  return _mm256_and_si256(_mm256_movm_epi8(load_u32(qh)), _mm256_set1_epi8(0x10));
}
// Two blocks' 16 quant bytes -> [low nibbles 0, high nibbles 0, low nibbles 1, high nibbles 1].
inline __m512i nibbles2(const uint8_t* qs0, const uint8_t* qs1) {
  const __m256i q = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs0))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs1)), 1);
  const __m512i z = _mm512_castsi256_si512(q);
  const __m512i dup = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0));
  return _mm512_and_si512(_mm512_mask_blend_epi64(0xCC, dup, _mm512_srli_epi16(dup, 4)), _mm512_set1_epi8(0x0F));
}
inline __m512i fifth_bits2(const uint8_t* qh0, const uint8_t* qh1) {
  const uint64_t bits = uint64_t(load_u32(qh0)) | (uint64_t(load_u32(qh1)) << 32);
  return _mm512_maskz_mov_epi8(bits, _mm512_set1_epi8(0x10));
}

// Each type also says how its GEMM panel holds quants (kQuantVecs vectors per block, see pack_panel): Q4_0/Q4_1
// keep their 16 raw bytes (4 words: low nibbles are values 0..15, high nibbles 16..31, so word j holds groups j
// and j + 4), the others 8 words of unsigned bytes (quants()).
struct UQ8_0 {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 128;
  static constexpr bool kMin = false;
  static constexpr int kQuantVecs = 8;
  static __m256i quants(const Block& b) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)), _mm256_set1_epi8(char(0x80)));
  }
  static __m512i quants2(const Block& b0, const Block& b1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(quants(b0)), quants(b1), 1);
  }
  static float min(const Block&) { return 0.0f; }
};
struct UQ4_0 {
  using Block = BlockQ4_0;
  static constexpr int kQuantVecs = 4;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false;
  static __m256i quants(const Block& b) { return nibbles(b.qs); }
  static __m512i quants2(const Block& b0, const Block& b1) { return nibbles2(b0.qs, b1.qs); }
  static float min(const Block&) { return 0.0f; }
};
struct UQ4_1 {
  using Block = BlockQ4_1;
  static constexpr int kQuantVecs = 4;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static __m256i quants(const Block& b) { return nibbles(b.qs); }
  static __m512i quants2(const Block& b0, const Block& b1) { return nibbles2(b0.qs, b1.qs); }
  static float min(const Block& b) { return h2f(b.m); }
};
struct UQ5_0 {
  using Block = BlockQ5_0;
  static constexpr int kQuantVecs = 8;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false;
  static __m256i quants(const Block& b) { return _mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)); }
  static __m512i quants2(const Block& b0, const Block& b1) {
    return _mm512_or_si512(nibbles2(b0.qs, b1.qs), fifth_bits2(b0.qh, b1.qh));
  }
  static float min(const Block&) { return 0.0f; }
};
struct UQ5_1 {
  using Block = BlockQ5_1;
  static constexpr int kQuantVecs = 8;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static __m256i quants(const Block& b) { return _mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)); }
  static __m512i quants2(const Block& b0, const Block& b1) {
    return _mm512_or_si512(nibbles2(b0.qs, b1.qs), fifth_bits2(b0.qh, b1.qh));
  }
  static float min(const Block& b) { return h2f(b.m); }
};

// Activation block views: Q8_0, or Q8_1 (adds s = d * sum(q), used with the min of Q4_1/Q5_1).
template <typename A>
inline float act_s(const A& a) {
  if constexpr (std::is_same_v<A, BlockQ8_1>) return h2f(a.s);
  return 0.0f;
}

// -offset * sum of one activation block's 32 quants: SAD of the sign-flipped (biased) bytes against zero.
template <typename U>
inline int32_t act_corr(const int8_t* qs) {
  if constexpr (U::kOffset == 0) return 0;
  const __m256i biased = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)),
                                          _mm256_set1_epi8(char(0x80)));
  const __m256i sad = _mm256_sad_epu8(biased, _mm256_setzero_si256());
  const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
  const int64_t sum = _mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1) - 32 * 128;
  return int32_t(-U::kOffset * sum);
}

// Per activation row and block: scale, -offset * sum(q) and s.
template <typename U, typename A>
void act_block_info(const A* a, int64_t nb, float* d, int32_t* corr, float* s) {
  for (int64_t b = 0; b < nb; ++b) {
    d[b] = h2f(a[b].d);
    s[b] = act_s(a[b]);
    corr[b] = act_corr<U>(a[b].qs);
  }
}

// GEMV activations, per row and pair of blocks: both blocks' quants, -offset * sum(q) in lanes 0 and 8 (the
// first lane of each block's half of VPDPBUSD's output), and each block's scale across its half.
struct alignas(64) ActPair {
  __m512i q, corr;
  __m512 d;
};

template <typename U, typename A>
void pack_act_pairs(const A* a, int64_t nb, const float* d, const int32_t* corr, ActPair* out) {
  for (int64_t p = 0; p < nb / 2; ++p) {
    const A& a0 = a[2 * p];
    const A& a1 = a[2 * p + 1];
    out[p].q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a0.qs))),
                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a1.qs)), 1);
    out[p].corr = _mm512_maskz_set1_epi32(0x0001, corr[2 * p]);
    out[p].corr = _mm512_mask_set1_epi32(out[p].corr, 0x0100, corr[2 * p + 1]);
    out[p].d = _mm512_insertf32x8(_mm512_set1_ps(d[2 * p]), _mm256_set1_ps(d[2 * p + 1]), 1);
  }
}

template <typename U, typename A, int NA>
void gemv32_block(int64_t b, const typename U::Block* w, const A* const* a, const float* const* ad,
                  const int32_t* const* corr, const float* const* as, __m512* acc, float* accm) {
  const __m256i u = U::quants(w[b]);
  const float dw = h2f(w[b].d);
  for (int i = 0; i < NA; ++i) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i][b].qs));
    const __m256i dot = _mm256_dpbusd_epi32(_mm256_zextsi128_si256(_mm_cvtsi32_si128(corr[i][b])), u, av);
    const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(dw * ad[i][b]));
    acc[i] = _mm512_add_ps(acc[i], _mm512_castps256_ps512(f));
    if constexpr (U::kMin) accm[i] += U::min(w[b]) * as[i][b];
  }
}

template <typename U, typename A, int NA>
void gemv32_rows(int64_t nb, const typename U::Block* w, const A* const* a, const ActPair* const* pairs,
                 const float* const* ad, const int32_t* const* corr, const float* const* as, float* out, int64_t ldo) {
  __m512 acc[NA];
  float accm[NA];
  for (int i = 0; i < NA; ++i) acc[i] = _mm512_setzero_ps(), accm[i] = 0.0f;
  for (int64_t p = 0; p < nb / 2; ++p) {
    const auto& w0 = w[2 * p];
    const auto& w1 = w[2 * p + 1];
    const __m512i u = U::quants2(w0, w1);
    const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_set1_epi16(short(w0.d)), _mm_set1_epi16(short(w1.d)), 1));
    for (int i = 0; i < NA; ++i) {
      const ActPair& ap = pairs[i][p];
      const __m512i dot = _mm512_dpbusd_epi32(ap.corr, u, ap.q);
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, ap.d), acc[i]);
      if constexpr (U::kMin) accm[i] += U::min(w0) * as[i][2 * p] + U::min(w1) * as[i][2 * p + 1];
    }
  }
  if (nb % 2) gemv32_block<U, A, NA>(nb - 1, w, a, ad, corr, as, acc, accm);  // the last, unpaired block
  for (int i = 0; i < NA; ++i) out[i * ldo] = _mm512_reduce_add_ps(acc[i]) + accm[i];
}

// Q4_0 GEMV, the token-generation hot loop: four blocks (72 bytes) per step. Their 4 scales go to one vector by
// a VPERMW, and activations are regrouped once per call to match the raw nibbles (low nibbles of the 4 blocks,
// then high nibbles), so a step is 2 VPDPBUSD + 1 FMA per activation row. Weight rows are read one after the
// other with 16-byte loads: interleaving 4 rows per pass or loading the 72 bytes with two 64-byte loads was
// 1.5-2x faster from L2/L3 but almost 2x slower streaming from DRAM (115 MB of rows, 1 thread: 21 -> 11-13 GB/s).
struct alignas(64) ActQuad {
  __m512i lo, hi;  // values 0..15 then 16..31 of each block, block k in 128-bit lane k
  __m512i corr;    // -8 * sum(q) of block k in int32 lane 4k
  __m512 d;        // scale of block k in lanes 4k..4k+3
};

// Lane 4k..4k+3 <- word k: spreads the 4 blocks' scales over their lanes.
alignas(64) constexpr std::array<int16_t, 32> kQ4QuadScaleWords = [] {
  std::array<int16_t, 32> idx{};
  for (int w = 0; w < 32; ++w) idx[size_t(w)] = int16_t((w / 4) % 4);
  return idx;
}();

void pack_act_quads(const BlockQ8_0* a, int64_t n_quads, const float* d, const int32_t* corr, ActQuad* out) {
  const __m512i per_block = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  for (int64_t g = 0; g < n_quads; ++g) {
    const BlockQ8_0* ab = a + 4 * g;
    __m512i lo = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ab[0].qs)));
    __m512i hi = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ab[0].qs + 16)));
    lo = _mm512_inserti32x4(lo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ab[1].qs)), 1);
    hi = _mm512_inserti32x4(hi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ab[1].qs + 16)), 1);
    lo = _mm512_inserti32x4(lo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ab[2].qs)), 2);
    hi = _mm512_inserti32x4(hi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ab[2].qs + 16)), 2);
    lo = _mm512_inserti32x4(lo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ab[3].qs)), 3);
    hi = _mm512_inserti32x4(hi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(ab[3].qs + 16)), 3);
    out[g].lo = lo;
    out[g].hi = hi;
    out[g].corr = _mm512_maskz_permutexvar_epi32(
        0x1111, per_block, _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(corr + 4 * g))));
    out[g].d = _mm512_permutexvar_ps(per_block, _mm512_castps128_ps512(_mm_loadu_ps(d + 4 * g)));
  }
}

template <int NA>
void gemv_q4_0_row(int64_t nb, const uint8_t* w, const BlockQ8_0* const* a, const ActQuad* const* quads,
                   const float* const* ad, const int32_t* const* corr, float* out, int64_t ldo) {
  const int64_t n_quads = nb / 4;
  const __m512i scale_words = _mm512_load_si512(kQ4QuadScaleWords.data());
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc[NA];
#pragma GCC unroll 4
  for (int i = 0; i < NA; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t g = 0; g < n_quads; ++g) {
    const uint8_t* p = w + size_t(g) * 4 * sizeof(BlockQ4_0);
    __m512i q = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
#pragma GCC unroll 4
    for (int k = 1; k < 4; ++k)
      q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k * sizeof(BlockQ4_0) + 2)), k);
    uint64_t scales = 0;
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      uint16_t d;
      std::memcpy(&d, p + k * sizeof(BlockQ4_0), 2);
      scales |= uint64_t(d) << (16 * k);
    }
    const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
    const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(
        _mm512_permutexvar_epi16(scale_words, _mm512_castsi128_si512(_mm_cvtsi64_si128(int64_t(scales))))));
#pragma GCC unroll 4
    for (int i = 0; i < NA; ++i) {
      const ActQuad& aq = quads[i][g];
      const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(aq.corr, lo, aq.lo), hi, aq.hi);
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, aq.d), acc[i]);
    }
  }
  const auto* wr = reinterpret_cast<const BlockQ4_0*>(w);
  float accm[NA] = {};
  for (int64_t b = 4 * n_quads; b < nb; ++b) gemv32_block<UQ4_0, BlockQ8_0, NA>(b, wr, a, ad, corr, nullptr, acc, accm);
#pragma GCC unroll 4
  for (int i = 0; i < NA; ++i) out[i * ldo] = _mm512_reduce_add_ps(acc[i]);
}

// Activation rows repacked for the GEMM micro-kernel: for each chunk of kChunk rows and block b, the rows'
// 32 quants side by side, their scales, offset corrections and sums.
struct PackedAct32 {
  std::vector<uint8_t> q;
  std::vector<float> d, s;
  std::vector<int32_t> corr;
};

template <typename U, typename A>
const PackedAct32& pack_act_chunks(int64_t nb, const void* a, size_t a_stride, int64_t na) {
  thread_local PackedAct32 pa;
  const int64_t n_chunks = (na + kChunk - 1) / kChunk;
  pa.q.resize(size_t(n_chunks * nb * kChunk * 32));
  pa.d.resize(size_t(n_chunks * nb * kChunk));
  pa.s.resize(pa.d.size());
  pa.corr.resize(pa.d.size());
  for (int64_t ch = 0; ch < n_chunks; ++ch) {
    const int64_t i0 = ch * kChunk;
    const int C = int(std::min<int64_t>(kChunk, na - i0));
    const size_t base = size_t(ch * nb * kChunk);
    for (int c = 0; c < C; ++c) {
      const A* ab = reinterpret_cast<const A*>(static_cast<const uint8_t*>(a) + size_t(i0 + c) * a_stride);
      for (int64_t b = 0; b < nb; ++b) {
        const size_t at = base + size_t(b * C + c);
        std::memcpy(pa.q.data() + at * 32, ab[b].qs, 32);
        pa.d[at] = h2f(ab[b].d);
        pa.s[at] = act_s(ab[b]);
        pa.corr[at] = act_corr<U>(ab[b].qs);
      }
    }
  }
  return pa;
}

// Weight panel of kLanes rows: first, per block, U::kQuantVecs vectors of quants in VNNI order (lane r of
// vector v = word v of row r); then the rows' F16 scales, 16 per block; then (Q4_1/Q5_1) their
// F16 mins; padded to whole cache lines. Rows past the end of the matrix are zero. Q8_0 and Q4_0 panels are
// as big as the source rows (plus the padding).
template <typename U>
size_t panel_bytes(int64_t nb) {
  const size_t raw = size_t(nb) * (size_t(U::kQuantVecs) * 64 + (U::kMin ? 64 : 32));
  return (raw + 63) / 64 * 64;
}

template <typename U>
struct PanelView {
  const __m512i* quants;  // nb * kQuantVecs vectors
  const uint16_t* scales;  // nb * 16
  const uint16_t* mins;    // nb * 16 (kMin only)
  PanelView(const void* panel, int64_t nb)
      : quants(static_cast<const __m512i*>(panel)),
        scales(reinterpret_cast<const uint16_t*>(quants + nb * U::kQuantVecs)),
        mins(scales + nb * kLanes) {}
};

// 4 words of each of 16 rows (piece[r]) to 4 vectors, out[v] lane r = word v of row r: the rows go to the 128-bit
// units of 4 vectors (z[i] unit j = row i + 4j) and a 4 x 4 word transpose within each unit finishes the job.
inline void transpose_words(const __m128i piece[kLanes], __m512i out[4]) {
  __m512i z[4];
  for (int i = 0; i < 4; ++i) {
    __m512i v = _mm512_castsi128_si512(piece[i]);
    v = _mm512_inserti32x4(v, piece[i + 4], 1);
    v = _mm512_inserti32x4(v, piece[i + 8], 2);
    z[i] = _mm512_inserti32x4(v, piece[i + 12], 3);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  out[0] = _mm512_unpacklo_epi64(t0, t2);
  out[1] = _mm512_unpackhi_epi64(t0, t2);
  out[2] = _mm512_unpacklo_epi64(t1, t3);
  out[3] = _mm512_unpackhi_epi64(t1, t3);
}

// Packed per GEMM tile call: with a few dozen activation rows (one sentence) packing costs about as much as the
// dot products, so it is done in registers, one block of all 16 rows at a time.
template <typename U>
void pack_panel(int64_t nb, const void* w, size_t w_stride, int rows, void* panel) {
  using Block = typename U::Block;
  if (rows < kLanes) std::memset(panel, 0, panel_bytes<U>(nb));
  auto* qv = static_cast<__m512i*>(panel);
  auto* scales = reinterpret_cast<uint16_t*>(qv + nb * U::kQuantVecs);
  uint16_t* mins = scales + nb * kLanes;
  const Block* wr[kLanes];
  for (int r = 0; r < rows; ++r)
    wr[r] = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + size_t(r) * w_stride);
  for (int64_t b = 0; b < nb; ++b) {
    __m128i lo[kLanes], hi[kLanes];  // words 0..3 and 4..7 of each row's panel words
    for (int r = 0; r < kLanes; ++r) {
      if (r >= rows) {
        lo[r] = hi[r] = _mm_setzero_si128();
      } else if constexpr (U::kQuantVecs == 4) {
        lo[r] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wr[r][b].qs));
      } else {
        const __m256i q = U::quants(wr[r][b]);
        lo[r] = _mm256_castsi256_si128(q);
        hi[r] = _mm256_extracti128_si256(q, 1);
      }
    }
    __m512i out[4];
    transpose_words(lo, out);
    for (int v = 0; v < 4; ++v) _mm512_store_si512(qv + b * U::kQuantVecs + v, out[v]);
    if constexpr (U::kQuantVecs == 8) {
      transpose_words(hi, out);
      for (int v = 0; v < 4; ++v) _mm512_store_si512(qv + b * U::kQuantVecs + 4 + v, out[v]);
    }
    for (int r = 0; r < rows; ++r) {
      scales[b * kLanes + r] = wr[r][b].d;
      if constexpr (U::kMin) mins[b * kLanes + r] = wr[r][b].m;
    }
  }
}

// One panel times C activation rows of a chunk (aq/ad/acorr/as: the chunk's packed activations). With few
// rows the 8 VPDPBUSD of a block would form one long dependency chain per row, so the groups are spread over
// S partial sums (integer sums: exact in any order).
template <typename U, int C>
void kernel32(int64_t nb, const void* panel, const uint8_t* aq, const float* ad, const int32_t* acorr,
              const float* as, float* out, int64_t ldo, __mmask16 mask) {
  constexpr int S = C == 1 ? 4 : C <= 3 ? 2 : 1;
  const PanelView<U> pv(panel, nb);
  __m512 acc[C];
#pragma GCC unroll 12
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m512i* pb = pv.quants + b * U::kQuantVecs;
    __m512i isum[S][C];
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c) {
      isum[0][c] = _mm512_set1_epi32(acorr[b * C + c]);
      for (int t = 1; t < S; ++t) isum[t][c] = _mm512_setzero_si512();
    }
    const uint8_t* q = aq + b * C * 32;
    auto dot_group = [&](__m512i wv, int g) {
#pragma GCC unroll 12
      for (int c = 0; c < C; ++c)
        isum[g % S][c] = _mm512_dpbusd_epi32(isum[g % S][c], wv, _mm512_set1_epi32(int(load_u32(q + c * 32 + g * 4))));
    };
    if constexpr (U::kQuantVecs == 4) {
      const __m512i low4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m512i raw = _mm512_load_si512(pb + j);
        dot_group(_mm512_and_si512(raw, low4), j);
        dot_group(_mm512_and_si512(_mm512_srli_epi16(raw, 4), low4), j + 4);
      }
    } else {
#pragma GCC unroll 8
      for (int g = 0; g < 8; ++g) dot_group(_mm512_load_si512(pb + g), g);
    }
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c)
      for (int t = 1; t < S; ++t) isum[0][c] = _mm512_add_epi32(isum[0][c], isum[t][c]);
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(pv.scales + b * kLanes)));
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c)
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[0][c]), _mm512_mul_ps(dw, _mm512_set1_ps(ad[b * C + c])), acc[c]);
    if constexpr (U::kMin) {
      const __m512 mv = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(pv.mins + b * kLanes)));
#pragma GCC unroll 12
      for (int c = 0; c < C; ++c) acc[c] = _mm512_fmadd_ps(mv, _mm512_set1_ps(as[b * C + c]), acc[c]);
    }
  }
#pragma GCC unroll 12
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(out + c * ldo, mask, acc[c]);
}

template <typename U, int C = kChunk>
void dispatch_kernel32(int rows, int64_t nb, const void* panel, const uint8_t* aq, const float* ad,
                       const int32_t* acorr, const float* as, float* out, int64_t ldo, __mmask16 mask) {
  if constexpr (C > 0) {
    if (rows == C) return kernel32<U, C>(nb, panel, aq, ad, acorr, as, out, ldo, mask);
    return dispatch_kernel32<U, C - 1>(rows, nb, panel, aq, ad, acorr, as, out, ldo, mask);
  }
}

// GEMM over nw weight rows; panel_at(p, rows) gives the panel of weight rows [16p, 16p + rows).
template <typename U, typename A, typename PanelAt>
void gemm32(int64_t nb, int64_t nw, const void* a, size_t a_stride, int64_t na, float* out, int64_t ldo,
            PanelAt panel_at) {
  const PackedAct32& pa = pack_act_chunks<U, A>(nb, a, a_stride, na);
  const int64_t n_chunks = (na + kChunk - 1) / kChunk;
  for (int64_t p0 = 0; p0 < nw; p0 += kLanes) {
    const int rows = int(std::min<int64_t>(kLanes, nw - p0));
    const void* panel = panel_at(p0 / kLanes, rows);
    const __mmask16 mask = __mmask16((1u << rows) - 1);
    for (int64_t ch = 0; ch < n_chunks; ++ch) {
      const int64_t i0 = ch * kChunk;
      const int C = int(std::min<int64_t>(kChunk, na - i0));
      const size_t base = size_t(ch * nb * kChunk);
      dispatch_kernel32<U>(C, nb, panel, pa.q.data() + base * 32, pa.d.data() + base, pa.corr.data() + base,
                           pa.s.data() + base, out + i0 * ldo + p0, ldo, mask);
    }
  }
}

// Few activation rows: weight rows read in place, block by block. (Reading 16-row panels instead takes 3x fewer
// instructions per weight byte, 60 against 20 GB/s per core from cache, but token generation got slower:
// llama-336m Q4_0 tg64 at 1 thread 47 -> 34-40 tokens/s with the panels in anonymous 4 KiB pages.)
template <typename U, typename A>
void gemv32(int64_t nb, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  using Block = typename U::Block;
  thread_local std::vector<float> info_d, info_s;
  thread_local std::vector<int32_t> info_corr;
  info_d.resize(size_t(na * nb));
  info_s.resize(size_t(na * nb));
  info_corr.resize(size_t(na * nb));
  thread_local Scratch pair_buf, quad_buf;
  ActPair* pairs = pair_buf.get<ActPair>(size_t(na * (nb / 2 + 1)));
  const A* ar[kGemmRows];
  const ActPair* pr[kGemmRows];
  const float *adp[kGemmRows], *asp[kGemmRows];
  const int32_t* acp[kGemmRows];
  for (int64_t i = 0; i < na; ++i) {
    ar[i] = reinterpret_cast<const A*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
    adp[i] = info_d.data() + i * nb, asp[i] = info_s.data() + i * nb, acp[i] = info_corr.data() + i * nb;
    act_block_info<U>(ar[i], nb, info_d.data() + i * nb, info_corr.data() + i * nb, info_s.data() + i * nb);
    pr[i] = pairs + i * (nb / 2 + 1);
    if constexpr (!std::is_same_v<U, UQ4_0>) pack_act_pairs<U>(ar[i], nb, adp[i], acp[i], pairs + i * (nb / 2 + 1));
  }
  if constexpr (std::is_same_v<U, UQ4_0>) {
    const ActQuad* qr[kGemmRows];
    ActQuad* quads = quad_buf.get<ActQuad>(size_t(na * (nb / 4 + 1)));
    for (int64_t i = 0; i < na; ++i) {
      qr[i] = quads + i * (nb / 4 + 1);
      pack_act_quads(ar[i], nb / 4, adp[i], acp[i], quads + i * (nb / 4 + 1));
    }
    for (int64_t j = 0; j < nw; ++j) {
      const uint8_t* wr = static_cast<const uint8_t*>(w) + size_t(j) * w_stride;
      if (na == 1) gemv_q4_0_row<1>(nb, wr, ar, qr, adp, acp, out + j, ldo);
      else if (na == 2) gemv_q4_0_row<2>(nb, wr, ar, qr, adp, acp, out + j, ldo);
      else gemv_q4_0_row<3>(nb, wr, ar, qr, adp, acp, out + j, ldo);
    }
    return;
  }
  for (int64_t j = 0; j < nw; ++j) {
    const Block* wr = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
    if (na == 1) gemv32_rows<U, A, 1>(nb, wr, ar, pr, adp, acp, asp, out + j, ldo);
    else if (na == 2) gemv32_rows<U, A, 2>(nb, wr, ar, pr, adp, acp, asp, out + j, ldo);
    else gemv32_rows<U, A, 3>(nb, wr, ar, pr, adp, acp, asp, out + j, ldo);
  }
}

// Unpacked weights: each panel is packed into scratch per call.
template <typename U, typename A>
void tile32(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  const int64_t nb = k / 32;
  if (na < kGemmRows) return gemv32<U, A>(nb, w, w_stride, nw, a, a_stride, na, out, ldo);
  thread_local Scratch panel_buf;
  void* panel = panel_buf.get<uint8_t>(panel_bytes<U>(nb));
  const size_t row_bytes = size_t(nb) * sizeof(typename U::Block);
  gemm32<U, A>(nb, nw, a, a_stride, na, out, ldo, [&](int64_t p, int rows) {
    const auto* src = static_cast<const uint8_t*>(w) + size_t(p * kLanes) * w_stride;
    pack_panel<U>(nb, src, w_stride, rows, panel);
    // The next panel's source rows are fetched from memory while this panel's dot products run: with a few
    // dozen activation rows (one sentence) the weights stream from DRAM and packing would otherwise wait on them.
    const int64_t next_rows = std::min<int64_t>(kLanes, nw - (p + 1) * kLanes);
    for (int64_t r = 0; r < next_rows; ++r)
      for (size_t off = 0; off < row_bytes; off += 64)
        _mm_prefetch(reinterpret_cast<const char*>(src + size_t(kLanes + r) * w_stride + off), _MM_HINT_T0);
    return panel;
  });
}

// Packed once at load (matrices prepared for batched products): panels of kLanes rows, back to back.
template <typename U>
size_t packed_bytes32(int64_t k, int64_t nw) {
  return size_t((nw + kLanes - 1) / kLanes) * panel_bytes<U>(k / 32);
}

template <typename U>
void pack32(int64_t k, const void* w, size_t w_stride, int64_t nw, void* dst) {
  const int64_t nb = k / 32;
  for (int64_t p0 = 0; p0 < nw; p0 += kLanes) {
    void* panel = static_cast<uint8_t*>(dst) + size_t(p0 / kLanes) * panel_bytes<U>(nb);
    pack_panel<U>(nb, static_cast<const uint8_t*>(w) + size_t(p0) * w_stride, w_stride,
                  int(std::min<int64_t>(kLanes, nw - p0)), panel);
  }
}

// Every row count goes through the panel micro-kernel (the source rows may be gone): the integer sums are those of
// tile32, but with fewer than kGemmRows rows the float sums are taken in another order than gemv32's.
template <typename U, typename A>
void tile32_packed(int64_t k, const void* packed, const void*, size_t, int64_t nw, const void* a, size_t a_stride,
                   int64_t na, float* out, int64_t ldo) {
  const int64_t nb = k / 32;
  const auto* panels = static_cast<const uint8_t*>(packed);
  gemm32<U, A>(nb, nw, a, a_stride, na, out, ldo,
               [&](int64_t p, int) { return panels + size_t(p) * panel_bytes<U>(nb); });
}

}  // namespace

void init_avx512_q32(KernelSet& ks) {
  // Packed at load only for batched products (encoders): there a sentence of ~30 tokens spent as long packing
  // panels per call as in the dot products. A decoder's matrices are packed per call: its token generation
  // reads the source rows (gemv32), and packing once gave pp512 no measurable gain (per-call packing is ~2% of a
  // 512-row GEMM).
  auto entry = [](DType act, QuantizeRowFn quantize, DotTileFn tile, PackedBytesFn bytes, PackFn pack,
                  PackedTileFn tile_packed) {
    MatmulKernel k{act, quantize, tile, kLanes, 0, bytes, pack, tile_packed};
    k.pack_batched_only = true;
    return k;
  };
  ks.for_type(DType::Q8_0) = entry(DType::Q8_0, quantize_row_q8_0_avx512, tile32<UQ8_0, BlockQ8_0>,
                                   packed_bytes32<UQ8_0>, pack32<UQ8_0>, tile32_packed<UQ8_0, BlockQ8_0>);
  ks.for_type(DType::Q4_0) = entry(DType::Q8_0, quantize_row_q8_0_avx512, tile32<UQ4_0, BlockQ8_0>,
                                   packed_bytes32<UQ4_0>, pack32<UQ4_0>, tile32_packed<UQ4_0, BlockQ8_0>);
  ks.for_type(DType::Q5_0) = entry(DType::Q8_0, quantize_row_q8_0_avx512, tile32<UQ5_0, BlockQ8_0>,
                                   packed_bytes32<UQ5_0>, pack32<UQ5_0>, tile32_packed<UQ5_0, BlockQ8_0>);
  ks.for_type(DType::Q4_1) = entry(DType::Q8_1, quantize_row_q8_1_avx512, tile32<UQ4_1, BlockQ8_1>,
                                   packed_bytes32<UQ4_1>, pack32<UQ4_1>, tile32_packed<UQ4_1, BlockQ8_1>);
  ks.for_type(DType::Q5_1) = entry(DType::Q8_1, quantize_row_q8_1_avx512, tile32<UQ5_1, BlockQ8_1>,
                                   packed_bytes32<UQ5_1>, pack32<UQ5_1>, tile32_packed<UQ5_1, BlockQ8_1>);
}

}  // namespace hearth::cpu
#endif

