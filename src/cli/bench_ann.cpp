// hearth bench ann: the context engine's vector index (context/vector_index.h, HNSW) against exact search.
//
// Vectors: generated chunk-sized passages (bench_corpus.h) embedded by the model (USE lite by default), in bulk.
// With --real R < --chunks, only R are embedded and the rest are made from them (each a random blend of two
// real vectors plus a little noise, renormalized), for sizes whose embedding would take too long; the output
// says how many were real. Queries, embedded the same way, in two halves measured apart: held-out passages (new
// passages from the same generator, not in the index: the usual ANN methodology, queries from the data's own
// distribution) and short keyword queries (2-6 words: what a user types, farther from every passage, where the
// best matches are least distinct and an approximate search finds them hardest). For each half the mean exact
// similarity at ranks 1, 10 and 100 shows how distinct the true top 10 is.
//
// Reports the build time (adding every vector one by one, as the indexer does), the memory the index takes
// (resident set growth while building, and its saved file), then for each search breadth (ef) recall@10 —
// the share of the exact top 10 (brute-force inner products) the index returns — and query latency p50/p95.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "cli/bench_corpus.h"
#include "cli/bench_util.h"
#include "cli/command.h"
#include "context/vector_index.h"
#include "core/error.h"
#include "runtime/default_model.h"
#include "runtime/embedder.h"

namespace hearth::cli {
namespace {

struct BenchAnnOptions {
  size_t chunks = 100000;
  size_t real = 0;  // 0: all
  int queries = 500;
  uint64_t seed = 1;
  std::string model;
  int threads = 0;
  std::string ef_list = "16,32,64,96,128,256";
  context::VectorIndexOptions graph;  // M and ef_construction (the index's defaults unless given)
  bool json = false;
};

constexpr int kRecallDepth = 10;

std::vector<int> parse_ef_list(const std::string& list) {
  std::vector<int> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    size_t used = 0;
    int ef = 0;
    try {
      ef = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || ef < 1 || ef > 100000) fail("--ef: '{}' is not a search breadth (1-100000)", item);
    out.push_back(ef);
  }
  if (out.empty()) fail("--ef: give at least one search breadth");
  return out;
}

// Embeds `texts` into rows of `out` (row-major, dim floats each), in bulk calls of 256, L2-normalized.
void embed_rows(const Embedder& embedder, const std::vector<std::string>& texts, std::vector<float>& out, bool quiet) {
  const size_t dim = size_t(embedder.dim());
  out.resize(texts.size() * dim);
  EmbedderOptions options;
  options.normalize = true;
  Stopwatch report;
  for (size_t begin = 0; begin < texts.size(); begin += 256) {
    const size_t end = std::min(texts.size(), begin + 256);
    const EmbedResult r = embedder.embed(std::vector<std::string>(texts.begin() + long(begin), texts.begin() + long(end)), options);
    for (size_t i = begin; i < end; ++i) std::copy(r.embeddings[i - begin].begin(), r.embeddings[i - begin].end(), out.begin() + long(i * dim));
    if (!quiet && report.seconds() > 10) {
      report.restart();
      fmt::print(stderr, "  embedded {}/{}\n", end, texts.size());
    }
  }
}

int run_bench_ann(const BenchAnnOptions& o) {
  const std::vector<int> efs = parse_ef_list(o.ef_list);
  const size_t real = o.real == 0 ? o.chunks : std::min(o.real, o.chunks);
  std::shared_ptr<Backend> backend = shared_backend("auto", o.threads);
  Embedder embedder(Weights::open(o.model.empty() ? default_embedding_model() : o.model), *backend);
  const size_t dim = size_t(embedder.dim());

  TextGenerator gen(o.seed);
  std::vector<std::string> passages(real);
  for (std::string& p : passages) p = gen.passage();
  // Even positions: held-out passages; odd: keyword queries.
  std::vector<std::string> query_texts(size_t(o.queries));
  for (size_t q = 0; q < query_texts.size(); ++q) query_texts[q] = q % 2 == 0 ? gen.passage() : gen.query();

  embedder.embed({"warm up"});
  std::vector<float> vectors;
  Stopwatch embedding;
  embed_rows(embedder, passages, vectors, o.json);
  const double embed_seconds = embedding.seconds();
  passages.clear();
  passages.shrink_to_fit();
  std::vector<float> queries;
  embed_rows(embedder, query_texts, queries, true);

  // Derived vectors: blends of two real ones with noise, so they fall where real text does rather than
  // uniformly on the sphere (which would make the search unrealistically hard).
  vectors.resize(o.chunks * dim);
  for (size_t i = real; i < o.chunks; ++i) {
    const float* a = &vectors[gen.below(real) * dim];
    const float* b = &vectors[gen.below(real) * dim];
    const float t = float(gen.uniform()) * 0.5f;
    float* v = &vectors[i * dim];
    double norm = 0;
    for (size_t d = 0; d < dim; ++d) {
      v[d] = (1 - t) * a[d] + t * b[d] + 0.02f * float(gen.uniform() - 0.5);
      norm += double(v[d]) * v[d];
    }
    const float inv = float(1.0 / std::sqrt(norm));
    for (size_t d = 0; d < dim; ++d) v[d] *= inv;
  }

  const double rss_before = proc_status_mb("VmRSS");
  const context::VectorIndexOptions index_options = o.graph;
  context::VectorIndex index(int(dim), index_options);
  Stopwatch building;
  // As the index inserts a pass's vectors: all at once, by every thread (ContextIndex::catch_up_vectors).
  std::vector<std::pair<int64_t, const float*>> batch;
  for (size_t i = 0; i < o.chunks; ++i) batch.emplace_back(int64_t(i) + 1, &vectors[i * dim]);
  index.add_many(batch, o.threads > 0 ? o.threads : int(std::thread::hardware_concurrency()));
  const double build_seconds = building.seconds();
  const double index_rss_mb = proc_status_mb("VmRSS") - rss_before;
  ScratchDir scratch("hearth-bench-ann-");
  index.save(scratch.path() + "/vectors.hnsw");
  const uint64_t file_bytes = folder_bytes(scratch.path());

  // Exact top 10 of each query by brute force.
  std::vector<std::vector<int64_t>> exact(size_t(o.queries));
  constexpr size_t kContrastRanks[] = {1, 10, 100};
  double contrast[2][3] = {};  // [group][rank]: summed exact similarity
  std::vector<std::pair<float, int64_t>> scored(o.chunks);
  for (size_t q = 0; q < size_t(o.queries); ++q) {
    const float* qv = &queries[q * dim];
    for (size_t i = 0; i < o.chunks; ++i) {
      const float* v = &vectors[i * dim];
      float dot = 0;
      for (size_t d = 0; d < dim; ++d) dot += qv[d] * v[d];
      scored[i] = {dot, int64_t(i) + 1};
    }
    const size_t depth = std::min(scored.size(), kContrastRanks[2]);
    std::partial_sort(scored.begin(), scored.begin() + long(depth), scored.end(),
                      [](const auto& x, const auto& y) { return x.first > y.first; });
    for (int r = 0; r < kRecallDepth; ++r) exact[q].push_back(scored[size_t(r)].second);
    for (size_t c = 0; c < 3; ++c) contrast[q % 2][c] += scored[std::min(depth, kContrastRanks[c]) - 1].first;
  }

  struct EfResult {
    int ef;
    double recall, recall_passages, recall_keywords, p50_ms, p95_ms;
  };
  std::vector<EfResult> results;
  for (int ef : efs) {
    std::vector<double> ms;
    double hits[2] = {0, 0};
    for (size_t q = 0; q < size_t(o.queries); ++q) {
      Stopwatch one;
      const auto found = index.search(&queries[q * dim], kRecallDepth, ef);
      ms.push_back(one.ms());
      const std::unordered_set<int64_t> truth(exact[q].begin(), exact[q].end());
      for (const auto& [id, score] : found) hits[q % 2] += double(truth.count(id));
    }
    const double passages = double((o.queries + 1) / 2), keywords = double(o.queries / 2);
    results.push_back({ef, (hits[0] + hits[1]) / (double(o.queries) * kRecallDepth),
                       hits[0] / (passages * kRecallDepth), keywords > 0 ? hits[1] / (keywords * kRecallDepth) : 0,
                       percentile(ms, 50), percentile(ms, 95)});
  }

  const double group_size[2] = {double((o.queries + 1) / 2), double(std::max(1, o.queries / 2))};
  if (o.json) {
    nlohmann::json j = {{"chunks", o.chunks},
                        {"real_vectors", real},
                        {"dim", dim},
                        {"queries", o.queries},
                        {"m", index_options.m},
                        {"ef_construction", index_options.ef_construction},
                        {"default_ef", index_options.ef_search},
                        {"embed_seconds", embed_seconds},
                        {"embed_per_s", double(real) / embed_seconds},
                        {"build_seconds", build_seconds},
                        {"index_rss_mb", index_rss_mb},
                        {"file_bytes", file_bytes},
                        {"peak_rss_mb", proc_status_mb("VmHWM")}};
    for (const EfResult& r : results)
      j["by_ef"].push_back({{"ef", r.ef}, {"recall", r.recall}, {"recall_passages", r.recall_passages},
                            {"recall_keywords", r.recall_keywords}, {"p50_ms", r.p50_ms}, {"p95_ms", r.p95_ms}});
    for (size_t group = 0; group < 2; ++group)
      j["exact_similarity"][group == 0 ? "passages" : "keywords"] = {
          {"rank1", contrast[group][0] / group_size[group]}, {"rank10", contrast[group][1] / group_size[group]},
          {"rank100", contrast[group][2] / group_size[group]}};
    fmt::print("{}\n", j.dump());
    return 0;
  }
  fmt::print("vectors:  {} of dim {} ({} embedded by the model in {:.1f} s, {:.0f}/s{})\n", o.chunks, dim, real,
             embed_seconds, double(real) / embed_seconds,
             real < o.chunks ? fmt::format("; {} derived from them", o.chunks - real) : std::string());
  fmt::print("index:    HNSW M {}, ef_construction {}: built in {:.1f} s ({:.0f} vectors/s), {:.1f} MiB resident, "
             "{:.1f} MB saved\n",
             index_options.m, index_options.ef_construction, build_seconds, double(o.chunks) / build_seconds,
             index_rss_mb, double(file_bytes) / 1e6);
  fmt::print("queries:  {} generated, half held-out passages, half keyword queries; recall@{} against exact search\n",
             o.queries, kRecallDepth);
  for (size_t group = 0; group < 2; ++group)
    fmt::print("          {}: mean exact similarity at rank 1 / 10 / 100: {:.3f} / {:.3f} / {:.3f}\n",
               group == 0 ? "passages" : "keywords", contrast[group][0] / group_size[group],
               contrast[group][1] / group_size[group], contrast[group][2] / group_size[group]);
  for (const EfResult& r : results)
    fmt::print("  ef {:>4}{} recall@{} {:.4f} (passages {:.4f}, keywords {:.4f}), p50 {:.3f} ms, p95 {:.3f} ms\n", r.ef,
               r.ef == index_options.ef_search ? " (default)" : "          ", kRecallDepth, r.recall,
               r.recall_passages, r.recall_keywords, r.p50_ms, r.p95_ms);
  fmt::print("memory:   peak RSS {:.1f} MiB (the flat vectors alone: {:.1f} MiB)\n", proc_status_mb("VmHWM"),
             double(o.chunks * dim * sizeof(float)) / (1024.0 * 1024.0));
  return 0;
}

CommandRegistration reg({"bench", "ann"}, "Benchmark the vector index's recall and speed against exact search",
                        [](CLI::App& app) {
  auto o = std::make_shared<BenchAnnOptions>();
  app.add_option("--chunks", o->chunks, "Vectors in the index")->check(CLI::Range(size_t(100), size_t(100000000)));
  app.add_option("--real", o->real, "Vectors embedded by the model (default: all); the rest are derived from them");
  app.add_option("--queries", o->queries, "Generated queries")->check(CLI::Range(1, 100000));
  app.add_option("--seed", o->seed, "Seed of the generated texts");
  app.add_option("-m,--model", o->model, "Embedding model (default: USE lite)");
  app.add_option("--threads", o->threads, "CPU threads (default: one per physical core)")->check(CLI::Range(0, 1024));
  app.add_option("--ef", o->ef_list, "Search breadths to measure, comma-separated");
  app.add_option("--m", o->graph.m, "Graph degree (hnswlib's M)")->capture_default_str()->check(CLI::Range(2, 256));
  app.add_option("--ef-construction", o->graph.ef_construction, "Search breadth while inserting")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run_bench_ann(*o); };
});

}  // namespace
}  // namespace hearth::cli
