#include "context/chunk_embedder.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "models/registry.h"

namespace hearth::context {

ChunkEmbedder::ChunkEmbedder(const Embedder& embedder, std::string name, EmbedBatcher* batcher)
    : embedder_(embedder), batcher_(batcher) {
  info_.name = std::move(name);
  info_.dim = embedder.dim();
  // Architecture and dimension are in the fingerprint's text too, so an error can say what differs at a glance.
  info_.fingerprint = fmt::format("{}:{}:{:016x}", embedder.weights().architecture(), embedder.dim(),
                                  embedder.weights().fingerprint());
  // Qwen3-Embedding's own retrieval task, the instruction its model card pairs with passages embedded as they are.
  if (is_decoder_architecture(embedder.weights().architecture()))
    query_instruction_ = "Given a web search query, retrieve relevant passages that answer the query";
  framing_tokens_ = int(embedder.tokenize("").size());
  const int longest = embedder.model().max_tokens();
  max_chunk_tokens_ = longest > 0 ? longest - framing_tokens_ : 512;
  if (max_chunk_tokens_ < 8) fail(ErrorKind::kUnsupported, "embedding model takes too few tokens ({}) to index", longest);
}

int ChunkEmbedder::count_tokens(std::string_view text) const {
  return int(embedder_.tokenizer().encode(text, /*add_special=*/false).size());
}

std::vector<std::vector<float>> ChunkEmbedder::embed(const std::vector<std::string>& texts, Priority priority) const {
  return embed_with(texts, {}, priority);
}

std::vector<float> ChunkEmbedder::embed_query(const std::string& query, Priority priority) const {
  EmbedderOptions options;
  options.instruction = query_instruction_;
  return embed_with({query}, options, priority).at(0);
}

std::vector<std::vector<float>> ChunkEmbedder::embed_with(const std::vector<std::string>& texts,
                                                          EmbedderOptions options, Priority priority) const {
  if (texts.empty()) return {};
  options.normalize = true;  // the vector index compares by inner product
  EmbedResult r = batcher_ ? batcher_->embed(texts, options, priority) : embedder_.embed(texts, options);
  for (auto& v : r.embeddings) {
    if (int(v.size()) != info_.dim) fail(ErrorKind::kUnsupported, "embedding model gave {} floats, not {}", v.size(), info_.dim);
    for (float x : v)
      if (!std::isfinite(x)) fail(ErrorKind::kCorruptData, "embedding model '{}' produced a non-finite value", info_.name);
  }
  return std::move(r.embeddings);
}

}  // namespace hearth::context
