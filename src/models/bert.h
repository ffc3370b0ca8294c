// BERT-family encoder (GGUF architecture "bert", llama.cpp tensor names): sentence encoders such as all-MiniLM,
// bge, e5, the XLM-RoBERTa ones (BGE-M3, multilingual-e5), and cross-encoders (rerankers) of both kinds.
//
// Forward pass: token + token-type + learned absolute position embeddings, LayerNorm, then per layer
// bidirectional multi-head attention (separate or fused QKV, with biases), residual + post-LayerNorm, a GELU (erf)
// FFN, residual + post-LayerNorm; then pooling (mean / CLS / last / none) and optional L2 normalization.
// A batch holds many sentences back to back; each attends only to itself (one AttentionSpan per sentence), so
// there is no padding and the cost grows linearly with the number of sentences.
//
// XLM-RoBERTa is the same network. Its position ids start at padding_idx + 1 (= 2); llama.cpp's converter drops
// the table's first rows instead (and lowers context_length by as much), so in a GGUF file, and in what
// formats/hf_folder.cpp makes of a Hugging Face folder, position i is row i as for BERT. It has one token type.
//
// Classification head (cross-encoders), on the first token's final hidden state h, as llama.cpp's rank pooling
// runs it: `cls.weight` (+ `cls.bias`) then tanh, when present; then `cls.output.weight` (+ `cls.output.bias`),
// when present. Both: RoBERTa's head (classifier.dense + tanh + classifier.out_proj) and BERT's
// (pooler.dense + tanh + classifier), as hf_folder.cpp maps them. Only `cls.output`: a BertForSequenceClassification
// converted by llama.cpp, which drops the pooler (the scores are then not the model's; a warning says so). Only
// `cls`: tanh(dense(h)), as llama.cpp runs jina-reranker-v1. A file with `bert.pooling_type` 4 (rank) must have
// a head.
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
  bool rank = false;                 // bert.pooling_type RANK=4: a cross-encoder (embed() then pools CLS)
};

// Whether the file is a cross-encoder: a classification head (cls.weight or cls.output.weight) or pooling type
// rank. Reads only names and metadata.
bool has_classification_head(const Weights& weights);

// Reads and validates the hyper-parameters of `weights` (metadata prefix = its architecture). Error naming the
// key on a missing or out-of-range value.
BertHParams read_bert_hparams(const Weights& weights);

// Builds the encoder, validating every tensor's presence and shape (Error naming the tensor).
std::unique_ptr<EncoderModel> load_bert(const Weights& weights, Backend& backend);

}  // namespace hearth
