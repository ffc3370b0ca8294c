// PAL4G16's quantizer (core/palettize.h): the stored layout, k-means tables that beat a uniform 4-bit grid on every
// group, determinism, and clean errors for shapes and values it cannot take.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/palettize.h"
#include "core/quantize.h"

namespace hearth {
namespace {

// Rows of Gaussian values whose scales vary by row (as output channels do), with a few outliers when `heavy`.
std::vector<float> weights(int64_t rows, int64_t n, bool heavy, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> row_scale(0.02f, 0.2f), u(0.0f, 1.0f);
  std::vector<float> x(size_t(rows * n));
  for (int64_t r = 0; r < rows; ++r) {
    const float s = row_scale(rng);
    for (int64_t j = 0; j < n; ++j) x[size_t(r * n + j)] = s * g(rng) * (heavy && u(rng) < 0.01f ? 8.0f : 1.0f);
  }
  return x;
}

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

// Squared error of group g (rows 16g..16g+15) stored in `bytes`.
double group_error(const std::vector<uint8_t>& bytes, const std::vector<float>& x, int64_t n, int64_t g) {
  std::vector<float> row(static_cast<size_t>(n));
  double e = 0.0;
  for (int64_t r = g * kPalGroupRows; r < (g + 1) * kPalGroupRows; ++r) {
    dequantize_tensor_row(DType::PAL4G16, bytes.data(), n, r, row.data());
    for (int64_t j = 0; j < n; ++j) e += std::pow(double(row[size_t(j)]) - x[size_t(r * n + j)], 2);
  }
  return e;
}

// Squared error of group g under a uniform grid: the same row scales (absmax, as F16), 16 levels evenly spaced
// from the smallest to the largest scaled value (as F16), each value on its nearest level.
double uniform_grid_error(const std::vector<float>& x, int64_t n, int64_t g) {
  std::vector<float> scale(kPalGroupRows);
  float lo = 0.0f, hi = 0.0f;
  for (int r = 0; r < kPalGroupRows; ++r) {
    const float* xr = x.data() + (g * kPalGroupRows + r) * n;
    float amax = 0.0f;
    for (int64_t j = 0; j < n; ++j) amax = std::max(amax, std::fabs(xr[j]));
    scale[size_t(r)] = fp16_to_fp32(fp32_to_fp16(amax));
    for (int64_t j = 0; j < n; ++j) {
      lo = std::min(lo, xr[j] / scale[size_t(r)]);
      hi = std::max(hi, xr[j] / scale[size_t(r)]);
    }
  }
  float level[kPalEntries];
  for (int k = 0; k < kPalEntries; ++k) level[k] = fp16_to_fp32(fp32_to_fp16(lo + (hi - lo) * float(k) / 15.0f));
  double e = 0.0;
  for (int r = 0; r < kPalGroupRows; ++r)
    for (int64_t j = 0; j < n; ++j) {
      const float v = x[size_t((g * kPalGroupRows + r) * n + j)];
      double best = 1e300;
      for (float l : level) best = std::min(best, std::pow(double(scale[size_t(r)]) * l - v, 2));
      e += best;
    }
  return e;
}

TEST(Palettize, TypeIsKnownByNameWithItsRowLayout) {
  EXPECT_EQ(dtype_from_name("pal4g16"), DType::PAL4G16);
  EXPECT_EQ(dtype_from_name("PAL4G16"), DType::PAL4G16);
  EXPECT_EQ(dtype_name(DType::PAL4G16), "pal4g16");
  EXPECT_EQ(row_bytes(DType::PAL4G16, 256), size_t(4 + 128));
  EXPECT_EQ(tensor_bytes(traits(DType::PAL4G16), 256, 32), uint64_t(2 * 16 * (4 + 128)));
  EXPECT_FALSE(tensor_bytes(traits(DType::PAL4G16), 256, 24).has_value());  // not whole groups
  EXPECT_EQ(tensor_bytes(traits(DType::Q4_0), 64, 3), uint64_t(3 * 2 * 18));
  EXPECT_FALSE(dtype_traits(1000 & 31) && dtype_traits(1000 & 31)->name == "pal4g16");
}

TEST(Palettize, EveryValueIsItsRowScaleTimesAnEntryOfItsGroupsTable) {
  const int64_t rows = 48, n = 96;
  const auto x = weights(rows, n, false, 1);
  const auto bytes = quantize(DType::PAL4G16, x.data(), rows, n);
  const size_t rb = row_bytes(DType::PAL4G16, n);
  ASSERT_EQ(bytes.size(), rb * size_t(rows));
  std::vector<float> row(static_cast<size_t>(n));
  for (int64_t g = 0; g < rows / kPalGroupRows; ++g) {
    float table[kPalEntries];
    pal_group_table(bytes.data() + size_t(g * kPalGroupRows) * rb, rb, table);
    EXPECT_TRUE(std::is_sorted(table, table + kPalEntries));
    for (int64_t r = g * kPalGroupRows; r < (g + 1) * kPalGroupRows; ++r) {
      const uint8_t* stored = bytes.data() + size_t(r) * rb;
      const float scale = half_at(stored + 2);
      dequantize_tensor_row(DType::PAL4G16, bytes.data(), n, r, row.data());
      for (int64_t j = 0; j < n; ++j) {
        // The index as stored (Q4_0's nibble order), always in 0..15, decodes to exactly scale * table[index].
        const uint8_t byte = stored[kPalRowHeader + (j / 32) * 16 + (j % 32) % 16];
        const int index = (j % 32) < 16 ? byte & 0x0F : byte >> 4;
        ASSERT_EQ(row[size_t(j)], scale * table[index]) << "row " << r << " value " << j;
        // And it is the entry nearest to the scaled value.
        const float u = x[size_t(r * n + j)] / scale;
        for (float e : table) ASSERT_LE(std::fabs(table[index] - u), std::fabs(e - u) + 1e-6f);
      }
    }
  }
}

TEST(Palettize, EachGroupsErrorIsBelowAUniformGridsOnTheSameGroup) {
  const int64_t rows = 64, n = 128;
  for (bool heavy : {false, true}) {
    const auto x = weights(rows, n, heavy, heavy ? 3 : 2);
    const auto bytes = palettize(x.data(), rows, n);
    for (int64_t g = 0; g < rows / kPalGroupRows; ++g) {
      const double pal = group_error(bytes, x, n, g), uniform = uniform_grid_error(x, n, g);
      EXPECT_LE(pal, uniform * (1 + 1e-6)) << "group " << g << (heavy ? " (outliers)" : "");
      // Not merely equal: k-means moves the levels to where the values are.
      EXPECT_LT(pal, 0.8 * uniform) << "group " << g << (heavy ? " (outliers)" : "");
    }
  }
}

TEST(Palettize, IsDeterministic) {
  const auto x = weights(32, 64, true, 4);
  EXPECT_EQ(palettize(x.data(), 32, 64), palettize(x.data(), 32, 64));
}

TEST(Palettize, ZeroRowsAndConstantGroupsDecodeExactly) {
  std::vector<float> x(size_t(16 * 32), 0.0f);
  for (int j = 0; j < 32; ++j) x[size_t(5 * 32 + j)] = 0.25f;  // one constant row among zero rows
  const auto bytes = palettize(x.data(), 16, 32);
  std::vector<float> row(32);
  for (int r = 0; r < 16; ++r) {
    dequantize_tensor_row(DType::PAL4G16, bytes.data(), 32, r, row.data());
    for (int j = 0; j < 32; ++j) ASSERT_EQ(row[size_t(j)], x[size_t(r * 32 + j)]) << r << " " << j;
  }
}

TEST(Palettize, RejectsShapesAndValuesItCannotTake) {
  const auto x = weights(32, 64, false, 5);
  EXPECT_FALSE(can_palettize(64, 8));
  EXPECT_FALSE(can_palettize(48, 16));
  EXPECT_FALSE(can_palettize(64, 0));
  EXPECT_TRUE(can_palettize(64, 32));
  EXPECT_THROW(quantize(DType::PAL4G16, x.data(), 24, 64), Error);  // rows not whole groups
  EXPECT_THROW(quantize(DType::PAL4G16, x.data(), 32, 48), Error);  // rows not whole 32-value blocks
  auto bad = x;
  bad[100] = std::nanf("");
  EXPECT_THROW(palettize(bad.data(), 32, 64), Error);
  bad[100] = INFINITY;
  EXPECT_THROW(palettize(bad.data(), 32, 64), Error);
  // A row alone cannot be decoded: its table is spread over its group.
  std::vector<float> row(64);
  const auto bytes = palettize(x.data(), 32, 64);
  EXPECT_FALSE(can_dequantize(DType::PAL4G16));
  EXPECT_THROW(dequantize_row(DType::PAL4G16, bytes.data(), row.data(), 64), Error);
}

}  // namespace
}  // namespace hearth
