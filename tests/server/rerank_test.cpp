// /v1/rerank and /rerank end to end: `hearth serve` with two tiny random cross-encoders written by
// `hearth dev make-model --rerank` (BERT with the bge WordPiece vocabulary; XLM-RoBERTa's shape with a small
// unigram vocabulary written here), an embedder (bert-dev) and a decoder (stories260K). The expected scores come
// from the same files loaded in this process by the Reranker. Skipped without ../shared.
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "backends/backend.h"
#include "cli/run_hearth.h"
#include "formats/gguf.h"
#include "runtime/reranker.h"
#include "server_process.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Reply {
  int status = 0;
  std::string body;
  Json json() const { return Json::parse(body, nullptr, false); }
};

Reply post(const ServerProcess& s, const std::string& path, const std::string& body,
           const httplib::Headers& headers = {}) {
  httplib::Client cli(s.host(), s.port());
  cli.set_read_timeout(std::chrono::seconds(120));
  auto r = cli.Post(path, headers, body, "application/json");
  if (!r) return {};
  return {r->status, r->body};
}
Reply post(const ServerProcess& s, const std::string& path, const Json& body) { return post(s, path, body.dump()); }

// A unigram ("t5") vocabulary in XLM-RoBERTa's layout, as a vocabulary-only GGUF.
void write_t5_vocab(const std::string& path) {
  const std::vector<std::string> tokens = {"<s>", "<pad>", "</s>", "<unk>", "\u2581", "\u2581the", "\u2581cat",
                                           "\u2581sat", "\u2581dog", "\u2581ran", "\u2581a", "s", "a", "t", "c", "d",
                                           "o", "g", "r", "n", "e", "h", "i", "m", "<mask>"};
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const bool control = i < 3 || tokens[i] == "<mask>";
    scores.push_back(control || i == 3 ? 0.0f : -float(i));
    types.push_back(i == 3 ? 2 : control ? 3 : 1);
  }
  GgufWriter w;
  Metadata& md = w.metadata();
  md.set_string("tokenizer.ggml.model", "t5");
  md.set_strings("tokenizer.ggml.tokens", tokens);
  md.set_f32s("tokenizer.ggml.scores", scores);
  md.set_i32s("tokenizer.ggml.token_type", types);
  md.set_u32("tokenizer.ggml.bos_token_id", 0);
  md.set_u32("tokenizer.ggml.padding_token_id", 1);
  md.set_u32("tokenizer.ggml.eos_token_id", 2);
  md.set_u32("tokenizer.ggml.unknown_token_id", 3);
  md.set_u32("tokenizer.ggml.seperator_token_id", 2);
  md.set_bool("tokenizer.ggml.add_bos_token", true);
  md.set_bool("tokenizer.ggml.add_eos_token", true);
  md.set_bool("tokenizer.ggml.add_space_prefix", true);
  md.set_bool("tokenizer.ggml.remove_extra_whitespaces", true);
  w.write(path);
}

const std::vector<std::string> kDocs = {"a cat sat on the mat", "stock markets fell sharply today", "",
                                        "the dog ran after the cat", "cats are small carnivorous mammals",
                                        "paris is the capital of france"};

class RerankServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (shared_dir().empty()) return;
    dir_ = new fs::path(fs::temp_directory_path() / ("hearth_rerank_srv_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    const std::string bge = shared_dir() + "/golden/tokenizer/ggml-vocab-bert-bge.gguf";
    const std::string t5 = (*dir_ / "t5-vocab.gguf").string();
    write_t5_vocab(t5);
    for (const auto& [out, vocab] : {std::pair{bert_reranker(), bge}, {xlmr_reranker(), t5}}) {
      const ProcessResult made = run_hearth("dev make-model --arch bert --preset tiny --rerank --type f32 --vocab '" +
                                            vocab + "' -o '" + out + "'");
      if (made.code != 0) {
        ADD_FAILURE() << "make-model failed: " << made.err;
        return;
      }
    }
    server_ = new ServerProcess({"-m", "rr=" + bert_reranker(), "-m", "xr=" + xlmr_reranker(), "-m",
                                 "bert=" + shared_dir() + "/golden/models/bert-dev.f16.gguf", "-m",
                                 "stories=" + shared_dir() + "/models/stories260K.gguf", "--threads", "2"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    HEARTH_REQUIRE_SHARED();
    ASSERT_TRUE(server_ && server_->ready()) << "hearth serve did not start";
  }
  static std::string bert_reranker() { return (*dir_ / "rr.gguf").string(); }
  static std::string xlmr_reranker() { return (*dir_ / "xr.gguf").string(); }

  // The raw logits of the file's reranker, computed in this process.
  static RerankResult expected(const std::string& path, const std::string& query, const std::vector<std::string>& docs) {
    auto backend = make_cpu_backend(1);
    const Reranker r(Weights::open(path), *backend);
    return r.score(query, docs);
  }

  static ServerProcess* server_;
  static fs::path* dir_;
  const ServerProcess& s() const { return *server_; }
};
ServerProcess* RerankServerTest::server_ = nullptr;
fs::path* RerankServerTest::dir_ = nullptr;

Json rerank_body(const std::string& model, const std::vector<std::string>& docs) {
  return {{"model", model}, {"query", "what is a cat"}, {"documents", docs}};
}

// Checks a response against the expected logits: every index once, sorted by score, each score the document's.
void expect_ranked(const Json& j, const RerankResult& want, bool raw, size_t count) {
  ASSERT_TRUE(j["results"].is_array()) << j.dump();
  ASSERT_EQ(j["results"].size(), count);
  std::set<size_t> seen;
  double previous = INFINITY;
  for (const Json& r : j["results"]) {
    const size_t i = r["index"].get<size_t>();
    ASSERT_LT(i, want.scores.size());
    EXPECT_TRUE(seen.insert(i).second) << "index " << i << " twice";
    const double logit = want.scores[i];
    const double score = r["relevance_score"].get<double>();
    EXPECT_NEAR(score, raw ? logit : 1.0 / (1.0 + std::exp(-logit)), 1e-4) << "index " << i;
    if (!raw) {
      EXPECT_TRUE(score > 0 && score < 1);
    }
    EXPECT_LE(score, previous);
    previous = score;
  }
}

TEST_F(RerankServerTest, RanksDocumentsByScore) {
  const RerankResult want = expected(bert_reranker(), "what is a cat", kDocs);
  Json body = rerank_body("rr", kDocs);
  body["raw_scores"] = true;
  Reply raw = post(s(), "/v1/rerank", body);
  ASSERT_EQ(raw.status, 200) << raw.body;
  const Json j = raw.json();
  expect_ranked(j, want, true, kDocs.size());
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "rr");
  EXPECT_EQ(j["id"].get<std::string>().rfind("rerank-", 0), 0u);
  EXPECT_EQ(j["usage"]["total_tokens"], want.total_tokens);
  EXPECT_EQ(j["usage"]["prompt_tokens"], want.total_tokens);
  EXPECT_FALSE(j["results"][0].contains("document"));  // return_documents defaults to false

  // By default the scores are the logits' sigmoids, in the same order.
  Reply sig = post(s(), "/v1/rerank", rerank_body("rr", kDocs));
  ASSERT_EQ(sig.status, 200) << sig.body;
  expect_ranked(sig.json(), want, false, kDocs.size());
  for (size_t k = 0; k < kDocs.size(); ++k) EXPECT_EQ(sig.json()["results"][k]["index"], j["results"][k]["index"]);
}

TEST_F(RerankServerTest, TopNAndDocuments) {
  const RerankResult want = expected(bert_reranker(), "what is a cat", kDocs);
  const Json all = post(s(), "/v1/rerank", rerank_body("rr", kDocs)).json();
  Json body = rerank_body("rr", kDocs);
  body["top_n"] = 2;
  body["return_documents"] = true;
  Reply top = post(s(), "/v1/rerank", body);
  ASSERT_EQ(top.status, 200) << top.body;
  const Json j = top.json();
  expect_ranked(j, want, false, 2);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(j["results"][k]["index"], all["results"][k]["index"]);
    const size_t i = j["results"][k]["index"].get<size_t>();
    EXPECT_EQ(j["results"][k]["document"]["text"], kDocs[i]);
  }
  EXPECT_EQ(j["usage"]["total_tokens"], want.total_tokens);  // every document was scored

  body["top_n"] = 100;  // more than there are: all of them
  EXPECT_EQ(post(s(), "/v1/rerank", body).json()["results"].size(), kDocs.size());

  // {"text": ...} objects are documents too, and /rerank is the same endpoint.
  Json objects = rerank_body("rr", {});
  objects["documents"] = Json::array();
  for (const std::string& d : kDocs) objects["documents"].push_back({{"text", d}});
  Reply alias = post(s(), "/rerank", objects);
  ASSERT_EQ(alias.status, 200) << alias.body;
  EXPECT_EQ(alias.json()["results"], all["results"]);
}

TEST_F(RerankServerTest, XlmRobertaShape) {
  const std::vector<std::string> docs = {"the cat sat", "the dog ran", "a cat", "mat"};
  const RerankResult want = expected(xlmr_reranker(), "what is a cat", docs);
  Json body = rerank_body("xr", docs);
  body["raw_scores"] = true;
  Reply r = post(s(), "/v1/rerank", body);
  ASSERT_EQ(r.status, 200) << r.body;
  expect_ranked(r.json(), want, true, docs.size());
}

TEST_F(RerankServerTest, LongDocumentsAreTruncated) {
  std::string long_doc;
  for (int i = 0; i < 500; ++i) long_doc += "the cat sat on the mat ";
  Reply r = post(s(), "/v1/rerank", rerank_body("rr", {long_doc, "a cat"}));
  ASSERT_EQ(r.status, 200) << r.body;
  // The tiny preset takes 128 tokens: the long pair is cut to that.
  const RerankResult want = expected(bert_reranker(), "what is a cat", {long_doc, "a cat"});
  EXPECT_EQ(want.n_tokens[0], 128);
  EXPECT_EQ(r.json()["usage"]["total_tokens"], want.total_tokens);
}

TEST_F(RerankServerTest, ModelsThatCannotDoIt) {
  auto expect_400 = [&](const Reply& r, const std::string& in_message, const std::string& param) {
    EXPECT_EQ(r.status, 400) << r.body;
    const Json e = r.json()["error"];
    EXPECT_EQ(e["type"], "invalid_request_error") << r.body;
    EXPECT_EQ(e["param"], param.empty() ? Json(nullptr) : Json(param)) << r.body;
    EXPECT_NE(e["message"].get<std::string>().find(in_message), std::string::npos) << r.body;
  };
  // Reranking from an embedder or a decoder.
  expect_400(post(s(), "/v1/rerank", rerank_body("bert", kDocs)), "'bert' is an embedding model", "model");
  expect_400(post(s(), "/rerank", rerank_body("stories", kDocs)), "'stories' is a text generation model", "model");
  EXPECT_EQ(post(s(), "/v1/rerank", rerank_body("bert", kDocs)).json()["error"]["code"], "model_not_supported");
  // Embeddings or text from a reranker.
  expect_400(post(s(), "/v1/embeddings", Json{{"model", "rr"}, {"input", "x"}}), "'rr' is a reranker", "model");
  expect_400(post(s(), "/v1/chat/completions",
                  Json{{"model", "xr"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}),
             "'xr' is a reranker", "model");
  expect_400(post(s(), "/v1/completions", Json{{"model", "rr"}, {"prompt", "hi"}}), "cannot generate text", "model");
  // Malformed requests.
  expect_400(post(s(), "/v1/rerank", rerank_body("rr", {})), "non-empty", "documents");
  Json wrong = rerank_body("rr", kDocs);
  wrong["documents"] = {"a", 5};
  expect_400(post(s(), "/v1/rerank", wrong), "string", "documents[1]");
  wrong = rerank_body("rr", kDocs);
  wrong["query"] = {"a"};
  expect_400(post(s(), "/v1/rerank", wrong), "string", "query");
  wrong = rerank_body("rr", kDocs);
  wrong["top_n"] = 0;
  expect_400(post(s(), "/v1/rerank", wrong), "top_n", "top_n");
  expect_400(post(s(), "/v1/rerank", std::string("{\"model\":")), "not valid JSON", "");
  EXPECT_EQ(post(s(), "/v1/rerank", rerank_body("nope", kDocs)).status, 404);
}

TEST_F(RerankServerTest, ApiKeyCoversTheAlias) {
  ServerProcess keyed({"-m", "rr=" + bert_reranker(), "--api-key", "sekret", "--threads", "1"});
  ASSERT_TRUE(keyed.ready());
  EXPECT_EQ(post(keyed, "/rerank", rerank_body("rr", kDocs).dump()).status, 401);
  EXPECT_EQ(post(keyed, "/v1/rerank", rerank_body("rr", kDocs).dump()).status, 401);
  EXPECT_EQ(post(keyed, "/rerank", rerank_body("rr", kDocs).dump(), {{"Authorization", "Bearer sekret"}}).status, 200);
  EXPECT_EQ(keyed.stop(), 0);
}

}  // namespace
}  // namespace hearth::test
