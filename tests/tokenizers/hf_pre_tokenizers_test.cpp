// Hugging Face pre-tokenizers (hf/pre_tokenizers.cpp): every type and option on small inputs, the expected
// pieces worked out by hand from the Rust `tokenizers` semantics (many are the Rust library's own test cases),
// plus malformed sections (an Error naming the field) and invalid UTF-8 (no crash, no lost bytes).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizers/hf/components.h"

namespace hearth::hf {
namespace {

using nlohmann::json;
using Pieces = std::vector<std::string>;

Pieces run(const json& config, Pieces pieces, size_t section = 0) {
  auto p = make_pre_tokenizer(config, "test.json");
  EXPECT_NE(p, nullptr);
  if (p) p->split(pieces, section);
  return pieces;
}
Pieces run(const char* config, const std::string& text, size_t section = 0) {
  return run(json::parse(config), Pieces{text}, section);
}

// The Error message for `config`, or "" if it builds.
std::string error_of(const char* config) {
  try {
    make_pre_tokenizer(json::parse(config), "test.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

json split(const json& pattern, const char* behavior, bool invert) {
  return {{"type", "Split"}, {"pattern", pattern}, {"behavior", behavior}, {"invert", invert}};
}

// ---- Split: the five behaviours, plain and inverted

// tokenizers' own documentation example: splitting "the-final--countdown" on '-'.
TEST(HfPreTokenizers, SplitBehaviours) {
  const json dash = {{"String", "-"}};
  const std::string text = "the-final--countdown";
  EXPECT_EQ(run(split(dash, "Removed", false), {text}), (Pieces{"the", "final", "countdown"}));
  EXPECT_EQ(run(split(dash, "Isolated", false), {text}), (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(run(split(dash, "MergedWithPrevious", false), {text}), (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(run(split(dash, "MergedWithNext", false), {text}), (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(run(split(dash, "Contiguous", false), {text}), (Pieces{"the", "-", "final", "--", "countdown"}));
}

// Inverted, the words are the matches and the dashes the "delimiters".
TEST(HfPreTokenizers, SplitBehavioursInverted) {
  const json dash = {{"String", "-"}};
  const std::string text = "the-final--countdown";
  EXPECT_EQ(run(split(dash, "Removed", true), {text}), (Pieces{"-", "-", "-"}));
  EXPECT_EQ(run(split(dash, "Isolated", true), {text}), (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(run(split(dash, "MergedWithPrevious", true), {text}), (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(run(split(dash, "MergedWithNext", true), {text}), (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(run(split(dash, "Contiguous", true), {text}), (Pieces{"the", "-", "final", "--", "countdown"}));
}

// The Rust library's split.rs test: the Whitespace regex, inverted, under each behaviour.
TEST(HfPreTokenizers, SplitRegexInvertedRustCases) {
  const json re = {{"Regex", R"(\w+|[^\w\s]+)"}};
  const std::string text = "How are you doing?";
  EXPECT_EQ(run(split(re, "Removed", true), {text}), (Pieces{"How", "are", "you", "doing", "?"}));
  EXPECT_EQ(run(split(re, "Isolated", true), {text}),
            (Pieces{"How", " ", "are", " ", "you", " ", "doing", "?"}));
  EXPECT_EQ(run(split(re, "MergedWithPrevious", true), {text}), (Pieces{"How ", "are ", "you ", "doing", "?"}));
  EXPECT_EQ(run(split(re, "MergedWithNext", true), {text}), (Pieces{"How", " are", " you", " doing", "?"}));
  EXPECT_EQ(run(split(re, "Contiguous", true), {text}), (Pieces{"How", " ", "are", " ", "you", " ", "doing?"}));
  // Not inverted, Removed drops the words and keeps the spaces.
  EXPECT_EQ(run(split(re, "Removed", false), {text}), (Pieces{" ", " ", " "}));
}

// Gemma 3's pre-tokenizer: each space stays on the word before it; a second space is its own piece.
TEST(HfPreTokenizers, SplitGemma3Spaces) {
  const char* gemma = R"({"type":"Split","pattern":{"String":" "},"behavior":"MergedWithPrevious","invert":false})";
  EXPECT_EQ(run(gemma, "Hello  world "), (Pieces{"Hello ", " ", "world "}));
  EXPECT_EQ(run(gemma, " a"), (Pieces{" ", "a"}));
}

TEST(HfPreTokenizers, SplitStringIsLiteral) {
  EXPECT_EQ(run(split({{"String", ".*"}}, "Isolated", false), {"a.*b.c"}), (Pieces{"a", ".*", "b.c"}));
  EXPECT_EQ(run(split({{"String", "ab"}}, "Isolated", false), {"aabbab"}), (Pieces{"a", "ab", "b", "ab"}));
}

// Each stage re-splits every piece it gets, and no piece is ever empty.
TEST(HfPreTokenizers, SplitAppliesToEveryPiece) {
  EXPECT_EQ(run(split({{"String", " "}}, "Removed", false), Pieces{"a b", "c", " d "}),
            (Pieces{"a", "b", "c", "d"}));
}

// Patterns that can match "" split the way the onig crate's find_iter does: an empty String (an empty
// regex) cuts between every character; an empty match right after a non-empty one is skipped.
TEST(HfPreTokenizers, SplitEmptyMatches) {
  EXPECT_EQ(run(split({{"String", ""}}, "Isolated", false), {"abc"}), (Pieces{"a", "b", "c"}));
  EXPECT_EQ(run(split({{"Regex", "x*"}}, "Removed", false), {"axb"}), (Pieces{"a", "b"}));
  EXPECT_EQ(run(split({{"Regex", "x*"}}, "Isolated", false), {"axb"}), (Pieces{"a", "x", "b"}));
  EXPECT_EQ(run(split({{"Regex", "x*"}}, "MergedWithNext", false), {"axb"}), (Pieces{"a", "xb"}));
}

// gpt-3.5's regex (Removed + invert: the matches are the pieces). The caseless contractions are matched
// with ASCII classes: "'ſt" (U+017F long s) is one word, not the contraction "'ſ" + "t".
TEST(HfPreTokenizers, SplitCaselessContractions) {
  const json re = {
      {"Regex",
       R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
  EXPECT_EQ(run(split(re, "Removed", true), {"I'M here 12345"}), (Pieces{"I", "'M", " here", " ", "123", "45"}));
  EXPECT_EQ(run(split(re, "Removed", true), {"x'\u017Ft"}), (Pieces{"x", "'\u017Ft"}));
  EXPECT_EQ(run(split(re, "Removed", true), {"x'st"}), (Pieces{"x", "'s", "t"}));
}

// gpt-4o's whole pre-tokenizer, with the optional contraction group after a word.
TEST(HfPreTokenizers, Gpt4oSequence) {
  const json config = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern",
          {{"Regex",
            R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
         {"behavior", "Removed"},
         {"invert", true}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  EXPECT_EQ(run(config, {"Hello world's 1234!!\n\n  x IT'S"}),
            (Pieces{"Hello", "\u0120world's", "\u0120", "123", "4", "!!\u010A\u010A", "\u0120", "\u0120x",
                    "\u0120IT'S"}));
}

// Oniguruma's meanings where PCRE2's differ: \s has U+0085, \h is a hex digit, \uHHHH a code point, ^ a line
// start.
TEST(HfPreTokenizers, SplitRegexOnigurumaSemantics) {
  EXPECT_EQ(run(split({{"Regex", R"(\s+)"}}, "Isolated", false), {"a\u0085b"}), (Pieces{"a", "\u0085", "b"}));
  EXPECT_EQ(run(split({{"Regex", R"([^\s]+)"}}, "Removed", true), {"a\u0085b"}), (Pieces{"a", "b"}));
  EXPECT_EQ(run(split({{"Regex", R"(\S+)"}}, "Removed", true), {"a\u0085b c"}), (Pieces{"a", "b", "c"}));
  EXPECT_EQ(run(split({{"Regex", R"(\h+)"}}, "Isolated", false), {"zz0fz"}), (Pieces{"zz", "0f", "z"}));
  EXPECT_EQ(run(split({{"Regex", R"(\u0041)"}}, "Isolated", false), {"xAx"}), (Pieces{"x", "A", "x"}));
  EXPECT_EQ(run(split({{"Regex", "^a"}}, "Isolated", false), {"ab\nab"}), (Pieces{"a", "b\n", "a", "b"}));
  // \w includes marks: "e" + U+0301 is one word.
  EXPECT_EQ(run(split({{"Regex", R"(\w+)"}}, "Removed", true), {"e\u0301 x"}), (Pieces{"e\u0301", "x"}));
  // Oniguruma's \w has U+00BD (No) outside a bracket class but not inside one, and U+24B6 (Alphabetic) in both.
  EXPECT_EQ(run(split({{"Regex", R"(\w+)"}}, "Removed", true), {"a\u00BD\u24B6-"}), (Pieces{"a\u00BD\u24B6"}));
  EXPECT_EQ(run(split({{"Regex", R"([\w]+)"}}, "Removed", true), {"a\u00BD\u24B6-"}), (Pieces{"a", "\u24B6"}));
  // \b by that \w: U+24B6 is a word character, so "\u24B6a" has no boundary inside.
  EXPECT_EQ(run(split({{"Regex", R"(\b)"}}, "Isolated", false), {"\u24B6a b"}), (Pieces{"\u24B6a", " ", "b"}));
  // [:punct:] has symbols, \p{Punct} does not; [:alpha:] is Alphabetic.
  EXPECT_EQ(run(split({{"Regex", "[[:punct:]]+"}}, "Removed", true), {"a$!b"}), (Pieces{"$!"}));
  EXPECT_EQ(run(split({{"Regex", R"(\p{Punct}+)"}}, "Removed", true), {"a$!b"}), (Pieces{"!"}));
  EXPECT_EQ(run(split({{"Regex", "[[:alpha:]]+"}}, "Removed", true), {"\u2167x1"}), (Pieces{"\u2167x"}));
  // Script names mean the Script property: U+3001 (Common, used with Han) is not \p{Han}.
  EXPECT_EQ(run(split({{"Regex", R"(\p{Han}+)"}}, "Isolated", false), {"\u6F22\u3001"}),
            (Pieces{"\u6F22", "\u3001"}));
}

// ---- ByteLevel

TEST(HfPreTokenizers, ByteLevel) {
  const char* plain = R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true})";
  EXPECT_EQ(run(plain, "Hello my friend, how is your day going?"),
            (Pieces{"Hello", "\u0120my", "\u0120friend", ",", "\u0120how", "\u0120is", "\u0120your", "\u0120day",
                    "\u0120going", "?"}));
  EXPECT_EQ(run(plain, "Hello there\nHello there"),
            (Pieces{"Hello", "\u0120there", "\u010A", "Hello", "\u0120there"}));
  EXPECT_EQ(run(plain, "Hello there       dear"),
            (Pieces{"Hello", "\u0120there", "\u0120\u0120\u0120\u0120\u0120\u0120", "\u0120dear"}));
  EXPECT_EQ(run(plain, "i\u2B62j"), (Pieces{"i", "\u00E2\u0143\u00A2", "j"}));  // E2 AD A2, byte by byte
  EXPECT_EQ(run(plain, "it's"), (Pieces{"it", "'s"}));
  // \s is Oniguruma's, with U+0085: "!" and NEL are separate pieces (C2 85 -> U+00C2 U+0127).
  EXPECT_EQ(run(plain, "!\u0085"), (Pieces{"!", "\u00C2\u0127"}));
}

TEST(HfPreTokenizers, ByteLevelAddPrefixSpace) {
  const char* prefixed = R"({"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true})";
  const Pieces expected{"\u0120Hello", "\u0120my", "\u0120friend", ","};
  EXPECT_EQ(run(prefixed, "Hello my friend,"), expected);
  EXPECT_EQ(run(prefixed, " Hello my friend,"), expected);
  // Rust adds the space to every piece the stage receives.
  EXPECT_EQ(run(json::parse(prefixed), Pieces{"a", "b"}), (Pieces{"\u0120a", "\u0120b"}));
}

TEST(HfPreTokenizers, ByteLevelWithoutRegex) {
  EXPECT_EQ(run(R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false})",
                "Hello world!\t"),
            (Pieces{"Hello\u0120world!\u0109"}));
  EXPECT_EQ(run(R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":false})", "a b"),
            (Pieces{"\u0120a\u0120b"}));
  // Claude's file has no use_regex (default true) and no other options beyond these.
  EXPECT_EQ(run(R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true})", "a b"),
            (Pieces{"a", "\u0120b"}));
}

// ---- Metaspace

TEST(HfPreTokenizers, Metaspace) {
  const char* always = R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":true})";
  EXPECT_EQ(run(always, "Hey friend!"), (Pieces{"\u2581Hey", "\u2581friend!"}));
  EXPECT_EQ(run(always, "Hey   friend!"), (Pieces{"\u2581Hey", "\u2581", "\u2581", "\u2581friend!"}));
  EXPECT_EQ(run(always, " Hey"), (Pieces{"\u2581Hey"}));  // already starts with the replacement
  EXPECT_EQ(run(always, "Hey", 3), (Pieces{"\u2581Hey"}));
  EXPECT_EQ(run(R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":false})", "Hey friend"),
            (Pieces{"\u2581Hey\u2581friend"}));
  EXPECT_EQ(run(R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"never"})", "Hey friend"),
            (Pieces{"Hey", "\u2581friend"}));
  EXPECT_EQ(run(R"({"type":"Metaspace","replacement":"_","prepend_scheme":"always"})", "a b"),
            (Pieces{"_a", "_b"}));
  // Defaults: replacement U+2581, always, split.
  EXPECT_EQ(run(R"({"type":"Metaspace"})", "a b"), (Pieces{"\u2581a", "\u2581b"}));
  // Only ' ' is replaced, not other whitespace.
  EXPECT_EQ(run(R"({"type":"Metaspace","replacement":"\u2581","split":false})", "a\tb"), (Pieces{"\u2581a\tb"}));
}

TEST(HfPreTokenizers, MetaspaceLegacyAddPrefixSpace) {
  EXPECT_EQ(run(R"({"type":"Metaspace","replacement":"\u2581","add_prefix_space":true})", "a b"),
            (Pieces{"\u2581a", "\u2581b"}));
  EXPECT_EQ(run(R"({"type":"Metaspace","replacement":"\u2581","add_prefix_space":false})", "a b"),
            (Pieces{"a", "\u2581b"}));
  EXPECT_EQ(run(R"({"type":"Metaspace","replacement":"\u2581","add_prefix_space":true,"prepend_scheme":"first"})",
                "a", 1),
            (Pieces{"a"}));
  EXPECT_NE(error_of(R"({"type":"Metaspace","replacement":"\u2581","add_prefix_space":false,"prepend_scheme":"always"})"),
            "");
}

// "first": only the piece that starts the text gets the replacement (section 0, nothing dropped before it).
TEST(HfPreTokenizers, MetaspacePrependFirst) {
  const char* first = R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"first","split":false})";
  EXPECT_EQ(run(first, "Hey", 0), (Pieces{"\u2581Hey"}));
  EXPECT_EQ(run(first, "Hey", 1), (Pieces{"Hey"}));
  // The Rust library's test: an Isolated split on "<s>" first; only the first piece is prepended.
  const json seq = {{"type", "Sequence"},
                    {"pretokenizers", {split({{"String", "<s>"}}, "Isolated", false), json::parse(first)}}};
  EXPECT_EQ(run(seq, {"Hey my friend <s>how\u2581are you"}),
            (Pieces{"\u2581Hey\u2581my\u2581friend\u2581", "<s>", "how\u2581are\u2581you"}));
  EXPECT_EQ(run(seq, {" Hey <s>how"}), (Pieces{"\u2581Hey\u2581", "<s>", "how"}));
  // After WhitespaceSplit dropped leading spaces, the first piece no longer starts the text.
  const json ws_first = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "WhitespaceSplit"}}, json::parse(first)}}};
  EXPECT_EQ(run(ws_first, {"hi there"}), (Pieces{"\u2581hi", "there"}));
  EXPECT_EQ(run(ws_first, {"  hi there"}), (Pieces{"hi", "there"}));
}

// ---- The other types

TEST(HfPreTokenizers, Whitespace) {
  const char* ws = R"({"type":"Whitespace"})";
  EXPECT_EQ(run(ws, "Hey man!"), (Pieces{"Hey", "man", "!"}));
  EXPECT_EQ(run(ws, "How are you doing?"), (Pieces{"How", "are", "you", "doing", "?"}));
  EXPECT_EQ(run(ws, "\n"), Pieces{});
  EXPECT_EQ(run(ws, "a_b--c\u00A0\u0085d"), (Pieces{"a_b", "--", "c", "d"}));  // NBSP and NEL are White_Space
}

TEST(HfPreTokenizers, WhitespaceSplit) {
  const char* ws = R"({"type":"WhitespaceSplit"})";
  EXPECT_EQ(run(ws, "Hey man!"), (Pieces{"Hey", "man!"}));
  EXPECT_EQ(run(ws, "Hey, man, Good?"), (Pieces{"Hey,", "man,", "Good?"}));
  EXPECT_EQ(run(ws, " \t a\u3000b\u2028 "), (Pieces{"a", "b"}));
}

TEST(HfPreTokenizers, BertPreTokenizer) {
  EXPECT_EQ(run(R"({"type":"BertPreTokenizer"})", "Hey friend!     How are you?!?"),
            (Pieces{"Hey", "friend", "!", "How", "are", "you", "?", "!", "?"}));
  // ASCII symbols count as punctuation, as do Unicode P* characters; other symbols do not.
  EXPECT_EQ(run(R"({"type":"BertPreTokenizer"})", "a$b\u00BFc\u00A9d"), (Pieces{"a", "$", "b", "\u00BF", "c\u00A9d"}));
}

TEST(HfPreTokenizers, Punctuation) {
  const std::string text = "Hey friend!     How are you?!?";
  EXPECT_EQ(run(R"({"type":"Punctuation"})", text),
            (Pieces{"Hey friend", "!", "     How are you", "?", "!", "?"}));
  EXPECT_EQ(run(R"({"type":"Punctuation","behavior":"Isolated"})", text),
            (Pieces{"Hey friend", "!", "     How are you", "?", "!", "?"}));
  EXPECT_EQ(run(R"({"type":"Punctuation","behavior":"Contiguous"})", text),
            (Pieces{"Hey friend", "!", "     How are you", "?!?"}));
  EXPECT_EQ(run(R"({"type":"Punctuation","behavior":"Removed"})", text), (Pieces{"Hey friend", "     How are you"}));
  EXPECT_EQ(run(R"({"type":"Punctuation","behavior":"MergedWithPrevious"})", text),
            (Pieces{"Hey friend!", "     How are you?", "!", "?"}));
  EXPECT_EQ(run(R"({"type":"Punctuation","behavior":"MergedWithNext"})", text),
            (Pieces{"Hey friend", "!     How are you", "?", "!", "?"}));
}

TEST(HfPreTokenizers, Digits) {
  EXPECT_EQ(run(R"({"type":"Digits","individual_digits":false})", "Hey 123 friend!"),
            (Pieces{"Hey ", "123", " friend!"}));
  EXPECT_EQ(run(R"({"type":"Digits","individual_digits":true})", "Hey 123 friend!"),
            (Pieces{"Hey ", "1", "2", "3", " friend!"}));
  EXPECT_EQ(run(R"({"type":"Digits"})", "x\u00BD\u2167\u0663y"), (Pieces{"x", "\u00BD\u2167\u0663", "y"}));  // No, Nl, Nd
}

TEST(HfPreTokenizers, CharDelimiterSplit) {
  EXPECT_EQ(run(R"({"type":"CharDelimiterSplit","delimiter":"x"})", "axbxxc"), (Pieces{"a", "b", "c"}));
  EXPECT_EQ(run(R"({"type":"CharDelimiterSplit","delimiter":"\u00E9"})", "a\u00E9b"), (Pieces{"a", "b"}));
}

TEST(HfPreTokenizers, UnicodeScripts) {
  const char* us = R"({"type":"UnicodeScripts"})";
  // The Rust library's tests: kana count as Han, the ideographic full stop is Common, spaces join any script.
  EXPECT_EQ(run(us, "\u3069\u3053\u3067\u751F\u308C\u3002Yes"),
            (Pieces{"\u3069\u3053\u3067\u751F\u308C", "\u3002", "Yes"}));
  EXPECT_EQ(run(us, "Apples are \u308A\u3093\u3054 \u6797\u6A8E"),
            (Pieces{"Apples are ", "\u308A\u3093\u3054 \u6797\u6A8E"}));
  EXPECT_EQ(run(us, "\u30AB\u30FC\u30C9"), (Pieces{"\u30AB\u30FC\u30C9"}));  // U+30FC joins the kana
  EXPECT_EQ(run(us, "abc\u0430\u0431\u0432123"), (Pieces{"abc", "\u0430\u0431\u0432", "123"}));
  EXPECT_EQ(run(us, "e\u0301"), (Pieces{"e", "\u0301"}));  // the mark's script is Inherited
  // Text before the first non-space character is dropped, as in Rust.
  EXPECT_EQ(run(us, "  hi"), (Pieces{"hi"}));
  EXPECT_EQ(run(us, "   "), Pieces{});
}

TEST(HfPreTokenizers, FixedLength) {
  EXPECT_EQ(run(R"({"type":"FixedLength","length":5})", "Hello world"), (Pieces{"Hello", " worl", "d"}));
  EXPECT_EQ(run(R"({"type":"FixedLength"})", "Short"), (Pieces{"Short"}));
  EXPECT_EQ(run(R"({"type":"FixedLength","length":3})", "Hello world"), (Pieces{"Hel", "lo ", "wor", "ld"}));
  EXPECT_EQ(run(R"({"type":"FixedLength","length":3})", "Hello \U0001F44B world"),
            (Pieces{"Hel", "lo ", "\U0001F44B w", "orl", "d"}));
}

TEST(HfPreTokenizers, Sequence) {
  EXPECT_EQ(run(R"({"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},
                    {"type":"Digits","individual_digits":true}]})",
                "a12 b"),
            (Pieces{"a", "1", "2", "b"}));
  EXPECT_EQ(run(R"({"type":"Sequence","pretokenizers":[]})", "a b"), (Pieces{"a b"}));
  EXPECT_EQ(run(R"({"type":"Sequence","pretokenizers":[{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"}]},
                    {"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always"}]})",
                "a b"),
            (Pieces{"\u2581a", "\u2581b"}));
}

TEST(HfPreTokenizers, Replace) {
  EXPECT_EQ(run(R"({"type":"Replace","pattern":{"String":" "},"content":"_"})", "a b c"), (Pieces{"a_b_c"}));
  EXPECT_EQ(run(R"({"type":"Replace","pattern":{"Regex":"[0-9]+"},"content":"#"})", "a12b3"), (Pieces{"a#b#"}));
  EXPECT_EQ(run(R"({"type":"Replace","pattern":{"String":"x"},"content":""})", "xx"), Pieces{});
}

// No stage yields an empty piece, even for an empty text.
TEST(HfPreTokenizers, EmptyText) {
  for (const char* c : {R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":false})",
                        R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":false})",
                        R"({"type":"Split","pattern":{"String":""},"behavior":"Isolated","invert":false})",
                        R"({"type":"UnicodeScripts"})", R"({"type":"FixedLength"})"})
    EXPECT_EQ(run(c, ""), Pieces{}) << c;
}

TEST(HfPreTokenizers, NullIsNoStage) { EXPECT_EQ(make_pre_tokenizer(json(), "test.json"), nullptr); }

// ---- Malformed sections: an Error naming what is wrong

TEST(HfPreTokenizers, MalformedSections) {
  auto has = [](const std::string& msg, const char* what) {
    return msg.find(what) != std::string::npos ? ::testing::AssertionSuccess()
                                               : ::testing::AssertionFailure() << "message: '" << msg << "'";
  };
  EXPECT_TRUE(has(error_of(R"({"type":"Bogus"})"), "test.json: pre_tokenizer 'Bogus' is not supported"));
  EXPECT_TRUE(has(error_of(R"({"pretokenizers":[]})"), "'type'"));
  EXPECT_TRUE(has(error_of(R"({"type":7})"), "'type'"));
  EXPECT_TRUE(has(error_of(R"([1,2])"), "must be an object"));
  EXPECT_TRUE(has(error_of(R"({"type":"Split","behavior":"Isolated","invert":false})"), "'pattern'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Split","pattern":"x","behavior":"Isolated"})"), "'pattern'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Split","pattern":{"Other":"x"},"behavior":"Isolated"})"), "'pattern'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Split","pattern":{"Regex":5},"behavior":"Isolated"})"), "pattern.Regex"));
  EXPECT_TRUE(has(error_of(R"({"type":"Split","pattern":{"String":"x"},"invert":false})"), "'behavior'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Split","pattern":{"String":"x"},"behavior":"Sideways"})"), "Sideways"));
  EXPECT_TRUE(has(error_of(R"({"type":"Split","pattern":{"String":"x"},"behavior":"Removed","invert":"yes"})"),
                  "'invert'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Removed"})"),
                  "does not compile"));
  EXPECT_TRUE(has(error_of(R"({"type":"Sequence"})"), "'pretokenizers'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Sequence","pretokenizers":{}})"), "'pretokenizers'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Nope"}]})"),
                  "'Nope' is not supported"));
  EXPECT_TRUE(has(error_of(R"({"type":"Sequence","pretokenizers":[null]})"), "pretokenizers[0]"));
  EXPECT_TRUE(has(error_of(R"({"type":"ByteLevel","add_prefix_space":1})"), "'add_prefix_space'"));
  EXPECT_TRUE(has(error_of(R"({"type":"ByteLevel","use_regex":"no"})"), "'use_regex'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Metaspace","replacement":"ab"})"), "'replacement'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Metaspace","replacement":""})"), "'replacement'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Metaspace","prepend_scheme":"sometimes"})"), "sometimes"));
  EXPECT_TRUE(has(error_of(R"({"type":"Metaspace","split":"true"})"), "'split'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Punctuation","behavior":3})"), "'behavior'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Digits","individual_digits":"true"})"), "'individual_digits'"));
  EXPECT_TRUE(has(error_of(R"({"type":"CharDelimiterSplit"})"), "'delimiter'"));
  EXPECT_TRUE(has(error_of(R"({"type":"CharDelimiterSplit","delimiter":"ab"})"), "'delimiter'"));
  EXPECT_TRUE(has(error_of(R"({"type":"FixedLength","length":0})"), "'length'"));
  EXPECT_TRUE(has(error_of(R"({"type":"FixedLength","length":"5"})"), "'length'"));
  EXPECT_TRUE(has(error_of(R"({"type":"FixedLength","length":-3})"), "'length'"));
  EXPECT_TRUE(has(error_of(R"({"type":"Replace","pattern":{"String":"x"}})"), "'content'"));

  std::string deep = R"({"type":"WhitespaceSplit"})";
  for (int i = 0; i < 100; ++i) deep = R"({"type":"Sequence","pretokenizers":[)" + deep + "]}";
  EXPECT_TRUE(has(error_of(deep.c_str()), "nested"));
}

// ---- Invalid UTF-8: never a crash; pre-tokenizers that drop nothing keep every byte

TEST(HfPreTokenizers, InvalidUtf8) {
  const std::string bad = "\xff\xfe" "ab \xe2\x82 c\xc3" "\xe2\x82\xac" "1\x80";
  auto concat = [](const Pieces& p) {
    std::string s;
    for (const auto& x : p) s += x;
    return s;
  };
  const char* keep_all[] = {
      R"({"type":"Split","pattern":{"Regex":"\\s+|\\p{L}+"},"behavior":"Isolated","invert":false})",
      R"({"type":"Split","pattern":{"String":" "},"behavior":"MergedWithPrevious","invert":false})",
      R"({"type":"Split","pattern":{"String":""},"behavior":"Contiguous","invert":true})",
      R"({"type":"Punctuation"})",
      R"({"type":"Digits","individual_digits":true})",
      R"({"type":"FixedLength","length":2})",
  };
  for (const char* c : keep_all) {
    const Pieces out = run(c, bad);
    EXPECT_EQ(concat(out), bad) << c;
    for (const auto& p : out) EXPECT_FALSE(p.empty()) << c;
  }
  const char* others[] = {
      R"({"type":"ByteLevel","add_prefix_space":true})",
      R"({"type":"Metaspace"})",
      R"({"type":"Metaspace","replacement":"\u2581","prepend_scheme":"never","split":true})",
      R"({"type":"Whitespace"})",
      R"({"type":"WhitespaceSplit"})",
      R"({"type":"BertPreTokenizer"})",
      R"({"type":"CharDelimiterSplit","delimiter":" "})",
      R"({"type":"UnicodeScripts"})",
      R"({"type":"Replace","pattern":{"Regex":"\\s"},"content":"_"})",
      R"({"type":"Split","pattern":{"Regex":"x*"},"behavior":"MergedWithNext","invert":true})",
  };
  for (const char* c : others) {
    const Pieces out = run(c, bad);
    for (const auto& p : out) EXPECT_FALSE(p.empty()) << c;
  }
  // ByteLevel maps every byte, valid or not.
  EXPECT_EQ(run(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":false})", "\xff\x80"),
            (Pieces{"\u00FF\u0122"}));
  // The invalid bytes of a UnicodeScripts text survive as pieces of their own.
  EXPECT_EQ(run(R"({"type":"UnicodeScripts"})", "ab\xff" "cd"), (Pieces{"ab", "\xff", "cd"}));
}

}  // namespace
}  // namespace hearth::hf
