// `hearth tokenize` run as a program: arguments and stdin, --special, folders, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "cli/run_hearth.h"
#include "test_util.h"

namespace hearth {
namespace {

using Result = test::ProcessResult;

// Runs `hearth <args>` with stderr merged into stdout.
Result run(const std::string& args, const std::string& stdin_text = "") {
  return test::run_hearth(args, stdin_text, test::Stderr::kMerged);
}

std::string bge() { return test::shared_dir() + "/golden/tokenizer/ggml-vocab-bert-bge.gguf"; }

TEST(TokenizeCli, ArgumentsAndSpecials) {
  HEARTH_REQUIRE_SHARED();
  Result r = run("tokenize -m '" + bge() + "' 'Hello world' 'a b'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[7592,2088]\n[1037,1038]\n");
  r = run("tokenize --special -m '" + bge() + "' -- 'Hello world'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[101,7592,2088,102]\n");
}

TEST(TokenizeCli, ArgumentWithNewlineIsOneText) {
  HEARTH_REQUIRE_SHARED();
  Result r = run("tokenize -m '" + bge() + "' \"$(printf 'Hello\\nworld')\"");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[7592,2088]\n");
}

TEST(TokenizeCli, StdinLines) {
  HEARTH_REQUIRE_SHARED();
  Result r = run("tokenize -m '" + bge() + "'", "Hello world\r\n\na b\n");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[7592,2088]\n[]\n[1037,1038]\n");
}

TEST(TokenizeCli, SentencePieceWithBos) {
  HEARTH_REQUIRE_SHARED();
  Result r = run("tokenize --special -m '" + test::shared_dir() + "/models/stories260K.gguf' 'Once upon a time'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[1,403,407,261,378]\n");
}

TEST(TokenizeCli, VocabTxtFolder) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("hearth_tok_cli_dir_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\n";
  Result r = run("tokenize --special -m '" + dir.string() + "' 'Hellos HELLO x'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[2,4,5,4,1,3]\n");
  fs::remove_all(dir);
}

TEST(TokenizeCli, ErrorsAreOneLine) {
  Result r = run("tokenize -m /nonexistent/model.gguf hello");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/nonexistent/model.gguf"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;

  const std::string junk =
      (std::filesystem::temp_directory_path() / ("hearth_tok_cli_junk_" + std::to_string(::getpid()))).string();
  std::ofstream(junk) << "not a model";
  r = run("tokenize -m '" + junk + "' hello");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  std::filesystem::remove(junk);
}

TEST(TokenizeCli, InvalidUtf8OnStdinIsAnError) {
  HEARTH_REQUIRE_SHARED();
  Result r = run("tokenize -m '" + bge() + "'", "ok\n\xff\xfe\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("UTF-8"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace hearth
