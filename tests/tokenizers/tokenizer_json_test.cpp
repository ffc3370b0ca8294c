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
#include "error_kind_util.h"
#include "test_util.h"

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
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
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
  // Each text segment between special tokens gets its own "\u2581", as Hugging Face normalizes per segment.
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
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
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
  EXPECT_EQ(test::thrown_kind([] { load_tokenizer_json("/nonexistent/hearth/dir"); }),
            to_string(ErrorKind::kNotFound));
  // A damaged file and a component hearth does not implement are different faults: the kind tells them apart.
  auto expect_error = [](const std::string& name, const std::string& text,
                         ErrorKind kind = ErrorKind::kCorruptData) {
    TempDir dir(name);
    dir.write("tokenizer.json", text);
    EXPECT_EQ(test::thrown_kind([&] { load_tokenizer_json(dir.str()); }), to_string(kind)) << name;
  };
  expect_error("notjson", "{ this is not json");
  expect_error("array", "[1, 2, 3]");
  expect_error("nomodel", "{}");
  json j = spm_style();
  j["model"]["type"] = "Unigram";  // a Unigram vocabulary is a list of [piece, score]
  expect_error("unigram", j.dump());
  j = spm_style();
  j["model"]["type"] = "Mystery";
  expect_error("mystery_model", j.dump(), ErrorKind::kUnsupported);
  j = spm_style();
  j["normalizer"] = {{"type", "Frobnicate"}};
  expect_error("unknown_normalizer", j.dump(), ErrorKind::kUnsupported);
  j = spm_style();
  j["decoder"] = {{"type", "Frobnicate"}};
  expect_error("unknown_decoder", j.dump(), ErrorKind::kUnsupported);
  j = spm_style();
  j["post_processor"] = {{"type", "Frobnicate"}};
  expect_error("unknown_post_processor", j.dump(), ErrorKind::kUnsupported);
  j = spm_style();
  j["model"]["unk_token"] = "<nope>";
  expect_error("unk_missing", j.dump());
  j = spm_style();
  j["model"]["fuse_unk"] = "yes";
  expect_error("bool_as_string", j.dump());
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
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
  expect_error("unknown_behavior", j.dump());
  j = byte_level();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect_error("badregex", j.dump());
  j = byte_level();
  j["post_processor"]["special_tokens"]["<|end|>"]["ids"] = {99};
  expect_error("tmplrange", j.dump());
  j = spm_style();
  j["model"]["dropout"] = 0.1;  // random segmentation: refused, naming it
  expect_error("dropout", j.dump(), ErrorKind::kUnsupported);
}

TEST(TokenizerJson, ErrorsNameTheUnknownComponent) {
  TempDir dir("names");
  json j = spm_style();
  j["normalizer"] = {{"type", "Frobnicate"}};
  dir.write("tokenizer.json", j.dump());
  try {
    load_tokenizer_json(dir.str());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Frobnicate"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
}

// Builds a tokenizer from a tokenizer.json object (no tokenizer_config.json).
std::unique_ptr<Tokenizer> from_json(const std::string& name, const json& j) {
  TempDir dir(name);
  dir.write("tokenizer.json", j.dump());
  return load_tokenizer_json(dir.str());
}

TEST(TokenizerJson, WordLevelModel) {
  const json j = {
      {"model", {{"type", "WordLevel"}, {"unk_token", "<unk>"}, {"vocab", {{"<unk>", 0}, {"hello", 1}, {"world", 2}}}}},
      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
      {"decoder", nullptr},
  };
  auto tok = from_json("wordlevel", j);
  EXPECT_EQ(tok->type_name(), "wordlevel");
  EXPECT_EQ(tok->encode("hello  world there", false), (Ids{1, 2, 0}));
  EXPECT_EQ(tok->decode({1, 2}), "hello world");  // no decoder: tokens joined with spaces, as the library does

  json no_unk = j;
  no_unk["model"]["unk_token"] = nullptr;
  auto strict = from_json("wordlevel_strict", no_unk);
  EXPECT_EQ(strict->encode("world hello", false), (Ids{2, 1}));
  EXPECT_THROW(strict->encode("nope", false), Error);
}

// A SentencePiece unigram vocabulary as tokenizer.json stores it: [piece, log-probability] by id.
json unigram(bool byte_fallback) {
  json vocab = json::array({json::array({"<unk>", 0.0}), json::array({"\u2581", -2.0}), json::array({"a", -3.0}),
                            json::array({"b", -3.0}), json::array({"ab", -4.0}), json::array({"\u2581ab", -4.5}),
                            json::array({"abc", -20.0}), json::array({"c", -3.5})});
  if (byte_fallback)
    for (int b = 0; b < 256; ++b) vocab.push_back(json::array({fmt::format("<0x{:02X}>", b), -30.0}));
  return {
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}, {"split", true}}},
      {"model", {{"type", "Unigram"}, {"unk_id", 0}, {"byte_fallback", byte_fallback}, {"vocab", vocab}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "ByteFallback"}},
          {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}, {"split", true}}}}}},
  };
}

TEST(TokenizerJson, UnigramModelFindsTheMostLikelySegmentation) {
  auto tok = from_json("unigram", unigram(false));
  EXPECT_EQ(tok->type_name(), "unigram");
  // "\u2581ab": one piece (-4.5) beats "\u2581" + "ab" (-6) and "\u2581" + "a" + "b" (-8).
  EXPECT_EQ(tok->encode("ab", false), (Ids{5}));
  // "abc" as one piece costs -20; "ab" + "c" costs -7.5.
  EXPECT_EQ(tok->encode("ab abc", false), (Ids{5, 5, 7}));
  // Characters without a piece are unknown; a run of them fuses into one unknown token.
  EXPECT_EQ(tok->encode("ab xyz", false), (Ids{5, 1, 0}));
  EXPECT_EQ(tok->decode({5, 5, 7}), "ab abc");

  auto bytes = from_json("unigram_bytes", unigram(true));
  // With byte_fallback, the unknown run is spelled in byte tokens (ids 8 + byte).
  EXPECT_EQ(bytes->encode("\xC3\xA9", false), (Ids{1, 8 + 0xC3, 8 + 0xA9}));
  EXPECT_EQ(bytes->decode({1, 8 + 0xC3, 8 + 0xA9}), "\xC3\xA9");
}

TEST(TokenizerJson, BpeSubwordPrefixAndWordSuffix) {
  // CLIP-style end-of-word suffix.
  json suffix = {
      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
      {"model",
       {{"type", "BPE"},
        {"end_of_word_suffix", "</w>"},
        {"vocab", {{"l", 0}, {"o", 1}, {"w</w>", 2}, {"lo", 3}, {"low</w>", 4}, {"o</w>", 5}}},
        {"merges", {"l o", "lo w</w>"}}}},
      {"decoder", {{"type", "BPEDecoder"}, {"suffix", "</w>"}}},
  };
  auto clip = from_json("bpe_suffix", suffix);
  EXPECT_EQ(clip->encode("low lo", false), (Ids{4, 0, 5}));
  EXPECT_EQ(clip->decode({4, 0, 5}), "low lo");

  // Continuing-subword prefix: the merged token drops the right part's prefix.
  json prefix = {
      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
      {"model",
       {{"type", "BPE"},
        {"continuing_subword_prefix", "##"},
        {"unk_token", "[UNK]"},
        {"vocab", {{"[UNK]", 0}, {"a", 1}, {"##b", 2}, {"ab", 3}, {"##c", 4}, {"abc", 5}}},
        {"merges", {"a ##b", "ab ##c"}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
  };
  auto wp = from_json("bpe_prefix", prefix);
  EXPECT_EQ(wp->encode("abc ab ad", false), (Ids{5, 3, 1, 0}));
  EXPECT_EQ(wp->decode({5, 3}), "abc ab");
}

TEST(TokenizerJson, AddedTokenOptions) {
  json j = byte_level();
  auto token = [](int id, const std::string& content, bool lstrip, bool rstrip, bool single_word) {
    return json{{"id", id}, {"content", content}, {"special", false}, {"single_word", single_word},
                {"lstrip", lstrip}, {"rstrip", rstrip}, {"normalized", false}};
  };
  j["added_tokens"] = {added(5, "<|end|>", true), token(6, "<mask>", true, true, false), token(7, "ab", false, false, true),
                       token(8, "<b>", false, false, false), token(9, "<b><b>", false, false, false)};
  auto tok = from_json("added_opts", j);
  // lstrip / rstrip: the whitespace around the token is taken with it.
  EXPECT_EQ(tok->encode("ab  <mask>  ab", false), (Ids{7, 6, 7}));
  // single_word: "ab" inside "abab" is not a word of its own, so BPE spells it.
  EXPECT_EQ(tok->encode("abab", false), (Ids{3, 3}));
  EXPECT_EQ(tok->encode("ab", false), (Ids{7}));
  // Longest match at the leftmost position.
  EXPECT_EQ(tok->encode("<b><b><b>", false), (Ids{9, 8}));
}

TEST(TokenizerJson, NormalizedAddedTokensMatchTheNormalizedText) {
  json j = byte_level();
  j["normalizer"] = {{"type", "Lowercase"}};
  j["added_tokens"] = {added(5, "<|end|>", true),
                       json{{"id", 6}, {"content", "<TOOL>"}, {"special", false}, {"single_word", false},
                            {"lstrip", false}, {"rstrip", false}, {"normalized", true}}};
  auto tok = from_json("normalized_added", j);
  // The token's content is normalized like the text: "<TOOL>" and "<tool>" both match it.
  EXPECT_EQ(tok->encode("AB<tool>", false), (Ids{3, 6}));
  EXPECT_EQ(tok->encode("ab<ToOl>", false), (Ids{3, 6}));
}

TEST(TokenizerJson, StreamingPiecesKeepWhatTheStartOfTextRuleDrops) {
  // SentencePiece-style decoders drop the leading space of a whole text, but not of a token mid-stream.
  auto tok = load_tokenizer_json([] {
    static TempDir dir("stream");
    dir.write("tokenizer.json", spm_style().dump());
    return dir.str();
  }());
  EXPECT_EQ(tok->decode({9}), "hi");
  EXPECT_EQ(tok->token_to_piece(9), " hi");
  EXPECT_EQ(tok->token_to_piece(3), "\xC3");  // a lone byte token is its raw byte
  StreamDecoder stream(*tok);
  std::string text;
  for (int32_t id : tok->encode("hi hi \xC3\xA9", false)) text += stream.push(id);
  text += stream.flush();
  EXPECT_EQ(text, "hi hi \xC3\xA9");
}

TEST(TokenizerJson, CleanUpFollowsTransformers) {
  const json j = {
      {"model", {{"type", "WordLevel"}, {"unk_token", "?"}, {"vocab", {{"?", 0}, {"i", 1}, {"do", 2}, {"n't", 3}, {"know", 4}, {".", 5}, {"'s", 6}}}}},
      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
  };
  TempDir dir("cleanup");
  dir.write("tokenizer.json", j.dump());
  dir.write("tokenizer_config.json", json{{"clean_up_tokenization_spaces", true}}.dump());
  auto tok = load_tokenizer_json(dir.str());
  // No decoder: tokens joined with spaces, then transformers' clean-up (which also joins " n't").
  EXPECT_EQ(tok->decode({1, 2, 3, 4, 5}), "i don't know.");
  EXPECT_EQ(tok->decode({1, 6}), "i's");
}

TEST(TokenizerJson, ChainsThatGrowTheTextWithoutBoundAreErrors) {
  // Replace "" -> "aa" inserts at every character: 24 of them would triple the text 24 times.
  json growing = json::array();
  for (int i = 0; i < 24; ++i)
    growing.push_back({{"type", "Replace"}, {"pattern", {{"String", ""}}}, {"content", "aa"}});
  json j = byte_level();
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", growing}};
  // (At load, where an added token's content is normalized, or at the first encode.)
  EXPECT_THROW(from_json("growing_normalizer", j)->encode("ab ab", false), Error);

  json decoders = json::array();
  for (int i = 0; i < 40; ++i) decoders.push_back({{"type", "BPEDecoder"}, {"suffix", ""}});
  j = byte_level();
  j["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
  EXPECT_THROW(from_json("growing_decoder", j), Error);
}

}  // namespace
}  // namespace hearth
