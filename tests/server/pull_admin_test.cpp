// POST /admin/models/pull against the loopback Hub (tests/hub/fake_hub.h): the streamed progress, the final path,
// errors as events, and a pulled model served by its Hub name (`-m OWNER/REPO:QUANT`). The Hub serves the shared
// stories260K, so the model really loads; skipped without ../shared.
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "http_call.h"
#include "hub/fake_hub.h"
#include "server_process.h"

namespace hearth::test {
namespace {

using Json = nlohmann::json;

const std::string kCommit = "fedcba9876543210fedcba9876543210fedcba98";

// The "data: ..." events of an SSE body, "[DONE]" as a string.
std::vector<Json> sse_events(const std::string& body) {
  std::vector<Json> out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    out.push_back(data == "[DONE]" ? Json("[DONE]") : Json::parse(data, nullptr, false));
    at = end;
  }
  return out;
}

struct PullAdmin : ::testing::Test {
  TempDir cache;
  FakeHub hub;
  std::string stories_bytes;

  void SetUp() override {
    HEARTH_REQUIRE_SHARED();
    std::ifstream f(shared_dir() + "/models/stories260K.gguf", std::ios::binary);
    stories_bytes.assign(std::istreambuf_iterator<char>(f), {});
    hub.add_repo("test/stories-GGUF", kCommit, {{"stories260K-F32.gguf", {stories_bytes}}});
    ::setenv("HF_ENDPOINT", hub.url().c_str(), 1);
    ::setenv("HF_HUB_CACHE", cache.path().c_str(), 1);
    ::setenv("HF_HOME", cache.path().c_str(), 1);  // no token file from ~/.cache/huggingface
    for (const char* v : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE"}) ::unsetenv(v);
  }
  void TearDown() override {
    for (const char* v : {"HF_ENDPOINT", "HF_HUB_CACHE", "HF_HOME"}) ::unsetenv(v);
  }
};

TEST_F(PullAdmin, StreamsProgressThenServesThePulledModel) {
  const std::string path = cache.path() + "/models--test--stories-GGUF/snapshots/" + kCommit + "/stories260K-F32.gguf";
  {
    ServerProcess s({"-m", shared_dir() + "/models/stories260K.gguf", "--threads", "1"});
    ASSERT_TRUE(s.ready());
    EXPECT_EQ(call(s, "POST", "/admin/models/pull", R"({"modl": 1})").status, 400);
    EXPECT_EQ(call(s, "POST", "/admin/models/pull", R"({"model": "no-slash"})").status, 400);

    const Reply r = call(s, "POST", "/admin/models/pull", R"({"model": "test/stories-GGUF:F32"})");
    ASSERT_EQ(r.status, 200) << r.body;
    const std::vector<Json> events = sse_events(r.body);
    ASSERT_GE(events.size(), 4u) << r.body;
    EXPECT_EQ(events.front()["status"], "resolving");
    EXPECT_EQ(events.back(), "[DONE]");
    const Json& done = events[events.size() - 2];
    EXPECT_EQ(done["status"], "success") << done;
    EXPECT_EQ(done["path"], path);
    EXPECT_EQ(done["commit"], kCommit);
    EXPECT_EQ(done["files_downloaded"], 1);
    const Json& last_progress = events[events.size() - 3];
    EXPECT_EQ(last_progress["status"], "downloading");
    EXPECT_EQ(last_progress["file"], "stories260K-F32.gguf");
    EXPECT_EQ(last_progress["completed"].get<int64_t>(), int64_t(stories_bytes.size()));
    EXPECT_EQ(last_progress["total"].get<int64_t>(), int64_t(stories_bytes.size()));

    // A failure after the stream began is its last event before [DONE], in OpenAI's error shape.
    const Reply missing = call(s, "POST", "/admin/models/pull", R"({"model": "test/nothing-here"})");
    ASSERT_EQ(missing.status, 200);
    const std::vector<Json> failed = sse_events(missing.body);
    ASSERT_GE(failed.size(), 2u);
    const Json& error = failed[failed.size() - 2]["error"];
    EXPECT_NE(error["message"].get<std::string>().find("'test/nothing-here'"), std::string::npos) << error;
    EXPECT_EQ(error["type"], "not_found_error");
  }
  // Served by its Hub name: the id is the name, the file the pulled one.
  ServerProcess s({"-m", "test/stories-GGUF:F32", "--threads", "1"});
  ASSERT_TRUE(s.ready());
  const Json models = call(s, "GET", "/v1/models").json();
  ASSERT_EQ(models["data"].size(), 1u) << models;
  EXPECT_EQ(models["data"][0]["id"], "test/stories-GGUF:F32");
  const Reply completion = call(s, "POST", "/v1/completions",
                                R"({"model": "test/stories-GGUF:F32", "prompt": "Once upon a time", "max_tokens": 4})");
  EXPECT_EQ(completion.status, 200) << completion.body;
  EXPECT_EQ(hub.file_downloads.load(), 1);
}

}  // namespace
}  // namespace hearth::test
