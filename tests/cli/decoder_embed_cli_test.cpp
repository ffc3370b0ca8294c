// `hearth embed -m DECODER` and `hearth validate` on a decoder embedder: llama-dev.f16 rewritten with
// llama.pooling_type = 3 (last token), against the independent double-precision forward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/run_hearth.h"
#include "runtime/decoder_embedding_reference.h"
#include "runtime/embedder.h"
#include "test_util.h"

namespace hearth {
namespace {

std::vector<std::vector<float>> json_lines(const std::string& out) {
  std::vector<std::vector<float>> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    lines.push_back(nlohmann::json::parse(line).get<std::vector<float>>());
  return lines;
}

TEST(DecoderEmbedCli, EmbedsWithTheDeclaredPoolingAndTheQueryInstruction) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string path = dir / "last.gguf";
  test::write_llama_dev_variant(path, [](Metadata& m) { m.set_u32("llama.pooling_type", 3); });
  const auto weights = Weights::open(path);
  const test::ReferenceLlama ref(*weights);
  const auto tok = load_tokenizer(weights->metadata(), path);
  auto expected = [&](const std::string& text) {
    return test::pool_and_normalize(ref.hidden_states(tok->encode(text, true, false)), /*last=*/true);
  };

  const auto r = test::run_hearth("embed -m '" + path + "' --threads 1 'Hello there' 'The cat sat on the mat'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), 128u);
  EXPECT_GE(test::cosine_to_reference(lines[0], expected("Hello there")), 0.9999);  // bound: decoder_embedding_test.cpp
  EXPECT_GE(test::cosine_to_reference(lines[1], expected("The cat sat on the mat")), 0.9999);

  const auto q = test::run_hearth("embed -m '" + path + "' --threads 1 --instruct 'Find the answer' 'Hello there'");
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_GE(test::cosine_to_reference(json_lines(q.out)[0], expected("Instruct: Find the answer\nQuery:Hello there")),
            0.9999);
  EXPECT_LT(test::cosine_to_reference(json_lines(q.out)[0], expected("Hello there")), 0.99);
}

TEST(DecoderEmbedCli, ATextModelNeedsAnExplicitPooling) {
  HEARTH_REQUIRE_SHARED();
  const std::string m = "'" + test::llama_dev_f16() + "'";
  const auto refused = test::run_hearth("embed -m " + m + " --threads 1 hello");
  EXPECT_EQ(refused.code, 1);
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
  EXPECT_NE(refused.err.find("--pooling"), std::string::npos) << refused.err;
  const auto asked = test::run_hearth("embed -m " + m + " --threads 1 --pooling mean hello");
  ASSERT_EQ(asked.code, 0) << asked.err;
  const auto weights = Weights::open(test::llama_dev_f16());
  const test::ReferenceLlama ref(*weights);
  const auto tok = load_tokenizer(weights->metadata(), test::llama_dev_f16());
  EXPECT_GE(
      test::cosine_to_reference(json_lines(asked.out)[0],
                                test::pool_and_normalize(ref.hidden_states(tok->encode("hello", true, false)), false)),
      0.9999);
}

// A decoder that declares an embedding pooling is an embedding model to `validate --record` too: its reference
// holds vectors, and the same file checks out exactly against it.
TEST(DecoderEmbedCli, ValidateRecordsAndChecksADecoderEmbedder) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string path = dir / "last.gguf";
  test::write_llama_dev_variant(path, [](Metadata& m) { m.set_u32("llama.pooling_type", 3); });
  const std::string ref = "'" + (dir / "ref.json") + "'";
  ASSERT_EQ(test::run_hearth("validate -t 1 '" + path + "' --record " + ref).code, 0);
  const auto r = test::run_hearth("validate -t 1 '" + path + "' --reference " + ref + " --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kind"], "embeddings");
  EXPECT_GE(j["cosine_min"].get<double>(), 1 - 1e-9);
  // The plain file (the same weights, no pooling key) embeds with the reference's pooling and passes too.
  const auto plain = test::run_hearth("validate -t 1 '" + test::llama_dev_f16() + "' --reference " + ref);
  EXPECT_EQ(plain.code, 0) << plain.out << plain.err;
}

}  // namespace
}  // namespace hearth
