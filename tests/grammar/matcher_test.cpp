// The matcher character by character, and the token constraint over a real 32000-token vocabulary, token by
// token with multi-character tokens.
#include "grammar/token_constraint.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
#include "test_util.h"

namespace hearth::grammar {
namespace {

TEST(Matcher, CanEndAndContinue) {
  Matcher m(parse_gbnf("root ::= \"a\" \"b\"?\n"));
  EXPECT_FALSE(m.can_end());
  EXPECT_TRUE(m.can_continue());
  EXPECT_FALSE(m.accept(U'b'));
  EXPECT_TRUE(m.accept(U'a'));
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(m.can_continue());
  EXPECT_TRUE(m.accept(U'b'));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.can_continue());
}

TEST(Matcher, AcceptTextIsAllOrNothing) {
  Matcher m(parse_gbnf("root ::= \"abc\" | \"abd\"\n"));
  EXPECT_FALSE(m.accept_text("abx"));
  EXPECT_TRUE(m.accept_text("ab"));  // state unchanged by the failure above
  EXPECT_TRUE(m.accept_text("d"));
  EXPECT_TRUE(m.can_end());
}

TEST(Matcher, AmbiguityKeepsSeveralStacksAndStaysSmall) {
  // Two ways to parse "aa..." until the end decides; the state must not grow with the length.
  Matcher m(parse_gbnf("root ::= \"a\"* \"b\" | \"a\"* \"c\"\n"));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(m.accept(U'a'));
  EXPECT_LE(m.state().size(), 4u);  // "a"* then "b", "b", "a"* then "c", "c"
  EXPECT_TRUE(m.accept(U'c'));
  EXPECT_TRUE(m.can_end());
}

TEST(Matcher, DeepNestingOfARecursiveRule) {
  Matcher m(parse_gbnf("root ::= \"[\" root? \"]\"\n"));
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(m.accept(U'['));
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(m.accept(U']'));
  EXPECT_TRUE(m.can_end());
}

TEST(Matcher, ExponentialAmbiguityIsRefusedWithinTheBound) {
  // After k a's every sequence over {x, y} of length k is a live stack: 2^k of them, until the bound stops it.
  Matcher m(parse_gbnf("root ::= \"a\" root x | \"a\" root y | \"\"\nx ::= \"x\"\ny ::= \"y\"\n"));
  try {
    for (int i = 0; i < 64; ++i) m.accept(U'a');
    FAIL() << "64 ambiguous steps should pass the stack bound";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("too ambiguous"), std::string::npos);
  }
}

TEST(Matcher, LongChainsOfRulesDoNotOverflow) {
  std::string g = "root ::= r0\n";
  for (int i = 0; i < 50000; ++i) g += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + "\n";
  g += "r50000 ::= \"z\"\n";
  Matcher m(parse_gbnf(g));
  EXPECT_TRUE(m.accept(U'z'));
  EXPECT_TRUE(m.can_end());
}

class TokenConstraintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_SHARED();
    tok_ = load_tokenizer(test::shared_dir() + "/golden/tokenizer/ggml-vocab-llama-spm.gguf");
    trie_ = std::make_shared<const VocabularyTrie>(*tok_);
  }
  // Every token the constraint allows must be one whose text the matcher accepts, and vice versa (checked
  // by brute force over the vocabulary).
  void expect_mask_exact(TokenConstraint& c, Matcher& reference) {
    c.compute(true);
    State state, next;
    for (int32_t id = 0; id < tok_->n_vocab(); ++id) {
      const auto& text = trie_->text(id);
      bool ok = false;
      if (!text.empty()) {
        state = reference.state();
        for (char32_t ch : text) {
          reference.step(state, ch, next);
          state.swap(next);
          if (state.empty()) break;
        }
        ok = !state.empty();
      } else if (tok_->is_end_of_generation(id)) {
        ok = reference.can_end();
      }
      ASSERT_EQ(c.is_allowed(id), ok) << "token " << id << " '" << tok_->token_to_piece(id) << "'";
    }
  }
  // The id of the token whose text is exactly `piece`.
  int32_t token(const std::string& piece) const {
    for (int32_t id = 0; id < tok_->n_vocab(); ++id)
      if (!trie_->text(id).empty() && tok_->token_to_piece(id) == piece) return id;
    ADD_FAILURE() << "no token '" << piece << "'";
    return 0;
  }
  std::unique_ptr<Tokenizer> tok_;
  std::shared_ptr<const VocabularyTrie> trie_;
};

TEST_F(TokenConstraintTest, MaskIsExactlyTheTokensTheGrammarAllows) {
  auto g = compile_json_schema(R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},
                                   "age":{"type":"integer"}},"required":["name","age"]})");
  TokenConstraint c(g, trie_);
  Matcher reference(g);
  expect_mask_exact(c, reference);
  // Walk a valid output through multi-character tokens (at each point the longest allowed token that
  // continues the text), checking the mask before each.
  const std::string text = "{\"name\": \"Tim the cat\", \"age\": 42}";
  size_t done = 0, steps = 0;
  while (done < text.size()) {
    c.compute(true);
    int32_t best = -1;
    size_t best_len = 0;
    for (int32_t id = 0; id < tok_->n_vocab(); ++id) {
      const std::string piece = trie_->text(id).empty() ? "" : tok_->token_to_piece(id);
      if (c.is_allowed(id) && piece.size() > best_len && text.compare(done, piece.size(), piece) == 0) {
        best = id;
        best_len = piece.size();
      }
    }
    ASSERT_GE(best, 0) << "no allowed token continues '" << text.substr(0, done) << "'";
    c.accept(best);
    ASSERT_TRUE(reference.accept_text(text.substr(done, best_len)));
    done += best_len;
    ++steps;
    expect_mask_exact(c, reference);
  }
  EXPECT_LT(steps, text.size() / 2);  // multi-character tokens did most of it
  EXPECT_TRUE(c.can_end());
  EXPECT_TRUE(c.complete());
}

TEST_F(TokenConstraintTest, TriesAreSharedPerTokenizerInstance) {
  const auto a = VocabularyTrie::of(*tok_);
  EXPECT_EQ(VocabularyTrie::of(*tok_), a);
  auto other = load_tokenizer(test::shared_dir() + "/golden/tokenizer/ggml-vocab-gpt-2.gguf");
  const auto b = VocabularyTrie::of(*other);
  EXPECT_NE(b, a);
  EXPECT_EQ(b->n_vocab(), other->n_vocab());
  EXPECT_EQ(VocabularyTrie::of(*tok_), a);
}

TEST_F(TokenConstraintTest, MaskSetsMinusInfinityAndEndOfGenerationOnlyWhenComplete) {
  auto g = parse_gbnf("root ::= \"yes\" | \"no\" | \"yes!\"\n");
  TokenConstraint c(g, trie_);
  std::vector<float> logits(size_t(tok_->n_vocab()), 1.0f);
  const size_t n = c.mask(logits, true);
  EXPECT_GT(n, 2u);
  const int32_t eos = tok_->special().eos;
  EXPECT_TRUE(std::isinf(logits[size_t(eos)]));
  c.accept(token("yes"));
  EXPECT_TRUE(c.can_end());
  EXPECT_FALSE(c.complete());
  std::fill(logits.begin(), logits.end(), 1.0f);
  c.mask(logits, true);
  EXPECT_EQ(logits[size_t(eos)], 1.0f);
  c.mask(logits, false);
  EXPECT_TRUE(std::isinf(logits[size_t(eos)]));
  EXPECT_THROW(c.accept(token("no")), Error);
}

}  // namespace
}  // namespace hearth::grammar
