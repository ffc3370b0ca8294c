// SentencePiece-style BPE against llama.cpp's llama-spm and phi-3 fixtures (made by Hugging Face's
// tokenizers), llama-tokenize's ids for the dev sentences, the prompt ids and greedy texts of the decoder
// goldens (llama-dev, stories260K), and hand-made vocabularies for the merge order and byte fallback.
#include <gtest/gtest.h>

#include "core/error.h"
#include "formats/metadata.h"
#include "test_util.h"
#include "tiny_spm_vocab.h"
#include "tokenizers/tokenizer.h"
#include "vocab_fixtures.h"

namespace hearth {
namespace {

using Ids = std::vector<int32_t>;

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

void check_fixture(const std::string& vocab, const std::string& base) {
  auto tok = load_tokenizer(test::tokenizer_golden(vocab));
  EXPECT_EQ(tok->type_name(), "spm");
  const auto cases = test::read_vocab_fixture(test::tokenizer_golden(base));
  ASSERT_GT(cases.size(), 30u);
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(tok->encode(text, false), ids) << "text: '" << text << "'";
    // SentencePiece with byte fallback is lossless.
    EXPECT_EQ(tok->decode(ids), text);
  }
}

TEST(SpmGolden, LlamaSpmFixtures) {
  HEARTH_REQUIRE_SHARED();
  check_fixture("ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-spm.gguf");
  check_fixture("ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-spm.gguf.alt");
}

TEST(SpmGolden, Phi3Fixtures) {
  HEARTH_REQUIRE_SHARED();
  check_fixture("ggml-vocab-phi-3.gguf", "ggml-vocab-phi-3.gguf");
  check_fixture("ggml-vocab-phi-3.gguf", "ggml-vocab-phi-3.gguf.alt");
}

TEST(SpmGolden, DevSentences) {
  HEARTH_REQUIRE_SHARED();
  for (const char* name : {"llama-spm", "phi-3"}) {
    auto tok = load_tokenizer(test::tokenizer_golden(std::string("ggml-vocab-") + name + ".gguf"));
    EXPECT_EQ(tok->max_tokens(), 4096);
    const auto golden = test::read_json_file(test::tokenizer_golden(std::string(name) + ".dev-sentences.tokens.json"));
    const auto& sentences = golden["sentences"];
    ASSERT_EQ(sentences.size(), golden["token_ids"].size());
    ASSERT_GT(sentences.size(), 30u);
    for (size_t i = 0; i < sentences.size(); ++i) {
      const std::string s = sentences[i].get<std::string>();
      EXPECT_EQ(tok->encode(s, true, true), golden["token_ids"][i].get<Ids>()) << name << " sentence " << i << ": " << s;
    }
  }
}

// Prompt ids (BOS as the vocabulary says, parse_special off) and the greedy continuations' text.
void check_decoder_golden(const std::string& model, const std::string& golden_path) {
  auto tok = load_tokenizer(model);
  const auto golden = test::read_json_file(golden_path);
  EXPECT_EQ(tok->special().add_bos, golden["add_bos"].get<bool>());
  EXPECT_EQ(tok->special().bos, golden["bos_id"].get<int32_t>());
  EXPECT_EQ(tok->special().eos, golden["eos_id"].get<int32_t>());
  EXPECT_EQ(tok->n_vocab(), golden["n_vocab"].get<int32_t>());
  ASSERT_FALSE(golden["prompts"].empty());
  for (const auto& p : golden["prompts"]) {
    const std::string prompt = p["prompt"].get<std::string>();
    EXPECT_EQ(tok->encode(prompt, true, false), p["token_ids"].get<Ids>()) << "prompt: " << prompt;
    const Ids greedy = p["greedy_ids"].get<Ids>();
    EXPECT_EQ(tok->decode(greedy), from_hex(p["greedy_text_hex"].get<std::string>())) << "prompt: " << prompt;
    const auto pieces = p["greedy_pieces_hex"];
    ASSERT_EQ(pieces.size(), greedy.size());
    // The golden's pieces render special tokens ("<s>"), its text does not.
    for (size_t i = 0; i < greedy.size(); ++i)
      EXPECT_EQ(tok->token_to_piece(greedy[i], true), from_hex(pieces[i].get<std::string>())) << "token " << greedy[i];
    // Streaming gives the same bytes (only complete UTF-8 until the flush).
    StreamDecoder stream(*tok);
    std::string streamed;
    for (int32_t id : greedy) streamed += stream.push(id);
    streamed += stream.flush();
    EXPECT_EQ(streamed, tok->decode(greedy));
  }
}

TEST(SpmGolden, Stories260KPromptsAndGreedyText) {
  HEARTH_REQUIRE_SHARED();
  check_decoder_golden(test::shared_dir() + "/models/stories260K.gguf",
                       test::shared_dir() + "/golden/dev/stories260K.decoder.json");
}

TEST(SpmGolden, LlamaDevPromptsAndGreedyText) {
  HEARTH_REQUIRE_SHARED();
  check_decoder_golden(test::shared_dir() + "/golden/models/llama-dev.f16.gguf",
                       test::shared_dir() + "/golden/dev/llama-dev.f16.decoder.json");
}

TEST(SpmGolden, StoriesPromptPlusGreedyKeepsLeadingSpaceAfterBos) {
  HEARTH_REQUIRE_SHARED();
  auto tok = load_tokenizer(test::shared_dir() + "/models/stories260K.gguf");
  const auto golden = test::read_json_file(test::shared_dir() + "/golden/dev/stories260K.decoder.json");
  for (const auto& p : golden["prompts"]) {
    Ids all = p["token_ids"].get<Ids>();
    const Ids greedy = p["greedy_ids"].get<Ids>();
    all.insert(all.end(), greedy.begin(), greedy.end());
    // The golden shows invalid UTF-8 as U+FFFD; these stories are plain ASCII.
    EXPECT_EQ(tok->decode(all), p["prompt_plus_greedy_text"].get<std::string>());
    EXPECT_TRUE(tok->is_end_of_generation(2));
    EXPECT_FALSE(tok->is_end_of_generation(1));
  }
}

TEST(SpmGolden, LongInputIsFast) {
  HEARTH_REQUIRE_SHARED();
  auto tok = load_tokenizer(test::tokenizer_golden("ggml-vocab-llama-spm.gguf"));
  // One 400 KB word with no spaces: quadratic merging would take minutes, the bigram queue milliseconds.
  std::string text;
  for (int i = 0; i < 40000; ++i) text += "abcdefghij";
  const Ids ids = tok->encode(text, false);
  EXPECT_GT(ids.size(), 1000u);
  EXPECT_EQ(tok->decode(ids), text);
}

Metadata tiny_vocab(const std::vector<test::SpmPiece>& pieces) { return test::tiny_spm_vocab(pieces); }

constexpr int32_t P = test::kFirstSpmPiece;

TEST(Spm, HighestScoreMergesFirst) {
  // ▁ a b c, with "ab" scored above "bc": "▁" "ab" "c"; flip the scores: "▁" "a" "bc".
  auto tok = load_tokenizer(tiny_vocab({{"\xE2\x96\x81", -1}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -2}, {"bc", -3}}), "t");
  EXPECT_EQ(tok->encode("abc", false), (Ids{P, P + 4, P + 3}));
  tok = load_tokenizer(tiny_vocab({{"\xE2\x96\x81", -1}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -3}, {"bc", -2}}), "t");
  EXPECT_EQ(tok->encode("abc", false), (Ids{P, P + 1, P + 5}));
}

TEST(Spm, TiesGoToTheLeftmostPair) {
  auto tok = load_tokenizer(tiny_vocab({{"\xE2\x96\x81", -1}, {"a", -1}, {"aa", -2}}), "t");
  EXPECT_EQ(tok->encode("aaa", false), (Ids{P, P + 2, P + 1}));
}

TEST(Spm, ByteFallbackAndSpacePrefix) {
  auto tok = load_tokenizer(tiny_vocab({{"\xE2\x96\x81", -1}, {"a", -1}, {"\xE2\x96\x81" "a", -0.5f}}), "t");
  // "é" is not a piece: its two UTF-8 bytes become <0xC3> <0xA9>.
  EXPECT_EQ(tok->encode("a \xC3\xA9", true), (Ids{1, P + 2, P, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok->decode({1, P + 2, P, 3 + 0xC3, 3 + 0xA9}), " a \xC3\xA9");  // BOS first: the space stays
  EXPECT_EQ(tok->decode({P + 2, P, 3 + 0xC3, 3 + 0xA9}), "a \xC3\xA9");
  EXPECT_EQ(tok->decode({1, P + 2}, true), "<s> a");
  EXPECT_EQ(tok->encode("", true), (Ids{1}));
  EXPECT_EQ(tok->encode("", false), Ids{});
  // Invalid UTF-8 goes through byte tokens too.
  EXPECT_EQ(tok->encode("\xFF", false), (Ids{P, 3 + 0xFF}));

  Metadata md = tiny_vocab({{"\xE2\x96\x81", -1}, {"a", -1}});
  md.set_bool("tokenizer.ggml.add_space_prefix", false);
  tok = load_tokenizer(md, "t");
  EXPECT_EQ(tok->encode("a a", false), (Ids{P + 1, P, P + 1}));
  EXPECT_EQ(tok->decode({P, P + 1}), " a");
}

TEST(Spm, SpecialTokensAndPrefixAfterThem) {
  Metadata md = tiny_vocab({{"\xE2\x96\x81", -1}, {"a", -1}, {"\xE2\x96\x81" "a", -0.5f}, {"<|u|>", 0}});
  std::vector<int64_t> types64 = *md.find_ints("tokenizer.ggml.token_type");
  std::vector<int32_t> types(types64.begin(), types64.end());
  types.back() = 4;  // user-defined: always split out
  md.set_i32s("tokenizer.ggml.token_type", types);
  md.set_bool("tokenizer.ggml.add_eos_token", true);
  auto tok = load_tokenizer(md, "t");
  const int32_t u = P + 3;
  EXPECT_EQ(tok->encode("a<|u|>a", false), (Ids{P + 2, u, P + 2}));
  // Control tokens only with parse_special; the text after a special token gets the "▁" prefix again.
  EXPECT_EQ(tok->encode("a</s>a", false, true), (Ids{P + 2, 2, P + 2}));
  EXPECT_EQ(tok->encode("a", true), (Ids{1, P + 2, 2}));
  EXPECT_EQ(tok->decode({P + 2, u, P + 1}), "a<|u|>a");
  EXPECT_TRUE(tok->is_end_of_generation(2));
  EXPECT_THROW(tok->token_to_piece(100000), Error);
}

TEST(Spm, InconsistentVocabularyIsAnError) {
  Metadata md = tiny_vocab({{"a", -1}});
  md.set_f32s("tokenizer.ggml.scores", {0.0f, 1.0f});
  EXPECT_THROW(load_tokenizer(md, "t"), Error);
  md = tiny_vocab({{"a", -1}});
  md.set_i32s("tokenizer.ggml.token_type", {1});
  EXPECT_THROW(load_tokenizer(md, "t"), Error);
  md.set_strings("tokenizer.ggml.tokens", {});
  EXPECT_THROW(load_tokenizer(md, "t"), Error);
}

}  // namespace
}  // namespace hearth
