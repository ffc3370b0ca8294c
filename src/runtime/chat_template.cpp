#include "runtime/chat_template.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "formats/metadata.h"
#include "formats/weights.h"
#include "jinja/template.h"

namespace hearth {

const char* const kChatMLTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

namespace {

nlohmann::ordered_json make_context(const nlohmann::ordered_json& messages,
                                    const std::optional<nlohmann::ordered_json>& tools, bool add_generation_prompt,
                                    const std::string& bos_token, const std::string& eos_token,
                                    const nlohmann::ordered_json& extra) {
  if (!messages.is_array()) fail("chat messages must be a JSON array");
  if (tools && !tools->is_array() && !tools->is_null()) fail("chat tools must be a JSON array");
  if (!extra.is_object() && !extra.is_null()) fail("extra chat template variables must be a JSON object");
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = messages;
  if (tools) ctx["tools"] = *tools;
  ctx["add_generation_prompt"] = add_generation_prompt;
  ctx["bos_token"] = bos_token;
  ctx["eos_token"] = eos_token;
  if (extra.is_object())
    for (const auto& [k, v] : extra.items()) ctx[k] = v;
  return ctx;
}

}  // namespace

std::string render_chat(const std::string& template_src, const nlohmann::ordered_json& messages,
                        const std::optional<nlohmann::ordered_json>& tools, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token,
                        const nlohmann::ordered_json& extra) {
  return ChatTemplate(template_src, bos_token, eos_token).render(messages, tools, add_generation_prompt, extra);
}

ChatTemplate::ChatTemplate(const std::string& source, std::string bos_token, std::string eos_token)
    : template_(std::make_unique<jinja::Template>(source)),
      bos_token_(std::move(bos_token)),
      eos_token_(std::move(eos_token)) {}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::ordered_json& messages,
                                 const std::optional<nlohmann::ordered_json>& tools, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra) const {
  return template_->render(make_context(messages, tools, add_generation_prompt, bos_token_, eos_token_, extra));
}

namespace {

ChatTemplateSource with_fallback(ChatTemplateSource s, const std::string& origin) {
  if (s.source.empty()) {
    log::warn("{}: no chat template; using ChatML", origin);
    s.source = kChatMLTemplate;
    s.fallback = true;
  }
  return s;
}

std::string token_text(const Metadata& m, const char* id_key) {
  const auto id = m.find_int(id_key);
  const std::vector<std::string>* tokens = m.find_strings("tokenizer.ggml.tokens");
  if (!id || !tokens || *id < 0 || static_cast<size_t>(*id) >= tokens->size()) return std::string();
  return (*tokens)[static_cast<size_t>(*id)];
}

}  // namespace

ChatTemplateSource chat_template_from_metadata(const Metadata& metadata, bool tool_use, const std::string& origin) {
  ChatTemplateSource s;
  if (tool_use) s.source = metadata.find_string("tokenizer.chat_template.tool_use").value_or("");
  if (s.source.empty()) s.source = metadata.find_string("tokenizer.chat_template").value_or("");
  s.bos_token = token_text(metadata, "tokenizer.ggml.bos_token_id");
  s.eos_token = token_text(metadata, "tokenizer.ggml.eos_token_id");
  return with_fallback(std::move(s), origin);
}

ChatTemplateSource chat_template_from_tokenizer_config(const std::string& json_text, const std::string& origin,
                                                       bool tool_use) {
  nlohmann::ordered_json config;
  try {
    config = nlohmann::ordered_json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kCorruptData, "{}: invalid JSON: {}", origin, e.what());
  }
  if (!config.is_object()) fail(ErrorKind::kCorruptData, "{}: expected a JSON object", origin);
  auto token = [&](const char* key) -> std::string {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return std::string();
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
      return (*it)["content"].get<std::string>();
    fail(ErrorKind::kCorruptData, "{}: {} must be a string or an object with a string 'content'", origin, key);
  };
  ChatTemplateSource s;
  s.bos_token = token("bos_token");
  s.eos_token = token("eos_token");
  auto it = config.find("chat_template");
  if (it != config.end() && !it->is_null()) {
    if (it->is_string()) {
      s.source = it->get<std::string>();
    } else if (it->is_array()) {
      std::string fallback;
      for (const auto& entry : *it) {
        if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
            !entry["name"].is_string() || !entry["template"].is_string())
          fail(ErrorKind::kCorruptData, "{}: chat_template list entries must be {{\"name\": ..., \"template\": ...}}",
               origin);
        const std::string name = entry["name"].get<std::string>();
        if (name == "default") fallback = entry["template"].get<std::string>();
        if (tool_use && name == "tool_use") s.source = entry["template"].get<std::string>();
      }
      if (s.source.empty()) s.source = fallback;
    } else {
      fail(ErrorKind::kCorruptData, "{}: chat_template must be a string or a list of named templates", origin);
    }
  }
  return with_fallback(std::move(s), origin);
}

ChatTemplateSource load_chat_template(const std::string& path, bool tool_use) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path config_path;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "tokenizer_config.json", ec)) config_path = fs::path(path) / "tokenizer_config.json";
  } else if (fs::path(path).extension() == ".json") {
    config_path = path;
  }
  if (!config_path.empty()) {
    std::ifstream f(config_path, std::ios::binary);
    if (!f) fail(errno_kind(errno), "{}: cannot open", config_path.string());
    std::stringstream ss;
    ss << f.rdbuf();
    return chat_template_from_tokenizer_config(ss.str(), config_path.string(), tool_use);
  }
  const auto weights = Weights::open(path);
  return chat_template_from_metadata(weights->metadata(), tool_use, path);
}

std::vector<int32_t> tokenize_chat_prompt(const Tokenizer& tokenizer, const std::string& prompt,
                                          const std::string& bos_token) {
  const bool has_bos = !bos_token.empty() && prompt.rfind(bos_token, 0) == 0;
  return tokenizer.encode(prompt, /*add_special=*/!has_bos, /*parse_special=*/true);
}

}  // namespace hearth
