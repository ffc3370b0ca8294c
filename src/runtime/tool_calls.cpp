#include "runtime/tool_calls.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "grammar/gbnf.h"
#include "grammar/json_schema.h"

namespace hearth {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kHermesOpen = "<tool_call>", kHermesClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>", kMistralCalls = "[TOOL_CALLS]", kMistralArgs = "[ARGS]";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

size_t trim_end(std::string_view s, size_t end) {
  while (end > 0 && is_space(s[end - 1])) --end;
  return end;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The end of the JSON object or array that starts at s[i] ('{' or '['), or npos when it does not close. Only
// brackets outside strings count; whether the inside is valid JSON is left to the parser.
size_t json_value_end(std::string_view s, size_t i) {
  int depth = 0;
  bool in_string = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<Json> parse_json(std::string_view s) {
  Json j = Json::parse(s, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// {"name": ..., <args_key>: {...}} (or arguments given as a JSON string) as a call; nullopt when it is not one.
std::optional<ParsedToolCall> call_of(const Json& j, std::initializer_list<const char*> args_keys) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || j["name"].get_ref<const std::string&>().empty())
    return std::nullopt;
  for (const char* key : args_keys) {
    if (!j.contains(key)) continue;
    const Json& a = j[key];
    if (a.is_object()) return ParsedToolCall{j["name"].get<std::string>(), a.dump()};
    if (a.is_string()) {
      auto inner = parse_json(a.get_ref<const std::string&>());
      if (inner && inner->is_object()) return ParsedToolCall{j["name"].get<std::string>(), inner->dump()};
    }
    return std::nullopt;
  }
  return ParsedToolCall{j["name"].get<std::string>(), "{}"};  // a function without arguments
}

ParsedToolOutput content_only(std::string_view text) { return {std::string(text), {}}; }

ParsedToolOutput parse_hermes(std::string_view text) {
  const size_t first = text.find(kHermesOpen);
  if (first == std::string_view::npos) return content_only(text);
  ParsedToolOutput out;
  for (size_t at = first; at != std::string_view::npos; at = text.find(kHermesOpen, at)) {
    const size_t body = skip_space(text, at + kHermesOpen.size());
    if (body >= text.size() || text[body] != '{') return content_only(text);
    const size_t end = json_value_end(text, body);
    if (end == std::string_view::npos) return content_only(text);
    auto j = parse_json(text.substr(body, end - body));
    auto call = j ? call_of(*j, {"arguments", "parameters"}) : std::nullopt;
    if (!call) return content_only(text);
    out.calls.push_back(std::move(*call));
    at = skip_space(text, end);
    if (starts_with(text.substr(at), kHermesClose)) at += kHermesClose.size();
  }
  out.content = std::string(text.substr(0, trim_end(text, first)));
  return out;
}

ParsedToolOutput parse_llama3(std::string_view text) {
  size_t at = skip_space(text, 0);
  if (starts_with(text.substr(at), kPythonTag)) at = skip_space(text, at + kPythonTag.size());
  if (at >= text.size() || text[at] != '{') return content_only(text);
  ParsedToolOutput out;
  while (at < text.size()) {
    if (text[at] != '{') return content_only(text);
    const size_t end = json_value_end(text, at);
    if (end == std::string_view::npos) return content_only(text);
    auto j = parse_json(text.substr(at, end - at));
    auto call = j ? call_of(*j, {"parameters", "arguments"}) : std::nullopt;
    if (!call) return content_only(text);
    out.calls.push_back(std::move(*call));
    at = skip_space(text, end);
    if (at < text.size() && text[at] == ';') at = skip_space(text, at + 1);
  }
  return out;
}

ParsedToolOutput parse_mistral(std::string_view text) {
  size_t at = skip_space(text, 0);
  const bool marked = starts_with(text.substr(at), kMistralCalls);
  if (marked) at = skip_space(text, at + kMistralCalls.size());
  ParsedToolOutput out;
  if (at < text.size() && text[at] == '[') {  // v3: a JSON array of calls
    const size_t end = json_value_end(text, at);
    if (end == std::string_view::npos || skip_space(text, end) != text.size()) return content_only(text);
    auto j = parse_json(text.substr(at, end - at));
    if (!j || !j->is_array() || j->empty()) return content_only(text);
    for (const Json& c : *j) {
      auto call = call_of(c, {"arguments", "parameters"});
      if (!call) return content_only(text);
      out.calls.push_back(std::move(*call));
    }
    return out;
  }
  if (!marked) return content_only(text);
  // v11: name[ARGS]{...}, each call after its own [TOOL_CALLS].
  while (true) {
    const size_t args = text.find(kMistralArgs, at);
    if (args == std::string_view::npos) return content_only(text);
    const std::string name(text.substr(at, trim_end(text, args) - at));
    const size_t body = skip_space(text, args + kMistralArgs.size());
    const size_t end = body < text.size() && text[body] == '{' ? json_value_end(text, body) : std::string_view::npos;
    if (name.empty() || end == std::string_view::npos) return content_only(text);
    auto j = parse_json(text.substr(body, end - body));
    if (!j || !j->is_object()) return content_only(text);
    out.calls.push_back({name, j->dump()});
    at = skip_space(text, end);
    if (at == text.size()) return out;
    if (!starts_with(text.substr(at), kMistralCalls)) return content_only(text);
    at = skip_space(text, at + kMistralCalls.size());
  }
}

// The longest suffix of `text` that is a proper prefix of `marker`.
size_t partial_marker_suffix(std::string_view text, std::string_view marker) {
  for (size_t n = std::min(text.size(), marker.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

}  // namespace

const char* to_string(ToolCallSyntax syntax) {
  switch (syntax) {
    case ToolCallSyntax::kHermes: return "hermes";
    case ToolCallSyntax::kLlama3: return "llama3";
    case ToolCallSyntax::kMistral: return "mistral";
  }
  return "?";
}

ToolCallFormat detect_tool_call_format(std::string_view src) {
  const bool renders_tools = src.find("tools") != std::string_view::npos;
  if (src.find(kHermesOpen) != std::string_view::npos) return {ToolCallSyntax::kHermes, renders_tools};
  if (src.find(kMistralCalls) != std::string_view::npos) return {ToolCallSyntax::kMistral, renders_tools};
  if (renders_tools && (src.find(kPythonTag) != std::string_view::npos || src.find("<|start_header_id|>") != std::string_view::npos))
    return {ToolCallSyntax::kLlama3, true};
  return {ToolCallSyntax::kHermes, false};
}

Json with_tools_system_prompt(const Json& messages, const Json& tools) {
  std::string prompt =
      "You may call functions to help with the user's request. Each function's arguments are described by a "
      "JSON Schema:\n<tools>\n";
  for (const Json& t : tools) prompt += (t.contains("function") ? t["function"] : t).dump() + "\n";
  prompt +=
      "</tools>\nTo call a function, answer with one block per call, each on its own lines:\n<tool_call>\n"
      "{\"name\": \"<function name>\", \"arguments\": <arguments as a JSON object>}\n</tool_call>";
  Json out = messages;
  if (!out.empty() && out[0].value("role", "") == "system" && out[0]["content"].is_string()) {
    out[0]["content"] = prompt + "\n\n" + out[0]["content"].get<std::string>();
  } else {
    out.insert(out.begin(), Json{{"role", "system"}, {"content", prompt}});
  }
  return out;
}

ParsedToolOutput parse_tool_calls(ToolCallSyntax syntax, std::string_view text) {
  switch (syntax) {
    case ToolCallSyntax::kHermes: return parse_hermes(text);
    case ToolCallSyntax::kLlama3: return parse_llama3(text);
    case ToolCallSyntax::kMistral: return parse_mistral(text);
  }
  return content_only(text);
}

size_t content_safe_prefix(ToolCallSyntax syntax, std::string_view text) {
  if (syntax == ToolCallSyntax::kHermes) {
    const size_t marker = text.find(kHermesOpen);
    if (marker != std::string_view::npos) return trim_end(text, marker);
    return trim_end(text, text.size() - partial_marker_suffix(text, kHermesOpen));
  }
  // Llama 3 and Mistral write a call as the whole reply: until the first non-space text shows that it is not
  // one, nothing is sure; after that, everything is.
  const std::string_view rest = text.substr(skip_space(text, 0));
  if (rest.empty()) return 0;
  for (std::string_view start : {std::string_view("{"), std::string_view("["), kPythonTag, kMistralCalls}) {
    const size_t n = std::min(rest.size(), start.size());
    if (rest.substr(0, n) == start.substr(0, n)) return 0;
  }
  return text.size();
}

std::string tool_call_gbnf(ToolCallSyntax syntax, const std::vector<ToolFunction>& functions, bool parallel) {
  if (functions.empty()) fail("tool_call_gbnf: no functions to call");
  // Bounds for what the schema leaves open: a small model must not write an endless string or list.
  grammar::JsonGrammarOptions options;
  options.max_string_length = 512;
  options.max_items = 32;
  options.max_whitespace = 1;
  const char* args_key = syntax == ToolCallSyntax::kLlama3 ? "parameters" : "arguments";
  std::string rules, call;
  for (size_t i = 0; i < functions.size(); ++i) {
    const ToolFunction& f = functions[i];
    std::string args;
    try {
      args = f.parameters.is_null() ? grammar::json_object_gbnf(options)
                                    : grammar::json_schema_to_gbnf(f.parameters.dump(), options);
    } catch (const Error& e) {
      fail(e.kind(), "tool '{}': parameters: {}", f.name, e.what());
    }
    const std::string prefix = fmt::format("f{}-", i);
    rules += grammar::prefix_rule_names(args, prefix);
    // {"name": "f", "arguments": ARGS} with the name as a JSON string literal inside a GBNF literal.
    std::string name_json = Json(f.name).dump(), name_lit;
    for (char c : name_json) {
      if (c == '"' || c == '\\') name_lit += '\\';
      name_lit += c;
    }
    call += fmt::format("{}\"{{\\\"name\\\": {}, \\\"{}\\\": \" {}root \"}}\"", i ? " | " : "", name_lit, args_key, prefix);
  }
  const char* more = parallel ? "{0,3}" : "{0}";
  std::string root;
  switch (syntax) {
    case ToolCallSyntax::kHermes:
      root = fmt::format("root ::= block (\"\\n\" block){}\nblock ::= \"<tool_call>\\n\" call \"\\n</tool_call>\"\n", more);
      break;
    case ToolCallSyntax::kLlama3:
      root = fmt::format("root ::= call (\"; \" call){}\n", more);
      break;
    case ToolCallSyntax::kMistral:
      root = fmt::format("root ::= \"[TOOL_CALLS][\" call (\", \" call){} \"]\"\n", more);
      break;
  }
  return root + "call ::= " + call + "\n" + rules;
}

}  // namespace hearth
