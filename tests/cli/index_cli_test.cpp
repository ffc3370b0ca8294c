// `hearth index …` and `hearth search` as a user runs them, and the crash test: kill -9 at random moments while
// indexing, then the index must be consistent and, once indexing finishes, equal to one built without a crash.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "../context/context_test_util.h"
#include "backends/backend.h"
#include "formats/weights.h"
#include "runtime/reranker.h"
#include "run_hearth.h"
#include "test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string q(const std::string& s) { return "'" + s + "'"; }

// Whether this test program (and so the `hearth` built with it) carries AddressSanitizer: the crash test repeats
// a slow job many times, and does less of it there (its subject is not memory safety; the Release run does all).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif
#else
constexpr bool kSanitizerBuild = false;
#endif

void make_corpus(const std::string& root, int files) {
  const char* words[] = {"kernel", "socket", "ledger", "harbor", "violet", "quantum", "meadow", "cipher", "falcon",
                         "glacier", "orbit", "pepper", "tundra", "walnut", "zephyr", "amber", "basalt", "cobalt"};
  std::mt19937 rng(7);
  for (int f = 0; f < files; ++f) {
    std::string text = "# Note " + std::to_string(f) + "\n\n";
    for (int p = 0; p < 6; ++p) {
      for (int w = 0; w < 40; ++w) text += std::string(words[rng() % 18]) + (w % 12 == 11 ? ".\n" : " ");
      text += "marker" + std::to_string(f) + "x" + std::to_string(p) + "\n\n";
    }
    write_file(root + "/d" + std::to_string(f % 10) + "/note" + std::to_string(f) + ".md", text);
  }
}

class IndexCli : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_USE_LITE();
    common_ = " --data-dir " + q(data_.path());
    model_ = " -m " + q(use_lite_model());
  }
  Json status(const std::string& extra = "") {
    const ProcessResult r = run_hearth("index status --json" + common_ + extra);
    EXPECT_EQ(r.code, 0) << r.err;
    return Json::parse(r.out, nullptr, false);
  }
  TempDir corpus_, data_;
  std::string common_, model_;
};

TEST_F(IndexCli, AddStatusSearchRemove) {
  write_file(corpus_ / "a.md", "# Alpha\n\nThe walrus sleeps on the ice floe.\n");
  write_file(corpus_ / "b.txt", "Bananas ripen faster next to apples.\n");
  ProcessResult r = run_hearth("index add " + q(corpus_.path()) + common_ + model_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("2 indexed"), std::string::npos) << r.err;
  Json s = status();
  EXPECT_EQ(s["index"], "default");
  EXPECT_EQ(s["files"], 2);
  EXPECT_EQ(s["indexed"], 2);
  EXPECT_EQ(s["model"]["dim"], 512);
  EXPECT_EQ(s["roots"][0], fs::canonical(corpus_.path()).string());

  r = run_hearth("search walrus --json -k 1" + common_);
  ASSERT_EQ(r.code, 0) << r.err;
  Json hits = Json::parse(r.out)["hits"];
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(fs::path(hits[0]["path"].get<std::string>()).filename(), "a.md");
  EXPECT_EQ(hits[0]["line_begin"], 1);
  // The human form: path:lines and the snippet with the word marked.
  r = run_hearth("search 'fruit ripening' -k 1" + common_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("b.txt:1-1"), std::string::npos) << r.out;
  r = run_hearth("search walrus --mode bm25 -k 1" + common_);
  EXPECT_NE(r.out.find("\u00abwalrus\u00bb"), std::string::npos) << r.out;

  r = run_hearth("index rm " + q(corpus_ / "b.txt") + common_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(status()["files"], 1);
  r = run_hearth("index list" + common_);
  EXPECT_EQ(r.out, "default\n");
}

// --rerank: the fused hits scored by a cross-encoder (a tiny random one from `dev make-model --rerank`), then ordered
// by those scores; each equals what the Reranker gives for the hit's text in this process.
TEST_F(IndexCli, SearchRerankOrdersHitsByTheCrossEncoder) {
  HEARTH_REQUIRE_SHARED();
  write_file(corpus_ / "a.md", "# Alpha\n\nThe walrus sleeps on the ice floe.\n");
  write_file(corpus_ / "b.txt", "A walrus and a seal share the cold beach.\n");
  write_file(corpus_ / "c.txt", "Bananas ripen faster next to apples.\n");
  ProcessResult r = run_hearth("index add " + q(corpus_.path()) + common_ + model_);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string reranker = data_ / "rr.gguf";
  r = run_hearth("dev make-model --arch bert --preset tiny --rerank --type f32 --vocab " +
                 q(shared_dir() + "/golden/tokenizer/ggml-vocab-bert-bge.gguf") + " -o " + q(reranker));
  ASSERT_EQ(r.code, 0) << r.err;

  r = run_hearth("search walrus --json --text -k 3 --rerank " + q(reranker) + common_);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json hits = Json::parse(r.out)["hits"];
  ASSERT_EQ(hits.size(), 3u) << r.out;
  std::vector<std::string> texts;
  for (const Json& h : hits) texts.push_back(h["text"].get<std::string>());
  auto backend = make_cpu_backend(1);
  const Reranker in_process(Weights::open(reranker), *backend);
  const RerankResult expected = in_process.score("walrus", texts);
  for (size_t i = 0; i < hits.size(); ++i) {
    ASSERT_TRUE(hits[i]["rerank_score"].is_number()) << hits[i];
    // Same file, same kernels, one thread each: only the batch composition may differ (the Reranker's scores do
    // not depend on it beyond float rounding).
    EXPECT_NEAR(hits[i]["rerank_score"].get<double>(), expected.scores[i], 1e-4) << i;
    if (i > 0) {
      EXPECT_GE(hits[i - 1]["rerank_score"].get<double>(), hits[i]["rerank_score"].get<double>());
    }
  }
  // The human form shows the score; an embedder given as the reranker is one clear line.
  r = run_hearth("search walrus -k 1 --rerank " + q(reranker) + common_);
  EXPECT_NE(r.out.find(", rerank "), std::string::npos) << r.out;
  r = run_hearth("search walrus --rerank " + q(use_lite_model()) + common_);
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(IndexCli, ErrorsAreOneLineAndNonZero) {
  ProcessResult r = run_hearth("search anything --index nosuch" + common_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no index 'nosuch'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = run_hearth("index add " + q(corpus_ / "missing") + common_ + model_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no such file or folder"), std::string::npos) << r.err;
  r = run_hearth("index add x --index ../evil" + common_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("invalid index name"), std::string::npos) << r.err;
  write_file(corpus_ / "a.md", "text\n");
  ASSERT_EQ(run_hearth("index add " + q(corpus_.path()) + common_ + model_).code, 0);
  r = run_hearth("search text --since yesterdayish" + common_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--since"), std::string::npos) << r.err;
}

TEST_F(IndexCli, InstallServiceWritesASystemdUserUnit) {
  TempDir config;
  const std::string cmd = "XDG_CONFIG_HOME=" + q(config.path()) + " " + q(hearth_binary()) +
                          " index install-service --index notes" + common_ + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string unit = config / "systemd/user/hearth-index-notes.service";
  ASSERT_TRUE(fs::exists(unit));
  std::ifstream in(unit);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("ExecStart=" + fs::canonical(hearth_binary()).string() + " index watch --index notes --data-dir " +
                      data_.path()),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Restart=on-failure"), std::string::npos);
  EXPECT_NE(text.find("WantedBy=default.target"), std::string::npos);
}

TEST_F(IndexCli, ChatWithContextCitesTheExcerpts) {
  HEARTH_REQUIRE_SHARED();
  write_file(corpus_ / "walrus.md", "# Walrus\n\nThe walrus named Wendell sleeps on the ice floe near Svalbard.\n");
  write_file(corpus_ / "fruit.txt", "Bananas ripen faster next to apples.\n");
  ASSERT_EQ(run_hearth("index add " + q(corpus_.path()) + common_ + model_).code, 0);
  const ProcessResult r = run_hearth("chat -m " + q(shared_dir() + "/models/stories260K.gguf") +
                                         " --context default -n 4 --seed 1" + common_,
                                     "Where does the walrus Wendell sleep?\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("[1] " + fs::canonical(corpus_.path()).string() + "/walrus.md:1-3"), std::string::npos) << r.out;
}

TEST_F(IndexCli, ReembedSwitchesTheModelAndKeepsTheRoots) {
  HEARTH_REQUIRE_SHARED();
  write_file(corpus_ / "a.md", "# Alpha\n\nThe walrus sleeps on the ice floe.\n");
  write_file(corpus_ / "b.txt", "Bananas ripen faster next to apples.\n");
  ASSERT_EQ(run_hearth("index add " + q(corpus_.path()) + common_ + model_).code, 0);
  const std::string bert = shared_dir() + "/golden/models/bert-dev.f16.gguf";
  // Searching with another model is refused, saying how to re-embed.
  ProcessResult r = run_hearth("search walrus -m " + q(bert) + common_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("hearth index reembed --index default -m"), std::string::npos) << r.err;
  r = run_hearth("index reembed -m " + q(bert) + common_);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json s = status();
  EXPECT_EQ(s["model"]["name"], bert);
  EXPECT_NE(s["model"]["dim"], 512);
  EXPECT_EQ(s["indexed"], 2);
  EXPECT_EQ(s["roots"][0], fs::canonical(corpus_.path()).string());
  r = run_hearth("search walrus --json -k 1" + common_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(fs::path(Json::parse(r.out)["hits"][0]["path"].get<std::string>()).filename(), "a.md");
  EXPECT_EQ(run_hearth("index list" + common_).out, "default\n");  // no staging folder left behind
}

// Starts `hearth index add` and kills it with SIGKILL after `delay`; true when it was killed (not finished).
bool kill_midway(const std::string& corpus, const std::string& data, const std::string& model,
                 std::chrono::milliseconds delay) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    const std::string bin = hearth_binary();
    ::execl(bin.c_str(), bin.c_str(), "index", "add", corpus.c_str(), "--data-dir", data.c_str(), "-m", model.c_str(),
            "--threads", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::this_thread::sleep_for(delay);
  const bool killed = ::kill(pid, SIGKILL) == 0;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return killed && WIFSIGNALED(status);
}

TEST_F(IndexCli, KillNineAtRandomMomentsLeavesAConsistentIndex) {
  // 300 notes take a few seconds to index in Release, a minute under ASan: fewer there, killed just as often.
  const int notes = kSanitizerBuild ? 60 : 300;
  make_corpus(corpus_.path(), notes);
  // The reference: the same corpus indexed without interruption.
  TempDir reference;
  ASSERT_EQ(run_hearth("index add " + q(corpus_.path()) + " --data-dir " + q(reference.path()) + model_).code, 0);
  const Json want = [&] {
    const ProcessResult r = run_hearth("index status --json --data-dir " + q(reference.path()));
    return Json::parse(r.out);
  }();
  ASSERT_EQ(want["indexed"], notes);

  std::mt19937 rng(std::random_device{}());
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    const auto delay = std::chrono::milliseconds(100 + rng() % 1500);
    kills += kill_midway(corpus_.path(), data_.path(), use_lite_model(), delay);
    // Whatever the moment, the store is consistent: no chunk without its file, FTS in step, vectors for all.
    const ProcessResult check = run_hearth("index check" + common_);
    // Killed before it created the index (a busy machine, a short delay): nothing was written, also consistent.
    const bool never_created = check.err.find("no index 'default'") != std::string::npos;
    EXPECT_TRUE(check.code == 0 || never_created) << "after a kill at " << delay.count() << " ms: " << check.err;
  }
  EXPECT_GT(kills, 0) << "every run finished before its kill: the corpus is too small to test anything";
  // Finishing the job gives exactly the reference: nothing lost, nothing duplicated.
  const ProcessResult finish = run_hearth("index add " + q(corpus_.path()) + common_ + model_);
  ASSERT_EQ(finish.code, 0) << finish.err;
  const Json got = status();
  EXPECT_EQ(got["files"], want["files"]);
  EXPECT_EQ(got["indexed"], want["indexed"]);
  EXPECT_EQ(got["pending"], 0);
  EXPECT_EQ(got["chunks"], want["chunks"]);
  EXPECT_EQ(run_hearth("index check" + common_).code, 0);
  for (int f : {0, notes / 2 + 1, notes - 1}) {
    const std::string marker = "marker" + std::to_string(f) + "x3";
    const ProcessResult r = run_hearth("search " + marker + " --mode bm25 --json -k 1" + common_);
    const Json hits = Json::parse(r.out)["hits"];
    ASSERT_EQ(hits.size(), 1u) << marker;
    EXPECT_EQ(fs::path(hits[0]["path"].get<std::string>()).filename(), "note" + std::to_string(f) + ".md");
  }
}

}  // namespace
}  // namespace hearth::test
