// The JSON shapes of the context engine, one definition for `hearth index status --json`, `hearth search --json`,
// the server's /v1/context/search and /admin/index/status, and the sources a chat answer cites.
#pragma once

#include <nlohmann/json.hpp>

#include "context/context_index.h"

namespace hearth::context {

// {"index", "dir", "model": {"name","dim"} | null, "roots": [...], "files", "indexed", "pending", "skipped",
//  "failed", "chunks", "progress": {"state","done","total","files_per_s","eta_s"}, "problems": [{path,state,error}]}
nlohmann::json status_json(const IndexStatus& status);

// {"path","line_begin","line_end","title","score","vector_rank","vector_score","bm25_rank","bm25_score",
//  "fused_score","rerank_score","snippet","marks": [[b,e],...], "text" (with_text)}; ranks 0 and absent scores are
// null.
nlohmann::json hit_json(const SearchHit& hit, bool with_text);

// {"query","index","mode","terms","seconds","hits": [...]}
nlohmann::json search_json(const std::string& index, const std::string& query, SearchMode mode,
                           const SearchResult& result, bool with_text);

}  // namespace hearth::context
