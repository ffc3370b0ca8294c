#include "server/responses.h"

#include <bit>
#include <cstring>

namespace hearth::server {
namespace {

const char* object_name(Endpoint e, bool chunk) {
  if (e == Endpoint::kChat) return chunk ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";  // the legacy endpoint uses one name for both
}

Json header_json(Endpoint e, const ResponseHeader& h, bool chunk) {
  Json j;
  j["id"] = h.id;
  j["object"] = object_name(e, chunk);
  j["created"] = h.created;
  j["model"] = h.model;
  j["system_fingerprint"] = "hearth";
  return j;
}

Json bytes_of(const std::string& s) {
  Json b = Json::array();
  for (unsigned char c : s) b.push_back(int(c));
  return b;
}

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}], "refusal": null}.
Json chat_logprobs(const std::vector<GeneratedToken>& tokens, const Tokenizer& tok) {
  Json content = Json::array();
  for (const GeneratedToken& t : tokens) {
    const std::string piece = tok.token_to_piece(t.chosen.id);
    Json top = Json::array();
    for (const TokenLogprob& alt : t.top) {
      const std::string p = tok.token_to_piece(alt.id);
      top.push_back({{"token", p}, {"logprob", alt.logprob}, {"bytes", bytes_of(p)}});
    }
    content.push_back({{"token", piece}, {"logprob", t.chosen.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

// Legacy completions: parallel arrays, top_logprobs as {token: logprob} maps, text_offset into the choice's text.
Json completion_logprobs(const ChoiceResult& c, const Tokenizer& tok) {
  Json tokens = Json::array(), lps = Json::array(), tops = Json::array(), offsets = Json::array();
  size_t offset = c.text_offset;
  for (const GeneratedToken& t : c.logprobs) {
    const std::string piece = tok.token_to_piece(t.chosen.id);
    tokens.push_back(piece);
    lps.push_back(t.chosen.logprob);
    Json top = Json::object();
    for (const TokenLogprob& alt : t.top) top[tok.token_to_piece(alt.id)] = alt.logprob;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += piece.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace

Json usage_json(const UsageCounts& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

Json completion_response(Endpoint endpoint, const ResponseHeader& h, const std::vector<ChoiceResult>& choices,
                         const UsageCounts& usage, const Tokenizer& tokenizer) {
  Json j = header_json(endpoint, h, false);
  if (!h.context_sources.is_null()) j["context_sources"] = h.context_sources;
  Json cs = Json::array();
  for (const ChoiceResult& c : choices) {
    Json choice;
    choice["index"] = c.index;
    if (endpoint == Endpoint::kChat) {
      Json message = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
      if (!c.tool_calls.empty()) {
        if (c.text.empty()) message["content"] = nullptr;  // as OpenAI answers a reply that is only calls
        message["tool_calls"] = tool_calls_json(c.tool_calls);
      }
      choice["message"] = std::move(message);
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = choice_logprobs(endpoint, c, tokenizer);
    choice["finish_reason"] = finish_reason_name(c);
    cs.push_back(std::move(choice));
  }
  j["choices"] = std::move(cs);
  j["usage"] = usage_json(usage);
  return j;
}

const char* finish_reason_name(const ChoiceResult& c) {
  return c.tool_calls.empty() ? to_string(c.finish_reason) : "tool_calls";
}

Json tool_calls_json(const std::vector<ToolCallResult>& calls) {
  Json out = Json::array();
  for (const ToolCallResult& c : calls)
    out.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

std::vector<Json> tool_call_deltas(const std::vector<ToolCallResult>& calls) {
  std::vector<Json> deltas;
  for (size_t i = 0; i < calls.size(); ++i) {
    const ToolCallResult& c = calls[i];
    deltas.push_back({{"tool_calls", Json::array({{{"index", i}, {"id", c.id}, {"type", "function"},
                                                   {"function", {{"name", c.name}, {"arguments", ""}}}}})}});
    deltas.push_back({{"tool_calls", Json::array({{{"index", i}, {"function", {{"arguments", c.arguments}}}}})}});
  }
  return deltas;
}

Json choice_logprobs(Endpoint endpoint, const ChoiceResult& c, const Tokenizer& tokenizer) {
  if (!c.with_logprobs) return nullptr;
  return endpoint == Endpoint::kChat ? chat_logprobs(c.logprobs, tokenizer) : completion_logprobs(c, tokenizer);
}

namespace {

// A streamed chunk of one choice: the endpoint's own fields in `choice`, then the ones every chunk has.
Json stream_chunk(Endpoint endpoint, const ResponseHeader& h, Json choice, int index, const char* finish_reason,
                  const Json& logprobs) {
  Json j = header_json(endpoint, h, true);
  choice["index"] = index;
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_reason ? Json(finish_reason) : Json();
  j["choices"] = Json::array({std::move(choice)});
  return j;
}

}  // namespace

Json chat_chunk(const ResponseHeader& h, int index, const Json& delta, const char* finish_reason,
                const Json& logprobs) {
  return stream_chunk(Endpoint::kChat, h, Json{{"delta", delta}}, index, finish_reason, logprobs);
}

Json completion_chunk(const ResponseHeader& h, int index, const std::string& text, const char* finish_reason,
                      const Json& logprobs) {
  return stream_chunk(Endpoint::kCompletion, h, Json{{"text", text}}, index, finish_reason, logprobs);
}

Json usage_chunk(Endpoint endpoint, const ResponseHeader& h, const UsageCounts& usage) {
  Json j = header_json(endpoint, h, true);
  j["choices"] = Json::array();
  j["usage"] = usage_json(usage);
  return j;
}

std::string base64_encode(const void* data, size_t size) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = uint32_t(p[i]) << 16 | uint32_t(p[i + 1]) << 8 | p[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (size - i == 1) {
    const uint32_t v = uint32_t(p[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (size - i == 2) {
    const uint32_t v = uint32_t(p[i]) << 16 | uint32_t(p[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Json embeddings_response(const std::string& model, const std::vector<std::vector<float>>& vectors, bool base64,
                         int64_t prompt_tokens) {
  static_assert(std::endian::native == std::endian::little, "base64 embeddings are little-endian float32 bytes");
  Json data = Json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    Json item;
    item["object"] = "embedding";
    item["index"] = i;
    if (base64) item["embedding"] = base64_encode(vectors[i].data(), vectors[i].size() * sizeof(float));
    else item["embedding"] = vectors[i];
    data.push_back(std::move(item));
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

}  // namespace hearth::server
