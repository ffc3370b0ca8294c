// hearth bench prefix: what prefix reuse saves. Request A has a prefix of P tokens and its own suffix; request B,
// sent after A ended, has the same prefix and another suffix. B's prompt runs only its suffix and the prefix's last
// partial block (the engine's cache still holds A's whole prefix blocks), so its first token comes sooner: the report gives both times to first token and
// their ratio.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>

#include "cli/command.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model;
  int prefix = 1000, suffix = 16, threads = 0;
  bool json = false;
};

int run_bench_prefix(const Options& o) {
  if (o.prefix < 1 || o.suffix < 1) fail("--prefix and --suffix must be positive");
  DecoderSession s = open_decoder(o.model, o.threads);
  EngineOptions eo;
  eo.slots = 1;
  eo.context = o.prefix + o.suffix + 8;
  eo.cache_positions = eo.context;  // room for one request: the different one in between evicts the warm-up's blocks
  Engine engine(*s.model, *s.tokenizer, eo);
  std::mt19937_64 rng(7);
  auto random_tokens = [&](int n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& id : t) id = int32_t(rng() % uint64_t(s.model->hparams().n_vocab));
    return t;
  };
  const std::vector<int32_t> prefix = random_tokens(o.prefix);
  GenerateOptions g;
  g.max_tokens = 1;
  g.stop_at_eog = false;
  auto first_token_seconds = [&](const std::vector<int32_t>& suffix, int* cached) {
    std::vector<int32_t> prompt = prefix;
    prompt.insert(prompt.end(), suffix.begin(), suffix.end());
    const GenerateResult r = engine.submit({prompt, g, Priority::kInteractive, {}})->wait();
    *cached = r.usage.cached_prompt_tokens;
    return r.prompt_seconds;
  };
  int cached_warm = 0, cached_a = 0, cached_b = 0;
  (void)first_token_seconds(random_tokens(o.suffix), &cached_warm);  // warm-up, then a different prefix clears it
  const std::vector<int32_t> other = random_tokens(o.prefix + o.suffix);
  (void)engine.submit({other, g, Priority::kInteractive, {}})->wait();
  const double a = first_token_seconds(random_tokens(o.suffix), &cached_a);
  const double b = first_token_seconds(random_tokens(o.suffix), &cached_b);
  if (o.json) {
    fmt::print("{}\n", nlohmann::json{{"prefix", o.prefix}, {"suffix", o.suffix}, {"first_seconds", a},
                                      {"second_seconds", b}, {"speedup", a / std::max(b, 1e-9)},
                                      {"second_cached_tokens", cached_b}, {"threads", s.backend->threads()}}
                           .dump());
    return 0;
  }
  fmt::print("first request:  {:.4f} s to the first token ({} prompt tokens cached)\n", a, cached_a);
  fmt::print("second request: {:.4f} s to the first token ({} prompt tokens cached)\n", b, cached_b);
  fmt::print("speed-up:       {:.1f}x\n", a / std::max(b, 1e-9));
  return 0;
}

CommandRegistration reg({"bench", "prefix"}, "Benchmark prefix reuse: time to first token with and without a cached prefix",
                        [](CLI::App& app) {
                          auto o = std::make_shared<Options>();
                          app.add_option("-m,--model", o->model, "model file (GGUF) or Hugging Face folder")
                              ->required();
                          app.add_option("--prefix", o->prefix, "shared prefix tokens")->capture_default_str();
                          app.add_option("--suffix", o->suffix, "tokens after the prefix, different per request")
                              ->capture_default_str();
                          app.add_option("-t,--threads", o->threads, "threads (0 = one per physical core)");
                          app.add_flag("--json", o->json, "print one JSON object");
                          return [o] { return run_bench_prefix(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
