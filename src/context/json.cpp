#include "context/json.h"

namespace hearth::context {

using Json = nlohmann::json;

Json status_json(const IndexStatus& s) {
  Json j;
  j["index"] = s.name;
  j["dir"] = s.dir;
  j["model"] = s.model ? Json{{"name", s.model->name}, {"dim", s.model->dim}} : Json(nullptr);
  j["roots"] = s.roots;
  j["files"] = s.counts.files;
  j["indexed"] = s.counts.indexed;
  j["pending"] = s.counts.pending;
  j["skipped"] = s.counts.skipped;
  j["failed"] = s.counts.failed;
  j["chunks"] = s.counts.chunks;
  const double eta = s.progress.eta_seconds();
  j["progress"] = {{"state", progress_state_name(s.progress.state)},
                   {"done", s.progress.files_done},
                   {"total", s.progress.files_total},
                   {"files_per_s", s.progress.files_per_second()},
                   {"eta_s", eta < 0 ? Json(nullptr) : Json(eta)}};
  Json problems = Json::array();
  for (const FileError& p : s.problems) problems.push_back({{"path", p.path}, {"state", p.state}, {"error", p.error}});
  j["problems"] = std::move(problems);
  return j;
}

Json hit_json(const SearchHit& h, bool with_text) {
  Json j;
  j["path"] = h.chunk.path;
  j["line_begin"] = h.chunk.line_begin;
  j["line_end"] = h.chunk.line_end;
  j["title"] = h.chunk.title;
  j["score"] = h.score;
  j["vector_rank"] = h.vector_rank ? Json(h.vector_rank) : Json(nullptr);
  j["vector_score"] = h.vector_rank ? Json(h.vector_score) : Json(nullptr);
  j["bm25_rank"] = h.bm25_rank ? Json(h.bm25_rank) : Json(nullptr);
  j["bm25_score"] = h.bm25_rank ? Json(h.bm25_score) : Json(nullptr);
  j["fused_score"] = h.fused_score;
  j["rerank_score"] = h.rerank_score ? Json(*h.rerank_score) : Json(nullptr);
  j["snippet"] = h.snippet;
  Json marks = Json::array();
  for (auto& [b, e] : h.marks) marks.push_back({b, e});
  j["marks"] = std::move(marks);
  if (with_text) j["text"] = h.chunk.text;
  return j;
}

Json search_json(const std::string& index, const std::string& query, SearchMode mode, const SearchResult& result,
                 bool with_text) {
  Json hits = Json::array();
  for (const SearchHit& h : result.hits) hits.push_back(hit_json(h, with_text));
  return {{"index", index},   {"query", query},     {"mode", search_mode_name(mode)},
          {"terms", result.terms}, {"seconds", result.seconds}, {"hits", std::move(hits)}};
}

}  // namespace hearth::context
