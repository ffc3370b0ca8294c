// Byte-level BPE and regex pre-tokenizers: llama.cpp's tokenizer fixtures (made by Hugging Face tokenizers)
// for every byte-level vocabulary in ../shared, llama-tokenize's goldens for the dev sentences, and small
// hand-built vocabularies for the merge order, special tokens and hostile input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/metadata.h"
#include "formats/weights.h"
#include "test_util.h"
#include "tokenizers/bpe.h"
#include "tokenizers/pretokenizer.h"

namespace hearth {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// .inp: every text is followed by "\n__ggml_vocab_test__\n"; .out: one line of ids per text.
std::vector<Case> read_fixture(const std::string& inp_path, const std::string& out_path) {
  const std::string inp = read_file(inp_path), out = read_file(out_path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  for (size_t pos = 0; pos < inp.size();) {
    size_t end = inp.find(sep, pos);
    if (end == std::string::npos) end = inp.size();
    cases.push_back({inp.substr(pos, end - pos), {}});
    pos = end + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  for (Case& c : cases) {
    EXPECT_TRUE(std::getline(lines, line)) << out_path << " has fewer lines than texts";
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
  }
  return cases;
}

std::string tokenizer_dir() { return test::shared_dir() + "/golden/tokenizer/"; }

std::unique_ptr<Tokenizer> load_vocab(const std::string& name) {
  const std::string path = tokenizer_dir() + "ggml-vocab-" + name + ".gguf";
  auto weights = Weights::open(path);
  return make_bpe_tokenizer(weights->metadata(), path);
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

class ByteLevelFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ByteLevelFixture, MatchesHuggingFaceIdsAndRoundTrips) {
  HEARTH_REQUIRE_SHARED();
  auto tok = load_vocab(GetParam());
  ASSERT_EQ(tok->type_name(), "bpe");
  for (const char* suffix : {".gguf", ".gguf.alt"}) {
    const std::string base = tokenizer_dir() + "ggml-vocab-" + GetParam() + suffix;
    const auto cases = read_fixture(base + ".inp", base + ".out");
    ASSERT_GT(cases.size(), 30u) << base;
    for (const Case& c : cases) {
      const auto ids = tok->encode(c.text, /*add_special=*/false, /*parse_special=*/false);
      EXPECT_EQ(ids, c.ids) << base << " text '" << c.text << "'\n got  " << show(ids) << "\n want " << show(c.ids);
      // Byte-level BPE is lossless: the pieces give the text back byte for byte.
      std::string pieces;
      for (int32_t id : ids) pieces += tok->token_to_piece(id);
      EXPECT_EQ(pieces, c.text) << base;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, ByteLevelFixture,
                         ::testing::Values("gpt-2", "deepseek-coder", "deepseek-llm", "falcon", "mpt", "refact",
                                           "starcoder"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(BpeGolden, Gpt2DevSentencesMatchLlamaTokenize) {
  HEARTH_REQUIRE_SHARED();
  auto tok = load_vocab("gpt-2");
  const auto j = nlohmann::json::parse(read_file(tokenizer_dir() + "gpt-2.dev-sentences.tokens.json"));
  const auto& sentences = j.at("sentences");
  const auto& want = j.at("token_ids");
  ASSERT_EQ(sentences.size(), want.size());
  ASSERT_FALSE(sentences.empty());
  for (size_t i = 0; i < sentences.size(); ++i) {
    const auto ids = tok->encode(sentences[i].get<std::string>(), tok->special().add_bos, /*parse_special=*/true);
    EXPECT_EQ(ids, want[i].get<std::vector<int32_t>>()) << "sentence " << i;
  }
}

TEST(BpeGolden, Gpt2VocabSpecialsAndPieces) {
  HEARTH_REQUIRE_SHARED();
  auto tok = load_vocab("gpt-2");
  EXPECT_EQ(tok->n_vocab(), 50257);
  const int32_t eot = 50256;  // <|endoftext|>
  EXPECT_TRUE(tok->is_end_of_generation(eot));
  EXPECT_EQ(tok->encode("a<|endoftext|>b", false, /*parse_special=*/true), (std::vector<int32_t>{64, eot, 65}));
  // Without parse_special the special text is ordinary text.
  const auto plain = tok->encode("a<|endoftext|>b", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), eot), 0);
  EXPECT_EQ(tok->decode(plain), "a<|endoftext|>b");
  EXPECT_EQ(tok->token_to_piece(eot), "");
  EXPECT_EQ(tok->token_to_piece(eot, /*render_special=*/true), "<|endoftext|>");
  EXPECT_EQ(tok->token_to_piece(220), " ");  // "Ġ"
  EXPECT_THROW(tok->token_to_piece(50257), Error);
  EXPECT_THROW(tok->token_to_piece(-1), Error);
}

TEST(BpeGolden, Qwen2DevDecoderPromptIds) {
  HEARTH_REQUIRE_SHARED();
  const std::string model = test::shared_dir() + "/golden/models/qwen2-dev.f32.gguf";
  auto weights = Weights::open(model);
  auto tok = make_bpe_tokenizer(weights->metadata(), model);
  const auto j = nlohmann::json::parse(read_file(test::shared_dir() + "/golden/dev/qwen2-dev.f32.decoder.json"));
  EXPECT_EQ(tok->special().add_bos, j.at("add_bos").get<bool>());
  ASSERT_FALSE(j.at("prompts").empty());
  for (const auto& p : j.at("prompts")) {
    // decoder_golden: llama_tokenize(add_special = true, parse_special = false).
    const auto ids = tok->encode(p.at("prompt").get<std::string>(), true, false);
    EXPECT_EQ(ids, p.at("token_ids").get<std::vector<int32_t>>()) << p.at("prompt");
    EXPECT_EQ(tok->decode(ids), p.at("prompt").get<std::string>());
    // llama_detokenize(remove_special = false, unparse_special = false), clean-up included.
    const auto greedy = p.at("greedy_ids").get<std::vector<int32_t>>();
    std::string want_hex = p.at("greedy_text_hex").get<std::string>(), got_hex;
    for (unsigned char c : tok->decode(greedy)) got_hex += fmt::format("{:02x}", c);
    EXPECT_EQ(got_hex, want_hex) << p.at("prompt");
  }
}

TEST(BpeGolden, DecodeCleansSpacesAsLlamaCppForGpt2NotForDeepseek) {
  HEARTH_REQUIRE_SHARED();
  const std::string text = "Hello , world . It 's ' quoted ' !";
  auto gpt2 = load_vocab("gpt-2");
  // " ," " ." " !" lose the space, a lone "'" between spaces loses both, " 's" joins the word before.
  EXPECT_EQ(gpt2->decode(gpt2->encode(text, false)), "Hello, world. It's'quoted '!");
  auto deepseek = load_vocab("deepseek-coder");
  EXPECT_EQ(deepseek->decode(deepseek->encode(text, false)), text);
}

// The held-out models carry byte-level vocabularies too (deepseek-coder, falcon, gpt-2): they must load and
// round-trip text, with BOS exactly when the vocabulary asks for it.
TEST(BpeGolden, HeldOutModelVocabulariesLoad) {
  HEARTH_REQUIRE_SHARED();
  int tested = 0;
  for (const char* name : {"llama-ho.f16.gguf", "qwen2-ho.f16.gguf", "kq-ho.q6_k.gguf"}) {
    const std::string model = test::shared_dir() + "/golden/models/" + name;
    auto weights = Weights::open(model);
    if (weights->metadata().find_string("tokenizer.ggml.model").value_or("") != "gpt2") continue;
    auto tok = make_bpe_tokenizer(weights->metadata(), model);
    ++tested;
    const std::string text = "Hello, wörld! 12345 東京\n\tfn main() {}";
    const auto ids = tok->encode(text, true, false);
    ASSERT_FALSE(ids.empty()) << name;
    const bool bos = tok->special().add_bos;
    EXPECT_EQ(bos, !ids.empty() && ids[0] == tok->special().bos) << name;
    EXPECT_EQ(tok->decode(std::vector<int32_t>(ids.begin() + (bos ? 1 : 0), ids.end())), text) << name;
  }
  EXPECT_EQ(tested, 3);
}

// A hand-built byte-level vocabulary: the letters of "abc", their byte-level spaces, and merges whose ranks
// decide the outcome.
Metadata tiny_vocab(std::vector<std::string> tokens, std::vector<std::string> merges) {
  Metadata md;
  md.set_string("tokenizer.ggml.model", "gpt2");
  md.set_string("tokenizer.ggml.pre", "gpt-2");
  md.set_strings("tokenizer.ggml.tokens", std::move(tokens));
  md.set_strings("tokenizer.ggml.merges", std::move(merges));
  return md;
}

TEST(Bpe, LowestRankMergesFirstAndTiesGoLeft) {
  // "abc": a+b (rank 1) loses to b+c (rank 0) -> "a" "bc".
  auto tok = make_bpe_tokenizer(tiny_vocab({"a", "b", "c", "ab", "bc"}, {"b c", "a b"}), "tiny");
  EXPECT_EQ(tok->encode("abc", false), (std::vector<int32_t>{0, 4}));
  // Swapped ranks -> "ab" "c".
  tok = make_bpe_tokenizer(tiny_vocab({"a", "b", "c", "ab", "bc"}, {"a b", "b c"}), "tiny");
  EXPECT_EQ(tok->encode("abc", false), (std::vector<int32_t>{3, 2}));
  // "aaa" with one merge a+a: the leftmost pair merges, leaving "aa" "a".
  tok = make_bpe_tokenizer(tiny_vocab({"a", "aa"}, {"a a"}), "tiny");
  EXPECT_EQ(tok->encode("aaa", false), (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(tok->encode("aaaa", false), (std::vector<int32_t>{1, 1}));
  // A merge chain a+a -> aa, aa+aa -> aaaa.
  tok = make_bpe_tokenizer(tiny_vocab({"a", "aa", "aaaa"}, {"a a", "aa aa"}), "tiny");
  EXPECT_EQ(tok->encode("aaaaa", false), (std::vector<int32_t>{2, 0}));
}

TEST(Bpe, BytesMissingFromTheVocabularyAreDroppedNotFatal) {
  auto tok = make_bpe_tokenizer(tiny_vocab({"a", "b"}, {}), "tiny");
  EXPECT_EQ(tok->encode("a\xff" "b\x80 \xe2\x82", false), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(tok->encode("", true), std::vector<int32_t>{});
}

TEST(Bpe, PiecesSpellBytesAndKeepWhatTheByteMapCannotSpell) {
  // "é" (U+00E9) spells byte 0xE9; "中" is outside the byte alphabet and "\xff" is not UTF-8: both kept as is.
  auto tok = make_bpe_tokenizer(tiny_vocab({"a", "\xC3\xA9", "\xE4\xB8\xAD", "\xff", "\xC4\xA0"}, {}), "tiny");
  EXPECT_EQ(tok->token_to_piece(1), "\xE9");
  EXPECT_EQ(tok->token_to_piece(2), "\xE4\xB8\xAD");
  EXPECT_EQ(tok->token_to_piece(3), "\xff");
  EXPECT_EQ(tok->token_to_piece(4), " ");  // "Ġ"
  EXPECT_EQ(tok->encode(" a", false), (std::vector<int32_t>{4, 0}));
}

TEST(Bpe, InconsistentMetadataIsAnError) {
  EXPECT_THROW(make_bpe_tokenizer(tiny_vocab({"a"}, {"ab"}), "tiny"), Error);  // no separator
  Metadata md = tiny_vocab({"a", "b"}, {});
  md.set_i32s("tokenizer.ggml.token_type", {1});
  EXPECT_THROW(make_bpe_tokenizer(md, "tiny"), Error);
  md = tiny_vocab({"a"}, {});
  md.set_string("tokenizer.ggml.pre", "no-such-pre");
  EXPECT_THROW(make_bpe_tokenizer(md, "tiny"), Error);
  Metadata no_merges;
  no_merges.set_strings("tokenizer.ggml.tokens", {"a"});
  EXPECT_THROW(make_bpe_tokenizer(no_merges, "tiny"), Error);
  md = tiny_vocab({"a"}, {});
  md.set_bool("tokenizer.ggml.add_bos_token", true);  // BOS requested, default id 11 is outside
  EXPECT_THROW(make_bpe_tokenizer(md, "tiny"), Error);
}

TEST(Bpe, ByteToUnicodeMapIsABijectionOntoPrintables) {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    char32_t cp = bpe_byte_to_codepoint(static_cast<uint8_t>(b));
    EXPECT_EQ(bpe_codepoint_to_byte(cp), b);
    seen.insert(cp);
  }
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(bpe_byte_to_codepoint(' '), U'\u0120');  // "Ġ"
  EXPECT_EQ(bpe_byte_to_codepoint('\n'), U'\u010A');
  EXPECT_EQ(bpe_byte_to_codepoint('A'), U'A');
  EXPECT_EQ(bpe_codepoint_to_byte(U'\u4e00'), -1);
}

std::vector<std::string> split(const PreTokenizer& p, std::string_view text) {
  std::vector<std::string_view> v;
  p.split(text, v);
  return {v.begin(), v.end()};
}

TEST(PreTokenizer, Gpt2SplitsWordsNumbersPunctuationAndSpaces) {
  PreTokenizer p(PreTokenizer::gguf("gpt-2").patterns);
  EXPECT_EQ(split(p, "Hello world's  123!!"),
            (std::vector<std::string>{"Hello", " world", "'s", " ", " 123", "!!"}));
  EXPECT_EQ(split(p, "a \n\n b"), (std::vector<std::string>{"a", " \n\n", " b"}));
  EXPECT_TRUE(split(p, "").empty());
}

TEST(PreTokenizer, Llama3GroupsDigitsByThreeAndContractionsIgnoreCase) {
  const PreTokenizer::Gguf g = PreTokenizer::gguf("llama-bpe");
  EXPECT_TRUE(g.ignore_merges);
  EXPECT_TRUE(g.add_bos);
  PreTokenizer p(g.patterns);
  EXPECT_EQ(split(p, "1234567 WE'LL"), (std::vector<std::string>{"123", "456", "7", " WE", "'LL"}));
}

TEST(PreTokenizer, PiecesAlwaysConcatenateBackToTheInput) {
  for (const char* pre : {"default", "gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder", "deepseek-v3",
                          "falcon", "starcoder", "bloom", "tekken", "chameleon"}) {
    PreTokenizer p(PreTokenizer::gguf(pre).patterns);
    for (std::string text : {std::string("Ünïcödé 12345 東京 🙂‍↔️ \t\n  x"), std::string("bad \xff\xfe utf8 \xc3"),
                             std::string(5000, ' ') + "a", std::string(3000, '7')}) {
      std::string joined;
      for (const auto& piece : split(p, text)) {
        EXPECT_FALSE(piece.empty()) << pre;
        joined += piece;
      }
      EXPECT_EQ(joined, text) << pre;
    }
  }
}

TEST(PreTokenizer, BadPatternIsAnError) {
  EXPECT_THROW(PreTokenizer({"(unclosed"}), Error);
  EXPECT_THROW(PreTokenizer::gguf("unknown-pre"), Error);
}

}  // namespace
}  // namespace hearth
