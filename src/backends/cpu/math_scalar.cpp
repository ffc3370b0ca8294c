// Portable element-wise math: GELU (erf form), the softmax of attention scores and the small ops' row kernels.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/kernels.h"
#include "backends/cpu/ops.h"

namespace hearth::cpu {

#if defined(__x86_64__) || defined(__i386__)
const RowKernels& avx512_row_kernels();  // math_avx512.cpp
#endif

namespace {

void add_scalar(int64_t n, float* y, const float* x) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void add_with_bias_scalar(int64_t n, float* y, const float* x, const float* bias) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i] + bias[i];
}

void relu_scalar(int64_t n, float* x) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void layer_norm_scalar(int64_t n, const float* x, float* y, const float* gamma, const float* beta, float eps) {
  // ggml: mean and variance summed in double, normalized in float.
  double sum = 0.0;
  for (int64_t c = 0; c < n; ++c) sum += x[c];
  const float mean = float(sum / double(n));
  double sum2 = 0.0;
  for (int64_t c = 0; c < n; ++c) {
    y[c] = x[c] - mean;
    sum2 += double(y[c]) * double(y[c]);
  }
  const float inv = 1.0f / std::sqrt(float(sum2 / double(n)) + eps);
  for (int64_t c = 0; c < n; ++c) {
    float v = y[c] * inv;
    if (gamma) v *= gamma[c];
    if (beta) v += beta[c];
    y[c] = v;
  }
}

}  // namespace

const RowKernels& row_kernels(const std::string& level) {
  (void)level;  // unused where no SIMD row kernels are built
#if (defined(__x86_64__) || defined(__i386__)) && !defined(HEARTH_NO_AVX512)
  if (level == "avx512") return avx512_row_kernels();
#endif
  static const RowKernels scalar{add_scalar, add_with_bias_scalar, relu_scalar, layer_norm_scalar};
  return scalar;
}

void gelu_erf_scalar(int64_t n, float* x) {
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

void softmax_scalar(int64_t n, float* x, float scale) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i] *= scale);
  // As ggml: exponentials in float, their sum in double.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] - mx));
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace hearth::cpu
