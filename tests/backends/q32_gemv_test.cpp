// GEMV (1 to 3 activation rows) of the 32-value block types at every kernel level against the scalar kernel,
// over block counts that exercise the SIMD kernels' multi-block steps and their remainders (cpu_matmul_test
// covers at most 3 blocks per row here), and row counts that leave partial groups of weight rows.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend_test_util.h"
#include "backends/cpu/kernels.h"
#include "core/cpu_features.h"

namespace hearth {
namespace {

using test::random_floats;
using test::random_weight_bytes;

class Q32Gemv : public ::testing::TestWithParam<std::string> {};

TEST_P(Q32Gemv, MatchesScalarKernelForManyBlockCounts) {
  const auto q8_0_value = [](const uint8_t* row, int64_t c) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(row);
    return double(fp16_to_fp32(blocks[c / 32].d)) * blocks[c / 32].qs[c % 32];
  };
  std::mt19937 rng(77);
  for (DType wt : {DType::Q4_0, DType::Q8_0, DType::Q5_0}) {
    ASSERT_EQ(cpu::kernels_for_level(GetParam()).for_type(wt).act_type, DType::Q8_0);
    for (int64_t nb : {4, 5, 6, 7, 8, 11, 12, 36}) {
      for (int64_t n = 1; n <= 3; ++n) {
        const int64_t k = 32 * nb, m = 11;
        SCOPED_TRACE(std::string(dtype_name(wt)) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
        test::expect_tile_matches_scalar(GetParam(), wt, random_weight_bytes(wt, m, k, rng),
                                         random_floats(rng, size_t(n * k)), n, k, m, q8_0_value);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, Q32Gemv, ::testing::ValuesIn(test::supported_levels()));

}  // namespace
}  // namespace hearth
