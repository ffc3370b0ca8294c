// Small AVX2 helpers shared by the *_avx2.cpp kernel files (internal linkage: only AVX2-compiled files include it).
#pragma once

#include <immintrin.h>

namespace hearth::cpu {
namespace {

// Stores the first n (1..8) lanes of v at o.
inline void store_first(float* o, __m256 v, int n) {
  if (n >= 8) return _mm256_storeu_ps(o, v);
  _mm256_maskstore_ps(o, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), v);
}

}  // namespace
}  // namespace hearth::cpu
