#include "context/injection.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_set>

#include "context/retrieval.h"

namespace hearth::context {

namespace {

constexpr const char* kPreamble =
    "Excerpts from the user's files, numbered. Use them when they help answer, cite them by number like [1], "
    "and say so when they do not contain the answer.";

// A follow-up leans on the turn before it: few words of its own, or opening with a word that points back.
bool is_follow_up(const std::string& message) {
  static const std::unordered_set<std::string> cues = {"and", "but", "also", "so", "then", "why", "how",
                                                       "what", "it", "that", "this", "those", "these", "they",
                                                       "them", "its", "same", "more", "else", "ok", "okay"};
  static const std::unordered_set<std::string> pointers = {"it", "that", "this", "those", "these", "they", "them",
                                                           "its", "there", "he", "she", "one", "ones"};
  const std::vector<std::string> words = split_words(message);
  if (words.empty()) return true;
  if (query_terms(message).size() <= 2) return true;
  if (words.size() <= 8 && cues.count(words[0])) return true;
  for (const std::string& w : words)
    if (pointers.count(w) && words.size() <= 12) return true;
  return false;
}

struct Sentence {
  size_t begin, end;  // bytes of the chunk text
  int hits = 0;       // distinct query terms in it
};

// Sentences (and lines, for code and lists) of a chunk.
std::vector<Sentence> sentences_of(const std::string& text) {
  std::vector<Sentence> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool end_mark = (c == '.' || c == '!' || c == '?') && (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\n');
    if (c == '\n' || end_mark) {
      if (i + 1 > start) out.push_back({start, i + 1});
      start = i + 1;
    }
  }
  if (start < text.size()) out.push_back({start, text.size()});
  // Whitespace-only pieces carry nothing.
  out.erase(std::remove_if(out.begin(), out.end(),
                           [&](const Sentence& s) {
                             return text.find_first_not_of(" \t\r\n\f", s.begin) >= s.end;
                           }),
            out.end());
  return out;
}

std::string trim(std::string s) {
  const size_t b = s.find_first_not_of(" \t\r\n\f");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n\f");
  return s.substr(b, e - b + 1);
}

uint32_t line_at(const std::string& text, size_t byte, uint32_t first_line) {
  return first_line + uint32_t(std::count(text.begin(), text.begin() + std::ptrdiff_t(byte), '\n'));
}

std::string header_of(int id, const ContextSource& s) {
  std::string h = fmt::format("[{}] {}:{}-{}", id, s.path, s.line_begin, s.line_end);
  if (!s.title.empty()) h += " (" + s.title + ")";
  return h;
}

}  // namespace

std::string retrieval_query(const std::vector<ChatTurn>& conversation) {
  std::vector<const std::string*> users;
  for (const ChatTurn& t : conversation)
    if (t.role == "user" && !trim(t.content).empty()) users.push_back(&t.content);
  if (users.empty()) return "";
  const std::string& last = *users.back();
  if (users.size() >= 2 && is_follow_up(last)) return *users[users.size() - 2] + "\n" + last;
  return last;
}

Injection build_injection(const std::string& query, const std::vector<SearchHit>& hits,
                          const TokenCounter& count_tokens, int budget_tokens) {
  Injection inj;
  if (hits.empty() || budget_tokens <= 0) return inj;
  const std::vector<std::string> terms = query_terms(query);
  const int preamble = count_tokens(kPreamble) + 2;
  int left = budget_tokens - preamble;
  if (left <= 0) return inj;

  std::vector<ContextSource> sources;
  std::vector<int> full_cost;
  int total = 0;
  for (const SearchHit& h : hits) {
    ContextSource s;
    s.path = h.chunk.path;
    s.line_begin = h.chunk.line_begin;
    s.line_end = h.chunk.line_end;
    s.title = h.chunk.title;
    s.snippet = h.snippet;
    s.marks = h.marks;
    s.score = h.score;
    s.excerpt = trim(h.chunk.text);
    const int cost = count_tokens(header_of(int(sources.size()) + 1, s)) + count_tokens(s.excerpt) + 2;
    total += cost;
    full_cost.push_back(cost);
    sources.push_back(std::move(s));
  }
  if (total > left) {
    // Too much: every hit gets an equal share, best hits first take what the others leave unused.
    int remaining = left;
    for (size_t i = 0; i < sources.size(); ++i) {
      const int share = remaining / int(sources.size() - i);
      ContextSource& s = sources[i];
      const SearchHit& h = hits[i];
      const int head = count_tokens(header_of(int(i) + 1, s)) + 2;
      if (full_cost[i] <= share) {
        remaining -= full_cost[i];
        continue;
      }
      const std::string& text = h.chunk.text;
      std::vector<Sentence> sentences = sentences_of(text);
      for (Sentence& sen : sentences) {
        std::unordered_set<std::string> seen;
        for (const std::string& w : split_words(std::string_view(text).substr(sen.begin, sen.end - sen.begin)))
          for (const std::string& t : terms)
            if (w.compare(0, t.size(), t) == 0) seen.insert(t);
        sen.hits = int(seen.size());
      }
      std::vector<size_t> order(sentences.size());
      for (size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return sentences[a].hits > sentences[b].hits; });
      std::vector<size_t> kept;
      int used = head;
      for (size_t k : order) {
        const int cost = count_tokens(std::string_view(text).substr(sentences[k].begin,
                                                                    sentences[k].end - sentences[k].begin)) + 1;
        if (used + cost > share) continue;
        used += cost;
        kept.push_back(k);
      }
      std::sort(kept.begin(), kept.end());
      std::string excerpt;
      for (size_t n = 0; n < kept.size(); ++n) {
        if (n && sentences[kept[n]].begin != sentences[kept[n - 1]].end) excerpt += " … ";
        excerpt += text.substr(sentences[kept[n]].begin, sentences[kept[n]].end - sentences[kept[n]].begin);
      }
      s.excerpt = trim(excerpt);
      if (!kept.empty()) {
        // The lines of the first and last visible character kept.
        s.line_begin = line_at(text, text.find_first_not_of(" \t\r\n\f", sentences[kept.front()].begin), h.chunk.line_begin);
        s.line_end = line_at(text, text.find_last_not_of(" \t\r\n\f", sentences[kept.back()].end - 1), h.chunk.line_begin);
      }
      // Counted again as assembled: the sum of pieces is an estimate, the budget is not.
      const int cost = s.excerpt.empty() ? 0 : count_tokens(header_of(int(i) + 1, s)) + count_tokens(s.excerpt) + 2;
      if (s.excerpt.empty() || cost > share) s.excerpt.clear();
      else remaining -= cost;
    }
  }
  std::string block = kPreamble;
  for (ContextSource& s : sources) {
    if (s.excerpt.empty()) continue;
    s.id = int(inj.sources.size()) + 1;
    block += "\n\n" + header_of(s.id, s) + "\n" + s.excerpt;
    inj.sources.push_back(std::move(s));
  }
  if (inj.sources.empty()) return inj;
  inj.block = std::move(block);
  inj.tokens = count_tokens(inj.block);
  // Renumbering after a dropped hit can change a header's digits; trim from the end until the budget holds.
  while (inj.tokens > budget_tokens && !inj.sources.empty()) {
    inj.sources.pop_back();
    inj.block = kPreamble;
    for (const ContextSource& s : inj.sources) inj.block += "\n\n" + header_of(s.id, s) + "\n" + s.excerpt;
    inj.tokens = inj.sources.empty() ? 0 : count_tokens(inj.block);
  }
  if (inj.sources.empty()) inj.block.clear();
  return inj;
}

std::string system_with_context(const std::string& system, const Injection& injection) {
  if (injection.block.empty()) return system;
  if (trim(system).empty()) return injection.block;
  return system + "\n\n" + injection.block;
}

}  // namespace hearth::context
