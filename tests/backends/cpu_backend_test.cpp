// Every op of the CPU backend against an obvious scalar reference on random data, including edge shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "backend_test_util.h"
#include "backends/backend.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/ops.h"
#include "core/error.h"
#include "core/fp16.h"

namespace hearth {
namespace {

using test::make_tensor;
using test::random_floats;
using test::random_weight_bytes;
using test::weight_row;

using CpuBackendTest = test::CpuBackendFixture;

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << "at " << i;
}

TEST_F(CpuBackendTest, DeviceNamesKernels) {
  EXPECT_EQ(be->device().backend, "cpu");
  EXPECT_EQ(be->threads(), 2);
  EXPECT_FALSE(be->device().kernels.empty());
  EXPECT_EQ(be->device().kernels, cpu::kernels().name);
}

TEST_F(CpuBackendTest, MatmulEveryTypeWithBias) {
  for (DType wt : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                   DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const int64_t k = traits(wt).block_size == 256 ? 512 : 96;
    for (auto [n, m] : {std::pair<int64_t, int64_t>{1, 1}, {1, 37}, {70, 9}, {3, 130}}) {
      SCOPED_TRACE(std::string(dtype_name(wt)) + " n=" + std::to_string(n) + " m=" + std::to_string(m));
      auto wb = random_weight_bytes(wt, m, k, rng);
      auto mat = be->prepare_matrix(make_tensor("w", wt, m, k, wb));
      EXPECT_EQ(mat->rows, m);
      EXPECT_EQ(mat->cols, k);
      auto bias_v = random_floats(rng, size_t(m));
      auto bias = be->make_vector(bias_v);
      auto x = random_floats(rng, size_t(n * k));
      Act xa = upload(x, n, k), out = ws->act(n, m);
      be->matmul(out, xa, *mat, bias.get());
      auto got = download(out);
      // Reference: dequantized weights times the unrounded activations. The activation rounding (F16: 2^-11,
      // BF16: 2^-8 relative, Q8_0, Q8_K) is checked exactly in cpu_matmul_test; here the tolerance covers it.
      const bool f32_act = wt == DType::F32 || wt == DType::Q2_K || wt == DType::Q3_K;
      const double rel = f32_act ? 1e-5 : wt == DType::F16 ? 2e-3 : wt == DType::BF16 ? 5e-3 : 3e-2;
      for (int64_t j = 0; j < m; ++j) {
        auto w = weight_row(wt, wb, k, j);
        for (int64_t i = 0; i < n; ++i) {
          double ref = bias_v[size_t(j)], mag = 0;
          for (int64_t c = 0; c < k; ++c) {
            ref += double(w[size_t(c)]) * x[size_t(i * k + c)];
            mag += std::fabs(double(w[size_t(c)]) * x[size_t(i * k + c)]);
          }
          ASSERT_NEAR(got[size_t(i * m + j)], ref, rel * mag + 1e-6) << i << "," << j;
        }
      }
    }
  }
}

TEST_F(CpuBackendTest, MatmulRejectsBadShapes) {
  auto wb = random_weight_bytes(DType::F32, 4, 8, rng);
  auto mat = be->prepare_matrix(make_tensor("w", DType::F32, 4, 8, wb));
  Act x = ws->act(2, 7), out = ws->act(2, 4);
  EXPECT_THROW(be->matmul(out, x, *mat), Error);
  auto short_tensor = make_tensor("w", DType::Q8_0, 4, 64, wb);
  EXPECT_THROW(be->prepare_matrix(short_tensor), Error);  // 128 bytes for 4 rows of 2 Q8_0 blocks (272)
  auto odd = make_tensor("w", DType::Q8_0, 1, 48, wb);
  EXPECT_THROW(be->prepare_matrix(odd), Error);  // 48 is not a multiple of 32
}

TEST_F(CpuBackendTest, GetRowsDequantizesAndChecksIds) {
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t cols = 256, rows = 10;
    auto wb = random_weight_bytes(t, rows, cols, rng);
    auto table = be->prepare_matrix(make_tensor("emb", t, rows, cols, wb));
    std::vector<int32_t> ids = {3, 0, 9, 3};
    Act out = ws->act(4, cols);
    be->get_rows(out, *table, ids);
    auto got = download(out);
    for (size_t i = 0; i < ids.size(); ++i) {
      auto row = weight_row(t, wb, cols, ids[i]);
      for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(got[i * size_t(cols) + size_t(c)], row[size_t(c)]);
    }
    std::vector<int32_t> bad = {10};
    Act one = ws->act(1, cols);
    EXPECT_THROW(be->get_rows(one, *table, bad), Error);
    bad = {-1};
    EXPECT_THROW(be->get_rows(one, *table, bad), Error);
  }
}

TEST_F(CpuBackendTest, CopyConvertsF16) {
  auto x = random_floats(rng, 3 * 40);
  Act a = upload(x, 3, 40);
  Act h = ws->act(3, 40, DType::F16), back = ws->act(3, 40);
  be->copy(h, a);
  be->copy(back, h);
  auto got = download(back);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], fp16_to_fp32(fp32_to_fp16(x[i])));
  auto viaread = download(h);
  EXPECT_EQ(viaread, got);
}

TEST_F(CpuBackendTest, ElementwiseOps) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {200, 130}}) {
    const size_t n = size_t(rows * cols);
    auto x = random_floats(rng, n, 2.0f), y = random_floats(rng, n), v = random_floats(rng, size_t(cols));
    auto vec = be->make_vector(v);
    Act a = upload(x, rows, cols), b = upload(y, rows, cols);
    be->add(a, b);
    be->add_vector(a, *vec);
    be->scale(a, 0.5f);
    std::vector<double> want(n);
    for (size_t i = 0; i < n; ++i) want[i] = (double(x[i]) + y[i] + v[i % size_t(cols)]) * 0.5;
    expect_close(download(a), want, 1e-6);

    struct Unary {
      void (Backend::*op)(Act);
      double (*ref)(double);
    };
    const Unary ops[] = {
        {&Backend::gelu_erf, [](double t) { return 0.5 * t * (1 + std::erf(t / std::sqrt(2.0))); }},
        {&Backend::relu, [](double t) { return t > 0 ? t : 0.0; }},
        {&Backend::tanh, [](double t) { return std::tanh(t); }},
    };
    for (const auto& u : ops) {
      Act c = upload(x, rows, cols);
      (be.get()->*u.op)(c);
      for (size_t i = 0; i < n; ++i) want[i] = u.ref(x[i]);
      expect_close(download(c), want, 1e-5);
    }
    Act g = upload(x, rows, cols), up = upload(y, rows, cols);
    be->swiglu(g, up);
    for (size_t i = 0; i < n; ++i) want[i] = double(x[i]) / (1 + std::exp(-double(x[i]))) * y[i];
    expect_close(download(g), want, 1e-5);
  }
  Act a = ws->act(2, 3), b = ws->act(3, 2);
  EXPECT_THROW(be->add(a, b), Error);
}

TEST_F(CpuBackendTest, Norms) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {1, 7}, {5, 384}, {130, 129}}) {
    const size_t n = size_t(rows * cols);
    auto x = random_floats(rng, n, 3.0f);
    for (size_t i = 0; i < n; ++i) x[i] += 1.5f;  // a non-zero mean
    auto g = random_floats(rng, size_t(cols)), bt = random_floats(rng, size_t(cols));
    auto gv = be->make_vector(g), bv = be->make_vector(bt);
    Act a = upload(x, rows, cols), r = upload(x, rows, cols), plain = upload(x, rows, cols), l2 = upload(x, rows, cols);
    Act src = upload(x, rows, cols), apart = ws->act(rows, cols);
    be->layer_norm(a, a, gv.get(), bv.get(), 1e-5f);
    be->layer_norm(apart, src, gv.get(), bv.get(), 1e-5f);  // into another activation: the same values, x kept
    be->layer_norm(plain, plain, nullptr, nullptr, 1e-12f);
    be->rms_norm(r, *gv, 1e-6f);
    be->l2_normalize(l2);
    std::vector<double> want_ln(n), want_plain(n), want_rms(n), want_l2(n);
    for (int64_t i = 0; i < rows; ++i) {
      double mean = 0, ss = 0;
      for (int64_t c = 0; c < cols; ++c) mean += x[size_t(i * cols + c)];
      mean /= double(cols);
      double var = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double d = x[size_t(i * cols + c)] - mean;
        var += d * d;
        ss += double(x[size_t(i * cols + c)]) * x[size_t(i * cols + c)];
      }
      var /= double(cols);
      for (int64_t c = 0; c < cols; ++c) {
        const size_t idx = size_t(i * cols + c);
        const double norm = (x[idx] - mean) / std::sqrt(var + 1e-5);
        want_ln[idx] = norm * g[size_t(c)] + bt[size_t(c)];
        want_plain[idx] = (x[idx] - mean) / std::sqrt(var + 1e-12);
        want_rms[idx] = x[idx] / std::sqrt(ss / double(cols) + 1e-6) * g[size_t(c)];
        want_l2[idx] = x[idx] / std::sqrt(ss);
      }
    }
    expect_close(download(a), want_ln, cols == 1 ? 1e-2 : 1e-5);
    EXPECT_EQ(download(apart), download(a));
    EXPECT_EQ(download(src), x);
    if (cols > 1) expect_close(download(plain), want_plain, 1e-5);
    expect_close(download(r), want_rms, 1e-5);
    expect_close(download(l2), want_l2, 1e-6);
  }
}

double rope_theta(int pos, int i, const RopeParams& p) {
  return pos * std::pow(double(p.freq_base), -2.0 * i / p.n_rot) * p.freq_scale;
}

TEST_F(CpuBackendTest, RopeNormAndNeox) {
  for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
    for (int n_rot : {8, 16}) {
      RopeParams p;
      p.n_head = 3;
      p.head_dim = 16;
      p.n_rot = n_rot;
      p.freq_base = 10000.0f;
      p.freq_scale = 0.5f;
      p.mode = mode;
      const int64_t tokens = 5;
      auto x = random_floats(rng, size_t(tokens * 48));
      std::vector<int32_t> pos = {0, 1, 7, 30, 2};
      Act a = upload(x, tokens, 48);
      be->rope(a, pos, p);
      std::vector<double> want(x.begin(), x.end());
      for (int64_t t = 0; t < tokens; ++t)
        for (int h = 0; h < 3; ++h)
          for (int i = 0; i < n_rot / 2; ++i) {
            const size_t base = size_t(t * 48 + h * 16);
            const size_t ia = mode == RopeMode::kNormal ? size_t(2 * i) : size_t(i);
            const size_t ib = mode == RopeMode::kNormal ? size_t(2 * i + 1) : size_t(i + n_rot / 2);
            const double th = rope_theta(pos[size_t(t)], i, p);
            want[base + ia] = x[base + ia] * std::cos(th) - x[base + ib] * std::sin(th);
            want[base + ib] = x[base + ia] * std::sin(th) + x[base + ib] * std::cos(th);
          }
      expect_close(download(a), want, 1e-5);
    }
  }
  RopeParams bad;
  bad.n_head = 2;
  bad.head_dim = 8;
  bad.n_rot = 9;
  Act a = ws->act(1, 16);
  std::vector<int32_t> pos = {0};
  EXPECT_THROW(be->rope(a, pos, bad), Error);
}

// F16 weights multiply F16-rounded activations (llama.cpp's numerics), whatever kernel set runs: 1 + 2^-13 is not
// an F16 value and rounds to 1, so a row of F16 ones must give exactly k, not k + k * 2^-13.
TEST_F(CpuBackendTest, F16MatmulRoundsActivationsToF16) {
  const int64_t k = 256;
  for (int64_t rows : {1, 3, 40}) {
    std::vector<uint8_t> ones(size_t(2 * k * 2));
    for (int64_t i = 0; i < 2 * k; ++i) {
      const uint16_t h = fp32_to_fp16(1.0f);
      std::memcpy(ones.data() + 2 * i, &h, 2);
    }
    auto w = be->prepare_matrix(make_tensor("ones", DType::F16, 2, k, ones));
    Act x = upload(std::vector<float>(size_t(rows * k), 1.0f + std::ldexp(1.0f, -13)), rows, k);
    Act out = ws->act(rows, 2);
    be->matmul(out, x, *w);
    for (float v : download(out)) EXPECT_EQ(v, float(k)) << rows << " activation rows";
  }
}

// BF16 weights multiply BF16-rounded activations (llama.cpp's numerics), whatever kernel set runs: 1 + 2^-10 is
// not a BF16 value and rounds to 1, so a row of BF16 ones must give exactly k, not k + k * 2^-10. Odd k and 20
// weight rows (a partial 16-row panel) reach the tails of the paired kernels. Every kernel level, unpacked and
// packed, is checked in cpu_matmul_test (MatmulKernels.BF16MatmulRoundsActivationsToBF16).
TEST_F(CpuBackendTest, BF16MatmulRoundsActivationsToBF16) {
  const int64_t k = 255, m = 20;
  for (int64_t rows : {1, 3, 40}) {
    std::vector<uint8_t> ones(size_t(m * k * 2));
    for (int64_t i = 0; i < m * k; ++i) {
      const uint16_t h = fp32_to_bf16(1.0f);
      std::memcpy(ones.data() + 2 * i, &h, 2);
    }
    auto w = be->prepare_matrix(make_tensor("ones", DType::BF16, m, k, ones));
    Act x = upload(std::vector<float>(size_t(rows * k), 1.0f + std::ldexp(1.0f, -10)), rows, k);
    Act out = ws->act(rows, m);
    be->matmul(out, x, *w);
    for (float v : download(out)) EXPECT_EQ(v, float(k)) << rows << " activation rows";
  }
}

TEST(RopeLlama3, FreqFactorsFollowTheScalingRule) {
  RopeParams p;
  p.n_rot = 128;
  p.freq_base = 500000.0f;
  p.llama3_factor = 8.0f;
  auto ff = cpu::llama3_freq_factors(p);
  ASSERT_EQ(ff.size(), 64u);
  EXPECT_EQ(ff.front(), 1.0f);  // high frequencies untouched
  EXPECT_EQ(ff.back(), 8.0f);   // low frequencies divided by the factor
  for (size_t i = 1; i < ff.size(); ++i) EXPECT_GE(ff[i], ff[i - 1]);
}

struct AttnCase {
  int n_head, n_head_kv, head_dim;
  bool causal;
  DType kv_type;
  std::vector<AttentionSpan> spans;
  int64_t q_rows, kv_rows;
};

TEST_F(CpuBackendTest, AttentionMatchesReference) {
  const std::vector<AttnCase> cases = {
      // encoder: several short sequences packed in one batch, one of length 1
      {4, 4, 8, false, DType::F32, {{0, 5, 0, 5}, {5, 1, 5, 1}, {6, 20, 6, 20}}, 26, 26},
      // decoder prompt: causal with GQA, F16 KV cache with earlier context
      {4, 2, 16, true, DType::F16, {{0, 7, 3, 10}, {7, 1, 0, 1}}, 8, 13},
      // decode step: one query row against a long kv range
      {8, 2, 32, true, DType::F16, {{0, 1, 0, 300}}, 1, 300},
      {2, 1, 64, true, DType::F32, {{0, 18, 0, 18}}, 18, 18},
  };
  for (const auto& tc : cases) {
    AttentionParams p;
    p.n_head = tc.n_head;
    p.n_head_kv = tc.n_head_kv;
    p.head_dim = tc.head_dim;
    p.causal = tc.causal;
    p.scale = 1.0f / std::sqrt(float(tc.head_dim));
    const int64_t qc = int64_t(tc.n_head) * tc.head_dim, kc = int64_t(tc.n_head_kv) * tc.head_dim;
    auto q = random_floats(rng, size_t(tc.q_rows * qc), 2.0f);
    auto k = random_floats(rng, size_t(tc.kv_rows * kc), 2.0f), v = random_floats(rng, size_t(tc.kv_rows * kc));
    Act qa = upload(q, tc.q_rows, qc), out = ws->act(tc.q_rows, qc);
    Act ka = upload(k, tc.kv_rows, kc), va = upload(v, tc.kv_rows, kc);
    if (tc.kv_type == DType::F16) {
      Act kh = ws->act(tc.kv_rows, kc, DType::F16), vh = ws->act(tc.kv_rows, kc, DType::F16);
      be->copy(kh, ka);
      be->copy(vh, va);
      ka = kh, va = vh;
      for (auto& t : k) t = fp16_to_fp32(fp32_to_fp16(t));
      for (auto& t : v) t = fp16_to_fp32(fp32_to_fp16(t));
      for (auto& t : q) t = fp16_to_fp32(fp32_to_fp16(t));  // llama.cpp rounds q to F16 for an F16 K
    }
    std::vector<float> sentinel(size_t(tc.q_rows * qc), 0.0f);
    be->write(out, sentinel.data());
    be->attention(out, qa, ka, va, tc.spans, p);
    std::vector<double> want(size_t(tc.q_rows * qc), 0.0);
    for (const auto& s : tc.spans)
      for (int h = 0; h < tc.n_head; ++h) {
        const int kvh = h / (tc.n_head / tc.n_head_kv);
        for (int64_t i = 0; i < s.q_count; ++i) {
          const int64_t visible = tc.causal ? s.kv_count - s.q_count + i + 1 : s.kv_count;
          std::vector<double> sc(static_cast<size_t>(visible));
          double mx = -1e300;
          for (int64_t j = 0; j < visible; ++j) {
            double d = 0;
            for (int c = 0; c < tc.head_dim; ++c)
              d += double(q[size_t((s.q_begin + i) * qc + h * tc.head_dim + c)]) *
                   k[size_t((s.kv_begin + j) * kc + kvh * tc.head_dim + c)];
            sc[size_t(j)] = d * p.scale;
            mx = std::max(mx, sc[size_t(j)]);
          }
          double sum = 0;
          for (auto& t : sc) sum += (t = std::exp(t - mx));
          for (int c = 0; c < tc.head_dim; ++c) {
            double o = 0;
            for (int64_t j = 0; j < visible; ++j)
              o += sc[size_t(j)] / sum * v[size_t((s.kv_begin + j) * kc + kvh * tc.head_dim + c)];
            want[size_t((s.q_begin + i) * qc + h * tc.head_dim + c)] = o;
          }
        }
      }
    // F16 rounding of the probabilities (as llama.cpp does) bounds the error at ~1e-3 relative.
    expect_close(download(out), want, tc.kv_type == DType::F16 ? 2e-3 : 1e-5);
  }
  AttentionParams p;
  p.n_head = 2;
  p.n_head_kv = 2;
  p.head_dim = 4;
  Act q = ws->act(3, 8), k = ws->act(3, 8), v = ws->act(3, 8), out = ws->act(3, 8);
  std::vector<AttentionSpan> outside = {{0, 3, 1, 3}};
  EXPECT_THROW(be->attention(out, q, k, v, outside, p), Error);
  p.n_head_kv = 3;
  std::vector<AttentionSpan> ok = {{0, 3, 0, 3}};
  EXPECT_THROW(be->attention(out, q, k, v, ok, p), Error);
}

TEST_F(CpuBackendTest, Pooling) {
  auto x = random_floats(rng, size_t(10 * 6));
  Act a = upload(x, 10, 6);
  std::vector<AttentionSpan> spans = {{0, 4, 0, 4}, {4, 1, 4, 1}, {5, 5, 5, 5}};
  for (Pooling how : {Pooling::kMean, Pooling::kCls, Pooling::kLast}) {
    Act out = ws->act(3, 6);
    be->pool(out, a, spans, how);
    std::vector<double> want(18);
    for (size_t s = 0; s < 3; ++s)
      for (int64_t c = 0; c < 6; ++c) {
        const auto& sp = spans[s];
        double v = 0;
        if (how == Pooling::kMean) {
          for (int64_t r = sp.q_begin; r < sp.q_begin + sp.q_count; ++r) v += x[size_t(r * 6 + c)];
          v /= double(sp.q_count);
        } else {
          const int64_t r = how == Pooling::kCls ? sp.q_begin : sp.q_begin + sp.q_count - 1;
          v = x[size_t(r * 6 + c)];
        }
        want[s * 6 + size_t(c)] = v;
      }
    expect_close(download(out), want, 1e-6);
  }
  std::vector<AttentionSpan> bad = {{8, 5, 0, 0}};
  Act out1 = ws->act(1, 6);
  EXPECT_THROW(be->pool(out1, a, bad, Pooling::kMean), Error);
}

TEST_F(CpuBackendTest, PersistentMemoryIsZeroed) {
  auto kv = be->alloc_persistent(7, 33, DType::F16);
  auto got = download(*kv);
  for (float f : got) EXPECT_EQ(f, 0.0f);
  EXPECT_THROW(be->alloc_persistent(2, 2, DType::Q8_0), Error);
}

TEST_F(CpuBackendTest, WorkspaceSurvivesManyAllocationsAndReset) {
  for (int pass = 0; pass < 3; ++pass) {
    std::vector<Act> acts;
    for (int i = 0; i < 40; ++i) acts.push_back(ws->act(1000, 300));  // > 16 MiB in total: several blocks
    for (size_t i = 0; i < acts.size(); ++i) {
      std::vector<float> v(300000, float(i));
      be->write(acts[i], v.data());
    }
    for (size_t i = 0; i < acts.size(); ++i) EXPECT_EQ(download(acts[i])[299999], float(i));
    ws->reset();
  }
}

}  // namespace
}  // namespace hearth
