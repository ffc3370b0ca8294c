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

// One block of one weight row against NA activation rows: the GEMV path, unpacking straight into registers.
template <typename Block, void (*Unpack)(const void*, KBlock&), int NA>
void gemv_row(int64_t nb, const Block* w, const BlockQ8_K* const* a, float* out, int64_t ldo) {
  __m512 acc[NA];
  __m256 accm[NA];
  for (int i = 0; i < NA; ++i) acc[i] = _mm512_setzero_ps(), accm[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    KBlock kb;
    Unpack(&w[b], kb);
    for (int i = 0; i < NA; ++i) {
      const BlockQ8_K& ab = a[i][b];
      __m512i isum = _mm512_setzero_si512();
      for (int t = 0; t < 4; ++t)
        isum = _mm512_add_epi32(isum, _mm512_madd_epi16(_mm512_maddubs_epi16(kb.u[t], _mm512_loadu_si512(ab.qs + 64 * t)), kb.sc[t]));
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.bsums));
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(kb.d * ab.d), acc[i]);
      accm[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, kb.mins)), _mm256_set1_ps(kb.dmin * ab.d), accm[i]);
    }
  }
  for (int i = 0; i < NA; ++i) out[i * ldo] = _mm512_reduce_add_ps(acc[i]) - hsum8(accm[i]);
}

template <typename Block, void (*Unpack)(const void*, KBlock&)>
void tile_k(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride, int64_t na,
            float* out, int64_t ldo) {
  const int64_t nb = k / kQK_K;
  auto w_row = [&](int64_t j) {
    return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + size_t(j) * w_stride);
  };
  auto a_row = [&](int64_t i) {
    return reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
  };
  if (na < 4) {
    const BlockQ8_K* ar[3];
    for (int64_t i = 0; i < na; ++i) ar[i] = a_row(i);
    for (int64_t j = 0; j < nw; ++j) {
      if (na == 1) gemv_row<Block, Unpack, 1>(nb, w_row(j), ar, out + j, ldo);
      else if (na == 2) gemv_row<Block, Unpack, 2>(nb, w_row(j), ar, out + j, ldo);
      else gemv_row<Block, Unpack, 3>(nb, w_row(j), ar, out + j, ldo);
    }
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
  ks.for_type(DType::Q4_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<BlockQ4_K, unpack_q4_k>, kRows, 0};
  ks.for_type(DType::Q5_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<BlockQ5_K, unpack_q5_k>, kRows, 0};
  ks.for_type(DType::Q6_K) = {DType::Q8_K, quantize_row_q8_K, tile_k<BlockQ6_K, unpack_q6_k>, kRows, 0};
}

}  // namespace hearth::cpu
#endif
