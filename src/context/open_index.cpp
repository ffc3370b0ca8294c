#include "context/open_index.h"

#include <filesystem>

#include "backends/registry.h"
#include "context/data_dir.h"
#include "context/store.h"
#include "core/error.h"
#include "runtime/default_model.h"

namespace hearth::context {

namespace fs = std::filesystem;

std::string embedding_model_name(const std::string& user_model) {
  if (user_model.empty() || user_model == kDefaultEmbeddingModelName) return kDefaultEmbeddingModelName;
  std::error_code ec;
  const fs::path p = fs::absolute(user_model, ec);
  return ec ? user_model : p.lexically_normal().string();
}

std::string embedding_model_path(const std::string& name) {
  if (name == kDefaultEmbeddingModelName) return default_embedding_model();
  return name;
}

EmbedBatcherOptions index_batcher_options() {
  // 16 chunks of up to 128 tokens: tens of milliseconds with USE lite. The encoder packs a batch's texts by tokens
  // anyway, so throughput barely changes.
  EmbedBatcherOptions o;
  o.max_batch_texts = 16;
  return o;
}

OpenIndex::OpenIndex(const OpenIndexOptions& options) {
  const std::string dir = index_dir(options.name, options.data_dir);
  std::string model_name;
  if (options.need_model) {
    if (!options.model.empty()) {
      model_name = embedding_model_name(options.model);
    } else {
      // The recorded model, read without opening the index for writing.
      std::error_code ec;
      if (fs::exists(dir + "/index.sqlite", ec)) {
        Store store(dir + "/index.sqlite");
        if (auto m = store.embedding_model()) model_name = m->name;
      }
      if (model_name.empty()) model_name = kDefaultEmbeddingModelName;
    }
    model_path_ = embedding_model_path(model_name);
    backend_ = shared_backend("auto", options.threads);
    weights_ = Weights::open(model_path_);
    embedder_ = std::make_unique<Embedder>(weights_, *backend_);
    if (options.batch) batcher_ = std::make_unique<EmbedBatcher>(*embedder_, index_batcher_options());
    chunk_embedder_ = std::make_unique<ChunkEmbedder>(*embedder_, model_name, batcher_.get());
  }
  index_ = std::make_unique<ContextIndex>(options.name, dir, chunk_embedder_.get(), options.create);
}

OpenIndex::~OpenIndex() = default;

}  // namespace hearth::context
