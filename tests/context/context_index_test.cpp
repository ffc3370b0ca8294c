// The context engine end to end on a corpus the test writes, with the real default embedding model: known-answer
// queries in every mode, incremental updates (touch, edit, delete, rename), the model check, recovery of a
// corrupt vector index, and the watcher.
#include "context/context_index.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <utime.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "backends/registry.h"
#include "context/index_watcher.h"
#include "context/open_index.h"
#include "context/watcher.h"
#include "context_test_util.h"
#include "test_util.h"

namespace hearth::context {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_file;

std::string long_markdown(const std::string& changed_paragraph) {
  std::string md = "# Operations guide\n\n";
  const char* topics[] = {"Backups", "Monitoring", "Upgrades", "Networking", "Storage", "Logging"};
  for (int s = 0; s < 6; ++s) {
    md += std::string("## ") + topics[s] + "\n\n";
    for (int p = 0; p < 3; ++p) {
      if (s == 3 && p == 1) {
        md += changed_paragraph + "\n\n";
        continue;
      }
      md += "Paragraph " + std::to_string(p) + " of " + topics[s] +
            " explains routine steps an operator follows each week, with checks before and after.\n\n";
    }
  }
  return md;
}

class ContextIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_USE_LITE();
    root_ = corpus_ / "notes";
    write_file(root_ + "/docs/install.md",
               "# Install\n\nhearth runs on Debian and macOS.\n\n## Debian\n\nRun the installer, then start the "
               "service.\n\n## Proxy\n\nBehind a proxy, set proxy_port in hearth.toml to the port of your proxy.\n");
    write_file(root_ + "/docs/guide.md", long_markdown("The firewall must allow port 9443 for the admin console."));
    write_file(root_ + "/src/retry.py",
               "import time\n\n\ndef retry_with_backoff(operation, attempts=5):\n"
               "    \"\"\"Call operation again after failures, waiting twice as long each time.\"\"\"\n"
               "    delay = 0.1\n    for _ in range(attempts):\n        try:\n            return operation()\n"
               "        except IOError:\n            time.sleep(delay)\n            delay *= 2\n"
               "    raise RuntimeError('gave up')\n");
    write_file(root_ + "/src/server.go",
               "package main\n\nimport \"net/http\"\n\n// StartServer listens for HTTP requests on addr.\n"
               "func StartServer(addr string) error {\n\treturn http.ListenAndServe(addr, nil)\n}\n");
    write_file(root_ + "/notes.txt", "The quarterly budget meeting moved to Thursday afternoon.\n");
    write_file(root_ + "/wildlife.html",
               "<html><head><title>Animals</title><style>p{color:red}</style></head>\n<body>\n<h1>Zebra "
               "migration</h1>\n<p>Every year herds of zebras travel hundreds of kilometres across the Serengeti "
               "plains in search of fresh grass and water.</p>\n</body></html>\n");
    const char blob[] = {'\0', '\1', '\2', '\3', 'b', 'i', 'n', '\0', 'd', 'a', 't', 'a'};
    write_file(root_ + "/blob.bin", std::string(blob, sizeof blob));
    has_pdf_ = test::make_pdf(root_ + "/report.pdf", "Photosynthesis converts light energy into chemical energy");
    write_file(root_ + "/.hidden/secret.md", "hidden file never indexed\n");
    write_file(root_ + "/build/out.txt", "ignored by gitignore\n");
    write_file(root_ + "/.gitignore", "build/\n");
    options_.name = "test";
    options_.data_dir = data_.path();
    options_.create = true;
    options_.model = test::use_lite_model();
  }

  std::unique_ptr<OpenIndex> open() { return std::make_unique<OpenIndex>(options_); }

  static std::vector<std::string> paths(const SearchResult& r) {
    std::vector<std::string> out;
    for (const SearchHit& h : r.hits) out.push_back(fs::path(h.chunk.path).filename().string());
    return out;
  }

  static SearchResult search(ContextIndex& index, const std::string& q, SearchMode mode, int k = 3) {
    SearchOptions o;
    o.k = k;
    o.mode = mode;
    return index.search(q, o);
  }

  TempDir corpus_, data_;
  std::string root_;
  bool has_pdf_ = false;
  OpenIndexOptions options_;
};

TEST_F(ContextIndexTest, IndexesEveryFormatAndSkipsWhatItShould) {
  auto opened = open();
  ContextIndex& index = opened->index();
  index.add_root(root_, {});
  const SyncStats s = index.sync();
  // install.md, guide.md, retry.py, server.go, notes.txt, wildlife.html, .gitignore? (hidden: no), blob.bin
  // (skipped: binary), report.pdf; .hidden/ and build/ are never seen.
  const IndexStatus st = index.status();
  EXPECT_EQ(st.counts.failed, 0) << (st.problems.empty() ? "" : st.problems[0].error);
  EXPECT_EQ(st.counts.skipped, 1);
  EXPECT_EQ(st.counts.indexed, has_pdf_ ? 7 : 6);
  EXPECT_EQ(st.counts.pending, 0);
  ASSERT_TRUE(st.model.has_value());
  EXPECT_EQ(st.model->dim, 512);
  EXPECT_EQ(s.files_seen, st.counts.files);
  EXPECT_GT(st.counts.chunks, 8);
  EXPECT_EQ(index.check(), "");
  for (const FileError& p : st.problems) EXPECT_NE(p.path.find("blob.bin"), std::string::npos) << p.path;
}

TEST_F(ContextIndexTest, KnownAnswersInEveryMode) {
  auto opened = open();
  ContextIndex& index = opened->index();
  index.add_root(root_, {});
  index.sync();
  // Keywords: BM25 finds the rare word; hybrid keeps it first.
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kHybrid}) {
    EXPECT_EQ(paths(search(index, "proxy_port", mode)).at(0), "install.md");
    EXPECT_EQ(paths(search(index, "Serengeti", mode)).at(0), "wildlife.html");
    if (has_pdf_) {
      EXPECT_EQ(paths(search(index, "photosynthesis", mode)).at(0), "report.pdf");
    }
  }
  // Paraphrases with no word in common: only vectors can find them.
  EXPECT_TRUE(search(index, "striped horses wander over the savanna", SearchMode::kBm25).hits.empty());
  for (SearchMode mode : {SearchMode::kVector, SearchMode::kHybrid}) {
    EXPECT_EQ(paths(search(index, "striped horses wander over the savanna", mode)).at(0), "wildlife.html");
    EXPECT_EQ(paths(search(index, "when is the finance gathering", mode)).at(0), "notes.txt");
  }
  // Weights: with the vector list weighted 0, hybrid ranks as BM25 does.
  SearchOptions only_bm25;
  only_bm25.k = 5;
  only_bm25.vector_weight = 0;
  const SearchResult weighted = index.search("service installer proxy", only_bm25);
  EXPECT_EQ(paths(weighted), paths(search(index, "service installer proxy", SearchMode::kBm25, int(weighted.hits.size()))));
  // A hit cites the lines that hold it and marks the query's words in its snippet.
  const SearchResult r = search(index, "proxy_port", SearchMode::kHybrid, 1);
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_LE(r.hits[0].chunk.line_begin, 11u);
  EXPECT_GE(r.hits[0].chunk.line_end, 11u);
  EXPECT_FALSE(r.hits[0].marks.empty()) << r.hits[0].snippet;
  EXPECT_GT(r.hits[0].bm25_rank, 0);
  // Filters: by glob and by modification time.
  SearchOptions o;
  o.filter.path_glob = "*.py";
  for (const SearchHit& h : index.search("server listens for requests", o).hits)
    EXPECT_EQ(fs::path(h.chunk.path).extension(), ".py");
  o.filter.path_glob = "";
  o.filter.modified_since_ns = (int64_t(std::time(nullptr)) + 3600) * 1000000000;
  EXPECT_TRUE(index.search("proxy", o).hits.empty());
}

TEST_F(ContextIndexTest, IncrementalTouchEditDeleteRename) {
  auto opened = open();
  ContextIndex& index = opened->index();
  index.add_root(root_, {});
  index.sync();
  const int64_t chunks = index.status().counts.chunks;

  SyncStats again = index.sync();
  EXPECT_EQ(again.files_indexed, 0);
  EXPECT_EQ(again.chunks_embedded, 0);

  // A touch changes the mtime, not the content: no re-chunking, no embedding.
  const std::string guide = root_ + "/docs/guide.md";
  ::utime(guide.c_str(), nullptr);
  struct stat st{};
  ::stat(guide.c_str(), &st);
  st.st_mtim.tv_sec += 5;
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ::utimensat(AT_FDCWD, guide.c_str(), times, 0);
  SyncStats touched = index.sync();
  EXPECT_EQ(touched.files_touched, 1);
  EXPECT_EQ(touched.chunks_embedded, 0);

  // One paragraph edited: only the chunks holding it are embedded again.
  const size_t guide_chunks = [&] {
    SearchOptions o;
    o.k = 100;
    o.mode = SearchMode::kBm25;
    o.filter.path_glob = "guide.md";
    return index.search("paragraph", o).hits.size();
  }();
  ASSERT_GE(guide_chunks, 3u);
  write_file(guide, long_markdown("The firewall must allow port 7001 for the admin console."));
  SyncStats edited = index.sync();
  EXPECT_EQ(edited.files_indexed, 1);
  EXPECT_GE(edited.chunks_embedded, 1);
  EXPECT_LE(edited.chunks_embedded, 2);
  EXPECT_GE(edited.chunks_reused, int64_t(guide_chunks) - 2);
  EXPECT_EQ(paths(search(index, "7001", SearchMode::kBm25)).at(0), "guide.md");
  EXPECT_TRUE(search(index, "9443", SearchMode::kBm25).hits.empty());
  EXPECT_EQ(index.status().counts.chunks, chunks);

  // Rename: the new path is found, the old one is gone, and nothing is embedded again.
  fs::rename(root_ + "/notes.txt", root_ + "/meeting.txt");
  SyncStats renamed = index.update_paths({root_ + "/notes.txt", root_ + "/meeting.txt"});
  EXPECT_EQ(renamed.chunks_embedded, 0);
  EXPECT_EQ(paths(search(index, "quarterly budget", SearchMode::kHybrid, 1)), (std::vector<std::string>{"meeting.txt"}));

  // Delete: gone at once.
  fs::remove(root_ + "/src/server.go");
  index.update_paths({root_ + "/src/server.go"});
  for (const std::string& p : paths(search(index, "StartServer", SearchMode::kHybrid, 10))) EXPECT_NE(p, "server.go");
  EXPECT_EQ(index.check(), "");

  // Removing a sub-folder excludes it from later syncs.
  EXPECT_EQ(index.remove_path(root_ + "/src"), 1);
  index.sync();
  EXPECT_TRUE(search(index, "retry_with_backoff", SearchMode::kBm25).hits.empty());
}

TEST_F(ContextIndexTest, ReopenedIndexAnswersTheSameAndRepairsItsVectorFile) {
  std::vector<std::string> before;
  {
    auto opened = open();
    opened->index().add_root(root_, {});
    opened->index().sync();
    before = paths(search(opened->index(), "zebras crossing grassland", SearchMode::kVector, 3));
  }
  {
    auto opened = open();
    EXPECT_EQ(paths(search(opened->index(), "zebras crossing grassland", SearchMode::kVector, 3)), before);
  }
  // A damaged vector file is rebuilt from the store.
  const std::string vectors = data_.path() + "/indexes/test/vectors.hnsw";
  ASSERT_TRUE(fs::exists(vectors));
  {
    std::fstream f(vectors, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(fs::file_size(vectors) / 2));
    f.put('\x5a').put('\x5a').put('\x5a');
  }
  auto opened = open();
  EXPECT_EQ(paths(search(opened->index(), "zebras crossing grassland", SearchMode::kVector, 3)), before);
  EXPECT_EQ(opened->index().check(), "");
}

TEST_F(ContextIndexTest, AnotherModelIsRefusedWithHowToReembed) {
  HEARTH_REQUIRE_SHARED();
  {
    auto opened = open();
    opened->index().add_root(root_, {});
  }
  OpenIndexOptions other = options_;
  other.model = test::shared_dir() + "/golden/models/bert-dev.f16.gguf";
  try {
    OpenIndex wrong(other);
    FAIL() << "an index embedded with USE lite opened with another model";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("hearth index reembed --index test"), std::string::npos) << m;
    EXPECT_NE(m.find("512"), std::string::npos) << m;
  }
}

TEST_F(ContextIndexTest, WatcherPicksUpCreateModifyDeleteRenameWithinTwoSeconds) {
  auto opened = open();
  ContextIndex& index = opened->index();
  index.add_root(root_, {});
  IndexWatcher watcher(index, make_watcher());
  ASSERT_TRUE(test::eventually([&] { return watcher.caught_up(); }, std::chrono::seconds(60)));
  auto found = [&](const std::string& word) {
    auto r = search(index, word, SearchMode::kBm25, 5);
    return r.hits.empty() ? std::string() : fs::path(r.hits[0].chunk.path).filename().string();
  };
  const auto limit = std::chrono::seconds(2);
  write_file(root_ + "/docs/new.md", "# New\n\nThe word xylophonist appears here.\n");
  EXPECT_TRUE(test::eventually([&] { return found("xylophonist") == "new.md"; }, limit)) << "create";
  write_file(root_ + "/docs/new.md", "# New\n\nNow the word quokkas appears instead.\n");
  EXPECT_TRUE(test::eventually([&] { return found("quokkas") == "new.md" && found("xylophonist").empty(); }, limit))
      << "modify";
  fs::rename(root_ + "/docs/new.md", root_ + "/docs/renamed.md");
  EXPECT_TRUE(test::eventually([&] { return found("quokkas") == "renamed.md"; }, limit)) << "rename";
  fs::create_directories(root_ + "/fresh/deep");
  write_file(root_ + "/fresh/deep/n.txt", "narwhals live in arctic waters\n");
  EXPECT_TRUE(test::eventually([&] { return found("narwhals") == "n.txt"; }, limit)) << "new folder";
  fs::remove(root_ + "/docs/renamed.md");
  EXPECT_TRUE(test::eventually([&] { return found("quokkas").empty(); }, limit)) << "delete";
  EXPECT_EQ(watcher.last_error(), "");
}

// A watcher that reports only what the test tells it to: here, that events were lost.
class ScriptedWatcher : public Watcher {
 public:
  void add_root(const std::string&) override {}
  void remove_root(const std::string&) override {}
  std::vector<WatchEvent> wait(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !events_.empty() || interrupted_; });
    interrupted_ = false;
    return std::exchange(events_, {});
  }
  void interrupt() override {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted_ = true;
    cv_.notify_all();
  }
  void push(WatchEvent e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
  bool interrupted_ = false;
};

TEST_F(ContextIndexTest, AnOverflowOfTheEventQueueMakesTheWatcherRescan) {
  auto opened = open();
  ContextIndex& index = opened->index();
  index.add_root(root_, {});
  auto scripted = std::make_unique<ScriptedWatcher>();
  ScriptedWatcher* events = scripted.get();
  IndexWatcher watcher(index, std::move(scripted));
  ASSERT_TRUE(test::eventually([&] { return watcher.caught_up(); }, std::chrono::seconds(60)));
  // Changes the watcher was never told about...
  write_file(root_ + "/silent.md", "okapis are shy forest giraffes\n");
  fs::remove(root_ + "/notes.txt");
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_TRUE(search(index, "okapis", SearchMode::kBm25).hits.empty()) << "indexed without an event";
  // ...are found once it learns that events were lost.
  events->push({WatchEvent::Kind::kOverflow, ""});
  EXPECT_TRUE(test::eventually([&] {
    return !search(index, "okapis", SearchMode::kBm25).hits.empty() &&
           search(index, "quarterly budget", SearchMode::kBm25).hits.empty();
  }, std::chrono::seconds(5)));
}

}  // namespace
}  // namespace hearth::context
