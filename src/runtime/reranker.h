// Reranking with a cross-encoder: a query and documents in, one relevance score per document out. Tokenizer +
// encoder with a classification head (EncoderModel::classify) of one model file, used by the server's /v1/rerank.
//
// Each document is encoded together with the query as one sequence, framed by the tokenizer's pair template
// (Tokenizer::pair_template): BERT's [CLS] query [SEP] document [SEP] with token types 0 then 1, as Hugging Face's
// pair encoding gives; XLM-RoBERTa's <s> query </s></s> document </s>. (llama.cpp b4747 frames every model the
// RoBERTa way and drops the token types, so its scores for BERT cross-encoders are not the model's.) A model with
// a single token type gets type 0 everywhere.
//
// Truncation: a pair longer than the model's context is cut "longest first", as Hugging Face's default
// truncation does: the document gives up tokens until it is no longer than the query, then both alternately.
// In practice the document's end is cut and the query stays whole unless it takes more than half the room.
//
// Score: the head's raw logit (no sigmoid); higher means more relevant. Pairs are sorted by length and packed into
// forward passes of at most `batch_tokens` tokens (each pair attends only to itself, so batching changes nothing
// beyond float rounding); results come back in document order.
//
// Thread-safety: all methods may be called from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.h"
#include "formats/weights.h"
#include "models/model.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

// One query-document pair, tokenized and framed.
struct PairTokens {
  std::vector<int32_t> ids, types;  // types: one token type per id
  bool truncated = false;
};

struct RerankResult {
  std::vector<float> scores;  // scores[i]: document i's relevance logit
  std::vector<int> n_tokens;  // tokens of pair i (after truncation)
  std::vector<bool> truncated;
  int64_t total_tokens = 0;
};

class Reranker {
 public:
  static constexpr int64_t kDefaultBatchTokens = 2048;

  // Loads the tokenizer and builds the encoder. Error kUnsupported when the model has no classification head (an
  // embedding model), a head of more than one output, or a vocabulary with no pair framing.
  Reranker(std::shared_ptr<const Weights> weights, Backend& backend, int64_t batch_tokens = 0);
  ~Reranker();

  const EncoderModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const Weights& weights() const { return *weights_; }
  // The longest pair the model takes (framing included).
  int max_tokens() const { return max_tokens_; }

  // The framed pair for one document (query tokens as tokenize_query gives them).
  PairTokens tokenize_pair(const std::vector<int32_t>& query, std::string_view document) const;
  std::vector<int32_t> tokenize_query(std::string_view query) const;

  RerankResult score(std::string_view query, const std::vector<std::string>& documents) const;
  // The same for pairs already tokenized.
  RerankResult score_pairs(const std::vector<PairTokens>& pairs) const;

 private:
  std::shared_ptr<const Weights> weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<EncoderModel> model_;
  PairTemplate template_;
  int max_tokens_ = 0;
  int64_t batch_tokens_ = kDefaultBatchTokens;
};

}  // namespace hearth
