// hearth chat: a conversation with a decoder model. Each stdin line is a user message; the whole conversation
// is rendered with the model's chat template every turn and only the new part runs through the model (the
// KV cache keeps the common prefix). Works interactively and with stdin as a pipe.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/generation_flags.h"
#include "core/error.h"
#include "core/utf8.h"
#include "runtime/chat_template.h"
#include "runtime/session.h"

namespace hearth::cli {
namespace {

struct Options : GenerationFlags {
  std::string system;
  std::string session;
  Options() { n = 512; }
};

int run_chat(const Options& o) {
  const GenerateOptions g = o.options();
  DecoderSession s = open_decoder(o.model, o.threads);
  const ChatTemplateSource src = chat_template_from_metadata(s.weights->metadata(), false, o.model);
  const ChatTemplate tmpl(src.source, src.bos_token, src.eos_token);
  auto cache = s.model->new_cache(o.cache_options(s.context_size(o.ctx)));
  Generator gen(*s.model, *s.tokenizer, *cache);
  const bool interactive = isatty(0);

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  const uint64_t fingerprint = s.weights->fingerprint();
  // A saved session resumes the conversation: its messages, and its KV cache, so nothing already said runs again.
  if (!o.session.empty() && std::filesystem::exists(o.session)) {
    SavedSequence saved = load_sequence(*cache, 0, fingerprint, o.session);
    messages = nlohmann::ordered_json::parse(saved.note, nullptr, /*allow_exceptions=*/false);
    if (!messages.is_array()) fail(ErrorKind::kCorruptData, "{}: the saved conversation is not a message list", o.session);
    gen.adopt(std::move(saved.tokens));
    if (interactive) fmt::print("(resumed {} messages from {})\n", messages.size(), o.session);
  } else if (!o.system.empty()) {
    messages.push_back({{"role", "system"}, {"content", o.system}});
  }
  std::string line;
  for (;;) {
    if (interactive) {
      fmt::print("> ");
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (!utf8_valid(line)) fail("input is not valid UTF-8");
    messages.push_back({{"role", "user"}, {"content", line}});
    const std::string prompt = tmpl.render(messages, std::nullopt, /*add_generation_prompt=*/true);
    const std::vector<int32_t> ids = tokenize_chat_prompt(*s.tokenizer, prompt, src.bos_token);
    if (int64_t(ids.size()) >= cache->n_ctx())
      fail(ErrorKind::kResourceExhausted, "the conversation ({} tokens) no longer fits the context of {} (use --ctx)",
           ids.size(), cache->n_ctx());
    const GenerateResult r = gen.generate(ids, g, [](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    fmt::print("\n");
    std::fflush(stdout);
    if (o.stats)
      fmt::print(stderr, "[{} prompt tokens ({} new) in {:.2f} s, {} generated in {:.2f} s, {}]\n", r.usage.prompt_tokens,
                 r.evaluated_prompt_tokens(), r.prompt_seconds, r.tokens.size(), r.generate_seconds, to_string(r.finish_reason));
    messages.push_back({{"role", "assistant"}, {"content", r.text}});
    if (!o.session.empty()) save_sequence(*cache, 0, gen.tokens(), fingerprint, messages.dump(), o.session);
  }
  return 0;
}

CommandRegistration reg({"chat"}, "Chat with a decoder model (one user message per stdin line)", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  o->add_to(app);
  app.add_option("-s,--system", o->system, "system message");
  app.add_option("--session", o->session,
                 "file that keeps the conversation and its KV cache: resumed if it exists, saved after every turn");
  return [o] { return run_chat(*o); };
});

}  // namespace
}  // namespace hearth::cli
