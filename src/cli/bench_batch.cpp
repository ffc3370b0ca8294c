// hearth bench batch: aggregate throughput of many sequences at once through the batching engine, measured the
// way llama.cpp's llama-batched-bench does (-npp P -ntg N -npl 1,4,8,16): for each count of parallel sequences,
// every sequence gets its own P random prompt tokens, all prompts run in one step (pp), then N decode steps
// each run one token of every sequence (tg). pp tokens/s = count·P / pp time; tg tokens/s = count·N / tg time.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>

#include "cli/bench_util.h"
#include "cli/command.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model;
  std::vector<int> parallel{1, 4, 8, 16};
  int p = 128, n = 128, threads = 0;
  std::string cache_type = "f16";
  bool json = false;
};

struct Measurement {
  int parallel;
  double pp_tokens_per_s, tg_tokens_per_s, seconds;
};

Measurement measure(const DecoderSession& s, int parallel, int p, int n, DType cache_type, uint64_t seed) {
  EngineOptions eo;
  eo.cache_type = cache_type;
  eo.slots = parallel;
  eo.context = p + n + 1;
  eo.step_tokens = std::max(parallel * p, parallel);  // all prompts in one step, as llama-batched-bench
  eo.max_queued = parallel;
  Engine engine(*s.model, *s.tokenizer, eo);
  std::mt19937_64 rng(seed);
  GenerateOptions g;
  g.max_tokens = n + 1;  // the first token comes from the prompt step; n decode steps follow
  g.stop_at_eog = false;
  std::vector<std::shared_ptr<Job>> jobs;
  Stopwatch wall;
  for (int i = 0; i < parallel; ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(p));
    for (auto& t : prompt) t = int32_t(rng() % uint64_t(s.model->hparams().n_vocab));
    jobs.push_back(engine.submit({std::move(prompt), g, Priority::kInteractive, {}}));
  }
  double pp_seconds = 0;
  for (const auto& job : jobs) pp_seconds = std::max(pp_seconds, job->wait().prompt_seconds);
  const double total = wall.seconds();
  const double tg_seconds = std::max(total - pp_seconds, 1e-9);
  return {parallel, double(parallel) * p / std::max(pp_seconds, 1e-9), double(parallel) * n / tg_seconds, total};
}

int run_bench_batch(const Options& o) {
  if (o.p < 1 || o.n < 1) fail("-p and -n must be positive");
  for (int count : o.parallel)
    if (count < 1 || count > 4096) fail("--parallel counts must be in 1..4096, not {}", count);
  const DType cache_type = parse_cache_type(o.cache_type);
  DecoderSession s = open_decoder(o.model, o.threads);
  (void)measure(s, 1, std::min(o.p, 16), 2, cache_type, 1);  // warm-up: page in the weights, size the workspaces
  std::vector<Measurement> results;
  for (int count : o.parallel) results.push_back(measure(s, count, o.p, o.n, cache_type, 42 + uint64_t(count)));
  if (o.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const Measurement& m : results)
      list.push_back({{"parallel", m.parallel}, {"pp_tokens_per_s", m.pp_tokens_per_s},
                      {"tg_tokens_per_s", m.tg_tokens_per_s}, {"n_prompt", o.p}, {"n_gen", o.n},
                      {"threads", s.backend->threads()}, {"cache_type", o.cache_type}});
    fmt::print("{}\n", list.dump());
    return 0;
  }
  const DeviceInfo& dev = s.backend->device();
  fmt::print("model:   {}\nbackend: {} {}, {} threads, kernels {}\n", o.model, dev.backend, dev.name,
             s.backend->threads(), dev.kernels);
  fmt::print("{:>8} {:>6} {:>6} {:>14} {:>14}\n", "parallel", "pp", "tg", "pp tokens/s", "tg tokens/s");
  for (const Measurement& m : results)
    fmt::print("{:>8} {:>6} {:>6} {:>14.1f} {:>14.1f}\n", m.parallel, o.p, o.n, m.pp_tokens_per_s, m.tg_tokens_per_s);
  return 0;
}

CommandRegistration reg({"bench", "batch"},
                        "Benchmark many sequences at once through the batching engine (like llama-batched-bench)",
                        [](CLI::App& app) {
                          auto o = std::make_shared<Options>();
                          app.add_option("-m,--model", o->model, "model file (GGUF) or Hugging Face folder")
                              ->required();
                          app.add_option("--parallel", o->parallel, "counts of parallel sequences, e.g. 1,4,8,16")
                              ->delimiter(',')
                              ->capture_default_str();
                          app.add_option("-p,--n-prompt", o->p, "prompt tokens per sequence")->capture_default_str();
                          app.add_option("-n,--n-gen", o->n, "tokens generated per sequence")->capture_default_str();
                          app.add_option("-t,--threads", o->threads, "threads (0 = one per physical core)");
                          app.add_option("--cache-type", o->cache_type, "KV cache storage: f16 or q8_0")
                              ->capture_default_str();
                          app.add_flag("--json", o->json, "print a JSON list, one object per count");
                          return [o] { return run_bench_batch(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
