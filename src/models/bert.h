// BERT-family sentence encoder (GGUF architecture "bert", llama.cpp tensor names), e.g. all-MiniLM, bge, e5.
//
// Forward pass: token + token-type-0 + learned absolute position embeddings, LayerNorm, then per layer
// bidirectional multi-head attention (separate or fused QKV, with biases), residual + post-LayerNorm, a GELU (erf)
// FFN, residual + post-LayerNorm; then pooling (mean / CLS / last / none) and optional L2 normalization.
// A batch holds many sentences back to back; each attends only to itself (one AttentionSpan per sentence), so
// there is no padding and the cost grows linearly with the number of sentences.
#pragma once

#include <memory>

#include "backends/backend.h"
#include "formats/weights.h"
#include "models/model.h"

namespace hearth {

struct BertHParams {
  int n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0;
  int n_ctx = 0;      // position rows usable (bert.context_length)
  int64_t n_vocab = 0;
  float eps = 1e-12f;
  Pooling pooling = Pooling::kMean;  // bert.pooling_type; NONE=0, MEAN=1, CLS=2, LAST=3 as in llama.cpp
};

// Reads and validates the hyper-parameters of `weights` (metadata prefix = its architecture). Error naming the
// key on a missing or out-of-range value.
BertHParams read_bert_hparams(const Weights& weights);

// Builds the encoder, validating every tensor's presence and shape (Error naming the tensor).
std::unique_ptr<EncoderModel> load_bert(const Weights& weights, Backend& backend);

}  // namespace hearth
