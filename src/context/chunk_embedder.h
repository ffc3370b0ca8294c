// What the context engine needs of an embedding model: its identity (recorded in the index, so a query or an
// update with another model is refused), how many tokens a chunk may have, a token counter for the chunker, and
// vectors for texts at a priority. Implemented over runtime/embedder.h, directly (the CLI) or through a shared
// EmbedBatcher (the server, where indexing runs at background priority beside interactive requests).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "context/store.h"
#include "runtime/embed_batcher.h"
#include "runtime/embedder.h"
#include "runtime/engine.h"

namespace hearth::context {

class ChunkEmbedder {
 public:
  // `embedder` (and `batcher`, when given) must outlive this. `name` is what the user called the model (a path or
  // "use-lite-en"): it goes into errors that say how to re-embed.
  ChunkEmbedder(const Embedder& embedder, std::string name, EmbedBatcher* batcher = nullptr);

  const EmbeddingModelInfo& info() const { return info_; }
  int dim() const { return info_.dim; }
  // Text tokens one chunk may have: the model's longest sequence less its framing tokens.
  int max_chunk_tokens() const { return max_chunk_tokens_; }
  // Tokens of `text` without framing (chunker's counter).
  int count_tokens(std::string_view text) const;
  // L2-normalized vectors, one per text, in order.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, Priority priority) const;
  // A search query's vector. A decoder embedder (Qwen3-Embedding style, docs/embeddings.md) embeds queries with a
  // retrieval instruction and documents without; other models embed queries as any text.
  std::vector<float> embed_query(const std::string& query, Priority priority) const;

 private:
  const Embedder& embedder_;
  std::vector<std::vector<float>> embed_with(const std::vector<std::string>& texts, EmbedderOptions options,
                                             Priority priority) const;

  EmbedBatcher* batcher_;
  EmbeddingModelInfo info_;
  std::string query_instruction_;  // "" for models that take no instruction
  int framing_tokens_ = 0;
  int max_chunk_tokens_ = 0;
};

}  // namespace hearth::context
