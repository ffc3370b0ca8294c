#include "server/context_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "context/index_watcher.h"
#include "context/injection.h"
#include "context/json.h"
#include "context/watcher.h"
#include "server/api_error.h"
#include "server/model_set.h"
#include "tokenizers/tokenizer.h"

namespace hearth::server {

using Json = nlohmann::ordered_json;

namespace {

// Budget when the request gives none: a quarter of the model's context, so the question, the conversation and
// the answer keep the rest; at most 2048 tokens, since more excerpts mostly add noise.
int default_budget(int context_tokens) { return std::clamp(context_tokens / 4, 64, 2048); }

const Json* member(const Json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const Json& j, const char* name, bool required) {
  const Json* v = member(j, name);
  if (!v) {
    if (required) throw ApiError(400, fmt::format("{} is required", name), name);
    return "";
  }
  if (!v->is_string()) throw ApiError(400, fmt::format("{} must be a string", name), name);
  return v->get<std::string>();
}

bool bool_field(const Json& j, const char* name) {
  const Json* v = member(j, name);
  if (!v) return false;
  if (!v->is_boolean()) throw ApiError(400, fmt::format("{} must be a boolean", name), name);
  return v->get<bool>();
}

}  // namespace

struct ContextService::Served {
  std::unique_ptr<context::OpenIndex> opened;
  std::unique_ptr<context::IndexWatcher> watcher;  // declared after: stopped before the index closes
};

ContextService::ContextService(ContextServiceOptions options) : options_(std::move(options)) {
  for (const std::string& name : options_.indexes) {
    if (indexes_.count(name)) continue;
    auto s = std::make_unique<Served>();
    context::OpenIndexOptions o;
    o.name = name;
    o.data_dir = options_.data_dir;
    o.create = true;
    o.threads = options_.threads;
    o.batch = true;  // queries and background indexing share the model through one batcher
    s->opened = std::make_unique<context::OpenIndex>(o);
    if (options_.watch) s->watcher = std::make_unique<context::IndexWatcher>(s->opened->index(), context::make_watcher());
    indexes_.emplace(name, std::move(s));
  }
}

ContextService::~ContextService() {
  // Watchers first: each may be in the middle of an indexing pass over its index.
  for (auto& [name, s] : indexes_) s->watcher.reset();
}

std::vector<std::string> ContextService::names() const {
  std::vector<std::string> out;
  for (auto& [name, s] : indexes_) out.push_back(name);
  return out;
}

ContextService::Served& ContextService::served(const std::string& name) {
  // No name: the injected index, else the only one.
  std::string wanted = name;
  if (wanted.empty()) wanted = !options_.inject.empty() ? options_.inject : indexes_.size() == 1 ? indexes_.begin()->first : "";
  auto it = indexes_.find(wanted);
  if (it == indexes_.end()) {
    std::string list;
    for (auto& [n, s] : indexes_) list += (list.empty() ? "" : ", ") + n;
    throw ApiError(404, wanted.empty() ? fmt::format("say which index: this server has {}", list)
                                       : fmt::format("no index '{}' on this server (it has: {})", wanted, list.empty() ? "none" : list),
                   "index", "index_not_found", ErrorKind::kNotFound);
  }
  return *it->second;
}

Json ContextService::search(const Json& body, ModelSet& models) {
  if (!body.is_object()) throw ApiError(400, "the body must be a JSON object");
  const std::string query = string_field(body, "query", true);
  if (query.find_first_not_of(" \t\r\n") == std::string::npos) throw ApiError(400, "query is empty", "query");
  if (query.size() > 16384) throw ApiError(400, "query is longer than 16384 bytes", "query");
  Served& s = served(string_field(body, "index", false));
  context::SearchOptions o;
  if (const Json* k = member(body, "k")) {
    if (!k->is_number_integer() || *k < 1 || *k > 100) throw ApiError(400, "k must be an integer from 1 to 100", "k");
    o.k = k->get<int>();
  }
  const std::string mode = string_field(body, "mode", false);
  try {
    if (!mode.empty()) o.mode = context::parse_search_mode(mode);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "mode");
  }
  o.filter.path_glob = string_field(body, "path", false);
  if (const Json* since = member(body, "since")) {
    if (!since->is_number() || !std::isfinite(since->get<double>()) || *since < 0)
      throw ApiError(400, "since must be a unix time in seconds", "since");
    o.filter.modified_since_ns = int64_t(since->get<double>() * 1e9);
  }
  o.expand_query = bool_field(body, "expand");
  for (auto [name, weight] : {std::pair{"vector_weight", &o.vector_weight}, std::pair{"bm25_weight", &o.bm25_weight}}) {
    if (const Json* w = member(body, name)) {
      if (!w->is_number() || !std::isfinite(w->get<double>()) || *w < 0 || *w > 100)
        throw ApiError(400, fmt::format("{} must be a number from 0 to 100", name), name);
      *weight = w->get<double>();
    }
  }
  RerankerLease reranker;
  if (const std::string id = string_field(body, "rerank", false); !id.empty()) {
    reranker = models.reranker(id);
    o.reranker = reranker->reranker.get();
  }
  const context::SearchResult r = s.opened->index().search(query, o);
  return Json(context::search_json(s.opened->index().name(), query, o.mode, r, bool_field(body, "text")));
}

Json ContextService::status() {
  Json list = Json::array();
  for (auto& [name, s] : indexes_) {
    Json j = Json(context::status_json(s->opened->index().status()));
    if (s->watcher) {
      j["watching"] = true;
      j["caught_up"] = s->watcher->caught_up();
      const std::string err = s->watcher->last_error();
      j["watch_error"] = err.empty() ? Json(nullptr) : Json(err);
    } else {
      j["watching"] = false;
    }
    list.push_back(std::move(j));
  }
  return {{"indexes", std::move(list)}};
}

Json ContextService::add(const Json& body) {
  if (!body.is_object()) throw ApiError(400, "the body must be a JSON object");
  Served& s = served(string_field(body, "index", false));
  const std::string path = string_field(body, "path", true);
  context::WalkOptions walk;
  if (const Json* ex = member(body, "exclude")) {
    if (!ex->is_array()) throw ApiError(400, "exclude must be an array of globs", "exclude");
    for (const Json& g : *ex) {
      if (!g.is_string()) throw ApiError(400, "exclude must be an array of globs", "exclude");
      walk.exclude.push_back(g.get<std::string>());
    }
  }
  s.opened->index().add_root(path, walk);
  if (s.watcher) s.watcher->refresh();
  else s.opened->index().sync();
  return {{"index", s.opened->index().name()}, {"added", path}, {"indexing", s.watcher != nullptr}};
}

Json ContextService::remove(const Json& body) {
  if (!body.is_object()) throw ApiError(400, "the body must be a JSON object");
  Served& s = served(string_field(body, "index", false));
  const std::string path = string_field(body, "path", true);
  const int64_t removed = s.opened->index().remove_path(path);
  if (s.watcher) s.watcher->refresh();
  return {{"index", s.opened->index().name()}, {"removed", path}, {"files", removed}};
}

Json ContextService::inject(ChatRequest& request, const Tokenizer& tokenizer, int context_tokens) {
  const ContextRequest& c = request.context;
  const bool wanted = c.given ? c.enabled : !options_.inject.empty();
  if (!wanted) return nullptr;
  Served& s = served(c.index);
  std::vector<context::ChatTurn> turns;
  for (const auto& m : request.messages) {
    const auto role = m.find("role");
    const auto content = m.find("content");
    if (role == m.end() || content == m.end() || !role->is_string() || !content->is_string()) continue;
    turns.push_back({role->get<std::string>(), content->get<std::string>()});
  }
  const std::string query = context::retrieval_query(turns);
  if (query.empty()) return Json::array();
  context::SearchOptions o;
  o.k = c.k.value_or(options_.k);
  const context::SearchResult r = s.opened->index().search(query, o);
  const context::TokenCounter count = [&tokenizer](std::string_view text) {
    return int(tokenizer.encode(text, /*add_special=*/false).size());
  };
  const context::Injection inj =
      context::build_injection(query, r.hits, count, c.budget_tokens.value_or(default_budget(context_tokens)));
  Json sources = Json::array();
  for (const context::ContextSource& src : inj.sources) {
    Json marks = Json::array();
    for (auto& [b, e] : src.marks) marks.push_back({b, e});
    sources.push_back({{"id", src.id},
                       {"path", src.path},
                       {"line_begin", src.line_begin},
                       {"line_end", src.line_end},
                       {"title", src.title},
                       {"snippet", src.snippet},
                       {"marks", std::move(marks)},
                       {"score", src.score}});
  }
  if (inj.block.empty()) return sources;
  // Into the first system message, or a new one in front.
  auto& messages = request.messages;
  for (auto& m : messages) {
    if (m.value("role", "") == "system" && m.contains("content") && m["content"].is_string()) {
      m["content"] = context::system_with_context(m["content"].get<std::string>(), inj);
      return sources;
    }
  }
  Json system = {{"role", "system"}, {"content", inj.block}};
  messages.insert(messages.begin(), std::move(system));
  return sources;
}

}  // namespace hearth::server
