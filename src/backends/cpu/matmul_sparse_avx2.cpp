// AVX2 products of packed F32 weights with activations that are mostly exact zeros (after a ReLU), as
// matmul_sparse_avx512.cpp for the 8-row panels of matmul_avx2.cpp: each listed activation row's nonzero terms, in
// order of position, in one F32 FMA chain from zero, which is what the dense GEMM kernel sums (a zero term changes
// no F32 sum; at most the sign of an exact zero differs) for finite weights.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd_avx2.h"
#include "backends/cpu/sparse_tiles.h"

namespace hearth::cpu {
namespace {

constexpr int kLanes = 8;   // weight rows per panel (one 256-bit vector)
constexpr int kRows = 4;    // activation rows at once: their independent chains hide the FMA latency
constexpr int kPanels = 2;  // panels per pass: 4 x 2 accumulators leave room for the loads in 16 registers

// Without a compressing store: the positions of the nonzero lanes of each 8-value vector, one by one (at 93 %
// zeros, about one every other vector).
void list_nonzeros(const float* a, void* row, int64_t k) {
  const NonZeros list(row, k);
  int32_t count = 0;
  int64_t kk = 0;
  for (; kk + kLanes <= k; kk += kLanes) {
    const __m256 v = _mm256_loadu_ps(a + kk);
    for (unsigned nz = unsigned(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ))); nz;
         nz &= nz - 1) {
      const int64_t at = kk + __builtin_ctz(nz);
      list.at[count] = int32_t(at);
      list.value[count++] = a[at];
    }
  }
  for (; kk < k; ++kk)
    if (!(a[kk] == 0.0f)) {  // NaN is listed, as the vector comparison lists it
      list.at[count] = int32_t(kk);
      list.value[count++] = a[kk];
    }
  *list.count = count;
}

// R activation rows times P consecutive panels (panel_size floats apart); the last panel stores its first
// last_rows outputs only.
template <int R, int P>
void sparse_block(const float* panels, int64_t panel_size, const NonZeros* rows, float* out, int64_t ldo,
                  int last_rows) {
  __m256 acc[R][P];
  int32_t longest = 0, count[R];
  const int32_t* at[R];
  const float* value[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) acc[r][p] = _mm256_setzero_ps();
    at[r] = rows[r].at, value[r] = rows[r].value, count[r] = *rows[r].count;
    longest = std::max(longest, count[r]);
  }
  for (int32_t i = 0; i < longest; ++i) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if (i < count[r]) {
        const float* w = panels + int64_t(at[r][i]) * kLanes;
        const __m256 b = _mm256_broadcast_ss(value[r] + i);
#pragma GCC unroll 2
        for (int p = 0; p < P; ++p) acc[r][p] = _mm256_fmadd_ps(_mm256_loadu_ps(w + p * panel_size), b, acc[r][p]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) store_first(out + r * ldo + p * kLanes, acc[r][p], p == P - 1 ? last_rows : kLanes);
}

void tile_packed_sparse(int64_t k, const void* packed, const void*, size_t, int64_t nw, const void* a,
                        size_t a_stride, int64_t na, float* out, int64_t ldo) {
  sparse_tiles<kLanes, kRows, kPanels>(k, packed, nw, a, a_stride, na, out, ldo, []<int R, int P>(auto&&... args) {
    sparse_block<R, P>(args...);
  });
}

}  // namespace

void init_avx2_sparse(KernelSet& ks) {
  ks.for_type(DType::F32).list_nonzeros = list_nonzeros;
  ks.for_type(DType::F32).tile_packed_sparse = tile_packed_sparse;
}

}  // namespace hearth::cpu
#endif
