// AVX2 PAL4G16 kernel (pal_panel.h): VPSHUFB maps a block's 32 indices through the group's int8 table, then the
// signed dot product of Q8_0 weights (sign trick, as matmul_avx2.cpp's Q8_0: |w| x (a * sign(w)), pair sums
// <= 2 * 127 * 127). Each weight row is dotted with up to 4 activation rows at once, sharing its lookups; every
// output is computed the same way whatever the row count (batch invariance).
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>

#include "backends/cpu/pal_panel.h"
#include "backends/cpu/simd_avx2.h"

#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12, inside its own intrinsics headers
#endif

namespace hearth::cpu {
namespace {

constexpr int kActRows = 4;

template <int NA>
void dot_rows(int64_t nb, __m256i table, const uint8_t* idx, const BlockQ8_0* const* a, float factor, float* out,
              int64_t ldo) {
  __m256 acc[NA];
  for (int i = 0; i < NA; ++i) acc[i] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i w = _mm256_shuffle_epi8(table, nibbles(idx + b * (kPalBlock / 2)));
    const __m256i wabs = _mm256_sign_epi8(w, w);
    for (int i = 0; i < NA; ++i) {
      const __m256i av = _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i][b].qs)), w);
      const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, av), ones);
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(_cvtsh_ss(a[i][b].d)), acc[i]);
    }
  }
  for (int i = 0; i < NA; ++i) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[i]), _mm256_extractf128_ps(acc[i], 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    out[i * ldo] = _mm_cvtss_f32(s) * factor;
  }
}

void pal_panels_avx2(int64_t k, const uint8_t* panels, int64_t nw, const void* a, size_t a_stride, int64_t na,
                     float* out, int64_t ldo) {
  const int64_t nb = k / kPalBlock;
  for (int64_t j = 0; j < nw; ++j) {
    const uint8_t* panel = panels + size_t(j / kPalGroupRows) * pal_panel_bytes(k);
    const auto* h = reinterpret_cast<const PalPanelHeader*>(panel);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h->table)));
    const uint8_t* idx = pal_panel_row(panel, k, j % kPalGroupRows);
    const float factor = h->factor[j % kPalGroupRows];
    for (int64_t i0 = 0; i0 < na; i0 += kActRows) {
      const BlockQ8_0* ar[kActRows];
      const int g = int(std::min<int64_t>(kActRows, na - i0));
      for (int t = 0; t < g; ++t)
        ar[t] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + size_t(i0 + t) * a_stride);
      float* o = out + i0 * ldo + j;
      switch (g) {
        case 4: dot_rows<4>(nb, table, idx, ar, factor, o, ldo); break;
        case 3: dot_rows<3>(nb, table, idx, ar, factor, o, ldo); break;
        case 2: dot_rows<2>(nb, table, idx, ar, factor, o, ldo); break;
        default: dot_rows<1>(nb, table, idx, ar, factor, o, ldo); break;
      }
    }
  }
}

}  // namespace

void init_avx2_pal(KernelSet& ks) { ks.for_type(DType::PAL4G16) = pal_kernel<pal_panels_avx2>(quantize_row_q8_0); }

}  // namespace hearth::cpu
#endif
