// Tool (function) calls: how a chat model writes them, found from its chat template; parsing a model's output
// into calls; streaming the text around them; and a grammar that makes a model write a valid call.
//
// Three syntaxes, the ones the common template families train:
//   Hermes  (Qwen 2.5/3, Hermes, and hearth's own prompt for templates that do not render tools):
//           <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>   (one block per call; text may precede)
//   Llama 3 (3.1–3.3 JSON tool calling): the whole reply is {"name": "f", "parameters": {...}}, optionally after
//           <|python_tag|>; several calls separated by ';'
//   Mistral: [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]   (v3 tokenizers), or
//           [TOOL_CALLS]f[ARGS]{...} repeated (v11+ tokenizers)
// Control tokens such as [TOOL_CALLS] or <|python_tag|> may be missing from the decoded text (special tokens
// are not rendered), so the parsers accept the calls without them.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace hearth {

enum class ToolCallSyntax { kHermes, kLlama3, kMistral };
const char* to_string(ToolCallSyntax syntax);  // "hermes", "llama3", "mistral"

struct ToolCallFormat {
  ToolCallSyntax syntax = ToolCallSyntax::kHermes;
  // False when the template ignores `tools`: the caller then describes them in a system message
  // (tools_system_prompt) and the model is asked for the Hermes syntax.
  bool template_renders_tools = false;
};

// From the Jinja source of a model's chat template.
ToolCallFormat detect_tool_call_format(std::string_view chat_template_source);

// The conversation with hearth's description of `tools` (OpenAI's [{"type": "function", "function": {...}}])
// put into its system message (prepended to an existing one, or a new first message), for templates that do
// not render tools themselves.
nlohmann::ordered_json with_tools_system_prompt(const nlohmann::ordered_json& messages,
                                                const nlohmann::ordered_json& tools);

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // JSON text (compact), as OpenAI's function.arguments
};

struct ParsedToolOutput {
  std::string content;  // the text that is not a call (all of it when there are no calls)
  std::vector<ParsedToolCall> calls;
};

// A finished reply split into text and calls. When the calls are malformed (not JSON, no name) there are none
// and everything is content: a reply is never lost.
ParsedToolOutput parse_tool_calls(ToolCallSyntax syntax, std::string_view text);

// While a reply streams: how many bytes of `text` (the reply so far) are surely content, whatever follows.
// What is held back may still turn out to be the start of a call. For every text, streaming text[0, safe) as it
// grows and then parse_tool_calls(final).content... gives the same content as the whole reply parsed at once:
// the content before a call is the text before its marker without trailing whitespace.
size_t content_safe_prefix(ToolCallSyntax syntax, std::string_view text);

struct ToolFunction {
  std::string name;
  nlohmann::ordered_json parameters;  // a JSON schema of the arguments object; null: any object
};

// GBNF for a reply that is nothing but calls of the given functions in `syntax` (OpenAI's tool_choice
// "required", or one named function), arguments constrained by each function's parameters schema (string and
// array lengths bounded, so a small model cannot run on forever). `parallel`: up to 4 calls, else exactly one.
// Error (unsupported, naming the function) for a parameters schema outside the supported subset.
std::string tool_call_gbnf(ToolCallSyntax syntax, const std::vector<ToolFunction>& functions, bool parallel);

}  // namespace hearth
