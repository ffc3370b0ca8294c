// AVX-512 (F, BW, VL, DQ, VNNI) matmul kernels for the 32-value block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1).
//
// 16 weight rows form a panel whose every 512-bit vector holds 4 consecutive values of each of the 16 rows, so
// one VPDPBUSD with a broadcast activation word does 64 MACs for 16 outputs at once; up to kChunk activation
// rows are kept in accumulators. Activations are repacked per tile call so that one chunk's words for a block
// are contiguous.
// Matrices are packed into panels once, when they are prepared (decoders included); unpacked weights (an
// embedding table) are packed per tile call. Every row count, token generation's one row included, runs the same
// micro-kernel, so each output is one F32 chain over the blocks in order (batch invariance): per block, the exact
// integer sum times (weight scale * activation scale), then (Q4_1 / Q5_1) + min * activation sum.
// Quantized weights are unpacked to unsigned bytes u with value = d * (u - offset) (+ m), so VPDPBUSD's
// unsigned operand is the weight; the offset is folded back exactly as -offset * sum(a) per block.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx512.h"
#include "core/fp16.h"

namespace hearth::cpu {
namespace {

using namespace avx512;

constexpr int kChunk = 12;        // activation rows per micro-kernel call (2 * 12 accumulators + temporaries)
constexpr int kLanes = 16;        // weight rows per panel
constexpr int64_t kAhead = 8192;  // prefetch distance of the few-row micro-kernel, bytes



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
  static float min(const Block&) { return 0.0f; }
};
struct UQ4_0 {
  using Block = BlockQ4_0;
  static constexpr int kQuantVecs = 4;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false;
  static __m256i quants(const Block& b) { return nibbles(b.qs); }
  static float min(const Block&) { return 0.0f; }
};
struct UQ4_1 {
  using Block = BlockQ4_1;
  static constexpr int kQuantVecs = 4;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static __m256i quants(const Block& b) { return nibbles(b.qs); }
  static float min(const Block& b) { return h2f(b.m); }
};
struct UQ5_0 {
  using Block = BlockQ5_0;
  static constexpr int kQuantVecs = 8;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false;
  static __m256i quants(const Block& b) { return _mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)); }
  static float min(const Block&) { return 0.0f; }
};
struct UQ5_1 {
  using Block = BlockQ5_1;
  static constexpr int kQuantVecs = 8;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static __m256i quants(const Block& b) { return _mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)); }
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

// Weight panel of kLanes rows, block after block: U::kQuantVecs vectors of quants in VNNI order (lane r of vector
// v = word v of row r), then the rows' 16 F16 scales, then (Q4_1/Q5_1) their 16 F16 mins; padded to whole cache
// lines at the end. Rows past the end of the matrix are zero. One block's data is contiguous, so token generation
// reads a panel as one stream. Q8_0 and Q4_0 panels are as big as the source rows (plus the padding).
template <typename U>
constexpr size_t kBlockBytes = size_t(U::kQuantVecs) * 64 + (U::kMin ? 64 : 32);

template <typename U>
size_t panel_bytes(int64_t nb) {
  return (size_t(nb) * kBlockBytes<U> + 63) / 64 * 64;
}

template <typename U>
struct PanelView {
  const uint8_t* base;
  explicit PanelView(const void* panel) : base(static_cast<const uint8_t*>(panel)) {}
  const uint8_t* block(int64_t b) const { return base + size_t(b) * kBlockBytes<U>; }
  static __m512i quants(const uint8_t* blk, int v) { return _mm512_loadu_si512(blk + 64 * v); }
  static const uint16_t* scales(const uint8_t* blk) {
    return reinterpret_cast<const uint16_t*>(blk + 64 * U::kQuantVecs);
  }
  static const uint16_t* mins(const uint8_t* blk) { return scales(blk) + kLanes; }
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
  auto* base = static_cast<uint8_t*>(panel);
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
    uint8_t* blk = base + size_t(b) * kBlockBytes<U>;
    for (int v = 0; v < 4; ++v) _mm512_storeu_si512(blk + 64 * v, out[v]);
    if constexpr (U::kQuantVecs == 8) {
      transpose_words(hi, out);
      for (int v = 0; v < 4; ++v) _mm512_storeu_si512(blk + 64 * (4 + v), out[v]);
    }
    auto* scales = reinterpret_cast<uint16_t*>(blk + 64 * U::kQuantVecs);
    for (int r = 0; r < rows; ++r) {
      scales[r] = wr[r][b].d;
      if constexpr (U::kMin) scales[kLanes + r] = wr[r][b].m;
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
  const PanelView<U> pv(panel);
  __m512 acc[C];
#pragma GCC unroll 12
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pb = pv.block(b);
    if constexpr (C <= 3) {
      // Few rows (token generation) stream the panels from memory faster than the hardware prefetcher fetches
      // them: ask for the bytes kAhead further on (the rest of this panel, then the next ones: panels are stored
      // back to back). llama-336m Q4_0 tg, 1 thread: 75-85 tokens/s without; 95-120 with, when scales were stored
      // after all the quants of a panel; 125-138 with block-contiguous panels (the old GEMV on the source rows:
      // 125-133).
#pragma GCC unroll 10
      for (size_t off = 0; off < kBlockBytes<U>; off += 64)
        _mm_prefetch(reinterpret_cast<const char*>(pb) + kAhead + off, _MM_HINT_T0);
    }
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
        const __m512i raw = PanelView<U>::quants(pb, j);
        dot_group(_mm512_and_si512(raw, low4), j);
        dot_group(_mm512_and_si512(_mm512_srli_epi16(raw, 4), low4), j + 4);
      }
    } else {
#pragma GCC unroll 8
      for (int g = 0; g < 8; ++g) dot_group(PanelView<U>::quants(pb, g), g);
    }
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c)
      for (int t = 1; t < S; ++t) isum[0][c] = _mm512_add_epi32(isum[0][c], isum[t][c]);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(PanelView<U>::scales(pb))));
#pragma GCC unroll 12
    for (int c = 0; c < C; ++c)
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[0][c]), _mm512_mul_ps(dw, _mm512_set1_ps(ad[b * C + c])), acc[c]);
    if constexpr (U::kMin) {
      const __m512 mv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(PanelView<U>::mins(pb))));
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

// Unpacked weights: each panel is packed into scratch per call.
template <typename U, typename A>
void tile32(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  const int64_t nb = k / 32;
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

// Every row count goes through the panel micro-kernel (the source rows may be gone): the outputs of tile32, bit for
// bit.
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
  // Packed at load for every use. A decoder's token generation then streams the panels with the GEMM's
  // micro-kernel for one row (software-prefetched, see kernel32): the GEMM's float order, and about half the
  // instructions per weight byte of dotting the rows in place.
  auto entry = [](DType act, QuantizeRowFn quantize, DotTileFn tile, PackedBytesFn bytes, PackFn pack,
                  PackedTileFn tile_packed) {
    return MatmulKernel{act, quantize, tile, kLanes, 0, bytes, pack, tile_packed};
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

