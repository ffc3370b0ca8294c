#include "context/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "test_util.h"

namespace hearth::context {
namespace {

using test::TempDir;

constexpr int kDim = 4;

// A second connection to the database, as another program (or damage) would have: raw SQL, no triggers
// disabled, foreign keys off (SQLite's default).
class RawDb {
 public:
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (message ? message : "");
    sqlite3_free(message);
  }
  std::string value(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::vector<float> vec(float a, float b = 0, float c = 0, float d = 0) { return {a, b, c, d}; }

ChunkWrite new_chunk(int ordinal, const std::string& text, const std::string& title = "",
                     std::vector<float> vector = vec(1)) {
  ChunkWrite w;
  w.chunk.ordinal = ordinal;
  w.chunk.line_begin = uint32_t(ordinal * 10 + 1);
  w.chunk.line_end = uint32_t(ordinal * 10 + 10);
  w.chunk.byte_begin = uint64_t(ordinal * 100);
  w.chunk.byte_end = uint64_t(ordinal * 100 + 99);
  w.chunk.title = title;
  w.chunk.text = text;
  w.chunk.hash = content_hash(title + "\n" + text);
  w.chunk.vector = std::move(vector);
  return w;
}

ChunkWrite keep(int64_t id, int ordinal, const std::string& title = "") {
  ChunkWrite w;
  w.keep_id = id;
  w.chunk.ordinal = ordinal;
  w.chunk.line_begin = uint32_t(ordinal + 1);
  w.chunk.line_end = uint32_t(ordinal + 2);
  w.chunk.title = title;
  return w;
}

void set_model(Store& store, int dim = kDim) { store.set_embedding_model({"test-model", "fp-123", dim}); }

std::vector<int64_t> ids_of(const std::vector<ChunkRecord>& chunks) {
  std::vector<int64_t> ids;
  for (const auto& c : chunks) ids.push_back(c.id);
  return ids;
}

std::vector<int64_t> ids_of(const std::vector<ScoredChunk>& hits) {
  std::vector<int64_t> ids;
  for (const auto& h : hits) ids.push_back(h.chunk_id);
  return ids;
}

template <class Fn>
ErrorKind error_kind_of(Fn&& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no hearth::Error thrown";
  return ErrorKind::kCancelled;
}

TEST(ContextStore, CreatesSchemaAndReopens) {
  TempDir dir;
  const std::string db = dir / "index.db";
  {
    Store store(db);
    EXPECT_EQ(store.path(), db);
    EXPECT_FALSE(store.embedding_model().has_value());
    EXPECT_EQ(store.counts().files, 0);
    EXPECT_EQ(store.max_chunk_id(), 0);
    EXPECT_EQ(store.deletion_seq(), 0);
    EXPECT_EQ(store.check(), "");
    store.set_embedding_model({"models/e5.gguf", "bert:384:abcdef", 384});
    store.add_root("/home/u/notes", R"({"hidden":false})");
    store.add_root("/home/u/code", "{}");
    store.add_root("/home/u/notes", R"({"hidden":true})");  // replaces the options
  }
  Store store(db);
  const auto model = store.embedding_model();
  ASSERT_TRUE(model.has_value());
  EXPECT_EQ(model->name, "models/e5.gguf");
  EXPECT_EQ(model->fingerprint, "bert:384:abcdef");
  EXPECT_EQ(model->dim, 384);
  const auto roots = store.roots();
  ASSERT_EQ(roots.size(), 2u);
  EXPECT_EQ(roots[0], std::make_pair(std::string("/home/u/code"), std::string("{}")));
  EXPECT_EQ(roots[1], std::make_pair(std::string("/home/u/notes"), std::string(R"({"hidden":true})")));
  EXPECT_EQ(store.check(), "");

  RawDb raw(db);
  EXPECT_EQ(raw.value("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.value("PRAGMA user_version"), "1");
  EXPECT_EQ(raw.value("PRAGMA application_id"), std::to_string(0x48525448));
}

TEST(ContextStore, ModelDimensionIsFixedWhileChunksExist) {
  TempDir dir;
  Store store(dir / "index.db");
  EXPECT_EQ(error_kind_of([&] { store.set_embedding_model({"m", "f", 0}); }), ErrorKind::kInvalidArgument);
  set_model(store);
  store.replace_file("/r", "/r/a.txt", 1, 10, "h", "text", {new_chunk(0, "alpha")});
  EXPECT_EQ(error_kind_of([&] { store.set_embedding_model({"other", "f2", 8}); }), ErrorKind::kInvalidArgument);
  store.set_embedding_model({"renamed", "fp-2", kDim});  // same dimension: allowed
  EXPECT_EQ(store.embedding_model()->name, "renamed");
  store.remove_path("/r/a.txt");
  store.set_embedding_model({"other", "f2", 8});
  EXPECT_EQ(store.embedding_model()->dim, 8);
}

TEST(ContextStore, RejectsNewerForeignAndGarbageFiles) {
  TempDir dir;
  std::string message;

  const std::string newer = dir / "newer.db";
  { Store store(newer); }
  { RawDb(newer).exec("PRAGMA user_version = 99"); }
  EXPECT_EQ(error_kind_of([&] { Store s(newer); }, &message), ErrorKind::kCorruptData);
  EXPECT_NE(message.find(newer), std::string::npos) << message;
  EXPECT_NE(message.find("newer"), std::string::npos) << message;

  // Another program's database is refused and left as it was (its journal mode not switched to WAL).
  const std::string foreign = dir / "foreign.db";
  { RawDb(foreign).exec("CREATE TABLE notes(x); INSERT INTO notes VALUES (1)"); }
  EXPECT_EQ(error_kind_of([&] { Store s(foreign); }, &message), ErrorKind::kCorruptData);
  EXPECT_NE(message.find(foreign), std::string::npos) << message;
  EXPECT_EQ(RawDb(foreign).value("PRAGMA journal_mode"), "delete");
  EXPECT_EQ(RawDb(foreign).value("SELECT count(*) FROM notes"), "1");

  const std::string garbage = dir / "garbage.db";
  {
    std::ofstream out(garbage, std::ios::binary);
    std::mt19937 rng(7);
    for (int i = 0; i < 8192; ++i) out.put(char(rng()));
  }
  EXPECT_EQ(error_kind_of([&] { Store s(garbage); }, &message), ErrorKind::kCorruptData);
  EXPECT_NE(message.find(garbage), std::string::npos) << message;

  const std::string text = dir / "notes.txt";
  { std::ofstream(text) << "just some text, not a database at all\n"; }
  EXPECT_EQ(error_kind_of([&] { Store s(text); }), ErrorKind::kCorruptData);

  // A database file damaged past its header: a query on it fails as corrupt data, not a crash.
  const std::string damaged = dir / "damaged.db";
  {
    Store store(damaged);
    set_model(store);
    for (int f = 0; f < 50; ++f)
      store.replace_file("/r", "/r/" + std::to_string(f), 1, 1, "h", "text",
                         {new_chunk(0, std::string(2000, char('a' + f % 26)) + " words here")});
  }
  {
    std::fstream io(damaged, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(4096 * 3);
    for (int i = 0; i < 4096 * 4; ++i) io.put(char(0xA5));
  }
  try {
    Store store(damaged);
    (void)store.check();
    (void)store.files();
    (void)store.bm25({"words"}, 5);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptData) << e.what();
  }
}

TEST(ContextStore, ReplaceFileKeepsAddsAndDeletesChunks) {
  TempDir dir;
  Store store(dir / "index.db");
  EXPECT_EQ(error_kind_of([&] { store.replace_file("/r", "/r/a.md", 1, 1, "h", "markdown", {}); }),
            ErrorKind::kInvalidArgument);  // no model yet
  set_model(store);

  store.replace_file("/r", "/r/a.md", 100, 30, "hash1", "markdown",
                     {new_chunk(0, "first part", "Intro", vec(1, 0, 0, 0)), new_chunk(1, "second part", "Body", vec(0, 1, 0, 0)),
                      new_chunk(2, "third part", "End", vec(0, 0, 1, 0))});
  auto file = store.file("/r/a.md");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->state, FileState::kIndexed);
  EXPECT_EQ(file->hash, "hash1");
  EXPECT_EQ(file->format, "markdown");
  EXPECT_EQ(file->mtime_ns, 100);
  EXPECT_EQ(file->chunks, 3);
  EXPECT_GT(file->indexed_at, 1600000000);
  auto chunks = store.file_chunks(file->id);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1].text, "second part");
  EXPECT_EQ(chunks[1].title, "Body");
  EXPECT_EQ(chunks[1].path, "/r/a.md");
  EXPECT_EQ(chunks[1].line_begin, 11u);
  EXPECT_EQ(chunks[1].byte_end, 199u);
  EXPECT_TRUE(chunks[1].vector.empty());  // not asked for
  const int64_t first = chunks[0].id, second = chunks[1].id, third = chunks[2].id;
  const int64_t max_before = store.max_chunk_id(), seq_before = store.deletion_seq();
  EXPECT_EQ(max_before, third);

  // The second chunk moves to the front under a new title; the others go; one new chunk follows.
  store.replace_file("/r", "/r/a.md", 200, 40, "hash2", "markdown",
                     {keep(second, 0, "Body (moved)"), new_chunk(1, "a brand new part", "New", vec(0, 0, 0, 1))});
  file = store.file("/r/a.md");
  EXPECT_EQ(file->hash, "hash2");
  EXPECT_EQ(file->chunks, 2);
  chunks = store.file_chunks(file->id);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].id, second);
  EXPECT_EQ(chunks[0].text, "second part");
  EXPECT_EQ(chunks[0].title, "Body (moved)");
  EXPECT_EQ(chunks[0].line_begin, 1u);
  EXPECT_GT(chunks[1].id, max_before);  // ids only grow
  const auto with_vectors = store.chunks({second}, true);
  ASSERT_EQ(with_vectors.size(), 1u);
  EXPECT_EQ(with_vectors[0].vector, vec(0, 1, 0, 0));  // kept chunks keep their vector

  const ChangeSet changes = store.changes_since(max_before, seq_before);
  ASSERT_EQ(changes.added.size(), 1u);
  EXPECT_EQ(changes.added[0].first, chunks[1].id);
  EXPECT_EQ(changes.added[0].second, vec(0, 0, 0, 1));
  EXPECT_EQ(std::set<int64_t>(changes.removed.begin(), changes.removed.end()), (std::set<int64_t>{first, third}));
  EXPECT_EQ(changes.max_chunk_id, chunks[1].id);
  EXPECT_EQ(changes.deletion_seq, seq_before + 2);

  // The retitled chunk is found by its new title, not its old one.
  EXPECT_EQ(ids_of(store.bm25({"moved"}, 5)), std::vector<int64_t>{second});
  EXPECT_TRUE(store.bm25({"intro"}, 5).empty());
  EXPECT_EQ(store.check(), "");
}

TEST(ContextStore, ReplaceFileIsAllOrNothing) {
  TempDir dir;
  Store store(dir / "index.db");
  set_model(store);
  store.replace_file("/r", "/r/a.txt", 1, 1, "ha", "text", {new_chunk(0, "apple one"), new_chunk(1, "apple two")});
  store.replace_file("/r", "/r/b.txt", 1, 1, "hb", "text", {new_chunk(0, "banana")});
  const auto a_chunks = store.file_chunks(store.file("/r/a.txt")->id);
  const int64_t b_chunk = store.file_chunks(store.file("/r/b.txt")->id)[0].id;
  const int64_t max_before = store.max_chunk_id(), seq_before = store.deletion_seq();

  const auto unchanged = [&] {
    const auto a = store.file("/r/a.txt");
    EXPECT_EQ(a->hash, "ha");
    EXPECT_EQ(a->mtime_ns, 1);
    EXPECT_EQ(ids_of(store.file_chunks(a->id)), ids_of(a_chunks));
    EXPECT_EQ(store.max_chunk_id(), max_before);
    EXPECT_EQ(store.deletion_seq(), seq_before);
    EXPECT_EQ(store.bm25({"apple"}, 5).size(), 2u);
    EXPECT_TRUE(store.bm25({"cherry"}, 5).empty());
    EXPECT_EQ(store.check(), "");
  };

  std::string message;
  // The last chunk's vector is the wrong size: everything before it (a delete, an insert) is rolled back.
  EXPECT_EQ(error_kind_of(
                [&] {
                  store.replace_file("/r", "/r/a.txt", 2, 2, "ha2", "text",
                                     {keep(a_chunks[0].id, 0), new_chunk(1, "cherry"),
                                      new_chunk(2, "cherry bad", "", {1, 2, 3})});
                },
                &message),
            ErrorKind::kInvalidArgument);
  EXPECT_NE(message.find("3 floats"), std::string::npos) << message;
  unchanged();
  // Another file's chunk cannot be kept.
  EXPECT_EQ(error_kind_of([&] { store.replace_file("/r", "/r/a.txt", 2, 2, "x", "text", {keep(b_chunk, 0)}); }),
            ErrorKind::kInvalidArgument);
  unchanged();
  // Nor one kept twice.
  EXPECT_EQ(error_kind_of([&] {
              store.replace_file("/r", "/r/a.txt", 2, 2, "x", "text", {keep(a_chunks[0].id, 0), keep(a_chunks[0].id, 1)});
            }),
            ErrorKind::kInvalidArgument);
  unchanged();
  // A new file whose write fails leaves no file row behind.
  EXPECT_EQ(error_kind_of([&] { store.replace_file("/r", "/r/c.txt", 1, 1, "hc", "text", {new_chunk(0, "x", "", {})}); }),
            ErrorKind::kInvalidArgument);
  EXPECT_FALSE(store.file("/r/c.txt").has_value());
}

TEST(ContextStore, ChangesSinceAndPrunedLog) {
  TempDir dir;
  Store store(dir / "index.db");
  set_model(store);
  store.replace_file("/r", "/r/a", 1, 1, "h", "text", {new_chunk(0, "a0"), new_chunk(1, "a1")});
  store.replace_file("/r", "/r/b", 1, 1, "h", "text", {new_chunk(0, "b0", "", vec(0, 0, 1))});
  ChangeSet all = store.changes_since(0, 0);
  ASSERT_EQ(all.added.size(), 3u);
  EXPECT_TRUE(all.removed.empty());
  EXPECT_EQ(all.max_chunk_id, 3);
  EXPECT_EQ(all.added[2].second, vec(0, 0, 1));

  // The newest chunk goes: the sync point's max id does not go back (AUTOINCREMENT), so no id is reused.
  store.remove_path("/r/b");
  EXPECT_EQ(store.max_chunk_id(), 3);
  EXPECT_EQ(store.deletion_seq(), 1);
  store.replace_file("/r", "/r/a", 2, 1, "h2", "text", {new_chunk(0, "a new")});
  EXPECT_EQ(store.max_chunk_id(), 4);
  EXPECT_EQ(store.deletion_seq(), 3);

  ChangeSet since = store.changes_since(3, 1);
  ASSERT_EQ(since.added.size(), 1u);
  EXPECT_EQ(since.added[0].first, 4);
  EXPECT_EQ(std::set<int64_t>(since.removed.begin(), since.removed.end()), (std::set<int64_t>{1, 2}));

  store.prune_deletion_log(2);
  since = store.changes_since(4, 0);
  EXPECT_TRUE(since.added.empty());
  EXPECT_EQ(since.removed.size(), 1u);  // only seq 3 is left
  EXPECT_EQ(since.deletion_seq, 3);
  store.prune_deletion_log(3);
  EXPECT_TRUE(store.changes_since(4, 0).removed.empty());
  EXPECT_EQ(store.deletion_seq(), 3);  // the counter stays where it was after the log is emptied
  store.remove_path("/r/a");
  EXPECT_EQ(store.deletion_seq(), 4);
  EXPECT_EQ(store.changes_since(4, 3).removed, std::vector<int64_t>{4});
}

TEST(ContextStore, RemovePathFileOrFolderButNotSiblings) {
  TempDir dir;
  Store store(dir / "index.db");
  set_model(store);
  for (const char* path : {"/r/foo/a.txt", "/r/foo/sub/b.txt", "/r/foo-bar/c.txt", "/r/foobar", "/r/foo.txt",
                           "/r/fo", "/r/foo%/d.txt", "/r/foo_/e.txt"})
    store.replace_file("/r", path, 1, 1, "h", "text", {new_chunk(0, path)});
  const int64_t seq = store.deletion_seq();
  EXPECT_EQ(store.remove_path("/r/foo"), 2);
  EXPECT_EQ(store.deletion_seq(), seq + 2);  // their chunks, through the cascade, are logged
  std::vector<std::string> left;
  for (const auto& f : store.files()) left.push_back(f.path);
  EXPECT_EQ(left, (std::vector<std::string>{"/r/fo", "/r/foo%/d.txt", "/r/foo-bar/c.txt", "/r/foo.txt",
                                            "/r/foo_/e.txt", "/r/foobar"}));
  EXPECT_EQ(store.remove_path("/r/foo%/"), 1);  // a trailing slash, and LIKE's special characters, are plain
  EXPECT_EQ(store.remove_path("/r/foo-bar/c.txt"), 1);
  EXPECT_EQ(store.remove_path("/r/nothing"), 0);
  EXPECT_EQ(store.remove_path(""), 0);
  EXPECT_EQ(store.files().size(), 4u);
  EXPECT_EQ(store.counts().chunks, 4);
  EXPECT_EQ(store.remove_path("/"), 4);
  EXPECT_EQ(store.counts().files, 0);
  EXPECT_EQ(store.check(), "");
}

TEST(ContextStore, RemoveRootTakesItsFiles) {
  TempDir dir;
  Store store(dir / "index.db");
  set_model(store);
  store.add_root("/a", "{}");
  store.add_root("/b", "{}");
  store.replace_file("/a", "/a/1", 1, 1, "h", "text", {new_chunk(0, "one"), new_chunk(1, "one more")});
  store.mark_pending("/a", "/a/2", 1, 1);
  store.replace_file("/b", "/b/1", 1, 1, "h", "text", {new_chunk(0, "other")});
  store.remove_root("/a");
  EXPECT_EQ(store.roots().size(), 1u);
  EXPECT_EQ(store.roots()[0].first, "/b");
  EXPECT_EQ(store.files("/a").size(), 0u);
  ASSERT_EQ(store.files("/b").size(), 1u);
  EXPECT_EQ(store.files("/b")[0].chunks, 1);
  EXPECT_EQ(store.changes_since(store.max_chunk_id(), 0).removed.size(), 2u);
  EXPECT_EQ(store.check(), "");
}

TEST(ContextStore, FileStatesPendingSkippedTouched) {
  TempDir dir;
  Store store(dir / "index.db");
  set_model(store);
  store.mark_pending("/r", "/r/new.txt", 5, 50);
  auto f = store.file("/r/new.txt");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->state, FileState::kPending);
  EXPECT_EQ(f->hash, "");
  EXPECT_EQ(f->root, "/r");
  EXPECT_EQ(f->size, 50);

  store.replace_file("/r", "/r/new.txt", 5, 50, "h1", "text", {new_chunk(0, "content")});
  store.mark_pending("/r", "/r/new.txt", 6, 51);  // changed on disk: chunks and hash stay until replaced
  f = store.file("/r/new.txt");
  EXPECT_EQ(f->state, FileState::kPending);
  EXPECT_EQ(f->hash, "h1");
  EXPECT_EQ(f->chunks, 1);
  EXPECT_EQ(f->mtime_ns, 6);
  EXPECT_EQ(store.bm25({"content"}, 3).size(), 1u);

  store.touch_file("/r/new.txt", 7, 51);  // same content after all
  f = store.file("/r/new.txt");
  EXPECT_EQ(f->state, FileState::kIndexed);
  EXPECT_EQ(f->mtime_ns, 7);
  EXPECT_EQ(f->chunks, 1);

  const int64_t seq = store.deletion_seq();
  store.set_file_state("/r", "/r/new.txt", 8, 60, "h2", FileState::kSkipped, "binary file");
  f = store.file("/r/new.txt");
  EXPECT_EQ(f->state, FileState::kSkipped);
  EXPECT_EQ(f->error, "binary file");
  EXPECT_EQ(f->hash, "h2");
  EXPECT_EQ(f->chunks, 0);
  EXPECT_EQ(store.deletion_seq(), seq + 1);
  EXPECT_TRUE(store.bm25({"content"}, 3).empty());

  store.mark_pending("/r", "/r/new.txt", 9, 60);  // a skipped file has no chunks to keep: its hash goes
  f = store.file("/r/new.txt");
  EXPECT_EQ(f->hash, "");
  EXPECT_EQ(f->error, "");
  store.touch_file("/r/new.txt", 10, 60);
  EXPECT_EQ(store.file("/r/new.txt")->state, FileState::kPending);

  store.set_file_state("/r", "/r/bad.pdf", 1, 1, "", FileState::kFailed, "poppler: broken xref");
  EXPECT_EQ(error_kind_of([&] { store.touch_file("/r/none", 1, 1); }), ErrorKind::kNotFound);
  const IndexCounts counts = store.counts();
  EXPECT_EQ(counts.files, 2);
  EXPECT_EQ(counts.pending, 1);
  EXPECT_EQ(counts.failed, 1);
  EXPECT_EQ(counts.indexed, 0);
  EXPECT_EQ(counts.skipped, 0);
  EXPECT_EQ(counts.chunks, 0);
  EXPECT_EQ(file_state_name(FileState::kFailed), "failed");
  EXPECT_EQ(store.check(), "");
}

TEST(ContextStore, VectorsByHashChunksAndStreaming) {
  TempDir dir;
  Store store(dir / "index.db");
  EXPECT_TRUE(store.vectors_by_hash({"x"}).empty());
  set_model(store);
  store.replace_file("/r", "/r/docs/a.md", 1000, 1, "h", "markdown",
                     {new_chunk(0, "alpha", "", vec(1, 2, 3, 4)), new_chunk(1, "beta", "", vec(5, 6, 7, 8))});
  store.replace_file("/r", "/r/src/b.cpp", 2000, 1, "h", "code", {new_chunk(0, "alpha", "", vec(1, 2, 3, 4))});

  const auto by_hash = store.vectors_by_hash({content_hash("\nalpha"), "unknown", content_hash("\nalpha")});
  ASSERT_EQ(by_hash.size(), 1u);
  EXPECT_EQ(by_hash[0].first, content_hash("\nalpha"));
  EXPECT_EQ(by_hash[0].second, vec(1, 2, 3, 4));

  const auto chunks = store.chunks({3, 999, 1}, true);
  ASSERT_EQ(chunks.size(), 2u);  // 999 does not exist
  EXPECT_EQ(chunks[0].id, 3);
  EXPECT_EQ(chunks[0].path, "/r/src/b.cpp");
  EXPECT_EQ(chunks[0].mtime_ns, 2000);
  EXPECT_EQ(chunks[0].vector, vec(1, 2, 3, 4));
  EXPECT_EQ(chunks[1].id, 1);
  EXPECT_EQ(chunks[1].hash, content_hash("\nalpha"));
  EXPECT_TRUE(store.chunks({2}, false)[0].vector.empty());

  std::map<int64_t, std::vector<float>> seen;
  store.for_each_vector({}, [&](int64_t id, const float* v) { seen[id] = std::vector<float>(v, v + kDim); });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2], vec(5, 6, 7, 8));
  std::vector<int64_t> filtered;
  store.for_each_vector({"/r/docs/*", 0}, [&](int64_t id, const float*) { filtered.push_back(id); });
  std::sort(filtered.begin(), filtered.end());
  EXPECT_EQ(filtered, (std::vector<int64_t>{1, 2}));
  filtered.clear();
  store.for_each_vector({"", 1500}, [&](int64_t id, const float*) { filtered.push_back(id); });
  EXPECT_EQ(filtered, std::vector<int64_t>{3});
  // An exception from the callback stops the walk and leaves the Store usable.
  EXPECT_THROW(store.for_each_vector({}, [](int64_t, const float*) { throw std::runtime_error("stop"); }),
               std::runtime_error);
  EXPECT_EQ(store.chunks({1}).size(), 1u);
}

TEST(ContextStore, Bm25RanksFiltersAndIgnoresQuerySyntax) {
  TempDir dir;
  Store store(dir / "index.db");
  set_model(store);
  store.replace_file("/r", "/r/docs/fox.md", 100, 1, "h", "markdown",
                     {new_chunk(0, "the quick brown fox jumps over the lazy dog")});
  store.replace_file("/r", "/r/docs/dog.md", 200, 1, "h", "markdown",
                     {new_chunk(0, "a lazy dog sleeps all day in the sun")});
  store.replace_file("/r", "/r/notes/titled.md", 300, 1, "h", "markdown",
                     {new_chunk(0, "an animal story told at night", "Zebra")});
  store.replace_file("/r", "/r/notes/body.md", 400, 1, "h", "markdown",
                     {new_chunk(0, "an animal story zebra at night", "Tales")});
  store.replace_file("/r", "/r/notes/café.md", 500, 1, "h", "markdown",
                     {new_chunk(0, "Résumé writing: INDEXING résumés, indexed by keyword")});
  const auto id_of = [&](const std::string& path) { return store.file_chunks(store.file(path)->id)[0].id; };

  // A chunk with the word ranks; one without does not appear.
  auto hits = store.bm25({"fox", "unicorn"}, 10);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].chunk_id, id_of("/r/docs/fox.md"));
  EXPECT_GT(hits[0].score, 0);
  // Both match "lazy"; "quick" lifts the fox chunk above the other.
  hits = store.bm25({"lazy", "quick"}, 10);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].chunk_id, id_of("/r/docs/fox.md"));
  EXPECT_GT(hits[0].score, hits[1].score);
  // The same word in a title outranks it in a body of the same length.
  hits = store.bm25({"zebra"}, 10);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].chunk_id, id_of("/r/notes/titled.md"));
  // k bounds the answer.
  EXPECT_EQ(store.bm25({"lazy", "zebra", "fox"}, 2).size(), 2u);
  // Case, diacritics and English endings are folded (porter over unicode61).
  EXPECT_EQ(ids_of(store.bm25({"RESUME"}, 10)), std::vector<int64_t>{id_of("/r/notes/café.md")});
  EXPECT_EQ(ids_of(store.bm25({"index"}, 10)), std::vector<int64_t>{id_of("/r/notes/café.md")});
  EXPECT_EQ(ids_of(store.bm25({"jumping"}, 10)), std::vector<int64_t>{id_of("/r/docs/fox.md")});

  // Filters: a glob on the path, a modification time.
  hits = store.bm25({"lazy", "zebra"}, 10, {"/r/notes/*", 0});
  EXPECT_EQ(hits.size(), 2u);
  for (const auto& h : hits) EXPECT_NE(h.chunk_id, id_of("/r/docs/fox.md"));
  hits = store.bm25({"lazy", "zebra"}, 10, {"", 350});
  EXPECT_EQ(ids_of(hits), std::vector<int64_t>{id_of("/r/notes/body.md")});
  hits = store.bm25({"lazy", "zebra"}, 10, {"/r/docs/*", 150});
  EXPECT_EQ(ids_of(hits), std::vector<int64_t>{id_of("/r/docs/dog.md")});
  EXPECT_TRUE(store.bm25({"fox"}, 10, {"**/*.txt", 0}).empty());

  // Nothing to search for.
  EXPECT_TRUE(store.bm25({}, 10).empty());
  EXPECT_TRUE(store.bm25({"", "  ", "\t\n"}, 10).empty());
  EXPECT_TRUE(store.bm25({"fox"}, 0).empty());

  // What a user types is words, never FTS5 syntax: none of these is an error, and the words in them still match.
  for (const std::string& term :
       {std::string("AND"), std::string("OR"), std::string("NOT"), std::string("NEAR("), std::string("\""),
        std::string("\"\""), std::string("*"), std::string("-"), std::string("fox*"), std::string("-fox"),
        std::string("title:fox"), std::string("^fox"), std::string("(fox"), std::string("fox)"),
        std::string("{title text}: fox"), std::string("NEAR(fox dog, 2)"), std::string("fox\" OR \"dog"),
        std::string("a\0fox", 5), std::string("\xff\xfe fox \xc3"), std::string(3000, '('), std::string("+")})
    EXPECT_NO_THROW(store.bm25({term}, 5)) << term;
  EXPECT_EQ(ids_of(store.bm25({"fox*"}, 5)), std::vector<int64_t>{id_of("/r/docs/fox.md")});
  EXPECT_EQ(ids_of(store.bm25({"title:fox"}, 5)), std::vector<int64_t>{});  // the phrase "title fox": no chunk
  EXPECT_EQ(store.bm25({"NEAR(fox dog, 2)"}, 5).size(), 0u);                // a phrase, not NEAR
  EXPECT_EQ(store.bm25({"AND", "fox"}, 5).size(), 1u);
}

TEST(ContextStore, Vocabulary) {
  TempDir dir;
  Store store(dir / "index.db");
  set_model(store);
  store.replace_file("/r", "/r/a", 1, 1, "h", "text", {new_chunk(0, "Foxes and a fox; the Focus of indexing")});
  store.replace_file("/r", "/r/b", 1, 1, "h", "text", {new_chunk(0, "fox tails, Über alles")});
  const auto terms = store.vocabulary("fo", 10);
  ASSERT_GE(terms.size(), 2u);
  EXPECT_EQ(terms[0], std::make_pair(std::string("fox"), int64_t(2)));  // "foxes" stems to "fox" too
  EXPECT_EQ(terms[1], std::make_pair(std::string("focu"), int64_t(1)));
  EXPECT_EQ(store.vocabulary("FO", 1), (std::vector<std::pair<std::string, int64_t>>{{"fox", 2}}));
  EXPECT_EQ(store.vocabulary("über", 5), (std::vector<std::pair<std::string, int64_t>>{{"uber", 1}}));
  // The stem of a whole word that no term starts with.
  EXPECT_EQ(store.vocabulary("indexing", 5), (std::vector<std::pair<std::string, int64_t>>{{"index", 1}}));
  EXPECT_TRUE(store.vocabulary("", 5).empty());
  EXPECT_TRUE(store.vocabulary("  ;; ", 5).empty());
  EXPECT_TRUE(store.vocabulary("zzz", 5).empty());
  EXPECT_TRUE(store.vocabulary("fo", 0).empty());
}

TEST(ContextStore, CheckFindsDamage) {
  TempDir dir;
  const std::string db = dir / "index.db";
  Store store(db);
  set_model(store);
  store.replace_file("/r", "/r/a", 1, 1, "h", "text", {new_chunk(0, "fine chunk")});
  store.replace_file("/r", "/r/empty", 1, 1, "h", "text", {});  // an empty text: indexed without chunks is fine
  EXPECT_EQ(store.check(), "");

  RawDb raw(db);
  raw.exec("INSERT INTO chunks(file_id, ordinal, line_begin, line_end, byte_begin, byte_end, title, text, hash, vector) "
           "VALUES (1, 1, 0, 0, 0, 0, '', 'short vector', 'x', x'0000803f')");
  std::string report = store.check();
  EXPECT_NE(report.find("not 4 floats"), std::string::npos) << report;
  EXPECT_EQ(error_kind_of([&] { store.for_each_vector({}, [](int64_t, const float*) {}); }), ErrorKind::kCorruptData);
  EXPECT_EQ(error_kind_of([&] { store.chunks({store.max_chunk_id()}, true); }), ErrorKind::kCorruptData);
  EXPECT_EQ(error_kind_of([&] { store.changes_since(0, 0); }), ErrorKind::kCorruptData);
  raw.exec("DELETE FROM chunks WHERE text = 'short vector'");
  EXPECT_EQ(store.check(), "");

  raw.exec("INSERT INTO chunks(file_id, ordinal, line_begin, line_end, byte_begin, byte_end, title, text, hash, vector) "
           "VALUES (999, 0, 0, 0, 0, 0, '', 'orphan', 'y', zeroblob(16))");
  report = store.check();
  EXPECT_NE(report.find("belong to no file"), std::string::npos) << report;
  raw.exec("DELETE FROM chunks WHERE file_id = 999");
  EXPECT_EQ(store.check(), "");

  raw.exec("UPDATE files SET state = 'skipped' WHERE path = '/r/a'");
  report = store.check();
  EXPECT_NE(report.find("skipped or failed files still have chunks"), std::string::npos) << report;
  raw.exec("UPDATE files SET state = 'indexed' WHERE path = '/r/a'");

  // The full-text index out of step with the chunks (a write that bypassed the triggers).
  raw.exec("DROP TRIGGER chunks_retitled; UPDATE chunks SET text = 'something else entirely'");
  report = store.check();
  EXPECT_NE(report.find("full-text index"), std::string::npos) << report;
}

// One process writes files in a loop and is killed (SIGKILL) mid-way: every commit it reported survives, and
// the database is consistent (no file without its chunks, FTS in step).
TEST(ContextStore, SurvivesKillNine) {
  TempDir dir;
  const std::string db = dir / "index.db";
  { Store store(db); set_model(store); }
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    try {
      Store store(db);
      for (int i = 0;; ++i) {
        std::vector<ChunkWrite> chunks;
        for (int c = 0; c < 20; ++c) chunks.push_back(new_chunk(c, "file " + std::to_string(i) + " chunk text words"));
        store.replace_file("/r", "/r/f" + std::to_string(i), i, 1, "h", "text", chunks);
        if (::write(report[1], &i, sizeof(i)) != sizeof(i)) break;
      }
    } catch (...) {
    }
    ::_exit(0);
  }
  ::close(report[1]);
  int committed = -1;
  for (int n = 0; n < 30; ++n) ASSERT_EQ(::read(report[0], &committed, sizeof(committed)), ssize_t(sizeof(committed)));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  int last = committed;
  while (::read(report[0], &last, sizeof(last)) == ssize_t(sizeof(last))) {
  }
  ::close(report[0]);
  EXPECT_TRUE(WIFSIGNALED(status));

  Store store(db);
  EXPECT_EQ(store.check(), "");
  for (int i = 0; i <= last; ++i) {
    const auto f = store.file("/r/f" + std::to_string(i));
    ASSERT_TRUE(f.has_value()) << i;
    EXPECT_EQ(f->chunks, 20) << i;
  }
  for (const auto& f : store.files()) EXPECT_EQ(f.chunks, 20) << f.path;  // one more may have made it, whole
  EXPECT_EQ(store.bm25({"words"}, 1000).size(), size_t(store.counts().chunks));
}

// Not a timed assertion: prints how long BM25 takes over 100k chunks (the size a large notes-and-code folder
// reaches), unfiltered and filtered, for a common and a rare word.
TEST(ContextStore, Bm25At100kChunks) {
  TempDir dir;
  Store store(dir / "index.db");
  set_model(store, 4);
  std::mt19937 rng(42);
  std::vector<std::string> words;
  for (int i = 0; i < 20000; ++i) {
    std::string w;
    for (int n = 3 + int(rng() % 6); n > 0; --n) w += char('a' + rng() % 26);
    words.push_back(w);
  }
  // Zipf-like: word i drawn with probability ~ 1/(i+1).
  std::vector<double> weights;
  for (size_t i = 0; i < words.size(); ++i) weights.push_back(1.0 / double(i + 1));
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  const auto start = std::chrono::steady_clock::now();
  constexpr int kFiles = 2000, kChunksPerFile = 50;
  for (int f = 0; f < kFiles; ++f) {
    std::vector<ChunkWrite> chunks;
    for (int c = 0; c < kChunksPerFile; ++c) {
      std::string text;
      for (int w = 0; w < 30; ++w) text += words[pick(rng)] + ' ';
      chunks.push_back(new_chunk(c, text, words[pick(rng)], vec(1, 0, 0, 0)));
    }
    store.replace_file("/r", fmt::format("/r/{}/{}.txt", f % 2 ? "docs" : "src", f), f, 1, "h", "text", chunks);
  }
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(store.counts().chunks, kFiles * kChunksPerFile);

  const auto time_ms = [&](const std::vector<std::string>& terms, const SearchFilter& filter, size_t* hits) {
    const auto t0 = std::chrono::steady_clock::now();
    constexpr int kRepeats = 5;
    for (int i = 0; i < kRepeats; ++i) *hits = store.bm25(terms, 20, filter).size();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / kRepeats;
  };
  size_t hits = 0;
  std::printf("[ bm25 100k ] %d chunks written in %.1f s\n", kFiles * kChunksPerFile, build_s);
  for (const auto& [label, terms] : std::vector<std::pair<const char*, std::vector<std::string>>>{
           {"common word", {words[0]}},
           {"two common words", {words[0], words[1]}},
           {"middling word", {words[30]}},
           {"rare word", {words[3000]}},
           {"common + rare", {words[0], words[1], words[3000]}}}) {
    const double plain = time_ms(terms, {}, &hits);
    EXPECT_EQ(hits, 20u) << label;
    const double glob = time_ms(terms, {"/r/docs/*", 0}, &hits);
    const double recent = time_ms(terms, {"", kFiles - 10}, &hits);
    std::printf("[ bm25 100k ] %-17s %7.2f ms unfiltered, %7.2f ms glob, %7.2f ms mtime\n", label, plain, glob,
                recent);
  }
  // The common words (in most chunks) add nothing to the ranking of chunks with the rare one.
  const auto rare = store.bm25({words[3000]}, 20), mixed = store.bm25({words[0], words[3000], words[1]}, 20);
  ASSERT_EQ(rare.size(), 20u);
  const auto sorted = [](std::vector<int64_t> ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  EXPECT_EQ(sorted(ids_of(rare)), sorted(ids_of(mixed)));
  EXPECT_EQ(store.check(), "");
}

}  // namespace
}  // namespace hearth::context
