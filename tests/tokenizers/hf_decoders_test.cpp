// Hugging Face decoders (hf/components.h) on small literal cases whose expected output follows the Rust
// `tokenizers` decode_chain of each type, and a clear Error for every malformed section.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizers/hf/components.h"

namespace hearth::hf {
namespace {

using nlohmann::json;
using Tokens = std::vector<std::string>;

Tokens decode(const json& config, Tokens tokens) {
  auto d = make_decoder(config, "t.json");
  EXPECT_NE(d, nullptr);
  if (d) d->decode_chain(tokens);
  return tokens;
}

std::string decode_joined(const json& config, const Tokens& tokens) {
  std::string out;
  for (const std::string& t : decode(config, tokens)) out += t;
  return out;
}

Tokens split(const std::string& text) {
  Tokens out;
  std::istringstream in(text);
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

std::string error_of(const json& config) {
  try {
    make_decoder(config, "t.json");
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

const char* const kReplacementChar = "\uFFFD";

TEST(HfDecoders, NullIsNoStage) { EXPECT_EQ(make_decoder(nullptr, "t.json"), nullptr); }

TEST(HfDecoders, ByteLevelJoinsBytesIntoOneString) {
  const json cfg = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  EXPECT_EQ(decode(cfg, {"Hello", "\u0120my", "\u0120friend", ",", "\u0120how"}), Tokens{"Hello my friend, how"});
  // U+00E5 U+0131 U+00AB spell the bytes E5 8F AB, split over tokens.
  EXPECT_EQ(decode(cfg, {"\u00E5", "\u0131\u00AB"}), Tokens{"\u53EB"});
  EXPECT_EQ(decode(cfg, {}), Tokens{""});
}

TEST(HfDecoders, ByteLevelKeepsTokensOutsideTheAlphabetWhole) {
  const json cfg = {{"type", "ByteLevel"}};
  // "中" is no byte's spelling: that token is its own UTF-8; in "Ġ中" even the "Ġ" stays as it is.
  EXPECT_EQ(decode(cfg, {"\u0120a", "\u4E2D", "\u0120b"}), Tokens{" a\u4E2D b"});
  EXPECT_EQ(decode(cfg, {"x", "\u0120\u4E2D"}), Tokens{"x\u0120\u4E2D"});
}

TEST(HfDecoders, ByteLevelReplacesInvalidUtf8LikeRust) {
  const json cfg = {{"type", "ByteLevel"}};
  // E5 8F then 'a': one U+FFFD for the truncated sequence.
  EXPECT_EQ(decode(cfg, {"\u00E5\u0131", "a"}), Tokens{std::string(kReplacementChar) + "a"});
  // 80 80: two lone continuation bytes, two U+FFFD. ED A0 80 (a surrogate): ED, A0 and 80 each.
  EXPECT_EQ(decode(cfg, {"\u0122\u0122"}), Tokens{std::string(kReplacementChar) + kReplacementChar});
  EXPECT_EQ(decode(cfg, {"\u00ED\u0142\u0122"}),
            Tokens{std::string(kReplacementChar) + kReplacementChar + kReplacementChar});
  // F0 9F 98 then end of text: one U+FFFD.
  EXPECT_EQ(decode(cfg, {"\u00F0\u0141\u013A"}), Tokens{kReplacementChar});
}

TEST(HfDecoders, Metaspace) {
  auto meta = [](json extra) {
    json c = {{"type", "Metaspace"}, {"replacement", "\u2581"}};
    c.update(extra);
    return c;
  };
  const Tokens toks = {"\u2581Hey", "\u2581friend!"};
  EXPECT_EQ(decode(meta({{"prepend_scheme", "always"}, {"split", true}}), toks), (Tokens{"Hey", " friend!"}));
  EXPECT_EQ(decode(meta({{"prepend_scheme", "first"}}), toks), (Tokens{"Hey", " friend!"}));
  EXPECT_EQ(decode(meta({{"prepend_scheme", "never"}}), toks), (Tokens{" Hey", " friend!"}));
  EXPECT_EQ(decode(meta(json::object()), toks), (Tokens{"Hey", " friend!"}));  // default: always
  // Legacy files: add_prefix_space instead of prepend_scheme.
  EXPECT_EQ(decode(meta({{"add_prefix_space", true}}), toks), (Tokens{"Hey", " friend!"}));
  EXPECT_EQ(decode(meta({{"add_prefix_space", false}}), toks), (Tokens{" Hey", " friend!"}));
  EXPECT_EQ(decode(meta({{"add_prefix_space", false}, {"prepend_scheme", "never"}}), toks),
            (Tokens{" Hey", " friend!"}));
  // HF drops every replacement character of the first token, not only the leading one.
  EXPECT_EQ(decode(meta({{"prepend_scheme", "always"}}), {"\u2581\u2581a\u2581b", "\u2581\u2581c"}),
            (Tokens{"ab", "  c"}));
  EXPECT_EQ(decode({{"type", "Metaspace"}, {"replacement", "_"}}, {"_a_b", "_c"}), (Tokens{"ab", " c"}));
}

TEST(HfDecoders, WordPiece) {
  const json raw = {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", false}};
  // HF's own example: a leading "##" on the first token stays.
  EXPECT_EQ(decode_joined(raw, {"##uelo", "Ara", "##\u00FAj", "##o", "No", "##guera"}),
            "##uelo Ara\u00FAjo Noguera");
  EXPECT_EQ(decode(raw, {"hello", ",", "world"}), (Tokens{"hello", " ,", " world"}));

  const json clean = {{"type", "WordPiece"}};  // defaults: "##", cleanup
  EXPECT_EQ(decode_joined(clean, {"hello", ",", "world", "!", "isn", "'", "t", "it", "?", "."}),
            "hello, world! isn ' t it?.");
  // Cleanup works within a token (after its space is added): these rules only fire on tokens holding spaces.
  EXPECT_EQ(decode(clean, {"a", "n't", "do not", "x 's 've 're 'm ' y"}),
            (Tokens{"a", "n't", " don't", " x's've're'm'y"}));
  EXPECT_EQ(decode({{"type", "WordPiece"}, {"prefix", "@@"}, {"cleanup", true}}, {"un", "@@believ", "@@able", "."}),
            (Tokens{"un", "believ", "able", "."}));
}

TEST(HfDecoders, BpeDecoder) {
  const json cfg = {{"type", "BPEDecoder"}, {"suffix", "</w>"}};
  EXPECT_EQ(decode(cfg, {"hello</w>", "wor", "ld</w>"}), (Tokens{"hello ", "wor", "ld"}));
  EXPECT_EQ(decode(cfg, {"a</w>b</w>", "c</w>"}), (Tokens{"a b ", "c"}));
  EXPECT_EQ(decode({{"type", "BPEDecoder"}}, {"x</w>", "y</w>"}), (Tokens{"x ", "y"}));  // default suffix
  EXPECT_EQ(decode({{"type", "BPEDecoder"}, {"suffix", "@"}}, {"x@", "y@"}), (Tokens{"x ", "y"}));
  EXPECT_EQ(decode(cfg, {}), Tokens{});
}

TEST(HfDecoders, Ctc) {
  const json cfg = {{"type", "CTC"}, {"pad_token", "<pad>"}, {"word_delimiter_token", "|"}, {"cleanup", true}};
  EXPECT_EQ(decode_joined(cfg, split("<pad> <pad> h e e l l <pad> l o o o <pad>")), "hello");
  EXPECT_EQ(decode_joined(cfg, split("<pad> <pad> h e e l l <pad> l o o o <pad> <pad> | <pad> w o o o r <pad> <pad> "
                                     "l l d <pad> <pad> <pad> <pad>")),
            "hello world");
  EXPECT_EQ(decode(cfg, split("h e <pad> | | w")), (Tokens{"h", "e", " ", "w"}));
  // Without cleanup the delimiter is left alone (as in HF).
  const json raw = {{"type", "CTC"}, {"cleanup", false}};
  EXPECT_EQ(decode(raw, split("h | | i <pad>")), (Tokens{"h", "|", "i"}));
  EXPECT_EQ(decode_joined({{"type", "CTC"}, {"pad_token", "_"}, {"word_delimiter_token", "#"}}, split("a a _ a # b")),
            "aa b");
}

TEST(HfDecoders, Replace) {
  const json cfg = {{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}};
  EXPECT_EQ(decode(cfg, {"\u2581Hey", "\u2581my\u2581friend", ""}), (Tokens{" Hey", " my friend", ""}));
  const json re = {{"type", "Replace"}, {"pattern", {{"Regex", "[0-9]+"}}}, {"content", "#"}};
  EXPECT_EQ(decode(re, {"a12b3", "x"}), (Tokens{"a#b#", "x"}));
}

TEST(HfDecoders, ByteFallback) {
  const json cfg = {{"type", "ByteFallback"}};
  const std::string bad = kReplacementChar;
  EXPECT_EQ(decode(cfg, {"Hey", "friend!"}), (Tokens{"Hey", "friend!"}));
  EXPECT_EQ(decode(cfg, {"<0x61>"}), (Tokens{"a"}));
  EXPECT_EQ(decode(cfg, {"<0xE5>"}), (Tokens{bad}));
  EXPECT_EQ(decode(cfg, {"<0xE5>", "<0x8f>"}), (Tokens{bad, bad}));
  EXPECT_EQ(decode(cfg, {"<0xE5>", "<0x8f>", "<0xab>"}), (Tokens{"\u53EB"}));
  EXPECT_EQ(decode(cfg, {"<0xE5>", "<0x8f>", "<0xab>", "a"}), (Tokens{"\u53EB", "a"}));
  EXPECT_EQ(decode(cfg, {"<0xE5>", "<0x8f>", "a"}), (Tokens{bad, bad, "a"}));
  EXPECT_EQ(decode(cfg, {"x", "<0x41>", "<0x42>", "y", "<0x43>"}), (Tokens{"x", "AB", "y", "C"}));
  // Rust's u8::from_str_radix takes a '+' sign: "<0x+A>" is byte 0x0A.
  EXPECT_EQ(decode(cfg, {"<0x+A>", "<0x-A>"}), (Tokens{"\n", "<0x-A>"}));
  // Not byte tokens: wrong length, not hex.
  EXPECT_EQ(decode(cfg, {"<0x4>", "<0x411>", "<0xZZ>", "<0X41>"}), (Tokens{"<0x4>", "<0x411>", "<0xZZ>", "<0X41>"}));
}

TEST(HfDecoders, Fuse) {
  EXPECT_EQ(decode({{"type", "Fuse"}}, {"a", "b", "c"}), (Tokens{"abc"}));
  EXPECT_EQ(decode({{"type", "Fuse"}}, {}), (Tokens{""}));
}

TEST(HfDecoders, Strip) {
  EXPECT_EQ(decode({{"type", "Strip"}, {"content", "H"}, {"start", 1}, {"stop", 0}}, {"Hey", " friend!", "HHH"}),
            (Tokens{"ey", " friend!", "HH"}));
  EXPECT_EQ(decode({{"type", "Strip"}, {"content", "y"}, {"start", 0}, {"stop", 1}}, {"Hey", " friend!"}),
            (Tokens{"He", " friend!"}));
  // In "  " the cuts overlap: HF panics there, this gives "".
  EXPECT_EQ(decode({{"type", "Strip"}, {"content", " "}, {"start", 2}, {"stop", 3}}, {"   a    ", "  "}),
            (Tokens{" a ", ""}));
  EXPECT_EQ(decode({{"type", "Strip"}, {"content", "\u2581"}, {"start", 1}, {"stop", 1}}, {"\u2581\u2581x\u2581"}),
            (Tokens{"\u2581x"}));
}

TEST(HfDecoders, SequenceAsLlama2) {
  const json cfg = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  EXPECT_EQ(decode(cfg, {"\u2581Hello", "\u2581world", "<0x21>", "<0xE5>", "<0x8F>", "<0xAB>"}),
            (Tokens{"Hello world!\u53EB"}));
  EXPECT_EQ(decode({{"type", "Sequence"}, {"decoders", json::array()}}, {"a", "b"}), (Tokens{"a", "b"}));
}

TEST(HfDecoders, ErrorsNameTheProblem) {
  auto has = [](const json& cfg, const std::string& what) {
    const std::string e = error_of(cfg);
    EXPECT_NE(e.find(what), std::string::npos) << "error for " << cfg.dump() << ": '" << e << "'";
    EXPECT_NE(e.find("t.json"), std::string::npos) << e;
  };
  has({{"type", "Cyrillic"}}, "decoder 'Cyrillic' is not supported");
  has(json::array(), "not a JSON object");
  has({{"suffix", "x"}}, "no 'type'");
  has({{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}}, "'content' is not one character");
  has({{"type", "Strip"}, {"content", " "}, {"start", -1}, {"stop", 0}}, "'start' is not a non-negative integer");
  has({{"type", "Strip"}, {"content", " "}, {"start", 0}, {"stop", "1"}}, "'stop' is not a non-negative integer");
  has({{"type", "WordPiece"}, {"cleanup", "yes"}}, "'cleanup' is not a boolean");
  has({{"type", "WordPiece"}, {"prefix", 1}}, "'prefix' is not a string");
  has({{"type", "BPEDecoder"}, {"suffix", false}}, "'suffix' is not a string");
  has({{"type", "CTC"}, {"pad_token", 0}}, "'pad_token' is not a string");
  has({{"type", "Metaspace"}, {"replacement", ""}}, "'replacement' is not one character");
  has({{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "sometimes"}},
      "prepend_scheme 'sometimes'");
  has({{"type", "Metaspace"}, {"replacement", "\u2581"}, {"add_prefix_space", false}, {"prepend_scheme", "always"}},
      "contradicts");
  has({{"type", "Replace"}, {"content", " "}}, "'pattern'");
  has({{"type", "Replace"}, {"pattern", {{"String", "a"}}}}, "'content'");
  has({{"type", "Replace"}, {"pattern", {{"Regex", 1}}}, {"content", ""}}, "'pattern' is not");
  has({{"type", "Replace"}, {"pattern", {{"Regex", "[a"}}}, {"content", ""}}, "does not compile");
  has({{"type", "Sequence"}}, "'decoders'");
  has({{"type", "Sequence"}, {"decoders", {{"type", "Fuse"}}}}, "'decoders' is not a list");
  has({{"type", "Sequence"}, {"decoders", {{{"type", "Nope"}}}}}, "decoder 'Nope' is not supported");
}

}  // namespace
}  // namespace hearth::hf
