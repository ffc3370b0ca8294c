// `hearth pull`, `hearth models list|rm` and opening a pulled model by its Hub name, as a user runs them: the real
// program against the loopback Hub, with $HF_ENDPOINT and $HF_HUB_CACHE pointing at the test's own.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "cli/run_hearth.h"
#include "hub/fake_hub.h"
#include "test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;

const std::string kCommit = "89abcdef0123456789abcdef0123456789abcdef";

struct PullCli : ::testing::Test {
  TempDir cache, home;
  FakeHub hub;
  const std::string q8 = tiny_gguf("llama", 7, 150000);

  PullCli() {
    hub.add_repo("test/tiny-GGUF", kCommit, {{"tiny-Q8_0.gguf", {q8}}, {"tiny-F16.gguf", {tiny_gguf("llama", 1)}}});
    ::setenv("HF_ENDPOINT", hub.url().c_str(), 1);
    ::setenv("HF_HUB_CACHE", cache.path().c_str(), 1);
    ::setenv("HEARTH_CACHE_DIR", home.path().c_str(), 1);  // hearth's own model cache: empty
    ::setenv("HF_HOME", home.path().c_str(), 1);  // no token file from ~/.cache/huggingface
    for (const char* v : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE"}) ::unsetenv(v);
  }
  ~PullCli() override {
    ::unsetenv("HF_ENDPOINT");
    ::unsetenv("HF_HUB_CACHE");
    ::unsetenv("HEARTH_CACHE_DIR");
    ::unsetenv("HF_HOME");
  }
};

TEST_F(PullCli, PullListOpenRemove) {
  const ProcessResult pulled = run_hearth("pull test/tiny-GGUF:Q8_0");
  ASSERT_EQ(pulled.code, 0) << pulled.err;
  const std::string path = cache.path() + "/models--test--tiny-GGUF/snapshots/" + kCommit + "/tiny-Q8_0.gguf";
  EXPECT_EQ(pulled.out, path + "\n");
  // Not a terminal: plain progress lines, the last one at 100%.
  EXPECT_NE(pulled.err.find("[1/1] tiny-Q8_0.gguf ["), std::string::npos) << pulled.err;
  EXPECT_NE(pulled.err.find("100%"), std::string::npos) << pulled.err;
  EXPECT_EQ(pulled.err.find('\r'), std::string::npos) << pulled.err;
  EXPECT_NE(pulled.err.find("1 file downloaded"), std::string::npos) << pulled.err;

  const ProcessResult again = run_hearth("pull test/tiny-GGUF:Q8_0");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("up to date"), std::string::npos) << again.err;
  EXPECT_EQ(hub.file_downloads.load(), 1);

  // Opened by its Hub name wherever a model path is taken.
  const ProcessResult inspected = run_hearth("inspect test/tiny-GGUF:Q8_0 --no-tensors");
  ASSERT_EQ(inspected.code, 0) << inspected.err;
  EXPECT_NE(inspected.out.find("tiny llama"), std::string::npos) << inspected.out;

  const ProcessResult listed = run_hearth("models list");
  ASSERT_EQ(listed.code, 0) << listed.err;
  for (const char* want : {"Hugging Face hub cache", "test/tiny-GGUF:Q8_0", "gguf", "llama", "main (89abcdef0123)"})
    EXPECT_NE(listed.out.find(want), std::string::npos) << want << "\n" << listed.out;
  EXPECT_NE(listed.out.find(path), std::string::npos) << listed.out;

  const ProcessResult removed = run_hearth("models rm test/tiny-GGUF:Q8_0");
  ASSERT_EQ(removed.code, 0) << removed.err;
  EXPECT_NE(removed.out.find("1 file, 1 blob"), std::string::npos) << removed.out;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(run_hearth("models list").out.find("test/tiny-GGUF:Q8_0"), std::string::npos);
  const ProcessResult twice = run_hearth("models rm test/tiny-GGUF:Q8_0");
  EXPECT_EQ(twice.code, 1);
  EXPECT_NE(twice.err.find("hearth: error: test/tiny-GGUF: no such model in the hub cache"), std::string::npos)
      << twice.err;
  const ProcessResult gone = run_hearth("inspect test/tiny-GGUF:Q8_0");
  EXPECT_EQ(gone.code, 1);
  EXPECT_NE(gone.err.find("hearth pull test/tiny-GGUF:Q8_0"), std::string::npos) << gone.err;
}

TEST_F(PullCli, ClearErrors) {
  const ProcessResult missing = run_hearth("pull test/missing-GGUF");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("repository 'test/missing-GGUF' (revision 'main') not found"), std::string::npos)
      << missing.err;
  const ProcessResult which = run_hearth("pull test/tiny-GGUF");
  EXPECT_EQ(which.code, 1);
  EXPECT_NE(which.err.find("F16 (tiny-F16.gguf), Q8_0 (tiny-Q8_0.gguf)"), std::string::npos) << which.err;
  const ProcessResult bad = run_hearth("pull not-a-repo-name");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("is not a Hugging Face model name"), std::string::npos) << bad.err;
  EXPECT_EQ(hub.file_downloads.load(), 0);
}

}  // namespace
}  // namespace hearth::test
