// hearth run --grammar / --json-schema / --json on the trained stories260K.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "cli/run_hearth.h"
#include "test_util.h"

namespace hearth {
namespace {

std::string stories() { return "'" + test::shared_dir() + "/models/stories260K.gguf'"; }

// A file holding `text`, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& name, const std::string& text)
      : path_(std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_" + name)) {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string quoted() const { return "'" + path_.string() + "'"; }

 private:
  std::filesystem::path path_;
};

// The printed output less the newline `run` ends it with.
std::string text_of(const test::ProcessResult& r) {
  std::string s = r.out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

TEST(StructuredOutputCli, GrammarFileConstrainsTheStory) {
  HEARTH_REQUIRE_SHARED();
  TempFile g("animal.gbnf", "root ::= \"The \" animal \" was \" [a-z]{2,10} \".\"\nanimal ::= \"cat\" | \"dog\" | \"bird\"\n");
  const auto r = test::run_hearth("run -t 1 -m " + stories() + " -p '' -n 64 --temp 0 --grammar " + g.quoted());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string out = text_of(r);
  EXPECT_TRUE(out.rfind("The cat was ", 0) == 0 || out.rfind("The dog was ", 0) == 0 || out.rfind("The bird was ", 0) == 0) << out;
  EXPECT_EQ(out.back(), '.') << out;
}

TEST(StructuredOutputCli, JsonSchemaAndJsonObject) {
  HEARTH_REQUIRE_SHARED();
  TempFile s("schema.json", R"({"type":"object","properties":{"name":{"type":"string","maxLength":10},
                                 "age":{"type":"integer"}},"required":["name","age"]})");
  for (int seed : {1, 2, 3}) {
    const auto r = test::run_hearth("run -t 1 -m " + stories() + " -p 'Tom' -n 200 --temp 1 --seed " + std::to_string(seed) +
                                    " --json-schema " + s.quoted());
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(text_of(r));
    EXPECT_TRUE(j.at("name").is_string()) << r.out;
    EXPECT_TRUE(j.at("age").is_number_integer()) << r.out;
  }
  const auto r = test::run_hearth("run -t 1 -m " + stories() + " -p '' -n 300 --temp 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(text_of(r).front(), '{') << r.out;
}

TEST(StructuredOutputCli, BadGrammarsAreOneLineErrors) {
  HEARTH_REQUIRE_SHARED();
  TempFile g("bad.gbnf", "root ::= \"a\" | undefined-rule\n");
  auto r = test::run_hearth("run -t 1 -m " + stories() + " -p '' --grammar " + g.quoted());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bad.gbnf: grammar: line 1, column 16: undefined rule 'undefined-rule'"), std::string::npos) << r.err;
  TempFile s("bad.json", R"({"type":"string","pattern":"^a+$"})");
  r = test::run_hearth("run -t 1 -m " + stories() + " -p '' --json-schema " + s.quoted());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unsupported keyword 'pattern' (at #)"), std::string::npos) << r.err;
  r = test::run_hearth("run -t 1 -m " + stories() + " -p '' --json --json-schema " + s.quoted());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("exclude each other"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hearth
