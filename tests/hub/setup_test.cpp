// `hearth setup` as a person runs it: in a terminal (tmux), against the loopback Hub and a test catalogue
// ($HEARTH_CATALOGUE), answering its questions with keystrokes; and non-interactively with --yes. The Hub serves the
// shared stories260K and bert-dev models, so the pulled models are real and the benchmark runs; skipped without
// ../shared (and the terminal test without tmux).
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "hub/fake_hub.h"
#include "server/http_call.h"
#include "server/server_process.h"
#include "test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;

const std::string kCommit = "00112233445566778899aabbccddeeff00112233";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

struct SetupTest : ::testing::Test {
  TempDir dir;
  std::unique_ptr<FakeHub> hub;
  std::string catalogue, config, env;

  void SetUp() override {
    HEARTH_REQUIRE_SHARED();
    hub = std::make_unique<FakeHub>();
    const std::string models = shared_dir() + "/golden/models/";
    hub->add_repo("test/stories-GGUF", kCommit, {{"stories260K-F32.gguf", {read_file(shared_dir() + "/models/stories260K.gguf")}}});
    hub->add_repo("test/bert-GGUF", kCommit,
                  {{"bert-dev-F16.gguf", {read_file(models + "bert-dev.f16.gguf")}},
                   {"bert-dev-Q8_0.gguf", {read_file(models + "bert-dev.q8_0.gguf")}}});
    hub->add_repo("test/rerank-GGUF", kCommit, {{"tiny-Q8_0.gguf", {tiny_gguf("bert", 7)}}});
    catalogue = dir / "catalogue.json";
    std::ofstream(catalogue) << R"({"models": [
      {"id": "huge", "role": "chat", "repo": "test/huge-GGUF", "quant": "Q4_K_M", "size_mb": 1, "min_memory_gb": 1000000},
      {"id": "stories", "role": "chat", "repo": "test/stories-GGUF", "quant": "F32", "size_mb": 1.2, "min_memory_gb": 0},
      {"id": "bert-f16", "role": "embed", "repo": "test/bert-GGUF", "quant": "F16", "size_mb": 1, "min_memory_gb": 0},
      {"id": "bert-q8", "role": "embed", "repo": "test/bert-GGUF", "quant": "Q8_0", "size_mb": 1, "min_memory_gb": 0},
      {"id": "tiny-rerank", "role": "rerank", "repo": "test/rerank-GGUF", "quant": "Q8_0", "size_mb": 1, "min_memory_gb": 0}
    ]})";
    config = dir / "conf/serve.toml";
    env = "HF_ENDPOINT='" + hub->url() + "' HF_HUB_CACHE='" + dir / "hub" + "' HF_HOME='" + dir.path() +
          "' HEARTH_CATALOGUE='" + catalogue + "'";
    for (const char* v : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE"}) ::unsetenv(v);
  }
};

TEST_F(SetupTest, YesTakesTheRecommendations) {
  const std::string command = env + " '" + hearth_binary() + "' setup --yes --no-bench --config '" + config + "' 2>&1";
  const ShellResult r = run_shell(command);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string conf = read_file(config);
  // The first fitting entry of each role ("huge" needs more memory than any machine has).
  for (const char* want : {"path = \"test/stories-GGUF:F32\"", "path = \"test/bert-GGUF:F16\"",
                           "path = \"test/rerank-GGUF:Q8_0\"", "[stack]\nchat = \"stories\"\nembed = \"bert-f16\"\n"
                           "rerank = \"tiny-rerank\""})
    EXPECT_NE(conf.find(want), std::string::npos) << want << "\n" << conf;
  EXPECT_EQ(conf.find("huge"), std::string::npos) << conf;
  EXPECT_TRUE(fs::exists(dir / "hub/models--test--stories-GGUF/snapshots/" + kCommit + "/stories260K-F32.gguf"));
  // Run again: the previous configuration is kept, and nothing is downloaded twice.
  const int downloads = hub->file_downloads;
  ASSERT_EQ(run_shell(command).code, 0);
  EXPECT_EQ(hub->file_downloads.load(), downloads);
  EXPECT_EQ(read_file(config + ".bak"), conf);
}

// Without --config, setup writes to $XDG_CONFIG_HOME/hearth/serve.toml, and `hearth serve` given no model reads it.
TEST_F(SetupTest, ServeGivenNoModelReadsWhatSetupWrote) {
  const std::string xdg = dir / "xdg";
  // Models that load (the catalogue's reranker is a stub file, which serve's preload would refuse).
  const std::string loadable = dir / "loadable.json";
  std::ofstream(loadable) << R"({"models": [
    {"id": "stories", "role": "chat", "repo": "test/stories-GGUF", "quant": "F32", "size_mb": 1.2, "min_memory_gb": 0},
    {"id": "bert-f16", "role": "embed", "repo": "test/bert-GGUF", "quant": "F16", "size_mb": 1, "min_memory_gb": 0}
  ]})";
  const ShellResult r = run_shell(env + " HEARTH_CATALOGUE='" + loadable + "' XDG_CONFIG_HOME='" + xdg + "' '" +
                                  hearth_binary() + "' setup --yes --no-bench 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("hearth serve\n"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(xdg + "/hearth/serve.toml"));
  ::setenv("HF_HUB_CACHE", (dir / "hub").c_str(), 1);
  ::setenv("XDG_CONFIG_HOME", xdg.c_str(), 1);
  ServerProcess server({"--threads", "1", "--quiet"});
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("XDG_CONFIG_HOME");
  ASSERT_TRUE(server.ready());
  const nlohmann::json models = call(server, "GET", "/v1/models").json();
  ASSERT_EQ(models["data"].size(), 2u) << models;
  EXPECT_EQ(models["data"][0]["id"], "stories");
  EXPECT_EQ(call(server, "POST", "/v1/embeddings", R"({"model": "embed", "input": "hello"})").status, 200);
  EXPECT_EQ(call(server, "POST", "/v1/completions", R"({"model": "chat", "prompt": "Once", "max_tokens": 2})").status, 200);
}

// tmux: a private server (its own socket), killed whatever happens.
struct Tmux {
  std::string socket = "hearth-setup-test-" + std::to_string(::getpid());
  std::string run(const std::string& args) const { return run_shell("tmux -L " + socket + " " + args + " 2>&1").out; }
  std::string screen() const { return run("capture-pane -p -J -S -500 -t setup"); }
  bool wait_for(const std::string& text, std::chrono::seconds limit = std::chrono::seconds(60)) const {
    return eventually([&] { return screen().find(text) != std::string::npos; }, limit);
  }
  void keys(const std::string& keys) const { run("send-keys -t setup " + keys); }
  ~Tmux() { run("kill-server"); }
};

TEST_F(SetupTest, InATerminal) {
  if (run_shell("command -v tmux").code != 0) GTEST_SKIP() << "tmux not installed (apt-get install tmux)";
  const std::string script = dir / "setup.sh";
  std::ofstream(script) << "export " << env << "\n'" << hearth_binary() << "' setup --config '" << config
                        << "'\necho SETUP-EXIT=$?\nsleep 120\n";
  Tmux tmux;
  tmux.run("-f /dev/null new-session -d -s setup -x 200 -y 50 \"sh '" + script + "'\"");
  ASSERT_TRUE(tmux.wait_for("chat [1-1, Enter = 1, s = skip]:")) << tmux.screen();
  EXPECT_NE(tmux.screen().find("CPU: "), std::string::npos);  // the devices come first
  EXPECT_EQ(tmux.screen().find("huge"), std::string::npos) << tmux.screen();  // does not fit: not offered
  tmux.keys("Enter");
  ASSERT_TRUE(tmux.wait_for("embed [1-2, Enter = 1, s = skip]:")) << tmux.screen();
  tmux.keys("3 Enter");  // not a choice: asked again
  ASSERT_TRUE(tmux.wait_for("'3' is not one of 1-2 or s.")) << tmux.screen();
  tmux.keys("2 Enter");
  ASSERT_TRUE(tmux.wait_for("rerank [1-1, Enter = 1, s = skip]:")) << tmux.screen();
  tmux.keys("s Enter");
  ASSERT_TRUE(tmux.wait_for("Proceed? [Y/n]:")) << tmux.screen();
  EXPECT_NE(tmux.screen().find("To pull: 2 models"), std::string::npos) << tmux.screen();
  tmux.keys("y Enter");
  ASSERT_TRUE(tmux.wait_for("SETUP-EXIT=", std::chrono::seconds(120))) << tmux.screen();
  const std::string screen = tmux.screen();
  EXPECT_NE(screen.find("SETUP-EXIT=0"), std::string::npos) << screen;
  // On a terminal the progress bar redraws in place and ends at 100 %; then the benchmark's table.
  EXPECT_NE(screen.find("100%"), std::string::npos) << screen;
  EXPECT_NE(screen.find("prompt tok/s"), std::string::npos) << screen;
  EXPECT_NE(screen.find("\ncpu "), std::string::npos) << screen;
  EXPECT_NE(screen.find("hearth serve --config " + config), std::string::npos) << screen;
  const std::string conf = read_file(config);
  EXPECT_NE(conf.find("[[model]]\nid = \"stories\"\npath = \"test/stories-GGUF:F32\""), std::string::npos) << conf;
  EXPECT_NE(conf.find("[[model]]\nid = \"bert-q8\"\npath = \"test/bert-GGUF:Q8_0\""), std::string::npos) << conf;
  EXPECT_NE(conf.find("[stack]\nchat = \"stories\"\nembed = \"bert-q8\"\n"), std::string::npos) << conf;
  EXPECT_EQ(conf.find("rerank"), std::string::npos) << conf;
  // `hearth serve` reads it: the models by their Hub names, the stack's roles.
  ::setenv("HF_HUB_CACHE", (dir / "hub").c_str(), 1);
  ServerProcess server({"--config", config, "--threads", "1", "--quiet"});
  ::unsetenv("HF_HUB_CACHE");
  ASSERT_TRUE(server.ready());
  const nlohmann::json models = call(server, "GET", "/v1/models").json();
  ASSERT_EQ(models["data"].size(), 2u) << models;
  EXPECT_EQ(models["data"][0]["id"], "stories");
  EXPECT_EQ(models["data"][1]["id"], "bert-q8");
  EXPECT_EQ(call(server, "POST", "/v1/embeddings", R"({"model": "embed", "input": "hello"})").status, 200);
  EXPECT_EQ(call(server, "POST", "/v1/completions", R"({"model": "chat", "prompt": "Once", "max_tokens": 2})").status, 200);
}

}  // namespace
}  // namespace hearth::test
