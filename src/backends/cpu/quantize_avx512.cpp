// AVX-512 activation quantizers, bit-identical to quantize_row_q8_0 / quantize_row_q8_1 (quantize.cpp): the same
// amax, d = amax / 127 and id = 127 / amax in scalar float, and nearest_int's mantissa trick lane by lane, with
// the same truncation to int8. (VCVTPS2DQ would agree for ordinary rows, but not where id overflows to
// infinity, amax < 127 / FLT_MAX, and the reference defines those too.)
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx512.h"

namespace hearth::cpu {
namespace {

// Rounded x * id. The explicit-rounding form keeps GCC from contracting the product with nearest_int's add
// into one FMA (plain _mm512_mul_ps / _mm512_add_ps may be fused), which would round ties differently.
inline __m512 scaled(__m512 x, __m512 id) { return _mm512_mul_round_ps(x, id, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

// ggml's nearest_int on 16 lanes: round half to even through the float mantissa.
inline __m512i nearest_int(__m512 v) {
  const __m512 shifted = _mm512_add_round_ps(v, _mm512_set1_ps(12582912.f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512i bits = _mm512_castps_si512(shifted);
  return _mm512_sub_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x00400000));
}

// Quantizes one block of 32 values into qs; returns d and (through sum) the sum of the quants.
inline float quantize_block32(const float* x, int8_t* qs, int* sum) {
  const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
  const float d = amax / 127.f;
  const float id = amax != 0.0f ? 127.f / amax : 0.0f;
  const __m512 idv = _mm512_set1_ps(id);
  const __m512i q0 = nearest_int(scaled(x0, idv)), q1 = nearest_int(scaled(x1, idv));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtepi32_epi8(q1));
  if (sum) {  // of the stored (truncated) int8 values
    auto as_int8 = [](__m512i v) { return _mm512_srai_epi32(_mm512_slli_epi32(v, 24), 24); };
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(as_int8(q0), as_int8(q1)));
  }
  return d;
}

inline uint16_t to_f16(float f) { return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)); }

}  // namespace

void quantize_row_q8_0_avx512(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) blocks[b].d = to_f16(quantize_block32(x + b * kQK8_0, blocks[b].qs, nullptr));
}

void quantize_row_q8_1_avx512(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(y);
  for (int64_t b = 0; b < n / kQK8_1; ++b) {
    int sum = 0;
    const float d = quantize_block32(x + b * kQK8_1, blocks[b].qs, &sum);
    blocks[b].d = to_f16(d);
    blocks[b].s = to_f16(d * float(sum));
  }
}

}  // namespace hearth::cpu
#endif
