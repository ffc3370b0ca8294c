#include "tokenizers/hf/pipeline.h"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/utf8.h"
#include "tokenizers/bpe.h"
#include "tokenizers/hf/components.h"
#include "tokenizers/hf/json_fields.h"
#include "tokenizers/vocab.h"

namespace hearth::hf {
namespace {

using nlohmann::json;

// The type name in errors about a section whose type is not known yet.
const std::string kUnnamed = "(any)";

// Ids beyond this are a corrupt file, not a vocabulary (the largest real ones are ~260k); ids are also expected
// to be nearly dense, so a few entries cannot make the loader allocate millions of slots.
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxHoles = 1 << 16;

// Token texts by id (the model's vocabulary, then the added tokens) and the reverse map.
class Vocabulary {
 public:
  Vocabulary(int64_t expected_entries, std::string source) : expected_(expected_entries), source_(std::move(source)) {}

  void set(int64_t id, std::string text) {
    if (id < 0 || id >= kMaxVocab || id >= expected_ + kMaxHoles)
      fail(ErrorKind::kCorruptData, "{}: token '{}' has id {} (out of range for {} entries)", source_, text, id,
           expected_);
    if (size_t(id) >= texts_.size()) texts_.resize(size_t(id) + 1);
    texts_[size_t(id)] = std::move(text);
    order_.push_back(int32_t(id));
  }
  // Builds the text -> id map; a text given twice maps to the id set first: the model's own entry, which is
  // the one its algorithm produces (the library keeps added tokens in a vocabulary of their own). Call once,
  // after the last set().
  void index() {
    if (texts_.empty()) fail(ErrorKind::kCorruptData, "{}: empty vocabulary", source_);
    ids_.reserve(order_.size());
    for (int32_t id : order_) ids_.emplace(texts_[size_t(id)], id);
    order_.clear();
    order_.shrink_to_fit();
  }

  int32_t find(std::string_view text) const {
    auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
  }
  int32_t size() const { return int32_t(texts_.size()); }
  const std::string& text(int32_t id) const { return texts_[size_t(id)]; }
  const std::string& source() const { return source_; }

 private:
  int64_t expected_;
  std::string source_;
  std::vector<std::string> texts_;
  std::vector<int32_t> order_;
  std::unordered_map<std::string_view, int32_t> ids_;  // views into texts_, which no longer changes
};

// ---- Models: one pre-tokenized piece -> ids --------------------------------------------------------------

class Model {
 public:
  virtual ~Model() = default;
  virtual void tokenize(const std::string& piece, std::vector<int32_t>& out) const = 0;
  virtual std::string type_name() const = 0;
  int32_t unk() const { return unk_; }

 protected:
  int32_t unk_ = -1;
};

// "<0xNN>" ids of the 256 bytes (-1 where absent).
std::vector<int32_t> byte_token_ids(const Vocabulary& vocab) {
  std::vector<int32_t> ids(256);
  for (int b = 0; b < 256; ++b) ids[size_t(b)] = vocab.find(fmt::format("<0x{:02X}>", b));
  return ids;
}

// Appends the byte tokens of `text` if the vocabulary has all of them; false (nothing appended) otherwise.
bool append_bytes(std::string_view text, const std::vector<int32_t>& byte_ids, std::vector<int32_t>& out) {
  for (char c : text)
    if (byte_ids[static_cast<uint8_t>(c)] < 0) return false;
  for (char c : text) out.push_back(byte_ids[static_cast<uint8_t>(c)]);
  return true;
}

// The UTF-8 characters of s (an invalid byte is a character of its own).
std::vector<std::string_view> characters(std::string_view s) {
  std::vector<std::string_view> chars;
  for (size_t i = 0; i < s.size();) {
    size_t len = std::min<size_t>(utf8_seq_len(static_cast<unsigned char>(s[i])), s.size() - i);
    if (len > 1 && !utf8_valid(s.substr(i, len))) len = 1;
    chars.push_back(s.substr(i, len));
    i += len;
  }
  return chars;
}

// Merge-rank BPE over the piece's characters (the library's BPE model).
class BpeModel final : public Model {
 public:
  inline static const std::string kType = "BPE";
  BpeModel(const json& m, const Vocabulary& vocab) : vocab_(vocab) {
    const std::string& src = vocab.source();
    const Where w{src, "model", kType};
    if (const json* d = find(m, "dropout"); d && d->is_number() && d->get<double>() != 0.0)
      fail(ErrorKind::kUnsupported, "{}: BPE dropout {} makes tokenization random; only dropout 0 / null is supported",
           src, d->get<double>());
    const std::string unk = string_or(m, "unk_token", "", w);
    if (!unk.empty()) {
      unk_ = vocab.find(unk);
      if (unk_ < 0) fail(ErrorKind::kCorruptData, "{}: BPE unk_token '{}' is not in the vocabulary", src, unk);
    }
    prefix_ = string_or(m, "continuing_subword_prefix", "", w);
    suffix_ = string_or(m, "end_of_word_suffix", "", w);
    fuse_unk_ = bool_or(m, "fuse_unk", false, w);
    byte_fallback_ = bool_or(m, "byte_fallback", false, w);
    ignore_merges_ = bool_or(m, "ignore_merges", false, w);
    if (byte_fallback_) byte_ids_ = byte_token_ids(vocab);

    const json* merges = find(m, "merges");
    if (!merges || !merges->is_array()) fail(ErrorKind::kCorruptData, "{}: BPE model without a 'merges' list", src);
    int32_t rank = 0;
    for (const json& merge : *merges) {
      std::string a, b;
      if (merge.is_string()) {
        // The legacy "left right" form: the parts are separated by the first space after the first byte.
        const std::string& s = merge.get_ref<const std::string&>();
        const size_t sp = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
        if (sp == std::string::npos)
          fail(ErrorKind::kCorruptData, "{}: merge #{} '{}' is not \"left right\"", src, rank, s);
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        a = merge[0].get<std::string>();
        b = merge[1].get<std::string>();
      } else {
        fail(ErrorKind::kCorruptData, "{}: merge #{} is neither \"a b\" nor [\"a\", \"b\"]", src, rank);
      }
      // The right part of a merge carries the continuing-subword prefix, which the merged token does not.
      const std::string merged = a + (b.compare(0, prefix_.size(), prefix_) == 0 ? b.substr(prefix_.size()) : b);
      const int32_t ia = vocab.find(a), ib = vocab.find(b), im = vocab.find(merged);
      // A merge whose parts or result are not tokens can never produce a token: the library refuses such a
      // file, transformers.js ignores the merge; ignoring it tokenizes every text the same.
      if (ia >= 0 && ib >= 0 && im >= 0) merges_.add(ia, ib, rank, im);
      ++rank;
    }
  }

  void tokenize(const std::string& piece, std::vector<int32_t>& out) const override {
    if (piece.empty()) return;
    if (ignore_merges_)
      if (int32_t id = vocab_.find(piece); id >= 0) {
        out.push_back(id);
        return;
      }
    const bool cacheable = piece.size() < kMaxCachedPiece;
    if (cacheable) {
      std::lock_guard<std::mutex> lock(cache_mu_);
      if (auto it = cache_.find(piece); it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int32_t> ids;
    merge(piece, ids);
    if (cacheable) {
      std::lock_guard<std::mutex> lock(cache_mu_);
      if (cache_.size() >= kMaxCacheEntries) cache_.clear();
      cache_.emplace(piece, ids);
    }
    out.insert(out.end(), ids.begin(), ids.end());
  }

  std::string type_name() const override { return "bpe"; }

 private:
  static constexpr size_t kMaxCachedPiece = 256;
  static constexpr size_t kMaxCacheEntries = 1 << 16;
  static constexpr int32_t kUnknown = -2;  // a character without a token; fused or replaced after merging

  void merge(std::string_view piece, std::vector<int32_t>& out) const {
    const std::vector<std::string_view> chars = characters(piece);
    std::vector<int32_t> syms;
    syms.reserve(chars.size());
    std::string s;
    for (size_t i = 0; i < chars.size(); ++i) {
      s.clear();
      if (i > 0) s += prefix_;
      s += chars[i];
      if (i + 1 == chars.size()) s += suffix_;
      if (int32_t id = vocab_.find(s); id >= 0) {
        syms.push_back(id);
      } else if (!(byte_fallback_ && append_bytes(s, byte_ids_, syms))) {
        syms.push_back(kUnknown);
      }
    }
    merges_.apply(syms);
    bool prev_unknown = false;
    for (int32_t id : syms) {
      if (id != kUnknown) {
        out.push_back(id);
      } else if (unk_ >= 0 && !(fuse_unk_ && prev_unknown)) {
        out.push_back(unk_);
      }
      // Without an unknown token, a character the vocabulary cannot spell is dropped, as the library does.
      prev_unknown = id == kUnknown;
    }
  }

  const Vocabulary& vocab_;
  std::string prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::vector<int32_t> byte_ids_;
  BpeMerges merges_;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

// Greedy longest-match-first subwords, continuations spelled with a prefix ("##"): BERT's WordPiece.
class WordPieceModel final : public Model {
 public:
  inline static const std::string kType = "WordPiece";
  WordPieceModel(const json& m, const Vocabulary& vocab) : vocab_(vocab) {
    const std::string& src = vocab.source();
    const Where w{src, "model", kType};
    const std::string unk = string_or(m, "unk_token", "[UNK]", w);
    unk_ = vocab.find(unk);
    if (unk_ < 0) fail(ErrorKind::kCorruptData, "{}: WordPiece unk_token '{}' is not in the vocabulary", src, unk);
    prefix_ = string_or(m, "continuing_subword_prefix", "##", w);
    const int64_t max_chars = int_or(m, "max_input_chars_per_word", 100, w);
    if (max_chars <= 0) fail(ErrorKind::kCorruptData, "{}: WordPiece max_input_chars_per_word must be positive", src);
    max_chars_ = size_t(max_chars);
  }

  void tokenize(const std::string& piece, std::vector<int32_t>& out) const override {
    const std::vector<std::string_view> chars = characters(piece);
    if (chars.empty()) return;
    if (chars.size() > max_chars_) {
      out.push_back(unk_);
      return;
    }
    const size_t mark = out.size();
    std::string candidate;
    for (size_t start = 0; start < chars.size();) {
      int32_t found = -1;
      size_t end = chars.size();
      for (; end > start; --end) {
        candidate = start > 0 ? prefix_ : std::string();
        const char* first = chars[start].data();
        candidate.append(first, size_t(chars[end - 1].data() + chars[end - 1].size() - first));
        if ((found = vocab_.find(candidate)) >= 0) break;
      }
      if (found < 0) {  // one unmatchable stretch makes the whole word unknown
        out.resize(mark);
        out.push_back(unk_);
        return;
      }
      out.push_back(found);
      start = end;
    }
  }

  std::string type_name() const override { return "wordpiece"; }

 private:
  const Vocabulary& vocab_;
  std::string prefix_;
  size_t max_chars_ = 100;
};

// Each piece is one token, or the unknown token.
class WordLevelModel final : public Model {
 public:
  inline static const std::string kType = "WordLevel";
  WordLevelModel(const json& m, const Vocabulary& vocab) : vocab_(vocab) {
    const Where w{vocab.source(), "model", kType};
    const std::string unk = string_or(m, "unk_token", "", w);
    unk_ = unk.empty() ? -1 : vocab.find(unk);
  }

  void tokenize(const std::string& piece, std::vector<int32_t>& out) const override {
    if (piece.empty()) return;
    if (int32_t id = vocab_.find(piece); id >= 0) {
      out.push_back(id);
    } else if (unk_ >= 0) {
      out.push_back(unk_);
    } else {
      fail("{}: '{}' is not in the WordLevel vocabulary, which has no unknown token", vocab_.source(), piece);
    }
  }

  std::string type_name() const override { return "wordlevel"; }

 private:
  const Vocabulary& vocab_;
};

// SentencePiece's unigram model: the segmentation of highest total log-probability (Viterbi). A character no
// piece covers costs the lowest score minus 10 and becomes the unknown token (consecutive ones fused), or its
// byte tokens with byte_fallback.
class UnigramModel final : public Model {
 public:
  inline static const std::string kType = "Unigram";
  UnigramModel(std::vector<double> scores, const json& m, const Vocabulary& vocab)
      : vocab_(vocab), scores_(std::move(scores)) {
    const std::string& src = vocab.source();
    const Where w{src, "model", kType};
    const int64_t unk = int_or(m, "unk_id", -1, w);
    if (unk >= int64_t(scores_.size()))
      fail(ErrorKind::kCorruptData, "{}: Unigram unk_id {} is outside the vocabulary", src, unk);
    unk_ = int32_t(unk);
    byte_fallback_ = bool_or(m, "byte_fallback", false, w);
    if (byte_fallback_) byte_ids_ = byte_token_ids(vocab);
    double min_score = 0;
    for (size_t id = 0; id < scores_.size(); ++id) {
      min_score = std::min(min_score, scores_[id]);
      max_piece_bytes_ = std::max(max_piece_bytes_, vocab.text(int32_t(id)).size());
    }
    unknown_score_ = min_score - 10.0;
  }

  void tokenize(const std::string& piece, std::vector<int32_t>& out) const override {
    if (piece.empty()) return;
    struct Best {
      double score = -std::numeric_limits<double>::infinity();
      size_t start = 0;
      int32_t id = -1;  // -1: not reached; kUnknown: an unknown character
      bool reached = false;
    };
    const size_t n = piece.size();
    std::vector<Best> best(n + 1);
    best[0].reached = true;
    best[0].score = 0;
    const std::string_view text(piece);
    for (size_t start = 0; start < n;) {
      size_t char_len = std::min<size_t>(utf8_seq_len(static_cast<unsigned char>(text[start])), n - start);
      if (char_len > 1 && !utf8_valid(text.substr(start, char_len))) char_len = 1;
      const double here = best[start].score;
      bool single_char_piece = false;
      for (size_t len = 1; len <= std::min(max_piece_bytes_, n - start); ++len) {
        const int32_t id = vocab_.find(text.substr(start, len));
        if (id < 0 || size_t(id) >= scores_.size()) continue;
        Best& b = best[start + len];
        const double candidate = here + scores_[size_t(id)];
        if (!b.reached || candidate > b.score) b = {candidate, start, id, true};
        if (len == char_len) single_char_piece = true;
      }
      if (!single_char_piece) {
        Best& b = best[start + char_len];
        const double candidate = here + unknown_score_;
        if (!b.reached || candidate > b.score) b = {candidate, start, kUnknown, true};
      }
      start += char_len;
    }
    // Back from the end; then forward, fusing runs of unknown characters.
    struct Span {
      size_t start, end;
      int32_t id;
    };
    std::vector<Span> spans;
    for (size_t end = n; end > 0;) {
      const Best& b = best[end];
      spans.push_back({b.start, end, b.id});
      end = b.start;
    }
    std::reverse(spans.begin(), spans.end());
    for (size_t i = 0; i < spans.size(); ++i) {
      if (spans[i].id != kUnknown) {
        out.push_back(spans[i].id);
        continue;
      }
      const size_t run_start = spans[i].start;
      while (i + 1 < spans.size() && spans[i + 1].id == kUnknown) ++i;
      const std::string_view run = text.substr(run_start, spans[i].end - run_start);
      if (byte_fallback_ && append_bytes(run, byte_ids_, out)) continue;
      if (unk_ < 0) fail("{}: text '{}' has no Unigram piece and the model has no unk_id", vocab_.source(), run);
      out.push_back(unk_);
    }
  }

  std::string type_name() const override { return "unigram"; }

 private:
  static constexpr int32_t kUnknown = -2;
  const Vocabulary& vocab_;
  std::vector<double> scores_;
  double unknown_score_ = -10;
  size_t max_piece_bytes_ = 1;
  bool byte_fallback_ = false;
  std::vector<int32_t> byte_ids_;
};

// ---- Added tokens --------------------------------------------------------------------------------------------

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = false;
};

bool is_space_cp(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == ' ' || c == 0x85) return true;
  const utf8proc_category_t cat = utf8proc_category(utf8proc_int32_t(c));
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}
bool is_word_cp(char32_t c) {
  if (c == '_') return true;
  const utf8proc_category_t cat = utf8proc_category(utf8proc_int32_t(c));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}
// The code point that ends just before `end` / starts at `start` (U+FFFD for an invalid byte).
char32_t cp_before(std::string_view s, size_t end) {
  size_t b = end;
  while (b > 0 && end - b < 4 && (static_cast<unsigned char>(s[b - 1]) & 0xC0) == 0x80) --b;
  if (b > 0) --b;
  const std::vector<char32_t> cps = utf8_decode(s.substr(b, end - b));
  return cps.empty() ? 0xFFFD : cps.back();
}
char32_t cp_at(std::string_view s, size_t start) {
  const size_t len = std::min<size_t>(utf8_seq_len(static_cast<unsigned char>(s[start])), s.size() - start);
  const std::vector<char32_t> cps = utf8_decode(s.substr(start, len));
  return cps.empty() ? 0xFFFD : cps.front();
}

struct Fragment {
  int32_t token = -1;     // an added token, or -1 for text
  std::string_view text;  // the text (empty for a token)
};

// Finds added tokens in text: at each position the longest token that starts there, leftmost first (the
// library's leftmost-longest matching), over a byte trie.
class AddedTokenSplitter {
 public:
  void add(const AddedToken& token, std::string content) {
    if (content.empty()) return;
    int32_t node = 0;
    for (unsigned char c : content) {
      const uint64_t key = (uint64_t(uint32_t(node)) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, int32_t(terminal_.size())).first;
        terminal_.push_back(-1);
      }
      node = it->second;
    }
    if (terminal_[size_t(node)] < 0) {
      terminal_[size_t(node)] = int32_t(tokens_.size());
      tokens_.push_back(token);
    }
  }
  bool empty() const { return tokens_.empty(); }

  // Appends the fragments of text; special tokens count only with parse_special.
  void split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
    size_t gap_start = 0;
    for (size_t i = 0; i < text.size();) {
      int32_t node = 0, match = -1;
      size_t match_end = 0;
      for (size_t j = i; j < text.size(); ++j) {
        auto it = edges_.find((uint64_t(uint32_t(node)) << 8) | static_cast<unsigned char>(text[j]));
        if (it == edges_.end()) break;
        node = it->second;
        const int32_t t = terminal_[size_t(node)];
        if (t >= 0 && (parse_special || !tokens_[size_t(t)].special)) {
          match = t;
          match_end = j + 1;
        }
      }
      if (match < 0 || !word_bounded(tokens_[size_t(match)], text, i, match_end)) {
        ++i;
        continue;
      }
      const AddedToken& tok = tokens_[size_t(match)];
      size_t text_end = i;  // the text before the token, less the whitespace an lstrip token takes
      if (tok.lstrip)
        while (text_end > gap_start && is_space_cp(cp_before(text, text_end))) {
          const char32_t c = cp_before(text, text_end);
          text_end -= c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        }
      if (text_end > gap_start) out.push_back({-1, text.substr(gap_start, text_end - gap_start)});
      out.push_back({tok.id, {}});
      size_t next = match_end;
      if (tok.rstrip)
        while (next < text.size() && is_space_cp(cp_at(text, next)))
          next += std::min<size_t>(utf8_seq_len(static_cast<unsigned char>(text[next])), text.size() - next);
      gap_start = i = next;
    }
    if (gap_start < text.size()) out.push_back({-1, text.substr(gap_start)});
  }

 private:
  // single_word tokens match only where no word character touches them.
  static bool word_bounded(const AddedToken& tok, std::string_view text, size_t start, size_t end) {
    if (!tok.single_word) return true;
    return (start == 0 || !is_word_cp(cp_before(text, start))) && (end == text.size() || !is_word_cp(cp_at(text, end)));
  }

  std::unordered_map<uint64_t, int32_t> edges_;  // (node, byte) -> child node
  std::vector<int32_t> terminal_{-1};            // node -> index into tokens_, or -1
  std::vector<AddedToken> tokens_;
};

// ---- Post-processors: the ids around a single sequence -------------------------------------------------------

struct Framing {
  bool present = false;  // a post-processor decides the framing (else tokenizer_config's add_bos / add_eos)
  std::vector<int32_t> prefix, suffix;
  PairTemplate pair;  // valid when the post-processor has a pair template
};

// A template's type_id (0 when absent, as the library defaults it).
int32_t type_id(const json& item, const Where& w) {
  const int64_t t = int_or(item, "type_id", 0, w);
  if (t < 0 || t > 1 << 16) fail(ErrorKind::kCorruptData, "{}: template type_id {} is out of range", w.source, t);
  return int32_t(t);
}

// The ids of a TemplateProcessing SpecialToken item, looked up in the processor's special_tokens.
std::vector<int32_t> special_token_ids(const json& item, const json* specials, const std::string& src, const Where& w) {
  const std::string name = string_or(item, "id", "", w);
  const json* entry = specials ? find(*specials, name.c_str()) : nullptr;
  const json* ids = entry ? find(*entry, "ids") : nullptr;
  if (!ids || !ids->is_array())
    fail(ErrorKind::kCorruptData, "{}: TemplateProcessing special token '{}' has no ids", src, name);
  std::vector<int32_t> out;
  for (const json& id : *ids) {
    if (!id.is_number_integer())
      fail(ErrorKind::kCorruptData, "{}: TemplateProcessing special token '{}' has a non-integer id", src, name);
    out.push_back(id.get<int32_t>());
  }
  return out;
}

// TemplateProcessing's "pair": SpecialToken items around the sequences A and B (in that order), each with its type.
PairTemplate read_pair_template(const json& pair, const json* specials, const std::string& src) {
  static const std::string kTemplate = "TemplateProcessing";
  const Where w{src, "post_processor", kTemplate};
  PairTemplate t;
  int seen = 0;  // sequences passed: 0 before A, 1 between A and B, 2 after B
  for (const json& item : pair) {
    if (const json* seq = find(item, "Sequence")) {
      const std::string id = string_or(*seq, "id", "A", w);
      if (id != (seen == 0 ? "A" : "B") || seen >= 2)
        fail(ErrorKind::kUnsupported, "{}: TemplateProcessing pair template has sequence {} out of order", src, id);
      (seen == 0 ? t.type_a : t.type_b) = type_id(*seq, w);
      ++seen;
      continue;
    }
    const json* st = find(item, "SpecialToken");
    if (!st) fail(ErrorKind::kCorruptData, "{}: TemplateProcessing item is neither Sequence nor SpecialToken", src);
    auto& list = seen == 0 ? t.prefix : seen == 1 ? t.middle : t.suffix;
    for (int32_t id : special_token_ids(*st, specials, src, w)) list.push_back({id, type_id(*st, w)});
  }
  if (seen != 2) fail(ErrorKind::kCorruptData, "{}: TemplateProcessing pair template lacks $A or $B", src);
  t.valid = true;
  return t;
}

// Deeper nesting is a hostile file, not a tokenizer; the limit keeps recursion off the end of the stack.
constexpr int kMaxPostProcessorDepth = 32;

void read_post_processor(const json& p, Framing& f, const std::string& src, int depth = 0) {
  if (p.is_null()) return;
  f.present = true;  // whatever it adds, it replaces tokenizer_config.json's add_bos / add_eos
  const std::string type = string_or(p, "type", "", Where{src, "post_processor", kUnnamed});
  const Where w{src, "post_processor", type};
  if (type == "Sequence") {
    const json* list = find(p, "processors");
    if (!list || !list->is_array())
      fail(ErrorKind::kCorruptData, "{}: post_processor Sequence without a 'processors' list", src);
    if (depth >= kMaxPostProcessorDepth)
      fail(ErrorKind::kCorruptData, "{}: post_processor Sequences nested more than {} deep", src,
           kMaxPostProcessorDepth);
    for (const json& x : *list) read_post_processor(x, f, src, depth + 1);
  } else if (type == "TemplateProcessing") {
    const json* single = find(p, "single");
    const json* specials = find(p, "special_tokens");
    if (!single || !single->is_array())
      fail(ErrorKind::kCorruptData, "{}: TemplateProcessing without a 'single' template", src);
    f.present = true;
    bool after = false;
    for (const json& item : *single) {
      if (find(item, "Sequence")) {
        after = true;
        continue;
      }
      const json* st = find(item, "SpecialToken");
      if (!st) fail(ErrorKind::kCorruptData, "{}: TemplateProcessing item is neither Sequence nor SpecialToken", src);
      for (int32_t id : special_token_ids(*st, specials, src, w)) (after ? f.suffix : f.prefix).push_back(id);
    }
    if (const json* pair = find(p, "pair"); pair && pair->is_array()) f.pair = read_pair_template(*pair, specials, src);
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    f.present = true;
    int32_t ids[2] = {-1, -1};
    for (const char* key : {"cls", "sep"}) {
      const json* pair = find(p, key);
      if (!pair || !pair->is_array() || pair->size() != 2 || !(*pair)[1].is_number_integer())
        fail(ErrorKind::kCorruptData, "{}: {} without a [token, id] '{}'", src, type, key);
      ids[std::string_view(key) == "cls" ? 0 : 1] = (*pair)[1].get<int32_t>();
    }
    f.prefix.push_back(ids[0]);
    f.suffix.push_back(ids[1]);
    // The library's pairs: BERT [CLS] A [SEP] B:1 [SEP]:1; RoBERTa <s> A </s> </s> B </s> (all type 0).
    PairTemplate& t = f.pair;
    t = {};
    t.valid = true;
    t.prefix = {{ids[0], 0}};
    if (type == "BertProcessing") {
      t.middle = {{ids[1], 0}};
      t.suffix = {{ids[1], 1}};
      t.type_b = 1;
    } else {
      t.middle = {{ids[1], 0}, {ids[1], 0}};
      t.suffix = {{ids[1], 0}};
    }
  } else if (type != "ByteLevel") {  // ByteLevel only trims offsets: no ids
    fail(ErrorKind::kUnsupported, "{}: post_processor '{}' is not supported", src, type);
  }
}

// transformers' clean_up_tokenization, which tokenizer_config.json's clean_up_tokenization_spaces asks for:
// each rewrite over the whole text, in this order (llama.cpp's variant, clean_up_spaces, differs: it keeps
// " n't" and a "'" that ends a word).
std::string clean_up_tokenization(std::string text) {
  static const std::pair<std::string_view, std::string_view> kRewrites[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRewrites) {
    std::string out;
    size_t start = 0;
    for (size_t pos; (pos = text.find(from, start)) != std::string::npos; start = pos + from.size()) {
      out.append(text, start, pos - start);
      out += to;
    }
    out.append(text, start, std::string::npos);
    text = std::move(out);
  }
  return text;
}

// ---- The tokenizer -------------------------------------------------------------------------------------------

class PipelineTokenizer final : public Tokenizer {
 public:
  PipelineTokenizer(const json& j, const json& config, const std::string& src) {
    const json* model = find(j, "model");
    if (!model || !model->is_object()) fail(ErrorKind::kCorruptData, "{}: no 'model' section", src);
    std::string type = string_or(*model, "type", "", Where{src, "model", kUnnamed});
    const json* vocab = find(*model, "vocab");
    if (type.empty()) type = infer_model_type(*model, src);
    const json* added = find(j, "added_tokens");
    if (added && !added->is_array()) fail(ErrorKind::kCorruptData, "{}: 'added_tokens' is not a list", src);

    const int64_t n_entries = (vocab ? int64_t(vocab->size()) : 0) + (added ? int64_t(added->size()) : 0);
    vocab_ = std::make_unique<Vocabulary>(n_entries, src);
    std::vector<double> unigram_scores;
    if (type == "Unigram") {
      if (!vocab || !vocab->is_array()) fail(ErrorKind::kCorruptData, "{}: Unigram model without a 'vocab' list", src);
      int64_t id = 0;
      for (const json& entry : *vocab) {
        if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number())
          fail(ErrorKind::kCorruptData, "{}: Unigram vocab entry #{} is not [piece, score]", src, id);
        vocab_->set(id++, entry[0].get<std::string>());
        unigram_scores.push_back(entry[1].get<double>());
      }
    } else if (type == "BPE" || type == "WordPiece" || type == "WordLevel") {
      if (!vocab || !vocab->is_object())
        fail(ErrorKind::kCorruptData, "{}: model '{}' has no 'vocab' object", src, type);
      for (auto it = vocab->begin(); it != vocab->end(); ++it) {
        if (!it.value().is_number_integer())
          fail(ErrorKind::kCorruptData, "{}: vocab entry '{}' has a non-integer id", src, it.key());
        vocab_->set(it.value().get<int64_t>(), it.key());
      }
    } else {
      fail(ErrorKind::kUnsupported,
           "{}: tokenizer model type '{}' is not supported (BPE, WordPiece, WordLevel and Unigram are)", src, type);
    }

    std::vector<AddedToken> added_tokens;
    if (added) {
      for (const json& a : *added) {
        const json* id = find(a, "id");
        const json* content = find(a, "content");
        if (!id || !id->is_number_integer() || !content || !content->is_string())
          fail(ErrorKind::kCorruptData, "{}: an added token lacks an integer 'id' or a string 'content'", src);
        const Where w{src, "added token", content->get_ref<const std::string&>()};
        AddedToken t;
        t.id = id->get<int32_t>();
        t.content = content->get<std::string>();
        t.special = bool_or(a, "special", false, w);
        t.single_word = bool_or(a, "single_word", false, w);
        t.lstrip = bool_or(a, "lstrip", false, w);
        t.rstrip = bool_or(a, "rstrip", false, w);
        t.normalized = bool_or(a, "normalized", !t.special, w);
        vocab_->set(id->get<int64_t>(), t.content);
        added_tokens.push_back(std::move(t));
      }
    }
    vocab_->index();

    if (type == "BPE") {
      model_ = std::make_unique<BpeModel>(*model, *vocab_);
    } else if (type == "WordPiece") {
      model_ = std::make_unique<WordPieceModel>(*model, *vocab_);
    } else if (type == "WordLevel") {
      model_ = std::make_unique<WordLevelModel>(*model, *vocab_);
    } else {
      model_ = std::make_unique<UnigramModel>(std::move(unigram_scores), *model, *vocab_);
    }
    normalizer_ = make_normalizer(section(j, "normalizer"), src);
    pre_tokenizer_ = make_pre_tokenizer(section(j, "pre_tokenizer"), src);
    decoder_ = make_decoder(section(j, "decoder"), src);

    special_ids_.assign(size_t(vocab_->size()), false);
    for (const AddedToken& t : added_tokens) {
      if (t.special) special_ids_[size_t(t.id)] = true;
      // A normalized token is looked for in the normalized text, so its content is normalized too.
      if (t.normalized && normalizer_) {
        normalized_added_.add(t, normalizer_->normalize(t.content));
      } else {
        raw_added_.add(t, t.content);
      }
      if (is_end_of_generation_text(t.content)) eog_.push_back(t.id);
    }

    read_post_processor(section(j, "post_processor"), framing_, src);
    read_special_tokens(config, src);
    const Where config_where{src, "tokenizer_config.json", kUnnamed};
    clean_up_spaces_ = bool_or(config, "clean_up_tokenization_spaces", false, config_where);
    for (const auto* list : {&framing_.prefix, &framing_.suffix})
      for (int32_t id : *list)
        if (id < 0 || id >= vocab_->size())
          fail(ErrorKind::kCorruptData, "{}: special token id {} is outside the vocabulary (0..{})", src, id,
               vocab_->size() - 1);
    for (const auto* list : {&framing_.pair.prefix, &framing_.pair.middle, &framing_.pair.suffix})
      for (const PairTemplate::Token& t : *list)
        if (t.id < 0 || t.id >= vocab_->size())
          fail(ErrorKind::kCorruptData, "{}: special token id {} is outside the vocabulary (0..{})", src, t.id,
               vocab_->size() - 1);
    if (const json* n = find(config, "model_max_length"); n && n->is_number_integer()) {
      const int64_t v = n->get<int64_t>();
      if (v > 0 && v < (int64_t(1) << 30)) set_max_tokens(int(v));
    }

    pieces_.resize(size_t(vocab_->size()));
    for (int32_t id = 0; id < vocab_->size(); ++id) pieces_[size_t(id)] = make_piece(id);
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    if (add_special) out.insert(out.end(), framing_.prefix.begin(), framing_.prefix.end());
    std::vector<Fragment> raw, normalized;
    raw_added_.split(text, parse_special, raw);
    std::vector<std::string> pieces;
    for (size_t section = 0; section < raw.size(); ++section) {
      if (raw[section].token >= 0) {
        out.push_back(raw[section].token);
        continue;
      }
      const std::string segment = normalizer_ ? normalizer_->normalize(std::string(raw[section].text))
                                              : std::string(raw[section].text);
      normalized.clear();
      if (normalized_added_.empty()) {
        normalized.push_back({-1, segment});
      } else {
        normalized_added_.split(segment, parse_special, normalized);
      }
      for (const Fragment& f : normalized) {
        if (f.token >= 0) {
          out.push_back(f.token);
          continue;
        }
        if (f.text.empty()) continue;
        pieces.assign(1, std::string(f.text));
        if (pre_tokenizer_) pre_tokenizer_->split(pieces, section);
        for (const std::string& p : pieces) model_->tokenize(p, out);
      }
    }
    if (add_special) out.insert(out.end(), framing_.suffix.begin(), framing_.suffix.end());
    return out;
  }

  std::string token_to_piece(int32_t id, bool render_special) const override {
    check_id(id);
    if (special_ids_[size_t(id)] && !render_special) return "";
    return pieces_[size_t(id)];
  }

  std::string decode(const std::vector<int32_t>& ids, bool render_special) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
      check_id(id);
      if (special_ids_[size_t(id)] && !render_special) continue;
      tokens.push_back(vocab_->text(id));
    }
    std::string text;
    if (decoder_) {
      decoder_->decode_chain(tokens);
      for (const std::string& t : tokens) text += t;
    } else {
      for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
    }
    return clean_up_spaces_ ? clean_up_tokenization(std::move(text)) : text;
  }

  PairTemplate pair_template() const override { return framing_.pair.valid ? framing_.pair : Tokenizer::pair_template(); }
  int32_t n_vocab() const override { return vocab_->size(); }
  std::string type_name() const override { return model_->type_name(); }
  bool is_end_of_generation(int32_t id) const override {
    return Tokenizer::is_end_of_generation(id) || std::find(eog_.begin(), eog_.end(), id) != eog_.end();
  }

 private:
  static const json& section(const json& j, const char* key) {
    static const json null_json;
    const json* s = find(j, key);
    return s ? *s : null_json;
  }

  // Files written by old versions of the library have no model type: it follows from the fields.
  static std::string infer_model_type(const json& m, const std::string& src) {
    const json* vocab = find(m, "vocab");
    if (vocab && vocab->is_array()) return "Unigram";
    if (find(m, "merges")) return "BPE";
    if (find(m, "continuing_subword_prefix") || find(m, "max_input_chars_per_word")) return "WordPiece";
    if (vocab && vocab->is_object()) return "WordLevel";
    fail(ErrorKind::kUnsupported, "{}: the model section has no 'type' and its fields fit no known model", src);
  }

  void check_id(int32_t id) const {
    if (id < 0 || id >= vocab_->size()) fail("token id {} is outside the vocabulary (0..{})", id, vocab_->size() - 1);
  }

  // The bytes one token stands for in the middle of a text: the decoder chain on the token alone would apply
  // start-of-text rules (a stripped leading space), so the token is decoded after a neighbour and the
  // neighbour's text removed.
  std::string make_piece(int32_t id) const {
    if (!decoder_) return vocab_->text(id);
    return decoder_->decode_piece(vocab_->text(id));
  }

  // bos/eos/... by the names tokenizer_config.json gives, then the framing ids the post-processor adds.
  void read_special_tokens(const json& config, const std::string& src) {
    const Where w{src, "tokenizer_config.json", kUnnamed};
    auto id_of = [&](const char* key) -> int32_t {
      const json* v = find(config, key);
      std::string text;
      if (v && v->is_string()) text = v->get<std::string>();
      if (v && v->is_object()) text = string_or(*v, "content", "", w);
      return text.empty() ? -1 : vocab_->find(text);
    };
    special_.bos = id_of("bos_token");
    special_.eos = id_of("eos_token");
    special_.pad = id_of("pad_token");
    special_.cls = id_of("cls_token");
    special_.sep = id_of("sep_token");
    special_.mask = id_of("mask_token");
    special_.unk = model_->unk() >= 0 ? model_->unk() : id_of("unk_token");
    if (framing_.present) {
      special_.add_bos = special_.bos >= 0 && std::find(framing_.prefix.begin(), framing_.prefix.end(), special_.bos) !=
                                                  framing_.prefix.end();
      special_.add_eos = special_.eos >= 0 && std::find(framing_.suffix.begin(), framing_.suffix.end(), special_.eos) !=
                                                  framing_.suffix.end();
      if (special_.cls < 0 && framing_.prefix.size() == 1) special_.cls = framing_.prefix[0];
      if (special_.sep < 0 && framing_.suffix.size() == 1) special_.sep = framing_.suffix[0];
    } else {
      // Without a post-processor, transformers frames by tokenizer_config.json's flags.
      special_.add_bos = bool_or(config, "add_bos_token", false, w);
      special_.add_eos = bool_or(config, "add_eos_token", false, w);
      if (special_.add_bos) {
        if (special_.bos < 0)
          fail(ErrorKind::kCorruptData,
               "{}: tokenizer_config.json asks for a BOS token but names none in the vocabulary", src);
        framing_.prefix.push_back(special_.bos);
      }
      if (special_.add_eos) {
        if (special_.eos < 0)
          fail(ErrorKind::kCorruptData,
               "{}: tokenizer_config.json asks for an EOS token but names none in the vocabulary", src);
        framing_.suffix.push_back(special_.eos);
      }
    }
  }

  std::unique_ptr<Vocabulary> vocab_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  AddedTokenSplitter raw_added_, normalized_added_;
  std::vector<bool> special_ids_;
  std::vector<int32_t> eog_;
  Framing framing_;
  bool clean_up_spaces_ = false;
  std::vector<std::string> pieces_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(const json& tokenizer, const json& config, const std::string& source) {
  if (!tokenizer.is_object()) fail(ErrorKind::kCorruptData, "{}: not a JSON object", source);
  return std::make_unique<PipelineTokenizer>(tokenizer, config.is_object() ? config : json::object(), source);
}

}  // namespace hearth::hf
