// Opening a named index with the embedding model it needs: the one piece the CLI commands, `hearth serve
// --index` and `hearth chat --context` share. The model is the one the user names (-m), else the one the index
// records, else the default (USE lite); a named model other than the recorded one is refused with how to
// re-embed (ContextIndex's constructor).
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"
#include "context/chunk_embedder.h"
#include "context/context_index.h"
#include "formats/weights.h"
#include "runtime/embed_batcher.h"
#include "runtime/embedder.h"

namespace hearth::context {

// What the index records as the model's name for the default model: `hearth index … -m use-lite-en` names it.
inline constexpr const char* kDefaultEmbeddingModelName = "use-lite-en";

struct OpenIndexOptions {
  std::string name = "default";
  std::string data_dir;      // "" = data_dir()'s default
  std::string model;         // "" = the recorded model, else the default
  bool create = false;       // create the index if it does not exist
  bool need_model = true;    // false: open without a model (status, rm) — vector search then fails
  int threads = 0;           // backend threads (0 = the backend's default)
  bool batch = false;        // put an EmbedBatcher in front of the model (server: indexing beside queries)
};

// Owns everything an open index uses; members are destroyed in reverse order of declaration, so the index (which
// saves its vectors on destruction) goes before the model it uses.
class OpenIndex {
 public:
  explicit OpenIndex(const OpenIndexOptions& options);
  ~OpenIndex();

  ContextIndex& index() { return *index_; }
  const ChunkEmbedder* embedder() const { return chunk_embedder_.get(); }
  EmbedBatcher* batcher() { return batcher_.get(); }
  const std::string& model_path() const { return model_path_; }

 private:
  std::string model_path_;
  std::shared_ptr<Backend> backend_;
  std::shared_ptr<const Weights> weights_;
  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<EmbedBatcher> batcher_;
  std::unique_ptr<ChunkEmbedder> chunk_embedder_;
  std::unique_ptr<ContextIndex> index_;
};

// The batcher in front of an index's model when queries and background indexing share it (the server, the
// benchmarks): small batches, so a query waits for at most one small background batch.
EmbedBatcherOptions index_batcher_options();

// A model name as the index records it -> the file to load: the default's name -> its converted GGUF; a path ->
// itself made absolute.
std::string embedding_model_path(const std::string& name);
// A user's -m -> the name to record: "" or the default's name -> kDefaultEmbeddingModelName; a path -> absolute.
std::string embedding_model_name(const std::string& user_model);

}  // namespace hearth::context
