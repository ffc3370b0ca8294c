#include "context/ignore.h"

#include <gtest/gtest.h>

#include <string>

namespace hearth::context {
namespace {

struct GlobCase {
  bool match;
  const char* text;
  const char* pattern;
};

// From git's t3070-wildmatch.sh, the column for wildmatch with WM_PATHNAME (as .gitignore uses it).
TEST(GlobMatch, GitWildmatchCases) {
  const GlobCase cases[] = {
      {true, "foo", "foo"},
      {false, "foo", "bar"},
      {true, "", ""},
      {true, "foo", "???"},
      {false, "foo", "??"},
      {true, "foo", "*"},
      {true, "foo", "f*"},
      {false, "foo", "*f"},
      {true, "foo", "*foo*"},
      {true, "foobar", "*ob*a*r*"},
      {true, "aaaaaaabababab", "*ab"},
      {true, "foo*", "foo\\*"},
      {false, "foobar", "foo\\*bar"},
      {true, "f\\oo", "f\\\\oo"},
      {true, "ball", "*[al]?"},
      {false, "ten", "[ten]"},
      {true, "ten", "**[!te]"},
      {false, "ten", "**[!ten]"},
      {true, "ten", "t[a-g]n"},
      {false, "ten", "t[!a-g]n"},
      {true, "ton", "t[!a-g]n"},
      {true, "ton", "t[^a-g]n"},
      {true, "a]b", "a[]]b"},
      {true, "a-b", "a[]-]b"},
      {true, "a]b", "a[]-]b"},
      {false, "aab", "a[]-]b"},
      {true, "aab", "a[]a-]b"},
      {true, "]", "]"},
      {false, "foo/baz/bar", "foo*bar"},
      {false, "foo/baz/bar", "foo**bar"},
      {true, "foobazbar", "foo**bar"},
      {true, "foo/baz/bar", "foo/**/bar"},
      {true, "foo/baz/bar", "foo/**/**/bar"},
      {true, "foo/b/a/z/bar", "foo/**/bar"},
      {true, "foo/b/a/z/bar", "foo/**/**/bar"},
      {true, "foo/bar", "foo/**/bar"},
      {true, "foo/bar", "foo/**/**/bar"},
      {false, "foo/bar", "foo?bar"},
      {false, "foo/bar", "foo[/]bar"},
      {false, "foo/bar", "foo[^a-z]bar"},
      {false, "foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"},
      {true, "foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"},
      {true, "foo", "**/foo"},
      {true, "XXX/foo", "**/foo"},
      {true, "bar/baz/foo", "**/foo"},
      {false, "bar/baz/foo", "*/foo"},
      {false, "foo/bar/baz", "**/bar*"},
      {true, "deep/foo/bar/baz", "**/bar/*"},
      {false, "deep/foo/bar/baz/", "**/bar/*"},
      {true, "deep/foo/bar/baz/", "**/bar/**"},
      {false, "deep/foo/bar", "**/bar/*"},
      {true, "deep/foo/bar/", "**/bar/**"},
      {false, "foo/bar/baz", "**/bar**"},
      {true, "foo/bar/baz/x", "*/bar/**"},
      {false, "deep/foo/bar/baz/x", "*/bar/**"},
      {true, "deep/foo/bar/baz/x", "**/bar/*/*"},
      {true, "a1B", "[[:alpha:]][[:digit:]][[:upper:]]"},
      {false, "a", "[[:digit:][:upper:][:space:]]"},
      {true, "A", "[[:digit:][:upper:][:space:]]"},
      {true, "1", "[[:digit:][:upper:][:space:]]"},
      {true, " ", "[[:digit:][:upper:][:space:]]"},
      {true, "f", "[[:xdigit:]]"},
      {true, "5", "[a-c[:digit:]x-z]"},
      {true, "b", "[a-c[:digit:]x-z]"},
      {true, "y", "[a-c[:digit:]x-z]"},
      {false, "q", "[a-c[:digit:]x-z]"},
      {false, "a", "[[:nonsense:]]"},
      {true, "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"},
      {false, "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"},
      {true, "abcXdefXghi", "*X*i"},
      {true, "ab/cXd/efXg/hi", "*/*X*/*/*i"},
      {true, "ab/cXd/efXg/hi", "**/*X*/**/*i"},
      {false, "ab/cXd/efXg/hi", "*X*i"},
      {true, "[ab]", "\\[ab]"},
      {true, "[ab]", "[[]ab]"},
      {false, "foo", "foo\\"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(glob_match(c.pattern, c.text), c.match) << "pattern '" << c.pattern << "' text '" << c.text << "'";
}

IgnoreRules rules(const std::string& gitignore) {
  IgnoreRules r;
  r.add_gitignore("", gitignore);
  return r;
}

TEST(IgnoreRules, NamesMatchAtAnyDepth) {
  const auto r = rules("*.log\n# a comment\n\nbuild/\n");
  EXPECT_TRUE(r.ignored("a.log", false));
  EXPECT_TRUE(r.ignored("d/e/f.log", false));
  EXPECT_FALSE(r.ignored("a.log.txt", false));
  EXPECT_FALSE(r.ignored("# a comment", false));
  EXPECT_TRUE(r.ignored("build", true));
  EXPECT_TRUE(r.ignored("x/build", true));
  EXPECT_FALSE(r.ignored("build", false)) << "a trailing slash matches folders only";
  EXPECT_TRUE(r.ignored("build/out.o", false)) << "inside an ignored folder";
  EXPECT_TRUE(r.ignored("x/build/deep/out.o", false));
}

TEST(IgnoreRules, SlashesAnchor) {
  const auto r = rules("/root.txt\ndoc/*.txt\na/**/b\n**/logs\n");
  EXPECT_TRUE(r.ignored("root.txt", false));
  EXPECT_FALSE(r.ignored("sub/root.txt", false));
  EXPECT_TRUE(r.ignored("doc/a.txt", false));
  EXPECT_FALSE(r.ignored("doc/sub/a.txt", false));
  EXPECT_FALSE(r.ignored("x/doc/a.txt", false));
  EXPECT_TRUE(r.ignored("a/b", false));
  EXPECT_TRUE(r.ignored("a/x/b", false));
  EXPECT_TRUE(r.ignored("a/x/y/b", false));
  EXPECT_FALSE(r.ignored("x/a/b", false));
  EXPECT_TRUE(r.ignored("logs", true));
  EXPECT_TRUE(r.ignored("deep/er/logs", false));
  EXPECT_TRUE(r.ignored("deep/logs/file", false));
}

TEST(IgnoreRules, NegationAndItsLimits) {
  auto r = rules("*.log\n!keep.log\n");
  EXPECT_TRUE(r.ignored("a.log", false));
  EXPECT_FALSE(r.ignored("keep.log", false));
  EXPECT_FALSE(r.ignored("sub/keep.log", false));
  // A file inside an ignored folder stays ignored: git does not look inside it.
  r = rules("logs/\n!logs/keep.log\n");
  EXPECT_TRUE(r.ignored("logs/keep.log", false));
  // Ignoring the folder's content (not the folder) can be undone.
  r = rules("logs/*\n!logs/keep.log\n");
  EXPECT_FALSE(r.ignored("logs/keep.log", false));
  EXPECT_TRUE(r.ignored("logs/other.log", false));
  // The last matching pattern decides.
  r = rules("!a.txt\na.txt\n");
  EXPECT_TRUE(r.ignored("a.txt", false));
  // Re-including a folder's files needs the folder re-included first.
  r = rules("/*\n!/src/\n/src/*\n!/src/main.c\n");
  EXPECT_FALSE(r.ignored("src/main.c", false));
  EXPECT_TRUE(r.ignored("src/other.c", false));
  EXPECT_TRUE(r.ignored("README", false));
}

TEST(IgnoreRules, EscapesSpacesAndCarriageReturns) {
  auto r = rules("\\#hash\n\\!bang\ntrail   \nescaped\\ \nwin.txt\r\n");
  EXPECT_TRUE(r.ignored("#hash", false));
  EXPECT_TRUE(r.ignored("!bang", false));
  EXPECT_TRUE(r.ignored("trail", false)) << "trailing spaces are not part of the pattern";
  EXPECT_FALSE(r.ignored("trail ", false));
  EXPECT_TRUE(r.ignored("escaped ", false)) << "an escaped trailing space is";
  EXPECT_FALSE(r.ignored("escaped", false));
  EXPECT_TRUE(r.ignored("win.txt", false)) << "a CRLF line end";
  r = rules("\xEF\xBB\xBF" "bom.txt\nfile[0-9].txt\n");
  EXPECT_TRUE(r.ignored("bom.txt", false)) << "a byte order mark is not part of the first pattern";
  EXPECT_TRUE(r.ignored("file7.txt", false));
  EXPECT_FALSE(r.ignored("filex.txt", false));
}

TEST(IgnoreRules, DeeperFilesAreRelativeToTheirFolderAndOverride) {
  IgnoreRules r;
  r.add_gitignore("", "*.md\n*.tmp\n");
  r.add_gitignore("sub", "!*.md\n/only.txt\ndeep/x\n");
  EXPECT_TRUE(r.ignored("a.md", false));
  EXPECT_FALSE(r.ignored("sub/a.md", false));
  EXPECT_FALSE(r.ignored("sub/more/a.md", false));
  EXPECT_TRUE(r.ignored("sub/a.tmp", false));
  EXPECT_TRUE(r.ignored("sub/only.txt", false));
  EXPECT_FALSE(r.ignored("only.txt", false));
  EXPECT_FALSE(r.ignored("sub/deeper/only.txt", false));
  EXPECT_TRUE(r.ignored("sub/deep/x", false));
  EXPECT_FALSE(r.ignored("deep/x", false));
  EXPECT_FALSE(r.ignored("subway/only.txt", false)) << "a base is a whole folder name";
}

TEST(IgnoreRules, UserPatternsAndEmptyRules) {
  IgnoreRules none;
  EXPECT_FALSE(none.ignored("anything", false));
  IgnoreRules r;
  r.add_pattern("*.bak");
  r.add_pattern("!important.bak");
  r.add_pattern("/vendor/");
  r.add_pattern("");
  r.add_pattern("# not a pattern");
  EXPECT_TRUE(r.ignored("x/y.bak", false));
  EXPECT_FALSE(r.ignored("important.bak", false));
  EXPECT_TRUE(r.ignored("vendor", true));
  EXPECT_TRUE(r.ignored("vendor/lib/a.c", false));
  EXPECT_FALSE(r.ignored("src/vendor/a.c", false));
  EXPECT_FALSE(r.ignored("", true));
}

}  // namespace
}  // namespace hearth::context
