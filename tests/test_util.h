// Helpers shared by the test suites: where the reference data and the npm reference tools are.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace hearth::test {

// ../shared (golden outputs, test models) or "" when it is absent (a stranger's clone).
inline std::string shared_dir() {
  if (const char* env = std::getenv("HEARTH_SHARED_DIR")) return env;
  std::filesystem::path p(HEARTH_SHARED_DIR);
  return std::filesystem::exists(p / "golden") ? std::filesystem::canonical(p).string() : std::string();
}

// The build folder holding this test program (build/bin/<suite>): found at run time rather than compiled in, so a
// copied or moved build folder (a git worktree's) runs its own `hearth`, not the one it was copied from.
inline std::string binary_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && std::filesystem::exists(exe.parent_path().parent_path() / "CMakeCache.txt", ec))
    return exe.parent_path().parent_path().string();
  return HEARTH_BINARY_DIR;
}
// The source tree that build folder was configured from (its CMakeCache.txt says), else the compiled-in one.
inline std::string source_dir() {
  std::FILE* f = std::fopen((binary_dir() + "/CMakeCache.txt").c_str(), "r");
  std::string dir = HEARTH_SOURCE_DIR;
  if (f == nullptr) return dir;
  const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
  char line[4096];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    std::string s(line);
    if (s.rfind(key, 0) == 0) {
      dir = s.substr(key.size());
      while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
      break;
    }
  }
  std::fclose(f);
  return dir;
}
inline std::string hearth_binary() { return binary_dir() + "/bin/hearth"; }

// The npm packages installed by `make deps` (a folder holding node_modules), or "" when absent.
inline std::string node_dir() {
  std::filesystem::path p = std::getenv("HEARTH_NODE_DIR") ? std::getenv("HEARTH_NODE_DIR")
                                                            : binary_dir() + "/node";
  return std::filesystem::exists(p / "node_modules") ? p.string() : std::string();
}

// A fresh folder under the system's temporary directory (unique per process and instance), removed with
// everything in it when the object goes.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("hearth_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
  static inline int counter_ = 0;
};

// Runs a shell command (a reference script under `timeout`), returning its exit status (-1 when it did not exit
// normally or could not start) and its output.
struct ShellResult {
  int code = -1;
  std::string out;
};
inline ShellResult run_shell(const std::string& command) {
  ShellResult r;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Polls `pred` until it holds or `limit` has passed; its last answer.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace hearth::test

// Skips the current test (saying why) when ../shared is not beside the checkout.
#define HEARTH_REQUIRE_SHARED()                                                                   \
  do {                                                                                            \
    if (::hearth::test::shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent"; \
  } while (0)

#define HEARTH_REQUIRE_NODE()                                                                           \
  do {                                                                                                  \
    if (::hearth::test::node_dir().empty()) GTEST_SKIP() << "npm reference packages absent (run make deps)"; \
  } while (0)
