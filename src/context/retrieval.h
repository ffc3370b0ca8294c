// The pure parts of retrieval, apart from any store: query words, reciprocal rank fusion, snippets. Separate so
// they are tested on their own and shared by the CLI, the server and context injection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::context {

// The words of `text` as FTS5's unicode61 tokenizer splits them (letters and digits of any script; everything
// else separates), lowercased, in order, duplicates kept.
std::vector<std::string> split_words(std::string_view text);

// The BM25 terms of a query: its words, deduplicated, without English stop words (unless that leaves none), at
// most 32. Stop words would match nearly every chunk, costing time while barely changing the ranking.
std::vector<std::string> query_terms(std::string_view query);

// A ranked list's contribution to the fusion: ids best first, and the list's weight.
struct RankedList {
  std::vector<int64_t> ids;
  double weight = 1.0;
};

struct FusedId {
  int64_t id = 0;
  double score = 0;             // sum over lists of weight / (k + rank)
  std::vector<int> ranks;       // 1-based rank in each list, 0 = absent
};

// Reciprocal rank fusion (Cormack et al., 2009): score(d) = sum_i w_i / (k + rank_i(d)). Best first; ties keep
// the order of first appearance (list 0 first), so results are deterministic.
std::vector<FusedId> reciprocal_rank_fusion(const std::vector<RankedList>& lists, int k = 60);

struct Snippet {
  std::string text;                        // a window of the source, whole words, "…" where cut
  std::vector<std::pair<int, int>> marks;  // [begin, end) in code points of `text`: words matching a term
};

// The window of at most about `max_chars` characters of `text` with the most distinct query terms (a word
// matches a term when it starts with it, so "index" marks "indexing"), with those words marked.
Snippet make_snippet(std::string_view text, const std::vector<std::string>& terms, size_t max_chars = 240);

// Levenshtein distance of two short strings (bytes), stopping early past `limit` (returns limit + 1).
int edit_distance(std::string_view a, std::string_view b, int limit);

}  // namespace hearth::context
