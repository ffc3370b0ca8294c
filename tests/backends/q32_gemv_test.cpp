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
using test::weight_row;

class Q32Gemv : public ::testing::TestWithParam<std::string> {};

TEST_P(Q32Gemv, MatchesScalarKernelForManyBlockCounts) {
  const cpu::KernelSet& ks = cpu::kernels_for_level(GetParam());
  const cpu::KernelSet& ref_ks = cpu::kernels_for_level("scalar");
  std::mt19937 rng(77);
  for (DType wt : {DType::Q4_0, DType::Q8_0, DType::Q5_0}) {
    const cpu::MatmulKernel& kern = ks.for_type(wt);
    const cpu::MatmulKernel& ref = ref_ks.for_type(wt);
    ASSERT_EQ(kern.act_type, DType::Q8_0);
    ASSERT_EQ(ref.act_type, DType::Q8_0);
    for (int64_t nb : {4, 5, 6, 7, 8, 11, 12, 36}) {
      for (int64_t n = 1; n <= 3; ++n) {
        const int64_t k = 32 * nb, m = 11;
        SCOPED_TRACE(std::string(dtype_name(wt)) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
        const auto wbytes = random_weight_bytes(wt, m, k, rng);
        const auto x = random_floats(rng, size_t(n * k));
        const size_t a_stride = row_bytes(DType::Q8_0, k), w_stride = row_bytes(wt, k);
        std::vector<uint8_t> act(a_stride * size_t(n));
        for (int64_t i = 0; i < n; ++i) kern.quantize(x.data() + i * k, act.data() + size_t(i) * a_stride, k);
        const int64_t ldo = m + 2;
        std::vector<float> out(size_t(n * ldo), -777.0f), want(size_t(n * ldo), -777.0f);
        kern.tile(k, wbytes.data(), w_stride, m, act.data(), a_stride, n, out.data(), ldo);
        ref.tile(k, wbytes.data(), w_stride, m, act.data(), a_stride, n, want.data(), ldo);
        for (int64_t j = 0; j < m; ++j) {
          const auto w = weight_row(wt, wbytes, k, j);
          for (int64_t i = 0; i < n; ++i) {
            // Integer block sums are exact at every level; only the float summation order differs.
            const auto* blocks = reinterpret_cast<const BlockQ8_0*>(act.data() + size_t(i) * a_stride);
            double mag = 0.0;
            for (int64_t c = 0; c < k; ++c)
              mag += std::fabs(double(w[size_t(c)]) * fp16_to_fp32(blocks[c / 32].d) * blocks[c / 32].qs[c % 32]);
            ASSERT_NEAR(out[size_t(i * ldo + j)], want[size_t(i * ldo + j)], 4e-6 * mag + 1e-30)
                << "row " << i << " col " << j;
          }
        }
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = m; j < ldo; ++j) ASSERT_EQ(out[size_t(i * ldo + j)], -777.0f);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, Q32Gemv, ::testing::ValuesIn(test::supported_levels()));

}  // namespace
}  // namespace hearth
