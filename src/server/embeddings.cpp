#include "server/embeddings.h"

#include <fmt/format.h>

#include <cmath>

#include "server/api_error.h"

namespace hearth::server {

namespace {

void truncate_and_normalize(std::vector<std::vector<float>>& vectors, size_t n) {
  for (auto& v : vectors) {
    v.resize(n);
    double sum = 0;
    for (float x : v) sum += double(x) * x;
    if (sum > 0) {
      const float scale = float(1 / std::sqrt(sum));
      for (float& x : v) x *= scale;
    }
  }
}

}  // namespace

Json run_embeddings(const EncoderEntry& model, const EmbeddingRequest& r, const std::string& model_id, bool matryoshka) {
  const int width = model.embedder->model().dim();
  if (r.dimensions) {
    if (!matryoshka)
      throw ApiError(400,
                     fmt::format("dimensions: the model '{}' is not known to be trained for truncated (Matryoshka) "
                                 "embeddings; start the server with --matryoshka {} if it is",
                                 model_id, model_id),
                     "dimensions", "unsupported");
    if (*r.dimensions > width)
      throw ApiError(400, fmt::format("dimensions {} is more than the model's {}", *r.dimensions, width), "dimensions",
                     "invalid_value");
  }
  // One vector per input is what the API returns; a model whose pooling gives one per token has no such vector.
  if (model.embedder->model().default_options().pooling == Pooling::kNone)
    throw ApiError(400, fmt::format("the model '{}' gives per-token vectors (no pooling): /v1/embeddings needs one "
                                    "vector per input", model_id),
                   "model", "model_not_supported", ErrorKind::kUnsupported);
  EmbedResult result;
  if (!r.token_inputs.empty()) {
    const int32_t vocab = model.embedder->tokenizer().n_vocab();
    const int longest = model.embedder->model().max_tokens();
    for (size_t i = 0; i < r.token_inputs.size(); ++i) {
      const auto& ids = r.token_inputs[i];
      if (int64_t(ids.size()) > longest)
        throw ApiError(400, fmt::format("input {} has {} tokens; the model takes at most {}", i, ids.size(), longest),
                       "input", "context_length_exceeded", ErrorKind::kResourceExhausted);
      for (int32_t id : ids)
        if (id >= vocab)
          throw ApiError(400, fmt::format("input {}: token id {} is outside the vocabulary of {}", i, id, vocab),
                         "input", "invalid_value");
    }
    result = model.embedder->embed_tokens(r.token_inputs);
  } else {
    // Texts longer than the model's longest input are truncated, as the embedder does for every caller.
    EmbedderOptions options;
    options.instruction = r.instruction;
    result = model.batcher->embed(r.texts, options,
                                  r.priority == RequestPriority::kBackground ? Priority::kBackground
                                                                             : Priority::kInteractive);
  }
  if (r.dimensions) truncate_and_normalize(result.embeddings, size_t(*r.dimensions));
  return embeddings_response(model_id, result.embeddings, r.base64, result.total_tokens);
}

}  // namespace hearth::server
