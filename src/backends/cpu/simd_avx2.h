// Small AVX2 helpers shared by the *_avx2.cpp kernel files (internal linkage: only AVX2-compiled files include it).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace hearth::cpu {
namespace {

// Stores the first n (1..8) lanes of v at o.
inline void store_first(float* o, __m256 v, int n) {
  if (n >= 8) return _mm256_storeu_ps(o, v);
  _mm256_maskstore_ps(o, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), v);
}

// The 32 4-bit values of 16 bytes in Q4_0's order: low nibbles are values 0..15, high nibbles 16..31.
inline __m256i nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

}  // namespace
}  // namespace hearth::cpu
