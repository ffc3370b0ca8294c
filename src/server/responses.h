// OpenAI response bodies: chat completions and their stream chunks, legacy text completions, embeddings, models.
// Field order and presence follow the API reference, so that strict clients (the openai npm package's types,
// Pydantic models in the Python client) accept them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/sequence.h"
#include "tokenizers/tokenizer.h"

namespace hearth::server {

using Json = nlohmann::ordered_json;

// Which endpoint a generation answers: the shapes differ (message vs text, logprobs layout, object names).
enum class Endpoint { kChat, kCompletion };

// What identifies one response and each of its stream chunks.
struct ResponseHeader {
  std::string id;  // "chatcmpl-…" / "cmpl-…"
  int64_t created = 0;
  std::string model;
  // The context injection's sources (docs/context.md): in the response and in a stream's opening chunks; null
  // when the request had no context injected.
  Json context_sources;
};

struct ToolCallResult {
  std::string id;  // "call_…"
  std::string name;
  std::string arguments;  // JSON text
};

struct ChoiceResult {
  int index = 0;
  std::string text;  // for completions with echo, the prompt is already in front
  FinishReason finish_reason = FinishReason::kStop;  // "tool_calls" instead when tool_calls is not empty
  bool with_logprobs = false;
  std::vector<GeneratedToken> logprobs;
  size_t text_offset = 0;  // completions: where the generated text starts in `text` (the echoed prompt's length)
  std::vector<ToolCallResult> tool_calls;  // chat: the calls parsed from the reply (then `text` is what is not a call)
};

// The finish reason as OpenAI names it: "tool_calls" for a reply with calls, else the sequence's own.
const char* finish_reason_name(const ChoiceResult& choice);
// The tool_calls member of a message (whole) and the deltas that stream the same call: one with its id, type,
// name and empty arguments, then one with the arguments (OpenAI's clients concatenate arguments by index).
Json tool_calls_json(const std::vector<ToolCallResult>& calls);
std::vector<Json> tool_call_deltas(const std::vector<ToolCallResult>& calls);

struct UsageCounts {
  int prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
};

Json usage_json(const UsageCounts& u);

// A whole (non-streamed) response.
Json completion_response(Endpoint endpoint, const ResponseHeader& h, const std::vector<ChoiceResult>& choices,
                         const UsageCounts& usage, const Tokenizer& tokenizer);

// Stream chunks. Chat: `delta` is {"role": "assistant", "content": ""} first, then {"content": text}, then {} with
// the finish reason. Completions: the text itself.
// `logprobs`: a choice's log-probabilities (choice_logprobs), sent whole with its finish reason; null otherwise.
Json chat_chunk(const ResponseHeader& h, int index, const Json& delta, const char* finish_reason,
                const Json& logprobs = nullptr);
Json completion_chunk(const ResponseHeader& h, int index, const std::string& text, const char* finish_reason,
                      const Json& logprobs = nullptr);
// A choice's "logprobs" member in the endpoint's layout (null when it asked for none).
Json choice_logprobs(Endpoint endpoint, const ChoiceResult& choice, const Tokenizer& tokenizer);
// The final usage chunk of stream_options.include_usage: empty choices.
Json usage_chunk(Endpoint endpoint, const ResponseHeader& h, const UsageCounts& usage);

// /v1/embeddings: vectors as float arrays, or base64 of their little-endian float32 bytes.
Json embeddings_response(const std::string& model, const std::vector<std::vector<float>>& vectors, bool base64,
                         int64_t prompt_tokens);

// Standard base64 (with padding), as OpenAI encodes embeddings.
std::string base64_encode(const void* data, size_t size);

}  // namespace hearth::server
