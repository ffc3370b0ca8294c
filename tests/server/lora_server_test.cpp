// Run-time LoRA in `hearth serve`: adapters loaded at start (--lora NAME=FILE) and chosen per request ("lora"),
// requests with different adapters at once each get what they get alone, no adapter is the base model, cached
// prefixes never cross adapters, and an unknown adapter is a 400. stories260K with random adapters; skipped
// without ../shared.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <future>

#include "http_call.h"
#include "lora_fixture.h"
#include "server_process.h"

namespace hearth::test {
namespace {

using Json = nlohmann::json;

class LoraServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    model_ = shared_dir() + "/models/stories260K.gguf";
    // stories260K: 5 layers, 64 wide, 8 heads of 8 (4 KV heads), 172 feed-forward.
    std::mt19937 rng(8);
    write_gguf_lora(dir_ / "styled.gguf",
                    random_layer_pairs(5, {{"attn_q", 64, 64}, {"ffn_up", 64, 172}}, 4, false, rng), 16.0f);
    write_peft(dir_ / "pirate",
               random_layer_pairs(5, {{"self_attn.k_proj", 64, 32}, {"mlp.down_proj", 172, 64}}, 4, true, rng), 4, 16.0);
  }

  static Json completion(const std::string& prompt, const Json& lora) {
    Json body = {{"model", "stories260K"}, {"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}};
    if (!lora.is_null()) body["lora"] = lora;
    return body;
  }
  static Reply complete(const ServerProcess& s, const std::string& prompt, const Json& lora) {
    return call(s, "POST", "/v1/completions", completion(prompt, lora).dump());
  }
  static std::string text(const Reply& r) {
    const Json j = r.json();
    return j.contains("choices") ? j["choices"][0]["text"].get<std::string>() : "(error " + r.body + ")";
  }
  static int cached(const Reply& r) { return r.json()["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(); }

  TempDir dir_;
  std::string model_;
};

TEST_F(LoraServerTest, RequestsChooseTheirAdapters) {
  ServerProcess s({"-m", model_, "--lora", "styled=" + (dir_ / "styled.gguf"), "--lora", "pirate=" + (dir_ / "pirate"),
                   "--parallel", "4", "--quiet"});
  ASSERT_TRUE(s.ready());
  const std::string prompt = "Once upon a time";
  const std::string base = text(complete(s, prompt, nullptr));
  const std::string styled = text(complete(s, prompt, Json::array({"styled"})));
  const std::string pirate = text(complete(s, prompt, Json::array({{{"name", "pirate"}, {"scale", 1.0}}})));
  EXPECT_NE(styled, base);
  EXPECT_NE(pirate, base);
  EXPECT_NE(styled, pirate);
  EXPECT_EQ(text(complete(s, prompt, Json::array({{{"name", "styled"}, {"scale", 0}}}))), base);
  EXPECT_EQ(text(complete(s, prompt, Json::array())), base);

  // At once: each gets what it got alone (several rounds, so that they share engine steps).
  for (int round = 0; round < 3; ++round) {
    auto a = std::async(std::launch::async, [&] { return text(complete(s, prompt, Json::array({"styled"}))); });
    auto b = std::async(std::launch::async, [&] { return text(complete(s, prompt, Json::array({"pirate"}))); });
    auto c = std::async(std::launch::async, [&] { return text(complete(s, prompt, nullptr)); });
    EXPECT_EQ(a.get(), styled);
    EXPECT_EQ(b.get(), pirate);
    EXPECT_EQ(c.get(), base);
  }

  const Reply unknown = complete(s, prompt, Json::array({"nope"}));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.json()["error"]["code"], "lora_not_found");
  EXPECT_EQ(unknown.json()["error"]["param"], "lora");
  EXPECT_NE(unknown.body.find("styled"), std::string::npos) << "the error lists the adapters there are";
  EXPECT_EQ(complete(s, prompt, "styled").status, 400);

  // /v1/models names the loaded model's adapters and what it does.
  const Json listed = call(s, "GET", "/v1/models").json()["data"][0];
  EXPECT_EQ(listed["adapters"], Json::array({"pirate", "styled"})) << listed;
  EXPECT_EQ(listed["capabilities"], Json::array({"chat", "completions"})) << listed;
}

TEST_F(LoraServerTest, CachedPrefixesNeverCrossAdapters) {
  ServerProcess s({"-m", model_, "--lora", "styled=" + (dir_ / "styled.gguf"), "--quiet"});
  ASSERT_TRUE(s.ready());
  const std::string prompt =
      "The little bird was sad because it could not find its mother in the big tree, so she flew to the river and";
  const Reply first = complete(s, prompt, Json::array({"styled"}));
  const Reply base = complete(s, prompt, nullptr);
  const Reply again = complete(s, prompt, Json::array({"styled"}));
  const Reply base_again = complete(s, prompt, nullptr);
  EXPECT_EQ(cached(base), 0) << "the styled request's blocks must not serve the base model";
  EXPECT_GT(cached(again), 0);
  EXPECT_GT(cached(base_again), 0);
  EXPECT_EQ(text(again), text(first));
  EXPECT_EQ(text(base_again), text(base));
  EXPECT_NE(text(first), text(base));
}

TEST_F(LoraServerTest, AnUnnamedAdapterIsTheDefault) {
  ServerProcess plain({"-m", model_, "--quiet"});
  ASSERT_TRUE(plain.ready());
  const std::string prompt = "Lily liked to";
  const std::string base = text(complete(plain, prompt, nullptr));
  const std::string styled = text(complete(plain, prompt, Json::array()));
  EXPECT_EQ(styled, base);
  EXPECT_EQ(complete(plain, prompt, Json::array({"styled"})).status, 400);

  ServerProcess s({"-m", model_, "--lora", dir_ / "styled.gguf", "--quiet"});
  ASSERT_TRUE(s.ready());
  const std::string by_default = text(complete(s, prompt, nullptr));
  EXPECT_NE(by_default, base);
  EXPECT_EQ(text(complete(s, prompt, Json::array({"styled"}))), by_default);  // named by its file
  EXPECT_EQ(text(complete(s, prompt, Json::array())), base);                 // [] turns it off

  // The adapter's memory counts toward the model's (and so toward --memory-budget).
  const auto weights_bytes = [](const ServerProcess& server) {
    return call(server, "GET", "/admin/status").json()["models"][0]["memory"]["weights_bytes"].get<int64_t>();
  };
  EXPECT_GT(weights_bytes(s), weights_bytes(plain));
}

}  // namespace
}  // namespace hearth::test
