// Request bodies of the OpenAI endpoints, parsed and checked into plain structs before anything runs.
//
// Every check that needs no model happens here (types, ranges, unsupported features), so a handler gets a request
// it can run or a 400 naming the field. Unknown fields are ignored, as OpenAI's API does for forward
// compatibility; a field that is null counts as absent (clients send nulls for unset options). Depends only on
// core and nlohmann-json, so the libFuzzer target (tests/fuzz/server_request_fuzz.cpp) runs it alone.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::server {

// The sampling and output options /v1/chat/completions and /v1/completions share.
struct GenerationRequest {
  std::string model;
  std::optional<int> max_tokens;  // absent: until the context is full
  float temperature = 1.0f;       // OpenAI's defaults: temperature 1, top_p 1 (no nucleus cut)
  float top_p = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::optional<int64_t> seed;    // absent: a random one
  std::vector<std::string> stop;
  int n = 1;                      // choices; choice i samples with seed + i
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  int top_logprobs = -1;          // < 0: no log-probabilities
};

struct ChatRequest : GenerationRequest {
  // [{"role", "content"}] with content flattened to a string and "developer" renamed "system", ready for a
  // chat template.
  nlohmann::ordered_json messages;
};

struct CompletionRequest : GenerationRequest {
  std::vector<std::string> prompts;  // one or more; choice index = prompt index * n + j
  bool echo = false;
};

struct EmbeddingRequest {
  std::string model;
  // Either texts or token sequences (OpenAI's array of token ids / array of arrays), never both.
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> token_inputs;
  bool base64 = false;  // encoding_format "base64": little-endian float32, base64-encoded
};

// /v1/rerank (and /rerank), the Cohere / Jina request: documents as strings or {"text": ...} objects.
struct RerankRequest {
  std::string model;
  std::string query;
  std::vector<std::string> documents;  // at least one
  std::optional<int> top_n;            // absent: every document
  bool return_documents = false;       // Cohere's default (Jina's is true)
  bool raw_scores = false;             // relevance_score as the model's logit instead of its sigmoid
};

// Each throws ApiError (400, naming the field) for malformed JSON, a wrong type or a value out of range.
ChatRequest parse_chat_request(std::string_view body);
CompletionRequest parse_completion_request(std::string_view body);
EmbeddingRequest parse_embedding_request(std::string_view body);
RerankRequest parse_rerank_request(std::string_view body);

}  // namespace hearth::server
