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

const Json* field(const Json& j, const char* name);

// The length of the UTF-8 sequence at s[i] (1 to 4), or 0 when the bytes there are not UTF-8 (overlong forms,
// surrogates and code points past U+10FFFF included), as RFC 3629 defines it.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto at = [&](size_t k) { return i + k < s.size() ? uint8_t(s[i + k]) : uint8_t(0); };
  const uint8_t c = at(0);
  const auto cont = [&](size_t k, uint8_t lo = 0x80, uint8_t hi = 0xBF) { return at(k) >= lo && at(k) <= hi; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

// One pass over the text before it is parsed: containers nested deeper than kMaxJsonDepth, and strings that are
// not UTF-8, are refused naming where they are ("messages[0].content"). Anything else malformed is left to the
// parser, which says where the syntax breaks.
void check_json_text(std::string_view body) {
  struct Frame {
    bool object = false;
    bool expecting_key = true;  // objects: the next string is a key
    std::string_view key;       // objects: the member being read
    size_t index = 0;           // arrays: the element being read
  };
  std::vector<Frame> stack;
  // Where the value being read sits, from the root ("" for the root itself).
  const auto path = [&](bool with_last) {
    std::string p;
    for (size_t f = 0; f < stack.size() && p.size() < 200; ++f) {
      if (f + 1 == stack.size() && !with_last) break;
      const Frame& fr = stack[f];
      if (fr.object) p += (p.empty() ? "" : ".") + std::string(fr.key.substr(0, 64));
      else p += fmt::format("[{}]", fr.index);
    }
    return p;
  };
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '"') {
      const bool is_key = !stack.empty() && stack.back().object && stack.back().expecting_key;
      const size_t start = ++i;
      while (i < body.size() && body[i] != '"') {
        if (body[i] == '\\') {
          i += 2;
          continue;
        }
        const size_t n = utf8_sequence(body, i);
        if (n == 0) {
          const std::string param = path(!is_key);
          const std::string where = is_key ? "a key in " + (param.empty() ? std::string("the request body") : param)
                                           : (param.empty() ? std::string("the request body") : param);
          throw ApiError(400,
                         fmt::format("{} is not valid UTF-8 (byte {} of the body is 0x{:02x})", where, i, uint8_t(body[i])),
                         param, "invalid_encoding");
        }
        i += n;
      }
      if (i >= body.size()) return;  // unterminated: the parser says so
      if (is_key) stack.back().key = body.substr(start, i - start);
    } else if (c == '{' || c == '[') {
      if (int(stack.size()) >= kMaxJsonDepth)
        throw ApiError(400, fmt::format("the request body nests JSON deeper than {} levels", kMaxJsonDepth), "",
                       "invalid_json");
      stack.push_back({c == '{', true, {}, 0});
    } else if (c == '}' || c == ']') {
      if (stack.empty()) return;
      stack.pop_back();
    } else if (c == ',') {
      if (stack.empty()) return;
      if (stack.back().object) stack.back().expecting_key = true;
      else ++stack.back().index;
    } else if (c == ':') {
      if (stack.empty() || !stack.back().object) return;
      stack.back().expecting_key = false;
    }
  }
}

Json parse_object(std::string_view body) {
  check_json_text(body);
  Json j;
  try {
    j = Json::parse(body);
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    // nlohmann's message says where the syntax breaks ("parse error at line 1, column 5: ..."), after its tag.
    std::string what = e.what();
    if (const size_t tag = what.find("] "); tag != std::string::npos) what = what.substr(tag + 2);
    throw ApiError(400, "the request body is not valid JSON: " + what.substr(0, 300), "", "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object", "", "invalid_json");
  return j;
}

RequestPriority get_priority(const Json& j) {
  const Json* v = field(j, "priority");
  if (!v) return RequestPriority::kUnset;
  if (v->is_string()) {
    if (*v == "interactive") return RequestPriority::kInteractive;
    if (*v == "background") return RequestPriority::kBackground;
  }
  bad("priority", "priority must be \"interactive\" or \"background\"");
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

// {"token id": bias}: OpenAI's map from token ids (as strings) to a bias in [-100, 100].
std::vector<std::pair<int32_t, float>> get_logit_bias(const Json& j) {
  const Json* v = field(j, "logit_bias");
  if (!v) return {};
  if (!v->is_object()) bad("logit_bias", "logit_bias must be an object mapping token ids to numbers");
  if (v->size() > 1024) bad("logit_bias", "logit_bias takes at most 1024 tokens");
  std::vector<std::pair<int32_t, float>> out;
  for (const auto& [key, bias] : v->items()) {
    const bool digits = !key.empty() && key.size() <= 10 &&
                        std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoll(key) > std::numeric_limits<int32_t>::max())
      bad("logit_bias", fmt::format("logit_bias keys must be token ids, not '{}'", key));
    if (!bias.is_number() || !(bias.get<double>() >= -100 && bias.get<double>() <= 100))
      bad("logit_bias", fmt::format("logit_bias[{}] must be a number between -100 and 100", key));
    out.emplace_back(int32_t(std::stoll(key)), bias.get<float>());
  }
  return out;
}

void unsupported_if_present(const Json& j, const char* name, const char* what) {
  if (field(j, name)) throw ApiError(400, fmt::format("{} {} not supported yet", name, what), name, "unsupported");
}

// "lora": [{"name": "x", "scale": 0.5}, "y", ...] (a bare string: a name at its loaded scale).
std::optional<std::vector<GenerationRequest::Lora>> get_lora(const Json& j) {
  const Json* v = field(j, "lora");
  if (!v) return std::nullopt;
  if (!v->is_array()) bad("lora", "lora must be an array of adapters, e.g. [{\"name\": \"formal\", \"scale\": 0.5}]");
  if (v->size() > 16) bad("lora", "lora takes at most 16 adapters");
  std::vector<GenerationRequest::Lora> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    const std::string at = fmt::format("lora[{}]", i);
    GenerationRequest::Lora l;
    if (e.is_string()) {
      l.name = e.get<std::string>();
    } else if (e.is_object()) {
      if (!e.contains("name") || !e["name"].is_string()) bad(at + ".name", at + ".name must be a string");
      l.name = e["name"].get<std::string>();
      if (const Json* s = field(e, "scale")) {
        if (!s->is_number() || !(s->get<double>() >= -100 && s->get<double>() <= 100))
          bad(at + ".scale", at + ".scale must be a number between -100 and 100");
        l.scale = s->get<float>();
      }
    } else {
      bad(at, at + " must be an adapter name or an object {\"name\", \"scale\"}");
    }
    if (l.name.empty()) bad(at + ".name", at + ".name must not be empty");
    out.push_back(std::move(l));
  }
  return out;
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
  r.logit_bias = get_logit_bias(j);
  r.grammar = get_string(j, "grammar", false);
  if (const Json* b = field(j, "json_bounds")) {
    if (!b->is_object()) bad("json_bounds", "json_bounds must be an object");
    r.json_max_string_length = int(get_integer(*b, "max_string_length", 0, 1 << 20).value_or(-1));
    r.json_max_items = int(get_integer(*b, "max_items", 0, 4096).value_or(-1));
  }
  r.priority = get_priority(j);
  r.lora = get_lora(j);
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

// An assistant message's tool_calls, with each call's arguments (a JSON string in OpenAI's shape) parsed into an
// object when it is one: chat templates write them with tojson.
Json parse_tool_call_history(const Json& calls, const std::string& at) {
  const std::string param = at + ".tool_calls";
  if (!calls.is_array()) bad(param, param + " must be an array");
  Json out = Json::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    const Json& c = calls[k];
    const std::string p = fmt::format("{}[{}]", param, k);
    if (!c.is_object() || !c.contains("function") || !c["function"].is_object())
      bad(p, p + " must be an object with a \"function\" object");
    const Json& f = c["function"];
    if (!f.contains("name") || !f["name"].is_string()) bad(p + ".function.name", p + ".function.name must be a string");
    Json args = Json::object();
    if (f.contains("arguments") && !f["arguments"].is_null()) {
      if (f["arguments"].is_string()) {
        Json parsed = Json::parse(f["arguments"].get<std::string>(), nullptr, false);
        args = parsed.is_object() ? parsed : f["arguments"];
      } else if (f["arguments"].is_object()) {
        args = f["arguments"];
      } else {
        bad(p + ".function.arguments", p + ".function.arguments must be a JSON string");
      }
    }
    Json call = {{"type", "function"}, {"function", {{"name", f["name"]}, {"arguments", args}}}};
    if (c.contains("id") && c["id"].is_string()) call["id"] = c["id"];
    out.push_back(std::move(call));
  }
  return out;
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
    if (role == "function" || field(m, "function_call"))
      throw ApiError(400, at + ": the legacy function role and function_call are not supported: use tools", at,
                     "unsupported");
    if (role != "system" && role != "developer" && role != "user" && role != "assistant" && role != "tool")
      bad(at + ".role", fmt::format("{}.role must be system, developer, user, assistant or tool, not '{}'", at, role));
    // Chat templates know "system"; OpenAI's newer "developer" role means the same to a model without it.
    if (role == "developer") role = "system";
    Json message = {{"role", role}};
    const Json* calls = role == "assistant" ? field(m, "tool_calls") : nullptr;
    const Json* content = field(m, "content");
    if (!content && !calls) bad(at + ".content", at + ".content is required");
    message["content"] = content ? message_content(*content, i) : "";
    if (calls) message["tool_calls"] = parse_tool_call_history(*calls, at);
    if (role == "tool") {
      const std::string id = get_string(m, "tool_call_id", false);
      if (id.empty()) bad(at + ".tool_call_id", at + ".tool_call_id is required for tool messages");
      message["tool_call_id"] = id;
      if (const Json* name = field(m, "name"); name && name->is_string()) message["name"] = *name;
    }
    out.push_back(std::move(message));
  }
  return out;
}

bool valid_function_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

void parse_tools(const Json& j, ChatRequest& r) {
  if (const Json* tools = field(j, "tools")) {
    if (!tools->is_array()) bad("tools", "tools must be an array");
    if (tools->size() > 128) bad("tools", "tools takes at most 128 functions");
    for (size_t i = 0; i < tools->size(); ++i) {
      const Json& t = (*tools)[i];
      const std::string at = fmt::format("tools[{}]", i);
      if (!t.is_object() || get_string(t, "type", false) != "function")
        bad(at, at + " must be {\"type\": \"function\", \"function\": {...}}");
      const Json* f = field(t, "function");
      if (!f || !f->is_object()) bad(at + ".function", at + ".function must be an object");
      if (!f->contains("name") || !(*f)["name"].is_string() || !valid_function_name((*f)["name"].get<std::string>()))
        bad(at + ".function.name", at + ".function.name must be 1 to 64 letters, digits, '_' or '-'");
      for (const auto& fn : r.tools)
        if (fn["function"]["name"] == (*f)["name"])
          bad(at + ".function.name", fmt::format("two tools are named '{}'", (*f)["name"].get<std::string>()));
      if (const Json* p = field(*f, "parameters"); p && !p->is_object())
        bad(at + ".function.parameters", at + ".function.parameters must be a JSON schema object");
      if (const Json* d = field(*f, "description"); d && !d->is_string())
        bad(at + ".function.description", at + ".function.description must be a string");
      Json fn = {{"name", (*f)["name"]}};
      if (const Json* d = field(*f, "description")) fn["description"] = *d;
      if (const Json* p = field(*f, "parameters")) fn["parameters"] = *p;
      r.tools.push_back({{"type", "function"}, {"function", fn}});
    }
  }
  r.tool_choice = r.tools.empty() ? ToolChoice::kNone : ToolChoice::kAuto;
  if (const Json* c = field(j, "tool_choice")) {
    if (c->is_string()) {
      const std::string s = c->get<std::string>();
      if (s == "none") r.tool_choice = ToolChoice::kNone;
      else if (s == "auto") r.tool_choice = ToolChoice::kAuto;
      else if (s == "required") r.tool_choice = ToolChoice::kRequired;
      else bad("tool_choice", fmt::format("tool_choice must be none, auto, required or a function, not '{}'", s));
    } else if (c->is_object() && get_string(*c, "type", false) == "function" && field(*c, "function") &&
               (*c)["function"].is_object()) {
      r.tool_choice = ToolChoice::kNamed;
      r.tool_choice_name = get_string((*c)["function"], "name", true);
      bool known = false;
      for (const auto& t : r.tools) known = known || t["function"]["name"] == r.tool_choice_name;
      if (!known) bad("tool_choice", fmt::format("tool_choice names '{}', which is not in tools", r.tool_choice_name));
    } else {
      bad("tool_choice", "tool_choice must be a string or {\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
    if (r.tool_choice != ToolChoice::kNone && r.tools.empty()) bad("tool_choice", "tool_choice needs tools");
  }
  r.parallel_tool_calls = get_bool(j, "parallel_tool_calls", true);
}

// response_format: {"type": "text" | "json_object" | "json_schema", "json_schema": {"name", "schema", "strict"}}.
void parse_response_format(const Json& j, ChatRequest& r) {
  const Json* f = field(j, "response_format");
  if (!f) return;
  if (!f->is_object()) bad("response_format", "response_format must be an object");
  const std::string type = get_string(*f, "type", true);
  if (type == "json_object") {
    r.json_object = true;
  } else if (type == "json_schema") {
    const Json* js = field(*f, "json_schema");
    if (!js || !js->is_object()) bad("response_format.json_schema", "response_format.json_schema must be an object");
    const Json* schema = field(*js, "schema");
    if (!schema) {
      r.json_object = false;
      r.json_schema = "{}";  // OpenAI: no schema means any JSON value
    } else if (schema->is_object() || schema->is_boolean()) {
      r.json_schema = schema->dump();
    } else {
      bad("response_format.json_schema.schema", "response_format.json_schema.schema must be a JSON schema object");
    }
  } else if (type != "text") {
    bad("response_format.type", fmt::format("response_format.type must be text, json_object or json_schema, not '{}'", type));
  }
}

}  // namespace

nlohmann::ordered_json parse_json_body(std::string_view body) { return parse_object(body); }

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
  unsupported_if_present(j, "functions", "(legacy: use tools) are");
  parse_tools(j, r);
  if (const Json* c = field(j, "context")) {
    r.context.given = true;
    if (c->is_boolean()) {
      r.context.enabled = c->get<bool>();
    } else if (c->is_object()) {
      r.context.enabled = true;
      r.context.index = get_string(*c, "index", false);
      if (auto k = get_integer(*c, "k", 1, 50)) r.context.k = int(*k);
      if (auto b = get_integer(*c, "budget_tokens", 16, 1 << 20)) r.context.budget_tokens = int(*b);
    } else {
      bad("context", "context must be true, false or an object {\"index\", \"k\", \"budget_tokens\"}");
    }
  }
  parse_response_format(j, r);
  const int constraints = !r.grammar.empty() + !r.json_schema.empty() + r.json_object;
  if (constraints > 1) bad("response_format", "grammar and response_format exclude each other");
  if (constraints && (r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed))
    bad("tool_choice", "a required or named tool_choice cannot be combined with grammar or response_format");
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
  r.priority = get_priority(j);
  if (auto d = get_integer(j, "dimensions", 1, 1 << 16)) r.dimensions = int(*d);
  r.instruction = get_string(j, "instruction", false);
  if (!r.instruction.empty() && !r.token_inputs.empty())
    bad("instruction", "instruction applies to text inputs, not token ids");
  return r;
}

RequestPriority parse_priority_header(std::string_view value) {
  if (value.empty()) return RequestPriority::kUnset;
  if (value == "interactive") return RequestPriority::kInteractive;
  if (value == "background") return RequestPriority::kBackground;
  throw ApiError(400, "the X-Priority header must be interactive or background", "X-Priority", "invalid_value");
}

RequestPriority effective_priority(RequestPriority header, RequestPriority field) {
  if (header != RequestPriority::kUnset && field != RequestPriority::kUnset && header != field)
    bad("priority", "the priority field and the X-Priority header disagree");
  const RequestPriority p = field != RequestPriority::kUnset ? field : header;
  return p == RequestPriority::kUnset ? RequestPriority::kInteractive : p;
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
