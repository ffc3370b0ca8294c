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
#include "context/injection.h"
#include "context/open_index.h"
#include "runtime/chat_template.h"
#include "runtime/session.h"

namespace hearth::cli {
namespace {

struct Options : GenerationFlags {
  std::string system;
  std::string session;
  std::string context, data_dir;
  int context_k = 6, context_budget = 0;
  Options() { n = 512; }
};

// Retrieves for the conversation in `turn` and puts the excerpts into its system message; the sources cited.
std::vector<context::ContextSource> inject_context(context::ContextIndex& index, const Tokenizer& tokenizer,
                                                  const Options& o, int64_t n_ctx, nlohmann::ordered_json& turn) {
  std::vector<context::ChatTurn> conversation;
  for (const auto& m : turn) conversation.push_back({m.value("role", ""), m.value("content", "")});
  const std::string query = context::retrieval_query(conversation);
  if (query.empty()) return {};
  context::SearchOptions so;
  so.k = o.context_k;
  const context::SearchResult r = index.search(query, so);
  const int budget = o.context_budget > 0 ? o.context_budget : std::clamp(int(n_ctx / 4), 64, 2048);
  const context::Injection inj = context::build_injection(
      query, r.hits, [&](std::string_view t) { return int(tokenizer.encode(t, false).size()); }, budget);
  if (inj.block.empty()) return {};
  if (!turn.empty() && turn[0].value("role", "") == "system")
    turn[0]["content"] = context::system_with_context(turn[0].value("content", ""), inj);
  else turn.insert(turn.begin(), nlohmann::ordered_json{{"role", "system"}, {"content", inj.block}});
  return inj.sources;
}

int run_chat(const Options& o) {
  const GenerateOptions g = o.options();
  DecoderSession s = open_decoder(o.model, o.threads);
  const ChatTemplateSource src = chat_template_from_metadata(s.weights->metadata(), false, o.model);
  const ChatTemplate tmpl(src.source, src.bos_token, src.eos_token);
  auto cache = s.model->new_cache(o.cache_options(s.context_size(o.ctx)));
  Generator gen(*s.model, *s.tokenizer, *cache);
  const bool interactive = isatty(0);

  // With --context, each turn's prompt carries the index's best excerpts for it in its system message; the
  // conversation kept (and saved) is the user's own.
  std::unique_ptr<context::OpenIndex> index;
  if (!o.context.empty()) {
    context::OpenIndexOptions io;
    io.name = o.context;
    io.data_dir = o.data_dir;
    io.threads = o.threads;
    index = std::make_unique<context::OpenIndex>(io);
  }
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
    nlohmann::ordered_json turn = messages;
    std::vector<context::ContextSource> sources;
    if (index) sources = inject_context(index->index(), *s.tokenizer, o, cache->n_ctx(), turn);
    const std::string prompt = tmpl.render(turn, std::nullopt, /*add_generation_prompt=*/true);
    const std::vector<int32_t> ids = tokenize_chat_prompt(*s.tokenizer, prompt, src.bos_token);
    if (int64_t(ids.size()) >= cache->n_ctx())
      fail(ErrorKind::kResourceExhausted, "the conversation ({} tokens) no longer fits the context of {} (use --ctx)",
           ids.size(), cache->n_ctx());
    const GenerateResult r = gen.generate(ids, g, [](std::string_view text, std::span<const GeneratedToken>) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    fmt::print("\n");
    for (const context::ContextSource& src : sources)
      fmt::print("  [{}] {}:{}-{}\n", src.id, src.path, src.line_begin, src.line_end);
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
  app.add_option("--context", o->context, "answer with this index's best excerpts for each message (hearth index add)");
  app.add_option("--context-k", o->context_k, "excerpts per message")->capture_default_str()->check(CLI::Range(1, 50));
  app.add_option("--context-budget", o->context_budget, "tokens the excerpts may take (default: a quarter of the context)");
  app.add_option("--data-dir", o->data_dir, "folder of the indexes (default: $HEARTH_DATA_DIR, $XDG_DATA_HOME/hearth)");
  app.add_option("--session", o->session,
                 "file that keeps the conversation and its KV cache: resumed if it exists, saved after every turn");
  return [o] { return run_chat(*o); };
});

}  // namespace
}  // namespace hearth::cli
