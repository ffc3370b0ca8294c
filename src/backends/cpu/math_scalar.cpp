// Portable element-wise math: GELU (erf form) and the softmax of attention scores.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/kernels.h"

namespace hearth::cpu {

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
