// The embedding pipeline: texts in, vectors out. Tokenizer + encoder of one model file, shared by
// `hearth embed`, `hearth bench embed` and the server.
//
// Each text is tokenized with the model's framing tokens ([CLS] … [SEP] for BERT) and truncated to the
// encoder's longest sequence; when the tokenizer closed the sequence with a special token (BERT's [SEP]),
// truncation keeps that token as the last one and drops text tokens before it. Texts are then sorted by
// length and packed into batches of at most `batch_tokens` tokens, so that a bulk call runs a few large
// matrix products instead of many small ones; results come back in input order. Each text is encoded on its
// own (attention never crosses texts), so batching does not change results beyond float rounding.
//
// Thread-safety: embed() may be called from several threads at once (the backend serializes its ops).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.h"
#include "formats/weights.h"
#include "models/decoder.h"
#include "models/model.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

struct EmbedderOptions {
  std::optional<Pooling> pooling;   // default: the model's (from its metadata)
  std::optional<bool> normalize;    // default: the model's (L2 for BERT)
  int64_t batch_tokens = 0;         // tokens per forward pass; 0 = kDefaultBatchTokens
  // Non-empty: the texts are queries for this task, embedded as "Instruct: {instruction}\nQuery:{text}" (the query
  // format of instruction-following embedders such as Qwen3-Embedding; documents are embedded as they are).
  std::string instruction;
};

// The text an instruction-following embedder sees for a query (see EmbedderOptions::instruction).
std::string instructed_query(std::string_view instruction, std::string_view query);

struct EmbedResult {
  // embeddings[i] belongs to texts[i]: dim() floats, or n_tokens[i] * dim() floats for Pooling::kNone.
  std::vector<std::vector<float>> embeddings;
  std::vector<int> n_tokens;  // tokens actually encoded (after truncation)
  std::vector<bool> truncated;
  int64_t total_tokens = 0;
};

class Embedder {
 public:
  // Large enough that the matrix products run near full speed, small enough that a pass's activations stay
  // near the CPU caches: on MiniLM-L6 (1 thread, Zen 5) 256-1024 tokens ran 15-25 % faster per CPU-second than
  // 2048, and 4096 slower still.
  static constexpr int64_t kDefaultBatchTokens = 512;

  // Loads the tokenizer from the weights' metadata and builds the encoder (load_encoder). Throws Error (kUnsupported
  // for a cross-encoder: see runtime/reranker.h).
  // A decoder file (llama / qwen2 / qwen3) is a decoder embedder (models/decoder_embedding.h) with the pooling its
  // metadata declares (`<arch>.pooling_type` mean or last), else `decoder_pooling`, which the caller gives when
  // the user asked to embed with a text generation model; with neither, Error kUnsupported saying how to ask.
  Embedder(std::shared_ptr<const Weights> weights, Backend& backend,
           std::optional<Pooling> decoder_pooling = std::nullopt);
  // A decoder embedder over a decoder loaded by someone else (the server's text model: one copy of the weights
  // serves both), with the same choice of pooling. `decoder` must outlive the embedder.
  Embedder(std::shared_ptr<const Weights> weights, const DecoderModel& decoder, std::optional<Pooling> decoder_pooling);
  ~Embedder();

  const EncoderModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const Weights& weights() const { return *weights_; }
  int dim() const { return model_->dim(); }

  // The ids embed() encodes for `text` (framing tokens added, truncated). `truncated` is set if given.
  std::vector<int32_t> tokenize(std::string_view text, bool* truncated = nullptr) const;

  // Throws Error on an unsupported pooling for this model.
  EmbedResult embed(const std::vector<std::string>& texts, const EmbedderOptions& options = {}) const;
  // The same, for texts already tokenized by tokenize().
  EmbedResult embed_tokens(const std::vector<std::vector<int32_t>>& sequences,
                           const EmbedderOptions& options = {}) const;

 private:
  std::shared_ptr<const Weights> weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<EncoderModel> model_;
  int threads_ = 1;  // the backend's: how many threads may tokenize a bulk call
};

// "mean", "cls", "last", "none" <-> Pooling. parse_pooling throws Error naming the accepted values.
Pooling parse_pooling(std::string_view name);
std::string_view pooling_name(Pooling p);

}  // namespace hearth
