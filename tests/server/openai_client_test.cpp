// The official openai npm client against `hearth serve` (tests/server/openai_client.mjs). Skipped without
// ../shared or the npm packages (make deps).
#include <cstdio>
#include <filesystem>

#include "server_process.h"

namespace hearth::test {
namespace {

TEST(OpenAIClient, JudgesTheServer) {
  HEARTH_REQUIRE_SHARED();
  HEARTH_REQUIRE_NODE();
  if (!std::filesystem::exists(node_dir() + "/node_modules/openai")) GTEST_SKIP() << "the openai npm package is absent (make deps)";
  ServerProcess s({"-m", shared_dir() + "/models/stories260K.gguf", "-m",
                   "bert=" + shared_dir() + "/golden/models/bert-dev.f16.gguf", "--api-key", "test-key",
                   "--matryoshka", "bert"});
  ASSERT_TRUE(s.ready());
  const std::string cmd = "timeout 900 node '" + source_dir() + "/tests/server/openai_client.mjs' '" + s.base_url() +
                          "/v1' '" + node_dir() + "' stories260K bert test-key '" + source_dir() + "/tests/grammar/schemas' 2>&1";
  const ShellResult run = run_shell(cmd);
  const std::string& out = run.out;
  EXPECT_EQ(run.code, 0) << out;
  EXPECT_NE(out.find("checks passed"), std::string::npos) << out;
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace hearth::test
