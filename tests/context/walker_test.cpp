#include "context/walker.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "error_kind_util.h"
#include "test_util.h"

namespace hearth::context {
namespace {

namespace fs = std::filesystem;
using hearth::test::TempDir;
using hearth::test::thrown_kind;

void write(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::vector<std::string> relative(const std::vector<FoundFile>& files, const std::string& root) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path.substr(root.size() + 1));
  return out;
}

// Every regular file and symlink under root (hidden, ignored and .git included), as absolute paths.
std::vector<std::string> all_files(const std::string& root) {
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it)
    if (!it->is_directory() || it->is_symlink()) out.push_back(it->path().string());
  return out;
}

class WalkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::canonical(dir_.path()).string();
    write(root_ + "/README.md", "readme");
    write(root_ + "/src/main.c", "int main;");
    write(root_ + "/src/main.o", "obj");
    write(root_ + "/src/gen/out.c", "generated");
    write(root_ + "/src/.gitignore", "gen/\n!keep.o\n*.tmp\n");
    write(root_ + "/src/keep.o", "kept");
    write(root_ + "/src/sub/x.tmp", "tmp");
    write(root_ + "/src/sub/y.txt", "y");
    write(root_ + "/.gitignore", "*.o\nbuild/\n/top.log\n");
    write(root_ + "/top.log", "log");
    write(root_ + "/docs/top.log", "not anchored here");
    write(root_ + "/build/a.txt", "build output");
    write(root_ + "/.hidden/secret.md", "hidden");
    write(root_ + "/.env", "hidden file");
    write(root_ + "/.git/config", "git");
    write(root_ + "/.git/objects/aa/bb", "git");
    write(root_ + "/big.bin", std::string(5000, 'x'));
    write(root_ + "/notes/a b.txt", "space in name");
    write(root_ + "/notes/.git", "gitdir: a worktree's .git file");
    fs::create_symlink(root_ + "/src", root_ + "/link_to_src");
    fs::create_symlink(root_ + "/README.md", root_ + "/link_to_readme");
    fs::create_symlink(root_, root_ + "/notes/loop");
    ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0600), 0);
  }

  TempDir dir_;
  std::string root_;
};

TEST_F(WalkerTest, FindsWhatIsNotIgnoredSorted) {
  const auto files = walk(root_);
  EXPECT_EQ(relative(files, root_), (std::vector<std::string>{"README.md", "big.bin", "docs/top.log", "notes/a b.txt",
                                                               "src/keep.o", "src/main.c", "src/sub/y.txt"}));
  for (const auto& f : files) {
    struct stat st {};
    ASSERT_EQ(::stat(f.path.c_str(), &st), 0);
    EXPECT_EQ(f.size, uint64_t(st.st_size));
    EXPECT_EQ(f.mtime_ns, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
  }
}

TEST_F(WalkerTest, OptionsChangeWhatIsFound) {
  WalkOptions o;
  o.max_file_bytes = 1000;
  o.include_hidden = true;
  o.use_gitignore = false;
  o.exclude = {"*.c", "!main.c", "notes/"};
  EXPECT_EQ(relative(walk(root_, o), root_),
            (std::vector<std::string>{".env", ".gitignore", ".hidden/secret.md", "README.md", "build/a.txt",
                                      "docs/top.log", "src/.gitignore", "src/keep.o", "src/main.c", "src/main.o",
                                      "src/sub/x.tmp", "src/sub/y.txt", "top.log"}));
  // The user's patterns override the .gitignore files.
  WalkOptions o2;
  o2.exclude = {"!top.log", "docs"};
  EXPECT_EQ(relative(walk(root_, o2), root_), (std::vector<std::string>{"README.md", "big.bin", "notes/a b.txt",
                                                                         "src/keep.o", "src/main.c", "src/sub/y.txt",
                                                                         "top.log"}));
}

TEST_F(WalkerTest, IsIndexableAgreesWithWalk) {
  std::vector<WalkOptions> options(4);
  options[1].include_hidden = true;
  options[2].use_gitignore = false;
  options[2].max_file_bytes = 100;
  options[3].exclude = {"src/", "!src/main.c", "*.md"};
  for (size_t i = 0; i < options.size(); ++i) {
    std::set<std::string> found;
    for (const auto& f : walk(root_, options[i])) found.insert(f.path);
    for (const std::string& path : all_files(root_))
      EXPECT_EQ(is_indexable(root_, path, options[i]), found.count(path) == 1) << "options " << i << ": " << path;
  }
  EXPECT_FALSE(is_indexable(root_, root_ + "/missing.txt"));
  EXPECT_FALSE(is_indexable(root_, root_ + "/src"));
  EXPECT_FALSE(is_indexable(root_, "/etc/hostname")) << "outside the root";
  EXPECT_TRUE(is_indexable(root_ + "/", root_ + "/src/../README.md")) << "paths are normalized";
}

TEST_F(WalkerTest, NewGitignoreIsSeenByIsIndexable) {
  const std::string path = root_ + "/src/sub/y.txt";
  EXPECT_TRUE(is_indexable(root_, path));
  write(root_ + "/src/sub/.gitignore", "y.txt\n");
  EXPECT_FALSE(is_indexable(root_, path));
  // Walked from src/sub, the .gitignore files above it do not apply (src/.gitignore's *.tmp).
  EXPECT_EQ(relative(walk(root_ + "/src/sub"), root_ + "/src/sub"), (std::vector<std::string>{"x.tmp"}));
}

TEST_F(WalkerTest, RootThatIsAFileOrMissing) {
  const auto one = walk(root_ + "/README.md");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].path, root_ + "/README.md");
  EXPECT_TRUE(is_indexable(root_ + "/README.md", root_ + "/README.md"));
  WalkOptions small;
  small.max_file_bytes = 3;
  EXPECT_TRUE(walk(root_ + "/README.md", small).empty());
  EXPECT_EQ(thrown_kind([&] { walk(root_ + "/missing"); }), "not_found");
  // A root that is a symlink is followed (the user named it); nothing below it is. (The parent's *.o does not
  // apply: the walk starts at src.)
  EXPECT_EQ(relative(walk(root_ + "/link_to_src"), root_ + "/link_to_src"),
            (std::vector<std::string>{"keep.o", "main.c", "main.o", "sub/y.txt"}));
}

TEST_F(WalkerTest, UnreadableFoldersAreSkipped) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every folder";
  fs::permissions(root_ + "/docs", fs::perms::none);
  const auto files = relative(walk(root_), root_);
  fs::permissions(root_ + "/docs", fs::perms::owner_all);
  EXPECT_EQ(std::count(files.begin(), files.end(), "docs/top.log"), 0);
  EXPECT_EQ(std::count(files.begin(), files.end(), "README.md"), 1);
}

TEST(NormalizePath, Lexically) {
  EXPECT_EQ(normalize_path("/a/./b/../c/"), "/a/c");
  EXPECT_EQ(normalize_path("//a//b"), "/a/b");
  EXPECT_EQ(normalize_path("/"), "/");
  EXPECT_EQ(normalize_path("/.."), "/");
  EXPECT_EQ(normalize_path("/a/b/../../.."), "/");
  const std::string cwd = fs::current_path().string();
  EXPECT_EQ(normalize_path("x/y"), cwd == "/" ? "/x/y" : cwd + "/x/y");
  EXPECT_EQ(normalize_path("."), cwd);
}

}  // namespace
}  // namespace hearth::context
