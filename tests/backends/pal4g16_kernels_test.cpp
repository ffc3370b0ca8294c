// PAL4G16 matmul kernels at every kernel level this CPU runs, against references computed here in double precision:
// one with the kernels' own numerics (the group table as int8, Q8_0 activations: every integer sum exact), which
// they must match up to float summation order, and the true product of the dequantized weights and the float
// activations, which they must match within the error those two roundings allow. Then through the CPU backend:
// packed and unpacked (embedding table) matrices, batch invariance, get_rows, and malformed shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend_test_util.h"
#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/palettize.h"
#include "core/quantize.h"

namespace hearth {
namespace {

using test::random_floats;

struct PalMatrix {
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
  std::vector<float> dense;  // dequantized
};

std::vector<float> dequantized(const std::vector<uint8_t>& bytes, int64_t rows, int64_t cols) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) dequantize_tensor_row(DType::PAL4G16, bytes.data(), cols, r, &out[size_t(r * cols)]);
  return out;
}

PalMatrix make_pal(int64_t rows, int64_t cols, std::mt19937& rng) {
  PalMatrix m{rows, cols, {}, {}};
  auto x = random_floats(rng, size_t(rows * cols), 0.05f);
  std::uniform_real_distribution<float> row_scale(0.2f, 3.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float s = row_scale(rng);
    for (int64_t c = 0; c < cols; ++c) x[size_t(r * cols + c)] *= s;
  }
  m.bytes = quantize(DType::PAL4G16, x.data(), rows, cols);
  m.dense = dequantized(m.bytes, rows, cols);
  return m;
}

// Checks out[i * ldo + j] (n activation rows x, m.rows outputs) against both references.
void expect_matches_references(const PalMatrix& m, const std::vector<float>& x, int64_t n, const float* out,
                               int64_t ldo) {
  const int64_t k = m.cols;
  const size_t rb = row_bytes(DType::PAL4G16, k);
  std::vector<BlockQ8_0> act(size_t(n * k / 32));
  for (int64_t i = 0; i < n; ++i) quantize_row_q8_0(x.data() + i * k, act.data() + i * k / 32, k);
  for (int64_t j = 0; j < m.rows; ++j) {
    const uint8_t* group = m.bytes.data() + size_t(j - j % 16) * rb;
    float table[16];
    pal_group_table(group, rb, table);
    double amax = 0.0;
    for (float e : table) amax = std::max(amax, std::fabs(double(e)));
    uint16_t scale_h;
    std::memcpy(&scale_h, m.bytes.data() + size_t(j) * rb + 2, 2);
    const double scale = fp16_to_fp32(scale_h);
    // Row j's weights as the kernels see them: int8 table entries times the row factor.
    std::vector<double> t8w(static_cast<size_t>(k));
    const uint8_t* idx = m.bytes.data() + size_t(j) * rb + kPalRowHeader;  // Q4_0's nibble order
    for (int64_t c = 0; c < k; ++c) {
      const uint8_t byte = idx[(c / 32) * 16 + (c % 32) % 16];
      const double entry = table[(c % 32) < 16 ? byte & 0x0F : byte >> 4];
      t8w[size_t(c)] = std::round(127.0 * entry / amax) * scale * amax / 127.0;
    }
    for (int64_t i = 0; i < n; ++i) {
      double same_numerics = 0.0, exact = 0.0, mag = 0.0, bound = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        const BlockQ8_0& b = act[size_t((i * k + c) / 32)];
        const double xq = double(fp16_to_fp32(b.d)) * b.qs[c % 32], xf = x[size_t(i * k + c)];
        const double w = m.dense[size_t(j * k + c)];
        same_numerics += t8w[size_t(c)] * xq;
        exact += w * xf;
        mag += std::fabs(t8w[size_t(c)] * xq);
        // |w x - w' x'| <= |w| |x - x'| + |x'| |w - w'|
        bound += std::fabs(w) * std::fabs(xf - xq) + std::fabs(xq) * std::fabs(w - t8w[size_t(c)]);
      }
      const double got = out[i * ldo + j];
      ASSERT_NEAR(got, same_numerics, 2e-6 * mag + 1e-30) << "row " << i << " output " << j;
      ASSERT_NEAR(got, exact, bound + 2e-6 * mag + 1e-30) << "row " << i << " output " << j;
    }
  }
}

class Pal4g16Kernels : public ::testing::TestWithParam<std::string> {};

TEST_P(Pal4g16Kernels, PackedAndUnpackedTilesMatchTheReferences) {
  const cpu::MatmulKernel& kern = cpu::kernels_for_level(GetParam()).for_type(DType::PAL4G16);
  ASSERT_TRUE(kern);
  ASSERT_EQ(kern.act_type, DType::Q8_0);
  ASSERT_EQ(kern.w_block, kPalGroupRows);
  std::mt19937 rng(11);
  for (int64_t k : {32, 64, 160, 512}) {
    for (int64_t n : {1, 2, 3, 4, 5, 9}) {
      SCOPED_TRACE("k=" + std::to_string(k) + " n=" + std::to_string(n));
      const PalMatrix m = make_pal(48, k, rng);
      const auto x = random_floats(rng, size_t(n * k));
      const size_t a_stride = row_bytes(DType::Q8_0, k), w_stride = row_bytes(DType::PAL4G16, k);
      std::vector<uint8_t> act(a_stride * size_t(n));
      for (int64_t i = 0; i < n; ++i) kern.quantize(x.data() + i * k, act.data() + size_t(i) * a_stride, k);
      std::vector<uint8_t> packed(kern.packed_bytes(k, m.rows));
      kern.pack(k, m.bytes.data(), w_stride, m.rows, packed.data());
      const int64_t ldo = m.rows + 3;
      std::vector<float> out_packed(size_t(n * ldo), -777.0f), out_unpacked(out_packed);
      kern.tile_packed(k, packed.data(), m.bytes.data(), w_stride, m.rows, act.data(), a_stride, n, out_packed.data(),
                       ldo);
      kern.tile(k, m.bytes.data(), w_stride, m.rows, act.data(), a_stride, n, out_unpacked.data(), ldo);
      EXPECT_EQ(out_packed, out_unpacked);  // same bits, and the columns past the matrix untouched
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = m.rows; j < ldo; ++j) ASSERT_EQ(out_packed[size_t(i * ldo + j)], -777.0f);
      expect_matches_references(m, x, n, out_packed.data(), ldo);
    }
  }
}

TEST_P(Pal4g16Kernels, ExtremeTablesAndActivationsDoNotSaturate) {
  // Entries at +-max give int8 entries of +-127; activations of +-1 quantize to +-127: the largest products, all
  // of one sign in the first rows, where a saturating 16-bit pair sum would show.
  const int64_t rows = 16, k = 256, n = 3;
  std::vector<float> w(size_t(rows * k));
  for (size_t i = 0; i < w.size(); ++i) w[i] = (i / 7) % 2 ? 1.0f : -1.0f;
  PalMatrix m{rows, k, quantize(DType::PAL4G16, w.data(), rows, k), {}};
  m.dense = dequantized(m.bytes, rows, k);
  std::vector<float> x(size_t(n * k));
  for (int64_t c = 0; c < k; ++c) {
    x[size_t(c)] = w[size_t(c)];        // every product +1
    x[size_t(k + c)] = -w[size_t(c)];   // every product -1
    x[size_t(2 * k + c)] = 1.0f;
  }
  const cpu::MatmulKernel& kern = cpu::kernels_for_level(GetParam()).for_type(DType::PAL4G16);
  const size_t a_stride = row_bytes(DType::Q8_0, k), w_stride = row_bytes(DType::PAL4G16, k);
  std::vector<uint8_t> act(a_stride * size_t(n));
  for (int64_t i = 0; i < n; ++i) kern.quantize(x.data() + i * k, act.data() + size_t(i) * a_stride, k);
  std::vector<float> out(size_t(n * rows));
  kern.tile(k, m.bytes.data(), w_stride, rows, act.data(), a_stride, n, out.data(), rows);
  EXPECT_NEAR(out[0], double(k), 0.1);  // not exactly k: the activation scale 1/127 is stored as F16
  EXPECT_NEAR(out[size_t(rows)], -double(k), 0.1);
  expect_matches_references(m, x, n, out.data(), rows);
}

INSTANTIATE_TEST_SUITE_P(Levels, Pal4g16Kernels, ::testing::ValuesIn(test::supported_levels()),
                         [](const auto& info) { return info.param; });

class Pal4g16Backend : public test::CpuBackendFixture {};

TEST_F(Pal4g16Backend, MatmulOfEveryRowCountGivesTheOneRowBits) {
  const int64_t k = 192;
  const PalMatrix m = make_pal(64, k, rng);
  const WeightTensor t = test::make_tensor("w", DType::PAL4G16, m.rows, k, m.bytes);
  for (auto use : {Backend::MatrixUse::kProduct, Backend::MatrixUse::kLookup, Backend::MatrixUse::kBatchedProduct}) {
    auto w = be->prepare_matrix(t, use);
    const int64_t n = 13;
    const auto x = random_floats(rng, size_t(n * k));
    Act out = ws->act(n, m.rows);
    be->matmul(out, upload(x, n, k), *w);
    const auto all = download(out);
    expect_matches_references(m, x, n, all.data(), m.rows);
    for (int64_t i = 0; i < n; i += 5) {  // batch invariance: a row alone gives the same bits
      Act one = ws->act(1, m.rows);
      be->matmul(one, upload(std::vector<float>(x.begin() + i * k, x.begin() + (i + 1) * k), 1, k), *w);
      const auto got = download(one);
      for (int64_t j = 0; j < m.rows; ++j) ASSERT_EQ(got[size_t(j)], all[size_t(i * m.rows + j)]) << i << " " << j;
    }
    ws->reset();
  }
}

TEST_F(Pal4g16Backend, GetRowsDecodesEachRowWithItsGroup) {
  const int64_t k = 64;
  const PalMatrix m = make_pal(48, k, rng);
  auto table = be->prepare_matrix(test::make_tensor("emb", DType::PAL4G16, m.rows, k, m.bytes),
                                  Backend::MatrixUse::kLookup);
  const std::vector<int32_t> ids = {0, 17, 47, 31, 16, 15};
  Act out = ws->act(int64_t(ids.size()), k);
  be->get_rows(out, *table, ids);
  const auto got = download(out);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t c = 0; c < k; ++c) ASSERT_EQ(got[i * size_t(k) + size_t(c)], m.dense[size_t(ids[i] * k + c)]);
}

TEST_F(Pal4g16Backend, RejectsMatricesThatAreNotWholeGroups) {
  const int64_t k = 64;
  const PalMatrix m = make_pal(32, k, rng);
  // 24 rows: the bytes are there, but the last group is half a group.
  const WeightTensor t = test::make_tensor("w", DType::PAL4G16, 24, k, m.bytes);
  EXPECT_THROW(be->prepare_matrix(t), Error);
  WeightTensor short_data = test::make_tensor("w", DType::PAL4G16, 32, k, m.bytes);
  short_data.nbytes -= 1;
  EXPECT_THROW(be->prepare_matrix(short_data), Error);
  const WeightTensor odd_cols = test::make_tensor("w", DType::PAL4G16, 16, 48, m.bytes);
  EXPECT_THROW(be->prepare_matrix(odd_cols), Error);
}

}  // namespace
}  // namespace hearth
