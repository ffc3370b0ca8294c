// `hearth embed`, `hearth bench embed` and `hearth dev make-model --arch bert` run as programs.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/run_hearth.h"
#include "models/bert_golden.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

using Outcome = test::ProcessResult;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("hearth_embed_cli_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Outcome hearth(const std::string& args, const std::string& stdin_text = "") {
  return test::run_hearth(args, stdin_text);
}

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

std::string model(const std::string& name) { return "'" + test::shared_model(name) + "'"; }

void expect_one_line_error(const Outcome& r, const std::string& fragment) {
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
}

TEST(EmbedCli, ArgumentsMatchLlamaCpp) {
  HEARTH_REQUIRE_SHARED();
  const auto g = test::load_bert_golden("f16");
  const Outcome r = hearth("embed -m " + model("bert-dev.f16.gguf") + " --threads 2 '" + g.sentences[0] + "' '" +
                       g.sentences[2] + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_GE(test::cosine(lines[0].get<std::vector<float>>(), g.embeddings[0]), 0.99999);
  EXPECT_GE(test::cosine(lines[1].get<std::vector<float>>(), g.embeddings[2]), 0.99999);
}

TEST(EmbedCli, StdinLinesIncludingEmptyOnes) {
  HEARTH_REQUIRE_SHARED();
  const auto g = test::load_bert_golden("q8_0");
  const Outcome r = hearth("embed -m " + model("bert-dev.q8_0.gguf"), g.sentences[5] + "\n\n   \n" + g.sentences[6] + "\r\n");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_GE(test::cosine(lines[0].get<std::vector<float>>(), g.embeddings[5]), 0.9999);
  EXPECT_EQ(lines[1].size(), 128u);
  EXPECT_EQ(lines[1], lines[2]);  // empty and whitespace-only are both just [CLS] [SEP]
  EXPECT_GE(test::cosine(lines[3].get<std::vector<float>>(), g.embeddings[6]), 0.9999);
}

TEST(EmbedCli, PoolingAndNormalizationOptions) {
  HEARTH_REQUIRE_SHARED();
  const std::string m = model("bert-dev.f16.gguf");
  Outcome r = hearth("embed -m " + m + " --pooling none 'hello world'");
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(lines[0].size(), 4u);  // [CLS] hello world [SEP]
  EXPECT_EQ(lines[0][0].size(), 128u);
  r = hearth("embed -m " + m + " --pooling cls --no-normalize 'hello world'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto cls = json_lines(r.out)[0].get<std::vector<float>>();
  // CLS pooling without normalization is exactly the first token state of --pooling none --no-normalize.
  r = hearth("embed -m " + m + " --pooling none --no-normalize 'hello world'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_lines(r.out)[0][0].get<std::vector<float>>(), cls);
  double norm = 0;
  for (float v : cls) norm += double(v) * v;
  EXPECT_GT(std::fabs(norm - 1.0), 1e-3);
  r = hearth("embed -m " + m + " --pooling max hello");
  EXPECT_NE(r.code, 0);
}

TEST(EmbedCli, ErrorsAreOneLine) {
  HEARTH_REQUIRE_SHARED();
  expect_one_line_error(hearth("embed -m /nonexistent/model.gguf hello"), "/nonexistent/model.gguf");
  expect_one_line_error(hearth("embed -m " + model("llama-dev.f16.gguf") + " hello"), "declares no embedding pooling");
  expect_one_line_error(hearth("embed -m " + model("bert-dev.f16.gguf"), ""), "no input");
  expect_one_line_error(hearth("embed -m " + model("bert-dev.f16.gguf") + " ok \"$(printf 'bad\\377')\""),
                        "not valid UTF-8");
}

TEST(BenchEmbedCli, JsonReport) {
  HEARTH_REQUIRE_SHARED();
  const auto g = test::load_bert_golden("f16");
  const std::string sentences = temp_path("sentences.txt");
  {
    std::ofstream out(sentences);
    for (size_t i = 0; i < 8; ++i) out << g.sentences[i] << "\n";
  }
  const Outcome r = hearth("bench embed -m " + model("bert-dev.q8_0.gguf") + " --sentences '" + sentences +
                       "' --seconds 0 --threads 2 --json");
  fs::remove(sentences);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"sentences_per_s", "tokens_per_s", "p50_ms", "p95_ms", "p99_ms", "peak_rss_mb"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  }
  EXPECT_LE(j["p50_ms"].get<double>(), j["p95_ms"].get<double>());
  EXPECT_LE(j["p95_ms"].get<double>(), j["p99_ms"].get<double>());
  EXPECT_GT(j["tokens_per_s"].get<double>(), j["sentences_per_s"].get<double>());
}

TEST(MakeModelCli, MiniLmShapeIsDeterministicAndRuns) {
  HEARTH_REQUIRE_SHARED();
  const std::string vocab = "'" + test::shared_dir() + "/golden/tokenizer/ggml-vocab-bert-bge.gguf'";
  const std::string a = temp_path("a.gguf"), b = temp_path("b.gguf");
  for (const auto& path : {a, b}) {
    const Outcome r = hearth("dev make-model --arch bert --preset minilm-l6 --type q8_0 --vocab " + vocab + " -o '" +
                         path + "'");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  EXPECT_TRUE(slurp(a) == slurp(b)) << "same seed, different files";
  const Outcome r = hearth("embed -m '" + a + "' 'hello world' 'another sentence'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), 384u);
  EXPECT_LT(test::cosine(lines[0].get<std::vector<float>>(), lines[1].get<std::vector<float>>()), 0.9999);
  const Outcome bad = hearth("dev make-model --arch bert --preset nope --vocab " + vocab + " -o '" + a + "'");
  expect_one_line_error(bad, "unknown bert preset 'nope'");
  fs::remove(a);
  fs::remove(b);
}

}  // namespace
}  // namespace hearth
