// Constrained decoding end to end on the trained stories260K (512-token vocabulary): every schema of the
// corpus (tests/grammar/schemas/) compiled, several seeded samples each, and each output checked by the
// grammar's own matcher and by ajv (npm) as the independent validator. Then the same constraint through the
// batching engine and speculative decoding, which must give the outputs the plain Generator gives.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/mapped_file.h"
#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "runtime/engine.h"
#include "runtime/generator.h"
#include "runtime/session.h"
#include "runtime/speculative.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

class StructuredOutput : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_SHARED();
    session_ = open_decoder(test::shared_dir() + "/models/stories260K.gguf", 1);
    prompt_ = session_.tokenizer->encode("", true, false);
  }
  static GenerateOptions sampled(std::shared_ptr<const grammar::Grammar> g, uint64_t seed, int max_tokens) {
    GenerateOptions o;
    o.max_tokens = max_tokens;
    o.sampling = SamplerOptions();  // temperature 1, nothing cut: the model's whole (masked) distribution
    o.sampling.temperature = 1.0f;
    o.sampling.top_k = 0;
    o.sampling.top_p = 1.0f;
    o.sampling.min_p = 0.0f;
    o.sampling.seed = seed;
    o.grammar = std::move(g);
    return o;
  }
  // A tiny model rarely closes a string by itself, so the corpus bounds strings and arrays the schema leaves
  // open (the outputs still validate: the bound only narrows what the grammar may produce).
  static grammar::JsonGrammarOptions bounded() {
    grammar::JsonGrammarOptions o;
    o.max_string_length = 12;
    o.max_items = 4;
    return o;
  }
  DecoderSession session_;
  std::vector<int32_t> prompt_;
};

TEST_F(StructuredOutput, CorpusOutputsValidateUnderAjv) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(test::source_dir() + "/tests/grammar/schemas")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 30u);
  auto cache = session_.model->new_cache(512);
  Generator gen(*session_.model, *session_.tokenizer, *cache);
  nlohmann::json cases = nlohmann::json::array();
  int total = 0, complete = 0;
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    const std::string schema = read_file(file.string());
    const auto g = grammar::compile_json_schema(schema, bounded());
    nlohmann::json outputs = nlohmann::json::array();
    for (uint64_t seed : {1, 2, 3}) {
      gen.reset();
      const GenerateResult r = gen.generate(prompt_, sampled(g, seed, 400));
      ++total;
      if (r.finish_reason != FinishReason::kStop) continue;  // cut by max_tokens: incomplete, counted below
      ++complete;
      EXPECT_TRUE(grammar::matches(g, r.text)) << r.text;
      outputs.push_back(r.text);
    }
    cases.push_back({{"name", file.filename().string()}, {"schema", nlohmann::json::parse(schema)}, {"outputs", outputs}});
  }
  // Most must complete within the token budget (all do at the time of writing).
  EXPECT_GE(complete * 10, total * 9) << complete << " of " << total << " outputs completed";
  std::printf("%d of %d outputs completed within 400 tokens\n", complete, total);

  HEARTH_REQUIRE_NODE();
  const fs::path in = fs::temp_directory_path() / ("hearth_structured_" + std::to_string(::getpid()) + ".json");
  std::ofstream(in) << cases.dump(1);
  const std::string cmd = "NODE_PATH='" + test::node_dir() + "/node_modules' node '" + test::source_dir() +
                          "/tests/grammar/validate_json.js' '" + in.string() + "'";
  const int rc = std::system(cmd.c_str());
  fs::remove(in);
  EXPECT_EQ(rc, 0) << cmd;
}

TEST_F(StructuredOutput, GbnfGrammarAndJsonObject) {
  auto cache = session_.model->new_cache(512);
  Generator gen(*session_.model, *session_.tokenizer, *cache);
  const auto g = grammar::parse_gbnf("root ::= \"Tom \" (\"ran\" | \"sat\" | \"saw \" [a-z]{1,8}) \".\"\n");
  const auto obj = grammar::json_object_grammar(bounded());
  for (uint64_t seed : {1, 2, 3, 4}) {
    gen.reset();
    GenerateResult r = gen.generate(prompt_, sampled(g, seed, 64));
    EXPECT_EQ(r.finish_reason, FinishReason::kStop);
    EXPECT_TRUE(grammar::matches(g, r.text)) << r.text;
    gen.reset();
    r = gen.generate(prompt_, sampled(obj, seed, 400));
    if (r.finish_reason == FinishReason::kStop) {
      const auto j = nlohmann::json::parse(r.text);  // throws if not JSON
      EXPECT_TRUE(j.is_object()) << r.text;
    }
  }
}

TEST_F(StructuredOutput, UnconstrainedOutputIsUnchangedAndGreedyConstrainedIsDeterministic) {
  auto cache = session_.model->new_cache(256);
  Generator gen(*session_.model, *session_.tokenizer, *cache);
  GenerateOptions plain;
  plain.max_tokens = 24;
  const GenerateResult a = gen.generate(prompt_, plain);
  EXPECT_NE(a.text.find("Once upon a time"), std::string::npos);  // the model's own greedy story
  plain.grammar = grammar::parse_gbnf("root ::= [^\\x00]*\n");     // allows everything that has text
  gen.reset();
  const GenerateResult b = gen.generate(prompt_, plain);
  EXPECT_EQ(a.text, b.text);
}

TEST_F(StructuredOutput, EngineAndSpeculativeDecodingGiveTheGeneratorsOutput) {
  const auto g = grammar::compile_json_schema(read_file(test::source_dir() + "/tests/grammar/schemas/25_nested.json"),
                                              bounded());
  std::vector<GenerateResult> want;
  {
    auto cache = session_.model->new_cache(512);
    Generator gen(*session_.model, *session_.tokenizer, *cache);
    for (uint64_t seed : {5, 6, 7}) {
      gen.reset();
      want.push_back(gen.generate(prompt_, sampled(g, seed, 200)));
    }
  }
  EngineOptions eo;
  eo.slots = 2;
  eo.context = 512;
  Engine engine(*session_.model, *session_.tokenizer, eo);
  std::vector<std::shared_ptr<Job>> jobs;
  for (uint64_t seed : {5, 6, 7}) jobs.push_back(engine.submit({prompt_, sampled(g, seed, 200), Priority::kInteractive, {}}));
  for (size_t i = 0; i < jobs.size(); ++i) {
    const GenerateResult r = jobs[i]->wait();
    EXPECT_EQ(r.tokens, want[i].tokens) << i;
    EXPECT_EQ(r.finish_reason, want[i].finish_reason);
  }
  // The model drafts for itself: each row of the verification batch is masked by the grammar state after the
  // draft tokens before it.
  auto tc = session_.model->new_cache(512);
  SpeculativeGenerator spec(*session_.model, *tc, *session_.model, *session_.tokenizer, 4);
  for (size_t i = 0; i < want.size(); ++i) {
    const GenerateResult r = spec.generate(prompt_, sampled(g, 5 + i, 200));
    EXPECT_EQ(r.tokens, want[i].tokens) << i;
    EXPECT_EQ(r.text, want[i].text);
  }
  EXPECT_GT(spec.stats().accepted, 0u);
}

}  // namespace
}  // namespace hearth
