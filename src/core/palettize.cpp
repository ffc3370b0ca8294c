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

  // keys: sort_key(value, row), in 16 sorted runs of `run` keys (one per row); row_weight: each row's weight.
  SortedGroup(std::vector<uint64_t>&& keys, size_t run, const std::array<double, kPalGroupRows>& row_weight) {
    for (; run < keys.size(); run *= 2)  // merged pairwise: 4 linear passes instead of a sort
      for (size_t at = 0; at + run < keys.size(); at += 2 * run)
        std::inplace_merge(keys.begin() + ptrdiff_t(at), keys.begin() + ptrdiff_t(at + run),
                           keys.begin() + ptrdiff_t(std::min(at + 2 * run, keys.size())));
    u.resize(keys.size());
    w.assign(keys.size() + 1, 0.0);
    wu = wuu = w;
    for (size_t i = 0; i < keys.size(); ++i) {
      u[i] = key_value(keys[i]);
      const double x = u[i], wt = row_weight[keys[i] & 0xFF];
      w[i + 1] = w[i] + wt;
      wu[i + 1] = wu[i] + wt * x;
      wuu[i + 1] = wuu[i] + wt * x * x;
    }
  }

  // A float's bits turned so that unsigned order is numeric order, above the row.
  static uint64_t sort_key(float v, int row) {
    uint32_t b = fp32_to_bits(v);
    b = (b & 0x80000000u) ? ~b : b | 0x80000000u;
    return uint64_t(b) << 32 | uint32_t(row);
  }
  static float key_value(uint64_t key) {
    const uint32_t b = uint32_t(key >> 32);
    return fp32_from_bits((b & 0x80000000u) ? b & 0x7FFFFFFFu : ~b);
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

// The entry of a sorted table nearest to a value (a tie goes to the lower entry, as SortedGroup::cells()), by
// binary search over the midpoints.
class Nearest {
 public:
  explicit Nearest(const Table& t) {
    for (int k = 0; k + 1 < kPalEntries; ++k) mid_[size_t(k)] = 0.5f * (t[size_t(k)] + t[size_t(k + 1)]);
    mid_[kPalEntries - 1] = INFINITY;
  }
  uint8_t operator()(float u) const {
    int k = 0;
    for (int step = kPalEntries / 2; step > 0; step /= 2) k += u > mid_[size_t(k + step - 1)] ? step : 0;
    return uint8_t(k);
  }

 private:
  std::array<float, kPalEntries> mid_;
};

using Scales = std::array<uint16_t, kPalGroupRows>;
constexpr int kScaleRounds = 3;

struct GroupFit {
  Table table;
  Scales scales;
  double error;  // squared error of the group's weights
};

// The table for a group's 16 rows of n values under the given row scales, and its error. Each row of x is sorted
// (a row's order does not change with its scale, so the rows are sorted once and merged for each fit).
GroupFit fit_group(const float* x, int64_t n, const Scales& scales) {
  std::vector<uint64_t> keys(size_t(kPalGroupRows * n));
  std::array<double, kPalGroupRows> row_weight;
  for (int r = 0; r < kPalGroupRows; ++r) {
    const float s = fp16_to_fp32(scales[size_t(r)]), inv = s > 0.0f ? 1.0f / s : 0.0f;
    row_weight[size_t(r)] = double(s) * s;
    for (int64_t j = 0; j < n; ++j) keys[size_t(r * n + j)] = SortedGroup::sort_key(x[r * n + j] * inv, r);
  }
  GroupFit fit{fit_table(SortedGroup(std::move(keys), size_t(n), row_weight)), scales, 0.0};
  const Nearest nearest(fit.table);
  for (int r = 0; r < kPalGroupRows; ++r) {
    const float s = fp16_to_fp32(scales[size_t(r)]), inv = s > 0.0f ? 1.0f / s : 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      const double d = double(x[r * n + j]) - double(s * fit.table[nearest(x[r * n + j] * inv)]);
      fit.error += d * d;
    }
  }
  return fit;
}

// Each row's scale that minimizes its error for fit.table: alternately the nearest entries for the scale and the
// least-squares scale for those entries (sum x t / sum t t), a few times.
Scales refined_scales(const float* x, int64_t n, const GroupFit& fit) {
  Scales out = fit.scales;
  const Nearest nearest(fit.table);
  for (int r = 0; r < kPalGroupRows; ++r) {
    const float* xr = x + r * n;
    for (int it = 0; it < 3; ++it) {
      const float s = fp16_to_fp32(out[size_t(r)]);
      if (s <= 0.0f) break;
      double xt = 0.0, tt = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        const double t = fit.table[nearest(xr[j] / s)];
        xt += xr[j] * t;
        tt += t * t;
      }
      if (tt <= 0.0 || xt <= 0.0) break;
      out[size_t(r)] = fp32_to_fp16(float(std::min(xt / tt, 65504.0)));
    }
  }
  return out;
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
  for (int64_t i = 0; i < n_rows * n; ++i)
    if (!std::isfinite(src[i])) fail("cannot palettize row {}: value {} is {}", i / n, i % n, src[i]);
  const size_t rb = row_bytes(DType::PAL4G16, n);
  std::vector<uint8_t> out(rb * size_t(n_rows));
  std::vector<float> sorted;
  for (int64_t g0 = 0; g0 < n_rows; g0 += kPalGroupRows) {
    const float* x = src + g0 * n;
    sorted.assign(x, x + kPalGroupRows * n);
    for (int r = 0; r < kPalGroupRows; ++r) std::sort(sorted.begin() + r * n, sorted.begin() + (r + 1) * n);
    Scales absmax;
    for (int r = 0; r < kPalGroupRows; ++r) {
      float amax = 0.0f;
      for (int64_t j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[r * n + j]));
      absmax[size_t(r)] = fp32_to_fp16(std::min(amax, 65504.0f));  // the largest half: a larger row is clipped
    }
    // Absmax scales first; then, while the error falls, each row's least-squares scale for the table and the table
    // refitted to those scales.
    GroupFit best = fit_group(sorted.data(), n, absmax);
    for (int round = 0; round < kScaleRounds; ++round) {
      GroupFit next = fit_group(sorted.data(), n, refined_scales(sorted.data(), n, best));
      if (!(next.error < best.error)) break;
      best = std::move(next);
    }
    const Nearest nearest(best.table);
    for (int r = 0; r < kPalGroupRows; ++r) {
      uint8_t* row = out.data() + size_t(g0 + r) * rb;
      const uint16_t entry = fp32_to_fp16(best.table[size_t(r)]);
      std::memcpy(row, &entry, 2);
      std::memcpy(row + 2, &best.scales[size_t(r)], 2);
      uint8_t* idx = row + kPalRowHeader;
      const float s = fp16_to_fp32(best.scales[size_t(r)]), inv = s > 0.0f ? 1.0f / s : 0.0f;
      const float* xr = x + r * n;
      for (int64_t b = 0; b < n / kPalBlock; ++b, xr += kPalBlock, idx += kPalBlock / 2)
        for (int i = 0; i < kPalBlock / 2; ++i)
          idx[i] = uint8_t(nearest(xr[i] * inv) | (nearest(xr[i + kPalBlock / 2] * inv) << 4));
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
