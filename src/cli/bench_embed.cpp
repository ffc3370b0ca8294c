// hearth bench embed: throughput of a bulk embedding call and latency of single sentences, in-process.
//
// Throughput: the whole sentence file in one Embedder::embed call (batched as a real bulk request is),
// repeated until at least --seconds have passed, sentences/s and tokens/s over all passes.
// Latency: every sentence embedded alone (warm: after the throughput passes), p50/p95/p99 in ms, and the p50 of
// each sentence-length bucket (by token count), since a short query and a long paragraph differ several-fold.
// Tokenization is included in both, as a caller would see it. "cores busy" (CPU time / wall time of the
// throughput passes) shows when a shared machine gave the process less than its threads.
#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "cli/bench_util.h"
#include "cli/command.h"
#include "core/error.h"
#include "runtime/embedder.h"

namespace hearth::cli {
namespace {

struct BenchEmbedOptions {
  std::string model;
  std::string sentences;
  int threads = 0;
  double seconds = 3.0;
  int64_t batch_tokens = 0;
  bool json = false;
};

std::string default_sentences() {
  const std::filesystem::path p = std::filesystem::path(HEARTH_SOURCE_DIR) / ".." / "shared" / "bench" /
                                  "sentences256.txt";
  return std::filesystem::exists(p) ? p.lexically_normal().string() : std::string();
}

int run_bench_embed(const BenchEmbedOptions& o) {
  if (o.model.empty()) fail("no model given (use -m MODEL.gguf)");
  const std::string path = o.sentences.empty() ? default_sentences() : o.sentences;
  if (path.empty()) fail("no sentence file: give --sentences FILE (one sentence per line)");
  const std::vector<std::string> sentences = read_lines(path);

  std::shared_ptr<const Weights> weights = Weights::open(o.model);
  std::shared_ptr<Backend> backend = shared_backend("auto", o.threads);
  Embedder embedder(weights, *backend);
  EmbedderOptions opts;
  opts.batch_tokens = o.batch_tokens;

  // Warm-up: page in the weights, size the allocator's pools.
  embedder.embed({sentences.front()}, opts);

  int passes = 0;
  int64_t tokens_per_pass = 0;
  const double cpu_start = process_cpu_seconds();
  Stopwatch total;
  do {
    tokens_per_pass = embedder.embed(sentences, opts).total_tokens;
    ++passes;
  } while (total.seconds() < o.seconds || passes < 2);
  const double elapsed = total.seconds();
  const double cores_used = (process_cpu_seconds() - cpu_start) / elapsed;
  const double sentences_per_s = double(passes) * double(sentences.size()) / elapsed;
  const double tokens_per_s = double(passes) * double(tokens_per_pass) / elapsed;

  struct Bucket {
    const char* name;
    int64_t max_tokens;
    std::vector<double> ms;
  };
  std::vector<Bucket> buckets = {{"1-16", 16, {}}, {"17-32", 32, {}}, {"33+", INT64_MAX, {}}};
  std::vector<double> latencies;
  latencies.reserve(sentences.size());
  const double latency_cpu_start = process_cpu_seconds();
  for (const auto& s : sentences) {
    Stopwatch one;
    const int64_t tokens = embedder.embed({s}, opts).total_tokens;
    latencies.push_back(one.ms());
    for (Bucket& b : buckets)
      if (tokens <= b.max_tokens) {
        b.ms.push_back(latencies.back());
        break;
      }
  }
  // CPU time per sentence: on a shared machine the wall-clock percentiles include waits for a core; with
  // --threads 1 this is what the latency would be on an idle one.
  const double cpu_ms_per_sentence = (process_cpu_seconds() - latency_cpu_start) * 1e3 / double(sentences.size());
  const double p50 = percentile(latencies, 50), p95 = percentile(latencies, 95), p99 = percentile(latencies, 99);
  const double rss = peak_rss_mb();

  if (o.json) {
    nlohmann::json j = {{"sentences_per_s", sentences_per_s}, {"tokens_per_s", tokens_per_s}, {"p50_ms", p50},
                        {"p95_ms", p95},  {"p99_ms", p99},  {"peak_rss_mb", rss},
                        {"threads", backend->threads()}, {"cpu_cores_used", cores_used},
                        {"latency_cpu_ms_per_sentence", cpu_ms_per_sentence}};
    for (const Bucket& b : buckets)
      if (!b.ms.empty()) j["p50_ms_by_tokens"][b.name] = {{"p50_ms", percentile(b.ms, 50)}, {"sentences", b.ms.size()}};
    fmt::print("{}\n", j.dump());
    return 0;
  }
  const DeviceInfo& dev = backend->device();
  fmt::print("model:      {} (dim {}, max {} tokens)\n", o.model, embedder.dim(), embedder.model().max_tokens());
  fmt::print("backend:    {} {}, {} threads, kernels {}\n", dev.backend, dev.name, backend->threads(), dev.kernels);
  fmt::print("input:      {} ({} sentences, {} tokens)\n", path, sentences.size(), tokens_per_pass);
  fmt::print("throughput: {:.1f} sentences/s, {:.0f} tokens/s ({} passes in {:.2f} s, {:.2f} cores busy)\n",
             sentences_per_s, tokens_per_s, passes, elapsed, cores_used);
  fmt::print("latency:    one sentence at a time: p50 {:.2f} ms, p95 {:.2f} ms, p99 {:.2f} ms\n", p50, p95, p99);
  std::string by_length;
  for (const Bucket& b : buckets)
    if (!b.ms.empty())
      by_length += fmt::format("{}{} tokens: {:.2f} ms ({} sentences)", by_length.empty() ? "" : ", ", b.name,
                               percentile(b.ms, 50), b.ms.size());
  fmt::print("            CPU time {:.2f} ms per sentence (all threads)\n", cpu_ms_per_sentence);
  fmt::print("            p50 by length: {}\n", by_length);
  fmt::print("memory:     peak RSS {:.1f} MiB\n", rss);
  return 0;
}

CommandRegistration reg({"bench", "embed"}, "Benchmark embedding throughput and latency", [](CLI::App& app) {
  auto o = std::make_shared<BenchEmbedOptions>();
  app.add_option("-m,--model", o->model, "Encoder model (GGUF file or model folder)")->required();
  app.add_option("--sentences", o->sentences, "Sentences, one per line (default: ../shared/bench/sentences256.txt)");
  app.add_option("--threads", o->threads, "CPU threads (default: one per physical core)")->check(CLI::Range(0, 1024));
  app.add_option("--seconds", o->seconds, "Minimum time of the throughput measurement")->check(CLI::Range(0.0, 3600.0));
  app.add_option("--batch-tokens", o->batch_tokens, "Tokens per forward pass (default: the embedder's)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run_bench_embed(*o); };
});

}  // namespace
}  // namespace hearth::cli
