// Every command that takes texts or prompts takes each argument verbatim: "[a,b]" is one text (CLI11 alone
// would read it as a list of two), "[INST] hi [/INST]" keeps its brackets, and a text that starts with '-'
// goes after "--". What a command does with an argument is checked against the same text given where no
// parser touches it (a line of stdin), or against `hearth tokenize` of that text.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "cli/run_hearth.h"
#include "models/bert_golden.h"
#include "test_util.h"

namespace hearth {
namespace {

using Outcome = test::ProcessResult;

// The texts the bracket-list syntax and option parsing used to mangle, each as a single-quoted shell word.
const std::vector<std::string>& tricky_texts() {
  static const std::vector<std::string> texts = {"[a,b]", "[INST] hi [/INST]", "[]", ",", "[x, y]", "a,b",
                                                    "- item", "-5 degrees", "-"};
  return texts;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }
std::string bge() { return quoted(test::shared_dir() + "/golden/tokenizer/ggml-vocab-bert-bge.gguf"); }
std::string stories() { return quoted(test::shared_dir() + "/models/stories260K.gguf"); }
std::string bert_dev() { return quoted(test::shared_model("bert-dev.f16.gguf")); }

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(VerbatimArguments, TokenizeTakesEachArgumentAsOneText) {
  HEARTH_REQUIRE_SHARED();
  for (const std::string& text : tricky_texts()) {
    const Outcome arg = test::run_hearth("tokenize -m " + bge() + " " + quoted(text));
    const Outcome line = test::run_hearth("tokenize -m " + bge(), text + "\n");
    ASSERT_EQ(arg.code, 0) << text << ": " << arg.err;
    EXPECT_EQ(count_lines(arg.out), 1u) << text << ": " << arg.out;
    EXPECT_EQ(arg.out, line.out) << text;
  }
  // Several arguments: one line each, in order.
  const Outcome many = test::run_hearth("tokenize -m " + bge() + " '[a,b]' c '[]' ,");
  const Outcome lines = test::run_hearth("tokenize -m " + bge(), "[a,b]\nc\n[]\n,\n");
  ASSERT_EQ(many.code, 0) << many.err;
  EXPECT_EQ(count_lines(many.out), 4u) << many.out;
  EXPECT_EQ(many.out, lines.out);
}

TEST(VerbatimArguments, TextsThatStartWithADashGoAfterDoubleDash) {
  HEARTH_REQUIRE_SHARED();
  const Outcome after = test::run_hearth("tokenize -m " + bge() + " hello -- -x '--special' '[a,b]'");
  const Outcome lines = test::run_hearth("tokenize -m " + bge(), "hello\n-x\n--special\n[a,b]\n");
  ASSERT_EQ(after.code, 0) << after.err;
  EXPECT_EQ(after.out, lines.out);  // "--special" after "--" is a text, not the flag

  // Before "--", an unknown dash argument is a mistyped option, never silently a text.
  const Outcome typo = test::run_hearth("tokenize -m " + bge() + " --specail hello");
  EXPECT_NE(typo.code, 0);
  EXPECT_TRUE(typo.out.empty()) << typo.out;
  EXPECT_NE(typo.err.find("--specail"), std::string::npos) << typo.err;
  EXPECT_NE(typo.err.find("'--'"), std::string::npos) << typo.err;

  // A command without texts still refuses stray arguments.
  const Outcome stray = test::run_hearth("devices -- extra");
  EXPECT_NE(stray.code, 0);
  EXPECT_NE(stray.err.find("extra"), std::string::npos) << stray.err;
}

TEST(VerbatimArguments, EmbedGivesOneVectorPerArgument) {
  HEARTH_REQUIRE_SHARED();
  std::string args;
  std::string stdin_text;
  for (const std::string& text : tricky_texts()) {
    args += " " + quoted(text);
    stdin_text += text + "\n";
  }
  const Outcome arg = test::run_hearth("embed --threads 2 -m " + bert_dev() + args + " -- -dash");
  const Outcome line = test::run_hearth("embed --threads 2 -m " + bert_dev(), stdin_text + "-dash\n");
  ASSERT_EQ(arg.code, 0) << arg.err;
  EXPECT_EQ(count_lines(arg.out), tricky_texts().size() + 1) << arg.out;
  EXPECT_EQ(arg.out, line.out);
}

TEST(VerbatimArguments, PromptsOfRunAndLogitsAreVerbatim) {
  HEARTH_REQUIRE_SHARED();
  for (const std::string& prompt : {std::string("[INST] hi [/INST]"), std::string("[a,b]"), std::string("[]"),
                                    std::string(","), std::string("-x starts with a dash")}) {
    const Outcome tokens = test::run_hearth("tokenize --special -m " + stories() + " -- " + quoted(prompt));
    ASSERT_EQ(tokens.code, 0) << tokens.err;
    const auto want_ids = nlohmann::json::parse(tokens.out);

    const Outcome logits = test::run_hearth("logits -t 1 --top 1 -m " + stories() + " -p " + quoted(prompt));
    ASSERT_EQ(logits.code, 0) << prompt << ": " << logits.err;
    EXPECT_EQ(nlohmann::json::parse(logits.out)["token_ids"], want_ids) << prompt;

    const Outcome run = test::run_hearth("run -t 1 -n 2 --temp 0 --echo -m " + stories() + " -p " + quoted(prompt));
    ASSERT_EQ(run.code, 0) << prompt << ": " << run.err;
    EXPECT_EQ(run.out.rfind(prompt, 0), 0u) << prompt << " -> " << run.out;
  }
}

}  // namespace
}  // namespace hearth
