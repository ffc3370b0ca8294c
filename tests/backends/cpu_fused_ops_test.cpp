// The CPU backend's fused and vectorised paths against their plain forms: attention on a fused QKV activation
// equals attention on separate q/k/v and a matmul epilogue equals the separate op after it (same kernels, so bit
// for bit), and each level's row kernels agree with the scalar ones (add exactly; layer_norm up to the order of
// its double sums).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend_test_util.h"
#include "backends/backend.h"
#include "backends/cpu/ops.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace hearth {
namespace {

using test::random_floats;

using CpuFusedOpsTest = test::CpuBackendFixture;

TEST_F(CpuFusedOpsTest, AttentionOnFusedQkvEqualsSeparate) {
  struct Case {
    int n_head, n_head_kv, head_dim;
    bool causal;
    std::vector<AttentionSpan> spans;
    int64_t rows;
  };
  const std::vector<Case> cases = {
      {4, 4, 8, false, {{0, 5, 0, 5}, {5, 1, 5, 1}, {6, 20, 6, 20}}, 26},  // packed encoder batch
      {12, 12, 32, false, {{0, 33, 0, 33}}, 33},                           // more rows than a query block
      {4, 2, 16, true, {{0, 9, 0, 9}}, 9},                                 // grouped kv heads, causal
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE("heads " + std::to_string(tc.n_head) + "/" + std::to_string(tc.n_head_kv));
    AttentionParams p;
    p.n_head = tc.n_head;
    p.n_head_kv = tc.n_head_kv;
    p.head_dim = tc.head_dim;
    p.causal = tc.causal;
    p.scale = 0.37f;
    const int64_t qc = int64_t(tc.n_head) * tc.head_dim, kc = int64_t(tc.n_head_kv) * tc.head_dim;
    const int64_t w = qc + 2 * kc;
    const auto fused = random_floats(rng, size_t(tc.rows * w), 2.0f);
    std::vector<float> q(size_t(tc.rows * qc)), k(size_t(tc.rows * kc)), v(size_t(tc.rows * kc));
    for (int64_t r = 0; r < tc.rows; ++r) {
      std::memcpy(&q[size_t(r * qc)], &fused[size_t(r * w)], size_t(qc) * 4);
      std::memcpy(&k[size_t(r * kc)], &fused[size_t(r * w + qc)], size_t(kc) * 4);
      std::memcpy(&v[size_t(r * kc)], &fused[size_t(r * w + qc + kc)], size_t(kc) * 4);
    }
    Act out_sep = ws->act(tc.rows, qc), out_fused = ws->act(tc.rows, qc);
    be->attention(out_sep, upload(q, tc.rows, qc), upload(k, tc.rows, kc), upload(v, tc.rows, kc), tc.spans, p);
    be->attention_fused(out_fused, upload(fused, tc.rows, w), tc.spans, p);
    const auto a = download(out_sep), b = download(out_fused);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "at " << i;
  }
}

TEST_F(CpuFusedOpsTest, MatmulEpiloguesEqualTheSeparateOps) {
  using E = Backend::Epilogue;
  const int64_t k = 256, m = 80;  // m is not a multiple of the 16-row panels
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_K}) {
    const auto bytes = test::random_weight_bytes(t, m, k, rng);
    auto w = be->prepare_matrix(test::make_tensor("w", t, m, k, bytes));
    auto bias = be->make_vector(random_floats(rng, size_t(m)));
    for (int64_t n : {1, 5, 70}) {  // one streaming path and both GEMM paths
      SCOPED_TRACE(std::string(traits(t).name) + ", rows " + std::to_string(n));
      const Act x = upload(random_floats(rng, size_t(n * k)), n, k);
      const auto residual = random_floats(rng, size_t(n * m), 3.0f);
      Act plain = ws->act(n, m);
      be->matmul(plain, x, *w, bias.get());
      for (E e : {E::kRelu, E::kGeluErf, E::kAccumulate}) {
        Act expect = ws->act(n, m), fused = ws->act(n, m);
        be->copy(expect, plain);
        if (e == E::kRelu) be->relu(expect);
        if (e == E::kGeluErf) be->gelu_erf(expect);
        if (e == E::kAccumulate) {
          be->write(expect, residual.data());
          be->add(expect, plain);
          be->write(fused, residual.data());
        }
        be->matmul(fused, x, *w, bias.get(), e);
        const auto a = download(expect), b = download(fused);
        for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "epilogue " << int(e) << " at " << i;
      }
    }
  }
}

TEST_F(CpuFusedOpsTest, AttentionOnFusedQkvRejectsBadShapes) {
  AttentionParams p;
  p.n_head = p.n_head_kv = 2;
  p.head_dim = 4;
  const std::vector<AttentionSpan> spans = {{0, 3, 0, 3}};
  Act out = ws->act(3, 8);
  EXPECT_THROW(be->attention_fused(out, ws->act(3, 23), spans, p), Error);  // not q + k + v wide
  EXPECT_THROW(be->attention_fused(ws->act(2, 8), ws->act(3, 24), spans, p), Error);  // output rows
  const std::vector<AttentionSpan> outside = {{0, 3, 1, 3}};
  EXPECT_THROW(be->attention_fused(out, ws->act(3, 24), outside, p), Error);
  Act qkv = ws->act(3, 24);
  EXPECT_THROW(be->attention_fused(Act{qkv.data, 3, 8}, qkv, spans, p), Error);  // output aliases the input
}

std::vector<std::string> levels_here() {
  std::vector<std::string> levels = {"scalar"};
  const std::string best = cpu_info().kernel_level();
  if (best != "scalar") levels.push_back(best);
  return levels;
}

TEST(CpuRowKernels, AgreeWithScalar) {
  std::mt19937 rng(11);
  const cpu::RowKernels& ref = cpu::row_kernels("scalar");
  for (const std::string& level : levels_here()) {
    const cpu::RowKernels& rk = cpu::row_kernels(level);
    for (int64_t n : {1, 7, 16, 17, 384, 513}) {
      SCOPED_TRACE(level + " n=" + std::to_string(n));
      const auto x = random_floats(rng, size_t(n), 3.0f), y = random_floats(rng, size_t(n));
      auto got = x, want = x;
      rk.add(n, got.data(), y.data());
      ref.add(n, want.data(), y.data());
      EXPECT_EQ(got, want);

      // y + (x + bias), exactly: the bias is added to the tile before the tile is added to the residual.
      const auto bias = random_floats(rng, size_t(n));
      got = x;
      rk.add_with_bias(n, got.data(), y.data(), bias.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[size_t(i)], x[size_t(i)] + (y[size_t(i)] + bias[size_t(i)])) << i;

      auto special = x;
      special[0] = -0.0f;
      if (n > 1) special[1] = std::nanf("");
      got = special;
      want = special;
      rk.relu(n, got.data());
      ref.relu(n, want.data());
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(std::memcmp(&got[size_t(i)], &want[size_t(i)], 4), 0) << "relu at " << i;

      auto shifted = x;
      for (float& t : shifted) t += 2.5f;  // a non-zero mean
      const auto g = random_floats(rng, size_t(n)), b = random_floats(rng, size_t(n));
      for (bool affine : {true, false}) {
        got = shifted;
        want = shifted;
        std::vector<float> apart(shifted.size());
        rk.layer_norm(n, got.data(), got.data(), affine ? g.data() : nullptr, affine ? b.data() : nullptr, 1e-5f);
        rk.layer_norm(n, shifted.data(), apart.data(), affine ? g.data() : nullptr, affine ? b.data() : nullptr, 1e-5f);
        ref.layer_norm(n, want.data(), want.data(), affine ? g.data() : nullptr, affine ? b.data() : nullptr, 1e-5f);
        ASSERT_EQ(apart, got);  // into another buffer: the same bits
        // Only the double sums' order differs: the float mean and scale agree but for their last bit at most.
        for (int64_t i = 0; i < n; ++i)
          ASSERT_NEAR(got[size_t(i)], want[size_t(i)], 1e-6f * (1.0f + std::fabs(want[size_t(i)]))) << "at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace hearth
