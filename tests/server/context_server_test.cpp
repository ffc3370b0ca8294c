// The context engine inside `hearth serve`: /admin/index/*, /v1/context/search, and injection into chat (the
// sources in the response and in the stream). The real program with stories260K for chat and the default
// embedding model for the index. Skipped without ../shared or the USE-lite package.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "../context/context_test_util.h"
#include "http_call.h"
#include "server_process.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;


class ContextServer : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_SHARED();
    HEARTH_REQUIRE_USE_LITE();
    write_file(corpus_ / "animals.md",
               "# Animals\n\nSome intro.\n\n## Walrus\n\nThe walrus named Wendell sleeps on the ice floe near "
               "Svalbard every winter.\n");
    write_file(corpus_ / "fruit.txt", "Bananas ripen faster next to apples, because apples release ethylene.\n");
  }
  std::vector<std::string> args(bool inject) {
    std::vector<std::string> a = {"-m", shared_dir() + "/models/stories260K.gguf", "--data-dir", data_.path(),
                                  "--log-format", "off"};
    a.insert(a.end(), {inject ? "--context" : "--index", "notes"});
    return a;
  }
  // Adds the corpus over the admin API and waits until the watcher has indexed it.
  void add_corpus(const ServerProcess& s) {
    const Reply add = call(s, "POST", "/admin/index/add", Json{{"path", corpus_.path()}}.dump());
    ASSERT_EQ(add.status, 202) << add.body;
    ASSERT_TRUE(eventually([&] {
      const Json st = call(s, "GET", "/admin/index/status").json();
      return st.is_object() && st["indexes"][0]["indexed"] == 2 && st["indexes"][0]["progress"]["state"] == "idle";
    }, std::chrono::seconds(60)));
  }
  TempDir corpus_, data_;
};

TEST_F(ContextServer, SearchStatusAndErrors) {
  ServerProcess s(args(false));
  ASSERT_TRUE(s.ready());
  add_corpus(s);
  const Json st = call(s, "GET", "/admin/index/status").json()["indexes"][0];
  EXPECT_EQ(st["index"], "notes");
  EXPECT_EQ(st["model"]["name"], "use-lite-en");
  EXPECT_EQ(st["watching"], true);

  Reply r = call(s, "POST", "/v1/context/search", Json{{"query", "Where does Wendell sleep?"}, {"k", 1}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Json hits = r.json()["hits"];
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(fs::path(hits[0]["path"].get<std::string>()).filename(), "animals.md");
  EXPECT_EQ(hits[0]["title"], "Animals > Walrus");

  r = call(s, "POST", "/v1/context/search", Json{{"query", "ethylene"}, {"mode", "bm25"}, {"path", "*.md"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json()["hits"].empty()) << r.body;

  for (const Json& bad : {Json{{"k", 1}}, Json{{"query", ""}}, Json{{"query", "x"}, {"k", 0}},
                          Json{{"query", "x"}, {"mode", "magic"}}, Json{{"query", 5}},
                          Json{{"query", "x"}, {"bm25_weight", -1}}, Json{{"query", "x"}, {"vector_weight", "2"}}}) {
    r = call(s, "POST", "/v1/context/search", bad.dump());
    EXPECT_EQ(r.status, 400) << bad.dump() << " -> " << r.body;
    EXPECT_TRUE(r.json()["error"]["message"].is_string()) << r.body;
  }
  r = call(s, "POST", "/v1/context/search", Json{{"query", "x"}, {"index", "other"}}.dump());
  EXPECT_EQ(r.status, 404) << r.body;
  r = call(s, "POST", "/v1/context/search", "{not json");
  EXPECT_EQ(r.status, 400) << r.body;

  // Removing a file takes effect at once.
  r = call(s, "POST", "/admin/index/rm", Json{{"path", (corpus_ / "fruit.txt")}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["files"], 1);
  r = call(s, "POST", "/v1/context/search", Json{{"query", "ethylene"}, {"mode", "bm25"}}.dump());
  EXPECT_TRUE(r.json()["hits"].empty()) << r.body;
}

TEST_F(ContextServer, ChatGetsTheExcerptsAndCitesThem) {
  ServerProcess s(args(true));
  ASSERT_TRUE(s.ready());
  add_corpus(s);
  const Json question = {{"model", "stories260K"},
                         {"messages", {{{"role", "user"}, {"content", "Where does the walrus Wendell sleep?"}}}},
                         {"max_tokens", 4},
                         {"seed", 1}};
  Reply r = call(s, "POST", "/v1/chat/completions", question.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json with = r.json();
  ASSERT_TRUE(with["context_sources"].is_array()) << r.body;
  ASSERT_GE(with["context_sources"].size(), 1u);
  const Json& first = with["context_sources"][0];
  EXPECT_EQ(first["id"], 1);
  EXPECT_EQ(fs::path(first["path"].get<std::string>()).filename(), "animals.md");
  // The walrus sentence is line 7 of animals.md.
  EXPECT_LE(first["line_begin"].get<int>(), 7);
  EXPECT_GE(first["line_end"].get<int>(), 7);

  // "context": false turns the server's default off: no sources, a shorter prompt.
  Json without_q = question;
  without_q["context"] = false;
  r = call(s, "POST", "/v1/chat/completions", without_q.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json without = r.json();
  EXPECT_FALSE(without.contains("context_sources")) << r.body;
  EXPECT_GT(with["usage"]["prompt_tokens"].get<int>(), without["usage"]["prompt_tokens"].get<int>() + 20);

  // A budget caps what is injected.
  Json tight = question;
  tight["context"] = {{"budget_tokens", 16}};
  r = call(s, "POST", "/v1/chat/completions", tight.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LE(r.json()["usage"]["prompt_tokens"].get<int>(), without["usage"]["prompt_tokens"].get<int>() + 16 + 8);

  // Streamed: the opening chunk carries the sources.
  Json streamed = question;
  streamed["stream"] = true;
  r = call(s, "POST", "/v1/chat/completions", streamed.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const size_t data = r.body.find("data: ");
  ASSERT_NE(data, std::string::npos);
  const Json opening = Json::parse(r.body.substr(data + 6, r.body.find('\n', data) - data - 6));
  ASSERT_TRUE(opening["context_sources"].is_array()) << r.body.substr(0, 400);
  EXPECT_EQ(opening["context_sources"], with["context_sources"]);
}

TEST(ContextServerWithoutIndex, ContextRoutesSayWhatIsMissing) {
  HEARTH_REQUIRE_SHARED();
  ServerProcess s({"-m", shared_dir() + "/models/stories260K.gguf", "--log-format", "off"});
  ASSERT_TRUE(s.ready());
  Reply r = call(s, "POST", "/v1/context/search", Json{{"query", "x"}}.dump());
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("--index"), std::string::npos) << r.body;
  r = call(s, "GET", "/admin/index/status");
  EXPECT_EQ(r.status, 404);
  const Json asked = {{"model", "stories260K"},
                      {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                      {"max_tokens", 2},
                      {"context", {{"index", "notes"}}}};
  r = call(s, "POST", "/v1/chat/completions", asked.dump());
  EXPECT_EQ(r.status, 404) << r.body;
}

}  // namespace
}  // namespace hearth::test
