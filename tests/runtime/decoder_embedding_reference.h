// For the decoder-embedder tests: llama-dev.f16 rewritten with other metadata (an embedding pooling, an EOS the
// tokenizer appends), and an independent double-precision forward pass of that llama decoder giving the final-norm
// hidden state of every token, written from the architecture's definition (docs/decoder.md), not from hearth's code.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/gguf.h"
#include "formats/metadata.h"
#include "formats/weights.h"
#include "test_util.h"

namespace hearth::test {

inline std::string llama_dev_f16() { return shared_dir() + "/golden/models/llama-dev.f16.gguf"; }

// Writes llama-dev.f16 with its metadata changed by `edit` to `path` (tensors copied as they are).
inline void write_llama_dev_variant(const std::string& path, const std::function<void(Metadata&)>& edit) {
  const auto src = Weights::open(llama_dev_f16());
  GgufWriter w;
  w.metadata() = src->metadata();
  edit(w.metadata());
  for (const WeightTensor& t : src->tensors()) w.add_tensor(t.name, t.type, t.ne, t.data, t.nbytes);
  w.write(path);
}

// llama-family forward pass in double: RMSNorm, q/k/v, NORM rope (pairs 2i, 2i+1), causal grouped-query attention,
// output projection and residual, RMSNorm, SwiGLU FFN and residual; final RMSNorm. No q/k norms or biases
// (llama-dev has none), no KV rounding.
class ReferenceLlama {
 public:
  explicit ReferenceLlama(const Weights& w) : w_(w) {
    const Metadata& m = w.metadata();
    E_ = int(*m.find_int("llama.embedding_length"));
    n_layer_ = int(*m.find_int("llama.block_count"));
    n_head_ = int(*m.find_int("llama.attention.head_count"));
    n_head_kv_ = int(*m.find_int("llama.attention.head_count_kv"));
    hd_ = E_ / n_head_;
    eps_ = *m.find_float("llama.attention.layer_norm_rms_epsilon");
    base_ = *m.find_float("llama.rope.freq_base");
  }

  // Final-norm hidden states of every token of `ids` (rows of n_embd).
  std::vector<std::vector<double>> hidden_states(const std::vector<int32_t>& ids) const {
    const size_t T = ids.size();
    const Mat embd = matrix("token_embd.weight");
    std::vector<std::vector<double>> x(T);
    for (size_t t = 0; t < T; ++t) x[t] = embd[size_t(ids[t])];
    for (int l = 0; l < n_layer_; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const Mat wq = matrix(p + "attn_q.weight"), wk = matrix(p + "attn_k.weight"), wv = matrix(p + "attn_v.weight"),
                wo = matrix(p + "attn_output.weight"), gate = matrix(p + "ffn_gate.weight"),
                up = matrix(p + "ffn_up.weight"), down = matrix(p + "ffn_down.weight");
      const std::vector<double> attn_norm = vector(p + "attn_norm.weight"), ffn_norm = vector(p + "ffn_norm.weight");
      std::vector<std::vector<double>> q(T), k(T), v(T);
      for (size_t t = 0; t < T; ++t) {
        const std::vector<double> h = rms_norm(x[t], attn_norm);
        q[t] = rope(mul(wq, h), int(t));
        k[t] = rope(mul(wk, h), int(t));
        v[t] = mul(wv, h);
      }
      for (size_t t = 0; t < T; ++t) {
        std::vector<double> attn(size_t(n_head_ * hd_), 0.0);
        for (int hh = 0; hh < n_head_; ++hh) {
          const int kvh = hh / (n_head_ / n_head_kv_);
          std::vector<double> scores(t + 1);
          double mx = -1e300;
          for (size_t s = 0; s <= t; ++s) {
            double dot = 0;
            for (int d = 0; d < hd_; ++d) dot += q[t][size_t(hh * hd_ + d)] * k[s][size_t(kvh * hd_ + d)];
            scores[s] = dot / std::sqrt(double(hd_));
            mx = std::max(mx, scores[s]);
          }
          double sum = 0;
          for (double& sc : scores) sum += (sc = std::exp(sc - mx));
          for (size_t s = 0; s <= t; ++s)
            for (int d = 0; d < hd_; ++d) attn[size_t(hh * hd_ + d)] += scores[s] / sum * v[s][size_t(kvh * hd_ + d)];
        }
        const std::vector<double> o = mul(wo, attn);
        for (int d = 0; d < E_; ++d) x[t][size_t(d)] += o[size_t(d)];
        const std::vector<double> f = rms_norm(x[t], ffn_norm);
        std::vector<double> g = mul(gate, f);
        const std::vector<double> u = mul(up, f);
        for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
        const std::vector<double> dn = mul(down, g);
        for (int d = 0; d < E_; ++d) x[t][size_t(d)] += dn[size_t(d)];
      }
    }
    const std::vector<double> out_norm = vector("output_norm.weight");
    for (auto& row : x) row = rms_norm(row, out_norm);
    return x;
  }

 private:
  using Mat = std::vector<std::vector<double>>;  // [out][in]

  Mat matrix(const std::string& name) const {
    const WeightTensor& t = *w_.find(name);
    const int64_t cols = t.row_length(), rows = t.n_rows();
    const size_t row_bytes = t.nbytes / size_t(rows);
    Mat m(static_cast<size_t>(rows));
    std::vector<float> buf(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(t.type, t.data + size_t(r) * row_bytes, buf.data(), cols);
      m[size_t(r)].assign(buf.begin(), buf.end());
    }
    return m;
  }
  std::vector<double> vector(const std::string& name) const { return matrix(name)[0]; }

  static std::vector<double> mul(const Mat& m, const std::vector<double>& x) {
    std::vector<double> y(m.size(), 0.0);
    for (size_t r = 0; r < m.size(); ++r)
      for (size_t c = 0; c < x.size(); ++c) y[r] += m[r][c] * x[c];
    return y;
  }
  std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<double>& w) const {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double scale = 1 / std::sqrt(ss / double(x.size()) + eps_);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
    return y;
  }
  std::vector<double> rope(std::vector<double> x, int pos) const {
    for (size_t h = 0; h < x.size() / size_t(hd_); ++h)
      for (int i = 0; i < hd_ / 2; ++i) {
        const double theta = pos * std::pow(base_, -2.0 * i / hd_);
        double& a = x[h * size_t(hd_) + size_t(2 * i)];
        double& b = x[h * size_t(hd_) + size_t(2 * i + 1)];
        const double a0 = a, b0 = b;
        a = a0 * std::cos(theta) - b0 * std::sin(theta);
        b = a0 * std::sin(theta) + b0 * std::cos(theta);
      }
    return x;
  }

  const Weights& w_;
  int E_ = 0, n_layer_ = 0, n_head_ = 0, n_head_kv_ = 0, hd_ = 0;
  double eps_ = 1e-5, base_ = 10000;
};

// Mean (or last row) of the rows, L2-normalized: what the embedder should give.
inline std::vector<double> pool_and_normalize(const std::vector<std::vector<double>>& rows, bool last) {
  std::vector<double> v(rows[0].size(), 0.0);
  if (last) {
    v = rows.back();
  } else {
    for (const auto& r : rows)
      for (size_t d = 0; d < v.size(); ++d) v[d] += r[d] / double(rows.size());
  }
  double ss = 0;
  for (double x : v) ss += x * x;
  for (double& x : v) x /= std::sqrt(ss);
  return v;
}

// Cosine of a vector hearth gave and a reference one.
inline double cosine_to_reference(const std::vector<float>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += a[i] * b[i];
    aa += double(a[i]) * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace hearth::test
