#include "models/qkv_projection.h"

#include "core/error.h"
#include "models/stacked_weights.h"

namespace hearth {

QkvProjection::QkvProjection(const EncoderWeights& w, const std::string& prefix, int64_t width, Biases biases) {
  const Weights& file = w.weights();
  auto bias = [&](const std::string& name, int64_t n) {
    return biases == Biases::kRequired ? w.vector(name, n) : w.optional_vector(name, n);
  };
  if (file.find(prefix + "attn_qkv.weight")) {
    fused_ = w.matrix(prefix + "attn_qkv.weight", 3 * width, width);
    fused_bias_ = bias(prefix + "attn_qkv.bias", 3 * width);
    return;
  }
  const std::vector<WeightTensor> parts = {file.get(prefix + "attn_q.weight", {width, width}),
                                           file.get(prefix + "attn_k.weight", {width, width}),
                                           file.get(prefix + "attn_v.weight", {width, width})};
  if (!can_stack_rows(parts)) {
    const auto kBatched = Backend::MatrixUse::kBatchedProduct;
    q_ = w.backend().prepare_matrix(parts[0], kBatched);
    k_ = w.backend().prepare_matrix(parts[1], kBatched);
    v_ = w.backend().prepare_matrix(parts[2], kBatched);
    q_bias_ = bias(prefix + "attn_q.bias", width);
    k_bias_ = bias(prefix + "attn_k.bias", width);
    v_bias_ = bias(prefix + "attn_v.bias", width);
    return;
  }
  std::vector<const WeightTensor*> bias_parts;
  for (const char* part : {"attn_q.bias", "attn_k.bias", "attn_v.bias"})
    bias_parts.push_back(biases == Biases::kRequired ? &file.get(prefix + part, {width}) : file.find(prefix + part));
  fused_ = w.backend().prepare_matrix(stack_rows(parts, prefix + "attn_qkv.weight", stacked_),
                                      Backend::MatrixUse::kBatchedProduct);
  if (bias_parts[0] || bias_parts[1] || bias_parts[2])
    fused_bias_ = w.backend().make_vector(stack_biases(bias_parts, width, file.source()));
}

void QkvProjection::attend(Backend& backend, Act x, Act qkv, Act out, std::span<const AttentionSpan> spans,
                           const AttentionParams& p) const {
  const int64_t T = x.rows, width = out.cols;
  HEARTH_ASSERT(qkv.rows * qkv.cols >= T * 3 * width);
  if (fused_) {
    const Act fused{qkv.data, T, 3 * width};
    backend.matmul(fused, x, *fused_, fused_bias_.get());
    backend.attention_fused(out, fused, spans, p);
    return;
  }
  // The scratch holds the three outputs one after another.
  float* base = static_cast<float*>(qkv.data);
  const Act q{base, T, width}, k{base + T * width, T, width}, v{base + 2 * T * width, T, width};
  backend.matmul(q, x, *q_, q_bias_.get());
  backend.matmul(k, x, *k_, k_bias_.get());
  backend.matmul(v, x, *v_, v_bias_.get());
  backend.attention(out, q, k, v, spans, p);
}

}  // namespace hearth
