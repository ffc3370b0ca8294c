// Rotary position embedding, computed as ggml_rope does: the angle of pair i is built by repeated
// multiplication (theta *= base^(-2/n_rot)) in float, not by pow per pair, so the cos/sin match llama.cpp's
// to the last bit on the same libm.
#include <cmath>
#include <numbers>
#include <vector>

#include "backends/cpu/ops.h"

namespace hearth::cpu {

std::vector<float> llama3_freq_factors(const RopeParams& p) {
  std::vector<float> ff(size_t(p.n_rot / 2), 1.0f);
  if (p.llama3_factor == 0.0f) return ff;
  // As llama.cpp's converter computes rope_freqs (in double precision, stored as float).
  const double old_ctx = p.llama3_original_context;
  const double low_wavelen = old_ctx / p.llama3_low_freq_factor;
  const double high_wavelen = old_ctx / p.llama3_high_freq_factor;
  for (int i = 0; i < p.n_rot / 2; ++i) {
    const double freq = 1.0 / std::pow(double(p.freq_base), double(2 * i) / p.n_rot);
    const double wavelen = 2 * std::numbers::pi / freq;
    double f;
    if (wavelen < high_wavelen) {
      f = 1.0;
    } else if (wavelen > low_wavelen) {
      f = p.llama3_factor;
    } else {
      const double smooth = (old_ctx / wavelen - p.llama3_low_freq_factor) /
                            (p.llama3_high_freq_factor - p.llama3_low_freq_factor);
      f = 1.0 / ((1 - smooth) / p.llama3_factor + smooth);
    }
    ff[size_t(i)] = float(f);
  }
  return ff;
}

void rope(ThreadPool& pool, Act x, std::span<const int32_t> positions, const RopeParams& p) {
  const std::vector<float> ff = llama3_freq_factors(p);
  const float theta_scale = std::pow(p.freq_base, -2.0f / float(p.n_rot));
  const int64_t half = p.n_rot / 2;
  auto* data = static_cast<float*>(x.data);
  pool.parallel_for(x.rows, [&](int64_t begin, int64_t end) {
    std::vector<float> cs(size_t(p.n_rot));
    for (int64_t t = begin; t < end; ++t) {
      float theta = float(positions[size_t(t)]);
      for (int64_t i = 0; i < half; ++i) {
        const float th = p.freq_scale * (theta / ff[size_t(i)]);
        cs[size_t(2 * i)] = std::cos(th);
        cs[size_t(2 * i + 1)] = std::sin(th);
        theta *= theta_scale;
      }
      for (int h = 0; h < p.n_head; ++h) {
        float* r = data + t * x.cols + int64_t(h) * p.head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const float c = cs[size_t(2 * i)], s = cs[size_t(2 * i + 1)];
          // NORM rotates adjacent pairs; NEOX rotates dimension i with i + n_rot/2.
          const int64_t a = p.mode == RopeMode::kNormal ? 2 * i : i;
          const int64_t b = p.mode == RopeMode::kNormal ? 2 * i + 1 : i + half;
          const float x0 = r[a], x1 = r[b];
          r[a] = x0 * c - x1 * s;
          r[b] = x0 * s + x1 * c;
        }
      }
    }
  }, 1);
}

}  // namespace hearth::cpu
