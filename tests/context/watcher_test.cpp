#include "context/watcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "error_kind_util.h"
#include "test_util.h"

namespace hearth::context {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Kind = WatchEvent::Kind;
using hearth::test::TempDir;
using hearth::test::thrown_kind;

void write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string describe(const std::vector<WatchEvent>& events) {
  std::string out;
  for (const auto& e : events)
    out += std::string(e.kind == Kind::kChanged ? "changed " : e.kind == Kind::kRemoved ? "removed " : "overflow ") +
           e.path + "\n";
  return out;
}

// Collects a watcher's events and waits (up to 2 s) for one that satisfies a condition.
class Events {
 public:
  explicit Events(Watcher& w) : w_(w) {}

  bool saw(const std::function<bool(const WatchEvent&)>& pred, std::chrono::milliseconds limit = 2000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    size_t checked = 0;
    while (true) {
      for (; checked < seen_.size(); ++checked)
        if (pred(seen_[checked])) return true;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      for (auto& e : w_.wait(left)) seen_.push_back(std::move(e));
    }
  }
  bool saw(Kind kind, const std::string& path, std::chrono::milliseconds limit = 2000ms) {
    return saw([&](const WatchEvent& e) { return e.kind == kind && e.path == path; }, limit);
  }
  // Whatever arrives within `quiet`.
  void drain(std::chrono::milliseconds quiet = 200ms) {
    for (auto& e : w_.wait(quiet)) seen_.push_back(std::move(e));
  }
  void clear() { seen_.clear(); }
  const std::vector<WatchEvent>& seen() const { return seen_; }

 private:
  Watcher& w_;
  std::vector<WatchEvent> seen_;
};

class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::canonical(dir_.path()).string() + "/root";
    outside_ = fs::canonical(dir_.path()).string() + "/outside";
    fs::create_directories(root_ + "/existing/deeper");
    fs::create_directories(outside_);
    watcher_ = make_watcher();
    watcher_->add_root(root_);
  }

  TempDir dir_;
  std::string root_, outside_;
  std::unique_ptr<Watcher> watcher_;
};

TEST_F(WatcherTest, FileCreateModifyRenameDelete) {
  Events ev(*watcher_);
  write(root_ + "/a.txt", "one");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/a.txt")) << describe(ev.seen());
  ev.clear();
  std::ofstream(root_ + "/a.txt", std::ios::app) << " two";
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/a.txt")) << describe(ev.seen());
  ev.clear();
  fs::rename(root_ + "/a.txt", root_ + "/existing/deeper/b.txt");
  EXPECT_TRUE(ev.saw(Kind::kRemoved, root_ + "/a.txt")) << describe(ev.seen());
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/existing/deeper/b.txt")) << describe(ev.seen());
  ev.clear();
  fs::remove(root_ + "/existing/deeper/b.txt");
  EXPECT_TRUE(ev.saw(Kind::kRemoved, root_ + "/existing/deeper/b.txt")) << describe(ev.seen());
}

TEST_F(WatcherTest, NewFoldersAreWatchedAndRenamesFollowed) {
  Events ev(*watcher_);
  fs::create_directory(root_ + "/d");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/d")) << describe(ev.seen());
  write(root_ + "/d/x.txt", "x");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/d/x.txt")) << describe(ev.seen());
  ev.clear();
  fs::rename(root_ + "/d", root_ + "/e");
  EXPECT_TRUE(ev.saw(Kind::kRemoved, root_ + "/d")) << describe(ev.seen());
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/e")) << describe(ev.seen());
  ev.drain();
  ev.clear();
  write(root_ + "/e/y.txt", "y");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/e/y.txt")) << "the renamed folder's events carry its new name\n"
                                                           << describe(ev.seen());
  ev.clear();
  fs::remove_all(root_ + "/e");
  EXPECT_TRUE(ev.saw(Kind::kRemoved, root_ + "/e/y.txt")) << describe(ev.seen());
  EXPECT_TRUE(ev.saw(Kind::kRemoved, root_ + "/e")) << describe(ev.seen());
}

TEST_F(WatcherTest, AFolderMadeWithFilesQuicklyLeadsToThem) {
  Events ev(*watcher_);
  // Made and filled faster than the watcher can add watches: the event for a folder on the file's path (the
  // indexer rescans it) or for the file itself must come.
  fs::create_directories(root_ + "/f/g/h");
  write(root_ + "/f/g/h/z.txt", "z");
  const std::string file = root_ + "/f/g/h/z.txt";
  EXPECT_TRUE(ev.saw([&](const WatchEvent& e) {
    return e.kind == Kind::kChanged && (e.path == file || file.rfind(e.path + "/", 0) == 0);
  })) << describe(ev.seen());
  ev.drain();
  ev.clear();
  // Every folder in it is watched now.
  write(root_ + "/f/g/h/w.txt", "w");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/f/g/h/w.txt")) << describe(ev.seen());
}

TEST_F(WatcherTest, FoldersMovedInAndOut) {
  Events ev(*watcher_);
  fs::create_directories(outside_ + "/incoming/sub");
  write(outside_ + "/incoming/sub/file.txt", "f");
  fs::rename(outside_ + "/incoming", root_ + "/incoming");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/incoming")) << describe(ev.seen());
  ev.drain();
  ev.clear();
  write(root_ + "/incoming/sub/new.txt", "n");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/incoming/sub/new.txt")) << describe(ev.seen());
  ev.clear();
  fs::rename(root_ + "/incoming", outside_ + "/gone");
  EXPECT_TRUE(ev.saw(Kind::kRemoved, root_ + "/incoming")) << describe(ev.seen());
  ev.drain();
  ev.clear();
  write(outside_ + "/gone/sub/after.txt", "a");
  ev.drain(300ms);
  EXPECT_TRUE(ev.seen().empty()) << "a folder moved out is no longer watched\n" << describe(ev.seen());
}

TEST_F(WatcherTest, GitFoldersAreNotWatched) {
  fs::create_directories(root_ + "/repo/.git/objects");
  Events ev(*watcher_);
  ev.drain();
  ev.clear();
  write(root_ + "/repo/.git/objects/x", "x");
  write(root_ + "/repo/tracked.txt", "t");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/repo/tracked.txt"));
  for (const auto& e : ev.seen()) EXPECT_EQ(e.path.find("/.git/"), std::string::npos) << e.path;
}

TEST_F(WatcherTest, RemoveRootStopsItsEvents) {
  Events ev(*watcher_);
  watcher_->remove_root(root_ + "/");
  write(root_ + "/after.txt", "a");
  write(root_ + "/existing/deeper/after.txt", "a");
  ev.drain(300ms);
  EXPECT_TRUE(ev.seen().empty()) << describe(ev.seen());
  watcher_->remove_root(root_);  // twice: nothing happens
  // And it can be added again.
  watcher_->add_root(root_);
  write(root_ + "/again.txt", "a");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/again.txt")) << describe(ev.seen());
}

TEST_F(WatcherTest, DeletedRootIsReported) {
  Events ev(*watcher_);
  fs::remove_all(root_);
  EXPECT_TRUE(ev.saw(Kind::kRemoved, root_)) << describe(ev.seen());
}

TEST_F(WatcherTest, FileRoot) {
  write(outside_ + "/single.txt", "1");
  watcher_->add_root(outside_ + "/single.txt");
  Events ev(*watcher_);
  write(outside_ + "/single.txt", "2");
  EXPECT_TRUE(ev.saw(Kind::kChanged, outside_ + "/single.txt")) << describe(ev.seen());
}

TEST_F(WatcherTest, MissingRootIsNotFound) {
  EXPECT_EQ(thrown_kind([&] { watcher_->add_root(root_ + "/missing"); }), "not_found");
}

TEST_F(WatcherTest, InterruptWakesAWait) {
  std::chrono::steady_clock::duration took{};
  std::vector<WatchEvent> got;
  std::thread t([&] {
    const auto start = std::chrono::steady_clock::now();
    got = watcher_->wait(20s);
    took = std::chrono::steady_clock::now() - start;
  });
  std::this_thread::sleep_for(100ms);
  watcher_->interrupt();
  t.join();
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(got.empty());
  // A wait with nothing to report times out.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(watcher_->wait(50ms).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
}

TEST_F(WatcherTest, RootsChangeWhileAnotherThreadWaits) {
  std::atomic<bool> stop{false}, seen{false};
  const std::string second = outside_ + "/second";
  fs::create_directories(second + "/sub");
  std::thread waiter([&] {
    while (!stop)
      for (const auto& e : watcher_->wait(50ms))
        if (e.kind == Kind::kChanged && e.path == second + "/sub/new.txt") seen = true;
  });
  for (int i = 0; i < 20; ++i) {
    watcher_->add_root(second);
    watcher_->remove_root(second);
  }
  watcher_->add_root(second);
  write(second + "/sub/new.txt", "n");
  EXPECT_TRUE(hearth::test::eventually([&] { return seen.load(); }, 2s));
  stop = true;
  watcher_->interrupt();
  waiter.join();
}

TEST_F(WatcherTest, QueueOverflowIsReported) {
  std::ifstream in("/proc/sys/fs/inotify/max_queued_events");
  long max_queued = 0;
  if (!(in >> max_queued) || max_queued <= 0) GTEST_SKIP() << "cannot read fs.inotify.max_queued_events";
  if (max_queued > 100000)
    GTEST_SKIP() << "fs.inotify.max_queued_events is " << max_queued << ": too many files to make to overflow it";
  // Each open for writing and close is one event (IN_CLOSE_WRITE); alternating between two files keeps the kernel
  // from merging them. None is read until all are made.
  const std::string files[2] = {root_ + "/f0", root_ + "/f1"};
  for (const auto& f : files) write(f, "");
  Events ev(*watcher_);
  ev.drain();
  ev.clear();
  for (long i = 0; i < max_queued + 200; ++i) {
    const int fd = ::open(files[i % 2].c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  EXPECT_TRUE(ev.saw([](const WatchEvent& e) { return e.kind == Kind::kOverflow && e.path.empty(); }, 10s));
  // Events resume after an overflow.
  ev.clear();
  write(root_ + "/after_overflow.txt", "a");
  EXPECT_TRUE(ev.saw(Kind::kChanged, root_ + "/after_overflow.txt", 10s));
}

}  // namespace
}  // namespace hearth::context
