// tokenizer.json loading on small hand-written files: each supported section's effect on the ids, and a clear
// Error (never a crash or a silently different tokenizer) for what is malformed or unsupported. Parity with
// real tokenizer.json files is npm_parity_test.cpp.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_json.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int32_t>;

// A temporary folder holding tokenizer.json (and optionally tokenizer_config.json / vocab.txt).
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() / ("hearth_tj_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  void write(const std::string& file, const std::string& text) const {
    std::ofstream(path_ / file, std::ios::binary) << text;
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

json added(int id, const std::string& content, bool special) {
  return {{"id", id}, {"content", content}, {"special", special}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", !special}};
}

// SentencePiece-style, as Llama 2's tokenizer.json: Prepend + Replace normalizers, byte fallback, BOS template.
json spm_style() {
  return {
      {"version", "1.0"},
      {"added_tokens", {added(0, "<unk>", true), added(1, "<s>", true), added(2, "</s>", true)}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\u2581"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"byte_fallback", true},
        {"fuse_unk", true},
        {"vocab",
         {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0xC3>", 3}, {"<0xA9>", 4}, {"\u2581", 5}, {"h", 6}, {"i", 7},
          {"hi", 8}, {"\u2581hi", 9}}},
        {"merges", {"h i", "\u2581 hi"}}}},
  };
}

TEST(TokenizerJson, SentencePieceStyleBpeWithByteFallback) {
  TempDir dir("spm");
  dir.write("tokenizer.json", spm_style().dump());
  auto tok = load_tokenizer_json(dir.str());
  EXPECT_EQ(tok->n_vocab(), 10);
  EXPECT_EQ(tok->encode("hi", true), (Ids{1, 9}));
  EXPECT_EQ(tok->encode("hi", false), (Ids{9}));
  // "é" is not a token: its two UTF-8 bytes fall back to <0xC3> <0xA9>.
  const Ids ids = tok->encode("hi \xC3\xA9", false);
  EXPECT_EQ(ids, (Ids{9, 5, 3, 4}));
  EXPECT_EQ(tok->decode(ids), "hi \xC3\xA9");  // the prepended space is stripped again
  // Each text segment between special tokens gets its own "▁", as Hugging Face normalizes per segment.
  EXPECT_EQ(tok->encode("hi<s>hi", false, /*parse_special=*/true), (Ids{9, 1, 9}));
  // No byte tokens for 'Z': unknown, and consecutive unknowns fuse into one.
  EXPECT_EQ(tok->encode("hiZZ", false), (Ids{9, 0}));
}

TEST(TokenizerJson, ConfigSuppliesBosEosAndMaxLength) {
  TempDir dir("cfg");
  json j = spm_style();
  j["post_processor"] = nullptr;  // framing then comes from tokenizer_config.json
  dir.write("tokenizer.json", j.dump());
  dir.write("tokenizer_config.json",
            json{{"bos_token", {{"content", "<s>"}}}, {"eos_token", "</s>"}, {"add_bos_token", true},
                 {"add_eos_token", true}, {"model_max_length", 4096}}
                .dump());
  auto tok = load_tokenizer_json(dir.str());
  EXPECT_EQ(tok->encode("hi", true), (Ids{1, 9, 2}));
  EXPECT_EQ(tok->special().bos, 1);
  EXPECT_EQ(tok->special().eos, 2);
  EXPECT_TRUE(tok->is_end_of_generation(2));
  EXPECT_EQ(tok->max_tokens(), 4096);
}

// Byte-level: "a" "b" " " spelled in GPT-2's alphabet ("Ġ" = space), a Split regex, a user-defined added token.
json byte_level() {
  return {
      {"added_tokens", {added(5, "<|end|>", true), added(6, "<tool>", false)}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", "(?i:'s|'t|'re|'ve|'m|'ll|'d)| ?\\p{L}+|\\s+"}}},
           {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, {{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<|end|>", {{"id", "<|end|>"}, {"ids", {5}}, {"tokens", {"<|end|>"}}}}}}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", nullptr},
        {"vocab", {{"a", 0}, {"b", 1}, {"\u0120", 2}, {"ab", 3}, {"\u0120ab", 4}}},
        {"merges", json::array({json::array({"a", "b"}), json::array({"\u0120", "ab"})})}}},
  };
}

TEST(TokenizerJson, ByteLevelBpeWithSplitAndAddedTokens) {
  TempDir dir("bl");
  dir.write("tokenizer.json", byte_level().dump());
  auto tok = load_tokenizer_json(dir.str());
  EXPECT_EQ(tok->n_vocab(), 7);
  EXPECT_EQ(tok->encode("ab ab", false), (Ids{3, 4}));
  EXPECT_EQ(tok->encode("ab", true), (Ids{3, 5}));  // the template puts <|end|> after the text
  // The non-special added token is always split out; the special one only with parse_special.
  EXPECT_EQ(tok->encode("ab<tool>", false, false), (Ids{3, 6}));
  EXPECT_EQ(tok->encode("ab<|end|>", false, true), (Ids{3, 5}));
  EXPECT_NE(tok->encode("ab<|end|>", false, false), (Ids{3, 5}));
  EXPECT_EQ(tok->decode({3, 4, 6}), "ab ab<tool>");
  EXPECT_EQ(tok->token_to_piece(5), "");
  EXPECT_EQ(tok->token_to_piece(5, true), "<|end|>");
}

TEST(TokenizerJson, WordPieceMatchesTheVocabTxtLoader) {
  const std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world",
                                          "##s", ",", "!", "un", "##believ", "##able", "cafe"};
  json v = json::object();
  std::string txt;
  for (size_t i = 0; i < vocab.size(); ++i) {
    v[vocab[i]] = i;
    txt += vocab[i] + "\n";
  }
  json j = {
      {"added_tokens", {added(0, "[PAD]", true), added(1, "[UNK]", true), added(2, "[CLS]", true),
                        added(3, "[SEP]", true), added(4, "[MASK]", true)}},
      {"normalizer", {{"type", "BertNormalizer"}, {"lowercase", true}, {"strip_accents", nullptr}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
      {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                 {"max_input_chars_per_word", 100}, {"vocab", v}}},
  };
  TempDir from_json("wp_json"), from_txt("wp_txt");
  from_json.write("tokenizer.json", j.dump());
  from_txt.write("vocab.txt", txt);
  auto a = load_tokenizer_json(from_json.str());
  auto b = load_tokenizer(from_txt.str());
  EXPECT_EQ(a->type_name(), b->type_name());
  for (const char* text : {"Hello, worlds!", "unbelievable CAFÉ", "zzz hello", ""}) {
    EXPECT_EQ(a->encode(text, true), b->encode(text, true)) << text;
    EXPECT_EQ(a->encode(text, false), b->encode(text, false)) << text;
  }
  EXPECT_EQ(a->encode("hello world", true), (Ids{2, 5, 6, 3}));
}

TEST(TokenizerJson, MalformedOrUnsupportedFilesAreErrors) {
  EXPECT_THROW(load_tokenizer_json("/nonexistent/hearth/dir"), Error);
  auto expect_error = [](const std::string& name, const std::string& text) {
    TempDir dir(name);
    dir.write("tokenizer.json", text);
    EXPECT_THROW(load_tokenizer_json(dir.str()), Error) << name;
  };
  expect_error("notjson", "{ this is not json");
  expect_error("array", "[1, 2, 3]");
  expect_error("nomodel", "{}");
  json j = spm_style();
  j["model"]["type"] = "Unigram";
  expect_error("unigram", j.dump());
  j = spm_style();
  j["normalizer"] = {{"type", "NFKC"}};
  expect_error("nfkc", j.dump());
  j = spm_style();
  j["model"]["vocab"]["huge"] = int64_t(1) << 40;
  expect_error("hugeid", j.dump());
  j = spm_style();
  j["model"]["vocab"]["neg"] = -3;
  expect_error("negid", j.dump());
  j = spm_style();
  j["model"]["merges"] = {"nospace"};
  expect_error("badmerge", j.dump());
  j = spm_style();
  j["model"]["merges"] = {42};
  expect_error("intmerge", j.dump());
  j = spm_style();
  j["added_tokens"] = {{{"id", "x"}, {"content", "<s>"}}};
  expect_error("badadded", j.dump());
  j = byte_level();
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  expect_error("removed", j.dump());
  j = byte_level();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect_error("badregex", j.dump());
  j = byte_level();
  j["post_processor"]["special_tokens"]["<|end|>"]["ids"] = {99};
  expect_error("tmplrange", j.dump());
  j = byte_level();
  j["pre_tokenizer"] = nullptr;  // neither byte-level nor SentencePiece-style
  expect_error("nopre", j.dump());
  j = spm_style();
  j["model"]["dropout"] = 0.1;
  expect_error("dropout", j.dump());
}

}  // namespace
}  // namespace hearth
