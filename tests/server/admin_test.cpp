// `hearth serve`'s admin API, readiness and configuration reloads, end to end: the real program on a free port
// with stories260K (text) and bert-dev (embeddings). Skipped without ../shared.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "http_call.h"
#include "server_process.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string stories() { return shared_dir() + "/models/stories260K.gguf"; }
std::string bert() { return shared_dir() + "/golden/models/bert-dev.f16.gguf"; }


Reply post(const ServerProcess& s, const std::string& path, const Json& body, const std::string& key = "") {
  return call(s, "POST", path, body.dump(), key);
}

Json chat(const std::string& model, int max_tokens = 8) {
  return {{"model", model},
          {"messages", {{{"role", "user"}, {"content", "Tell me a story."}}}},
          {"max_tokens", max_tokens},
          {"seed", 1}};
}

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);  // whole, as an editor's save would leave it
}

const Json* find_model(const Json& list, const std::string& id) {
  for (const Json& m : list)
    if (m["id"] == id) return &m;
  return nullptr;
}

TEST(AdminApi, StatusShape) {
  HEARTH_REQUIRE_SHARED();
  ServerProcess s({"-m", stories(), "-m", "bert=" + bert(), "--parallel", "3", "--threads", "2"});
  ASSERT_TRUE(s.ready());
  ASSERT_TRUE(eventually([&] { return call(s, "GET", "/health").status == 200; }));
  const Reply r = call(s, "GET", "/admin/status");
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  EXPECT_EQ(j["object"], "hearth.status");
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  EXPECT_GE(j["uptime_seconds"].get<double>(), 0.0);
  EXPECT_EQ(j["ready"], true);
  EXPECT_GE(j["devices"]["cpu"]["logical_cpus"].get<int>(), 1);
  ASSERT_TRUE(j["devices"]["backends"].is_array());
  EXPECT_EQ(j["devices"]["backends"][0]["name"], "cpu");
  EXPECT_TRUE(j["memory"]["budget_bytes"].is_null());
  ASSERT_EQ(j["models"].size(), 2u);
  const Json& text = j["models"][0];
  EXPECT_EQ(text["id"], "stories260K");
  EXPECT_EQ(text["kind"], "text");
  EXPECT_EQ(text["state"], "loaded");
  EXPECT_EQ(text["in_use"], 0);
  EXPECT_GT(text["memory"]["weights_bytes"].get<int64_t>(), 0);
  EXPECT_GT(text["memory"]["kv_cache_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(text["engine"]["slots"], 3);
  EXPECT_EQ(text["engine"]["slots_in_use"], 0);
  EXPECT_EQ(text["engine"]["queued"], 0);
  const Json& emb = j["models"][1];
  EXPECT_EQ(emb["id"], "bert");
  EXPECT_EQ(emb["kind"], "embedding");
  EXPECT_TRUE(emb["engine"].is_null());
  EXPECT_EQ(j["memory"]["used_bytes"].get<int64_t>(),
            text["memory"]["total_bytes"].get<int64_t>() + emb["memory"]["total_bytes"].get<int64_t>());
  EXPECT_TRUE(j["config"]["path"].is_null());
  EXPECT_EQ(j["http"]["in_flight"], 1);  // this request
}

TEST(AdminApi, ModelsFolderLoadAndUnload) {
  HEARTH_REQUIRE_SHARED();
  TempDir dir;
  fs::create_symlink(stories(), dir / "folder-story.gguf");
  ServerProcess s({"-m", "bert=" + bert(), "--models-dir", dir.path(), "--threads", "2"});
  ASSERT_TRUE(s.ready());

  // Every known model is listed, loaded or not.
  const Json list = call(s, "GET", "/v1/models").json();
  ASSERT_EQ(list["data"].size(), 2u);
  EXPECT_NE(find_model(list["data"], "folder-story"), nullptr);

  const Reply files = call(s, "GET", "/admin/models");
  ASSERT_EQ(files.status, 200) << files.body;
  const Json fj = files.json();
  EXPECT_EQ(fj["models_dir"], dir.path());
  const Json* story = find_model(fj["data"], "folder-story");
  ASSERT_NE(story, nullptr) << files.body;
  EXPECT_EQ((*story)["state"], "unloaded");
  EXPECT_EQ((*story)["format"], "gguf");
  EXPECT_EQ((*story)["architecture"], "llama");
  EXPECT_GT((*story)["parameters"].get<int64_t>(), 100000);
  EXPECT_GT((*story)["tensors"].get<int>(), 10);
  EXPECT_GT((*story)["context_length"].get<int>(), 0);
  EXPECT_EQ((*story)["size_bytes"].get<int64_t>(), int64_t(fs::file_size(stories())));
  const Json* b = find_model(fj["data"], "bert");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ((*b)["file_type"], "F16");

  // Load, unload, and again; the second unload finds nothing loaded.
  Reply load = post(s, "/admin/models/load", {{"model", "folder-story"}});
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(load.json()["state"], "loaded");
  EXPECT_GT(load.json()["memory"]["total_bytes"].get<int64_t>(), 0);
  Reply unload = post(s, "/admin/models/unload", {{"model", "folder-story"}});
  ASSERT_EQ(unload.status, 200) << unload.body;
  EXPECT_EQ(unload.json()["unloaded"], true);
  EXPECT_EQ(unload.json()["state"], "unloaded");
  EXPECT_EQ(post(s, "/admin/models/unload", {{"model", "folder-story"}}).json()["unloaded"], false);
  // A request loads it on first use.
  EXPECT_EQ(post(s, "/v1/chat/completions", chat("folder-story")).status, 200);
  EXPECT_EQ(post(s, "/admin/models/load", {{"model", "folder-story"}}).json()["state"], "loaded");

  // A file put into the folder later is found by the load request.
  fs::create_symlink(stories(), dir / "later.gguf");
  EXPECT_EQ(post(s, "/admin/models/load", {{"model", "later"}}).status, 200);

  EXPECT_EQ(post(s, "/admin/models/load", {{"model", "nope"}}).status, 404);
  EXPECT_EQ(post(s, "/admin/models/load", Json::object()).status, 400);
  EXPECT_EQ(call(s, "POST", "/admin/models/unload", "not json").status, 400);
}

// A model cannot be unloaded while it is used or loading (409); here it is loading for a request that waits on
// it (requests holding leases are covered by model_set_test, without timing).
TEST(AdminApi, UnloadWhileLoadingIs409) {
  HEARTH_REQUIRE_SHARED();
  TempDir dir;
  fs::create_symlink(stories(), dir / "lazy.gguf");
  ::setenv("HEARTH_TEST_LOAD_DELAY_MS", "1500", 1);
  ServerProcess s({"-m", "bert=" + bert(), "--models-dir", dir.path(), "--threads", "2"}, std::chrono::seconds(120), "",
                  /*wait_until_ready=*/false);
  ::unsetenv("HEARTH_TEST_LOAD_DELAY_MS");
  ASSERT_TRUE(s.ready());
  ASSERT_TRUE(eventually([&] { return call(s, "GET", "/health").status == 200; }));
  auto pending = std::async(std::launch::async, [&] { return post(s, "/v1/chat/completions", chat("lazy")); });
  ASSERT_TRUE(eventually([&] {
    const Json st = call(s, "GET", "/admin/status").json();
    const Json* m = find_model(st["models"], "lazy");
    return m && (*m)["state"] == "loading";
  }));
  const Reply busy = post(s, "/admin/models/unload", {{"model", "lazy"}});
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_EQ(busy.json()["error"]["code"], "model_in_use");
  EXPECT_EQ(pending.get().status, 200);
  const Reply done = post(s, "/admin/models/unload", {{"model", "lazy"}});
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.json()["unloaded"], true);
}

TEST(AdminApi, AdminKey) {
  HEARTH_REQUIRE_SHARED();
  {
    ServerProcess s({"-m", stories(), "--api-key", "user", "--admin-key", "boss"});
    ASSERT_TRUE(s.ready());
    const Reply none = call(s, "GET", "/admin/status");
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.json()["error"]["type"], "authentication_error");
    EXPECT_EQ(call(s, "GET", "/admin/status", "", "user").status, 403);  // a valid key, but not the admin key
    EXPECT_EQ(call(s, "GET", "/admin/status", "", "boss").status, 200);
    EXPECT_EQ(call(s, "POST", "/admin/models/unload", "{\"model\":\"stories260K\"}", "user").status, 403);
    EXPECT_EQ(call(s, "GET", "/v1/models", "", "user").status, 200);
  }
  {
    ServerProcess s({"-m", stories(), "--api-key", "user"});  // no admin key: the API key guards /admin too
    ASSERT_TRUE(s.ready());
    EXPECT_EQ(call(s, "GET", "/admin/models").status, 401);
    EXPECT_EQ(call(s, "GET", "/admin/models", "", "user").status, 200);
  }
  {
    ServerProcess s({"-m", stories(), "--admin-key", "boss"});  // an admin key alone guards only /admin
    ASSERT_TRUE(s.ready());
    EXPECT_EQ(call(s, "GET", "/v1/models").status, 200);
    EXPECT_EQ(call(s, "GET", "/admin/status").status, 401);
    EXPECT_EQ(call(s, "GET", "/admin/status", "", "boss").status, 200);
  }
}

// The socket listens while the -m models load: /health is 503 until they have, requests wait for them.
TEST(AdminApi, HealthIs503WhileLoading) {
  HEARTH_REQUIRE_SHARED();
  ::setenv("HEARTH_TEST_LOAD_DELAY_MS", "2000", 1);
  ServerProcess s({"-m", stories(), "--threads", "2"}, std::chrono::seconds(120), "", /*wait_until_ready=*/false);
  ::unsetenv("HEARTH_TEST_LOAD_DELAY_MS");
  ASSERT_TRUE(s.ready());
  const Reply loading = call(s, "GET", "/health");
  EXPECT_EQ(loading.status, 503);
  EXPECT_EQ(loading.json()["status"], "loading");
  const Json st = call(s, "GET", "/admin/status").json();
  EXPECT_EQ(st["ready"], false);
  EXPECT_EQ(st["models"][0]["state"], "loading");
  // A request meanwhile waits for the load and is answered.
  EXPECT_EQ(post(s, "/v1/chat/completions", chat("stories260K")).status, 200);
  EXPECT_TRUE(eventually([&] { return call(s, "GET", "/health").status == 200; }));
  EXPECT_EQ(call(s, "GET", "/health").json()["status"], "ok");
  EXPECT_EQ(s.stop(), 0);
}

// A config file that also gives a port: the command line's --port 0 wins.
std::string config_text(const std::string& key, bool with_bert) {
  std::string t = "port = 1\nthreads = 2\napi-key = \"" + key + "\"\nparallel = 2\n\n[[model]]\npath = \"" + stories() +
                  "\"\naliases = [\"tiny\"]\n";
  if (with_bert) t += "\n[[model]]\nid = \"emb\"\npath = \"" + bert() + "\"\npreload = false\n\n[stack]\nembed = \"emb\"\n";
  return t;
}

TEST(AdminApi, SighupReloadsTheConfiguration) {
  HEARTH_REQUIRE_SHARED();
  TempDir dir;
  const std::string config = dir / "hearth.toml";
  write_file(config, config_text("one", false));
  ServerProcess s({"--config", config});
  ASSERT_TRUE(s.ready());
  EXPECT_NE(s.port(), 1);
  ASSERT_EQ(call(s, "GET", "/v1/models", "", "one").status, 200);
  EXPECT_EQ(call(s, "GET", "/v1/models", "", "one").json()["data"].size(), 1u);
  EXPECT_EQ(post(s, "/v1/chat/completions", chat("tiny"), "one").status, 200);
  const Json before = call(s, "GET", "/admin/status", "", "one").json();
  EXPECT_EQ(before["config"]["path"], config);
  EXPECT_EQ(before["config"]["reloads"], 0);

  // A new key and a new model, with a role.
  write_file(config, config_text("two", true));
  ASSERT_EQ(::kill(s.pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] {
    const Reply r = call(s, "GET", "/admin/status", "", "two");
    return r.status == 200 && r.json()["config"]["reloads"] == 1;
  }));
  EXPECT_EQ(call(s, "GET", "/v1/models", "", "one").status, 401);
  const Json models = call(s, "GET", "/v1/models", "", "two").json();
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][1]["id"], "emb");
  const Reply emb = post(s, "/v1/embeddings", {{"model", "embed"}, {"input", "a cat"}}, "two");
  EXPECT_EQ(emb.status, 200) << emb.body;
  EXPECT_EQ(emb.json()["model"], "emb");
  EXPECT_EQ(post(s, "/v1/chat/completions", chat("tiny"), "two").status, 200);  // still loaded, still served

  // A broken file: the old configuration stays, and the status says why.
  write_file(config, "api-key = \"three\"\nport = [\n");
  ASSERT_EQ(::kill(s.pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] {
    const Reply r = call(s, "GET", "/admin/status", "", "two");
    return r.status == 200 && r.json()["config"]["failed_reloads"] == 1;
  }));
  const Json after = call(s, "GET", "/admin/status", "", "two").json();
  EXPECT_NE(after["config"]["last_error"].get<std::string>().find("hearth.toml"), std::string::npos) << after.dump();
  EXPECT_EQ(call(s, "GET", "/v1/models", "", "three").status, 401);
  EXPECT_EQ(call(s, "GET", "/v1/models", "", "two").json()["data"].size(), 2u);

  // A file that parses but names a model that is not there: also refused whole.
  write_file(config, config_text("four", true) + "\n[[model]]\npath = \"/nonexistent/x.gguf\"\n");
  ASSERT_EQ(::kill(s.pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] {
    const Reply r = call(s, "GET", "/admin/status", "", "two");
    return r.status == 200 && r.json()["config"]["failed_reloads"] == 2;
  }));
  EXPECT_EQ(call(s, "GET", "/v1/models", "", "four").status, 401);
  EXPECT_EQ(s.stop(), 0);
}

TEST(AdminApi, BadConfigFailsBeforeListening) {
  HEARTH_REQUIRE_SHARED();
  TempDir dir;
  const std::string config = dir / "hearth.toml";
  write_file(config, "prot = 8080\n");
  ServerProcess s({"--config", config}, std::chrono::seconds(20));
  EXPECT_FALSE(s.ready());
}

}  // namespace
}  // namespace hearth::test
