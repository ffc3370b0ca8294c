#include "tokenizers/bpe.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <queue>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "core/utf8.h"
#include "formats/metadata.h"
#include "tokenizers/pretokenizer.h"
#include "tokenizers/vocab.h"

namespace hearth {

char32_t bpe_byte_to_codepoint(uint8_t b) {
  // Printable Latin-1 bytes stand for themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen)
  // are moved, in byte order, to U+0100.. so every byte has a visible, non-whitespace spelling.
  auto printable = [](unsigned c) { return (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174); };
  if (printable(b)) return b;
  char32_t n = 0;
  for (unsigned c = 0; c < b; ++c)
    if (!printable(c)) ++n;
  return 256 + n;
}

int bpe_codepoint_to_byte(char32_t cp) {
  static const auto table = [] {
    std::unordered_map<char32_t, int> t;
    for (int b = 0; b < 256; ++b) t[bpe_byte_to_codepoint(static_cast<uint8_t>(b))] = b;
    return t;
  }();
  auto it = table.find(cp);
  return it == table.end() ? -1 : it->second;
}

namespace {

struct Symbol {
  int32_t id;
  int32_t prev, next;
  bool alive;
};

struct Candidate {
  int32_t rank, left, right, left_id, right_id;
  // priority_queue pops the largest: make the lowest rank, then the leftmost pair, the largest.
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
};

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

void BpeMerges::add(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  table_.emplace(pair_key(left, right), std::make_pair(rank, merged));
}

void BpeMerges::apply(std::vector<int32_t>& ids) const {
  if (ids.size() < 2) return;
  std::vector<Symbol> syms(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) syms[i] = {ids[i], int32_t(i) - 1, i + 1 < ids.size() ? int32_t(i + 1) : -1, true};
  std::priority_queue<Candidate> queue;
  auto consider = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0 || syms[size_t(l)].id < 0 || syms[size_t(r)].id < 0) return;
    auto it = table_.find(pair_key(syms[size_t(l)].id, syms[size_t(r)].id));
    if (it != table_.end()) queue.push({it->second.first, l, r, syms[size_t(l)].id, syms[size_t(r)].id});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) consider(i - 1, i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = syms[size_t(c.left)];
    Symbol& r = syms[size_t(c.right)];
    if (!l.alive || !r.alive || l.next != c.right || l.id != c.left_id || r.id != c.right_id) continue;  // stale
    l.id = table_.at(pair_key(c.left_id, c.right_id)).second;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) syms[size_t(r.next)].prev = c.left;
    consider(l.prev, c.left);
    consider(c.left, l.next);
  }
  ids.clear();
  for (const Symbol& s : syms)
    if (s.alive) ids.push_back(s.id);
}

namespace {

constexpr std::string_view kSpm = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space
// Symbol ids below 0: -1 is a byte-level character missing from the vocabulary (dropped, as llama.cpp does).
constexpr int32_t kUnknownChar = -2;               // SentencePiece-style: character with no token, no bytes
constexpr size_t kMaxCachedWord = 256;
constexpr size_t kMaxCacheEntries = 1 << 16;

class BpeTokenizer final : public VocabTokenizer {
 public:
  BpeTokenizer(Vocab vocab, const std::vector<std::string>& merges, BpeOptions opt, std::string source)
      : VocabTokenizer(std::move(vocab)), opt_(std::move(opt)), source_(std::move(source)) {
    const int32_t n = vocab_.size();
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string& m = merges[rank];
      // The separator is the first space after position 0, so a merge whose left part is " " still parses.
      size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      if (sp == std::string::npos)
        fail(ErrorKind::kCorruptData, "{}: merge #{} '{}' is not \"left right\"", source_, rank, m);
      std::string_view a(m.data(), sp), b(m.data() + sp + 1, m.size() - sp - 1);
      int32_t ia = vocab_.find(a), ib = vocab_.find(b), ir = vocab_.find(std::string(a) + std::string(b));
      // A merge whose parts or result are not tokens can never contribute a token: skip it.
      if (ia < 0 || ib < 0 || ir < 0) continue;
      merges_.add(ia, ib, static_cast<int32_t>(rank), ir);
    }

    for (int b = 0; b < 256; ++b) {
      if (opt_.byte_level) {
        std::string key;
        utf8_append(key, bpe_byte_to_codepoint(static_cast<uint8_t>(b)));
        byte_ids_[b] = vocab_.find(key);
      } else {
        byte_ids_[b] = vocab_.byte_token(static_cast<uint8_t>(b));
      }
    }
    if (opt_.byte_level) pre_ = PreTokenizer(opt_.pre_patterns);
    if (!opt_.byte_level) {
      // If no token has "▁" right after another character (SentencePiece pieces only start with it, or are
      // runs of it), no merge can join the text on the left of such a "▁" to the text on its right: words
      // can then be merged (and cached) one by one, instead of the whole text as one priority queue.
      spm_words_ = true;
      for (int32_t id = 0; id < n && spm_words_; ++id)
        if (!(vocab_.attr(id) & (kAttrControl | kAttrUserDefined | kAttrUnknown)) &&
            word_boundary(vocab_.text(id), 1) != std::string_view::npos)
          spm_words_ = false;
    }

    pieces_.resize(size_t(n));
    for (int32_t id = 0; id < n; ++id) pieces_[size_t(id)] = make_piece(id);

    if (opt_.framing_from_vocab) {
      opt_.prefix.clear();
      opt_.suffix.clear();
      if (special_.add_bos) {
        if (special_.bos < 0)
          fail(ErrorKind::kCorruptData, "{}: the vocabulary asks for BOS but has no BOS token", source_);
        opt_.prefix.push_back(special_.bos);
      }
      if (special_.add_eos) {
        if (special_.eos < 0)
          fail(ErrorKind::kCorruptData, "{}: the vocabulary asks for EOS but has no EOS token", source_);
        opt_.suffix.push_back(special_.eos);
      }
    }
    for (const auto* list : {&opt_.prefix, &opt_.suffix})
      for (int32_t id : *list)
        if (!vocab_.valid(id))
          fail(ErrorKind::kCorruptData, "{}: special token id {} is outside the vocabulary (0..{})", source_, id,
               n - 1);
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    if (add_special) out.insert(out.end(), opt_.prefix.begin(), opt_.prefix.end());
    for (const Vocab::Fragment& f : vocab_.split_special(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
      } else {
        encode_segment(f.text, f.text.data() == text.data(), out);
      }
    }
    if (add_special) out.insert(out.end(), opt_.suffix.begin(), opt_.suffix.end());
    return out;
  }

  std::string token_to_piece(int32_t id, bool render_special) const override {
    check_id(id);
    if (vocab_.attr(id) & (kAttrControl | kAttrUnknown)) return render_special ? vocab_.text(id) : std::string();
    return pieces_[size_t(id)];
  }

  std::string decode(const std::vector<int32_t>& ids, bool render_special) const override {
    std::string s;
    for (int32_t id : ids) s += token_to_piece(id, render_special);
    if (opt_.clean_spaces) s = clean_up_spaces(s);
    // Hugging Face's Strip decoder for SentencePiece-style vocabularies: drop the space the encoder prepended.
    if (!opt_.byte_level && opt_.prepend_space && !s.empty() && s[0] == ' ') s.erase(0, 1);
    return s;
  }

  std::string type_name() const override { return "bpe"; }

 private:
  std::string make_piece(int32_t id) const {
    const std::string& text = vocab_.text(id);
    const uint16_t attr = vocab_.attr(id);
    if (attr & (kAttrUserDefined | kAttrControl | kAttrUnknown)) return text;
    if (attr & kAttrUnused) return "";
    if (!opt_.byte_level) {
      for (int b = 0; b < 256; ++b)
        if (byte_ids_[b] == id && text.size() == 6) return std::string(1, static_cast<char>(b));
      return unescape_spaces(text);
    }
    // Byte-level: each code point spells one byte; anything else (malformed vocabularies) is kept as is.
    std::string s;
    for (size_t i = 0; i < text.size();) {
      const size_t len = std::min<size_t>(utf8_seq_len(static_cast<unsigned char>(text[i])), text.size() - i);
      const std::string_view seq(text.data() + i, len);
      const std::vector<char32_t> cps = utf8_valid(seq) ? utf8_decode(seq) : std::vector<char32_t>{};
      const int b = cps.size() == 1 ? bpe_codepoint_to_byte(cps[0]) : -1;
      if (b >= 0) {
        s += static_cast<char>(b);
        i += len;
      } else {
        s += text[i++];
      }
    }
    return s;
  }

  void encode_segment(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
    if (!opt_.byte_level) {
      const bool prepend = opt_.prepend_space && (at_start || !opt_.prepend_first_only);
      std::string s = prepend ? std::string(kSpm) : std::string();
      s += escape_spaces(text);
      if (!spm_words_) {
        encode_word(s, out);
        return;
      }
      const std::string_view all(s);
      for (size_t start = 0; start < all.size();) {
        size_t end = word_boundary(all, start + 1);
        if (end == std::string_view::npos) end = all.size();
        encode_word(all.substr(start, end - start), out);
        start = end;
      }
      return;
    }
    std::string normalized;
    if (opt_.nfc) {
      utf8proc_uint8_t* dst = nullptr;
      utf8proc_ssize_t len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                          static_cast<utf8proc_ssize_t>(text.size()), &dst,
                                          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
      if (len >= 0) {  // invalid UTF-8 is tokenized unnormalized (its bytes still round-trip)
        normalized.assign(reinterpret_cast<const char*>(dst), static_cast<size_t>(len));
        text = normalized;
      }
      std::free(dst);
    }
    if (opt_.add_prefix_space && text[0] != ' ') {
      std::string prefixed = " ";
      prefixed += text;  // text may view `normalized`: build aside, then replace
      normalized = std::move(prefixed);
      text = normalized;
    }
    std::vector<std::string_view> pieces;
    pre_.split(text, pieces);
    for (std::string_view p : pieces) encode_word(p, out);
  }

  void encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    const bool cacheable = word.size() < kMaxCachedWord;
    if (cacheable) {
      std::lock_guard<std::mutex> lock(cache_mu_);
      auto it = cache_.find(std::string(word));
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int32_t> ids;
    bpe(word, ids);
    if (cacheable) {
      std::lock_guard<std::mutex> lock(cache_mu_);
      if (cache_.size() >= kMaxCacheEntries) cache_.clear();
      cache_.emplace(std::string(word), ids);
    }
    out.insert(out.end(), ids.begin(), ids.end());
  }

  // One word: initial symbols, then merges by rank.
  void bpe(std::string_view word, std::vector<int32_t>& out) const {
    std::vector<int32_t> syms;
    syms.reserve(word.size());
    if (opt_.byte_level) {
      if (opt_.ignore_merges) {
        std::string spelled;
        for (char c : word) utf8_append(spelled, bpe_byte_to_codepoint(static_cast<uint8_t>(c)));
        if (int32_t id = vocab_.find(spelled); id >= 0) {
          out.push_back(id);
          return;
        }
      }
      for (char c : word) syms.push_back(byte_ids_[static_cast<uint8_t>(c)]);
    } else {
      for (size_t i = 0; i < word.size();) {
        const size_t len = std::min<size_t>(utf8_seq_len(static_cast<unsigned char>(word[i])), word.size() - i);
        if (int32_t id = vocab_.find(word.substr(i, len)); id >= 0) {
          syms.push_back(id);
        } else if (opt_.byte_fallback && std::all_of(word.begin() + long(i), word.begin() + long(i + len), [&](char c) {
                     return byte_ids_[static_cast<uint8_t>(c)] >= 0;
                   })) {
          for (size_t k = 0; k < len; ++k) syms.push_back(byte_ids_[static_cast<uint8_t>(word[i + k])]);
        } else {
          syms.push_back(kUnknownChar);
        }
        i += len;
      }
    }
    merges_.apply(syms);

    bool prev_unk = false;
    for (int32_t id : syms) {
      if (id >= 0) {
        out.push_back(id);
        prev_unk = false;
      } else if (id == kUnknownChar && special_.unk >= 0) {
        if (!(opt_.fuse_unk && prev_unk)) out.push_back(special_.unk);
        prev_unk = true;
      }
      // -1: a byte the vocabulary cannot spell is dropped, as llama.cpp does.
    }
  }

  // The first "▁" at or after `from` that follows a character other than "▁", or npos.
  static size_t word_boundary(std::string_view s, size_t from) {
    for (size_t p = s.find(kSpm, from); p != std::string_view::npos; p = s.find(kSpm, p + 1))
      if (p > 0 && (p < kSpm.size() || s.compare(p - kSpm.size(), kSpm.size(), kSpm) != 0)) return p;
    return std::string_view::npos;
  }

  BpeOptions opt_;
  bool spm_words_ = false;
  std::string source_;
  BpeMerges merges_;
  int32_t byte_ids_[256];
  PreTokenizer pre_;
  std::vector<std::string> pieces_;  // decoded bytes of each token (special tokens: their text)
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

std::unique_ptr<Tokenizer> build(const Metadata& md, const std::string& source, const BpeOptions& options,
                                 bool add_bos_default) {
  const auto* merges = md.find_strings("tokenizer.ggml.merges");
  if (merges == nullptr)
    fail(ErrorKind::kCorruptData, "{}: missing metadata key 'tokenizer.ggml.merges' (needed by BPE)", source);
  // llama.cpp's defaults for a gpt2 vocabulary (BOS = EOS = 11) or a SentencePiece one; the keys override them.
  SpecialTokens defaults;
  if (options.byte_level) {
    defaults.bos = defaults.eos = 11;
  } else {
    defaults.bos = 1;
    defaults.eos = 2;
    defaults.unk = 0;
  }
  defaults.add_bos = add_bos_default;
  return std::make_unique<BpeTokenizer>(Vocab::from_metadata(md, source, defaults), *merges, options, source);
}

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const Metadata& md, const std::string& source,
                                              const BpeOptions& options) {
  return build(md, source, options, false);
}

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const Metadata& md, const std::string& source) {
  const PreTokenizer::Gguf pre = PreTokenizer::gguf(md.find_string("tokenizer.ggml.pre").value_or(""));
  BpeOptions opt;
  opt.pre_patterns = pre.patterns;
  opt.ignore_merges = pre.ignore_merges;
  opt.clean_spaces = pre.clean_spaces;
  return build(md, source, opt, pre.add_bos);
}

}  // namespace hearth
