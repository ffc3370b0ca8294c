// hearth bench index: the context engine's indexer and searches at scale, on a generated corpus (bench_corpus.h).
//
//  1. Indexing: N generated files indexed from scratch through the same path the server uses (ChunkEmbedder over
//     an EmbedBatcher, background priority): files/s, chunks/s, the share of the pass spent embedding
//     (SyncStats::embed_seconds / seconds), the index folder's size on disk and the peak RSS after the pass.
//  2. Pipeline overhead: a uniform sample of the chunk texts the pass embedded, embedded again directly through
//     the Embedder in bulk calls (what `hearth bench embed` measures); overhead = pass time / (chunks × direct
//     seconds per chunk) − 1, i.e. everything the pass does beyond embedding (walk, read, chunk, SQLite, HNSW).
//     Given in wall time and in CPU time (user + system, all threads): on a shared machine the two phases may
//     get different shares of the cores. Within the pass itself: the time outside embedding calls relative to
//     the time inside them ((seconds − embed_seconds) / embed_seconds), which no difference between two phases
//     can move; and apart, the time from the last file written to the end of the pass (the vector index
//     catching up with the store, then saved).
//  3. Query latency: generated queries, hybrid, no rerank, one at a time, at the size just indexed.
//  4. Edit to searchable: an IndexWatcher follows the corpus; one file is rewritten with a word found nowhere else
//     and BM25 search is polled until that file is a hit; from the write's close to the hit.
//  5. Interactive embedding under load: single short texts through the same ChunkEmbedder/EmbedBatcher at
//     interactive priority, idle and while a background pass indexes more files; p50 ratio.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "cli/bench_corpus.h"
#include "cli/bench_util.h"
#include "cli/command.h"
#include "context/chunk_embedder.h"
#include "context/context_index.h"
#include "context/index_watcher.h"
#include "context/open_index.h"
#include "context/store.h"
#include "context/watcher.h"
#include "core/error.h"
#include "runtime/embed_batcher.h"
#include "runtime/embedder.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct BenchIndexOptions {
  size_t files = 10000;
  uint64_t seed = 1;
  std::string model;
  int threads = 0;
  int queries = 200;
  int edits = 10;
  size_t direct_sample = 4000;
  size_t background_files = 0;  // 0: files / 10, within 100..1000
  std::string work_dir;         // "": a temporary folder, removed at the end
  bool json = false;
};

struct IndexFigures {
  context::SyncStats sync;
  double files_per_s = 0, chunks_per_s = 0, embedded_chunks_per_s = 0, embed_share = 0;
  int64_t chunks = 0;
  uint64_t disk_bytes = 0, corpus_bytes = 0;
  double peak_rss_mb = 0;
  size_t direct_sample = 0, distinct_texts = 0;
  double direct_seconds = 0, direct_chunks_per_s = 0, overhead = 0;
  double pass_cpu_seconds = 0, direct_cpu_per_chunk = 0, direct_cores = 0, overhead_cpu = 0;
  double files_written_at = 0;  // seconds into the pass when the last file was written
  std::vector<double> hybrid_ms, vector_ms, bm25_ms;
  std::vector<double> edit_ms;
  int edits_missed = 0;
  std::vector<double> idle_ms, busy_ms;
  context::SyncStats background;
};

void log_line(bool quiet, const std::string& line) {
  if (!quiet) fmt::print(stderr, "{}\n", line);
}

// The distinct chunk texts in the index (one per content hash), in store order.
std::vector<std::string> distinct_chunk_texts(const std::string& db_path) {
  context::Store store(db_path);
  std::vector<std::string> texts;
  std::unordered_set<std::string> seen;
  for (const context::FileRecord& f : store.files())
    for (context::ChunkRecord& c : store.file_chunks(f.id))
      if (seen.insert(c.hash).second) texts.push_back(std::move(c.text));
  return texts;
}

struct PerChunk {
  double wall_seconds = 0, cpu_seconds = 0;
};

// Wall and CPU seconds per chunk of embedding `sample` directly through the embedder, in bulk calls of 256 texts
// (the batcher's largest batch) — the same grouping the pass could get at best.
PerChunk direct_cost_per_chunk(const Embedder& embedder, const std::vector<std::string>& sample) {
  EmbedderOptions options;
  options.normalize = true;
  const double cpu_start = process_cpu_seconds();
  Stopwatch clock;
  for (size_t begin = 0; begin < sample.size(); begin += 256) {
    const std::vector<std::string> slice(sample.begin() + long(begin),
                                         sample.begin() + long(std::min(sample.size(), begin + 256)));
    embedder.embed(slice, options);
  }
  return {clock.seconds() / double(sample.size()), (process_cpu_seconds() - cpu_start) / double(sample.size())};
}

void write_text(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) fail("cannot write {}", path.string());
}

int run_bench_index(const BenchIndexOptions& o) {
  if (o.files < 10) fail("--files must be at least 10");
  std::unique_ptr<ScratchDir> scratch;
  std::string work = o.work_dir;
  if (work.empty()) {
    scratch = std::make_unique<ScratchDir>("hearth-bench-index-");
    work = scratch->path();
  } else if (fs::exists(work) && !fs::is_empty(work)) {
    fail("--work-dir {} is not empty", work);
  }
  const std::string corpus = work + "/corpus", extra = work + "/extra", index_dir = work + "/index";
  fs::create_directories(index_dir);
  IndexFigures fig;

  Stopwatch generating;
  const CorpusSummary summary = write_corpus(corpus, o.seed, 0, o.files);
  fig.corpus_bytes = summary.bytes;
  log_line(o.json, fmt::format("generated {} files ({} Markdown, {} code, {} text; {:.1f} MB) in {:.1f} s", summary.files,
                               summary.markdown, summary.code, summary.text, double(summary.bytes) / 1e6,
                               generating.seconds()));

  const std::string model_name = context::embedding_model_name(o.model);
  std::shared_ptr<Backend> backend = shared_backend("auto", o.threads);
  Embedder embedder(Weights::open(context::embedding_model_path(model_name)), *backend);
  EmbedBatcher batcher(embedder, context::index_batcher_options());  // as the server has it
  context::ChunkEmbedder chunk_embedder(embedder, model_name, &batcher);
  chunk_embedder.embed({"warm up the model"}, Priority::kInteractive);

  auto index = std::make_unique<context::ContextIndex>("bench", index_dir, &chunk_embedder, /*create=*/true);
  index->add_root(context::normalize_path(corpus), context::WalkOptions{});
  Stopwatch last_report;
  const double cpu_start = process_cpu_seconds();
  fig.sync = index->sync([&](const context::IndexProgress& p) {
    if (p.state == context::IndexProgress::State::kIndexing && p.files_done == p.files_total) fig.files_written_at = p.seconds;
    if (last_report.seconds() < 10) return;
    last_report.restart();
    log_line(o.json, fmt::format("  indexing: {}/{} files, {} chunks embedded, {:.0f} s", p.files_done, p.files_total,
                                 p.chunks_embedded, p.seconds));
  });
  fig.pass_cpu_seconds = process_cpu_seconds() - cpu_start;
  index->save_vectors();
  fig.peak_rss_mb = proc_status_mb("VmHWM");
  fig.chunks = index->status().counts.chunks;
  fig.disk_bytes = folder_bytes(index_dir);
  fig.files_per_s = double(fig.sync.files_indexed) / fig.sync.seconds;
  fig.chunks_per_s = double(fig.chunks) / fig.sync.seconds;
  fig.embedded_chunks_per_s = double(fig.sync.chunks_embedded) / fig.sync.seconds;
  fig.embed_share = fig.sync.embed_seconds / fig.sync.seconds;
  log_line(o.json, fmt::format("indexed {} files, {} chunks ({} embedded) in {:.1f} s", fig.sync.files_indexed,
                               fig.chunks, fig.sync.chunks_embedded, fig.sync.seconds));

  {
    const std::vector<std::string> texts = distinct_chunk_texts(index_dir + "/index.sqlite");
    fig.distinct_texts = texts.size();
    std::vector<std::string> sample;
    const size_t stride = std::max<size_t>(1, texts.size() / std::max<size_t>(1, o.direct_sample));
    for (size_t i = 0; i < texts.size() && sample.size() < o.direct_sample; i += stride) sample.push_back(texts[i]);
    fig.direct_sample = sample.size();
    const PerChunk per_chunk = direct_cost_per_chunk(embedder, sample);
    fig.direct_chunks_per_s = 1.0 / per_chunk.wall_seconds;
    fig.direct_seconds = per_chunk.wall_seconds * double(fig.sync.chunks_embedded);
    fig.overhead = fig.sync.seconds / fig.direct_seconds - 1.0;
    fig.direct_cpu_per_chunk = per_chunk.cpu_seconds;
    fig.direct_cores = per_chunk.cpu_seconds / per_chunk.wall_seconds;
    fig.overhead_cpu = fig.pass_cpu_seconds / (per_chunk.cpu_seconds * double(fig.sync.chunks_embedded)) - 1.0;
    log_line(o.json, fmt::format("direct embedding: {:.1f} chunks/s over a sample of {}", fig.direct_chunks_per_s,
                                 sample.size()));
  }

  {
    TextGenerator queries(o.seed ^ 0x51ED5EEDull);
    std::vector<std::string> texts;
    for (int i = 0; i < o.queries; ++i) texts.push_back(queries.query());
    for (auto [mode, out] : {std::pair{context::SearchMode::kHybrid, &fig.hybrid_ms},
                             std::pair{context::SearchMode::kVector, &fig.vector_ms},
                             std::pair{context::SearchMode::kBm25, &fig.bm25_ms}}) {
      context::SearchOptions so;
      so.k = 10;
      so.mode = mode;
      for (int i = 0; i < 5; ++i) index->search(texts[size_t(i) % texts.size()], so);
      for (const std::string& q : texts) {
        Stopwatch one;
        index->search(q, so);
        out->push_back(one.ms());
      }
    }
  }

  {
    auto watcher = std::make_unique<context::IndexWatcher>(*index, context::make_watcher());
    Stopwatch waiting;
    while (!watcher->caught_up()) {
      if (waiting.seconds() > 600) fail("the index watcher did not finish its first reconcile in 10 minutes");
      std::this_thread::sleep_for(10ms);
    }
    for (int round = 0; round < o.edits; ++round) {
      const size_t file_index = (size_t(round) * 7919 + 13) % o.files;
      const GeneratedFile original = generate_file(o.seed, file_index);
      const fs::path path = fs::path(corpus) / original.relative_path;
      const std::string marker = fmt::format("qzmarker{}x{}", round, o.seed);
      write_text(path, original.content + "\nEdited: " + marker + " is new here.\n");
      Stopwatch saved;
      context::SearchOptions so;
      so.k = 1;
      so.mode = context::SearchMode::kBm25;
      bool found = false;
      while (!found && saved.seconds() < 30) {
        const context::SearchResult r = index->search(marker, so);
        found = !r.hits.empty() && r.hits.front().chunk.path == context::normalize_path(path.string());
        if (!found) std::this_thread::sleep_for(2ms);
      }
      if (found) fig.edit_ms.push_back(saved.ms());
      else ++fig.edits_missed;
    }
    log_line(o.json, fmt::format("edit to searchable: p50 {:.0f} ms over {} edits", percentile(fig.edit_ms, 50),
                                 fig.edit_ms.size()));
  }

  {
    TextGenerator gen(o.seed ^ 0x1A7E4AC7ull);
    std::vector<std::string> shorts;
    for (int i = 0; i < 200; ++i) shorts.push_back(gen.query());
    const auto embed_one = [&](const std::string& text) {
      Stopwatch one;
      chunk_embedder.embed({text}, Priority::kInteractive);
      return one.ms();
    };
    for (int i = 0; i < 10; ++i) embed_one(shorts[size_t(i)]);
    for (const std::string& s : shorts) {
      fig.idle_ms.push_back(embed_one(s));
      std::this_thread::sleep_for(10ms);
    }
    const size_t extra_files = o.background_files ? o.background_files : std::clamp<size_t>(o.files / 10, 100, 1000);
    write_corpus(extra, o.seed, o.files, extra_files);
    index->add_root(context::normalize_path(extra), context::WalkOptions{});
    std::atomic<bool> done{false};
    const uint64_t batches_before = batcher.stats().batches;
    std::thread background([&] {
      fig.background = index->sync();
      done = true;
    });
    // Measure only once the pass embeds: before that it walks and reads files.
    while (!done && batcher.stats().batches == batches_before) std::this_thread::sleep_for(1ms);
    for (size_t i = 0; !done && fig.busy_ms.size() < 5000; ++i) {
      fig.busy_ms.push_back(embed_one(shorts[i % shorts.size()]));
      std::this_thread::sleep_for(10ms);
    }
    background.join();
    log_line(o.json, fmt::format("interactive embedding: p50 {:.2f} ms idle, {:.2f} ms during a background pass",
                                 percentile(fig.idle_ms, 50), percentile(fig.busy_ms, 50)));
  }
  index.reset();

  const double ratio = percentile(fig.busy_ms, 50) / percentile(fig.idle_ms, 50);
  if (o.json) {
    nlohmann::json j = {
        {"files", fig.sync.files_indexed},
        {"corpus_bytes", fig.corpus_bytes},
        {"chunks", fig.chunks},
        {"chunks_embedded", fig.sync.chunks_embedded},
        {"threads", backend->threads()},
        {"index_seconds", fig.sync.seconds},
        {"embed_seconds", fig.sync.embed_seconds},
        {"files_per_s", fig.files_per_s},
        {"chunks_per_s", fig.chunks_per_s},
        {"embedded_chunks_per_s", fig.embedded_chunks_per_s},
        {"embed_share", fig.embed_share},
        {"direct_sample", fig.direct_sample},
        {"direct_chunks_per_s", fig.direct_chunks_per_s},
        {"pipeline_overhead", fig.overhead},
        {"outside_embedding_share", (fig.sync.seconds - fig.sync.embed_seconds) / fig.sync.embed_seconds},
        {"pipeline_overhead_cpu", fig.overhead_cpu},
        {"pass_cpu_seconds", fig.pass_cpu_seconds},
        {"pass_cores_busy", fig.pass_cpu_seconds / fig.sync.seconds},
        {"direct_cores_busy", fig.direct_cores},
        {"after_last_file_seconds", fig.sync.seconds - fig.files_written_at},
        {"disk_bytes", fig.disk_bytes},
        {"peak_rss_mb", fig.peak_rss_mb},
        {"query_ms", {{"hybrid", {{"p50", percentile(fig.hybrid_ms, 50)}, {"p95", percentile(fig.hybrid_ms, 95)}}},
                      {"vector", {{"p50", percentile(fig.vector_ms, 50)}, {"p95", percentile(fig.vector_ms, 95)}}},
                      {"bm25", {{"p50", percentile(fig.bm25_ms, 50)}, {"p95", percentile(fig.bm25_ms, 95)}}}}},
        {"edit_to_searchable_ms",
         {{"p50", percentile(fig.edit_ms, 50)}, {"max", percentile(fig.edit_ms, 100)}, {"edits", fig.edit_ms.size()},
          {"missed", fig.edits_missed}}},
        {"interactive_embed_ms",
         {{"idle_p50", percentile(fig.idle_ms, 50)}, {"busy_p50", percentile(fig.busy_ms, 50)},
          {"busy_p95", percentile(fig.busy_ms, 95)}, {"busy_samples", fig.busy_ms.size()}, {"ratio", ratio},
          {"background_files", fig.background.files_indexed}, {"background_seconds", fig.background.seconds}}},
        {"final_peak_rss_mb", proc_status_mb("VmHWM")}};
    fmt::print("{}\n", j.dump());
    return 0;
  }
  fmt::print("corpus:      {} generated files, {:.1f} MB (seed {})\n", fig.sync.files_indexed, double(fig.corpus_bytes) / 1e6,
             o.seed);
  fmt::print("indexing:    {:.1f} s, {:.1f} files/s, {:.1f} chunks/s ({} chunks, {} embedded), {} threads\n",
             fig.sync.seconds, fig.files_per_s, fig.chunks_per_s, fig.chunks, fig.sync.chunks_embedded,
             backend->threads());
  fmt::print("             embedding {:.1f} s = {:.1f} % of the pass; outside embedding {:.1f} s = {:.1f} % of the "
             "embedding time, of which {:.1f} s after the last file was written (vector index catch-up and save); "
             "{:.2f} cores busy\n",
             fig.sync.embed_seconds, 100 * fig.embed_share, fig.sync.seconds - fig.sync.embed_seconds,
             100 * (fig.sync.seconds - fig.sync.embed_seconds) / fig.sync.embed_seconds,
             fig.sync.seconds - fig.files_written_at, fig.pass_cpu_seconds / fig.sync.seconds);
  fmt::print("direct:      {:.1f} chunks/s through the embedder alone (sample of {} of {} distinct texts), {:.2f} cores "
             "busy\n",
             fig.direct_chunks_per_s, fig.direct_sample, fig.distinct_texts, fig.direct_cores);
  fmt::print("             pipeline overhead: wall time {:+.1f} % ({:.1f} s against {:.1f} s of direct embedding), CPU time "
             "{:+.1f} % ({:.1f} s against {:.1f} s)\n",
             100 * fig.overhead, fig.sync.seconds, fig.direct_seconds, 100 * fig.overhead_cpu, fig.pass_cpu_seconds,
             fig.direct_cpu_per_chunk * double(fig.sync.chunks_embedded));
  fmt::print("on disk:     {:.1f} MB; peak RSS after indexing {:.1f} MiB\n", double(fig.disk_bytes) / 1e6, fig.peak_rss_mb);
  fmt::print("queries:     hybrid p50 {:.2f} ms, p95 {:.2f} ms; vector {:.2f} / {:.2f}; bm25 {:.2f} / {:.2f} ({} queries, k 10)\n",
             percentile(fig.hybrid_ms, 50), percentile(fig.hybrid_ms, 95), percentile(fig.vector_ms, 50),
             percentile(fig.vector_ms, 95), percentile(fig.bm25_ms, 50), percentile(fig.bm25_ms, 95), o.queries);
  fmt::print("edit:        searchable after p50 {:.0f} ms, max {:.0f} ms ({} edits{})\n", percentile(fig.edit_ms, 50),
             percentile(fig.edit_ms, 100), fig.edit_ms.size(),
             fig.edits_missed ? fmt::format(", {} not found within 30 s", fig.edits_missed) : std::string());
  fmt::print("interactive: one short text p50 {:.2f} ms idle, {:.2f} ms (p95 {:.2f}) while {} files index in the "
             "background: {:.2f}x\n",
             percentile(fig.idle_ms, 50), percentile(fig.busy_ms, 50), percentile(fig.busy_ms, 95),
             fig.background.files_indexed, ratio);
  return 0;
}

CommandRegistration reg({"bench", "index"}, "Benchmark the context engine's indexing and search at scale",
                        [](CLI::App& app) {
  auto o = std::make_shared<BenchIndexOptions>();
  app.add_option("--files", o->files, "Generated files to index")->check(CLI::Range(size_t(10), size_t(10000000)));
  app.add_option("--seed", o->seed, "Seed of the generated corpus");
  app.add_option("-m,--model", o->model, "Embedding model (default: USE lite)");
  app.add_option("--threads", o->threads, "CPU threads (default: one per physical core)")->check(CLI::Range(0, 1024));
  app.add_option("--queries", o->queries, "Generated queries for the latency figures")->check(CLI::Range(1, 100000));
  app.add_option("--edits", o->edits, "Edits for the edit-to-searchable latency")->check(CLI::Range(1, 1000));
  app.add_option("--direct-sample", o->direct_sample, "Chunk texts embedded directly for the overhead figure")
      ->check(CLI::Range(size_t(1), size_t(10000000)));
  app.add_option("--background-files", o->background_files, "Files of the background pass (default: files/10)");
  app.add_option("--work-dir", o->work_dir, "Keep the corpus and index in this (empty) folder");
  app.add_flag("--json", o->json, "Print one JSON object (progress lines are left out)");
  return [o] { return run_bench_index(*o); };
});

}  // namespace
}  // namespace hearth::cli
