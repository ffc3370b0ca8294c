// /v1/rerank and /rerank on a cross-encoder, in the shape Cohere's and Jina's rerank APIs share:
//   {"model", "query", "documents": [string | {"text"}], "top_n"?, "return_documents"?, "raw_scores"?}
//   -> {"id", "object": "list", "model", "results": [{"index", "relevance_score", "document"?: {"text"}}],
//       "usage": {"prompt_tokens", "total_tokens"}}
// Results are sorted by relevance (highest first; equal scores keep document order), `index` is the document's
// position in the request, and top_n keeps the first n. relevance_score is the sigmoid of the model's logit, in
// (0, 1) as Cohere's and Jina's are (and as sentence-transformers' CrossEncoder gives for a one-output model);
// raw_scores: true returns the logit itself (as llama.cpp's server and TEI's raw_scores do). The order is the
// same either way. The pairs are scored on the request's thread (Reranker: length-sorted batches).
#pragma once

#include "server/model_set.h"
#include "server/request.h"
#include "server/responses.h"

namespace hearth::server {

Json run_rerank(const RerankerEntry& model, const RerankRequest& request, const std::string& model_id);

}  // namespace hearth::server
