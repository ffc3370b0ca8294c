// `hearth lora merge` and `--lora` on run, as a user runs them: run-time adapters give the merged model's output,
// scale 0 the base model's, and an adapter for another model is one clear error line. stories260K (F32) with
// random adapters; skipped without ../shared.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lora_fixture.h"
#include "run_hearth.h"
#include "test_util.h"

namespace hearth::test {
namespace {

class LoraCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    model_ = "'" + shared_dir() + "/models/stories260K.gguf'";
    std::mt19937 rng(4);
    // stories260K: 5 layers, 64 wide, 8 heads of 8 (4 KV heads), 172 feed-forward.
    write_gguf_lora(dir_ / "a.gguf", random_layer_pairs(5, {{"attn_v", 64, 32}, {"ffn_gate", 64, 172}}, 4, false, rng),
                    16.0f);
    write_peft(dir_ / "b", random_layer_pairs(5, {{"self_attn.q_proj", 64, 64}}, 8, true, rng), 8, 24.0);
  }
  std::string generate(const std::string& model, const std::string& flags, const std::string& prompt = "Once upon a time") {
    const ProcessResult r = run_hearth("run -m " + model + " " + flags + " --temp 0 -n 24 -p '" + prompt + "'");
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  }
  std::string q(const std::string& path) { return "'" + path + "'"; }

  TempDir dir_;
  std::string model_;
};

TEST_F(LoraCliTest, RunTimeAdaptersGiveTheMergedModelsOutput) {
  const ProcessResult merged =
      run_hearth("lora merge " + model_ + " " + q(dir_ / "a.gguf") + ":0.5 " + q(dir_ / "b") + " -o " + q(dir_ / "m.gguf"));
  ASSERT_EQ(merged.code, 0) << merged.err;
  EXPECT_NE(merged.out.find("15 merged tensors"), std::string::npos) << merged.out;
  const std::string lora = "--lora " + q(dir_ / "a.gguf") + ":0.5 --lora " + q(dir_ / "b");
  const std::string with_lora = generate(model_, lora);
  EXPECT_EQ(with_lora, generate(q(dir_ / "m.gguf"), ""));
  EXPECT_NE(with_lora, generate(model_, ""));
  EXPECT_EQ(generate(model_, "--lora " + q(dir_ / "a.gguf") + ":0"), generate(model_, ""));

  // Several prompts run through the batching engine with the same adapters.
  const ProcessResult many = run_hearth("run -m " + model_ + " " + lora + " --temp 0 -n 24 -p 'Once upon a time' -p 'Lily'");
  ASSERT_EQ(many.code, 0) << many.err;
  const nlohmann::json first = nlohmann::json::parse(many.out.substr(0, many.out.find('\n')));
  EXPECT_EQ(first["text"].get<std::string>() + "\n", with_lora);
}

// chat applies the adapters, and a session saved with them resumes only under the same ones.
TEST_F(LoraCliTest, ChatSessionsRememberTheirAdapters) {
  const std::string session = q(dir_ / "chat.session");
  const std::string lora = " --lora " + q(dir_ / "a.gguf");
  const std::string chat = "chat -m " + model_ + " -n 12 --temp 0";
  const ProcessResult plain = run_hearth(chat, "Hello\n");
  const ProcessResult adapted = run_hearth(chat + lora + " --session " + session, "Hello\n");
  ASSERT_EQ(adapted.code, 0) << adapted.err;
  EXPECT_NE(adapted.out, plain.out);
  EXPECT_EQ(run_hearth(chat + lora + " --session " + session, "Again\n").code, 0);
  const ProcessResult other = run_hearth(chat + " --session " + session, "Again\n");
  EXPECT_EQ(other.code, 1);
  EXPECT_NE(other.err.find("another model"), std::string::npos) << other.err;
}

TEST_F(LoraCliTest, AnAdapterForAnotherModelIsOneClearError) {
  std::mt19937 rng(1);
  write_gguf_lora(dir_ / "wide.gguf", {random_pair("blk.0.attn_q.weight", 4, 128, 128, rng)}, 8.0f);
  for (const std::string& cmd : {"run -m " + model_ + " --lora " + q(dir_ / "wide.gguf") + " -p hi -n 2",
                                 "lora merge " + model_ + " " + q(dir_ / "wide.gguf") + " -o " + q(dir_ / "x.gguf")}) {
    const ProcessResult r = run_hearth(cmd);
    EXPECT_EQ(r.code, 1) << cmd;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("wide.gguf"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("128 x 128"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.gguf"));
  const ProcessResult bad_scale = run_hearth("run -m " + model_ + " --lora " + q(dir_ / "a.gguf") + ":lots -p hi");
  EXPECT_EQ(bad_scale.code, 1);
  EXPECT_NE(bad_scale.err.find("scale"), std::string::npos) << bad_scale.err;
}

}  // namespace
}  // namespace hearth::test
