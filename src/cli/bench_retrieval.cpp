// hearth bench retrieval: retrieval quality of the context engine on a labelled set (bench/context/).
//
// Indexes the corpus into a temporary data folder with the default (or given) embedding model, then runs every
// query in each search mode — hybrid (vectors + BM25, fused), vector, BM25 — and scores the ranked hits against
// the labels: a hit is correct when it comes from a labelled file and its line range overlaps the labelled
// lines. recall@k is the share of queries with a correct hit in the top k; MRR@10 the mean of 1/rank of the
// first correct hit in the top 10 (0 when none). Both per mode and per query kind (keyword, paraphrase, code),
// with each mode's query latency (the whole ContextIndex::search call, warm, one query at a time).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/bench_util.h"
#include "cli/command.h"
#include "context/open_index.h"
#include "context/walker.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;

struct BenchRetrievalOptions {
  std::string corpus = std::string(HEARTH_SOURCE_DIR) + "/bench/context/corpus";
  std::string queries = std::string(HEARTH_SOURCE_DIR) + "/bench/context/queries.json";
  std::string model;
  int k = 5;
  int threads = 0;
  bool json = false;
  bool misses = false;
};

constexpr int kMrrDepth = 10;

struct LabelledPassage {
  std::string path;  // relative to the corpus
  uint32_t first = 0, last = 0;
};

struct LabelledQuery {
  std::string query, kind;
  std::vector<LabelledPassage> relevant;
};

std::vector<LabelledQuery> read_queries(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", path, e.what());
  }
  if (!j.is_array() || j.empty()) fail("{}: expected a non-empty array of queries", path);
  std::vector<LabelledQuery> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& q = j[i];
    try {
      LabelledQuery lq{q.at("query").get<std::string>(), q.at("kind").get<std::string>(), {}};
      for (const auto& r : q.at("relevant")) {
        const auto& lines = r.at("lines");
        if (!lines.is_array() || lines.size() != 2) fail("{}: query {}: \"lines\" must be [first, last]", path, i);
        lq.relevant.push_back({r.at("path").get<std::string>(), lines[0].get<uint32_t>(), lines[1].get<uint32_t>()});
      }
      if (lq.query.empty() || lq.relevant.empty()) fail("{}: query {} has no text or no relevant passage", path, i);
      out.push_back(std::move(lq));
    } catch (const nlohmann::json::exception& e) {
      fail("{}: query {}: {}", path, i, e.what());
    }
  }
  return out;
}

bool is_correct(const context::SearchHit& hit, const std::string& corpus_root, const LabelledQuery& q) {
  const std::string rel = fs::path(hit.chunk.path).lexically_relative(corpus_root).generic_string();
  for (const LabelledPassage& p : q.relevant)
    if (rel == p.path && hit.chunk.line_begin <= p.last && hit.chunk.line_end >= p.first) return true;
  return false;
}

struct Score {
  int queries = 0, found = 0;
  double reciprocal_ranks = 0;
  double recall() const { return queries ? double(found) / queries : 0; }
  double mrr() const { return queries ? reciprocal_ranks / queries : 0; }
};

struct ModeResult {
  context::SearchMode mode;
  Score all;
  std::map<std::string, Score> by_kind;
  std::vector<double> latency_ms;
  std::vector<std::string> misses;  // queries without a correct hit in the top k, with what came first
};

int run_bench_retrieval(const BenchRetrievalOptions& o) {
  const std::vector<LabelledQuery> queries = read_queries(o.queries);
  if (!fs::is_directory(o.corpus)) fail("corpus folder {} does not exist", o.corpus);
  const std::string corpus_root = context::normalize_path(o.corpus);
  for (const LabelledQuery& q : queries)
    for (const LabelledPassage& p : q.relevant)
      if (!fs::is_regular_file(fs::path(corpus_root) / p.path))
        fail("{}: query \"{}\" names {}, which is not in {}", o.queries, q.query, p.path, corpus_root);

  ScratchDir data("hearth-bench-retrieval-");
  context::OpenIndexOptions open;
  open.name = "retrieval";
  open.data_dir = data.path();
  open.model = o.model;
  open.create = true;
  open.threads = o.threads;
  context::OpenIndex opened(open);
  context::ContextIndex& index = opened.index();
  index.add_root(corpus_root, context::WalkOptions{});
  Stopwatch indexing;
  const context::SyncStats synced = index.sync();
  const double index_seconds = indexing.seconds();
  const context::IndexStatus status = index.status();
  if (synced.files_failed > 0 || synced.files_skipped > 0) {
    std::string problems;
    for (const context::FileError& e : status.problems) problems += fmt::format("\n  {} ({}): {}", e.path, e.state, e.error);
    fail("{} corpus files were skipped or failed:{}", synced.files_failed + synced.files_skipped, problems);
  }

  std::vector<ModeResult> results;
  for (context::SearchMode mode : {context::SearchMode::kHybrid, context::SearchMode::kVector, context::SearchMode::kBm25}) {
    ModeResult r{mode, {}, {}, {}, {}};
    context::SearchOptions so;
    so.k = std::max(o.k, kMrrDepth);
    so.mode = mode;
    index.search(queries.front().query, so);  // warm-up: first query's allocations and caches
    for (const LabelledQuery& q : queries) {
      Stopwatch one;
      const context::SearchResult found = index.search(q.query, so);
      r.latency_ms.push_back(one.ms());
      int rank = 0;
      for (size_t i = 0; i < found.hits.size() && rank == 0; ++i)
        if (is_correct(found.hits[i], corpus_root, q)) rank = int(i) + 1;
      for (Score* s : {&r.all, &r.by_kind[q.kind]}) {
        ++s->queries;
        if (rank >= 1 && rank <= o.k) ++s->found;
        if (rank >= 1 && rank <= kMrrDepth) s->reciprocal_ranks += 1.0 / rank;
      }
      if (rank == 0 || rank > o.k) {
        std::string top = "no hits";
        if (!found.hits.empty()) {
          const auto& h = found.hits.front().chunk;
          top = fmt::format("top: {}:{}-{}", fs::path(h.path).lexically_relative(corpus_root).generic_string(),
                            h.line_begin, h.line_end);
        }
        r.misses.push_back(fmt::format("[{}] {} (correct at rank {}; {})", q.kind, q.query,
                                       rank ? std::to_string(rank) : std::string("> ") + std::to_string(so.k), top));
      }
    }
    results.push_back(std::move(r));
  }

  std::map<std::string, int> kinds;
  for (const LabelledQuery& q : queries) ++kinds[q.kind];
  const uint64_t corpus_bytes = folder_bytes(corpus_root);
  if (o.json) {
    nlohmann::json j = {{"k", o.k},
                        {"mrr_depth", kMrrDepth},
                        {"queries", queries.size()},
                        {"files", status.counts.indexed},
                        {"chunks", status.counts.chunks},
                        {"corpus_bytes", corpus_bytes},
                        {"index_seconds", index_seconds}};
    for (const ModeResult& r : results) {
      nlohmann::json m = {{"recall", r.all.recall()}, {"mrr", r.all.mrr()}, {"p50_ms", percentile(r.latency_ms, 50)},
                          {"p95_ms", percentile(r.latency_ms, 95)}};
      for (const auto& [kind, s] : r.by_kind) m["by_kind"][kind] = {{"queries", s.queries}, {"recall", s.recall()}, {"mrr", s.mrr()}};
      if (o.misses) m["misses"] = r.misses;
      j["modes"][std::string(context::search_mode_name(r.mode))] = m;
    }
    fmt::print("{}\n", j.dump());
    return 0;
  }
  std::string kind_list;
  for (const auto& [kind, n] : kinds) kind_list += fmt::format("{}{} {}", kind_list.empty() ? "" : ", ", kind, n);
  fmt::print("corpus:  {} ({} files, {:.0f} KB) -> {} chunks, indexed in {:.1f} s\n", corpus_root, status.counts.indexed,
             double(corpus_bytes) / 1024.0, status.counts.chunks, index_seconds);
  fmt::print("queries: {} ({}); recall@{} / MRR@{}\n\n", queries.size(), kind_list, o.k, kMrrDepth);
  std::string header = fmt::format("{:<8} {:>16}", "mode", "all");
  for (const auto& [kind, n] : kinds) header += fmt::format(" {:>16}", kind);
  fmt::print("{}   latency p50 / p95\n", header);
  for (const ModeResult& r : results) {
    std::string line = fmt::format("{:<8} {:>16}", context::search_mode_name(r.mode),
                                   fmt::format("{:.3f} / {:.3f}", r.all.recall(), r.all.mrr()));
    for (const auto& [kind, n] : kinds) {
      const Score& s = r.by_kind.at(kind);
      line += fmt::format(" {:>16}", fmt::format("{:.3f} / {:.3f}", s.recall(), s.mrr()));
    }
    fmt::print("{}   {:.2f} / {:.2f} ms\n", line, percentile(r.latency_ms, 50), percentile(r.latency_ms, 95));
  }
  if (o.misses)
    for (const ModeResult& r : results) {
      fmt::print("\nmissed by {} ({}):\n", context::search_mode_name(r.mode), r.misses.size());
      for (const std::string& m : r.misses) fmt::print("  {}\n", m);
    }
  return 0;
}

CommandRegistration reg({"bench", "retrieval"}, "Benchmark retrieval quality on a labelled set", [](CLI::App& app) {
  auto o = std::make_shared<BenchRetrievalOptions>();
  app.add_option("--corpus", o->corpus, "Folder of the labelled corpus (default: bench/context/corpus)");
  app.add_option("--queries", o->queries, "Labelled queries, JSON (default: bench/context/queries.json)");
  app.add_option("-m,--model", o->model, "Embedding model (default: USE lite)");
  app.add_option("--k", o->k, "Cut-off of recall@k")->check(CLI::Range(1, 100));
  app.add_option("--threads", o->threads, "CPU threads (default: one per physical core)")->check(CLI::Range(0, 1024));
  app.add_flag("--misses", o->misses, "List the queries each mode missed, with its top hit");
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run_bench_retrieval(*o); };
});

}  // namespace
}  // namespace hearth::cli
