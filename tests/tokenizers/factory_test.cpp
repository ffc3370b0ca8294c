// load_tokenizer: which algorithm each vocabulary gets, folders and files, errors on bad input; the shared
// Vocab rules (end of generation, Phi-3's rstrip); StreamDecoder.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <fstream>

#include <unistd.h>

#include "core/error.h"
#include "core/utf8.h"
#include "formats/metadata.h"
#include "test_util.h"
#include "tokenizers/tokenizer.h"
#include "vocab_fixtures.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::temp_directory_path() / ("hearth_factory_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TokenizerFactory, UnknownOrMissingModelIsNamed) {
  Metadata md;
  md.set_strings("tokenizer.ggml.tokens", {"a"});
  EXPECT_NE(error_of([&] { load_tokenizer(md, "m.gguf"); }).find("tokenizer.ggml.model"), std::string::npos);
  md.set_string("tokenizer.ggml.model", "klingon");
  const std::string msg = error_of([&] { load_tokenizer(md, "m.gguf"); });
  EXPECT_NE(msg.find("klingon"), std::string::npos) << msg;
  EXPECT_NE(msg.find("m.gguf"), std::string::npos) << msg;
  md.set_string("tokenizer.ggml.model", "llama");
  Metadata empty;
  empty.set_string("tokenizer.ggml.model", "bert");
  EXPECT_NE(error_of([&] { load_tokenizer(empty, "m.gguf"); }).find("tokenizer.ggml.tokens"), std::string::npos);
}

TEST(TokenizerFactory, MaxTokensFromContextLength) {
  Metadata md;
  md.set_string("tokenizer.ggml.model", "llama");
  md.set_strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  EXPECT_EQ(load_tokenizer(md, "t")->max_tokens(), 0);
  md.set_string("general.architecture", "llama");
  md.set_u32("llama.context_length", 2048);
  EXPECT_EQ(load_tokenizer(md, "t")->max_tokens(), 2048);
}

TEST(TokenizerFactory, HfDirFallbackAndFolders) {
  TempDir dir("hf");
  std::ofstream(dir.path / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhi\n";
  Metadata md;
  md.set_string("general.source.hf_dir", dir.path.string());
  auto tok = load_tokenizer(md, "model");
  EXPECT_EQ(tok->type_name(), "wordpiece");
  EXPECT_EQ(tok->encode("hi", true), (Ids{2, 4, 3}));
  EXPECT_EQ(load_tokenizer((dir.path / "vocab.txt").string())->encode("hi hi", false), (Ids{4, 4}));

  TempDir empty("empty");
  EXPECT_NE(error_of([&] { load_tokenizer(empty.path.string()); }).find("vocab.txt"), std::string::npos);
  // A vocab.txt without the unknown token cannot tokenize unknown words.
  std::ofstream(empty.path / "vocab.txt") << "a\nb\n";
  EXPECT_THROW(load_tokenizer(empty.path.string()), Error);
  std::ofstream(empty.path / "vocab.txt") << "[UNK]\na\n";
  std::ofstream(empty.path / "tokenizer_config.json") << "{not json";
  EXPECT_THROW(load_tokenizer(empty.path.string()), Error);
}

TEST(TokenizerFactory, BadPathsAndFilesAreErrors) {
  EXPECT_NE(error_of([] { load_tokenizer("/nonexistent/x.gguf"); }).find("/nonexistent/x.gguf"), std::string::npos);
  TempDir dir("bad");
  std::ofstream(dir.path / "junk.gguf") << "GGUF but not really";
  EXPECT_THROW(load_tokenizer((dir.path / "junk.gguf").string()), Error);
}

TEST(TokenizerFactory, TruncatedVocabularyFilesAreErrors) {
  HEARTH_REQUIRE_SHARED();
  const std::string full = test::read_text_file(test::tokenizer_golden("ggml-vocab-llama-spm.gguf"));
  ASSERT_GT(full.size(), 100000u);
  TempDir dir("trunc");
  for (size_t n : {size_t(4), size_t(30), size_t(1000), full.size() / 2, full.size() - 1}) {
    const fs::path p = dir.path / ("cut" + std::to_string(n) + ".gguf");
    std::ofstream(p, std::ios::binary) << full.substr(0, n);
    EXPECT_THROW(load_tokenizer(p.string()), Error) << n << " bytes";
  }
}

TEST(TokenizerFactory, EveryGoldenVocabularyLoads) {
  HEARTH_REQUIRE_SHARED();
  const std::pair<const char*, const char*> expected[] = {
      {"bert-bge", "wordpiece"}, {"llama-spm", "spm"}, {"phi-3", "spm"}, {"gpt-2", "bpe"}, {"falcon", "bpe"}};
  for (const auto& [name, type] : expected) {
    auto tok = load_tokenizer(test::tokenizer_golden(std::string("ggml-vocab-") + name + ".gguf"));
    EXPECT_EQ(tok->type_name(), type) << name;
    EXPECT_GT(tok->n_vocab(), 30000) << name;
  }
}

TEST(TokenizerFactory, Phi3EndOfGenerationAndRstrip) {
  HEARTH_REQUIRE_SHARED();
  auto tok = load_tokenizer(test::tokenizer_golden("ggml-vocab-phi-3.gguf"));
  EXPECT_EQ(tok->special().eos, 32000);
  EXPECT_TRUE(tok->is_end_of_generation(32000));  // <|endoftext|>
  EXPECT_TRUE(tok->is_end_of_generation(32007));  // <|end|>, found by its text as llama.cpp does
  EXPECT_FALSE(tok->is_end_of_generation(32010));
  EXPECT_FALSE(tok->is_end_of_generation(1));
  // Phi-3's special tokens swallow the whitespace after them ("<|user|>\nHi" == "<|user|>Hi").
  EXPECT_EQ(tok->encode("<|user|>\n  Hi", true, true), tok->encode("<|user|>Hi", true, true));
  const Ids ids = tok->encode("<|user|>Hi<|end|>", true, true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 32010);
  EXPECT_EQ(ids.back(), 32007);
  // Without parse_special the same text is ordinary characters.
  EXPECT_GT(tok->encode("<|user|>", false, false).size(), 1u);
  EXPECT_EQ(tok->decode(ids), " Hi");
  EXPECT_EQ(tok->decode(ids, true), "<s><|user|> Hi<|end|>");
}

TEST(StreamDecoder, HoldsBackPartialUtf8) {
  HEARTH_REQUIRE_SHARED();
  auto tok = load_tokenizer(test::tokenizer_golden("ggml-vocab-llama-spm.gguf"));
  const std::string text = "Rocket \xF0\x9F\x9A\x80 launch \xE6\x9D\xB1 done";
  // Generated tokens, no BOS: the first token's space is dropped as in decode().
  const Ids ids = tok->encode(text, false);
  StreamDecoder stream(*tok);
  std::string all;
  for (int32_t id : ids) {
    const std::string part = stream.push(id);
    EXPECT_TRUE(utf8_valid(part)) << "token " << id;
    all += part;
  }
  all += stream.flush();
  EXPECT_EQ(all, text);

  // The rocket is spelled with four byte tokens: nothing comes out until the last one; a flush before it
  // gives the incomplete bytes as they are.
  const int32_t f0 = tok->encode("\xF0\x9F\x9A\x80", false).at(1);
  EXPECT_EQ(tok->token_to_piece(f0), "\xF0");
  StreamDecoder partial(*tok);
  EXPECT_EQ(partial.push(tok->encode("a", false).at(0)), "a");
  EXPECT_EQ(partial.push(f0), "");
  EXPECT_EQ(partial.flush(), "\xF0");
}

}  // namespace
}  // namespace hearth
