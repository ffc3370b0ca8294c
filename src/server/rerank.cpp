#include "server/rerank.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

namespace hearth::server {
namespace {

std::string rerank_id() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
  const uint64_t now =
      uint64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                   .count());
  return fmt::format("rerank-{:x}{:08x}", salt ^ now, uint32_t(++counter));
}

}  // namespace

Json run_rerank(const RerankerEntry& model, const RerankRequest& r, const std::string& model_id) {
  // Documents longer than the model's context are truncated (Reranker: longest first), as TEI and llama.cpp do.
  const RerankResult scored = model.reranker->score(r.query, r.documents);
  std::vector<size_t> order(r.documents.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scored.scores[a] > scored.scores[b]; });
  const size_t n = std::min(order.size(), r.top_n ? size_t(*r.top_n) : order.size());
  Json results = Json::array();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = order[k];
    const double logit = scored.scores[i];
    Json item = {{"index", i}, {"relevance_score", r.raw_scores ? logit : 1.0 / (1.0 + std::exp(-logit))}};
    if (r.return_documents) item["document"] = {{"text", r.documents[i]}};
    results.push_back(std::move(item));
  }
  return {{"id", rerank_id()},
          {"object", "list"},
          {"model", model_id},
          {"results", std::move(results)},
          {"usage", {{"prompt_tokens", scored.total_tokens}, {"total_tokens", scored.total_tokens}}}};
}

}  // namespace hearth::server
