// `hearth inspect` run as a program on a golden GGUF, a small HF folder, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "cli/run_hearth.h"
#include "test_util.h"

namespace hearth {
namespace {

// Exit code and merged stdout + stderr of `hearth inspect <args>`.
std::pair<int, std::string> inspect(const std::string& args) {
  const test::ProcessResult r = test::run_hearth("inspect " + args, "", test::Stderr::kMerged);
  return {r.code, r.out};
}

TEST(InspectCli, GoldenGguf) {
  HEARTH_REQUIRE_SHARED();
  auto [code, out] = inspect("'" + test::shared_dir() + "/golden/models/bert-dev.f16.gguf' --max-items 2");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("architecture: bert\n"), std::string::npos) << out;
  EXPECT_NE(out.find("bert.attention.layer_norm_epsilon"), std::string::npos);
  EXPECT_NE(out.find("1e-12"), std::string::npos);
  EXPECT_NE(out.find("[30522 x string] [\"[PAD]\", \"[unused0]\", ...]"), std::string::npos) << out;
  EXPECT_NE(out.find("tensors (37,"), std::string::npos);
  EXPECT_NE(out.find("token_embd.weight"), std::string::npos);
  EXPECT_NE(out.find("128 x 30522"), std::string::npos);
  EXPECT_NE(out.find("7813632"), std::string::npos);  // 128 * 30522 * 2 bytes
}

TEST(InspectCli, HfFolder) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("hearth_inspect_hf_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_file_atomic((dir / "config.json").string(),
                    R"({"architectures":["Qwen2ForCausalLM"],"hidden_size":4,"num_hidden_layers":1,
                        "num_attention_heads":1,"intermediate_size":8,"max_position_embeddings":16,
                        "tie_word_embeddings":true})");
  write_file_atomic((dir / "model.safetensors").string(),
                    write_safetensors({{"model.embed_tokens.weight", "F16", {3, 4}, std::string(24, '\0')}}));
  auto [code, out] = inspect("'" + dir.string() + "'");
  std::filesystem::remove_all(dir);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("architecture: qwen2"), std::string::npos) << out;
  EXPECT_NE(out.find("general.source.hf_dir"), std::string::npos) << out;
  EXPECT_NE(out.find("token_embd.weight"), std::string::npos) << out;
  EXPECT_NE(out.find("4 x 3"), std::string::npos) << out;
}

TEST(InspectCli, BadInputIsOneLineError) {
  auto [code, out] = inspect("/nonexistent/model.gguf");
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("/nonexistent/model.gguf"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace hearth
