// The GBNF parser: what it accepts (checked through the language each grammar matches) and its errors.
#include "grammar/gbnf.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "grammar/matcher.h"

namespace hearth::grammar {
namespace {

bool accepts(std::string_view gbnf, std::string_view text) { return matches(parse_gbnf(gbnf), text); }

// The message of the Error parsing `gbnf` throws ("" if none).
std::string parse_error(std::string_view gbnf) {
  try {
    parse_gbnf(gbnf);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.what();
  }
  return "";
}

TEST(Gbnf, LiteralsAlternativesAndSequences) {
  const char* g = "root ::= \"ab\" | \"c\" \"d\"\n";
  EXPECT_TRUE(accepts(g, "ab"));
  EXPECT_TRUE(accepts(g, "cd"));
  EXPECT_FALSE(accepts(g, "a"));
  EXPECT_FALSE(accepts(g, "abcd"));
  EXPECT_FALSE(accepts(g, ""));
}

TEST(Gbnf, RulesGroupsAndComments) {
  const char* g = R"(# a comment line
root ::= greeting (" " name)?   # trailing comment
greeting ::= "hi" | "hello"
name ::= [A-Z] [a-z]*
)";
  EXPECT_TRUE(accepts(g, "hi"));
  EXPECT_TRUE(accepts(g, "hello Ann"));
  EXPECT_FALSE(accepts(g, "hello ann"));
  EXPECT_FALSE(accepts(g, "hello "));
}

TEST(Gbnf, Repetitions) {
  EXPECT_TRUE(accepts("root ::= \"a\"*\n", ""));
  EXPECT_TRUE(accepts("root ::= \"a\"*\n", "aaaa"));
  EXPECT_FALSE(accepts("root ::= \"a\"+\n", ""));
  EXPECT_TRUE(accepts("root ::= \"a\"+\n", "aaa"));
  EXPECT_TRUE(accepts("root ::= \"ab\"?\n", "ab"));
  EXPECT_FALSE(accepts("root ::= \"ab\"?\n", "abab"));
  const char* g = "root ::= [0-9]{2,4}\n";
  EXPECT_FALSE(accepts(g, "1"));
  EXPECT_TRUE(accepts(g, "12"));
  EXPECT_TRUE(accepts(g, "1234"));
  EXPECT_FALSE(accepts(g, "12345"));
  EXPECT_TRUE(accepts("root ::= \"x\"{3}\n", "xxx"));
  EXPECT_FALSE(accepts("root ::= \"x\"{3}\n", "xx"));
  EXPECT_TRUE(accepts("root ::= \"x\"{2,}\n", "xxxxxx"));
  EXPECT_FALSE(accepts("root ::= \"x\"{2,}\n", "x"));
  EXPECT_TRUE(accepts("root ::= (\"a\" | \"b\"){ 1 , 2 }\n", "ba"));
}

TEST(Gbnf, CharacterClassesAndEscapes) {
  const char* g = R"(root ::= "\"" [^"\\]* "\"" [\x41-\x43] "\n" "\u00e9" [^a-z0-9]
)";
  EXPECT_TRUE(accepts(g, "\"x y\"B\n\xc3\xa9!"));
  EXPECT_FALSE(accepts(g, "\"x\"D\n\xc3\xa9!"));
  EXPECT_FALSE(accepts(g, "\"x\"B\n\xc3\xa9q"));
  EXPECT_TRUE(accepts("root ::= . .\n", "\xe2\x82\xac!"));  // `.` is one character, not one byte
  EXPECT_TRUE(accepts("root ::= [-a]+\n", "-a-"));
}

TEST(Gbnf, RulesContinueAfterBarAndInsideGroups) {
  const char* g = "root ::= \"a\" |\n  \"b\"\nother ::= (\n \"x\"\n \"y\" )\n";
  EXPECT_TRUE(accepts(g, "b"));
  EXPECT_TRUE(accepts(g, "a"));
}

TEST(Gbnf, RightRecursionAndEmptyAlternatives) {
  const char* g = "root ::= item\nitem ::= \"(\" item \")\" | \"\"\n";
  EXPECT_TRUE(accepts(g, ""));
  EXPECT_TRUE(accepts(g, "((()))"));
  EXPECT_FALSE(accepts(g, "(()"));
}

TEST(Gbnf, ErrorsSayWhere) {
  EXPECT_NE(parse_error("root ::= \"a\"\nroot ::= \"b\"\n").find("line 2, column 1: rule 'root' is defined twice"), std::string::npos);
  EXPECT_NE(parse_error("root ::= foo\n").find("undefined rule 'foo'"), std::string::npos);
  EXPECT_NE(parse_error("start ::= \"a\"\n").find("no rule named 'root'"), std::string::npos);
  EXPECT_NE(parse_error("root ::= \"a\n").find("line 1, column 10: unterminated string literal"), std::string::npos);
  EXPECT_NE(parse_error("root ::= [a-z\n").find("unterminated character class"), std::string::npos);
  EXPECT_NE(parse_error("root ::= (\"a\"\n").find("unclosed '('"), std::string::npos);
  EXPECT_NE(parse_error("root := \"a\"\n").find("expected '::='"), std::string::npos);
  EXPECT_NE(parse_error("root ::= * \"a\"\n").find("nothing before it to repeat"), std::string::npos);
  EXPECT_NE(parse_error("root ::= \"a\"{3,1}\n").find("maximum below its minimum"), std::string::npos);
  EXPECT_NE(parse_error("root ::= \"a\"{99999}\n").find("repetition count above"), std::string::npos);
  EXPECT_NE(parse_error("root ::= \"\\q\"\n").find("unknown escape"), std::string::npos);
  EXPECT_NE(parse_error("root ::= [z-a]\n").find("backwards"), std::string::npos);
  EXPECT_NE(parse_error("root ::= []\n").find("empty character class"), std::string::npos);
  EXPECT_NE(parse_error("root ::= \"a\" )\n").find("line 1, column 14: expected the end of the line"), std::string::npos);
  EXPECT_NE(parse_error("root ::= root \"a\"\n").find("rule 'root' is left-recursive"), std::string::npos);
  EXPECT_NE(parse_error("root ::= x \"a\"\nx ::= \"\" | root\n").find("left-recursive"), std::string::npos);
  EXPECT_NE(parse_error("root ::= (\"a\"?)*\n").find("left-recursive"), std::string::npos);
}

TEST(Gbnf, PrefixRuleNamesLeavesLiteralsAlone) {
  const std::string g = "root ::= item (\",\" item){2,3} # a list of items\nitem ::= \"root\" | [a-z] | \"\\\"x\"\n";
  const std::string p = prefix_rule_names(g, "p-");
  EXPECT_EQ(p, "p-root ::= p-item (\",\" p-item){2,3} # a list of items\np-item ::= \"root\" | [a-z] | \"\\\"x\"\n");
  // Two prefixed copies paste into one grammar.
  const auto both = parse_gbnf("root ::= a-root \"|\" b-root\n" + prefix_rule_names(g, "a-") + prefix_rule_names(g, "b-"));
  EXPECT_TRUE(matches(both, "root,x,y|a,b,c,root"));
}

TEST(Gbnf, DeepGroupsAreRefusedNotOverflowed) {
  const std::string ok = "root ::= " + std::string(200, '(') + "\"a\"" + std::string(200, ')') + "\n";
  EXPECT_NO_THROW(parse_gbnf(ok));
  const std::string deep = "root ::= " + std::string(100000, '(') + "\"a\"" + std::string(100000, ')') + "\n";
  EXPECT_NE(parse_error(deep.c_str()).find("groups nested deeper than 256"), std::string::npos);
}

}  // namespace
}  // namespace hearth::grammar
