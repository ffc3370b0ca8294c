// WordPiece against llama.cpp's bert-bge fixtures (made by Hugging Face's tokenizers), llama-tokenize's ids
// for the dev sentences, the token ids inside the BERT embedding goldens, and small hand-made vocabularies.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/error.h"
#include "formats/metadata.h"
#include "test_util.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/wordpiece.h"
#include "vocab_fixtures.h"

namespace hearth {
namespace {

using Ids = std::vector<int32_t>;

std::unique_ptr<Tokenizer> bge() { return load_tokenizer(test::tokenizer_golden("ggml-vocab-bert-bge.gguf")); }

void check_fixture(const std::string& base) {
  auto tok = bge();
  const auto cases = test::read_vocab_fixture(base);
  ASSERT_GT(cases.size(), 30u);
  for (const auto& [text, ids] : cases) EXPECT_EQ(tok->encode(text, false), ids) << "text: '" << text << "'";
}

TEST(WordPieceGolden, LlamaCppFixture) {
  HEARTH_REQUIRE_SHARED();
  check_fixture(test::tokenizer_golden("ggml-vocab-bert-bge.gguf"));
}

TEST(WordPieceGolden, LlamaCppFixtureAlt) {
  HEARTH_REQUIRE_SHARED();
  check_fixture(test::tokenizer_golden("ggml-vocab-bert-bge.gguf.alt"));
}

TEST(WordPieceGolden, DevSentencesWithSpecials) {
  HEARTH_REQUIRE_SHARED();
  auto tok = bge();
  EXPECT_EQ(tok->type_name(), "wordpiece");
  EXPECT_EQ(tok->n_vocab(), 30522);
  EXPECT_EQ(tok->max_tokens(), 512);  // bert.context_length of the vocab file
  const auto golden = test::read_json_file(test::tokenizer_golden("bert-bge.dev-sentences.tokens.json"));
  const auto& sentences = golden["sentences"];
  ASSERT_EQ(sentences.size(), golden["token_ids"].size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    const std::string s = sentences[i].get<std::string>();
    EXPECT_EQ(tok->encode(s, true, true), golden["token_ids"][i].get<Ids>()) << "sentence " << i << ": " << s;
  }
}

TEST(WordPieceGolden, EmbeddingGoldenTokenIds) {
  HEARTH_REQUIRE_SHARED();
  for (const char* q : {"f16", "q8_0"}) {
    // From the full model file, so the factory's GGUF path and max_tokens are exercised too.
    auto tok = load_tokenizer(test::shared_dir() + "/golden/models/bert-dev." + q + ".gguf");
    EXPECT_EQ(tok->max_tokens(), 1024);
    const auto golden = test::read_json_file(test::shared_dir() + "/golden/dev/bert-dev." + q + ".embeddings.json");
    for (size_t i = 0; i < golden["sentences"].size(); ++i) {
      const std::string s = golden["sentences"][i].get<std::string>();
      EXPECT_EQ(tok->encode(s, true, true), golden["token_ids"][i].get<Ids>()) << q << " sentence " << i;
    }
  }
}

TEST(WordPieceGolden, DecodeJoinsPiecesAndCleansSpaces) {
  HEARTH_REQUIRE_SHARED();
  auto tok = bge();
  EXPECT_EQ(tok->decode(tok->encode("Hello, world! Don't panic.", true)), "hello, world! don't panic.");
  EXPECT_EQ(tok->decode(tok->encode("unaffable croissant", false)), "unaffable croissant");
  EXPECT_EQ(tok->decode(tok->encode("a b", true), true), "[CLS] a b[SEP]");
  EXPECT_EQ(tok->token_to_piece(101), "");
  EXPECT_EQ(tok->token_to_piece(101, true), "[CLS]");
  EXPECT_THROW(tok->token_to_piece(30522), Error);
  EXPECT_THROW(tok->token_to_piece(-1), Error);
}

// A tiny vocabulary in llama.cpp's form ("▁" = word start).
Metadata tiny_vocab(bool lowercase = true) {
  Metadata md;
  md.set_string("tokenizer.ggml.model", "bert");
  std::vector<std::string> toks = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\xE2\x96\x81un", "aff",
                                   "able", "\xE2\x96\x81" "cafe", "\xE2\x96\x81,", "\xE2\x96\x81!",
                                   "\xE2\x96\x81\xE6\x9D\xB1", "\xE2\x96\x81\xE4\xBA\xAC", "\xE2\x96\x81" "Cafe",
                                   "\xE2\x96\x81" "a", "\xE2\x96\x81$", "1"};
  md.set_strings("tokenizer.ggml.tokens", toks);
  std::vector<int32_t> types(toks.size(), 1);
  for (int i = 0; i < 5; ++i) types[size_t(i)] = 3;
  md.set_i32s("tokenizer.ggml.token_type", types);
  md.set_u32("tokenizer.ggml.unknown_token_id", 1);
  md.set_u32("tokenizer.ggml.cls_token_id", 2);
  md.set_u32("tokenizer.ggml.seperator_token_id", 3);
  md.set_u32("tokenizer.ggml.padding_token_id", 0);
  md.set_u32("tokenizer.ggml.mask_token_id", 4);
  md.set_bool(kWordPieceLowercaseKey, lowercase);
  return md;
}

TEST(WordPiece, GreedyLongestMatchAndUnknownWords) {
  auto tok = load_tokenizer(tiny_vocab(), "tiny");
  EXPECT_EQ(tok->encode("unaffable", false), (Ids{5, 6, 7}));
  EXPECT_EQ(tok->encode("unaffable", true), (Ids{2, 5, 6, 7, 3}));
  EXPECT_EQ(tok->encode("unaffablex a", false), (Ids{1, 14}));  // an incomplete cut is one [UNK]
  EXPECT_EQ(tok->encode("", true), (Ids{2, 3}));
  EXPECT_EQ(tok->encode(" \t\n ", false), Ids{});
}

TEST(WordPiece, NormalizesLikeBert) {
  auto tok = load_tokenizer(tiny_vocab(), "tiny");
  // Lowercasing and accent stripping; control characters, U+0000 and U+FFFD vanish; punctuation splits.
  EXPECT_EQ(tok->encode("CAF\xC3\x89,a!", false), (Ids{8, 9, 14, 10}));
  std::string dirty = "ca\x01" "f\xE2\x80\x8B" "e";
  dirty.push_back('\0');
  dirty += "\xEF\xBF\xBD";
  EXPECT_EQ(tok->encode(dirty, false), (Ids{8}));
  // ASCII symbols split like punctuation, non-ASCII symbols do not.
  EXPECT_EQ(tok->encode("a$1", false), (Ids{14, 15, 1}));
  // CJK ideographs are words of their own.
  EXPECT_EQ(tok->encode("\xE6\x9D\xB1\xE4\xBA\xAC", false), (Ids{11, 12}));
  // Invalid UTF-8 decodes to U+FFFD, which is dropped.
  EXPECT_EQ(tok->encode("caf\xFF" "e", false), (Ids{8}));
}

TEST(WordPiece, CasedVocabularyKeepsCaseAndAccents) {
  auto tok = load_tokenizer(tiny_vocab(false), "tiny");
  EXPECT_EQ(tok->encode("Cafe cafe", false), (Ids{13, 8}));
  EXPECT_EQ(tok->encode("Caf\xC3\xA9", false), (Ids{1}));
}

TEST(WordPiece, OverlongWordIsUnknown) {
  auto tok = load_tokenizer(tiny_vocab(), "tiny");
  std::string w = "un";
  for (int i = 0; i < 31; ++i) w += "aff";
  w += "able1";  // 100 characters: the limit, still cut
  EXPECT_EQ(tok->encode(w, false).size(), 34u);
  EXPECT_EQ(tok->encode(w + "1", false), (Ids{1}));  // 101: [UNK] without trying
}

TEST(WordPiece, SpecialTokenTextsOnlyWithParseSpecial) {
  auto tok = load_tokenizer(tiny_vocab(), "tiny");
  EXPECT_EQ(tok->encode("a[MASK]a", false, true), (Ids{14, 4, 14}));
  EXPECT_EQ(tok->encode("a [MASK]", false, false), (Ids{14, 1, 1, 1}));
}

TEST(WordPiece, MissingUnknownTokenIsAnError) {
  Metadata md = tiny_vocab();
  md.set_strings("tokenizer.ggml.tokens", {"a", "b"});
  md.set_i32s("tokenizer.ggml.token_type", {1, 1});
  md.set_u32("tokenizer.ggml.unknown_token_id", 1);
  // Only two tokens: the default [UNK] id 100 does not exist, and the key's 1 is "b" (allowed, odd).
  EXPECT_NO_THROW(load_tokenizer(md, "two"));
  md.set_u32("tokenizer.ggml.unknown_token_id", 7);
  EXPECT_THROW(load_tokenizer(md, "two"), Error);
}

TEST(WordPiece, VocabTxtFolder) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("hearth_wordpiece_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream v(dir / "vocab.txt");
    v << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\nCafe\n,\r\n";
    std::ofstream c(dir / "tokenizer_config.json");
    c << R"({"do_lower_case": false, "model_max_length": 512})";
  }
  auto tok = load_tokenizer(dir.string());
  EXPECT_EQ(tok->encode("unaffable, Cafe", true), (Ids{2, 5, 6, 7, 9, 8, 3}));
  EXPECT_EQ(tok->encode("cafe", false), (Ids{1}));  // do_lower_case false: case matters
  EXPECT_EQ(tok->max_tokens(), 512);
  EXPECT_EQ(tok->decode(tok->encode("unaffable , Cafe", true)), "unaffable, Cafe");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hearth
