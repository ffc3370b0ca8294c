// `hearth run`, `chat`, `logits` and `bench gen` run as programs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "cli/run_hearth.h"
#include "test_util.h"

namespace hearth {
namespace {

using Output = test::ProcessResult;

Output hearth(const std::string& args, const std::string& input = "") { return test::run_hearth(args, input); }

std::string stories() { return "'" + test::shared_dir() + "/models/stories260K.gguf'"; }

TEST(DecoderCli, RunTellsTheStory) {
  HEARTH_REQUIRE_SHARED();
  const Output r = hearth("run -t 1 -m " + stories() + " -p '' -n 40 --temp 0");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", 0),
            0u)
      << r.out;
}

TEST(DecoderCli, SeededSamplingIsRepeatable) {
  HEARTH_REQUIRE_SHARED();
  const std::string args = "run -t 1 -m " + stories() + " -p 'Tom and his dog' -n 24 --temp 1.2 --seed 77";
  const Output a = hearth(args), b = hearth(args);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  const Output c = hearth("run -t 1 -m " + stories() + " -p 'Tom and his dog' -n 24 --temp 1.2 --seed 78");
  EXPECT_NE(a.out, c.out);
  const Output stop = hearth("run -t 1 -m " + stories() + " -p '' -n 40 --temp 0 --stop Lily");
  EXPECT_EQ(stop.out, "Once upon a time, there was a little girl named \n");
}

TEST(DecoderCli, LogitsMatchTheGoldenSchemaAndValues) {
  HEARTH_REQUIRE_SHARED();
  std::ifstream f(test::shared_dir() + "/golden/dev/llama-dev.f16.decoder.json");
  const auto golden = nlohmann::json::parse(f)["prompts"][1];
  const Output r = hearth("logits -t 1 -m '" + test::shared_dir() + "/golden/models/llama-dev.f16.gguf' -p '" +
                          golden["prompt"].get<std::string>() + "' --top 5");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["token_ids"], golden["token_ids"]);
  ASSERT_EQ(j["positions"].size(), golden["positions"].size());
  for (size_t i = 0; i < j["positions"].size(); ++i) {
    const auto& ours = j["positions"][i];
    const auto& want = golden["positions"][i];
    ASSERT_EQ(ours["top"].size(), 5u);
    EXPECT_NEAR(ours["logsumexp"].get<double>(), want["logsumexp"].get<double>(), 0.05);
    if (want["top"][0][1].get<double>() - want["top"][1][1].get<double>() > 0.05) {
      EXPECT_EQ(ours["top"][0][0], want["top"][0][0]) << "position " << i;
    }
    EXPECT_NEAR(ours["top"][0][1].get<double>(), want["top"][0][1].get<double>(), 0.05);
  }
}

TEST(DecoderCli, ChatReadsAPipeAndAnswersEachLine) {
  HEARTH_REQUIRE_SHARED();
  // stories260K has no chat template, so the ChatML fallback applies; the replies are nonsense but must come.
  const Output r = hearth("chat -t 1 -m " + stories() + " -n 8 --temp 0 --stats", "Hello\nHow are you?\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  // The second turn reuses the cached first turn: far fewer new tokens than the whole conversation.
  EXPECT_NE(r.err.find("new)"), std::string::npos) << r.err;
}

TEST(DecoderCli, BenchGenPrintsJson) {
  HEARTH_REQUIRE_SHARED();
  const Output r = hearth("bench gen -t 1 -m " + stories() + " -p 32 -n 8 -r 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["pp_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["tg_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 0);
}

TEST(DecoderCli, BadInputIsAOneLineError) {
  HEARTH_REQUIRE_SHARED();
  Output r = hearth("run -m /nonexistent/model.gguf -p hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("hearth: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = hearth("run -m '" + test::shared_dir() + "/golden/models/bert-dev.f16.gguf' -p hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("encoder"), std::string::npos) << r.err;
  r = hearth("run -t 1 -m " + stories() + " -p hi --temp -1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("temperature"), std::string::npos) << r.err;
  r = hearth("logits -t 1 -m " + stories() + " -p \"$(printf '\\377')\"");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hearth
