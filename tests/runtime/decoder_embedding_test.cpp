// Decoder embedders (models/decoder_embedding.h through runtime/embedder.h): the pooled vector against the hidden
// states of an independent double-precision forward pass (decoder_embedding_reference.h), on llama-dev.f16 rewritten
// with `llama.pooling_type`; the EOS a tokenizer appends, the query instruction, batch invariance, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/backend.h"
#include "core/error.h"
#include "models/decoder.h"
#include "runtime/decoder_embedding_reference.h"
#include "runtime/embedder.h"
#include "test_util.h"

namespace hearth {
namespace {

// F16 weights: hearth rounds each F16 matmul's activations to F16 and keeps K/V in F16 (as llama.cpp does), the
// reference rounds nothing. Through llama-dev's 2 layers that moves the normalized vector by at most 4.4e-4 per
// component, cosine >= 0.999998 (measured, 1 thread; the figures lines print them). The bounds leave about 4x room
// and still catch any real fault: a wrong token, position or row pooled moves the cosine far below them.
constexpr double kMinCosine = 0.99999, kMaxAbsDiff = 2e-3;

Backend& backend() {
  static std::unique_ptr<Backend> b = make_cpu_backend(1);  // one thread: tiny model, busy test machines
  return *b;
}

std::shared_ptr<const Weights> variant(const test::TempDir& dir, const std::string& name,
                                       const std::function<void(Metadata&)>& edit) {
  test::write_llama_dev_variant(dir / name, edit);
  return Weights::open(dir / name);
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double dot = 0, gg = 0, ww = 0, worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    dot += got[i] * want[i];
    gg += double(got[i]) * got[i];
    ww += want[i] * want[i];
    worst = std::max(worst, std::fabs(got[i] - want[i]));
  }
  const double cosine = dot / std::sqrt(gg * ww);
  EXPECT_GE(cosine, kMinCosine) << what;
  EXPECT_LE(worst, kMaxAbsDiff) << what;
  EXPECT_NEAR(std::sqrt(gg), 1.0, 1e-5) << what;  // L2-normalized
  std::printf("[ figures  ] %s: cosine %.8f, max |diff| %.2e\n", what.c_str(), cosine, worst);
}

const std::vector<std::string>& texts() {
  static const std::vector<std::string> t = {"The capital of France is Paris.", "Hello",
                                             "A much longer sentence about decoders, embeddings and pooling, which "
                                             "runs to a few dozen tokens so that attention spans many positions."};
  return t;
}

class DecoderEmbedding : public ::testing::Test {
 protected:
  void SetUp() override { HEARTH_REQUIRE_SHARED(); }
  test::TempDir dir_;
};

TEST_F(DecoderEmbedding, LastTokenPoolingIsTheFinalNormHiddenStateOfTheLastToken) {
  auto w = variant(dir_, "last.gguf", [](Metadata& m) { m.set_u32("llama.pooling_type", 3); });
  Embedder e(w, backend());
  EXPECT_EQ(e.dim(), 128);
  EXPECT_EQ(e.model().default_options().pooling, Pooling::kLast);
  const test::ReferenceLlama ref(*w);
  const EmbedResult r = e.embed(texts());
  for (size_t i = 0; i < texts().size(); ++i) {
    const std::vector<int32_t> ids = e.tokenize(texts()[i]);
    EXPECT_EQ(ids.front(), 1);  // BOS, as the vocabulary says; no EOS (add_eos_token false)
    EXPECT_NE(ids.back(), 2);
    expect_close(r.embeddings[i], test::pool_and_normalize(ref.hidden_states(ids), /*last=*/true),
                 "last-token pooling, text " + std::to_string(i));
  }
}

TEST_F(DecoderEmbedding, MeanPoolingIsTheMeanOverTokens) {
  auto w = variant(dir_, "mean.gguf", [](Metadata& m) { m.set_u32("llama.pooling_type", 1); });
  Embedder e(w, backend());
  EXPECT_EQ(e.model().default_options().pooling, Pooling::kMean);
  const test::ReferenceLlama ref(*w);
  const EmbedResult r = e.embed(texts());
  for (size_t i = 0; i < texts().size(); ++i)
    expect_close(r.embeddings[i], test::pool_and_normalize(ref.hidden_states(e.tokenize(texts()[i])), false),
                 "mean pooling, text " + std::to_string(i));
  // The pooling can be chosen per call, as for encoders.
  EmbedderOptions last;
  last.pooling = Pooling::kLast;
  expect_close(e.embed({texts()[0]}, last).embeddings[0],
               test::pool_and_normalize(ref.hidden_states(e.tokenize(texts()[0])), true), "pooling asked per call");
}

// Qwen3-Embedding's tokenizer appends <|endoftext|> (tokenizer.ggml.add_eos_token = true in its GGUF), and the
// embedding is that token's hidden state: the EOS comes from the vocabulary's flag, as for any encoder.
TEST_F(DecoderEmbedding, AnEosTheTokenizerAppendsIsTheTokenPooled) {
  auto w = variant(dir_, "eos.gguf", [](Metadata& m) {
    m.set_u32("llama.pooling_type", 3);
    m.set_bool("tokenizer.ggml.add_eos_token", true);
  });
  Embedder e(w, backend());
  const std::vector<int32_t> ids = e.tokenize(texts()[0]);
  ASSERT_EQ(ids.back(), 2);  // </s>
  const test::ReferenceLlama ref(*w);
  const std::vector<float> got = e.embed({texts()[0]}).embeddings[0];
  expect_close(got, test::pool_and_normalize(ref.hidden_states(ids), true), "last token = appended EOS");
  // Without the EOS the last token is the text's own: another vector.
  const std::vector<int32_t> no_eos(ids.begin(), ids.end() - 1);
  const std::vector<double> other = test::pool_and_normalize(ref.hidden_states(no_eos), true);
  double dot = 0;
  for (size_t i = 0; i < got.size(); ++i) dot += got[i] * other[i];
  EXPECT_LT(dot, 0.99);
}

TEST_F(DecoderEmbedding, QueryInstructionIsTheQwen3EmbeddingPrefix) {
  auto w = variant(dir_, "last.gguf", [](Metadata& m) { m.set_u32("llama.pooling_type", 3); });
  Embedder e(w, backend());
  EmbedderOptions query;
  query.instruction = "Given a web search query, retrieve relevant passages that answer the query";
  const std::vector<float> q = e.embed({"what is the capital of France?"}, query).embeddings[0];
  EXPECT_EQ(instructed_query(query.instruction, "what is the capital of France?"),
            "Instruct: Given a web search query, retrieve relevant passages that answer the query\n"
            "Query:what is the capital of France?");
  EXPECT_EQ(q, e.embed({instructed_query(query.instruction, "what is the capital of France?")}).embeddings[0]);
  EXPECT_NE(q, e.embed({"what is the capital of France?"}).embeddings[0]);
  const test::ReferenceLlama ref(*w);
  expect_close(q,
               test::pool_and_normalize(
                   ref.hidden_states(e.tokenize(instructed_query(query.instruction, "what is the capital of France?"))),
                   true),
               "instructed query");
}

// Several texts in one forward pass (one sequence each) give the same bits as each alone (docs/decoder.md, "Batch
// invariance"), whatever the pooling.
TEST_F(DecoderEmbedding, BatchedEqualsOneAtATime) {
  auto w = variant(dir_, "mean.gguf", [](Metadata& m) { m.set_u32("llama.pooling_type", 1); });
  Embedder e(w, backend());
  for (const Pooling p : {Pooling::kMean, Pooling::kLast}) {
    EmbedderOptions o;
    o.pooling = p;
    const EmbedResult all = e.embed(texts(), o);
    for (size_t i = 0; i < texts().size(); ++i) EXPECT_EQ(all.embeddings[i], e.embed({texts()[i]}, o).embeddings[0]);
  }
}

TEST_F(DecoderEmbedding, SharesALoadedDecoder) {
  auto w = variant(dir_, "last.gguf", [](Metadata& m) { m.set_u32("llama.pooling_type", 3); });
  const auto decoder = load_decoder(*w, backend());
  Embedder shared(w, *decoder, std::nullopt);
  Embedder own(w, backend());
  EXPECT_EQ(shared.embed(texts()).embeddings, own.embed(texts()).embeddings);
}

TEST_F(DecoderEmbedding, ATextModelEmbedsOnlyWhenAsked) {
  const std::shared_ptr<const Weights> plain = Weights::open(test::llama_dev_f16());
  try {
    Embedder e(plain, backend());
    FAIL() << "embedded with a decoder that declares no pooling";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(err.what()).find("llama.pooling_type"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("--pooling"), std::string::npos) << err.what();
  }
  Embedder asked(plain, backend(), Pooling::kMean);
  const test::ReferenceLlama ref(*plain);
  expect_close(asked.embed({texts()[1]}).embeddings[0],
               test::pool_and_normalize(ref.hidden_states(asked.tokenize(texts()[1])), false), "asked for mean");
}

TEST_F(DecoderEmbedding, UnsupportedOrInvalidPoolingTypesAreNamed) {
  for (const auto& [type, kind] : {std::pair{2u, ErrorKind::kUnsupported}, std::pair{4u, ErrorKind::kUnsupported},
                                   std::pair{9u, ErrorKind::kCorruptData}}) {
    auto w = variant(dir_, "p.gguf", [type = type](Metadata& m) { m.set_u32("llama.pooling_type", type); });
    try {
      Embedder e(w, backend());
      FAIL() << "pooling type " << type << " accepted";
    } catch (const Error& err) {
      EXPECT_EQ(err.kind(), kind) << err.what();
      EXPECT_NE(std::string(err.what()).find("llama.pooling_type = " + std::to_string(type)), std::string::npos)
          << err.what();
    }
  }
}

}  // namespace
}  // namespace hearth
