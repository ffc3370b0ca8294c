#include "context/injection.h"

#include <gtest/gtest.h>

#include "context/retrieval.h"

namespace hearth::context {
namespace {

// Words as tokens: close enough to a tokenizer's counts for testing the budget arithmetic.
int words(std::string_view text) { return int(split_words(text).size()) + int(std::count(text.begin(), text.end(), '[')); }

SearchHit hit(const std::string& path, uint32_t line_begin, const std::string& text) {
  SearchHit h;
  h.chunk.path = path;
  h.chunk.line_begin = line_begin;
  h.chunk.line_end = line_begin + uint32_t(std::count(text.begin(), text.end(), '\n'));
  h.chunk.text = text;
  h.snippet = text.substr(0, 40);
  return h;
}

TEST(Injection, FollowUpsCarryThePreviousQuestion) {
  std::vector<ChatTurn> c = {{"system", "be brief"}, {"user", "How do I configure the proxy server for hearth?"}};
  EXPECT_EQ(retrieval_query(c), "How do I configure the proxy server for hearth?");
  c.push_back({"assistant", "Set proxy in config.toml."});
  c.push_back({"user", "and on Windows?"});
  EXPECT_EQ(retrieval_query(c), "How do I configure the proxy server for hearth?\nand on Windows?");
  c.push_back({"assistant", "..."});
  c.push_back({"user", "Which ports does the metrics exporter listen on by default?"});
  EXPECT_EQ(retrieval_query(c), "Which ports does the metrics exporter listen on by default?");
  EXPECT_EQ(retrieval_query({{"system", "x"}}), "");
}

TEST(Injection, EverythingFitsUnchangedWithNumberedCitations) {
  const std::vector<SearchHit> hits = {hit("/d/a.md", 10, "Alpha paragraph.\nSecond line."),
                                       hit("/d/b.py", 3, "def beta():\n    return 1")};
  const Injection inj = build_injection("alpha beta", hits, words, 500);
  ASSERT_EQ(inj.sources.size(), 2u);
  EXPECT_EQ(inj.sources[0].id, 1);
  EXPECT_EQ(inj.sources[1].id, 2);
  EXPECT_NE(inj.block.find("[1] /d/a.md:10-11\nAlpha paragraph.\nSecond line."), std::string::npos) << inj.block;
  EXPECT_NE(inj.block.find("[2] /d/b.py:3-4\ndef beta():"), std::string::npos) << inj.block;
  EXPECT_LE(inj.tokens, 500);
  EXPECT_EQ(system_with_context("Be brief.", inj), "Be brief.\n\n" + inj.block);
  EXPECT_EQ(system_with_context("", inj), inj.block);
}

TEST(Injection, TightBudgetKeepsTheSentencesThatAnswerAndNarrowsTheLines) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Unrelated filler sentence number " + std::to_string(i) + " about nothing.\n";
  text += "The proxy port is set with proxy_port in hearth.toml.\n";  // line 31 of the chunk
  for (int i = 0; i < 30; ++i) text += "More filler text " + std::to_string(i) + " here.\n";
  const std::vector<SearchHit> hits = {hit("/d/config.md", 100, text)};
  for (int budget : {60, 80, 120}) {
    const Injection inj = build_injection("which proxy port", hits, words, budget);
    ASSERT_EQ(inj.sources.size(), 1u) << budget;
    EXPECT_LE(inj.tokens, budget);
    EXPECT_NE(inj.sources[0].excerpt.find("The proxy port is set with proxy_port"), std::string::npos)
        << inj.sources[0].excerpt;
    // The cited lines are those of the kept sentences: line 31 of a chunk starting at line 100 is 130.
    EXPECT_LE(inj.sources[0].line_begin, 130u);
    EXPECT_GE(inj.sources[0].line_end, 130u);
    EXPECT_LT(inj.sources[0].line_end - inj.sources[0].line_begin, 60u);
  }
}

TEST(Injection, BudgetAlwaysHolds) {
  std::vector<SearchHit> hits;
  for (int i = 0; i < 8; ++i) {
    std::string text;
    for (int j = 0; j < 40; ++j) text += "word" + std::to_string(j) + " of hit " + std::to_string(i) + ". ";
    hits.push_back(hit("/d/f" + std::to_string(i), 1, text));
  }
  for (int budget : {0, 10, 25, 40, 70, 150, 400, 5000}) {
    const Injection inj = build_injection("word3 hit", hits, words, budget);
    EXPECT_LE(inj.tokens, budget) << budget;
    EXPECT_EQ(inj.tokens == 0, inj.block.empty()) << budget;
    for (size_t i = 0; i < inj.sources.size(); ++i) EXPECT_EQ(inj.sources[i].id, int(i) + 1);
  }
}

}  // namespace
}  // namespace hearth::context
