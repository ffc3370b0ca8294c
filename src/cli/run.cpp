// hearth run: complete prompts with a decoder model. One prompt streams its text to stdout as it is generated;
// several (-p repeated, or --prompts FILE) run together through the batching engine and print one JSON line
// each, in input order: {"index", "text", "tokens", "finish_reason"}.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>

#include "cli/command.h"
#include "cli/generation_flags.h"
#include "core/error.h"
#include "core/utf8.h"
#include "runtime/engine.h"
#include "runtime/session.h"
#include "runtime/speculative.h"

namespace hearth::cli {
namespace {

struct Options : GenerationFlags {
  std::vector<std::string> prompts;
  std::string prompts_file;
  int parallel = 0;
  std::string draft;
  int draft_max = 8;
  bool echo = false;
};

void print_stats(const GenerateResult& r) {
  fmt::print(stderr, "prompt: {} tokens in {:.3f} s ({:.1f} tokens/s); generated: {} tokens in {:.3f} s ({:.1f} tokens/s); {}\n",
             r.evaluated_prompt_tokens(), r.prompt_seconds, r.evaluated_prompt_tokens() / std::max(r.prompt_seconds, 1e-9),
             r.tokens.size(), r.generate_seconds, double(r.tokens.size()) / std::max(r.generate_seconds, 1e-9),
             to_string(r.finish_reason));
}

// One JSON string per line; blank lines are skipped. Error naming the line of anything else.
std::vector<std::string> read_prompts_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: cannot open", path);
  std::vector<std::string> prompts;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_string()) fail("{}:{}: not a JSON string (each line holds one prompt, e.g. \"Once upon a time\")", path, n);
    prompts.push_back(j.get<std::string>());
  }
  return prompts;
}

int run_one(const Options& o, const std::string& prompt) {
  const GenerateOptions g = o.options();
  DecoderSession s = open_decoder(o.model, o.threads);
  const std::vector<int32_t> ids = s.tokenizer->encode(prompt, /*add_special=*/true, /*parse_special=*/false);
  const int context = s.context_size(o.ctx);
  auto cache = s.model->new_cache(o.cache_options(context));
  if (o.echo) {
    fmt::print("{}", prompt);
    std::fflush(stdout);
  }
  auto print = [](std::string_view text, std::span<const GeneratedToken>) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  GenerateResult r;
  if (o.draft.empty()) {
    Generator gen(*s.model, *s.tokenizer, *cache);
    r = gen.generate(ids, g, print);
  } else {
    // The draft shares the target's backend threads; its tokenizer must be the target's vocabulary.
    DecoderSession d = open_decoder(o.draft, o.threads);
    if (d.tokenizer->n_vocab() != s.tokenizer->n_vocab())
      fail("{}: the draft's vocabulary ({} tokens) is not the model's ({})", o.draft, d.tokenizer->n_vocab(),
           s.tokenizer->n_vocab());
    SpeculativeGenerator gen(*s.model, *cache, *d.model, *s.tokenizer, o.draft_max);
    r = gen.generate(ids, g, print);
    if (o.stats)
      fmt::print(stderr, "draft: {} of {} guessed tokens accepted ({:.1f} %) in {} rounds\n", gen.stats().accepted,
                 gen.stats().drafted, 100.0 * gen.stats().acceptance_rate(), gen.stats().rounds);
  }
  fmt::print("\n");
  std::fflush(stdout);
  if (o.stats) print_stats(r);
  return 0;
}

// Prompt i gets seed S + i, so each line is what the same prompt gives alone with that seed.
int run_many(const Options& o, const std::vector<std::string>& prompts) {
  if (o.parallel < 0) fail("--parallel must be >= 0");
  const GenerateOptions base = o.options();
  DecoderSession s = open_decoder(o.model, o.threads);
  EngineOptions eo;
  eo.slots = o.parallel > 0 ? o.parallel : std::min<int>(int(prompts.size()), 16);
  eo.context = s.context_size(o.ctx);
  eo.cache_type = parse_cache_type(o.cache_type);
  eo.step_tokens = std::max(o.batch, eo.slots);
  eo.max_queued = int(prompts.size());
  std::optional<DecoderSession> draft;
  if (!o.draft.empty()) {
    draft = open_decoder(o.draft, o.threads);
    eo.draft = draft->model.get();
    eo.draft_max = o.draft_max;
  }
  Engine engine(*s.model, *s.tokenizer, eo);
  std::vector<std::shared_ptr<Job>> jobs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateOptions g = base;
    g.sampling.seed = base.sampling.seed + i;
    jobs.push_back(engine.submit({s.tokenizer->encode(prompts[i], true, false), g, Priority::kInteractive, {}}));
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    const GenerateResult r = jobs[i]->wait();
    const nlohmann::json line = {{"index", i}, {"text", r.text}, {"tokens", r.tokens},
                                 {"finish_reason", to_string(r.finish_reason)}};
    fmt::print("{}\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    std::fflush(stdout);
    if (o.stats) print_stats(r);
  }
  if (o.stats && draft) {
    const EngineStats st = engine.stats();
    fmt::print(stderr, "draft: {} of {} guessed tokens accepted ({:.1f} %)\n", st.accepted, st.drafted,
               st.drafted ? 100.0 * double(st.accepted) / double(st.drafted) : 0.0);
  }
  return 0;
}

int run_run(const Options& o) {
  std::vector<std::string> prompts = o.prompts;
  if (!o.prompts_file.empty()) {
    const std::vector<std::string> more = read_prompts_file(o.prompts_file);
    prompts.insert(prompts.end(), more.begin(), more.end());
  }
  if (prompts.empty()) prompts.push_back("");  // BOS only: the model's own start
  for (size_t i = 0; i < prompts.size(); ++i)
    if (!utf8_valid(prompts[i])) fail("prompt {} is not valid UTF-8", i + 1);
  if (prompts.size() == 1 && o.prompts_file.empty()) return run_one(o, prompts[0]);
  if (o.echo) fail("--echo applies to a single prompt");
  return run_many(o, prompts);
}

CommandRegistration reg({"run"}, "Generate text from prompts with a decoder model", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  o->add_to(app);
  app.add_option("-p,--prompt", o->prompts,
                 "prompt text (BOS added as the vocabulary says); repeat for several prompts, run together");
  app.add_option("--prompts", o->prompts_file, "file of prompts, one JSON string per line, run together");
  app.add_option("--parallel", o->parallel, "sequences run at once with several prompts (default: up to 16)");
  app.add_flag("--echo", o->echo, "print the prompt before the generated text");
  app.add_option("--draft", o->draft, "draft model (same vocabulary) for speculative decoding: same output, faster");
  app.add_option("--draft-max", o->draft_max, "tokens the draft guesses per round")->capture_default_str();
  return [o] { return run_run(*o); };
});

}  // namespace
}  // namespace hearth::cli
