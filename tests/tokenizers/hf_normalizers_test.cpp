// Hugging Face normalizers (hf/components.h) on small literal cases whose expected output follows the Rust
// `tokenizers` code (tokenizers/src/normalizers/*.rs), and a clear Error for every malformed section.
// Non-ASCII is written as \u escapes: an editor's normalization must not change what is tested.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tokenizers/hf/components.h"
#include "charsmap_builder.h"

namespace hearth::hf {
namespace {

using test::base64;
using test::CharsmapBuilder;

using nlohmann::json;

std::string normalize(const json& config, const std::string& text) {
  auto n = make_normalizer(config, "t.json");
  EXPECT_NE(n, nullptr);
  return n ? n->normalize(text) : std::string();
}

// The Error message of building `config`, or "" if it builds.
std::string error_of(const json& config) {
  try {
    make_normalizer(config, "t.json");
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

json bert(json clean, json chinese, json strip, json lower) {
  return {{"type", "BertNormalizer"},
          {"clean_text", clean},
          {"handle_chinese_chars", chinese},
          {"strip_accents", strip},
          {"lowercase", lower}};
}

TEST(HfNormalizers, NullIsNoStage) { EXPECT_EQ(make_normalizer(nullptr, "t.json"), nullptr); }

TEST(HfNormalizers, BertDefaultsCleanSplitCjkStripAccentsAndLowercase) {
  const json cfg = bert(true, true, nullptr, true);
  // \t -> ' ', NUL and U+200B (Cf) dropped, accents stripped because strip_accents follows lowercase.
  EXPECT_EQ(normalize(cfg, "H\u00E9llo\tWorld" + std::string(1, '\0') + "!\u200B"), "hello world!");
  EXPECT_EQ(normalize(cfg, "\u4E2D\u6587abc"), " \u4E2D  \u6587 abc");
  // All four fields absent: HF's defaults, the same as above.
  EXPECT_EQ(normalize({{"type", "BertNormalizer"}}, "\u00C9T\u00C9\u4E00"), "ete \u4E00 ");
}

TEST(HfNormalizers, BertCleanText) {
  const json cfg = bert(true, false, false, false);
  // Whitespace (White_Space or \t\n\r) -> ' '; C* categories and U+FFFD go; \v and U+0085 are Cc, so they go.
  EXPECT_EQ(normalize(cfg, "a\nb\rc\u00A0d\u3000e\u2028f"), "a b c d e f");
  EXPECT_EQ(normalize(cfg, "a\vb\u0085c\u00ADd\uFFFDe\u0007f"), "abcdef");
  EXPECT_EQ(normalize(cfg, "a\uE000b"), "ab");  // private use (Co)
  EXPECT_EQ(normalize(bert(false, false, false, false), "a\tb\u200B"), "a\tb\u200B");
}

TEST(HfNormalizers, BertChineseCharsUseHfRanges) {
  const json cfg = bert(false, true, false, false);
  EXPECT_EQ(normalize(cfg, "a\u3400b"), "a \u3400 b");
  EXPECT_EQ(normalize(cfg, "\U0002B920"), " \U0002B920 ");
  EXPECT_EQ(normalize(cfg, "\U0002B820"), "\U0002B820");  // not in HF's sixth range (which starts at 2B920)
  EXPECT_EQ(normalize(cfg, "\u3042\uAC00"), "\u3042\uAC00");  // kana and hangul are not split
  EXPECT_EQ(normalize(bert(false, false, false, false), "\u4E2D"), "\u4E2D");
}

TEST(HfNormalizers, BertStripAccentsAndLowercaseAreIndependent) {
  EXPECT_EQ(normalize(bert(false, false, false, true), "H\u00E9llo"), "h\u00E9llo");
  EXPECT_EQ(normalize(bert(false, false, true, false), "H\u00E9llo"), "Hello");
  EXPECT_EQ(normalize(bert(false, false, nullptr, false), "H\u00E9llo"), "H\u00E9llo");
  // Full lowercase: U+0130 is "i" + U+0307 (unless accents are stripped after NFD first).
  EXPECT_EQ(normalize(bert(false, false, false, true), "\u0130"), "i\u0307");
  EXPECT_EQ(normalize(bert(false, false, true, true), "\u0130"), "i");
}

TEST(HfNormalizers, Lowercase) {
  const json cfg = {{"type", "Lowercase"}};
  // Character by character (Rust's char::to_lowercase): no final-sigma rule.
  EXPECT_EQ(normalize(cfg, "HeLLo \u03A3\u0391\u03A3 \u0130 \u00C9"), "hello \u03C3\u03B1\u03C3 i\u0307 \u00E9");
}

TEST(HfNormalizers, UnicodeForms) {
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\u0301"), "\u00E9");
  EXPECT_EQ(normalize({{"type", "NFC"}}, "\uFB01"), "\uFB01");
  EXPECT_EQ(normalize({{"type", "NFD"}}, "\u00E9"), "e\u0301");
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "\uFB01 \uFF21 e\u0301"), "fi A \u00E9");
  EXPECT_EQ(normalize({{"type", "NFKD"}}, "\uFB01\u00E9"), "fie\u0301");
  // Invalid bytes pass through and separate what is normalized.
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\xFF\u0301"), "e\xFF\u0301");
  EXPECT_EQ(normalize({{"type", "NFD"}}, std::string("\xC3") + "\u00E9"), "\xC3" "e\u0301");
}

TEST(HfNormalizers, Nmt) {
  const json cfg = {{"type", "Nmt"}};
  EXPECT_EQ(normalize(cfg, "a\u0001b\tc\u200Bd\uFEFFe\u2581f\u008Fg\u001Fh\uFFFDi"), "ab c d e fgh i");
  EXPECT_EQ(normalize(cfg, "a\u00A0b"), "a\u00A0b");  // not in the list
}

TEST(HfNormalizers, Strip) {
  auto strip = [](bool l, bool r) { return json{{"type", "Strip"}, {"strip_left", l}, {"strip_right", r}}; };
  const std::string text = " \u3000\t hi there \n\u2029";
  EXPECT_EQ(normalize(strip(true, true), text), "hi there");
  EXPECT_EQ(normalize(strip(true, false), text), "hi there \n\u2029");
  EXPECT_EQ(normalize(strip(false, true), text), " \u3000\t hi there");
  EXPECT_EQ(normalize(strip(false, false), text), text);
  EXPECT_EQ(normalize(strip(true, true), " \u00A0 "), "");
  EXPECT_EQ(normalize(strip(false, true), "  "), "");
  EXPECT_EQ(normalize(strip(true, true), " \u200B "), "\u200B");  // U+200B is not White_Space
}

TEST(HfNormalizers, StripAccentsRemovesEveryMark) {
  const json cfg = {{"type", "StripAccents"}};
  EXPECT_EQ(normalize(cfg, "e\u0304\u0304\u0304o"), "eo");              // Mn
  EXPECT_EQ(normalize(cfg, "\u0915\u0903"), "\u0915");                 // Mc (Devanagari visarga)
  EXPECT_EQ(normalize(cfg, "a\u20DD"), "a");                           // Me (enclosing circle)
  EXPECT_EQ(normalize(cfg, "\u00E9"), "\u00E9");                       // decomposes nothing itself
  const json seq = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFKD"}}, cfg, {{"type", "Lowercase"}}}}};
  EXPECT_EQ(normalize(seq, "Me llam\u00F3"), "me llamo");
  EXPECT_EQ(normalize(seq, "\u1EAD\u2026"), "a...");                  // HF's "vietnamese bug" case
}

TEST(HfNormalizers, Prepend) {
  const json cfg = {{"type", "Prepend"}, {"prepend", "\u2581"}};
  EXPECT_EQ(normalize(cfg, "hey"), "\u2581hey");
  EXPECT_EQ(normalize(cfg, ""), "");
}

TEST(HfNormalizers, ReplaceString) {
  const json cfg = {{"type", "Replace"}, {"pattern", {{"String", "''"}}}, {"content", "\""}};
  EXPECT_EQ(normalize(cfg, "This is a ''test''"), "This is a \"test\"");
  // A String pattern is literal: "." matches only ".".
  const json dot = {{"type", "Replace"}, {"pattern", {{"String", "a.b"}}}, {"content", "X"}};
  EXPECT_EQ(normalize(dot, "a.b axb"), "X axb");
  const json space = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}};
  EXPECT_EQ(normalize(space, "Hello  world"), "Hello\u2581\u2581world");
}

TEST(HfNormalizers, ReplaceRegex) {
  const json cfg = {{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}};
  EXPECT_EQ(normalize(cfg, "This     is   a         test"), "This is a test");
  // Empty matches count, except right where the previous match ended (Rust's find_iter): "x*" in "axb"
  // matches at 0, over "x", and at 3.
  const json star = {{"type", "Replace"}, {"pattern", {{"Regex", "x*"}}}, {"content", "-"}};
  EXPECT_EQ(normalize(star, "axb"), "-a-b-");
  EXPECT_EQ(normalize(star, ""), "");
  const json unicode = {{"type", "Replace"}, {"pattern", {{"Regex", "\\p{L}+"}}}, {"content", "W"}};
  EXPECT_EQ(normalize(unicode, "\u00E9t\u00E9 42 \u4E2D"), "W 42 W");
}

TEST(HfNormalizers, ByteLevelSpellsBytesInGpt2Alphabet) {
  const json cfg = {{"type", "ByteLevel"}};
  EXPECT_EQ(normalize(cfg, "Hello world"), "Hello\u0120world");
  EXPECT_EQ(normalize(cfg, "\u00E9\n"), "\u00C3\u00A9\u010A");
  EXPECT_EQ(normalize(cfg, "\xFF"), "\u00FF");
}

TEST(HfNormalizers, SequenceAppliesInOrderAndSkipsNull) {
  const json cfg = {{"type", "Sequence"},
                    {"normalizers",
                     {{{"type", "Prepend"}, {"prepend", "\u2581"}},
                      nullptr,
                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}};
  EXPECT_EQ(normalize(cfg, "Hey friend"), "\u2581Hey\u2581friend");
  EXPECT_EQ(normalize({{"type", "Sequence"}, {"normalizers", json::array()}}, "x"), "x");
}

// ---- Precompiled ---------------------------------------------------------------------------------------------

json precompiled(const std::vector<std::pair<std::string, std::string>>& rules) {
  return {{"type", "Precompiled"}, {"precompiled_charsmap", base64(CharsmapBuilder().build(rules))}};
}

TEST(HfNormalizers, PrecompiledReplacesCharacters) {
  // Entries of SentencePiece's nmt_nfkc map (HF's precompiled_test.rs checks these against the real one).
  const json cfg = precompiled({{"\U0001D53E", "G"},
                                {"\U0001D560", "o"},
                                {"\U0001D555", "d"},
                                {"\u200D", " "},
                                {"\uFB01", "fi"},
                                {"\uFF21", "A"},
                                {"e\u0301", "\u00E9"}});
  EXPECT_EQ(normalize(cfg, "\U0001D53E\U0001D560\U0001D560\U0001D555 morning"), "Good morning");
  EXPECT_EQ(normalize(cfg, "\uFB01x\u200Dy"), "fix y");
  EXPECT_EQ(normalize(cfg, "caf" "e\u0301"), "caf\u00E9");  // a two-character key, as one grapheme
  EXPECT_EQ(normalize(cfg, "plain text"), "plain text");
  EXPECT_EQ(normalize(cfg, ""), "");
  EXPECT_EQ(normalize(cfg, "\xFF\uFB01\xC3"), "\xFF" "fi\xC3");  // invalid bytes pass through
}

TEST(HfNormalizers, PrecompiledWorksOnGraphemeClustersLikeHf) {
  const json cfg = precompiled({{"\uFF21", "A"}, {"e", "E"}, {"e\u0301", "\u00C9"}, {"ab", "X"}, {"a", "Y"}});
  // A cluster under 6 bytes with a key as prefix is replaced whole, by the shortest key's replacement:
  // the accent after U+FF21 is lost, and "e" wins over "e\u0301".
  EXPECT_EQ(normalize(cfg, "\uFF21\u0301"), "A");
  EXPECT_EQ(normalize(cfg, "e\u0301"), "E");
  // From 6 bytes on, character by character.
  EXPECT_EQ(normalize(cfg, "\uFF21\u0301\u0301"), "A\u0301\u0301");
  // Keys never span clusters: "ab" is two clusters, so only "a" applies.
  EXPECT_EQ(normalize(cfg, "ab"), "Yb");
}

TEST(HfNormalizers, PrecompiledEmptyCharsmapIsIdentity) {
  EXPECT_EQ(normalize({{"type", "Precompiled"}, {"precompiled_charsmap", ""}}, "\uFB01 x"), "\uFB01 x");
  EXPECT_EQ(normalize({{"type", "Precompiled"}, {"precompiled_charsmap", nullptr}}, "\uFB01 x"), "\uFB01 x");
}

TEST(HfNormalizers, PrecompiledRejectsMalformedCharsmaps) {
  auto charsmap = [](const json& v) { return json{{"type", "Precompiled"}, {"precompiled_charsmap", v}}; };
  EXPECT_NE(error_of(charsmap(5)).find("'precompiled_charsmap' is not a string"), std::string::npos);
  EXPECT_NE(error_of(charsmap("@@@@")).find("not base64"), std::string::npos);
  EXPECT_NE(error_of(charsmap(base64("ab"))).find("header"), std::string::npos);
  EXPECT_NE(error_of(charsmap(base64(std::string("\x10\0\0\0", 4) + "abcd"))).find("trie size"), std::string::npos);
  EXPECT_NE(error_of(charsmap(base64(std::string("\x06\0\0\0", 4) + "abcdef"))).find("trie size"), std::string::npos);
  EXPECT_NE(error_of(charsmap(base64(std::string("\x04\0\0\0", 4) + "abcd\xFF"))).find("not UTF-8"),
            std::string::npos);
}

TEST(HfNormalizers, PrecompiledSurvivesCorruptTries) {
  // Units that point outside the array (or values outside the pool) are no match, never a read out of bounds.
  std::string blob("\x08\0\0\0", 4);
  blob += std::string("\x00\xFC\xFF\x7F", 4);  // root offset far past the end
  blob += std::string("\x61\x01\x00\x00", 4);
  blob += "x";
  const json cfg = {{"type", "Precompiled"}, {"precompiled_charsmap", base64(blob)}};
  EXPECT_EQ(normalize(cfg, "abc"), "abc");
  // A leaf whose offset lies beyond the pool.
  const std::string built = CharsmapBuilder().build({{"a", "Z"}});
  std::string broken = built.substr(0, built.size() - 2);  // drop the pool ("Z\0")
  EXPECT_EQ(normalize({{"type", "Precompiled"}, {"precompiled_charsmap", base64(broken)}}, "abc"), "abc");
}

// ---- malformed sections ----------------------------------------------------------------------------------------

TEST(HfNormalizers, ErrorsNameTheProblem) {
  auto has = [](const json& cfg, const std::string& what) {
    const std::string e = error_of(cfg);
    EXPECT_NE(e.find(what), std::string::npos) << "error for " << cfg.dump() << ": '" << e << "'";
    EXPECT_NE(e.find("t.json"), std::string::npos) << e;
  };
  has({{"type", "Unicode"}}, "normalizer 'Unicode' is not supported");
  has(json::array(), "not a JSON object");
  has({{"prepend", "x"}}, "no 'type'");
  has({{"type", 3}}, "no 'type'");
  has({{"type", "Prepend"}}, "'prepend'");
  has({{"type", "Prepend"}, {"prepend", 5}}, "'prepend' is not a string");
  has({{"type", "Replace"}, {"content", "x"}}, "'pattern'");
  has({{"type", "Replace"}, {"pattern", {{"String", "a"}}}}, "'content'");
  has({{"type", "Replace"}, {"pattern", {{"Glob", "a"}}}, {"content", "x"}}, "'pattern' is not");
  has({{"type", "Replace"}, {"pattern", "a"}, {"content", "x"}}, "'pattern' is not");
  has({{"type", "Replace"}, {"pattern", {{"String", 1}}}, {"content", "x"}}, "'String' is not a string");
  has({{"type", "Replace"}, {"pattern", {{"Regex", "(a"}}}, {"content", "x"}}, "does not compile");
  has({{"type", "Sequence"}}, "'normalizers'");
  has({{"type", "Sequence"}, {"normalizers", {{"type", "NFC"}}}}, "'normalizers' is not a list");
  has({{"type", "Sequence"}, {"normalizers", {{{"type", "Nope"}}}}}, "normalizer 'Nope' is not supported");
  has({{"type", "BertNormalizer"}, {"lowercase", "yes"}}, "'lowercase' is not a boolean");
  has({{"type", "BertNormalizer"}, {"strip_accents", 1}}, "'strip_accents' is not a boolean");
  has({{"type", "Strip"}, {"strip_left", 1}, {"strip_right", true}}, "'strip_left' is not a boolean");
}

}  // namespace
}  // namespace hearth::hf
