#include "server/request.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "server/api_error.h"

namespace hearth::server {
namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, param, "invalid_value");
}

Json parse_object(std::string_view body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON", "", "invalid_json");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object", "", "invalid_json");
  return j;
}

// The field, or nullptr when it is absent or null.
const Json* field(const Json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string get_string(const Json& j, const char* name, bool required) {
  const Json* v = field(j, name);
  if (!v) {
    if (required) bad(name, fmt::format("{} is required", name));
    return {};
  }
  if (!v->is_string()) bad(name, fmt::format("{} must be a string", name));
  return v->get<std::string>();
}

bool get_bool(const Json& j, const char* name, bool fallback) {
  const Json* v = field(j, name);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(name, fmt::format("{} must be a boolean", name));
  return v->get<bool>();
}

float get_number(const Json& j, const char* name, float fallback, double lo, double hi) {
  const Json* v = field(j, name);
  if (!v) return fallback;
  if (!v->is_number()) bad(name, fmt::format("{} must be a number", name));
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) bad(name, fmt::format("{} must be between {} and {}, not {}", name, lo, hi, x));
  return float(x);
}

std::optional<int64_t> get_integer(const Json& j, const char* name, int64_t lo, int64_t hi) {
  const Json* v = field(j, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad(name, fmt::format("{} must be an integer", name));
  const std::string range = fmt::format("{} must be between {} and {}", name, lo, hi);
  if (v->is_number_float()) {
    // 3.0 is taken as 3 (JavaScript has no integer type); 3.5 is not an integer. Beyond +-9.2e18 a double no
    // longer converts to int64 safely.
    const double d = v->get<double>();
    if (std::floor(d) != d) bad(name, fmt::format("{} must be an integer", name));
    if (std::fabs(d) >= 9.2e18 || d < double(lo) || d > double(hi)) bad(name, range);
    return int64_t(d);
  }
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (hi < 0 || u > uint64_t(hi) || (lo > 0 && u < uint64_t(lo))) bad(name, range);
    return int64_t(u);
  }
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) bad(name, range);
  return x;
}

// OpenAI allows up to 4 stop sequences; a string or an array of strings.
std::vector<std::string> get_stop(const Json& j) {
  const Json* v = field(j, "stop");
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) bad("stop", "stop must be a string or an array of strings");
  if (v->size() > 4) bad("stop", "stop takes at most 4 sequences");
  std::vector<std::string> out;
  for (const Json& s : *v) {
    if (!s.is_string()) bad("stop", "stop must be a string or an array of strings");
    if (s.get_ref<const std::string&>().empty()) bad("stop", "stop sequences must not be empty");
    out.push_back(s.get<std::string>());
  }
  return out;
}

void unsupported_if_present(const Json& j, const char* name, const char* what) {
  if (field(j, name)) throw ApiError(400, fmt::format("{} {} not supported yet", name, what), name, "unsupported");
}

void parse_generation(const Json& j, GenerationRequest& r) {
  r.model = get_string(j, "model", true);
  r.temperature = get_number(j, "temperature", r.temperature, 0, 2);
  r.top_p = get_number(j, "top_p", r.top_p, 0, 1);
  r.presence_penalty = get_number(j, "presence_penalty", 0, -2, 2);
  r.frequency_penalty = get_number(j, "frequency_penalty", 0, -2, 2);
  r.seed = get_integer(j, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  r.stop = get_stop(j);
  r.n = int(get_integer(j, "n", 1, 128).value_or(1));
  r.stream = get_bool(j, "stream", false);
  if (const Json* so = field(j, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "stream_options must be an object");
    if (!r.stream) bad("stream_options", "stream_options is only allowed when stream is true");
    r.include_usage = get_bool(*so, "include_usage", false);
  }
  if (auto m = get_integer(j, "max_tokens", 1, std::numeric_limits<int>::max())) r.max_tokens = int(*m);
  unsupported_if_present(j, "logit_bias", "is");
}

// A message's content as one string: a string, or an array of {"type": "text", "text": ...} parts, concatenated
// as given (no separator is added: the parts are the client's own split of one text).
std::string message_content(const Json& content, size_t i) {
  const std::string param = fmt::format("messages[{}].content", i);
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad(param, param + " must be a string or an array of content parts");
  std::string text;
  for (const Json& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      bad(param, param + " parts must be objects with a string \"type\"");
    const std::string type = part["type"].get<std::string>();
    if (type != "text")
      throw ApiError(400, fmt::format("{}: content parts of type '{}' are not supported (text only)", param, type),
                     param, "unsupported");
    if (!part.contains("text") || !part["text"].is_string()) bad(param, param + " text parts need a string \"text\"");
    text += part["text"].get<std::string>();
  }
  return text;
}

Json parse_messages(const Json& j) {
  const Json* v = field(j, "messages");
  if (!v) bad("messages", "messages is required");
  if (!v->is_array() || v->empty()) bad("messages", "messages must be a non-empty array");
  Json out = Json::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& m = (*v)[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) bad(at, at + " must be an object");
    if (!m.contains("role") || !m["role"].is_string()) bad(at + ".role", at + ".role must be a string");
    std::string role = m["role"].get<std::string>();
    if (role == "tool" || role == "function" || m.contains("tool_calls") || m.contains("function_call"))
      throw ApiError(400, at + ": tool and function calls are not supported yet", at, "unsupported");
    if (role != "system" && role != "developer" && role != "user" && role != "assistant")
      bad(at + ".role", fmt::format("{}.role must be system, developer, user or assistant, not '{}'", at, role));
    // Chat templates know "system"; OpenAI's newer "developer" role means the same to a model without it.
    if (role == "developer") role = "system";
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) bad(at + ".content", at + ".content is required");
    out.push_back({{"role", role}, {"content", message_content(*content, i)}});
  }
  return out;
}

}  // namespace

ChatRequest parse_chat_request(std::string_view body) {
  const Json j = parse_object(body);
  ChatRequest r;
  parse_generation(j, r);
  r.messages = parse_messages(j);
  // max_completion_tokens is the newer name of max_tokens; when both are given it wins.
  if (auto m = get_integer(j, "max_completion_tokens", 1, std::numeric_limits<int>::max())) r.max_tokens = int(*m);
  if (get_bool(j, "logprobs", false)) {
    r.top_logprobs = int(get_integer(j, "top_logprobs", 0, 20).value_or(0));
  } else if (field(j, "top_logprobs")) {
    bad("top_logprobs", "top_logprobs needs logprobs set to true");
  }
  unsupported_if_present(j, "tools", "are");
  unsupported_if_present(j, "functions", "are");
  unsupported_if_present(j, "response_format", "is");
  return r;
}

CompletionRequest parse_completion_request(std::string_view body) {
  const Json j = parse_object(body);
  CompletionRequest r;
  parse_generation(j, r);
  if (!field(j, "max_tokens")) r.max_tokens = 16;  // OpenAI's default for legacy completions
  const Json* p = field(j, "prompt");
  if (!p) bad("prompt", "prompt is required");
  if (p->is_string()) {
    r.prompts.push_back(p->get<std::string>());
  } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const Json& s) { return s.is_string(); })) {
    for (const Json& s : *p) r.prompts.push_back(s.get<std::string>());
  } else if (p->is_array() && !p->empty() && !(*p)[0].is_string()) {
    throw ApiError(400, "prompt as token ids is not supported yet: send text", "prompt", "unsupported");
  } else {
    bad("prompt", "prompt must be a string or a non-empty array of strings");
  }
  if (r.prompts.size() * size_t(r.n) > 128) bad("n", "prompts × n must be at most 128 choices");
  r.echo = get_bool(j, "echo", false);
  if (auto lp = get_integer(j, "logprobs", 0, 5)) r.top_logprobs = int(*lp);
  if (field(j, "suffix"))
    throw ApiError(400, "suffix (fill-in-the-middle) is not supported: no loaded model is trained for insertion",
                   "suffix", "unsupported");
  unsupported_if_present(j, "best_of", "is");
  return r;
}

EmbeddingRequest parse_embedding_request(std::string_view body) {
  const Json j = parse_object(body);
  EmbeddingRequest r;
  r.model = get_string(j, "model", true);
  const Json* in = field(j, "input");
  if (!in) bad("input", "input is required");
  auto token_ids = [&](const Json& a) {
    std::vector<int32_t> ids;
    for (const Json& t : a) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<int32_t>::max())
        bad("input", "input token ids must be non-negative integers");
      ids.push_back(int32_t(t.get<int64_t>()));
    }
    if (ids.empty()) bad("input", "input token arrays must not be empty");
    return ids;
  };
  if (in->is_string()) {
    r.texts.push_back(in->get<std::string>());
  } else if (in->is_array() && !in->empty()) {
    const Json& first = (*in)[0];
    if (first.is_string()) {
      for (const Json& s : *in) {
        if (!s.is_string()) bad("input", "input must not mix strings with other values");
        r.texts.push_back(s.get<std::string>());
      }
    } else if (first.is_number()) {
      r.token_inputs.push_back(token_ids(*in));
    } else if (first.is_array()) {
      for (const Json& a : *in) {
        if (!a.is_array()) bad("input", "input must not mix token arrays with other values");
        r.token_inputs.push_back(token_ids(a));
      }
    } else {
      bad("input", "input must be a string, an array of strings, of token ids, or of token id arrays");
    }
  } else {
    bad("input", "input must be a string or a non-empty array");
  }
  if (r.texts.size() + r.token_inputs.size() > 2048) bad("input", "input takes at most 2048 items");
  const std::string format = get_string(j, "encoding_format", false);
  if (!format.empty() && format != "float" && format != "base64")
    bad("encoding_format", "encoding_format must be float or base64");
  r.base64 = format == "base64";
  if (field(j, "dimensions"))
    throw ApiError(400,
                   "dimensions is not supported: the model was not trained for truncated (Matryoshka) embeddings",
                   "dimensions", "unsupported");
  return r;
}

RerankRequest parse_rerank_request(std::string_view body) {
  const Json j = parse_object(body);
  RerankRequest r;
  r.model = get_string(j, "model", true);
  r.query = get_string(j, "query", true);
  const Json* docs = field(j, "documents");
  if (!docs) bad("documents", "documents is required");
  if (!docs->is_array() || docs->empty()) bad("documents", "documents must be a non-empty array");
  // Cohere's limit; each document is one forward pass of up to the model's context.
  if (docs->size() > 1000) bad("documents", "documents takes at most 1000 items");
  for (size_t i = 0; i < docs->size(); ++i) {
    const Json& d = (*docs)[i];
    if (d.is_string()) {
      r.documents.push_back(d.get<std::string>());
      continue;
    }
    const std::string at = fmt::format("documents[{}]", i);
    if (!d.is_object()) bad(at, at + " must be a string or an object with a string \"text\"");
    const Json* text = field(d, "text");
    if (!text || !text->is_string()) bad(at, at + " must be a string or an object with a string \"text\"");
    r.documents.push_back(text->get<std::string>());
  }
  if (auto n = get_integer(j, "top_n", 1, std::numeric_limits<int>::max())) r.top_n = int(*n);
  r.return_documents = get_bool(j, "return_documents", false);
  r.raw_scores = get_bool(j, "raw_scores", false);
  unsupported_if_present(j, "rank_fields", "is");
  return r;
}

}  // namespace hearth::server
