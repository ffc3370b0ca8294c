// The normalizers of Hugging Face's `tokenizers` library (tokenizers/src/normalizers/*.rs), one class each.
// The Rust code is the specification; where it differs from what its name suggests (StripAccents removes
// every mark, Precompiled works on grapheme clusters), the comments say so.
#include <nlohmann/json.hpp>
#include <utf8proc.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "core/utf8.h"
#include "tokenizers/bpe.h"
#include "tokenizers/hf/components.h"
#include "tokenizers/hf/json_fields.h"

namespace hearth::hf {

namespace {

using nlohmann::json;

// ---- reading the JSON section ------------------------------------------------------------------------------

// A field that must be a string.
std::string string_field(const json& v, const char* key, const Where& w) {
  if (!v.is_string())
    fail(ErrorKind::kCorruptData, "{}: {} '{}': '{}' is not a string", w.source, w.stage, w.type, key);
  return v.get<std::string>();
}

// ---- code points -------------------------------------------------------------------------------------------

// Rebuilds text by calling f(cp, out) for each character; bytes that are not valid UTF-8 are kept as they are.
template <typename F>
std::string map_chars(std::string_view text, F&& f) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t c = 0;
    const size_t n = utf8_next(text, i, c);
    if (n == 0) {
      out += text[i++];
      continue;
    }
    f(c, out);
    i += n;
  }
  return out;
}

// Applies a utf8proc normalization form to each valid stretch of text; invalid bytes stay between them.
std::string unicode_normalize(std::string_view text, int options) {
  std::string out;
  out.reserve(text.size());
  size_t run = 0;  // start of the current valid stretch
  auto flush = [&](size_t end) {
    if (end == run) return;
    utf8proc_uint8_t* mapped = nullptr;
    const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + run),
                                static_cast<utf8proc_ssize_t>(end - run), &mapped,
                                static_cast<utf8proc_option_t>(options));
    if (n < 0) fail("unicode normalization failed: {}", utf8proc_errmsg(n));
    out.append(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
    std::free(mapped);
  };
  for (size_t i = 0; i < text.size();) {
    char32_t c = 0;
    const size_t n = utf8_next(text, i, c);
    if (n > 0) {
      i += n;
      continue;
    }
    flush(i);
    out += text[i++];
    run = i;
  }
  flush(text.size());
  return out;
}

constexpr int kNfc = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
constexpr int kNfd = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
constexpr int kNfkc = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
constexpr int kNfkd = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;

utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

// Rust's char::is_whitespace: the Unicode White_Space property.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Rust's char::to_lowercase, the full mapping: utf8proc has the simple one, and U+0130 is the only character
// whose unconditional full lowercase differs from it (SpecialCasing.txt).
void append_lowercase(char32_t c, std::string& out) {
  if (c == 0x130) {
    out += "i\xCC\x87";  // i + U+0307 COMBINING DOT ABOVE
    return;
  }
  utf8_append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

std::string lowercase(std::string_view text) { return map_chars(text, append_lowercase); }

// ---- normalizers -------------------------------------------------------------------------------------------

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese_chars, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_chars_(chinese_chars), strip_accents_(strip_accents), lowercase_(lowercase) {}

  std::string normalize(std::string text) const override {
    if (clean_text_) text = map_chars(text, clean_char);
    if (chinese_chars_) {
      text = map_chars(text, [](char32_t c, std::string& out) {
        const bool cjk = is_chinese_char(c);
        if (cjk) out += ' ';
        utf8_append(out, c);
        if (cjk) out += ' ';
      });
    }
    if (strip_accents_) {
      text = map_chars(unicode_normalize(text, kNfd), [](char32_t c, std::string& out) {
        if (category(c) != UTF8PROC_CATEGORY_MN) utf8_append(out, c);
      });
    }
    if (lowercase_) text = lowercase(text);
    return text;
  }

 private:
  // Controls go (HF's is_control: every C* category, but \t \n \r count as whitespace), whitespace becomes ' '.
  static void clean_char(char32_t c, std::string& out) {
    const bool tab_or_newline = c == '\t' || c == '\n' || c == '\r';
    if (c == 0 || c == 0xFFFD) return;
    if (!tab_or_newline) {
      const auto cat = category(c);
      if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CN ||
          cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS)
        return;
    }
    if (tab_or_newline || is_white_space(c))
      out += ' ';
    else
      utf8_append(out, c);
  }

  // BERT's CJK ideograph blocks, with the Rust code's 0x2B920 (not 0x2B820) start of the sixth range.
  static bool is_chinese_char(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  }

  bool clean_text_, chinese_chars_, strip_accents_, lowercase_;
};

class Lowercase final : public Normalizer {
 public:
  std::string normalize(std::string text) const override { return lowercase(text); }
};

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(int options) : options_(options) {}
  std::string normalize(std::string text) const override { return unicode_normalize(text, options_); }

 private:
  int options_;
};

// SentencePiece's "nmt" rules: some controls go, other spacing characters become ' '.
class Nmt final : public Normalizer {
 public:
  std::string normalize(std::string text) const override {
    return map_chars(text, [](char32_t c, std::string& out) {
      if ((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F || c == 0x9F)
        return;
      const bool space = c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
                         (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF ||
                         c == 0xFFFD;
      if (space)
        out += ' ';
      else
        utf8_append(out, c);
    });
  }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}

  std::string normalize(std::string text) const override {
    size_t begin = 0, end = 0;  // [begin, end): the text from the first to past the last kept character
    bool leading = left_;
    for (size_t i = 0; i < text.size();) {
      char32_t c = 0;
      size_t n = utf8_next(text, i, c);
      const bool ws = n > 0 && is_white_space(c);
      if (n == 0) n = 1;  // an invalid byte is not whitespace
      if (leading && ws) begin = i + n;
      if (!ws) {
        leading = false;
        end = i + n;
      }
      i += n;
    }
    if (!right_) end = text.size();
    if (end <= begin) return {};
    return text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

// HF's StripAccents drops every combining mark (General_Category M: Mn, Mc and Me), not only Mn as the
// BertNormalizer's accent stripping does; it decomposes nothing itself (configs put NFD or NFKD first).
class StripAccents final : public Normalizer {
 public:
  std::string normalize(std::string text) const override {
    return map_chars(text, [](char32_t c, std::string& out) {
      const auto cat = category(c);
      if (cat != UTF8PROC_CATEGORY_MN && cat != UTF8PROC_CATEGORY_MC && cat != UTF8PROC_CATEGORY_ME)
        utf8_append(out, c);
    });
  }
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string normalize(std::string text) const override { return text.empty() ? text : prefix_ + text; }

 private:
  std::string prefix_;
};

// Replaces every match of a String (literal) or Regex pattern by `content`, with the empty-match rule of the
// Rust regex iterators HF uses: an empty match is skipped where the previous match ended.
class Replace final : public Normalizer {
 public:
  Replace(const std::string& pattern, bool is_regex, std::string content, const std::string& source)
      : content_(std::move(content)) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    // MATCH_INVALID_UTF: arbitrary bytes are legal subjects (invalid sequences just never match). LITERAL
    // admits no UCP, which only matters to \d \w \s and the like anyway.
    const uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (is_regex ? PCRE2_UCP : PCRE2_LITERAL);
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &err, &err_off,
                          nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail(ErrorKind::kCorruptData, "{}: Replace pattern '{}' does not compile at offset {}: {}", source, pattern,
           static_cast<size_t>(err_off), reinterpret_cast<const char*>(msg));
    }
    // JIT is only a speed-up; the interpreter gives the same matches if the JIT is unavailable.
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
  }
  ~Replace() override { pcre2_code_free(code_); }
  Replace(const Replace&) = delete;
  Replace& operator=(const Replace&) = delete;

  std::string normalize(std::string text) const override {
    if (text.empty()) return text;
    // Match data is per call: the normalizer is shared between threads.
    std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
        pcre2_match_data_create_from_pattern(code_, nullptr), pcre2_match_data_free);
    if (!md) fail(ErrorKind::kResourceExhausted, "Replace: out of memory");
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    const size_t n = text.size();
    std::string out;
    size_t copied = 0, offset = 0, last_end = std::string::npos;
    while (offset <= n) {
      int rc = pcre2_match(code_, subject, n, offset, 0, md.get(), nullptr);
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // deep backtracking: the interpreter uses the heap
        rc = pcre2_match(code_, subject, n, offset, PCRE2_NO_JIT, md.get(), nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        fail(ErrorKind::kResourceExhausted, "Replace: matching a {}-byte text failed: {}", n,
             reinterpret_cast<const char*>(msg));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      const size_t start = ov[0], end = ov[1];
      if (start == end && start == last_end) {  // step over one character and look again
        if (start >= n) break;
        char32_t c = 0;
        const size_t len = utf8_next(text, start, c);
        offset = start + (len == 0 ? 1 : len);
        continue;
      }
      out.append(text, copied, start - copied);
      out += content_;
      copied = end;
      last_end = offset = end;
    }
    out.append(text, copied, std::string::npos);
    return out;
  }

 private:
  pcre2_code* code_ = nullptr;
  std::string content_;
};

// GPT-2's byte-to-unicode spelling of every byte of the text.
class ByteLevel final : public Normalizer {
 public:
  ByteLevel() {
    for (int b = 0; b < 256; ++b) utf8_append(spelling_[b], bpe_byte_to_codepoint(static_cast<uint8_t>(b)));
  }
  std::string normalize(std::string text) const override {
    std::string out;
    out.reserve(text.size() * 2);
    for (unsigned char b : text) out += spelling_[b];
    return out;
  }

 private:
  std::array<std::string, 256> spelling_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  std::string normalize(std::string text) const override {
    const size_t limit = growth_limit(text.size());
    for (const auto& step : steps_) {
      text = step->normalize(std::move(text));
      // Each stage may grow the text a little (" " -> "▁" triples a space); a chain of growing stages (e.g.
      // Replace "" -> "aa", which inserts at every character) would grow it exponentially.
      if (text.size() > limit)
        fail(ErrorKind::kResourceExhausted, "normalizer Sequence grows the text past {} bytes; refusing", limit);
    }
    return text;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

// ---- Precompiled -------------------------------------------------------------------------------------------

std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character cannot complete a byte
  return out;
}

// SentencePiece's precompiled_charsmap: u32 (little-endian) trie size in bytes, a darts-clone double-array trie
// of that many bytes (u32 units) mapping UTF-8 keys to offsets into the rest of the blob, a pool of
// NUL-terminated replacement strings.
//
// HF does not run SentencePiece's longest-match loop over the text: it cuts the text into extended grapheme
// clusters; a cluster shorter than 6 bytes that has a key as prefix is replaced whole by the replacement of the
// shortest such key; otherwise each character is replaced by its own key's replacement, if any. (HF's code says
// this is what reproduces SentencePiece on XNLI for mBART, XLM-R and Marian.)
class Precompiled final : public Normalizer {
 public:
  Precompiled(const std::string& blob, const std::string& source) {
    if (blob.empty()) return;  // an empty charsmap normalizes nothing
    auto bad = [&](const char* why) {
      fail(ErrorKind::kCorruptData, "{}: normalizer 'Precompiled': precompiled_charsmap {}", source, why);
    };
    if (blob.size() < 4) bad("is shorter than its 4-byte header");
    const uint32_t trie_bytes = load_u32(blob.data());
    if (trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4) bad("has a trie size that does not fit the data");
    units_.resize(trie_bytes / 4);
    for (size_t i = 0; i < units_.size(); ++i) units_[i] = load_u32(blob.data() + 4 + 4 * i);
    pool_ = blob.substr(4 + trie_bytes);
    if (!utf8_valid(pool_)) bad("has replacement strings that are not UTF-8");
  }

  std::string normalize(std::string text) const override {
    if (units_.empty()) return text;
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
      char32_t c = 0;
      size_t n = utf8_next(text, i, c);
      if (n == 0) {  // HF never sees invalid bytes; pass them through, breaking clusters
        out += text[i++];
        continue;
      }
      // One extended grapheme cluster: [i, end).
      size_t end = i + n;
      utf8proc_int32_t state = 0;
      char32_t prev = c;
      while (end < text.size()) {
        char32_t next = 0;
        const size_t m = utf8_next(text, end, next);
        if (m == 0 || utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(prev),
                                                       static_cast<utf8proc_int32_t>(next), &state))
          break;
        prev = next;
        end += m;
      }
      append_cluster(std::string_view(text).substr(i, end - i), out);
      i = end;
    }
    return out;
  }

 private:
  static uint32_t load_u32(const char* p) {
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
  }

  void append_cluster(std::string_view cluster, std::string& out) const {
    if (cluster.size() < 6) {
      if (auto r = transform(cluster)) {
        out += *r;
        return;
      }
    }
    for (size_t i = 0; i < cluster.size();) {
      char32_t c = 0;
      const size_t n = utf8_next(cluster, i, c);  // > 0: the cluster is valid UTF-8
      const std::string_view ch = cluster.substr(i, n);
      if (auto r = transform(ch))
        out += *r;
      else
        out += ch;
      i += n;
    }
  }

  // The replacement of the shortest key that is a prefix of `chunk`, as darts-clone's commonPrefixSearch
  // returns it first. Out-of-range units or offsets (a corrupt charsmap) mean no match.
  std::optional<std::string_view> transform(std::string_view chunk) const {
    auto offset = [](uint32_t unit) { return size_t(unit >> 10) << ((unit & (1u << 9)) >> 6); };
    size_t pos = offset(units_[0]);
    for (unsigned char c : chunk) {
      if (c == 0) return std::nullopt;
      pos ^= c;
      if (pos >= units_.size()) return std::nullopt;
      const uint32_t unit = units_[pos];
      if ((unit & ((1u << 31) | 0xFF)) != c) return std::nullopt;  // label mismatch (leaf units have bit 31)
      pos ^= offset(unit);
      if (unit & (1u << 8)) {  // has a leaf: the value sits at the child with label 0
        if (pos >= units_.size()) return std::nullopt;
        const size_t start = units_[pos] & 0x7FFFFFFFu;
        if (start >= pool_.size()) return std::nullopt;
        const size_t stop = pool_.find('\0', start);
        return std::string_view(pool_).substr(start, stop == std::string::npos ? std::string::npos : stop - start);
      }
    }
    return std::nullopt;
  }

  std::vector<uint32_t> units_;
  std::string pool_;
};

// Deeper nesting is a hostile file, not a tokenizer; the limit keeps recursion off the end of the stack.
constexpr int kMaxDepth = 32;

std::unique_ptr<Normalizer> make_normalizer_at(const json& config, const std::string& source, int depth) {
  if (config.is_null()) return nullptr;
  if (!config.is_object()) fail(ErrorKind::kCorruptData, "{}: a normalizer is not a JSON object", source);
  const json* type_field = find(config, "type");
  if (!type_field || !type_field->is_string()) fail(ErrorKind::kCorruptData, "{}: a normalizer has no 'type'", source);
  const std::string type = type_field->get<std::string>();
  const Where w{source, "normalizer", type};

  if (type == "BertNormalizer") {
    const bool clean = bool_or(config, "clean_text", true, w);
    const bool chinese = bool_or(config, "handle_chinese_chars", true, w);
    const bool lower = bool_or(config, "lowercase", true, w);
    const bool strip = bool_or(config, "strip_accents", lower, w);  // null: as lowercase
    return std::make_unique<BertNormalizer>(clean, chinese, strip, lower);
  }
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "NFC") return std::make_unique<UnicodeForm>(kNfc);
  if (type == "NFD") return std::make_unique<UnicodeForm>(kNfd);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(kNfkc);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(kNfkd);
  if (type == "Nmt") return std::make_unique<Nmt>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Strip") {
    const bool left = bool_or(config, "strip_left", true, w);
    return std::make_unique<Strip>(left, bool_or(config, "strip_right", true, w));
  }
  if (type == "Prepend") return std::make_unique<Prepend>(string_field(require(config, "prepend", w), "prepend", w));
  if (type == "Replace") {
    const json& pattern = require(config, "pattern", w);
    const std::string content = string_field(require(config, "content", w), "content", w);
    if (!pattern.is_object() || pattern.size() != 1 || !(pattern.contains("String") || pattern.contains("Regex")))
      fail(ErrorKind::kCorruptData,
           "{}: normalizer 'Replace': 'pattern' is not {{\"String\": ...}} or {{\"Regex\": ...}}", source);
    const bool is_regex = pattern.contains("Regex");
    const std::string text = string_field(pattern.begin().value(), is_regex ? "Regex" : "String", w);
    return std::make_unique<Replace>(text, is_regex, content, source);
  }
  if (type == "Sequence") {
    const json& list = require(config, "normalizers", w);
    if (!list.is_array())
      fail(ErrorKind::kCorruptData, "{}: normalizer 'Sequence': 'normalizers' is not a list", source);
    if (depth >= kMaxDepth)
      fail(ErrorKind::kCorruptData, "{}: normalizer Sequences nested more than {} deep", source, kMaxDepth);
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const json& item : list)
      if (auto step = make_normalizer_at(item, source, depth + 1)) steps.push_back(std::move(step));
    return std::make_unique<Sequence>(std::move(steps));
  }
  if (type == "Precompiled") {
    const json* map = find(config, "precompiled_charsmap");
    if (map && !map->is_string())
      fail(ErrorKind::kCorruptData, "{}: normalizer 'Precompiled': 'precompiled_charsmap' is not a string", source);
    const auto blob = base64_decode(map ? map->get_ref<const std::string&>() : std::string());
    if (!blob)
      fail(ErrorKind::kCorruptData, "{}: normalizer 'Precompiled': 'precompiled_charsmap' is not base64", source);
    return std::make_unique<Precompiled>(*blob, source);
  }
  fail(ErrorKind::kUnsupported, "{}: normalizer '{}' is not supported", source, type);
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& config, const std::string& source) {
  return make_normalizer_at(config, source, 0);
}

}  // namespace hearth::hf
