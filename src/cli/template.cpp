// hearth template: render a conversation with a model's chat template, printing the prompt exactly.
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "core/error.h"
#include "runtime/chat_template.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model;
  std::string messages;
  std::string tools;
  bool add_generation_prompt = false;
  std::vector<std::string> vars;
};

nlohmann::ordered_json read_json(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(errno_kind(errno), "{}: cannot open", path);
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", path, e.what());
  }
}

int run(const Options& o) {
  nlohmann::ordered_json messages = read_json(o.messages);
  std::optional<nlohmann::ordered_json> tools;
  // An OpenAI-style request body ({"messages": [...], "tools": [...]}) works as well as a bare list.
  if (messages.is_object() && messages.contains("messages")) {
    if (messages.contains("tools") && !messages["tools"].is_null()) tools = messages["tools"];
    nlohmann::ordered_json list = messages["messages"];
    messages = std::move(list);
  }
  if (!messages.is_array()) fail("{}: expected a JSON array of messages", o.messages);
  if (!o.tools.empty()) {
    tools = read_json(o.tools);
    if (!tools->is_array()) fail("{}: expected a JSON array of tools", o.tools);
  }
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  for (const std::string& kv : o.vars) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) fail("--var '{}': expected NAME=JSON", kv);
    try {
      extra[kv.substr(0, eq)] = nlohmann::ordered_json::parse(kv.substr(eq + 1));
    } catch (const nlohmann::json::exception&) {
      extra[kv.substr(0, eq)] = kv.substr(eq + 1);  // a bare word is a string
    }
  }
  const ChatTemplateSource src = load_chat_template(o.model, tools.has_value());
  const std::string prompt =
      render_chat(src.source, messages, tools, o.add_generation_prompt, src.bos_token, src.eos_token, extra);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  return 0;
}

CommandRegistration reg({"template"}, "Render a conversation with a model's chat template", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("-m,--model", o->model, "GGUF file, tokenizer_config.json, or a folder holding one")->required();
  app.add_option("--messages", o->messages, "JSON file: a list of messages, or {\"messages\": [...], \"tools\": [...]}")
      ->required();
  app.add_option("--tools", o->tools, "JSON file: a list of tool definitions");
  app.add_flag("--add-generation-prompt", o->add_generation_prompt, "End with the assistant turn's opening");
  app.add_option("--var", o->vars, "Extra template variable NAME=JSON (e.g. enable_thinking=false); repeatable");
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace hearth::cli
