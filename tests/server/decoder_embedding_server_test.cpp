// One loaded decoder serves chat and embeddings: `hearth serve` with llama-dev.f16 rewritten to declare last-token
// pooling answers /v1/embeddings (checked against the independent double-precision forward pass) and chat on the same
// model id; a plain text model embeds only with --embedding.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "runtime/decoder_embedding_reference.h"
#include "server_process.h"
#include "tokenizers/tokenizer.h"

namespace hearth::test {
namespace {

using Json = nlohmann::json;

struct Reply {
  int status = 0;
  Json json;
};

Reply post(const ServerProcess& s, const std::string& path, const Json& body) {
  httplib::Client cli(s.host(), s.port());
  cli.set_read_timeout(std::chrono::seconds(120));
  cli.set_connection_timeout(std::chrono::seconds(10));
  auto r = cli.Post(path, body.dump(), "application/json");
  if (!r) return {};
  return {r->status, Json::parse(r->body, nullptr, false)};
}

TEST(DecoderEmbeddingServer, OneDecoderServesChatAndEmbeddings) {
  HEARTH_REQUIRE_SHARED();
  TempDir dir;
  const std::string path = dir / "qwenish.gguf";
  write_llama_dev_variant(path, [](Metadata& m) { m.set_u32("llama.pooling_type", 3); });
  ServerProcess s({"-m", "dec=" + path, "-m", "plain=" + llama_dev_f16(), "--threads", "1", "--parallel", "2"});
  ASSERT_TRUE(s.ready());

  const auto weights = Weights::open(path);
  const ReferenceLlama ref(*weights);
  const auto tok = load_tokenizer(weights->metadata(), path);
  auto expected = [&](const std::string& text) {
    return pool_and_normalize(ref.hidden_states(tok->encode(text, true, false)), /*last=*/true);
  };

  const Reply e = post(s, "/v1/embeddings", {{"model", "dec"}, {"input", {"Hello there", "The cat sat on the mat"}}});
  ASSERT_EQ(e.status, 200) << e.json.dump();
  ASSERT_EQ(e.json["data"].size(), 2u);
  EXPECT_GE(cosine_to_reference(e.json["data"][0]["embedding"].get<std::vector<float>>(), expected("Hello there")),
            0.9999);
  EXPECT_GE(
      cosine_to_reference(e.json["data"][1]["embedding"].get<std::vector<float>>(), expected("The cat sat on the mat")),
      0.9999);

  // hearth's extension: the inputs are queries for a task.
  const Reply q =
      post(s, "/v1/embeddings", {{"model", "dec"}, {"input", "Hello there"}, {"instruction", "Find the answer"}});
  ASSERT_EQ(q.status, 200) << q.json.dump();
  EXPECT_GE(cosine_to_reference(q.json["data"][0]["embedding"].get<std::vector<float>>(),
                                expected("Instruct: Find the answer\nQuery:Hello there")),
            0.9999);
  EXPECT_EQ(post(s, "/v1/embeddings", {{"model", "dec"}, {"input", {1, 2, 3}}, {"instruction", "x"}}).status, 400);

  // Chat and completions on the same model id, same loaded weights.
  const Reply chat = post(s, "/v1/chat/completions",
                          {{"model", "dec"},
                           {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
                           {"max_tokens", 4},
                           {"temperature", 0}});
  ASSERT_EQ(chat.status, 200) << chat.json.dump();
  EXPECT_EQ(chat.json["usage"]["completion_tokens"], 4);
  const Reply completion =
      post(s, "/v1/completions", {{"model", "dec"}, {"prompt", "Hello"}, {"max_tokens", 4}, {"temperature", 0}});
  EXPECT_EQ(completion.status, 200) << completion.json.dump();
  // And embeddings again after generation: the engine's cache and the embedder's passes do not disturb each other.
  const Reply again =
      post(s, "/v1/embeddings", {{"model", "dec"}, {"input", {"Hello there", "The cat sat on the mat"}}});
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.json["data"], e.json["data"]);

  // A text model that declares no embedding pooling does not embed unless the server is told to.
  const Reply plain = post(s, "/v1/embeddings", {{"model", "plain"}, {"input", "Hello there"}});
  EXPECT_EQ(plain.status, 400) << plain.json.dump();
  EXPECT_NE(plain.json["error"]["message"].get<std::string>().find("--embedding"), std::string::npos);
}

TEST(DecoderEmbeddingServer, EmbeddingFlagMakesEveryTextModelEmbed) {
  HEARTH_REQUIRE_SHARED();
  ServerProcess s({"-m", "plain=" + llama_dev_f16(), "--threads", "1", "--parallel", "1", "--embedding"});
  ASSERT_TRUE(s.ready());
  const Reply e = post(s, "/v1/embeddings", {{"model", "plain"}, {"input", "Hello there"}});
  ASSERT_EQ(e.status, 200) << e.json.dump();
  const auto weights = Weights::open(llama_dev_f16());
  const ReferenceLlama ref(*weights);
  const auto tok = load_tokenizer(weights->metadata(), llama_dev_f16());
  // No declared pooling: the last token's (docs/embeddings.md).
  EXPECT_GE(cosine_to_reference(e.json["data"][0]["embedding"].get<std::vector<float>>(),
                                pool_and_normalize(ref.hidden_states(tok->encode("Hello there", true, false)), true)),
            0.9999);
  EXPECT_EQ(post(s, "/v1/completions", {{"model", "plain"}, {"prompt", "Hello"}, {"max_tokens", 2}}).status, 200);
  httplib::Client cli(s.host(), s.port());
  const auto listed = cli.Get("/v1/models/plain");
  ASSERT_TRUE(listed);
  EXPECT_EQ(Json::parse(listed->body)["capabilities"], Json::array({"chat", "completions", "embeddings"}))
      << listed->body;
}

}  // namespace
}  // namespace hearth::test
