// GGUF "t5" (unigram) vocabularies, as llama.cpp writes them for XLM-RoBERTa, on a small hand-made vocabulary whose
// segmentations are worked out by hand below (highest total score; an uncovered character costs the lowest
// score - 10). ../shared has no XLM-RoBERTa or T5 vocabulary, so llama.cpp's official .inp/.out fixtures for them
// cannot run here. Also the pair templates of the other tokenizers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/error.h"
#include "formats/metadata.h"
#include "tokenizers/hf/pipeline.h"
#include "tokenizers/tokenizer.h"
#include "charsmap_builder.h"
#include "test_util.h"

namespace hearth {
namespace {

using Ids = std::vector<int32_t>;

struct Piece {
  const char* text;
  float score;
  int32_t type;  // 1 normal, 2 unknown, 3 control
};

// XLM-RoBERTa's layout: <s> <pad> </s> <unk> first, then the pieces; <mask> last.
const std::vector<Piece> kPieces = {
    {"<s>", 0, 3},          {"<pad>", 0, 3},     {"</s>", 0, 3},       {"<unk>", 0, 2},   // 0-3
    {"\u2581", -2, 1},      {"\u2581hello", -3, 1}, {"\u2581world", -3.5, 1}, {"\u2581he", -2.5, 1},  // 4-7
    {"llo", -2.5, 1},       {"\u2581wor", -3, 1}, {"ld", -2, 1},        {"h", -5, 1},      // 8-11
    {"e", -5, 1},           {"l", -5, 1},        {"o", -5, 1},         {"w", -5, 1},      // 12-15
    {"r", -5, 1},           {"d", -5, 1},        {".", -3, 1},         {"!", -3, 1},      // 16-19
    {"fi", -4, 1},          {"\u2581fi", -3, 1}, {"<mask>", 0, 3},                        // 20-22
};

Metadata ugm_metadata(bool remove_extra_whitespaces = true) {
  Metadata md;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const Piece& p : kPieces) tokens.push_back(p.text), scores.push_back(p.score), types.push_back(p.type);
  md.set_string("tokenizer.ggml.model", "t5");
  md.set_strings("tokenizer.ggml.tokens", tokens);
  md.set_f32s("tokenizer.ggml.scores", scores);
  md.set_i32s("tokenizer.ggml.token_type", types);
  md.set_u32("tokenizer.ggml.bos_token_id", 0);
  md.set_u32("tokenizer.ggml.padding_token_id", 1);
  md.set_u32("tokenizer.ggml.eos_token_id", 2);
  md.set_u32("tokenizer.ggml.unknown_token_id", 3);
  md.set_u32("tokenizer.ggml.seperator_token_id", 2);
  md.set_u32("tokenizer.ggml.cls_token_id", 0);
  md.set_u32("tokenizer.ggml.mask_token_id", 22);
  md.set_bool("tokenizer.ggml.add_bos_token", true);
  md.set_bool("tokenizer.ggml.add_eos_token", true);
  md.set_bool("tokenizer.ggml.add_space_prefix", true);
  md.set_bool("tokenizer.ggml.remove_extra_whitespaces", remove_extra_whitespaces);
  // The charsmap spells the ligature "ﬁ" as "fi" and a no-break space as a space (entries of nmt_nfkc).
  const std::string charsmap = test::CharsmapBuilder().build({{"\uFB01", "fi"}, {"\u00A0", " "}});
  MetaArray bytes;
  bytes.elem = MetaType::U8;
  for (unsigned char c : charsmap) bytes.ints.push_back(c);
  md.set("tokenizer.ggml.precompiled_charsmap", MetaValue{MetaType::Array, bytes});
  return md;
}

TEST(UgmTokenizer, HandMadeVocabularySegmentations) {
  const auto tok = load_tokenizer(ugm_metadata(), "tiny-t5.gguf");
  EXPECT_EQ(tok->type_name(), "unigram");
  EXPECT_EQ(tok->n_vocab(), int32_t(kPieces.size()));
  // "▁hello" (-3) beats "▁he" + "llo" (-5); "▁world" (-3.5) beats "▁wor" + "ld" (-5).
  EXPECT_EQ(tok->encode("hello world", false), (Ids{5, 6}));
  // Spaces at the ends dropped and runs merged (remove_extra_whitespaces), the no-break space made a space first.
  EXPECT_EQ(tok->encode("   hello \u00A0  world  ", false), (Ids{5, 6}));
  EXPECT_EQ(tok->encode("hello.", false), (Ids{5, 18}));
  // The charsmap: "ﬁ" is "fi", and with the space prefix one piece.
  EXPECT_EQ(tok->encode("\uFB01", false), (Ids{21}));
  // "▁hellx": ▁he + l + l (-12.5) then x, which no piece covers: the unknown token (-15).
  EXPECT_EQ(tok->encode("hellx", false), (Ids{7, 13, 13, 3}));
  // Each word starts with "▁"; unknown characters become <unk>.
  EXPECT_EQ(tok->encode("x y", false), (Ids{4, 3, 4, 3}));
  EXPECT_EQ(tok->encode("", false), Ids{});
  EXPECT_EQ(tok->encode("   ", false), Ids{});
  // Framing: <s> text </s>.
  EXPECT_EQ(tok->encode("hello world", true), (Ids{0, 5, 6, 2}));
  EXPECT_EQ(tok->encode("", true), (Ids{0, 2}));
  // Control tokens are read from text with parse_special; each text segment gets its own "▁".
  EXPECT_EQ(tok->encode("hello<mask>world", false, true), (Ids{5, 22, 6}));
  EXPECT_EQ(tok->decode({0, 5, 6, 2}), "hello world");
  EXPECT_EQ(tok->decode({5, 18}), "hello.");

  const SpecialTokens& sp = tok->special();
  EXPECT_EQ(sp.bos, 0);
  EXPECT_EQ(sp.eos, 2);
  EXPECT_EQ(sp.unk, 3);
  EXPECT_EQ(sp.sep, 2);
  EXPECT_EQ(sp.pad, 1);
  EXPECT_TRUE(sp.add_bos);
  EXPECT_TRUE(sp.add_eos);

  // XLM-RoBERTa's pair: <s> A </s> </s> B </s>, one segment.
  const PairTemplate p = tok->pair_template();
  ASSERT_TRUE(p.valid);
  ASSERT_EQ(p.prefix.size(), 1u);
  EXPECT_EQ(p.prefix[0].id, 0);
  ASSERT_EQ(p.middle.size(), 2u);
  EXPECT_EQ(p.middle[0].id, 2);
  EXPECT_EQ(p.middle[1].id, 2);
  ASSERT_EQ(p.suffix.size(), 1u);
  EXPECT_EQ(p.suffix[0].id, 2);
  EXPECT_EQ(p.type_a, 0);
  EXPECT_EQ(p.type_b, 0);
  for (const auto* list : {&p.prefix, &p.middle, &p.suffix})
    for (const auto& t : *list) EXPECT_EQ(t.type, 0);
}

TEST(UgmTokenizer, KeepingExtraWhitespace) {
  // Without remove_extra_whitespaces every space is a "▁" and one more is prepended (add_space_prefix).
  const auto tok = load_tokenizer(ugm_metadata(false), "tiny-t5.gguf");
  EXPECT_EQ(tok->encode("hello world", false), (Ids{5, 6}));
  EXPECT_EQ(tok->encode("  hello", false), (Ids{4, 4, 5}));
  EXPECT_EQ(tok->encode("hello ", false), (Ids{5, 4}));
}

TEST(UgmTokenizer, Defaults) {
  // Without the add_bos / add_eos keys llama.cpp frames a "t5" text as T5 does: text </s>.
  Metadata md = ugm_metadata();
  Metadata trimmed;
  for (const auto& [k, v] : md.entries())
    if (k != "tokenizer.ggml.add_bos_token" && k != "tokenizer.ggml.add_eos_token") trimmed.set(k, v);
  const auto tok = load_tokenizer(trimmed, "tiny-t5.gguf");
  EXPECT_EQ(tok->encode("hello", true), (Ids{5, 2}));
}

TEST(UgmTokenizer, Errors) {
  Metadata md = ugm_metadata();
  md.set_f32s("tokenizer.ggml.scores", {0.0f, 1.0f});
  try {
    load_tokenizer(md, "bad.gguf");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.scores"), std::string::npos) << e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptData);
  }
  md = ugm_metadata();
  md.set_u32("tokenizer.ggml.eos_token_id", 999);
  try {
    load_tokenizer(md, "bad.gguf");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("eos_token_id"), std::string::npos) << e.what();
  }
}

TEST(PairTemplate, BertVocabularyFramesSegments) {
  HEARTH_REQUIRE_SHARED();
  const auto tok = load_tokenizer(test::shared_dir() + "/golden/tokenizer/ggml-vocab-bert-bge.gguf");
  const PairTemplate p = tok->pair_template();
  ASSERT_TRUE(p.valid);
  // [CLS]=101 A [SEP]=102 B:1 [SEP]=102:1
  ASSERT_EQ(p.prefix.size(), 1u);
  EXPECT_EQ(p.prefix[0].id, 101);
  EXPECT_EQ(p.prefix[0].type, 0);
  ASSERT_EQ(p.middle.size(), 1u);
  EXPECT_EQ(p.middle[0].id, 102);
  EXPECT_EQ(p.middle[0].type, 0);
  ASSERT_EQ(p.suffix.size(), 1u);
  EXPECT_EQ(p.suffix[0].id, 102);
  EXPECT_EQ(p.suffix[0].type, 1);
  EXPECT_EQ(p.type_a, 0);
  EXPECT_EQ(p.type_b, 1);
}

// A tokenizer.json's pair template, as transformers writes BERT's and XLM-RoBERTa's.
TEST(PairTemplate, FromTokenizerJson) {
  using nlohmann::json;
  json vocab = json::object();
  const char* words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b"};
  for (int i = 0; i < 6; ++i) vocab[words[i]] = i;
  json added = json::array();
  for (int i : {0, 1, 2, 3})
    added.push_back({{"id", i}, {"content", words[i]}, {"special", true}});
  auto tokenizer = [&](const json& post) {
    return json{{"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"vocab", vocab}}},
                {"added_tokens", added},
                {"pre_tokenizer", {{"type", "Whitespace"}}},
                {"post_processor", post}};
  };
  auto special = [](const char* name, int type) { return json{{"SpecialToken", {{"id", name}, {"type_id", type}}}}; };
  auto seq = [](const char* name, int type) { return json{{"Sequence", {{"id", name}, {"type_id", type}}}}; };
  const json specials = {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}, {"tokens", {"[CLS]"}}}},
                         {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}, {"tokens", {"[SEP]"}}}}};
  const json bert_template = {
      {"type", "TemplateProcessing"},
      {"single", {special("[CLS]", 0), seq("A", 0), special("[SEP]", 0)}},
      {"pair", {special("[CLS]", 0), seq("A", 0), special("[SEP]", 0), seq("B", 1), special("[SEP]", 1)}},
      {"special_tokens", specials}};
  auto tok = hf::make_tokenizer(tokenizer(bert_template), json::object(), "t.json");
  PairTemplate p = tok->pair_template();
  ASSERT_TRUE(p.valid);
  EXPECT_EQ(p.prefix.size(), 1u);
  EXPECT_EQ(p.middle.size(), 1u);
  ASSERT_EQ(p.suffix.size(), 1u);
  EXPECT_EQ(p.suffix[0].id, 3);
  EXPECT_EQ(p.suffix[0].type, 1);
  EXPECT_EQ(p.type_b, 1);

  // RobertaProcessing: <s> A </s> </s> B </s>, all type 0.
  tok = hf::make_tokenizer(
      tokenizer({{"type", "RobertaProcessing"}, {"cls", {"[CLS]", 2}}, {"sep", {"[SEP]", 3}}}), json::object(),
      "t.json");
  p = tok->pair_template();
  ASSERT_TRUE(p.valid);
  ASSERT_EQ(p.middle.size(), 2u);
  EXPECT_EQ(p.middle[1].id, 3);
  EXPECT_EQ(p.type_b, 0);
  EXPECT_EQ(p.suffix[0].type, 0);

  // A pair template with B before A is refused rather than misread.
  json backwards = bert_template;
  backwards["pair"] = {seq("B", 0), special("[SEP]", 0), seq("A", 0)};
  EXPECT_THROW(hf::make_tokenizer(tokenizer(backwards), json::object(), "t.json"), Error);
}

}  // namespace
}  // namespace hearth
