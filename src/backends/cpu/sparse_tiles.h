// The tile loop the AVX2 and AVX-512 sparse products share (matmul_sparse_*.cpp). Internal linkage: each kernel
// file is compiled for its own instruction set, so they must not share one instantiation.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/cpu/kernels.h"

namespace hearth::cpu {
namespace {

// f.template operator()<n>() for a run-time n in 1..N.
template <int N, typename F>
void with_count(int n, F&& f) {
  if constexpr (N > 1)
    if (n < N) return with_count<N - 1>(n, f);
  f.template operator()<N>();
}

// Listed activation rows (sparse_row_bytes layout, a_stride apart) times packed F32 weights (panels of kLanes
// rows, k x kLanes floats each): the lists are read once, then panel group by panel group (kPanels panels, kept in
// L2 while every row passes them; the terms are picked at random positions), kRows rows at a time.
// block.template operator()<R, P>(panels, panel_size, rows, out, ldo, last_rows) multiplies R listed rows by P
// consecutive panels; the matrix's last panel stores its first last_rows outputs only.
template <int kLanes, int kRows, int kPanels, typename Block>
void sparse_tiles(int64_t k, const void* packed, int64_t nw, const void* a, size_t a_stride, int64_t na, float* out,
                  int64_t ldo, Block block) {
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
      with_count<kRows>(int(std::min<int64_t>(kRows, na - i0)), [&]<int R>() {
        with_count<kPanels>(P, [&]<int Q>() { block.template operator()<R, Q>(pp, panel_size, r, o, ldo, last_rows); });
      });
    }
  }
}

}  // namespace
}  // namespace hearth::cpu
