// The query, key and value projections of an encoder layer's self-attention, and the attention over them.
// The three are one matrix when the file stores attn_qkv, or when attn_q/k/v share a type and can be stacked:
// one matmul (converting the input to the activation format once) and attention_fused. Otherwise they stay three
// matrices: three matmuls and attention.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "models/encoder_weights.h"

namespace hearth {

class QkvProjection {
 public:
  enum class Biases { kOptional, kRequired };  // an absent optional bias counts as zeros

  // Loads <prefix>attn_qkv.{weight,bias}, or else <prefix>attn_{q,k,v}.{weight,bias}, each projecting `width`
  // values to `width`. Error naming the tensor when one is missing or misshapen.
  QkvProjection(const EncoderWeights& w, const std::string& prefix, int64_t width, Biases biases);

  // out (T x width) = attention(x·Wq + bq, x·Wk + bk, x·Wv + bv) over the spans; qkv is scratch of at least
  // T x 3·width values.
  void attend(Backend& backend, Act x, Act qkv, Act out, std::span<const AttentionSpan> spans,
              const AttentionParams& p) const;

 private:
  std::vector<uint8_t> stacked_;  // stacked q/k/v rows the fused matrix may read in place (outlives it)
  std::unique_ptr<Matrix> fused_, q_, k_, v_;
  std::unique_ptr<Vector> fused_bias_, q_bias_, k_bias_, v_bias_;
};

}  // namespace hearth
