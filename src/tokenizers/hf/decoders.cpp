// The decoders of Hugging Face's `tokenizers` library (tokenizers/src/decoders/*.rs and the decoder halves of
// pre_tokenizers/byte_level.rs and metaspace.rs), one class each. The Rust decode_chain is the specification,
// quirks included (Metaspace drops every replacement character of the first token, ByteLevel keeps a token
// verbatim if any of its characters is outside the byte alphabet).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
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

// A Rust `char` option: a string of exactly one character.
std::string char_or(const json& c, const char* key, const char* fallback, const Where& w) {
  std::string s = string_or(c, key, fallback, w);
  const auto cps = utf8_decode(s);
  if (cps.size() != 1 || !utf8_valid(s))
    fail(ErrorKind::kCorruptData, "{}: {} '{}': '{}' is not one character", w.source, w.stage, w.type, key);
  return s;
}

// ---- text helpers ------------------------------------------------------------------------------------------

// Rust's str::replace: every non-overlapping occurrence, left to right (an empty `from` matches at each
// character boundary).
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) {
    out += to;
    for (size_t i = 0; i < s.size();) {
      const size_t n = std::min<size_t>(utf8_seq_len(static_cast<unsigned char>(s[i])), s.size() - i);
      out += s.substr(i, n);
      out += to;
      i += n;
    }
    return out;
  }
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out += s.substr(pos, hit - pos);
    out += to;
  }
  out += s.substr(pos);
  return out;
}

// HF's wordpiece::cleanup, shared with CTC: undo the spaces a word-per-token join puts before punctuation and
// English contractions. The order matters (each runs over the previous one's output).
std::string cleanup(std::string s) {
  static constexpr std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},     {" ,", ","},     {" ' ", "'"},    {" n't", "n't"},
      {" 'm", "'m"},   {" do not", " don't"},           {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) s = replace_all(s, from, to);
  return s;
}

// Rust's String::from_utf8_lossy: each maximal invalid subsequence (a truncated but so far valid sequence, or
// one bad byte) becomes one U+FFFD.
std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b < 0x80) {
      out += s[i++];
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    }
    size_t ok = 1;  // bytes of a valid prefix
    while (len > 0 && ok < len && i + ok < s.size()) {
      const auto c = static_cast<unsigned char>(s[i + ok]);
      if (ok == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) break;
      ++ok;
    }
    if (len > 0 && ok == len) {
      out += s.substr(i, len);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += ok;
  }
  return out;
}

// ---- decoders ----------------------------------------------------------------------------------------------

// GPT-2's byte alphabet back to bytes, all tokens into one string.
class ByteLevel final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const size_t start = bytes.size();
      bool mapped = utf8_valid(t);
      if (mapped) {
        for (char32_t c : utf8_decode(t)) {
          const int b = bpe_codepoint_to_byte(c);
          if (b < 0) {
            mapped = false;
            break;
          }
          bytes += static_cast<char>(b);
        }
      }
      if (!mapped) {  // a character outside the alphabet: the whole token stays as it is
        bytes.resize(start);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
  // Mid-stream a token may hold part of a UTF-8 sequence: its bytes stay raw (the stream completes them).
  std::string decode_piece(const std::string& token) const override {
    std::string bytes;
    if (!utf8_valid(token)) return token;
    for (char32_t c : utf8_decode(token)) {
      const int b = bpe_codepoint_to_byte(c);
      if (b < 0) return token;
      bytes += static_cast<char>(b);
    }
    return bytes;
  }
};

class Metaspace final : public Decoder {
 public:
  Metaspace(std::string replacement, bool prepends) : replacement_(std::move(replacement)), prepends_(prepends) {}

  // The pre-tokenizer put the replacement at the start of the text; so in the first token every one goes
  // (HF drops them all there, not only the leading one). Elsewhere they are spaces again.
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = replace_all(tokens[i], replacement_, i == 0 && prepends_ ? "" : " ");
  }
  std::string decode_piece(const std::string& token) const override { return replace_all(token, replacement_, " "); }

 private:
  std::string replacement_;
  bool prepends_;
};

class WordPiece final : public Decoder {
 public:
  WordPiece(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}

  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.starts_with(prefix_))
          t.erase(0, prefix_.size());
        else
          t.insert(0, 1, ' ');
      }
      if (cleanup_) t = cleanup(std::move(t));
    }
  }
  std::string decode_piece(const std::string& token) const override {
    std::vector<std::string> tokens{"", token};  // as a token after the first
    decode_chain(tokens);
    return tokens[1];
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

// Original (Sennrich) BPE: the end-of-word suffix becomes a space, except in the last token.
class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
  }
  std::string decode_piece(const std::string& token) const override { return replace_all(token, suffix_, " "); }

 private:
  std::string suffix_;
};

// Connectionist Temporal Classification: repeats collapse, pads vanish, the delimiter is a space (only with
// cleanup, as in HF), empty tokens are dropped.
class Ctc final : public Decoder {
 public:
  Ctc(std::string pad, std::string delimiter, bool cleanup)
      : pad_(std::move(pad)), delimiter_(std::move(delimiter)), cleanup_(cleanup) {}

  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;
      std::string t = replace_all(tokens[i], pad_, "");
      if (cleanup_) t = replace_all(cleanup(std::move(t)), delimiter_, " ");
      if (!t.empty()) out.push_back(std::move(t));
    }
    tokens = std::move(out);
  }
  std::string decode_piece(const std::string& token) const override {
    std::string t = replace_all(token, pad_, "");
    return cleanup_ ? replace_all(cleanup(std::move(t)), delimiter_, " ") : t;
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_;
};

// Per token, with the Replace normalizer's matching (same JSON shape, same semantics in HF).
class Replace final : public Decoder {
 public:
  explicit Replace(std::unique_ptr<Normalizer> replace) : replace_(std::move(replace)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = replace_->normalize(std::move(t));
  }

 private:
  std::unique_ptr<Normalizer> replace_;
};

// Runs of "<0xNN>" tokens (SentencePiece byte fallback) become the text they spell, or one U+FFFD per byte
// token if that is not valid UTF-8.
class ByteFallback final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t byte_tokens = 0;
    auto flush = [&] {
      if (byte_tokens == 0) return;
      if (utf8_valid(bytes))
        out.push_back(bytes);
      else
        out.insert(out.end(), byte_tokens, "\xEF\xBF\xBD");
      bytes.clear();
      byte_tokens = 0;
    };
    for (std::string& t : tokens) {
      if (const int b = byte_value(t); b >= 0) {
        bytes += static_cast<char>(b);
        ++byte_tokens;
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }
  // A lone byte token mid-stream is its raw byte: the tokens after it may complete the UTF-8 sequence.
  std::string decode_piece(const std::string& token) const override {
    const int b = byte_value(token);
    return b >= 0 ? std::string(1, static_cast<char>(b)) : token;
  }

 private:
  // The byte "<0xNN>" stands for, or -1. Like Rust's u8::from_str_radix, either case and a '+' sign pass.
  static int byte_value(std::string_view t) {
    if (t.size() != 6 || !t.starts_with("<0x") || t.back() != '>') return -1;
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = hex(t[3]), lo = hex(t[4]);
    if (t[3] == '+') return lo;
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class Fuse final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class Strip final : public Decoder {
 public:
  Strip(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}

  void decode_chain(std::vector<std::string>& tokens) const override {
    const std::string_view c = content_;
    for (std::string& t : tokens) {
      std::string_view v = t;
      for (size_t i = 0; i < start_ && v.starts_with(c); ++i) v.remove_prefix(c.size());
      for (size_t i = 0; i < stop_ && v.ends_with(c); ++i) v.remove_suffix(c.size());
      t = std::string(v);
    }
  }
  // Strip follows Fuse in the chains that use it (Llama 2, Gemma: the space the normalizer put before the
  // text): it trims the text's ends, which a token in the middle of a stream is not.
  std::string decode_piece(const std::string& token) const override { return token; }

 private:
  std::string content_;
  size_t start_, stop_;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  // A chain of growing steps (BPEDecoder or Replace with an empty pattern insert at every character) would
  // grow the text exponentially: past growth_limit() of the input it is an Error.
  void decode_chain(std::vector<std::string>& tokens) const override {
    auto total = [&] {
      size_t n = 0;
      for (const std::string& t : tokens) n += t.size();
      return n;
    };
    const size_t limit = growth_limit(total());
    for (const auto& step : steps_) {
      step->decode_chain(tokens);
      if (total() > limit)
        fail(ErrorKind::kResourceExhausted, "decoder Sequence grows the text past {} bytes; refusing", limit);
    }
  }
  std::string decode_piece(const std::string& token) const override {
    const size_t limit = growth_limit(token.size());
    std::string piece = token;
    for (const auto& step : steps_) {
      piece = step->decode_piece(piece);
      if (piece.size() > limit)
        fail(ErrorKind::kResourceExhausted, "decoder Sequence grows a token past {} bytes; refusing", limit);
    }
    return piece;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// Metaspace's prepend_scheme, with the legacy add_prefix_space of older files: true means "always",
// false "never" (HF rejects a file where the two disagree).
bool metaspace_prepends(const json& config, const Where& w) {
  const json* scheme = find(config, "prepend_scheme");
  if (scheme && !scheme->is_string())
    fail(ErrorKind::kCorruptData, "{}: decoder 'Metaspace': 'prepend_scheme' is not a string", w.source);
  const std::string name = scheme ? scheme->get<std::string>() : "always";
  if (name != "always" && name != "first" && name != "never")
    fail(ErrorKind::kCorruptData, "{}: decoder 'Metaspace': prepend_scheme '{}' is not always, first or never",
         w.source, name);
  if (!bool_or(config, "add_prefix_space", true, w)) {
    if (scheme && name != "never")
      fail(ErrorKind::kCorruptData, "{}: decoder 'Metaspace': add_prefix_space false contradicts prepend_scheme '{}'",
           w.source, name);
    return false;
  }
  return name != "never";
}

// Deeper nesting is a hostile file, not a tokenizer; the limit keeps recursion off the end of the stack.
constexpr int kMaxDepth = 32;

std::unique_ptr<Decoder> make_decoder_at(const json& config, const std::string& source, int depth) {
  if (config.is_null()) return nullptr;
  if (!config.is_object()) fail(ErrorKind::kCorruptData, "{}: a decoder is not a JSON object", source);
  const json* type_field = find(config, "type");
  if (!type_field || !type_field->is_string()) fail(ErrorKind::kCorruptData, "{}: a decoder has no 'type'", source);
  const std::string type = type_field->get<std::string>();
  const Where w{source, "decoder", type};

  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Metaspace") {
    std::string replacement = char_or(config, "replacement", "\xE2\x96\x81", w);
    return std::make_unique<Metaspace>(std::move(replacement), metaspace_prepends(config, w));
  }
  if (type == "WordPiece") {
    std::string prefix = string_or(config, "prefix", "##", w);
    return std::make_unique<WordPiece>(std::move(prefix), bool_or(config, "cleanup", true, w));
  }
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(string_or(config, "suffix", "</w>", w));
  if (type == "CTC") {
    std::string pad = string_or(config, "pad_token", "<pad>", w);
    std::string delimiter = string_or(config, "word_delimiter_token", "|", w);
    return std::make_unique<Ctc>(std::move(pad), std::move(delimiter), bool_or(config, "cleanup", true, w));
  }
  if (type == "Replace") {
    // Checked here so that errors name the decoder; the normalizer does the rest (and names a bad regex).
    const json& pattern = require(config, "pattern", w);
    const json& content = require(config, "content", w);
    if (!content.is_string()) fail(ErrorKind::kCorruptData, "{}: decoder 'Replace': 'content' is not a string", source);
    if (!pattern.is_object() || pattern.size() != 1 || !(pattern.contains("String") || pattern.contains("Regex")) ||
        !pattern.begin().value().is_string())
      fail(ErrorKind::kCorruptData, "{}: decoder 'Replace': 'pattern' is not {{\"String\": ...}} or {{\"Regex\": ...}}",
           source);
    json normalizer = {{"type", "Replace"}, {"pattern", pattern}, {"content", content}};
    return std::make_unique<Replace>(make_normalizer(normalizer, source));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    std::string content = char_or(config, "content", " ", w);
    const size_t start = count_or(config, "start", 0, w), stop = count_or(config, "stop", 0, w);
    return std::make_unique<Strip>(std::move(content), start, stop);
  }
  if (type == "Sequence") {
    const json& list = require(config, "decoders", w);
    if (!list.is_array()) fail(ErrorKind::kCorruptData, "{}: decoder 'Sequence': 'decoders' is not a list", source);
    if (depth >= kMaxDepth)
      fail(ErrorKind::kCorruptData, "{}: decoder Sequences nested more than {} deep", source, kMaxDepth);
    std::vector<std::unique_ptr<Decoder>> steps;
    for (const json& item : list)
      if (auto step = make_decoder_at(item, source, depth + 1)) steps.push_back(std::move(step));
    return std::make_unique<Sequence>(std::move(steps));
  }
  fail(ErrorKind::kUnsupported, "{}: decoder '{}' is not supported", source, type);
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& config, const std::string& source) {
  return make_decoder_at(config, source, 0);
}

}  // namespace hearth::hf
