// The 6-bit scales and mins of a Q4_K / Q5_K block unpacked to bytes, for the AVX2 and AVX-512 K-quant kernels.
// Internal linkage: each kernel file is compiled for its own instruction set, so they must not share one definition.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace hearth::cpu {
namespace {

// The eight scales then the eight mins, one byte each, from the 12 packed bytes (32-bit words w0, w1, w2):
// scales 0-3 / mins 0-3 are the low 6 bits of w0 / w1; scales 4-7 / mins 4-7 take their low 4 bits from the low /
// high nibbles of w2 and their top 2 bits from the top bits of w0 / w1. Reads 16 bytes (the block goes on after
// its scales). SSE2 and AVX2 (VPSRLVD) instructions.
inline __m128i k4_scales_then_mins(const uint8_t* packed) {
  const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed));
  const __m128i low = _mm_and_si128(w, _mm_set1_epi8(0x3f));                                 // scales 0-3, mins 0-3
  const __m128i top = _mm_and_si128(_mm_srli_epi32(w, 2), _mm_set1_epi8(0x30));              // from w0, w1
  const __m128i w2 = _mm_srlv_epi32(_mm_shuffle_epi32(w, _MM_SHUFFLE(2, 2, 2, 2)), _mm_setr_epi32(0, 4, 0, 0));
  const __m128i high = _mm_or_si128(_mm_and_si128(w2, _mm_set1_epi8(0x0f)), top);            // scales 4-7, mins 4-7
  return _mm_unpacklo_epi32(low, high);
}

}  // namespace
}  // namespace hearth::cpu
