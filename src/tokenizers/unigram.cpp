#include "tokenizers/unigram.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "core/error.h"
#include "core/utf8.h"
#include "formats/metadata.h"

namespace hearth {
namespace {

constexpr char32_t kSeparator = U'\u2581';  // "▁", SentencePiece's word-boundary mark

// JavaScript's String.prototype.normalize("NFKC"). The length is passed explicitly so NUL characters survive.
std::string nfkc(std::string_view text) {
  if (text.empty()) return {};
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    utf8proc_ssize_t(text.size()), &out,
                                    utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
  if (n < 0) fail("NFKC normalization failed: {}", utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), size_t(n));
  std::free(out);
  return result;
}

}  // namespace

UseUnigramTokenizer::UseUnigramTokenizer(std::vector<std::string> pieces, std::vector<double> scores, int reserved)
    : pieces_(std::move(pieces)) {
  if (pieces_.empty()) fail(ErrorKind::kCorruptData, "use-unigram tokenizer: empty vocabulary");
  if (scores.size() != pieces_.size())
    fail(ErrorKind::kCorruptData, "use-unigram tokenizer: {} pieces but {} scores", pieces_.size(), scores.size());
  if (reserved < 1 || size_t(reserved) >= pieces_.size())
    fail(ErrorKind::kCorruptData, "use-unigram tokenizer: {} reserved ids for a vocabulary of {}", reserved,
         pieces_.size());
  if (pieces_.size() > size_t(INT32_MAX)) fail(ErrorKind::kCorruptData, "use-unigram tokenizer: vocabulary too large");

  piece_lengths_.resize(pieces_.size());
  nodes_.emplace_back();
  std::unordered_map<uint64_t, int32_t> edges;
  for (size_t id = 0; id < pieces_.size(); ++id) {
    const std::string& piece = pieces_[id];
    if (!utf8_valid(piece)) fail(ErrorKind::kCorruptData, "use-unigram tokenizer: piece {} is not valid UTF-8", id);
    std::vector<char32_t> cps = utf8_decode(piece);
    if (cps.empty()) fail(ErrorKind::kCorruptData, "use-unigram tokenizer: piece {} is empty", id);
    piece_lengths_[id] = int32_t(cps.size());
    // The reserved pieces (unknown, <s>, </s>, extra ids) are in the table but never matched from text.
    if (id < size_t(reserved)) continue;
    int32_t node = 0;
    for (char32_t cp : cps) {
      auto [it, inserted] = edges.try_emplace(edge_key(node, cp), int32_t(nodes_.size()));
      if (inserted) nodes_.emplace_back();
      node = it->second;
    }
    // A duplicated piece: the later id wins, as in the reference trie.
    nodes_[node] = Node{int32_t(id), scores[id], int32_t(cps.size())};
    max_piece_length_ = std::max(max_piece_length_, int(cps.size()));
  }
  int bits = 1;
  while ((size_t(1) << bits) < 2 * edges.size()) ++bits;
  edges_.assign(size_t(1) << bits, Edge{kNoEdge, -1});
  edge_mask_ = (uint64_t(1) << bits) - 1;
  edge_shift_ = 64 - bits;
  for (const auto& [key, child] : edges)
    for (uint64_t slot = first_slot(key);; slot = (slot + 1) & edge_mask_)
      if (edges_[slot].key == kNoEdge) {
        edges_[slot] = Edge{key, child};
        break;
      }
  special_.unk = 0;
}

std::vector<int32_t> UseUnigramTokenizer::encode(std::string_view text, bool, bool) const {
  if (!utf8_valid(text)) fail("use-unigram tokenizer: input is not valid UTF-8");
  std::vector<char32_t> sym;
  {
    std::vector<char32_t> normalized = utf8_decode(nfkc(text));
    if (normalized.empty()) return {};
    sym.reserve(normalized.size() + 1);
    sym.push_back(kSeparator);
    for (char32_t c : normalized) sym.push_back(c == U' ' ? kSeparator : c);
  }
  const size_t n = sym.size();

  // Lattice: every candidate (start, end, id, score), generated in ascending start order. The Viterbi visits
  // them grouped by end and, within an end, in ascending start: the order of the reference's
  // `for (startPos in nodes[e])`, which decides ties. A counting sort by end keeps the start order.
  struct Cand {
    int32_t start, end, id;
    double score;
  };
  std::vector<Cand> cands;
  cands.reserve(n * 2);
  for (size_t s = 0; s < n; ++s) {
    bool matched = false;
    int32_t node = 0;
    for (size_t e = s; e < n && e - s < size_t(max_piece_length_); ++e) {
      node = child(node, sym[e]);
      if (node < 0) break;
      const Node& nd = nodes_[size_t(node)];
      if (nd.id >= 0) {
        cands.push_back({int32_t(s), int32_t(e + 1), nd.id, nd.score});
        matched = true;
      }
    }
    if (!matched) cands.push_back({int32_t(s), int32_t(s + 1), 0, 0.0});  // unknown, one code point
  }
  std::vector<uint32_t> first(n + 2, 0);
  for (const Cand& c : cands) ++first[size_t(c.end) + 1];
  for (size_t e = 1; e < first.size(); ++e) first[e] += first[e - 1];
  std::vector<Cand> by_end(cands.size());
  {
    std::vector<uint32_t> next(first.begin(), first.end() - 1);
    for (const Cand& c : cands) by_end[next[size_t(c.end)]++] = c;
  }

  // Forward Viterbi in double; best[e] == 0 doubles as "unset" in the reference, so a real total of 0 loses.
  std::vector<double> best(n + 1, 0.0);
  std::vector<int32_t> word(n + 1, 0);
  for (const Cand& c : by_end) {
    const size_t e = size_t(c.end);
    const double v = c.score + best[size_t(c.start)];
    if (best[e] == 0 || v >= best[e]) {
      best[e] = v;
      word[e] = c.id;
    }
  }

  std::vector<int32_t> reversed;
  for (size_t e = n; e > 0;) {
    int32_t id = word[e];
    reversed.push_back(id);
    size_t len = size_t(piece_lengths_[size_t(id)]);
    e = len > e ? 0 : e - len;
  }
  std::vector<int32_t> out;
  out.reserve(reversed.size());
  for (auto it = reversed.rbegin(); it != reversed.rend(); ++it)
    if (!(*it == 0 && !out.empty() && out.back() == 0)) out.push_back(*it);
  return out;
}

std::string UseUnigramTokenizer::token_to_piece(int32_t id, bool) const {
  if (id < 0 || size_t(id) >= pieces_.size()) fail("use-unigram tokenizer: token id {} out of range", id);
  std::string out;
  for (char32_t c : utf8_decode(pieces_[size_t(id)])) utf8_append(out, c == kSeparator ? U' ' : c);
  return out;
}

std::string UseUnigramTokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += token_to_piece(id, render_special);
  // The encoder prefixes every non-empty text with one separator.
  if (!out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

std::unique_ptr<Tokenizer> make_use_unigram_tokenizer(const Metadata& metadata, const std::string& source) {
  const std::vector<std::string>* tokens = metadata.find_strings("tokenizer.ggml.tokens");
  if (tokens == nullptr) fail(ErrorKind::kCorruptData, "{}: missing metadata key 'tokenizer.ggml.tokens'", source);
  auto scores = metadata.find_floats("tokenizer.ggml.scores");
  if (!scores) fail(ErrorKind::kCorruptData, "{}: missing metadata key 'tokenizer.ggml.scores'", source);
  int64_t reserved = metadata.find_int("use.tokenizer.reserved_tokens").value_or(6);
  if (reserved < 1 || reserved > INT32_MAX)
    fail(ErrorKind::kCorruptData, "{}: invalid use.tokenizer.reserved_tokens {}", source, reserved);
  try {
    auto tok = std::make_unique<UseUnigramTokenizer>(*tokens, std::move(*scores), int(reserved));
    if (auto n = metadata.find_int("use.context_length")) tok->set_max_tokens(int(std::clamp<int64_t>(*n, 0, INT32_MAX)));
    return tok;
  } catch (const Error& e) {
    fail(e.kind(), "{}: {}", source, e.what());
  }
}

}  // namespace hearth
