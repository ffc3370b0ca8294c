// Random test data for the backend tests: weights of every type (random blocks with sane scales), activations,
// and obvious reference computations in double precision.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/kernels.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/fp16.h"

namespace hearth::test {

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Random bytes for rows x cols values of type t. Quantized blocks get random quants and small finite scales,
// so every bit pattern of the quants is exercised without producing inf/nan.
inline std::vector<uint8_t> random_weight_bytes(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  const size_t n = row_bytes(t, cols) * size_t(rows);
  std::vector<uint8_t> bytes(n);
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) {
    auto f = random_floats(rng, size_t(rows * cols));
    for (size_t i = 0; i < f.size(); ++i) {
      if (t == DType::F32) std::memcpy(bytes.data() + 4 * i, &f[i], 4);
      uint16_t h = t == DType::F16 ? fp32_to_fp16(f[i]) : fp32_to_bf16(f[i]);
      if (t != DType::F32) std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    return bytes;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : bytes) b = uint8_t(byte(rng));
  std::uniform_real_distribution<float> mag(0.002f, 0.02f);
  auto put = [&](uint8_t* p, float v) {
    uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
  };
  const size_t bs = traits(t).type_size;
  for (size_t off = 0; off < n; off += bs) {
    uint8_t* b = bytes.data() + off;
    switch (t) {
      case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: put(b, mag(rng)); break;
      case DType::Q4_1: case DType::Q5_1: put(b, mag(rng)); put(b + 2, -8 * mag(rng)); break;
      case DType::Q4_K: case DType::Q5_K: put(b, mag(rng)); put(b + 2, mag(rng)); break;
      case DType::Q2_K: put(b + 80, mag(rng)); put(b + 82, mag(rng)); break;
      case DType::Q3_K: put(b + 108, mag(rng)); break;
      case DType::Q6_K: put(b + 208, mag(rng) * 0.1f); break;
      default: break;
    }
  }
  return bytes;
}

inline WeightTensor make_tensor(const char* name, DType t, int64_t rows, int64_t cols, const std::vector<uint8_t>& bytes) {
  WeightTensor w;
  w.name = name;
  w.type = t;
  w.ne = {cols, rows};
  w.data = bytes.data();
  w.nbytes = bytes.size();
  return w;
}

// Row r of a weight matrix as floats (through core's dequantize_row, written independently of the backend).
inline std::vector<float> weight_row(DType t, const std::vector<uint8_t>& bytes, int64_t cols, int64_t r) {
  std::vector<float> out(static_cast<size_t>(cols));
  const uint8_t* p = bytes.data() + row_bytes(t, cols) * size_t(r);
  if (t == DType::F32) std::memcpy(out.data(), p, size_t(cols) * 4);
  else if (t == DType::F16) for (int64_t i = 0; i < cols; ++i) out[size_t(i)] = fp16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]);
  else if (t == DType::BF16) for (int64_t i = 0; i < cols; ++i) out[size_t(i)] = bf16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]);
  else dequantize_row(t, p, out.data(), cols);
  return out;
}

// Runs kernel level `level` and the scalar kernels on the same weights (m rows of k values) and activations (n rows,
// quantized by the scalar kernel) and checks that they agree up to float summation order: integer block sums are
// exact at every level, so the outputs may differ by 4e-6 of the sum of |w * a|, where act_value(row, c) is
// activation c of a quantized row as its format stores it. Columns past m of the output must stay untouched.
template <typename ActValue>
void expect_tile_matches_scalar(const std::string& level, DType wt, const std::vector<uint8_t>& wbytes,
                                const std::vector<float>& x, int64_t n, int64_t k, int64_t m, ActValue act_value) {
  const cpu::MatmulKernel& kern = cpu::kernels_for_level(level).for_type(wt);
  const cpu::MatmulKernel& ref = cpu::kernels_for_level("scalar").for_type(wt);
  ASSERT_EQ(kern.act_type, ref.act_type);
  const size_t a_stride = row_bytes(ref.act_type, k), w_stride = row_bytes(wt, k);
  std::vector<uint8_t> act(a_stride * size_t(n));
  for (int64_t i = 0; i < n; ++i) ref.quantize(x.data() + i * k, act.data() + size_t(i) * a_stride, k);
  const int64_t ldo = m + 2;
  std::vector<float> out(size_t(n * ldo), -777.0f), want(size_t(n * ldo), -777.0f);
  kern.tile(k, wbytes.data(), w_stride, m, act.data(), a_stride, n, out.data(), ldo);
  ref.tile(k, wbytes.data(), w_stride, m, act.data(), a_stride, n, want.data(), ldo);
  for (int64_t j = 0; j < m; ++j) {
    const auto w = weight_row(wt, wbytes, k, j);
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* row = act.data() + size_t(i) * a_stride;
      double mag = 0.0;
      for (int64_t c = 0; c < k; ++c) mag += std::fabs(double(w[size_t(c)]) * act_value(row, c));
      ASSERT_NEAR(out[size_t(i * ldo + j)], want[size_t(i * ldo + j)], 4e-6 * mag + 1e-30)
          << "row " << i << " col " << j;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = m; j < ldo; ++j) ASSERT_EQ(out[size_t(i * ldo + j)], -777.0f);
}

// The kernel levels this CPU can run, scalar first (the reference).
inline std::vector<std::string> supported_levels() {
  std::vector<std::string> out = {"scalar"};
  const std::string best = cpu_info().kernel_level();
  if (best == "avx2" || best == "avx512") out.push_back("avx2");
  if (best == "avx512") out.push_back("avx512");
  return out;
}

// A 2-thread CPU backend with a workspace and a seeded generator, and host <-> backend copies.
class CpuBackendFixture : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> be = make_cpu_backend(2);
  std::unique_ptr<Workspace> ws = be->new_workspace();
  std::mt19937 rng{42};

  Act upload(const std::vector<float>& v, int64_t rows, int64_t cols) {
    Act a = ws->act(rows, cols);
    be->write(a, v.data());
    return a;
  }
  std::vector<float> download(Act a) {
    std::vector<float> v(size_t(a.rows * a.cols));
    be->read(a, v.data());
    return v;
  }
};

}  // namespace hearth::test
