// The reference-file format (formats/reference_file.h): summaries of a row of logits, and a written file read back.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "formats/reference_file.h"
#include "test_util.h"

namespace hearth {
namespace {

TEST(ReferenceFile, SummaryTakesTopKWithTiesToTheLowerIdAndTheFullLogsumexp) {
  const float row[] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  const LogitsSummary s = summarize_logits(row, 5, 3);
  ASSERT_EQ(s.top.size(), 3u);
  EXPECT_EQ(s.top[0], (std::pair<int32_t, float>(1, 3.0f)));
  EXPECT_EQ(s.top[1], (std::pair<int32_t, float>(3, 3.0f)));
  EXPECT_EQ(s.top[2], (std::pair<int32_t, float>(0, 1.0f)));
  double sum = 0;
  for (float v : row) sum += std::exp(double(v));
  EXPECT_NEAR(s.logsumexp, std::log(sum), 1e-12);
  EXPECT_EQ(summarize_logits(row, 5, 99).top.size(), 5u);
}

TEST(ReferenceFile, WrittenDecoderAndEmbeddingReferencesReadBackExactly) {
  test::TempDir dir;
  Reference d;
  d.kind = Reference::Kind::kDecoder;
  d.model = "m.gguf";
  d.producer = "test";
  d.n_vocab = 7;
  d.prompts.push_back({"a \"quoted\" prompt\n", {1, 2}, {}, {3, 4}, {0.25, 1e-7}});
  d.prompts[0].positions.push_back({{{2, 0.1f}, {5, -1.0f / 3}}, 1.2345678901});
  d.prompts[0].positions.push_back({{{6, 3e-8f}, {0, -7.5f}}, -2});
  write_reference(d, dir / "d.json");
  const Reference rd = read_reference(dir / "d.json");
  EXPECT_EQ(rd.kind, Reference::Kind::kDecoder);
  EXPECT_EQ(rd.model, "m.gguf");
  EXPECT_EQ(rd.producer, "test");
  EXPECT_EQ(rd.n_vocab, 7);
  ASSERT_EQ(rd.prompts.size(), 1u);
  EXPECT_EQ(rd.prompts[0].prompt, d.prompts[0].prompt);
  EXPECT_EQ(rd.prompts[0].token_ids, d.prompts[0].token_ids);
  EXPECT_EQ(rd.prompts[0].greedy_ids, d.prompts[0].greedy_ids);
  EXPECT_EQ(rd.prompts[0].greedy_top2_margin, d.prompts[0].greedy_top2_margin);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rd.prompts[0].positions[i].top, d.prompts[0].positions[i].top);  // %.9g round-trips float32
    EXPECT_NEAR(rd.prompts[0].positions[i].logsumexp, d.prompts[0].positions[i].logsumexp, 1e-8);
  }

  Reference e;
  e.kind = Reference::Kind::kEmbeddings;
  e.pooling = "last";
  e.normalized = false;
  e.sentences = {{"one", {1, 5, 2}, {0.5f, -0.25f, 1.0f / 3}}, {"two", {1, 2}, {1e-9f, 2, 3}}};
  write_reference(e, dir / "e.json");
  const Reference re = read_reference(dir / "e.json");
  EXPECT_EQ(re.kind, Reference::Kind::kEmbeddings);
  EXPECT_EQ(re.pooling, "last");
  EXPECT_FALSE(re.normalized);
  ASSERT_EQ(re.sentences.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(re.sentences[i].sentence, e.sentences[i].sentence);
    EXPECT_EQ(re.sentences[i].token_ids, e.sentences[i].token_ids);
    EXPECT_EQ(re.sentences[i].embedding, e.sentences[i].embedding);
  }
}

TEST(ReferenceFile, EmbeddingsOfDifferentSizesAreCorrupt) {
  test::TempDir dir;
  std::ofstream(dir / "bad.json")
      << R"({"sentences": ["a", "b"], "token_ids": [[1], [2]], "embeddings": [[1, 2], [3]]})";
  try {
    read_reference(dir / "bad.json");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptData);
    EXPECT_NE(std::string(e.what()).find("embeddings[1]: 1 values, expected 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hearth
