// `hearth validate` run as a program: the golden dev models against llama.cpp's references (pass), a model against
// another model's reference (fail, exit 2), --record then --reference on one model (identical), bad references
// (one error line).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/run_hearth.h"
#include "test_util.h"

namespace hearth {
namespace {

using Outcome = test::ProcessResult;

std::string golden(const std::string& name) { return "'" + test::shared_dir() + "/golden/dev/" + name + "'"; }
std::string model(const std::string& name) { return "'" + test::shared_dir() + "/golden/models/" + name + "'"; }

Outcome validate(const std::string& args) { return test::run_hearth("validate -t 1 " + args); }

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct GoldenCase {
  const char* model;
  const char* reference;
  size_t rows;
};

class ValidateGolden : public ::testing::TestWithParam<GoldenCase> {};

// Each shipped model against the reference llama.cpp made from that same file: our numerics match llama.cpp's
// (docs/decoder.md bounds the logit differences at 0.35, far inside a 0.99 cosine), so the default threshold holds.
TEST_P(ValidateGolden, PassesAgainstItsLlamaCppReference) {
  HEARTH_REQUIRE_SHARED();
  const GoldenCase& c = GetParam();
  const Outcome r = validate(model(c.model) + " --reference " + golden(c.reference));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("latency"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("p95"), std::string::npos) << r.out;
  // One table row per prompt / sentence (each row ends with a number, the summary line starts "summary:").
  EXPECT_EQ(count(r.out, "\n"), c.rows + 1 /*title*/ + 1 /*header*/ + 1 /*summary*/ + (c.rows == 64 ? 1 : 3) + 1)
      << r.out;
  std::printf("%s\n", r.out.c_str());
}

INSTANTIATE_TEST_SUITE_P(DevModels, ValidateGolden,
                         ::testing::Values(GoldenCase{"llama-dev.f16.gguf", "llama-dev.f16.decoder.json", 8},
                                           GoldenCase{"llama-dev.q8_0.gguf", "llama-dev.q8_0.decoder.json", 8},
                                           GoldenCase{"llama-dev.q4_0.gguf", "llama-dev.q4_0.decoder.json", 8},
                                           GoldenCase{"bert-dev.f16.gguf", "bert-dev.f16.embeddings.json", 64},
                                           GoldenCase{"bert-dev.q8_0.gguf", "bert-dev.q8_0.embeddings.json", 64}));

// Q4_0 against the F16 file's reference: llama.cpp's own comparison (golden/dev/README.md) finds 31.8 % top-1
// agreement; the cosine falls far below 0.99 and the command says so.
TEST(ValidateCli, AnotherModelsReferenceFails) {
  HEARTH_REQUIRE_SHARED();
  const Outcome r = validate(model("llama-dev.q4_0.gguf") + " --reference " + golden("llama-dev.f16.decoder.json"));
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: lowest position cosine"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - 5), "FAIL\n");
}

TEST(ValidateCli, ThresholdsAreConfigurable) {
  HEARTH_REQUIRE_SHARED();
  // Q8_0 against F16: cosine ~0.91 at worst, top-1 ~93 % (llama.cpp measured the same 93.4 %).
  const std::string args = model("llama-dev.q8_0.gguf") + " --reference " + golden("llama-dev.f16.decoder.json");
  EXPECT_EQ(validate(args).code, 2);
  EXPECT_EQ(validate(args + " --min-cosine 0.5").code, 0);
  const Outcome top1 = validate(args + " --min-cosine 0.5 --min-top1 0.99 --json");
  EXPECT_EQ(top1.code, 2);
  const auto j = nlohmann::json::parse(top1.out);
  EXPECT_FALSE(j["passed"].get<bool>());
  ASSERT_EQ(j["failures"].size(), 1u);
  EXPECT_NE(j["failures"][0].get<std::string>().find("top-1"), std::string::npos);
}

// A reference recorded from a model, checked against the same model: the same computation, so cosine 1 up to float
// rounding of the printed logits (%.9g round-trips float32: exactly 1 in practice), every top-1 and greedy token.
TEST(ValidateCli, RecordThenValidateSameModelMatchesExactly) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir dir;
  std::ofstream(dir / "prompts.txt") << "The capital of France is\n\nOnce upon a time\nHello, world!\n";
  for (const char* name : {"llama-dev.q4_0.gguf", "bert-dev.f16.gguf"}) {
    SCOPED_TRACE(name);
    const std::string ref = "'" + (dir / "ref.json") + "'";
    const Outcome rec = validate(model(name) + " --record " + ref + " --prompts '" + (dir / "prompts.txt") + "'");
    ASSERT_EQ(rec.code, 0) << rec.err;
    const Outcome r = validate(model(name) + " --reference " + ref + " --json");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j["passed"].get<bool>());
    EXPECT_EQ(j["rows"].size(), 3u);  // the empty line is skipped
    EXPECT_GE(j["cosine_min"].get<double>(), 1 - 1e-9);
    if (j["kind"] == "decoder") {
      EXPECT_EQ(j["top1"], j["positions"]);
      EXPECT_EQ(j["greedy_match"], j["greedy_total"]);
      EXPECT_EQ(j["greedy_total"].get<int>(), 3 * 24);
      EXPECT_LE(j["max_logprob_diff"].get<double>(), 1e-5);
    }
    for (const auto& row : j["rows"]) EXPECT_TRUE(row["tokens_match"].get<bool>());
  }
  // And the recorded file is the goldens' schema, top-64 by default.
  std::ifstream in(dir / "ref.json");
  const auto ref = nlohmann::json::parse(in);
  EXPECT_EQ(ref["sentences"].size(), 3u);
  EXPECT_EQ(ref["pooling"], "mean");
}

TEST(ValidateCli, RecordedDecoderReferenceKeepsTopKAndDetectsAnotherModel) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string ref = "'" + (dir / "f16.json") + "'";
  ASSERT_EQ(validate(model("llama-dev.f16.gguf") + " --record " + ref + " --n-gen 8").code, 0);
  std::ifstream in(dir / "f16.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["n_vocab"].get<int>(), 32000);
  EXPECT_EQ(j["prompts"][0]["positions"][0]["top"].size(), 64u);
  EXPECT_EQ(j["prompts"][0]["greedy_ids"].size(), 8u);
  // The Q4_0 copy of the same master against the F16 file's recorded reference: far apart (random weights
  // quantize badly at 4 bits), so validation fails.
  const Outcome r = validate(model("llama-dev.q4_0.gguf") + " --reference " + ref);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
}

void expect_one_line_error(const Outcome& r, const std::string& fragment) {
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
  EXPECT_NE(r.err.find("hearth: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
}

TEST(ValidateCli, BadReferencesGiveOneErrorLine) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string m = model("llama-dev.q4_0.gguf");
  std::ofstream(dir / "broken.json") << "{\"prompts\": [";
  expect_one_line_error(validate(m + " --reference '" + (dir / "broken.json") + "'"), "not a JSON reference file");
  std::ofstream(dir / "other.json") << "{\"hello\": 1}";
  expect_one_line_error(validate(m + " --reference '" + (dir / "other.json") + "'"), "neither a decoder reference");
  std::ofstream(dir / "missing.json") << R"({"prompts": [{"token_ids": [1, 2]}]})";
  expect_one_line_error(validate(m + " --reference '" + (dir / "missing.json") + "'"),
                        "prompts[0]: missing field 'positions'");
  std::ofstream(dir / "lengths.json")
      << R"({"prompts": [{"token_ids": [1, 2], "positions": [{"top": [[5, 1.5]], "logsumexp": 2}]}]})";
  expect_one_line_error(validate(m + " --reference '" + (dir / "lengths.json") + "'"), "1 positions for 2 tokens");
  std::ofstream(dir / "types.json") << R"({"prompts": [{"token_ids": [1, "x"], "positions": []}]})";
  expect_one_line_error(validate(m + " --reference '" + (dir / "types.json") + "'"), "prompts[0].token_ids");
  expect_one_line_error(validate(m + " --reference '" + (dir / "absent.json") + "'"), "absent.json");
  // Another vocabulary (qwen2-dev's gpt-2 vocabulary against llama-dev's).
  expect_one_line_error(validate(m + " --reference " + golden("qwen2-dev.f32.decoder.json")), "vocabulary");
  // A decoder's logits against an encoder.
  expect_one_line_error(validate(model("bert-dev.f16.gguf") + " --reference " + golden("llama-dev.f16.decoder.json")),
                        "needs a decoder");
  expect_one_line_error(validate(m), "either --reference");
}

}  // namespace
}  // namespace hearth
