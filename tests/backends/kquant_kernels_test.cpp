// K-quant matmul kernels (Q4_K, Q5_K, Q6_K) at every kernel level against the scalar kernel: over super-block
// counts and row counts that exercise the GEMV (1 to 3 activation rows) and GEMM paths and their remainders
// (cpu_matmul_test covers at most 3 super-blocks per row), and on extreme bytes — largest quants, scales and mins,
// activations at +-127 — where a saturating 16-bit product or an overflowing lane would show.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend_test_util.h"
#include "backends/cpu/kernels.h"
#include "core/fp16.h"

namespace hearth {
namespace {

using test::random_floats;
using test::random_weight_bytes;

const DType kKQuants[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Level `level` against the scalar kernel (see expect_tile_matches_scalar) with Q8_K activations.
void expect_matches_scalar(const std::string& level, DType wt, const std::vector<uint8_t>& wbytes,
                           const std::vector<float>& x, int64_t n, int64_t k, int64_t m) {
  test::expect_tile_matches_scalar(level, wt, wbytes, x, n, k, m, [](const uint8_t* row, int64_t c) {
    const auto* blocks = reinterpret_cast<const BlockQ8_K*>(row);
    return double(blocks[c / kQK_K].d) * blocks[c / kQK_K].qs[c % kQK_K];
  });
}

class KQuantKernels : public ::testing::TestWithParam<std::string> {};

TEST_P(KQuantKernels, MatchScalarKernelForManyBlockAndRowCounts) {
  std::mt19937 rng(2024);
  for (DType wt : kKQuants) {
    for (int64_t nb : {1, 2, 4, 5, 11}) {
      for (int64_t n : {1, 2, 3, 4, 5, 7}) {
        const int64_t k = kQK_K * nb, m = 7;
        SCOPED_TRACE(std::string(dtype_name(wt)) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
        expect_matches_scalar(GetParam(), wt, random_weight_bytes(wt, m, k, rng), random_floats(rng, size_t(n * k)),
                              n, k, m);
      }
    }
  }
}

TEST_P(KQuantKernels, MatchScalarKernelOnExtremeValues) {
  std::mt19937 rng(5);
  const int64_t k = 2 * kQK_K, m = 5, n = 4;
  for (DType wt : kKQuants) {
    const size_t bs = traits(wt).type_size;
    // Every byte all ones (largest quants, Q4_K/Q5_K scales and mins of 63), then bytes drawn from the bit
    // patterns at the ends of each field (Q6_K scales of -128 and 127).
    for (bool all_ones : {true, false}) {
      SCOPED_TRACE(std::string(dtype_name(wt)) + (all_ones ? " all ones" : " mixed"));
      std::vector<uint8_t> wbytes(row_bytes(wt, k) * size_t(m));
      const uint8_t patterns[] = {0xFF, 0x00, 0x80, 0x7F};
      std::uniform_int_distribution<int> pick(0, 3);
      for (auto& byte : wbytes) byte = all_ones ? 0xFF : patterns[pick(rng)];
      // Finite block scales, as in real weights: d (and dmin) are the last two bytes of Q6_K, the first four of the others.
      for (size_t off = 0; off < wbytes.size(); off += bs) {
        const uint16_t d = fp32_to_fp16(0.01f), dmin = fp32_to_fp16(0.003f);
        if (wt == DType::Q6_K) {
          std::memcpy(&wbytes[off + bs - 2], &d, 2);
        } else {
          std::memcpy(&wbytes[off], &d, 2);
          std::memcpy(&wbytes[off + 2], &dmin, 2);
        }
      }
      // Activations of +-1 quantize to +-127; the first rows are all one sign, so every product has the same sign.
      std::vector<float> x(size_t(n * k));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < k; ++c) x[size_t(i * k + c)] = i == 0 ? 1.0f : i == 1 ? -1.0f : (rng() & 1 ? 1.0f : -1.0f);
      for (int64_t rows : {int64_t(1), n}) expect_matches_scalar(GetParam(), wt, wbytes, x, rows, k, m);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, KQuantKernels, ::testing::ValuesIn(test::supported_levels()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace hearth
