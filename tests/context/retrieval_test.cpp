#include "context/retrieval.h"

#include <gtest/gtest.h>

#include "core/utf8.h"

namespace hearth::context {
namespace {

TEST(Retrieval, SplitWordsLikeUnicode61) {
  EXPECT_EQ(split_words("Hello, World! foo_bar x2"), (std::vector<std::string>{"hello", "world", "foo", "bar", "x2"}));
  // Letters of any script are word characters; punctuation of any script separates.
  EXPECT_EQ(split_words("Grüße—ÉCOLE 東京。大阪"), (std::vector<std::string>{"grüße", "école", "東京", "大阪"}));
  EXPECT_TRUE(split_words(" \t.,;!? ").empty());
  EXPECT_EQ(split_words("\xff" "abc"), (std::vector<std::string>{"abc"}));  // invalid bytes separate
}

TEST(Retrieval, QueryTermsDropStopWordsUnlessNothingIsLeft) {
  EXPECT_EQ(query_terms("How do I install the server on Debian?"),
            (std::vector<std::string>{"install", "server", "debian"}));
  EXPECT_EQ(query_terms("what is it"), (std::vector<std::string>{"what", "is", "it"}));
  EXPECT_EQ(query_terms("cache Cache CACHE"), (std::vector<std::string>{"cache"}));
  std::string many;
  for (int i = 0; i < 50; ++i) many += "word" + std::to_string(i) + " ";
  EXPECT_EQ(query_terms(many).size(), 32u);
}

TEST(Retrieval, ReciprocalRankFusionSumsWeightedInverseRanks) {
  const auto fused = reciprocal_rank_fusion({{{1, 2, 3}, 1.0}, {{3, 4}, 1.0}}, 60);
  ASSERT_EQ(fused.size(), 4u);
  // 3 is in both lists: 1/63 + 1/61 beats 1's 1/61.
  EXPECT_EQ(fused[0].id, 3);
  EXPECT_NEAR(fused[0].score, 1.0 / 63 + 1.0 / 61, 1e-12);
  EXPECT_EQ(fused[0].ranks, (std::vector<int>{3, 1}));
  EXPECT_EQ(fused[1].id, 1);
  EXPECT_EQ(fused[1].ranks, (std::vector<int>{1, 0}));
  // Equal scores keep first appearance: 2 (list 0, rank 2) before 4 (list 1, rank 2).
  EXPECT_EQ(fused[2].id, 2);
  EXPECT_EQ(fused[3].id, 4);
  // Weights move the balance: a heavy second list puts its first above the first list's first.
  const auto weighted = reciprocal_rank_fusion({{{1}, 1.0}, {{2}, 2.0}}, 60);
  EXPECT_EQ(weighted[0].id, 2);
  // A duplicate id in one list counts once, at its best rank.
  const auto dup = reciprocal_rank_fusion({{{5, 5, 6}, 1.0}}, 60);
  ASSERT_EQ(dup.size(), 2u);
  EXPECT_NEAR(dup[0].score, 1.0 / 61, 1e-12);
}

std::string marked(const Snippet& s) {
  const std::vector<char32_t> cps = utf8_decode(s.text);
  std::string out;
  for (auto [b, e] : s.marks) {
    EXPECT_LE(0, b);
    EXPECT_LT(b, e);
    EXPECT_LE(size_t(e), cps.size());
    out += "[" + utf8_encode(std::vector<char32_t>(cps.begin() + b, cps.begin() + e)) + "]";
  }
  return out;
}

TEST(Retrieval, SnippetMarksQueryTermsInAWindowAroundThem) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "filler" + std::to_string(i) + " ";
  text += "The Indexer rebuilds the vector index when it is corrupt.\n";
  for (int i = 0; i < 60; ++i) text += "tail" + std::to_string(i) + " ";
  const Snippet s = make_snippet(text, {"index", "corrupt"}, 120);
  EXPECT_NE(s.text.find("rebuilds the vector"), std::string::npos) << s.text;
  EXPECT_EQ(s.text.rfind("\xE2\x80\xA6 ", 0), 0u) << "a cut front starts with an ellipsis: " << s.text;
  EXPECT_LE(utf8_decode(s.text).size(), 130u);
  // "index" marks "Indexer" and "index" (prefix, case-insensitive); "corrupt" marks itself.
  EXPECT_EQ(marked(s), "[Indexer][index][corrupt]");
  EXPECT_EQ(s.text.find('\n'), std::string::npos);
}

TEST(Retrieval, SnippetOfShortTextIsTheTextWithMarksInCodePoints) {
  const Snippet s = make_snippet("Über   die\nBrücke gehen", {"brücke"});
  EXPECT_EQ(s.text, "Über die Brücke gehen");
  EXPECT_EQ(marked(s), "[Brücke]");
  EXPECT_TRUE(make_snippet("", {"x"}).text.empty());
  EXPECT_TRUE(make_snippet("no match here", {"zzz"}).marks.empty());
}

TEST(Retrieval, EditDistance) {
  EXPECT_EQ(edit_distance("search", "serach", 2), 2);
  EXPECT_EQ(edit_distance("search", "searc", 1), 1);
  EXPECT_EQ(edit_distance("index", "index", 1), 0);
  EXPECT_EQ(edit_distance("a", "abcdef", 1), 2);  // stops early: limit + 1
}

}  // namespace
}  // namespace hearth::context
