// Models: an architecture's forward pass, built from Weights by the architecture registry, running on a
// Backend. Models hold prepared weights (immutable after load) and are safe to call from several threads at
// once: per-call state (workspace, KV cache) is passed in or created per call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "formats/weights.h"

namespace hearth {

struct EmbedOptions {
  Pooling pooling = Pooling::kMean;
  bool normalize = true;
};

// Sentence encoders (BERT family, Universal Sentence Encoder), and cross-encoders: encoders with a classification
// head over their first token ([CLS] / <s>), which score a pair of texts encoded together (rerankers).
class EncoderModel {
 public:
  virtual ~EncoderModel() = default;
  virtual int dim() const = 0;
  virtual int max_tokens() const = 0;           // longest sequence; longer inputs must be truncated by the caller
  virtual EmbedOptions default_options() const = 0;  // from the file's metadata
  virtual std::vector<Pooling> supported_poolings() const = 0;
  // Embeds each token sequence independently (each attends only to itself). Result i holds dim() floats,
  // or tokens_i * dim() floats for Pooling::kNone.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& sequences,
                                                const EmbedOptions& options) const = 0;

  // Token type ("segment") ids the model tells apart: BERT's two (sentence A / sentence B), 1 for XLM-RoBERTa.
  virtual int n_token_types() const { return 1; }
  // Outputs of the classification head: 1 for a reranker (one relevance logit), 0 for a model without a head.
  virtual int n_classes() const { return 0; }
  // Encodes each sequence (each attends only to itself) and runs the classification head on its first token.
  // token_types is empty (every token type 0) or holds one id per token of each sequence, each below
  // n_token_types(). Result i holds n_classes() raw logits (no sigmoid or softmax). Error kUnsupported on a model
  // without a head.
  virtual std::vector<std::vector<float>> classify(const std::vector<std::vector<int32_t>>& /*sequences*/,
                                                   const std::vector<std::vector<int32_t>>& /*token_types*/) const {
    fail(ErrorKind::kUnsupported, "this model has no classification head: it embeds texts and cannot score pairs");
  }
};

}  // namespace hearth
