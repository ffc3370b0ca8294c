// AVX2 products of packed F32 weights with activations that are mostly exact zeros (after a ReLU), as
// matmul_sparse_avx512.cpp for the 8-row panels of matmul_avx2.cpp: each listed activation row's nonzero terms, in
// order of position, in one F32 FMA chain from zero, which is what the dense GEMM kernel sums (a zero term changes
// no F32 sum; at most the sign of an exact zero differs) for finite weights.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "backends/cpu/kernels.h"

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
  const __m256i last_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(last_rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) {
      float* o = out + r * ldo + p * kLanes;
      if (p == P - 1 && last_rows < kLanes) _mm256_maskstore_ps(o, last_mask, acc[r][p]);
      else _mm256_storeu_ps(o, acc[r][p]);
    }
}

template <int R>
void sparse_panels(int P, const float* panels, int64_t panel_size, const NonZeros* rows, float* out, int64_t ldo,
                   int last_rows) {
  if (P == 1) return sparse_block<R, 1>(panels, panel_size, rows, out, ldo, last_rows);
  sparse_block<R, 2>(panels, panel_size, rows, out, ldo, last_rows);
}

// Panel pair by panel pair (2 x k x 8 floats: 96 KiB at k = 1536, in L2 while every activation row passes them).
void tile_packed_sparse(int64_t k, const void* packed, const void*, size_t, int64_t nw, const void* a,
                        size_t a_stride, int64_t na, float* out, int64_t ldo) {
  const float* panels = static_cast<const float*>(packed);
  const int64_t panel_size = k * kLanes, n_panels = (nw + kLanes - 1) / kLanes;
  thread_local std::vector<NonZeros> rows;
  rows.clear();
  for (int64_t i = 0; i < na; ++i) rows.emplace_back(static_cast<const uint8_t*>(a) + size_t(i) * a_stride, k);
  for (int64_t p0 = 0; p0 < n_panels; p0 += kPanels) {
    const int P = int(std::min<int64_t>(kPanels, n_panels - p0));
    const int last_rows = p0 + P == n_panels ? int(nw - (n_panels - 1) * kLanes) : kLanes;
    const float* pp = panels + p0 * panel_size;
    for (int64_t i0 = 0; i0 < na; i0 += kRows) {
      const NonZeros* r = rows.data() + i0;
      float* o = out + i0 * ldo + p0 * kLanes;
      switch (std::min<int64_t>(kRows, na - i0)) {
        case 1: sparse_panels<1>(P, pp, panel_size, r, o, ldo, last_rows); break;
        case 2: sparse_panels<2>(P, pp, panel_size, r, o, ldo, last_rows); break;
        case 3: sparse_panels<3>(P, pp, panel_size, r, o, ldo, last_rows); break;
        default: sparse_panels<4>(P, pp, panel_size, r, o, ldo, last_rows); break;
      }
    }
  }
}

}  // namespace

void init_avx2_sparse(KernelSet& ks) {
  ks.for_type(DType::F32).list_nonzeros = list_nonzeros;
  ks.for_type(DType::F32).tile_packed_sparse = tile_packed_sparse;
}

}  // namespace hearth::cpu
#endif
