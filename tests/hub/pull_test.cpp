// hub::pull against a loopback Hub (fake_hub.h): quant choice, folders, the cache layout huggingface_hub shares,
// a second pull that downloads nothing, interruption and resume, corruption, missing repos, concurrent pulls.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/error.h"
#include "core/sha256.h"
#include "hub/fake_hub.h"
#include "hub/hub_cache.h"
#include "hub/hub_client.h"
#include "test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;
using hub::HubRef;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

struct PullFixture : ::testing::Test {
  TempDir cache;
  FakeHub hub;
  hub::HubOptions options;
  const std::string q4 = tiny_gguf("llama", 15, 300000);  // Q4_K_M-sized test files: 300 kB each
  const std::string q8 = tiny_gguf("llama", 7, 200000);

  PullFixture() {
    // No token from the environment or ~/.cache/huggingface/token reaches the tests' Hub.
    ::setenv("HF_HOME", cache.path().c_str(), 1);
    for (const char* v : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE"}) ::unsetenv(v);
    options.endpoint = hub.url();
    options.cache_dir = cache.path();
    options.token = "";
    options.retries = 0;
    hub.add_repo("test/tiny-GGUF", kCommit,
                 {{"README.md", {"# tiny\n", false}}, {"tiny-Q4_K_M.gguf", {q4}}, {"tiny-Q8_0.gguf", {q8}}});
  }
  hub::PullResult pull(const std::string& name, const hub::PullCallback& cb = {}, const std::string& rev = "main") {
    return hub::pull(*hub::parse_hub_ref(name), rev, options, cb);
  }
  std::string repo_dir(const std::string& repo) const { return cache / hub::repo_folder_name(repo); }
};

TEST(HubRef, Parses) {
  auto r = hub::parse_hub_ref("Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "Qwen/Qwen2.5-0.5B-Instruct-GGUF");
  EXPECT_EQ(r->select, "Q4_K_M");
  EXPECT_EQ(hub::parse_hub_ref("a/b")->select, "");
  for (const char* bad : {"model.gguf", "/abs/path.gguf", "a/b/c", "../x/y", "a/b:", "a/b:c/d", "./a", "a/..b", ""})
    EXPECT_FALSE(hub::parse_hub_ref(bad)) << bad;
}

TEST(HubChoice, QuantsFilesAndFolders) {
  const std::vector<std::string> ggufs = {"m-Q4_K_M.gguf", "m-Q4_K_S.gguf", "m.Q8_0.gguf", "README.md",
                                          "big-Q6_K-00001-of-00002.gguf", "big-Q6_K-00002-of-00002.gguf"};
  EXPECT_EQ(hub::choose_files("o/r", ggufs, "q4_k_m").files, std::vector<std::string>{"m-Q4_K_M.gguf"});
  EXPECT_EQ(hub::choose_files("o/r", ggufs, "Q8_0").primary, "m.Q8_0.gguf");
  EXPECT_EQ(hub::choose_files("o/r", ggufs, "m.Q8_0.gguf").files, std::vector<std::string>{"m.Q8_0.gguf"});
  // A split model: every part, opened from the first.
  const hub::FileChoice split = hub::choose_files("o/r", ggufs, "Q6_K");
  EXPECT_EQ(split.files.size(), 2u);
  EXPECT_EQ(split.primary, "big-Q6_K-00001-of-00002.gguf");
  try {
    hub::choose_files("o/r", ggufs, "Q4_K");
    FAIL() << "ambiguous";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("several"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Q4_K_S (m-Q4_K_S.gguf)"), std::string::npos) << e.what();
  }
  try {
    hub::choose_files("o/r", ggufs, "Q2_K");
    FAIL() << "missing";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("available: Q6_K (big-Q6_K-00001-of-00002.gguf), Q4_K_M (m-Q4_K_M.gguf)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(hub::choose_files("o/r", ggufs, ""), Error);  // several models, none named
  const std::vector<std::string> folder = {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt",
                                           "README.md", "onnx/model.onnx", "1_Pooling/config.json", "pytorch_model.bin",
                                           ".gitattributes", "modules.json"};
  const hub::FileChoice f = hub::choose_files("o/r", folder, "");
  EXPECT_EQ(f.files, (std::vector<std::string>{"1_Pooling/config.json", "config.json", "model.safetensors",
                                               "modules.json", "tokenizer.json", "vocab.txt"}));
  EXPECT_EQ(f.primary, "");
  EXPECT_EQ(hub::gguf_quant("qwen2-0_5b-instruct-q4_k_m.gguf"), "Q4_K_M");
  EXPECT_EQ(hub::gguf_quant("Llama-3.2-1B-Instruct-IQ4_XS.gguf"), "IQ4_XS");
  EXPECT_EQ(hub::gguf_quant("model-f16.gguf"), "F16");
  EXPECT_EQ(hub::gguf_quant("ggml-model.gguf"), "");
}

TEST_F(PullFixture, GgufByQuantInTheHubLayout) {
  std::vector<hub::PullProgress> seen;
  const hub::PullResult r = pull("test/tiny-GGUF:Q4_K_M", [&](const hub::PullProgress& p) {
    seen.push_back(p);
    return true;
  });
  const std::string snap = repo_dir("test/tiny-GGUF") + "/snapshots/" + kCommit;
  EXPECT_EQ(r.path, snap + "/tiny-Q4_K_M.gguf");
  EXPECT_EQ(r.commit, kCommit);
  EXPECT_TRUE(r.gguf);
  EXPECT_EQ(r.files_downloaded, 1);
  EXPECT_EQ(r.bytes_downloaded, int64_t(q4.size()));
  EXPECT_TRUE(read_file(r.path) == q4) << r.path;
  // huggingface_hub's layout: a relative link to blobs/<sha256>, refs/main naming the commit.
  EXPECT_EQ(fs::read_symlink(r.path).string(), "../../blobs/" + sha256_hex(q4));
  EXPECT_EQ(read_file(repo_dir("test/tiny-GGUF") + "/refs/main"), kCommit);
  EXPECT_FALSE(fs::exists(snap + "/tiny-Q8_0.gguf"));
  EXPECT_EQ(hub.file_downloads.load(), 1);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().stage, hub::PullProgress::Stage::kResolving);
  EXPECT_EQ(seen.back().stage, hub::PullProgress::Stage::kDone);
  const hub::PullProgress* last = nullptr;
  for (const auto& p : seen)
    if (p.stage == hub::PullProgress::Stage::kDownloading) last = &p;
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->file, "tiny-Q4_K_M.gguf");
  EXPECT_EQ(last->done, int64_t(q4.size()));
  EXPECT_EQ(last->total, int64_t(q4.size()));
  // The cache resolves the same name without the network.
  EXPECT_EQ(hub::resolve_cached(*hub::parse_hub_ref("test/tiny-GGUF:q4_k_m"), "main", cache.path()), r.path);
}

TEST_F(PullFixture, SecondPullDownloadsNothing) {
  pull("test/tiny-GGUF:Q8_0");
  const int downloads = hub.file_downloads, resolves = hub.resolve_requests, api = hub.api_requests;
  const hub::PullResult again = pull("test/tiny-GGUF:Q8_0");
  EXPECT_EQ(again.files_downloaded, 0);
  EXPECT_EQ(hub.file_downloads.load(), downloads);
  EXPECT_EQ(hub.resolve_requests.load(), resolves);
  EXPECT_EQ(hub.api_requests.load(), api + 1);  // only the check for a newer commit
  // Offline ($HF_HUB_OFFLINE): not even that.
  options.offline = true;
  EXPECT_EQ(pull("test/tiny-GGUF:Q8_0").path, again.path);
  EXPECT_EQ(hub.api_requests.load(), api + 1);
  EXPECT_THROW(pull("test/tiny-GGUF:Q4_K_M"), Error);  // not cached, and offline
}

TEST_F(PullFixture, SafetensorsFolder) {
  const std::string weights(50000, 'w');
  hub.add_repo("test/enc", kCommit,
               {{"config.json", {R"({"model_type": "bert"})", false}},
                {"model.safetensors", {weights}},
                {"tokenizer.json", {"{}", false}},
                {"vocab.txt", {"[PAD]\n", false}},
                {"1_Pooling/config.json", {R"({"pooling_mode_mean_tokens": true})", false}},
                {"README.md", {"readme", false}},
                {"pytorch_model.bin", {"pickle"}},
                {"onnx/model.onnx", {"onnx"}}});
  const hub::PullResult r = pull("test/enc");
  const std::string snap = repo_dir("test/enc") + "/snapshots/" + kCommit;
  EXPECT_EQ(r.path, snap);
  EXPECT_FALSE(r.gguf);
  EXPECT_EQ(r.files_downloaded, 5);
  EXPECT_TRUE(read_file(snap + "/model.safetensors") == weights) << snap + "/model.safetensors";
  EXPECT_EQ(read_file(snap + "/1_Pooling/config.json"), R"({"pooling_mode_mean_tokens": true})");
  EXPECT_EQ(fs::read_symlink(snap + "/1_Pooling/config.json").string(),
            "../../../blobs/" + FakeHub::blob_id(R"({"pooling_mode_mean_tokens": true})"));  // a small file's blob is named by its git blob id
  for (const char* absent : {"README.md", "pytorch_model.bin", "onnx"}) EXPECT_FALSE(fs::exists(snap + "/" + absent));
  const auto models = hub::list_cached_models(cache.path());
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].repo, "test/enc");
  EXPECT_FALSE(models[0].gguf);
  EXPECT_TRUE(models[0].complete);
  EXPECT_EQ(models[0].refs, std::vector<std::string>{"main"});
}

TEST_F(PullFixture, InterruptedDownloadResumesWithRange) {
  const size_t cut = 100000;
  hub.drop_next_download(q4, cut);
  try {
    pull("test/tiny-GGUF:Q4_K_M");
    FAIL() << "the connection was dropped";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBusy) << e.what();
    EXPECT_NE(std::string(e.what()).find("resume"), std::string::npos) << e.what();
  }
  const std::string part = repo_dir("test/tiny-GGUF") + "/blobs/" + sha256_hex(q4) + ".incomplete";
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(fs::file_size(part), cut);
  EXPECT_FALSE(fs::exists(repo_dir("test/tiny-GGUF") + "/snapshots/" + kCommit + "/tiny-Q4_K_M.gguf"));
  int64_t resumed_from = -1;
  const hub::PullResult r = pull("test/tiny-GGUF:Q4_K_M", [&](const hub::PullProgress& p) {
    if (p.stage == hub::PullProgress::Stage::kDownloading) resumed_from = p.resumed_from;
    return true;
  });
  EXPECT_EQ(resumed_from, int64_t(cut));
  EXPECT_EQ(r.bytes_downloaded, int64_t(q4.size() - cut));
  ASSERT_FALSE(hub.range_headers().empty());
  EXPECT_EQ(hub.range_headers().back(), "bytes=100000-");
  EXPECT_TRUE(read_file(r.path) == q4) << r.path;
  EXPECT_FALSE(fs::exists(part));
}

TEST_F(PullFixture, DroppedConnectionRetriedWithinOnePull) {
  options.retries = 1;
  hub.drop_next_download(q8, 5000);
  const hub::PullResult r = pull("test/tiny-GGUF:Q8_0");
  EXPECT_TRUE(read_file(r.path) == q8) << r.path;
  EXPECT_EQ(hub.range_headers(), (std::vector<std::string>{"", "bytes=5000-"}));
}

TEST_F(PullFixture, CorruptDownloadIsRejected) {
  hub.corrupt(q8);
  try {
    pull("test/tiny-GGUF:Q8_0");
    FAIL() << "corrupt bytes accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptData);
    EXPECT_NE(std::string(e.what()).find("sha256"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tiny-Q8_0.gguf"), std::string::npos) << e.what();
  }
  const std::string repo = repo_dir("test/tiny-GGUF");
  EXPECT_FALSE(fs::exists(repo + "/snapshots/" + kCommit + "/tiny-Q8_0.gguf"));
  EXPECT_FALSE(fs::exists(repo + "/blobs/" + sha256_hex(q8)));
  EXPECT_FALSE(fs::exists(repo + "/blobs/" + sha256_hex(q8) + ".incomplete"));
  EXPECT_THROW(hub::resolve_cached(*hub::parse_hub_ref("test/tiny-GGUF:Q8_0"), "main", cache.path()), Error);
}

TEST_F(PullFixture, MissingRepoRevisionAndQuantSayWhat) {
  auto message = [&](const std::string& name, const std::string& rev = "main") {
    try {
      pull(name, {}, rev);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kNotFound) << e.what();
      return std::string(e.what());
    }
    ADD_FAILURE() << name << " pulled";
    return std::string();
  };
  const std::string repo = message("test/no-such-repo");
  EXPECT_NE(repo.find("'test/no-such-repo'"), std::string::npos) << repo;
  EXPECT_NE(repo.find("not found"), std::string::npos) << repo;
  EXPECT_NE(repo.find("HF_TOKEN"), std::string::npos) << repo;
  EXPECT_NE(message("test/tiny-GGUF", "v9").find("revision not found"), std::string::npos);
  const std::string quant = message("test/tiny-GGUF:Q2_K");
  EXPECT_NE(quant.find("Q4_K_M (tiny-Q4_K_M.gguf), Q8_0 (tiny-Q8_0.gguf)"), std::string::npos) << quant;
  EXPECT_FALSE(fs::exists(repo_dir("test/no-such-repo")));
}

TEST_F(PullFixture, TokenIsSentAsBearer) {
  hub.require_token("hf_secret");
  try {
    pull("test/tiny-GGUF:Q8_0");
    FAIL() << "pulled without the token";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("set HF_TOKEN"), std::string::npos) << e.what();
  }
  options.token = "hf_secret";
  EXPECT_TRUE(read_file(pull("test/tiny-GGUF:Q8_0").path) == q8);
}

TEST_F(PullFixture, ConcurrentPullsOfOneFileMakeOneCorrectFile) {
  std::vector<std::thread> threads;
  std::vector<std::string> paths(4), errors(4);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      try {
        paths[size_t(i)] = pull("test/tiny-GGUF:Q4_K_M").path;
      } catch (const std::exception& e) {
        errors[size_t(i)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(errors[size_t(i)], "");
    EXPECT_EQ(paths[size_t(i)], paths[0]);
  }
  EXPECT_TRUE(read_file(paths[0]) == q4) << paths[0];
  EXPECT_EQ(hub.file_downloads.load(), 1);  // the others waited on the blob's lock, then used it
  for (const auto& e : fs::directory_iterator(repo_dir("test/tiny-GGUF") + "/blobs"))
    EXPECT_EQ(e.path().extension(), "") << "left behind: " << e.path();
}

TEST_F(PullFixture, ReusesAHuggingFaceHubCache) {
  // The layout huggingface_hub leaves, written by hand: the pull finds it complete and downloads nothing.
  const std::string repo = repo_dir("test/tiny-GGUF");
  fs::create_directories(repo + "/blobs");
  fs::create_directories(repo + "/snapshots/" + kCommit);
  fs::create_directories(repo + "/refs");
  std::ofstream(repo + "/blobs/" + sha256_hex(q8), std::ios::binary) << q8;
  fs::create_symlink("../../blobs/" + sha256_hex(q8), repo + "/snapshots/" + kCommit + "/tiny-Q8_0.gguf");
  std::ofstream(repo + "/refs/main") << kCommit;
  const hub::PullResult r = pull("test/tiny-GGUF:Q8_0");
  EXPECT_EQ(r.files_downloaded, 0);
  EXPECT_EQ(hub.file_downloads.load(), 0);
  EXPECT_EQ(r.path, repo + "/snapshots/" + kCommit + "/tiny-Q8_0.gguf");
  // A blob another snapshot already holds is linked, not fetched again.
  hub.add_repo("test/tiny-GGUF", std::string(40, 'e'), {{"tiny-Q8_0.gguf", {q8}}});
  const hub::PullResult moved = pull("test/tiny-GGUF:Q8_0");
  EXPECT_EQ(moved.commit, std::string(40, 'e'));
  EXPECT_EQ(hub.file_downloads.load(), 0);
  EXPECT_TRUE(read_file(moved.path) == q8) << moved.path;
  EXPECT_EQ(read_file(repo + "/refs/main"), std::string(40, 'e'));
}

TEST_F(PullFixture, ListAndRemove) {
  pull("test/tiny-GGUF:Q4_K_M");
  pull("test/tiny-GGUF:Q8_0");
  auto models = hub::list_cached_models(cache.path());
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].file, "tiny-Q4_K_M.gguf");
  EXPECT_EQ(models[0].size_bytes, int64_t(q4.size()));
  EXPECT_TRUE(models[0].gguf);
  EXPECT_TRUE(models[1].complete);
  // A blob deleted behind the cache's back: listed as incomplete, and not opened by name.
  const std::string q8_blob = repo_dir("test/tiny-GGUF") + "/blobs/" + sha256_hex(q8);
  const std::string q8_saved = cache / "q8.saved";
  fs::rename(q8_blob, q8_saved);
  EXPECT_FALSE(hub::list_cached_models(cache.path())[1].complete);
  EXPECT_THROW(hub::resolve_cached(*hub::parse_hub_ref("test/tiny-GGUF:Q8_0"), "main", cache.path()), Error);
  fs::rename(q8_saved, q8_blob);
  const hub::RemoveResult one = hub::remove_cached(*hub::parse_hub_ref("test/tiny-GGUF:Q4_K_M"), cache.path());
  EXPECT_EQ(one.links, 1);
  EXPECT_EQ(one.blobs, 1);
  EXPECT_EQ(one.bytes_freed, int64_t(q4.size()));
  models = hub::list_cached_models(cache.path());
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].file, "tiny-Q8_0.gguf");
  EXPECT_THROW(hub::remove_cached(*hub::parse_hub_ref("test/tiny-GGUF:Q4_K_M"), cache.path()), Error);
  hub::remove_cached(*hub::parse_hub_ref("test/tiny-GGUF"), cache.path());
  EXPECT_FALSE(fs::exists(repo_dir("test/tiny-GGUF")));
  try {
    hub::remove_cached(*hub::parse_hub_ref("test/tiny-GGUF"), cache.path());
    FAIL() << "removed twice";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
}

}  // namespace
}  // namespace hearth::test
