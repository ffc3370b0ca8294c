// The context engine inside `hearth serve`: the indexes given with --index, each kept current by its own
// watcher thread (indexing at background priority), searched by POST /v1/context/search, managed by
// /admin/index/*, and injected into chat requests that ask for it ("context" in the request, or every request
// when --context names an index). docs/context.md has the shapes.
//
// Thread-safety: every method may be called from any request thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "context/open_index.h"
#include "server/request.h"

namespace hearth {
class Tokenizer;
}

namespace hearth::context {
class IndexWatcher;
}

namespace hearth::server {

class ModelSet;

struct ContextServiceOptions {
  std::vector<std::string> indexes;  // served (created empty when new)
  std::string data_dir;              // "" = the default data folder
  std::string inject;                // index injected into every chat request unless it says "context": false
  int k = 6;                         // hits injected
  int threads = 0;
  bool watch = true;                 // run a watcher per index
};

class ContextService {
 public:
  // Opens every index (Error when one is unusable: a model mismatch, a corrupt store). `inject` must be one of
  // `indexes` (serve adds it).
  explicit ContextService(ContextServiceOptions options);
  ~ContextService();

  std::vector<std::string> names() const;

  // POST /v1/context/search: {"query", "index"?, "k"?, "mode"?, "path"?, "since"? (unix seconds), "rerank"?
  // (a reranker model id of `models`), "expand"?, "text"?} -> search_json. ApiError 400/404.
  nlohmann::ordered_json search(const nlohmann::ordered_json& body, ModelSet& models);
  // GET /admin/index/status: {"indexes": [status_json, ...]}.
  nlohmann::ordered_json status();
  // POST /admin/index/add {"index"?, "path", "exclude"?: [...]} (indexing starts at once, in the background) and
  // POST /admin/index/rm {"index"?, "path"}.
  nlohmann::ordered_json add(const nlohmann::ordered_json& body);
  nlohmann::ordered_json remove(const nlohmann::ordered_json& body);

  // Context injection for a chat request: when the request asks for it (or the server injects by default),
  // retrieves for its conversation, rewrites its system message, and returns the sources (null when nothing was
  // injected). `tokenizer` counts the budget in the chat model's tokens; `context_tokens` is the model's context.
  nlohmann::ordered_json inject(ChatRequest& request, const Tokenizer& tokenizer, int context_tokens);

 private:
  struct Served;
  Served& served(const std::string& name);  // ApiError 404 naming the served indexes

  ContextServiceOptions options_;
  std::map<std::string, std::unique_ptr<Served>> indexes_;
};

}  // namespace hearth::server
