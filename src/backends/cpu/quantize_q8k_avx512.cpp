// AVX-512 Q8_K activation quantizer, bit-identical to quantize_row_q8_K (quantize.cpp) for every input,
// NaN and infinity included: the same float operations in the same order per value, ggml's nearest_int done
// with the same float add and bit arithmetic (not a conversion instruction, which differs on NaN and
// overflow), values kept as int8 by truncation as the scalar cast does.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call this
#include <immintrin.h>

#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx512.h"

namespace hearth::cpu {

void quantize_row_q8_K_avx512(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(y);
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    BlockQ8_K& out = blocks[b];
    // Largest |x| (NaN never wins, as `ax > amax` never holds for it); the signed max is its first occurrence.
    __m512 amax_v = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) amax_v = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + 16 * j), abs_mask), amax_v);
    const float amax = _mm512_reduce_max_ps(amax_v);
    if (!(amax > 0.0f)) {
      std::memset(&out, 0, sizeof(out));
      continue;
    }
    int first = 0;
    for (int j = 0; j < 16; ++j) {
      const __mmask16 hit = _mm512_cmpeq_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + 16 * j), abs_mask), _mm512_set1_ps(amax));
      if (hit) {
        first = 16 * j + __builtin_ctz(hit);
        break;
      }
    }
    const float iscale = -127.f / x[first];
    const __m512 vscale = _mm512_set1_ps(iscale), magic = _mm512_set1_ps(12582912.f);
    const __m512i mant = _mm512_set1_epi32(0x007fffff), bias = _mm512_set1_epi32(0x00400000),
                  top = _mm512_set1_epi32(127);
    __m512i packed[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      __m128i q[4];
#pragma GCC unroll 4
      for (int g = 0; g < 4; ++g) {
        __m512 prod = _mm512_mul_ps(vscale, _mm512_loadu_ps(x + 64 * c + 16 * g));
        __asm__("" : "+v"(prod));  // rounded on its own, as in the scalar code: no contraction into an FMA
        const __m512 v = _mm512_add_ps(prod, magic);
        const __m512i i = _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(v), mant), bias);
        q[g] = _mm512_cvtepi32_epi8(_mm512_min_epi32(i, top));
      }
      packed[c] = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(q[0]), q[1], 1), q[2], 2), q[3], 3);
      _mm512_storeu_si512(out.qs + 64 * c, packed[c]);
    }
    // Sums of 16: VPDPBUSD with ones gives 4-value sums (16-value group g of vector c = 128-bit lane g); the
    // in-lane reduction leaves group 4c + g in lane 4g + c.
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i d[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) d[c] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, packed[c]);
    const __m512i a01 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[0], d[1]), _mm512_unpackhi_epi32(d[0], d[1]));
    const __m512i a23 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[2], d[3]), _mm512_unpackhi_epi32(d[2], d[3]));
    const __m512i sums = _mm512_add_epi32(_mm512_unpacklo_epi64(a01, a23), _mm512_unpackhi_epi64(a01, a23));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.bsums), _mm512_cvtepi32_epi16(_mm512_permutexvar_epi32(order, sums)));
    out.d = 1 / iscale;
  }
}

}  // namespace hearth::cpu
#endif
