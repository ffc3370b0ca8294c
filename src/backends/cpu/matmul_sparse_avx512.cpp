// AVX-512 products of packed F32 weights with activations that are mostly exact zeros: the input of a projection
// after a ReLU (USE lite's FFN: 93 % of the values that enter its second matrix are zero).
//
// The weights are the F32 panels of matmul_float_avx512.cpp (16 weight rows, k x 16 lanes). Each activation row's
// nonzero values are listed once per matmul, as its activation conversion (position, value); an output then takes
// only those terms, in order of position, in one F32 FMA chain from zero, as the dense kernel does. A zero term
// changes no F32 sum, so the outputs are those of the dense kernel (at most the sign of an exact zero differs) for
// finite weights.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx512.h"
#include "backends/cpu/sparse_tiles.h"

namespace hearth::cpu {
namespace {

using namespace avx512;

constexpr int kLanes = 16;
constexpr int kRows = 4;    // activation rows at once: their independent chains hide the FMA latency
constexpr int kPanels = 4;  // panels per pass: 64 outputs, 384 KiB of weights at k = 1536 (they stay in L2)

void list_nonzeros(const float* a, void* row, int64_t k) {
  const NonZeros list(row, k);
  int32_t* at = list.at;
  float* value = list.value;
  int32_t count = 0;
  const __m512i step = _mm512_set1_epi32(kLanes);
  __m512i pos = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t kk = 0; kk < k; kk += kLanes, pos = _mm512_add_epi32(pos, step)) {
    const __mmask16 m = head_mask(k - kk);
    const __m512 v = _mm512_maskz_loadu_ps(m, a + kk);
    const __mmask16 nz = _mm512_mask_cmp_ps_mask(m, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    // Compressed in registers, stored whole (16 entries of slack): AMD cores run a compressing store to memory
    // far slower.
    _mm512_storeu_ps(value + count, _mm512_maskz_compress_ps(nz, v));
    _mm512_storeu_si512(at + count, _mm512_maskz_compress_epi32(nz, pos));
    count += int32_t(__builtin_popcount(nz));
  }
  *list.count = count;
}

// R activation rows times P consecutive panels (panel_size floats apart).
template <int R, int P>
void sparse_block(const float* panels, int64_t panel_size, const NonZeros* rows, float* out, int64_t ldo,
                  int last_rows) {
  __m512 acc[R][P];
  int32_t longest = 0, count[R];
  const int32_t* at[R];
  const float* value[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
    at[r] = rows[r].at, value[r] = rows[r].value, count[r] = *rows[r].count;
    longest = std::max(longest, count[r]);
  }
  for (int32_t i = 0; i < longest; ++i) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if (i < count[r]) {
        const float* w = panels + int64_t(at[r][i]) * kLanes;
        const __m512 b = _mm512_set1_ps(value[r][i]);
#pragma GCC unroll 4
        for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(_mm512_load_ps(w + p * panel_size), b, acc[r][p]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p)
      _mm512_mask_storeu_ps(out + r * ldo + p * kLanes, head_mask(p == P - 1 ? last_rows : kLanes), acc[r][p]);
}

void tile_packed_sparse(int64_t k, const void* packed, const void*, size_t, int64_t nw, const void* a,
                        size_t a_stride, int64_t na, float* out, int64_t ldo) {
  sparse_tiles<kLanes, kRows, kPanels>(k, packed, nw, a, a_stride, na, out, ldo, []<int R, int P>(auto&&... args) {
    sparse_block<R, P>(args...);
  });
}

}  // namespace

void init_avx512_sparse(KernelSet& ks) {
  ks.for_type(DType::F32).list_nonzeros = list_nonzeros;
  ks.for_type(DType::F32).tile_packed_sparse = tile_packed_sparse;
}

}  // namespace hearth::cpu
#endif
