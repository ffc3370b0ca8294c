// Chat templates: turning a conversation (OpenAI-style messages) into the prompt text a decoder model was
// trained on, by rendering the model's own Jinja template exactly as transformers.js (@huggingface/jinja) does.
//
//   ChatTemplateSource src = load_chat_template("model.gguf");       // or a folder with tokenizer_config.json
//   std::string prompt = render_chat(src.source, messages, std::nullopt, /*add_generation_prompt=*/true,
//                                    src.bos_token, src.eos_token);
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace hearth {

class Metadata;
namespace jinja {
class Template;
}

// The template used when a model carries none (ChatML, as transformers' former default).
extern const char* const kChatMLTemplate;

// Renders `template_src` with the variables transformers passes: messages, tools (only when given),
// add_generation_prompt, bos_token, eos_token, then every key of `extra` (e.g. enable_thinking).
// Errors (hearth::Error) name the template line: a syntax error, raise_exception(...) from the template, ...
std::string render_chat(const std::string& template_src, const nlohmann::ordered_json& messages,
                        const std::optional<nlohmann::ordered_json>& tools, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token,
                        const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

// A template parsed once, for rendering many conversations (thread-safe).
class ChatTemplate {
 public:
  explicit ChatTemplate(const std::string& source, std::string bos_token = "", std::string eos_token = "");
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  std::string render(const nlohmann::ordered_json& messages, const std::optional<nlohmann::ordered_json>& tools,
                     bool add_generation_prompt,
                     const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;

 private:
  std::unique_ptr<jinja::Template> template_;
  std::string bos_token_, eos_token_;
};

struct ChatTemplateSource {
  std::string source;                 // the Jinja text (kChatMLTemplate when the model has none)
  std::string bos_token, eos_token;   // token texts ("" when the model has none)
  bool fallback = false;              // true when `source` is the ChatML fallback
};

// From GGUF-style metadata: tokenizer.chat_template (tokenizer.chat_template.tool_use when `tool_use` and
// present), bos/eos texts from tokenizer.ggml.tokens[tokenizer.ggml.{bos,eos}_token_id].
// Falls back to ChatML with a warning (naming `origin`) when there is no template.
ChatTemplateSource chat_template_from_metadata(const Metadata& metadata, bool tool_use = false,
                                               const std::string& origin = "model");

// From a Hugging Face tokenizer_config.json (its text): chat_template may be a string or a list of
// {name, template} (then "tool_use" when `tool_use` and present, else "default"); bos_token/eos_token may be
// strings or {"content": ...} objects. `origin` names the file in errors.
ChatTemplateSource chat_template_from_tokenizer_config(const std::string& json_text, const std::string& origin,
                                                       bool tool_use = false);

// The ids of a rendered chat prompt, as `hearth chat` and the server feed it: special tokens written by the
// template are parsed, and the tokenizer adds its BOS only when the template did not already write the BOS text
// (a second BOS would change what the model sees).
std::vector<int32_t> tokenize_chat_prompt(const Tokenizer& tokenizer, const std::string& prompt,
                                          const std::string& bos_token);

// `path`: a GGUF file, a tokenizer_config.json, or a folder holding one (a model folder without one is opened
// with Weights::open and read like a GGUF).
ChatTemplateSource load_chat_template(const std::string& path, bool tool_use = false);

}  // namespace hearth
