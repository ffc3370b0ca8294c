#include "core/palettize.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fp16.h"

namespace hearth {
namespace {

using Table = std::array<float, kPalEntries>;

// One group's scaled values, sorted, with prefix sums of their weights w (the square of the row's scale: the error
// of a weight is its row's scale times the error of its scaled value), w*u and w*u*u, so that the mean and the
// error of any run of values take O(1) and one Lloyd iteration O(entries * log values).
struct SortedGroup {
  std::vector<float> u;
  std::vector<double> w, wu, wuu;  // prefix sums, size u.size() + 1

  explicit SortedGroup(std::vector<std::pair<float, float>>&& values) {
    std::sort(values.begin(), values.end());
    u.resize(values.size());
    w.assign(values.size() + 1, 0.0);
    wu = wuu = w;
    for (size_t i = 0; i < values.size(); ++i) {
      const double x = values[i].first, wt = values[i].second;
      u[i] = values[i].first;
      w[i + 1] = w[i] + wt;
      wu[i + 1] = wu[i] + wt * x;
      wuu[i + 1] = wuu[i] + wt * x * x;
    }
  }

  // Values [cell[k], cell[k + 1]) are nearest to entry k of a sorted table (a tie goes to the lower entry).
  std::array<size_t, kPalEntries + 1> cells(const Table& t) const {
    std::array<size_t, kPalEntries + 1> c{};
    c[kPalEntries] = u.size();
    for (int k = 1; k < kPalEntries; ++k) {
      const float mid = 0.5f * (t[size_t(k - 1)] + t[size_t(k)]);
      c[size_t(k)] = size_t(std::upper_bound(u.begin(), u.end(), mid) - u.begin());
    }
    return c;
  }

  double error(const Table& t) const {
    const auto c = cells(t);
    double e = 0.0;
    for (size_t k = 0; k < kPalEntries; ++k) {
      const size_t a = c[k], b = c[k + 1];
      const double v = t[k];
      e += (wuu[b] - wuu[a]) - 2.0 * v * (wu[b] - wu[a]) + v * v * (w[b] - w[a]);
    }
    return e;
  }

  // Lloyd's iterations from `t`: each moves every entry to the weighted mean of its cell, which never raises the
  // error; an empty cell keeps its entry.
  Table lloyd(Table t, int iterations) const {
    for (int it = 0; it < iterations; ++it) {
      const auto c = cells(t);
      Table next = t;
      for (size_t k = 0; k < kPalEntries; ++k) {
        const double wsum = w[c[k + 1]] - w[c[k]];
        if (wsum > 0.0) next[k] = float((wu[c[k + 1]] - wu[c[k]]) / wsum);
      }
      std::sort(next.begin(), next.end());
      if (next == t) break;
      t = next;
    }
    return t;
  }
};

// Entries as stored (F16), sorted.
Table to_half(Table t) {
  for (float& v : t) v = fp16_to_fp32(fp32_to_fp16(v));
  std::sort(t.begin(), t.end());
  return t;
}

Table fit_table(const SortedGroup& g) {
  const size_t n = g.u.size();
  const float lo = g.u.front(), hi = g.u.back();
  Table quantile{}, uniform{};
  for (size_t k = 0; k < kPalEntries; ++k) {
    quantile[k] = g.u[std::min(n - 1, size_t((double(k) + 0.5) / kPalEntries * double(n)))];
    uniform[k] = lo + (hi - lo) * float(k) / float(kPalEntries - 1);
  }
  constexpr int kIterations = 40;
  // The uniform grid itself is a candidate too, so the table is never worse than a uniform 4-bit grid.
  const Table candidates[] = {to_half(g.lloyd(quantile, kIterations)), to_half(g.lloyd(uniform, kIterations)),
                              to_half(uniform)};
  const Table* best = &candidates[0];
  double best_error = g.error(*best);
  for (const Table& c : candidates)
    if (const double e = g.error(c); e < best_error) best = &c, best_error = e;
  return *best;
}

uint8_t nearest(const Table& t, float u) {
  // The table is sorted: the first entry whose midpoint with the next one is not below u (ties go low, as cells()).
  int k = 0;
  while (k + 1 < kPalEntries && u > 0.5f * (t[size_t(k)] + t[size_t(k + 1)])) ++k;
  return uint8_t(k);
}

}  // namespace

bool can_palettize(int64_t n, int64_t n_rows) {
  return n > 0 && n % kPalBlock == 0 && n_rows > 0 && n_rows % kPalGroupRows == 0;
}

DType pal4g16_or_fallback(int64_t n, int64_t n_rows) {
  if (can_palettize(n, n_rows)) return DType::PAL4G16;
  return n % kQK8_0 == 0 ? DType::Q8_0 : DType::F16;
}

std::vector<uint8_t> palettize(const float* src, int64_t n_rows, int64_t n) {
  if (!can_palettize(n, n_rows))
    fail("cannot palettize {} rows of {} values: PAL4G16 needs rows of a multiple of {} values in groups of {}",
         n_rows, n, kPalBlock, kPalGroupRows);
  const size_t rb = row_bytes(DType::PAL4G16, n);
  std::vector<uint8_t> out(rb * size_t(n_rows));
  std::vector<std::pair<float, float>> values(size_t(kPalGroupRows * n));
  std::vector<float> scaled(values.size());
  for (int64_t g0 = 0; g0 < n_rows; g0 += kPalGroupRows) {
    uint16_t scales[kPalGroupRows];
    for (int r = 0; r < kPalGroupRows; ++r) {
      const float* x = src + (g0 + r) * n;
      float amax = 0.0f;
      for (int64_t j = 0; j < n; ++j) {
        if (!std::isfinite(x[j])) fail("cannot palettize row {}: value {} is {}", g0 + r, j, x[j]);
        amax = std::max(amax, std::fabs(x[j]));
      }
      scales[r] = fp32_to_fp16(std::min(amax, 65504.0f));  // the largest half: a larger row is clipped, not inf
      const float s = fp16_to_fp32(scales[r]), inv = s > 0.0f ? 1.0f / s : 0.0f;
      for (int64_t j = 0; j < n; ++j) {
        const size_t at = size_t(r * n + j);
        scaled[at] = x[j] * inv;
        values[at] = {scaled[at], s * s};
      }
    }
    const Table table = fit_table(SortedGroup(std::vector<std::pair<float, float>>(values)));
    for (int r = 0; r < kPalGroupRows; ++r) {
      uint8_t* row = out.data() + size_t(g0 + r) * rb;
      const uint16_t entry = fp32_to_fp16(table[size_t(r)]);
      std::memcpy(row, &entry, 2);
      std::memcpy(row + 2, &scales[r], 2);
      uint8_t* idx = row + kPalRowHeader;
      const float* u = scaled.data() + size_t(r) * size_t(n);
      for (int64_t b = 0; b < n / kPalBlock; ++b, u += kPalBlock, idx += kPalBlock / 2)
        for (int i = 0; i < kPalBlock / 2; ++i)
          idx[i] = uint8_t(nearest(table, u[i]) | (nearest(table, u[i + kPalBlock / 2]) << 4));
    }
  }
  return out;
}

void pal_group_table(const void* group, size_t row_stride, float table[kPalEntries]) {
  const auto* g = static_cast<const uint8_t*>(group);
  for (int k = 0; k < kPalEntries; ++k) {
    uint16_t h;
    std::memcpy(&h, g + size_t(k) * row_stride, 2);
    table[k] = fp16_to_fp32(h);
  }
}

void dequantize_pal4g16_row(const void* tensor, int64_t n, int64_t row, float* dst) {
  const size_t rb = row_bytes(DType::PAL4G16, n);
  const auto* base = static_cast<const uint8_t*>(tensor);
  float table[kPalEntries];
  pal_group_table(base + size_t(row - row % kPalGroupRows) * rb, rb, table);
  const uint8_t* r = base + size_t(row) * rb;
  uint16_t h;
  std::memcpy(&h, r + 2, 2);
  const float s = fp16_to_fp32(h);
  const uint8_t* idx = r + kPalRowHeader;
  for (int64_t b = 0; b < n / kPalBlock; ++b, idx += kPalBlock / 2, dst += kPalBlock)
    for (int i = 0; i < kPalBlock / 2; ++i) {
      dst[i] = s * table[idx[i] & 0x0F];
      dst[i + kPalBlock / 2] = s * table[idx[i] >> 4];
    }
}

}  // namespace hearth
