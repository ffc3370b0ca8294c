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

// Scheduling class of a request: the `priority` field of the body or the X-Priority header ("interactive" or
// "background"); unset means interactive. Background work (indexers, batch jobs) runs when interactive work
// leaves room and never delays it by more than one engine step.
enum class RequestPriority { kUnset, kInteractive, kBackground };

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
  std::vector<std::pair<int32_t, float>> logit_bias;  // token id → bias in [-100, 100]
  // Constrained decoding, at most one of: GBNF text (llama-server's `grammar`), a JSON schema (response_format
  // json_schema, as JSON text), or any JSON object (response_format json_object).
  std::string grammar;
  std::string json_schema;
  bool json_object = false;
  // hearth's extension "json_bounds": {"max_string_length": N, "max_items": N}, limits for the strings and arrays
  // a schema leaves unbounded (-1: none, the default), so a small model's JSON ends before max_tokens cuts it.
  int json_max_string_length = -1;
  int json_max_items = -1;
  RequestPriority priority = RequestPriority::kUnset;
  // hearth's extension "lora" (docs/server.md): the run-time LoRA adapters to apply, by the names the server loaded
  // them under, in order, each with a scale (absent: the one it was loaded with). Unset: the model's default
  // adapters; an empty list: none.
  struct Lora {
    std::string name;
    std::optional<float> scale;
  };
  std::optional<std::vector<Lora>> lora;
};

enum class ToolChoice { kNone, kAuto, kRequired, kNamed };

// The "context" extension of a chat request (docs/context.md): false turns the server's default injection off;
// true or an object asks for it.
struct ContextRequest {
  bool given = false;    // the field was in the request
  bool enabled = false;  // inject
  std::string index;     // "" = the server's default index
  std::optional<int> k;
  std::optional<int> budget_tokens;
};

struct ChatRequest : GenerationRequest {
  // [{"role", "content"}] with content flattened to a string and "developer" renamed "system", ready for a
  // chat template.
  // Assistant messages keep their tool_calls (arguments parsed into objects, as chat templates expect them) and
  // tool messages their tool_call_id.
  nlohmann::ordered_json messages;
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();  // [{"type": "function", "function": {...}}]
  ToolChoice tool_choice = ToolChoice::kNone;  // kAuto by default when tools are given, as OpenAI
  std::string tool_choice_name;                // kNamed: the function
  bool parallel_tool_calls = true;
  ContextRequest context;
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
  std::optional<int> dimensions;  // keep the first N values, then L2-normalise (Matryoshka models only)
  RequestPriority priority = RequestPriority::kUnset;
  // hearth's extension: the texts are queries for this task (EmbedderOptions::instruction); texts only.
  std::string instruction;
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

// JSON nested deeper than this is refused (400) before it is parsed, so that nothing downstream recurses
// without bound.
inline constexpr int kMaxJsonDepth = 512;

// Each throws ApiError (400, naming the field) for malformed JSON, a wrong type or a value out of range, JSON
// nested deeper than kMaxJsonDepth, or a string that is not UTF-8 (naming the field that holds it).
ChatRequest parse_chat_request(std::string_view body);
// A body that must be one JSON object (bounded nesting, as every parser here): ApiError 400 otherwise.
nlohmann::ordered_json parse_json_body(std::string_view body);
CompletionRequest parse_completion_request(std::string_view body);
EmbeddingRequest parse_embedding_request(std::string_view body);
RerankRequest parse_rerank_request(std::string_view body);

// The X-Priority header ("" when absent); ApiError 400 (param "X-Priority") for another value.
RequestPriority parse_priority_header(std::string_view value);
// The request's class from the header and the body's field: they must agree when both are given (400, param
// "priority"); neither: interactive.
RequestPriority effective_priority(RequestPriority header, RequestPriority field);

}  // namespace hearth::server
