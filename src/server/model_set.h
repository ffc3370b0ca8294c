// The models a server holds, by id. A decoder (text generation) gets a batching Engine and its chat template; an
// encoder (embeddings) an EmbedBatcher; a cross-encoder (reranking) a Reranker. Everything is loaded before the server listens and lives until it has
// stopped, so a handler's reference to an entry never dangles.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/chat_template.h"
#include "runtime/embed_batcher.h"
#include "runtime/embedder.h"
#include "runtime/engine.h"
#include "runtime/reranker.h"
#include "runtime/session.h"

namespace hearth::server {

struct ModelSpec {
  std::string id;    // ALIAS, or the file name without its extension
  std::string path;
};

// "PATH" or "ALIAS=PATH" (an '=' before the first '/' marks an alias, so a path holding '=' still works).
ModelSpec parse_model_spec(const std::string& arg);

struct ModelSetOptions {
  int threads = 0;      // the process-wide backend's threads (0: as it is / one per physical core)
  int parallel = 4;     // engine slots per decoder
  int context = 0;      // positions per sequence (0: the model's, at most 4096)
  int max_queued = 64;  // requests waiting per engine before 429
};

struct DecoderEntry {
  DecoderSession session;
  ChatTemplateSource template_source;
  std::unique_ptr<ChatTemplate> chat_template;
  std::unique_ptr<Engine> engine;
};

struct EncoderEntry {
  std::shared_ptr<const Weights> weights;
  std::unique_ptr<Embedder> embedder;
  std::unique_ptr<EmbedBatcher> batcher;
};

// A cross-encoder (an encoder with a classification head): scores query-document pairs, runs on the request's
// thread.
struct RerankerEntry {
  std::shared_ptr<const Weights> weights;
  std::unique_ptr<Reranker> reranker;
};

struct ModelEntry {
  std::string id;
  int64_t created = 0;  // load time (Unix seconds), /v1/models' "created"
  std::unique_ptr<DecoderEntry> decoder;  // exactly one of the three is set
  std::unique_ptr<EncoderEntry> encoder;
  std::unique_ptr<RerankerEntry> reranker;
};

class ModelSet {
 public:
  // Loads every model; Error if one fails to load or two share an id.
  ModelSet(const std::vector<ModelSpec>& specs, const ModelSetOptions& options);
  ~ModelSet();

  const std::vector<std::unique_ptr<ModelEntry>>& entries() const { return entries_; }
  // ApiError 404 (model_not_found) for an unknown id.
  ModelEntry& find(const std::string& id) const;
  // As find, and ApiError 400 when the model cannot do it (embeddings from a decoder, text from an encoder,
  // reranking from either, embeddings or text from a reranker).
  DecoderEntry& decoder(const std::string& id) const;
  EncoderEntry& encoder(const std::string& id) const;
  RerankerEntry& reranker(const std::string& id) const;

 private:
  std::vector<std::unique_ptr<ModelEntry>> entries_;
};

}  // namespace hearth::server
