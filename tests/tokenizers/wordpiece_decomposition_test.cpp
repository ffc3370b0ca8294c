// WordPiece normalization of characters whose canonical decomposition has several code points (Hangul
// syllables, Latin and Greek letters with two or three accents, Indic two-part vowel signs). hearth follows
// Hugging Face's BertNormalizer: full NFD, then (when lowercasing) drop the nonspacing marks (Mn) and
// lowercase. llama.cpp keeps only the first code point of each decomposition instead, so a Hangul syllable
// becomes its leading consonant alone (docs/tokenizers.md, "Known differences").
//
// The expected pieces are computed here from utf8proc's NFD (utf8proc_map with DECOMPOSE | STABLE, which
// also puts combining marks in canonical order), never from hearth's own output.
#include <gtest/gtest.h>

#include <utf8proc.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "formats/metadata.h"
#include "test_util.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/wordpiece.h"
#include "vocab_fixtures.h"

namespace hearth {
namespace {

using Pieces = std::vector<std::string>;

const std::string kWordStart = "\xE2\x96\x81";  // U+2581: llama.cpp's word-start mark in WordPiece vocabularies

std::string utf8(char32_t cp) {
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(utf8proc_int32_t(cp), buf);
  return std::string(reinterpret_cast<const char*>(buf), size_t(n));
}

std::vector<char32_t> code_points(const std::string& s) {
  std::vector<char32_t> out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (utf8proc_ssize_t i = 0, n = utf8proc_ssize_t(s.size()); i < n;) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t len = utf8proc_iterate(p + i, n - i, &cp);
    EXPECT_GT(len, 0) << "invalid UTF-8 in a test string";
    if (len <= 0) break;
    out.push_back(char32_t(cp));
    i += len;
  }
  return out;
}

// Full canonical decomposition of `s`, canonically ordered (Unicode NFD).
std::vector<char32_t> nfd(const std::string& s) {
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          utf8proc_ssize_t(s.size()), &dst,
                                          utf8proc_option_t(UTF8PROC_DECOMPOSE | UTF8PROC_STABLE));
  EXPECT_GE(n, 0) << utf8proc_errmsg(n);
  std::string out = n >= 0 ? std::string(reinterpret_cast<const char*>(dst), size_t(n)) : std::string();
  std::free(dst);
  return code_points(out);
}

// Hugging Face's BertNormalizer for one word of letters and marks (no spaces, punctuation, controls or CJK
// ideographs, so clean_text and handle_chinese_chars change nothing): with lowercase (strip_accents
// following it, the default) NFD, drop Mn, lowercase; without, the text as it is.
std::vector<char32_t> bert_normalized(const std::string& word, bool lowercase) {
  if (!lowercase) return code_points(word);
  std::vector<char32_t> out;
  for (char32_t c : nfd(word)) {
    if (utf8proc_category(utf8proc_int32_t(c)) == UTF8PROC_CATEGORY_MN) continue;
    out.push_back(char32_t(utf8proc_tolower(utf8proc_int32_t(c))));
  }
  return out;
}

// The vocabulary below has every needed character as a word-start piece ("▁x") and as a continuation piece
// ("x") and nothing longer, so greedy longest-match WordPiece cuts a word into one piece per code point.
Pieces one_piece_per_code_point(const std::vector<char32_t>& cps) {
  Pieces out;
  for (size_t i = 0; i < cps.size(); ++i) out.push_back((i == 0 ? kWordStart : std::string()) + utf8(cps[i]));
  return out;
}

// What llama.cpp's WPM preprocessing does with a word: each code point is replaced by the first code point
// of its canonical decomposition (nothing else of it is kept), then lowercased. Combining marks that were
// separate code points in the input are not removed.
std::vector<char32_t> llama_cpp_first_code_points(const std::string& word) {
  std::vector<char32_t> out;
  for (char32_t c : code_points(word)) out.push_back(char32_t(utf8proc_tolower(utf8proc_int32_t(nfd(utf8(c))[0]))));
  return out;
}

// Code point ranges of the tiny vocabulary: Hangul conjoining jamo, Latin and Greek letters (both cases, so a
// missing lowercase step shows up as a different piece rather than [UNK]), Devanagari, Bengali, Tamil, the
// combining diacritics (so a mark that should have been stripped shows up as a piece of its own), the
// musical symbols with combining stems and dots, and a few precomposed syllables for the cased case.
struct Range {
  char32_t first, last;
};
constexpr Range kVocabRanges[] = {
    {0x1100, 0x11FF},    // Hangul Jamo
    {'A', 'Z'},          {'a', 'z'},
    {0x0391, 0x03C9},    // Greek capitals and small letters
    {0x0300, 0x036F},    // Combining Diacritical Marks
    {0x0900, 0x097F},    // Devanagari
    {0x0980, 0x09FF},    // Bengali
    {0x0B80, 0x0BFF},    // Tamil
    {0x1D157, 0x1D172},  // musical note heads, combining stems, flags and augmentation dot
    {0xD55C, 0xD55C},    // 한
    {0xAD6D, 0xAD6D},    // 국
    {0x01D6, 0x01D6},    // ǖ
};

struct TinyVocab {
  std::vector<std::string> tokens;
  Metadata md;
};

TinyVocab tiny_vocab(bool lowercase) {
  TinyVocab v;
  v.tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (const Range& r : kVocabRanges)
    for (char32_t c = r.first; c <= r.last; ++c) {
      v.tokens.push_back(kWordStart + utf8(c));
      v.tokens.push_back(utf8(c));
    }
  v.md.set_string("tokenizer.ggml.model", "bert");
  v.md.set_strings("tokenizer.ggml.tokens", v.tokens);
  std::vector<int32_t> types(v.tokens.size(), 1);
  for (int i = 0; i < 5; ++i) types[size_t(i)] = 3;
  v.md.set_i32s("tokenizer.ggml.token_type", types);
  v.md.set_u32("tokenizer.ggml.unknown_token_id", 1);
  v.md.set_u32("tokenizer.ggml.cls_token_id", 2);
  v.md.set_u32("tokenizer.ggml.seperator_token_id", 3);
  v.md.set_u32("tokenizer.ggml.padding_token_id", 0);
  v.md.set_u32("tokenizer.ggml.mask_token_id", 4);
  v.md.set_bool(kWordPieceLowercaseKey, lowercase);
  return v;
}

class Decomposition : public ::testing::Test {
 protected:
  Pieces pieces(const Tokenizer& tok, const TinyVocab& v, const std::string& text) {
    Pieces out;
    for (int32_t id : tok.encode(text, /*add_special=*/false)) {
      EXPECT_TRUE(id >= 0 && size_t(id) < v.tokens.size());
      out.push_back(v.tokens[size_t(id)]);
    }
    return out;
  }
  TinyVocab uncased_ = tiny_vocab(true);
  TinyVocab cased_ = tiny_vocab(false);
  std::unique_ptr<Tokenizer> uncased_tok_ = load_tokenizer(uncased_.md, "uncased");
  std::unique_ptr<Tokenizer> cased_tok_ = load_tokenizer(cased_.md, "cased");
};

// Words whose characters decompose into several code points (or are already decomposed).
const char* const kWords[] = {
    "\xED\x95\x9C",                          // 한 U+D55C = U+1112 U+1161 U+11AB (L V T)
    "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",  // 한국어
    "\xEC\x95\x88\xEB\x85\x95",              // 안녕
    "\xEB\xB7\x81",                          // 뷁 U+BDC1 = U+1107 U+1170 U+11B0
    "\xEA\xB0\x80",                          // 가 U+AC00 = U+1100 U+1161 (L V)
    "\xC7\x96",                              // ǖ U+01D6 = u U+0308 U+0304
    "\xE1\xBB\x87",                          // ệ U+1EC7 = e U+0323 U+0302
    "\xC7\xBA",                              // Ǻ U+01FA = A U+030A U+0301
    "\xE1\xB9\xA9",                          // ṩ U+1E69 = s U+0323 U+0307
    "\xCE\x90",                              // ΐ U+0390 = ι U+0308 U+0301
    "\xE1\xBE\xAF",                          // ᾯ U+1FAF = Ω U+0314 U+0342 U+0345
    "\xE0\xA4\xA9",                          // ऩ U+0929 = न U+093C (nukta, Mn)
    "\xE0\xA5\x98",                          // क़ U+0958 = क U+093C
    "\xE0\xAE\x94",                          // ஔ U+0B94 = ஒ U+0BD7 (length mark, Mc: kept)
    "\xE0\xAE\x95\xE0\xAF\x8A",              // கொ = க U+0BCA, U+0BCA = U+0BC6 U+0BBE (both Mc)
    "\xE0\xA6\x95\xE0\xA7\x8B",              // কো = ক U+09CB, U+09CB = U+09C7 U+09BE (both Mc)
    "Cafe\xCC\x81",                          // already decomposed: e U+0301
    "A\xCC\xA3\xCC\x82",                     // A U+0323 U+0302 (canonical order)
    "a\xCC\x82\xCC\xA3",                     // a U+0302 U+0323 (NFD reorders; both stripped anyway)
    "\xF0\x9D\x85\xA0",                      // U+1D160 eighth note = U+1D158 U+1D165 U+1D16E (Mc stem, flag)
    "\xC3\x85ngstr\xC3\xB6m",                // Ångström
};

TEST_F(Decomposition, UncasedMatchesBertNormalizerOnUtf8procNfd) {
  for (const char* w : kWords) {
    const std::string word = w;
    const Pieces want = one_piece_per_code_point(bert_normalized(word, true));
    EXPECT_EQ(pieces(*uncased_tok_, uncased_, word), want) << "word: " << word;
    // The same word inside a sentence, between ASCII words and punctuation.
    Pieces in_text = {kWordStart + "x"};
    in_text.insert(in_text.end(), want.begin(), want.end());
    in_text.push_back("[UNK]");  // "," is not in the vocabulary
    in_text.push_back(kWordStart + "y");
    EXPECT_EQ(pieces(*uncased_tok_, uncased_, "x " + word + ", y"), in_text) << "word: " << word;
  }
}

TEST_F(Decomposition, HangulSyllablesKeepEveryJamo) {
  // 한 → ᄒ ᅡ ᆫ: three pieces; llama.cpp keeps only the leading consonant ᄒ (U+1112).
  const std::string han = "\xED\x95\x9C";
  const std::vector<char32_t> d = nfd(han);
  ASSERT_EQ(d, (std::vector<char32_t>{0x1112, 0x1161, 0x11AB}));
  const Pieces got = pieces(*uncased_tok_, uncased_, han);
  EXPECT_EQ(got, (Pieces{kWordStart + "\xE1\x84\x92", "\xE1\x85\xA1", "\xE1\x86\xAB"}));
  EXPECT_NE(got, one_piece_per_code_point(llama_cpp_first_code_points(han)));
  EXPECT_EQ(one_piece_per_code_point(llama_cpp_first_code_points(han)), (Pieces{kWordStart + "\xE1\x84\x92"}));

  // Every syllable of a few words: each contributes all of its jamo (2 or 3), never only the leading one.
  for (const char* w : {"\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4", "\xEC\x95\x88\xEB\x85\x95", "\xEB\xB7\x81"}) {
    const std::string word = w;
    const Pieces p = pieces(*uncased_tok_, uncased_, word);
    const Pieces llama = one_piece_per_code_point(llama_cpp_first_code_points(word));
    EXPECT_EQ(llama.size(), code_points(word).size()) << word;
    EXPECT_GT(p.size(), llama.size()) << word;
    EXPECT_NE(p, llama) << word;
    // Jamo are letters (Lo), not marks: accent stripping keeps them.
    for (char32_t c : nfd(word)) EXPECT_EQ(utf8proc_category(utf8proc_int32_t(c)), UTF8PROC_CATEGORY_LO);
  }
}

TEST_F(Decomposition, MarksAreStrippedOnlyWhenNonspacing) {
  // ǖ → u (both marks are Mn); ஔ → ஒ ௗ (the length mark is Mc, a spacing mark, so it stays).
  EXPECT_EQ(pieces(*uncased_tok_, uncased_, "\xC7\x96"), (Pieces{kWordStart + "u"}));
  EXPECT_EQ(pieces(*uncased_tok_, uncased_, "\xE0\xAE\x94"), (Pieces{kWordStart + "\xE0\xAE\x92", "\xE0\xAF\x97"}));
  // A mark that is its own code point in the input is stripped too (llama.cpp keeps it).
  EXPECT_EQ(pieces(*uncased_tok_, uncased_, "cafe\xCC\x81"), (Pieces{kWordStart + "c", "a", "f", "e"}));
  EXPECT_EQ(one_piece_per_code_point(llama_cpp_first_code_points("cafe\xCC\x81")),
            (Pieces{kWordStart + "c", "a", "f", "e", "\xCC\x81"}));
}

// NFD also sorts combining marks by canonical combining class. Nonspacing marks are stripped, so their order
// never matters, but a few spacing marks (Mc) have a non-zero class (musical stems and dots, Hangul tone marks,
// some viramas) and are kept: they must come out in canonical order, as Hugging Face's NFD puts them.
TEST_F(Decomposition, SpacingMarksInCanonicalOrder) {
  const std::string word = "\xF0\x9D\x85\x98\xF0\x9D\x85\xAD\xF0\x9D\x85\xA5";  // U+1D158 U+1D16D (226) U+1D165 (216)
  EXPECT_EQ(pieces(*uncased_tok_, uncased_, word), one_piece_per_code_point(bert_normalized(word, true)));
}

TEST_F(Decomposition, CasedVocabularyDoesNotDecompose) {
  // BertNormalizer(lowercase = false, strip_accents = None): no NFD at all, the text is looked up as it is.
  for (const char* w : {"\xED\x95\x9C\xEA\xB5\xAD", "\xC7\x96", "Cafe\xCC\x81"}) {
    const std::string word = w;
    EXPECT_EQ(pieces(*cased_tok_, cased_, word), one_piece_per_code_point(bert_normalized(word, false)))
        << "word: " << word;
  }
}

// Against the bert-bge vocabulary (bert-base-uncased's, in llama.cpp's form): ids, as `hearth tokenize`
// prints them. Every Hangul jamo is a token of its own there and no token holds two, so the expected ids are
// the vocabulary's ids of the NFD code points (docs/tokenizers.md quotes these).
TEST(DecompositionGolden, HangulIdsInBertBgeVocabulary) {
  HEARTH_REQUIRE_SHARED();
  const std::string path = test::tokenizer_golden("ggml-vocab-bert-bge.gguf");
  auto tok = load_tokenizer(path);
  auto id_of = [&](const std::vector<int32_t>& ids, size_t n) {  // the id of a single-token text
    EXPECT_EQ(ids.size(), n);
    return ids.empty() ? -1 : ids[0];
  };
  const std::string word = "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4";  // 한국어
  std::vector<int32_t> want, llama;
  const std::vector<char32_t> d = bert_normalized(word, true);
  for (size_t i = 0; i < d.size(); ++i) {
    // A jamo alone as a word gives its word-start id; "x" + jamo gives x's id and then the continuation id.
    if (i == 0)
      want.push_back(id_of(tok->encode(utf8(d[i]), false), 1));
    else
      want.push_back(tok->encode("x" + utf8(d[i]), false).back());
  }
  for (char32_t c : llama_cpp_first_code_points(word)) {
    if (llama.empty())
      llama.push_back(id_of(tok->encode(utf8(c), false), 1));
    else
      llama.push_back(tok->encode("x" + utf8(c), false).back());
  }
  const std::vector<int32_t> got = tok->encode(word, false);
  EXPECT_EQ(got, want);
  EXPECT_EQ(got, (std::vector<int32_t>{1469, 30006, 30021, 29991, 30014, 30020, 29999, 30008}));
  EXPECT_EQ(llama, (std::vector<int32_t>{1469, 29991, 29999}));  // what llama.cpp's first-code-point NFD gives
  EXPECT_NE(got, llama);
  // A combining mark in the input is stripped: "cafe" + U+0301 is the word "cafe".
  EXPECT_EQ(tok->encode("cafe\xCC\x81", false), tok->encode("cafe", false));
}

}  // namespace
}  // namespace hearth
