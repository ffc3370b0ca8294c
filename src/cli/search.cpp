// hearth search "QUERY": hybrid (vectors + BM25) retrieval over an index (src/context/, docs/context.md).
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "cli/command.h"
#include "context/json.h"
#include "context/open_index.h"
#include "core/error.h"
#include "core/utf8.h"
#include "runtime/reranker.h"

namespace hearth::cli {
namespace {

struct SearchCliOptions {
  std::vector<std::string> texts;
  std::string index = "default";
  std::string data_dir;
  std::string model;
  std::string mode = "hybrid";
  std::string rerank;
  std::string path_glob;
  std::string since;
  int k = 10;
  int threads = 0;
  double vector_weight = 1.0, bm25_weight = 1.0;
  bool json = false;
  bool expand = false;
  bool text = false;
};

// "2026-12-01", "2026-12-01T10:30[:00][Z]" (local time unless Z), or an age: "90s", "30m", "12h", "7d", "2w".
int64_t parse_since(const std::string& s) {
  std::smatch m;
  static const std::regex age(R"((\d+)\s*([smhdw]))");
  if (std::regex_match(s, m, age)) {
    const int64_t n = std::stoll(m[1]);
    const int64_t unit = m[2] == "s" ? 1 : m[2] == "m" ? 60 : m[2] == "h" ? 3600 : m[2] == "d" ? 86400 : 604800;
    return (int64_t(std::time(nullptr)) - n * unit) * 1000000000;
  }
  static const std::regex date(R"((\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(Z?))");
  if (!std::regex_match(s, m, date))
    fail("--since '{}': give a date (2026-12-01, 2026-12-01T10:30) or an age (30m, 12h, 7d)", s);
  std::tm t{};
  t.tm_year = std::stoi(m[1]) - 1900;
  t.tm_mon = std::stoi(m[2]) - 1;
  t.tm_mday = std::stoi(m[3]);
  if (m[4].matched) t.tm_hour = std::stoi(m[4]);
  if (m[5].matched) t.tm_min = std::stoi(m[5]);
  if (m[6].matched) t.tm_sec = std::stoi(m[6]);
  if (t.tm_mon > 11 || t.tm_mday < 1 || t.tm_mday > 31 || t.tm_hour > 23 || t.tm_min > 59 || t.tm_sec > 60)
    fail("--since '{}': not a valid date", s);
  t.tm_isdst = -1;
  const std::time_t when = m[7] == "Z" ? timegm(&t) : std::mktime(&t);
  return int64_t(when) * 1000000000;
}

// The snippet with its marked words in bold on a terminal, in «…» elsewhere (not **…**: Markdown sources have
// their own).
std::string render_snippet(const context::SearchHit& h, bool tty) {
  const std::vector<char32_t> cps = utf8_decode(h.snippet);
  const std::string open = tty ? "\x1b[1m" : "\u00ab", close = tty ? "\x1b[0m" : "\u00bb";
  std::string out;
  size_t mark = 0;
  for (size_t i = 0; i <= cps.size(); ++i) {
    while (mark < h.marks.size() && size_t(h.marks[mark].second) == i) {
      out += close;
      ++mark;
    }
    if (i == cps.size()) break;
    if (mark < h.marks.size() && size_t(h.marks[mark].first) == i) out += open;
    utf8_append(out, cps[i]);
  }
  return out;
}

int run_search(const SearchCliOptions& o) {
  std::string query;
  for (const std::string& t : o.texts) query += (query.empty() ? "" : " ") + t;
  if (query.empty()) fail("no query: hearth search \"QUERY\"");
  const context::SearchMode mode = context::parse_search_mode(o.mode);
  context::OpenIndexOptions oi;
  oi.name = o.index;
  oi.data_dir = o.data_dir;
  oi.model = o.model;
  oi.threads = o.threads;
  oi.need_model = mode != context::SearchMode::kBm25;
  context::OpenIndex opened(oi);
  std::unique_ptr<Reranker> reranker;
  if (!o.rerank.empty()) reranker = std::make_unique<Reranker>(Weights::open(o.rerank), *shared_backend("auto", o.threads));
  context::SearchOptions so;
  so.k = o.k;
  so.mode = mode;
  so.filter.path_glob = o.path_glob;
  if (!o.since.empty()) so.filter.modified_since_ns = parse_since(o.since);
  so.reranker = reranker.get();
  so.expand_query = o.expand;
  so.vector_weight = o.vector_weight;
  so.bm25_weight = o.bm25_weight;
  const context::SearchResult r = opened.index().search(query, so);
  if (o.json) {
    std::printf("%s\n", context::search_json(o.index, query, mode, r, o.text).dump(2).c_str());
    return 0;
  }
  const bool tty = ::isatty(1) == 1;
  int n = 0;
  for (const context::SearchHit& h : r.hits) {
    std::string parts;
    if (h.vector_rank) parts += fmt::format("vector #{} {:.3f}", h.vector_rank, h.vector_score);
    if (h.bm25_rank) parts += fmt::format("{}bm25 #{} {:.2f}", parts.empty() ? "" : ", ", h.bm25_rank, h.bm25_score);
    if (h.rerank_score) parts += fmt::format(", rerank {:.3f}", *h.rerank_score);
    std::printf("%d. %s:%u-%u  %.4f (%s)%s%s\n", ++n, h.chunk.path.c_str(), h.chunk.line_begin, h.chunk.line_end,
                h.score, parts.c_str(), h.chunk.title.empty() ? "" : "  ", h.chunk.title.c_str());
    std::printf("   %s\n", render_snippet(h, tty).c_str());
    if (o.text) std::printf("%s\n", h.chunk.text.c_str());
  }
  if (r.hits.empty()) std::fprintf(stderr, "no matches in index '%s'\n", o.index.c_str());
  return 0;
}

CommandRegistration reg({"search"}, "Search an index: hybrid (vectors + BM25), vector or bm25", [](CLI::App& app) {
  auto o = std::make_shared<SearchCliOptions>();
  add_text_arguments(app, &o->texts, "The query");
  app.add_option("--index", o->index, "Index name (default: default)");
  app.add_option("--data-dir", o->data_dir, "Data folder (default: $HEARTH_DATA_DIR, $XDG_DATA_HOME/hearth)");
  app.add_option("-m,--model", o->model, "Embedding model (default: the index's)");
  app.add_option("-k", o->k, "Number of results (default: 10)")->check(CLI::Range(1, 1000));
  app.add_option("--mode", o->mode, "hybrid (default), vector or bm25")
      ->check(CLI::IsMember({"hybrid", "vector", "bm25"}));
  app.add_option("--rerank", o->rerank, "Cross-encoder model to rerank the fused results with");
  app.add_option("--path", o->path_glob, "Only files matching this glob (\"*.md\", \"docs/**\", an absolute path)");
  app.add_option("--since", o->since, "Only files modified since a date (2026-12-01) or within an age (7d, 12h)");
  app.add_option("--vector-weight", o->vector_weight, "Weight of the vector list in the fusion (hybrid)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  app.add_option("--bm25-weight", o->bm25_weight, "Weight of the BM25 list in the fusion (hybrid)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  app.add_flag("--expand", o->expand, "Add the index's words nearest the query's to the keyword search");
  app.add_flag("--json", o->json, "Print JSON");
  app.add_flag("--text", o->text, "Print each hit's whole chunk");
  app.add_option("--threads", o->threads, "CPU threads (default: one per physical core)");
  return [o] { return run_search(*o); };
});

}  // namespace
}  // namespace hearth::cli
