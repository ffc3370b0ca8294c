// `hearth run`, `chat`, `logits` and `bench gen` run as programs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

// A conversation saved with --session resumes in a new process where it left off: the same replies as one
// process, and the earlier turns are not run again.
TEST(DecoderCli, ChatSessionSurvivesARestart) {
  HEARTH_REQUIRE_SHARED();
  const std::string file =
      (std::filesystem::temp_directory_path() / ("hearth_chat_session_" + std::to_string(::getpid()))).string();
  std::filesystem::remove(file);
  const std::string args = "chat -t 1 -m " + stories() + " -n 12 --temp 0 --stats --session '" + file + "'";
  const Output first = hearth(args, "Hello\n");
  const Output second = hearth(args, "How are you?\n");
  const Output together = hearth("chat -t 1 -m " + stories() + " -n 12 --temp 0 --stats", "Hello\nHow are you?\n");
  ASSERT_EQ(first.code, 0) << first.err;
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(first.out + second.out, together.out);
  // The resumed turn ran as few new tokens as the second turn of the single process.
  const auto last_stats = [](const std::string& err) { return err.substr(err.rfind('[')); };
  EXPECT_EQ(last_stats(second.err).substr(0, last_stats(second.err).find(" in ")),
            last_stats(together.err).substr(0, last_stats(together.err).find(" in ")));
  // A damaged session file is a clear error, not a crash or a silent restart.
  std::ofstream(file, std::ios::binary | std::ios::app) << "junk";
  const Output damaged = hearth(args, "Again\n");
  EXPECT_EQ(damaged.code, 1);
  EXPECT_NE(damaged.err.find("saved sequence"), std::string::npos) << damaged.err;
  std::filesystem::remove(file);
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

TEST(DecoderCli, DraftModelGivesTheSameTextAndBenchReportsAcceptance) {
  HEARTH_REQUIRE_SHARED();
  for (const std::string sampling : {" --temp 0", " --temp 1 --seed 9"}) {
    // One prompt (the single-sequence speculative generator), and three at once (the batching engine's drafts).
    for (const std::string prompts : {" -p 'Lily and'", " -p 'Lily and' -p 'Tom saw' -p 'Once upon a time'"}) {
      const std::string args = "run -t 1 -n 40 -m " + stories() + sampling + prompts;
      const Output plain = hearth(args), drafted = hearth(args + " --draft " + stories() + " --draft-max 5");
      ASSERT_EQ(drafted.code, 0) << drafted.err;
      EXPECT_EQ(drafted.out, plain.out) << sampling << prompts;
    }
  }
  const Output bench = hearth("bench gen -t 1 -m " + stories() + " -p 16 -n 16 -r 1 --json --draft " + stories());
  ASSERT_EQ(bench.code, 0) << bench.err;
  const auto j = nlohmann::json::parse(bench.out);
  EXPECT_DOUBLE_EQ(j["acceptance_rate"].get<double>(), 1.0);  // a greedy model agrees with itself
  EXPECT_GT(j["speculative_tg_tokens_per_s"].get<double>(), 0);
}

TEST(DecoderCli, BenchPrefixReportsTheCachedPrefix) {
  HEARTH_REQUIRE_SHARED();
  const Output r = hearth("bench prefix -t 1 -m " + stories() + " --prefix 200 --suffix 8 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["second_cached_tokens"], 192);  // the prefix's whole blocks of 32 positions
  EXPECT_GT(j["first_seconds"].get<double>(), 0);
  EXPECT_GT(j["speedup"].get<double>(), 0);
}

TEST(DecoderCli, BenchBatchPrintsOneObjectPerCount) {
  HEARTH_REQUIRE_SHARED();
  const Output r = hearth("bench batch -t 1 -m " + stories() + " --parallel 1,3 -p 16 -n 4 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["parallel"], 1);
  EXPECT_EQ(j[1]["parallel"], 3);
  for (const auto& m : j) {
    EXPECT_GT(m["pp_tokens_per_s"].get<double>(), 0);
    EXPECT_GT(m["tg_tokens_per_s"].get<double>(), 0);
  }
  EXPECT_NE(hearth("bench batch -t 1 -m " + stories() + " --parallel 0").code, 0);
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

// Several prompts run together through the batching engine: one JSON line each, in input order, and each equal to
// the same prompt run alone with seed S + i.
TEST(DecoderCli, ManyPromptsRunTogetherAndEachEqualsItsOwnRun) {
  HEARTH_REQUIRE_SHARED();
  const std::vector<std::string> prompts = {"Once upon a time", "Tom and his dog", "[a,b]", "", "Lily was"};
  const std::string flags = " -t 1 -n 24 --temp 1.1 --seed 40 -m " + stories();
  std::string args = "run" + flags;
  for (const std::string& p : prompts) args += " -p '" + p + "'";
  const Output together = hearth(args);
  ASSERT_EQ(together.code, 0) << together.err;
  std::vector<nlohmann::json> lines;
  std::istringstream in(together.out);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), prompts.size()) << together.out;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(lines[i]["index"], i);
    EXPECT_EQ(lines[i]["finish_reason"], "length");
    EXPECT_EQ(lines[i]["tokens"].size(), 24u);
    const Output alone = hearth("run -t 1 -n 24 --temp 1.1 --seed " + std::to_string(40 + i) + " -m " + stories() +
                                " -p '" + prompts[i] + "'");
    ASSERT_EQ(alone.code, 0) << alone.err;
    EXPECT_EQ(lines[i]["text"].get<std::string>() + "\n", alone.out) << "prompt " << i;
  }

  // The same prompts from a file (one JSON string per line, blank lines skipped), two at a time.
  const std::string file = (std::filesystem::temp_directory_path() / ("hearth_prompts_" + std::to_string(::getpid()))).string();
  {
    std::ofstream f(file);
    for (const std::string& p : prompts) f << nlohmann::json(p).dump() << "\n\n";
  }
  const Output from_file = hearth("run --parallel 2 --prompts '" + file + "'" + flags);
  EXPECT_EQ(from_file.out, together.out) << from_file.err;
  std::ofstream(file) << "\"fine\"\nnot json\n";
  const Output bad = hearth("run --prompts '" + file + "'" + flags);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find(":2:"), std::string::npos) << bad.err;
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace hearth
