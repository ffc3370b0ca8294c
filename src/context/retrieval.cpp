#include "context/retrieval.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <unordered_map>
#include <unordered_set>

#include "core/utf8.h"

namespace hearth::context {

namespace {

// FTS5's unicode61 keeps letters, numbers and private-use characters as token characters.
bool is_word_char(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC:
      return true;
    default:
      return false;
  }
}

char32_t lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  return char32_t(utf8proc_tolower(utf8proc_int32_t(cp)));
}

// A word of a text: its byte range, code point range and lowercased form.
struct Word {
  size_t byte_begin, byte_end;
  int cp_begin, cp_end;
  std::string lowered;
};

std::vector<Word> words_of(std::string_view text) {
  std::vector<Word> words;
  size_t i = 0;
  int cp_index = 0;
  bool in_word = false;
  Word current{};
  while (i < text.size()) {
    char32_t cp = 0;
    const int n = utf8_next(text, i, cp);
    const size_t step = n > 0 ? size_t(n) : 1;
    const bool word_char = n > 0 && is_word_char(cp);
    if (word_char) {
      if (!in_word) current = Word{i, i, cp_index, cp_index, {}};
      in_word = true;
      utf8_append(current.lowered, lower(cp));
      current.byte_end = i + step;
      current.cp_end = cp_index + 1;
    } else if (in_word) {
      words.push_back(std::move(current));
      in_word = false;
    }
    i += step;
    ++cp_index;
  }
  if (in_word) words.push_back(std::move(current));
  return words;
}

const std::unordered_set<std::string>& stop_words() {
  static const std::unordered_set<std::string> words = {
      "a", "about", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from", "how",
      "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "so", "that", "the",
      "their", "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when",
      "where", "which", "who", "why", "will", "with", "you", "your"};
  return words;
}

bool matches_term(const std::string& word, const std::vector<std::string>& terms, size_t* which) {
  for (size_t t = 0; t < terms.size(); ++t) {
    if (word.size() >= terms[t].size() && word.compare(0, terms[t].size(), terms[t]) == 0) {
      *which = t;
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  for (auto& w : words_of(text)) out.push_back(std::move(w.lowered));
  return out;
}

std::vector<std::string> query_terms(std::string_view query) {
  std::vector<std::string> all, kept;
  std::unordered_set<std::string> seen;
  for (auto& w : split_words(query)) {
    if (!seen.insert(w).second) continue;
    all.push_back(w);
    if (!stop_words().count(w)) kept.push_back(w);
  }
  std::vector<std::string>& terms = kept.empty() ? all : kept;
  if (terms.size() > 32) terms.resize(32);
  return terms;
}

std::vector<FusedId> reciprocal_rank_fusion(const std::vector<RankedList>& lists, int k) {
  std::vector<FusedId> fused;
  std::unordered_map<int64_t, size_t> at;
  for (size_t l = 0; l < lists.size(); ++l) {
    for (size_t r = 0; r < lists[l].ids.size(); ++r) {
      const int64_t id = lists[l].ids[r];
      auto [it, fresh] = at.emplace(id, fused.size());
      if (fresh) fused.push_back(FusedId{id, 0, std::vector<int>(lists.size(), 0)});
      FusedId& f = fused[it->second];
      if (f.ranks[l] != 0) continue;  // an id listed twice counts once, at its best rank
      f.ranks[l] = int(r) + 1;
      f.score += lists[l].weight / double(k + int(r) + 1);
    }
  }
  std::stable_sort(fused.begin(), fused.end(), [](const FusedId& a, const FusedId& b) { return a.score > b.score; });
  return fused;
}

Snippet make_snippet(std::string_view text, const std::vector<std::string>& terms, size_t max_chars) {
  const std::vector<Word> words = words_of(text);
  std::vector<int> term_of(words.size(), -1);
  for (size_t w = 0; w < words.size(); ++w) {
    size_t t = 0;
    if (matches_term(words[w].lowered, terms, &t)) term_of[w] = int(t);
  }
  // The window: a run of words spanning at most max_chars code points, with the most distinct terms (then the
  // earliest), found with two pointers.
  size_t best_begin = 0;
  int best_distinct = -1;
  std::vector<int> counts(terms.size(), 0);
  int distinct = 0;
  size_t lo = 0;
  for (size_t hi = 0; hi < words.size(); ++hi) {
    if (term_of[hi] >= 0 && counts[size_t(term_of[hi])]++ == 0) ++distinct;
    while (size_t(words[hi].cp_end - words[lo].cp_begin) > max_chars && lo < hi) {
      if (term_of[lo] >= 0 && --counts[size_t(term_of[lo])] == 0) --distinct;
      ++lo;
    }
    if (distinct > best_distinct) {
      best_distinct = distinct;
      best_begin = lo;
    }
  }
  // Start a few words before the window's first match, so the snippet leads into it.
  size_t first = best_begin;
  while (first < words.size() && term_of[first] < 0) ++first;
  if (first < words.size() && first >= best_begin + 4) best_begin = first - 4;
  Snippet s;
  if (words.empty()) {
    s.text = std::string(text.substr(0, std::min(text.size(), max_chars)));
    return s;
  }
  // Extend the window to max_chars from its start, so a snippet reads as a passage and not a few words.
  size_t end = best_begin;
  while (end < words.size() && size_t(words[end].cp_end - words[best_begin].cp_begin) <= max_chars) ++end;
  end = std::max(end, std::min(words.size(), best_begin + 1));
  const size_t byte_begin = best_begin == 0 ? 0 : words[best_begin].byte_begin;
  const size_t byte_end = end == words.size() ? text.size() : words[end - 1].byte_end;
  const bool cut_front = byte_begin > 0, cut_back = byte_end < text.size();
  const int cp_base = best_begin == 0 ? 0 : words[best_begin].cp_begin;
  const int prefix = cut_front ? 2 : 0;  // "… " is two code points
  if (cut_front) s.text = "\xE2\x80\xA6 ";
  // Collapse runs of whitespace (newlines of code and lists) so the snippet is one line; marks follow.
  std::string_view body = text.substr(byte_begin, byte_end - byte_begin);
  std::vector<int> cp_map;  // code point index in body -> index in s.text
  int out_cp = prefix;
  bool space = false;
  for (size_t i = 0; i < body.size();) {
    char32_t cp = 0;
    const int n = utf8_next(body, i, cp);
    const size_t step = n > 0 ? size_t(n) : 1;
    const bool ws = n > 0 && (cp == ' ' || cp == '\n' || cp == '\t' || cp == '\r' || cp == '\f' || cp == '\v');
    if (ws) {
      if (!space) {
        s.text += ' ';
        ++out_cp;
      }
      space = true;
      cp_map.push_back(out_cp - 1);
    } else {
      space = false;
      cp_map.push_back(out_cp);
      if (n > 0) utf8_append(s.text, cp);
      else s.text += "\xEF\xBF\xBD";
      ++out_cp;
    }
    i += step;
  }
  cp_map.push_back(out_cp);
  if (cut_back) s.text += " \xE2\x80\xA6";
  for (size_t w = best_begin; w < end; ++w) {
    if (term_of[w] < 0) continue;
    const int b = words[w].cp_begin - cp_base, e = words[w].cp_end - cp_base;
    if (b < 0 || size_t(e) >= cp_map.size()) continue;
    s.marks.emplace_back(cp_map[size_t(b)], cp_map[size_t(e) - 1] + 1);
  }
  return s;
}

int edit_distance(std::string_view a, std::string_view b, int limit) {
  if (int(a.size()) - int(b.size()) > limit || int(b.size()) - int(a.size()) > limit) return limit + 1;
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = int(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = int(i);
    int row_min = cur[0];
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > limit) return limit + 1;
    std::swap(prev, cur);
  }
  return std::min(prev[b.size()], limit + 1);
}

}  // namespace hearth::context
