// BERT encoder vs llama.cpp (b4747) on the bert-dev models: token ids, pooled L2-normalized embeddings.
#include <gtest/gtest.h>

#include <memory>

#include "backends/backend.h"
#include "formats/weights.h"
#include "models/bert_golden.h"
#include "models/registry.h"
#include "tokenizers/tokenizer.h"

namespace hearth {
namespace {

using test::cosine;
using test::max_abs_diff;

// The two halves of an embedding pipeline (the runtime's Embedder joins them; this layer tests them apart).
struct Loaded {
  std::unique_ptr<Backend> backend = make_cpu_backend(2);
  std::unique_ptr<Weights> weights;
  std::unique_ptr<EncoderModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  explicit Loaded(const std::string& path) : weights(Weights::open(path)) {
    model = load_encoder(*weights, *backend);
    tokenizer = load_tokenizer(weights->metadata(), weights->source());
  }
  std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& ids, Pooling p, bool normalize) {
    return model->embed(ids, EmbedOptions{p, normalize});
  }
  std::vector<std::vector<int32_t>> tokenize(const std::vector<std::string>& texts) {
    std::vector<std::vector<int32_t>> ids;
    for (const auto& t : texts) ids.push_back(tokenizer->encode(t, true));
    return ids;
  }
};

struct Tolerance {
  double min_cos, max_abs;
};

void check_parity(const std::string& quant, Tolerance tol) {
  const test::EmbeddingGolden g = test::load_bert_golden(quant);
  Loaded m(g.model_path);
  ASSERT_EQ(m.model->dim(), 128);
  ASSERT_EQ(m.model->max_tokens(), 1024);
  ASSERT_EQ(m.model->default_options().pooling, Pooling::kMean);
  const auto ids = m.tokenize(g.sentences);
  for (size_t i = 0; i < g.sentences.size(); ++i)
    EXPECT_EQ(ids[i], g.token_ids[i]) << "sentence " << i << ": " << g.sentences[i];

  // The golden ids, not ours, so a tokenizer fault cannot hide behind a model fault.
  const auto r = m.embed(g.token_ids, Pooling::kMean, true);
  ASSERT_EQ(r.size(), g.embeddings.size());
  double worst_cos = 1, worst_abs = 0;
  for (size_t i = 0; i < g.embeddings.size(); ++i) {
    const double c = cosine(r[i], g.embeddings[i]), d = max_abs_diff(r[i], g.embeddings[i]);
    EXPECT_GE(c, tol.min_cos) << "sentence " << i;
    EXPECT_LE(d, tol.max_abs) << "sentence " << i;
    worst_cos = std::min(worst_cos, c);
    worst_abs = std::max(worst_abs, d);
  }
  std::printf("[ bert-dev.%s ] min cosine %.8f, max abs diff %.3g over %zu sentences\n", quant.c_str(), worst_cos,
              worst_abs, g.embeddings.size());
}

TEST(BertParity, F16MatchesLlamaCpp) {
  HEARTH_REQUIRE_SHARED();
  // llama.cpp's roundings are reproduced (F16 activations for F16 weights), hence tighter than the README's
  // general 0.9999 / 1e-3 (measured: 0.99999998, 6.1e-5).
  check_parity("f16", {0.99999, 2e-4});
}

TEST(BertParity, Q8_0MatchesLlamaCpp) {
  HEARTH_REQUIRE_SHARED();
  check_parity("q8_0", {0.9999, 2e-3});  // measured: 0.9999967, 7.6e-4
}

TEST(BertParity, BatchedEqualsOneAtATime) {
  HEARTH_REQUIRE_SHARED();
  const test::EmbeddingGolden g = test::load_bert_golden("f16");
  Loaded m(g.model_path);
  const auto all = m.embed(g.token_ids, Pooling::kMean, true);
  // Every third sentence keeps the test quick under sanitizers; the longest (> 600 tokens) is among them.
  for (size_t i = 0; i < g.token_ids.size(); i += 3) {
    const auto one = m.embed({g.token_ids[i]}, Pooling::kMean, true);
    EXPECT_GE(cosine(all[i], one[0]), 0.999999) << "sentence " << i;
    EXPECT_LE(max_abs_diff(all[i], one[0]), 1e-4) << "sentence " << i;
  }
}

TEST(BertParity, HeldOutModelsLoadAndEmbed) {
  HEARTH_REQUIRE_SHARED();
  const test::EmbeddingGolden g = test::load_bert_golden("f16");
  for (const char* name : {"bert-ho.f16.gguf", "bert-ho.q8_0.gguf"}) {
    SCOPED_TRACE(name);
    Loaded m(test::shared_model(name));
    const std::vector<std::string> texts(g.sentences.begin(), g.sentences.begin() + 8);
    const auto r = m.embed(m.tokenize(texts), m.model->default_options().pooling, true);
    ASSERT_EQ(r.size(), texts.size());
    for (const auto& e : r) {
      ASSERT_EQ(e.size(), size_t(m.model->dim()));
      double norm = 0;
      for (float v : e) {
        ASSERT_TRUE(std::isfinite(v));
        norm += double(v) * v;
      }
      EXPECT_NEAR(norm, 1.0, 1e-4);
    }
    // Different sentences must not collapse onto one vector.
    EXPECT_LT(cosine(r[0], r[1]), 0.9999);
  }
}

// Pooling modes are views of the same token states: mean/cls/last must equal the average / first / last row of
// the un-normalized per-token output.
TEST(BertParity, PoolingModesAgreeWithTokenStates) {
  HEARTH_REQUIRE_SHARED();
  const test::EmbeddingGolden g = test::load_bert_golden("f16");
  Loaded m(g.model_path);
  const auto ids = m.tokenize({g.sentences[0], g.sentences[1], "x"});
  const auto none = m.embed(ids, Pooling::kNone, false);
  const auto mean = m.embed(ids, Pooling::kMean, false), cls = m.embed(ids, Pooling::kCls, false),
             last = m.embed(ids, Pooling::kLast, false);
  const size_t dim = size_t(m.model->dim());
  for (size_t s = 0; s < ids.size(); ++s) {
    const auto& rows = none[s];
    const size_t n = ids[s].size();
    ASSERT_EQ(rows.size(), n * dim);
    std::vector<float> avg(dim, 0.0f);
    for (size_t t = 0; t < n; ++t)
      for (size_t d = 0; d < dim; ++d) avg[d] += rows[t * dim + d] / float(n);
    EXPECT_LE(max_abs_diff(mean[s], avg), 1e-4);
    EXPECT_EQ(cls[s], std::vector<float>(rows.begin(), rows.begin() + long(dim)));
    EXPECT_EQ(last[s], std::vector<float>(rows.end() - long(dim), rows.end()));
  }
  // Normalized per-token output: each row has unit length.
  const auto none_l2 = m.embed(ids, Pooling::kNone, true);
  const auto& rows = none_l2[0];
  for (size_t t = 0; t * dim < rows.size(); ++t) {
    double norm = 0;
    for (size_t d = 0; d < dim; ++d) norm += double(rows[t * dim + d]) * rows[t * dim + d];
    EXPECT_NEAR(norm, 1.0, 1e-4) << "token " << t;
  }
}

}  // namespace
}  // namespace hearth
