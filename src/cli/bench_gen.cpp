// hearth bench gen: decoder speed the way llama-bench measures it, so the figures compare with its
// pp512 / tg128: pp = one forward pass over a batch of P prompt tokens (logits for the last only),
// tg = N single-token decodes from an empty cache. Random token ids; a warm-up pass of each first. With --draft,
// speculative generation of N tokens from BOS and the share of the draft's guesses the model kept. With
// --json-schema or --grammar, generation of N tokens from BOS (seeded sampling at temperature 1) without and
// with the constraint, so the difference is the cost of masking the logits (docs/structured_output.md).
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <random>

#include "cli/bench_util.h"
#include "cli/command.h"
#include "cli/generation_flags.h"
#include "core/error.h"
#include "runtime/generator.h"
#include "runtime/session.h"
#include "runtime/speculative.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model;
  int p = 512, n = 128, threads = 0, reps = 3;
  std::string draft;
  int draft_max = 8;
  bool json = false;
  std::string grammar_file, json_schema_file;
};

struct SpeculativeMeasurement {
  double tokens_per_s = 0, acceptance_rate = 0;
};

// n tokens from the model's start (BOS), greedy, with the draft guessing: generation speed and how many guesses
// the target kept. (Random prompt tokens would make any draft's guesses meaningless.)
SpeculativeMeasurement measure_speculative(const DecoderSession& s, const Options& o) {
  DecoderSession d = open_decoder(o.draft, o.threads);
  std::vector<int32_t> prompt = s.tokenizer->encode("", true, false);
  if (prompt.empty()) prompt = {0};  // a vocabulary without BOS: start from token 0
  const int context = int(prompt.size()) + o.n + 1;
  auto tc = s.model->new_cache(context);
  SpeculativeGenerator gen(*s.model, *tc, *d.model, *s.tokenizer, o.draft_max);
  GenerateOptions g;
  g.max_tokens = o.n;
  g.stop_at_eog = false;
  (void)gen.generate(prompt, g);  // warm-up
  const GenerateResult r = gen.generate(prompt, g);
  return {double(r.tokens.size()) / std::max(r.generate_seconds + r.prompt_seconds, 1e-9), gen.stats().acceptance_rate()};
}

struct ConstrainedMeasurement {
  double plain_tokens_per_s = 0, constrained_tokens_per_s = 0;
  double constrained_tokens = 0;  // generated per run (the grammar may end a run before n)
};

// Decoding speed through a Sequence (sampling included) without and with the grammar: the two alternate, so
// a change in the machine's load hits both alike, and each keeps its best of the reps. Tokens per second count
// the tokens after the first (the first one's time is the prompt's).
ConstrainedMeasurement measure_constrained(const DecoderSession& s, const Options& o) {
  const auto grammar = load_grammar(o.grammar_file, o.json_schema_file, false);
  std::vector<int32_t> prompt = s.tokenizer->encode("", true, false);
  if (prompt.empty()) prompt = {0};
  auto cache = s.model->new_cache(int(prompt.size()) + o.n + 1);
  Generator gen(*s.model, *s.tokenizer, *cache);
  auto run = [&](const std::shared_ptr<const grammar::Grammar>& g) {
    GenerateOptions opt;
    opt.max_tokens = o.n;
    opt.stop_at_eog = false;
    opt.sampling = SamplerOptions{};
    opt.sampling.temperature = 1.0f;
    opt.sampling.seed = 7;
    opt.grammar = g;
    gen.reset();
    return gen.generate(prompt, opt);
  };
  auto speed = [](const GenerateResult& r) {
    return r.tokens.size() > 1 ? double(r.tokens.size() - 1) / r.generate_seconds : 0.0;
  };
  ConstrainedMeasurement m;
  (void)run(nullptr);  // warm-up
  (void)run(grammar);
  for (int r = 0; r < o.reps; ++r) {
    m.plain_tokens_per_s = std::max(m.plain_tokens_per_s, speed(run(nullptr)));
    const GenerateResult c = run(grammar);
    m.constrained_tokens = double(c.tokens.size());
    m.constrained_tokens_per_s = std::max(m.constrained_tokens_per_s, speed(c));
  }
  return m;
}

int run_bench_gen(const Options& o) {
  if (o.p < 1 || o.n < 1 || o.reps < 1) fail("-p, -n and --reps must be positive");
  DecoderSession s = open_decoder(o.model, o.threads);
  const DecoderModel& model = *s.model;
  const int n_vocab = model.hparams().n_vocab;
  auto cache = model.new_cache(std::max(o.p, o.n) + 1, 1);
  std::mt19937_64 rng(42);
  std::vector<int32_t> tokens(size_t(std::max(o.p, o.n)));
  for (auto& t : tokens) t = int32_t(rng() % uint64_t(n_vocab));

  auto pp = [&] {
    cache->clear(0);
    return prefill(model, *cache, 0, std::span<const int32_t>(tokens.data(), size_t(o.p)), 0, o.p);
  };
  auto tg = [&](int count) {
    cache->clear(0);
    for (int i = 0; i < count; ++i) {
      DecoderInput in;
      in.tokens = std::span<const int32_t>(&tokens[size_t(i)], 1);
      in.start = i;
      (void)model.forward(std::span<const DecoderInput>(&in, 1), *cache);
    }
  };
  pp();  // warm-up: page in the weights, size the workspace
  tg(1);
  double pp_s = 0, tg_s = 0;
  for (int r = 0; r < o.reps; ++r) {
    Stopwatch w;
    pp();
    pp_s += w.seconds();
    w.restart();
    tg(o.n);
    tg_s += w.seconds();
  }
  const double pp_tps = double(o.p) * o.reps / pp_s, tg_tps = double(o.n) * o.reps / tg_s;
  SpeculativeMeasurement spec;
  if (!o.draft.empty()) spec = measure_speculative(s, o);
  const bool constrained = !o.grammar_file.empty() || !o.json_schema_file.empty();
  ConstrainedMeasurement cm;
  if (constrained) cm = measure_constrained(s, o);
  if (constrained && cm.constrained_tokens < 2)
    fail("the grammar ended generation after {} token(s): nothing to time (give it a schema with longer output)",
         cm.constrained_tokens);
  const double cost = constrained ? 100.0 * (1.0 - cm.constrained_tokens_per_s / cm.plain_tokens_per_s) : 0.0;
  const double rss = peak_rss_mb();
  if (o.json) {
    nlohmann::json j = {{"pp_tokens_per_s", pp_tps}, {"tg_tokens_per_s", tg_tps}, {"peak_rss_mb", rss},
                        {"n_prompt", o.p},           {"n_gen", o.n},            {"threads", s.backend->threads()},
                        {"reps", o.reps}};
    if (!o.draft.empty()) {
      j["speculative_tg_tokens_per_s"] = spec.tokens_per_s;
      j["acceptance_rate"] = spec.acceptance_rate;
    }
    if (constrained) {
      j["sampled_tg_tokens_per_s"] = cm.plain_tokens_per_s;
      j["constrained_tg_tokens_per_s"] = cm.constrained_tokens_per_s;
      j["constrained_tokens"] = cm.constrained_tokens;
      j["constraint_cost_percent"] = cost;
    }
    fmt::print("{}\n", j.dump());
    return 0;
  }
  const DeviceInfo& dev = s.backend->device();
  const DecoderHParams& hp = model.hparams();
  fmt::print("model:   {} ({}, {} layers, hidden {}, {} heads / {} KV heads, vocab {})\n", o.model, hp.arch,
             hp.n_layer, hp.n_embd, hp.n_head, hp.n_head_kv, hp.n_vocab);
  fmt::print("backend: {} {}, {} threads, kernels {}\n", dev.backend, dev.name, s.backend->threads(), dev.kernels);
  fmt::print("pp{}:   {:.1f} tokens/s\n", o.p, pp_tps);
  fmt::print("tg{}:   {:.1f} tokens/s\n", o.n, tg_tps);
  if (!o.draft.empty())
    fmt::print("tg{} with draft {} (up to {} guesses): {:.1f} tokens/s, {:.1f} % of guesses accepted\n", o.n, o.draft,
               o.draft_max, spec.tokens_per_s, 100.0 * spec.acceptance_rate);
  if (constrained)
    fmt::print("tg{} sampled: {:.1f} tokens/s; under {}: {:.1f} tokens/s ({:.0f} tokens a run), masking costs {:.1f} %\n",
               o.n, cm.plain_tokens_per_s, o.grammar_file.empty() ? o.json_schema_file : o.grammar_file,
               cm.constrained_tokens_per_s, cm.constrained_tokens, cost);
  fmt::print("memory:  peak RSS {:.1f} MiB\n", rss);
  return 0;
}

CommandRegistration reg({"bench", "gen"}, "Benchmark prompt processing and generation speed (like llama-bench)",
                        [](CLI::App& app) {
                          auto o = std::make_shared<Options>();
                          app.add_option("-m,--model", o->model, "model file (GGUF) or Hugging Face folder")
                              ->required();
                          app.add_option("-p,--n-prompt", o->p, "prompt tokens in the pp batch")->capture_default_str();
                          app.add_option("-n,--n-gen", o->n, "tokens generated one at a time")->capture_default_str();
                          app.add_option("-t,--threads", o->threads, "threads (0 = one per physical core)");
                          app.add_option("-r,--reps", o->reps, "repetitions (averaged)")->capture_default_str();
                          app.add_option("--draft", o->draft,
                                         "draft model: also measure speculative generation and its acceptance rate");
                          app.add_option("--draft-max", o->draft_max, "tokens the draft guesses per round")
                              ->capture_default_str();
                          app.add_flag("--json", o->json, "print one JSON object");
                          app.add_option("--json-schema", o->json_schema_file,
                                         "also measure sampled generation with and without this JSON schema's grammar");
                          app.add_option("--grammar", o->grammar_file,
                                         "also measure sampled generation with and without this GBNF grammar");
                          return [o] { return run_bench_gen(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
