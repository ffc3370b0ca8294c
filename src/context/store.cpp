#include "context/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <ctime>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "context/ignore.h"
#include "core/error.h"
#include "core/sha256.h"

namespace hearth::context {
namespace {

// PRAGMA user_version: the schema below. A database with a larger one was written by a newer hearth.
constexpr int kSchemaVersion = 1;
// PRAGMA application_id: "HRTH". Tells a hearth index from any other SQLite database.
constexpr int32_t kApplicationId = 0x48525448;

// The FTS5 table indexes the chunks' own rows (external content, content_rowid = chunks.id), so the text is
// stored once; triggers keep it in step inside whatever transaction changes a chunk.
//
// Tokenizer: porter over unicode61 (case folded, diacritics removed). Stemming makes "indexing", "indexed" and
// "indexes" one term, which lifts keyword recall for English prose and comments; words of other languages pass
// through mostly unchanged, so it costs them little. Query words go through the same tokenizer, so matching
// stays symmetric.
//
// The chunk delete trigger also logs the id: a vector index saved earlier removes exactly those (changes_since).
// Foreign-key cascades fire it too, so a file deleted with its chunks logs them all.
constexpr const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
CREATE TABLE roots(path TEXT PRIMARY KEY NOT NULL, options TEXT NOT NULL);
CREATE TABLE files(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  root TEXT NOT NULL,
  mtime_ns INTEGER NOT NULL,
  size INTEGER NOT NULL,
  hash TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL CHECK (state IN ('pending', 'indexed', 'skipped', 'failed')),
  format TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  indexed_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX files_by_root ON files(root);
CREATE TABLE chunks(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  line_begin INTEGER NOT NULL,
  line_end INTEGER NOT NULL,
  byte_begin INTEGER NOT NULL,
  byte_end INTEGER NOT NULL,
  title TEXT NOT NULL,
  text TEXT NOT NULL,
  hash TEXT NOT NULL,
  vector BLOB NOT NULL);
CREATE INDEX chunks_by_file ON chunks(file_id, ordinal);
CREATE INDEX chunks_by_hash ON chunks(hash);
CREATE TABLE deletions(seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id INTEGER NOT NULL);
CREATE VIRTUAL TABLE chunks_fts USING fts5(title, text, content='chunks', content_rowid='id',
                                           tokenize='porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, row);
CREATE TRIGGER chunks_inserted AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
END;
CREATE TRIGGER chunks_deleted AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
  INSERT INTO deletions(chunk_id) VALUES (old.id);
END;
CREATE TRIGGER chunks_retitled AFTER UPDATE OF title, text ON chunks
    WHEN old.title IS NOT new.title OR old.text IS NOT new.text BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
  INSERT INTO chunks_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
END;
)sql";

// BM25 column weights (title, text): a term in a chunk's title (its heading, or the symbol it defines) says what
// the chunk is about more surely than one in its body; twice the weight lifts such chunks without letting a
// title-only mention beat a body that is mostly about the term.
#define HEARTH_BM25 "bm25(chunks_fts, 2.0, 1.0)"

// Below this many chunks every query term is scored (see bm25()): scoring all matches then costs well under a
// millisecond, and "in more than half the chunks" says little about a word in a small index.
constexpr int64_t kCommonTermMinChunks = 1000;

ErrorKind sqlite_kind(sqlite3* db, int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return ErrorKind::kCorruptData;
    case SQLITE_FULL:
    case SQLITE_NOMEM: return ErrorKind::kResourceExhausted;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ErrorKind::kBusy;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
    case SQLITE_READONLY: return db && sqlite3_system_errno(db) ? errno_kind(sqlite3_system_errno(db))
                                                               : ErrorKind::kInvalidArgument;
    default: return ErrorKind::kInvalidArgument;
  }
}

[[noreturn]] void sql_fail(sqlite3* db, int rc, const std::string& path, std::string_view doing) {
  const char* why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  fail(sqlite_kind(db, rc), "index database '{}': {}: {}", path, doing, why);
}

void exec(sqlite3* db, const std::string& path, const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return;
  const std::string why = message ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  fail(sqlite_kind(db, rc), "index database '{}': {}", path, why);
}

// One run of a cached statement: bindings in, rows out; reset (and unbound) when it goes, so the next use of the
// statement starts clean even after an exception.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt, const std::string& path) : db_(db), stmt_(stmt), path_(path) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int index, int64_t value) { return check_bind(sqlite3_bind_int64(stmt_, index, value)); }
  Query& bind(int index, std::string_view text) {
    return check_bind(sqlite3_bind_text64(stmt_, index, text.data() ? text.data() : "", text.size(),
                                          SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Query& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  Query& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Query& bind_pointer(int index, void* pointer, const char* type) {
    return check_bind(sqlite3_bind_pointer(stmt_, index, pointer, type, nullptr));
  }
  // The bytes must stay put until the statement has run.
  Query& bind_blob(int index, const void* data, size_t size) {
    return check_bind(sqlite3_bind_blob64(stmt_, index, size ? data : "", size, SQLITE_STATIC));
  }

  // True with a row to read; false when done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sql_fail(db_, rc, path_, sqlite3_sql(stmt_));
  }
  void run() {
    while (step()) {
    }
  }

  int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  double real(int column) const { return sqlite3_column_double(stmt_, column); }
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string text(int column) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return p ? std::string(p, size_t(sqlite3_column_bytes(stmt_, column))) : std::string();
  }
  std::string_view blob(int column) const {
    const void* p = sqlite3_column_blob(stmt_, column);
    const int n = sqlite3_column_bytes(stmt_, column);  // after column_blob, as SQLite asks
    return p ? std::string_view(static_cast<const char*>(p), size_t(n)) : std::string_view();
  }

 private:
  Query& check_bind(int rc) {
    if (rc != SQLITE_OK) sql_fail(db_, rc, path_, "binding a parameter");
    return *this;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  const std::string& path_;
};

// BEGIN IMMEDIATE … COMMIT; rolled back when it goes uncommitted (an exception). Immediate takes the write lock
// up front, so two writers queue on the busy timeout instead of one failing at its first write.
class Transaction {
 public:
  enum Kind { kWrite, kRead };
  Transaction(sqlite3* db, const std::string& path, Kind kind = kWrite) : db_(db), path_(path) {
    exec(db_, path_, kind == kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  ~Transaction() {
    // SQLite may have rolled back already (some I/O and memory errors do); then there is nothing to undo.
    if (!committed_ && !sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    exec(db_, path_, "COMMIT");
    committed_ = true;
  }

 private:
  sqlite3* db_;
  const std::string& path_;
  bool committed_ = false;
};

// Vectors are stored as float32 little-endian, whatever the host.
std::string_view vector_bytes(const std::vector<float>& vector, std::string& scratch) {
  if constexpr (std::endian::native == std::endian::little) {
    return {reinterpret_cast<const char*>(vector.data()), vector.size() * sizeof(float)};
  } else {
    scratch.resize(vector.size() * sizeof(float));
    for (size_t i = 0; i < vector.size(); ++i) {
      const uint32_t bits = std::bit_cast<uint32_t>(vector[i]);
      for (int b = 0; b < 4; ++b) scratch[4 * i + size_t(b)] = char(bits >> (8 * b));
    }
    return scratch;
  }
}

// A stored vector into `out` (dim floats). A blob of another size is damage from outside (replace_file never
// writes one), and handing it on would read past its end: Error kCorruptData.
void decode_vector(std::string_view blob, int dim, int64_t chunk_id, const std::string& path,
                   std::vector<float>& out) {
  if (blob.size() != size_t(dim) * sizeof(float))
    fail(ErrorKind::kCorruptData,
         "index database '{}': chunk {} has a vector of {} bytes where the model's {} dimensions need {} "
         "(run `hearth index check`)",
         path, chunk_id, blob.size(), dim, size_t(dim) * sizeof(float));
  out.resize(size_t(dim));
  if (dim > 0) std::memcpy(out.data(), blob.data(), blob.size());
  if constexpr (std::endian::native == std::endian::big) {
    for (float& f : out) {
      uint32_t bits = std::bit_cast<uint32_t>(f), swapped = 0;
      for (int b = 0; b < 4; ++b) swapped |= ((bits >> (8 * b)) & 0xff) << (24 - 8 * b);
      f = std::bit_cast<float>(swapped);
    }
  }
}

FileState parse_state(const std::string& name) {
  if (name == "indexed") return FileState::kIndexed;
  if (name == "skipped") return FileState::kSkipped;
  if (name == "failed") return FileState::kFailed;
  return FileState::kPending;
}

// SQL: hearth_glob(pattern, path) — the filter's glob_match() (ignore.h), so a path filter runs inside the query.
void sql_glob(sqlite3_context* context, int, sqlite3_value** args) {
  const auto* pattern = reinterpret_cast<const char*>(sqlite3_value_text(args[0]));
  const int pattern_bytes = sqlite3_value_bytes(args[0]);
  const auto* path = reinterpret_cast<const char*>(sqlite3_value_text(args[1]));
  const int path_bytes = sqlite3_value_bytes(args[1]);
  if (!pattern || !path) {
    sqlite3_result_int(context, 0);
    return;
  }
  try {
    sqlite3_result_int(context, glob_match(std::string_view(pattern, size_t(pattern_bytes)),
                                           std::string_view(path, size_t(path_bytes))));
  } catch (const std::exception& e) {
    sqlite3_result_error(context, e.what(), -1);
  }
}

// The file's columns, in the order read_file_record() reads them.
constexpr const char* kFileColumns =
    "f.id, f.path, f.root, f.mtime_ns, f.size, f.hash, f.state, f.format, f.error, f.indexed_at, "
    "(SELECT count(*) FROM chunks c WHERE c.file_id = f.id)";

FileRecord read_file_record(const Query& q) {
  FileRecord r;
  r.id = q.int64(0);
  r.path = q.text(1);
  r.root = q.text(2);
  r.mtime_ns = q.int64(3);
  r.size = q.int64(4);
  r.hash = q.text(5);
  r.state = parse_state(q.text(6));
  r.format = q.text(7);
  r.error = q.text(8);
  r.indexed_at = q.int64(9);
  r.chunks = q.int64(10);
  return r;
}

// The chunk's columns, in the order read_chunk_record() reads them; the vector last.
#define HEARTH_CHUNK_COLUMNS                                                                              \
  "c.id, c.file_id, f.path, f.mtime_ns, c.ordinal, c.line_begin, c.line_end, c.byte_begin, c.byte_end, " \
  "c.title, c.text, c.hash, c.vector"

ChunkRecord read_chunk_record(const Query& q) {
  ChunkRecord r;
  r.id = q.int64(0);
  r.file_id = q.int64(1);
  r.path = q.text(2);
  r.mtime_ns = q.int64(3);
  r.ordinal = int(q.int64(4));
  r.line_begin = uint32_t(q.int64(5));
  r.line_end = uint32_t(q.int64(6));
  r.byte_begin = uint64_t(q.int64(7));
  r.byte_end = uint64_t(q.int64(8));
  r.title = q.text(9);
  r.text = q.text(10);
  r.hash = q.text(11);
  return r;
}

std::string_view trim_ascii(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Each word as an FTS5 quoted string (a quote inside doubled), so nothing a user types — AND, NEAR(, *, ^, -,
// column filters — is read as FTS5 syntax. Empty and blank words are left out.
std::vector<std::string> quoted_words(const std::vector<std::string>& terms) {
  std::vector<std::string> quoted;
  for (const std::string& term : terms) {
    const std::string_view word = trim_ascii(term);
    if (word.empty()) continue;
    std::string q = "\"";
    for (char c : word) {
      if (c == '\0') continue;  // FTS5 reads a query as a C string
      q += c;
      if (c == '"') q += '"';
    }
    quoted.push_back(q + '"');
  }
  return quoted;
}

std::string join_or(const std::vector<std::string>& quoted) {
  std::string expression;
  for (const std::string& q : quoted) expression += (expression.empty() ? "" : " OR ") + q;
  return expression;
}

int64_t unix_now() { return int64_t(std::time(nullptr)); }

}  // namespace

std::string_view file_state_name(FileState state) {
  switch (state) {
    case FileState::kPending: return "pending";
    case FileState::kIndexed: return "indexed";
    case FileState::kSkipped: return "skipped";
    case FileState::kFailed: return "failed";
  }
  return "pending";
}

std::string content_hash(std::string_view bytes) { return sha256_hex(bytes); }

struct Store::Statements {
  std::unordered_map<std::string, sqlite3_stmt*> by_sql;
  fts5_api* fts5 = nullptr;  // found once: the tokenizers vocabulary() normalizes with
};

Store::Store(const std::string& db_path) : path_(db_path), statements_(std::make_unique<Statements>()) {
  try {
    // One connection per Store, used by one thread at a time (the header's contract): no SQLite mutex needed.
    const int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
    if (rc != SQLITE_OK) sql_fail(db_, rc, path_, "cannot open");
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
    const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    if (const int frc = sqlite3_create_function_v2(db_, "hearth_glob", 2, flags, nullptr, sql_glob, nullptr,
                                                   nullptr, nullptr);
        frc != SQLITE_OK)
      sql_fail(db_, frc, path_, "registering hearth_glob");
    exec(db_, path_, "PRAGMA foreign_keys = ON");

    // What the file holds, read before anything is written to it: another program's database is left as it is.
    // A file that is not SQLite at all fails here (SQLITE_NOTADB: kCorruptData).
    struct Header {
      int64_t application_id = 0, user_version = 0, objects = 0;
    };
    const auto read_header = [&] {
      Header h;
      Query a(db_, statement("PRAGMA application_id"), path_);
      if (a.step()) h.application_id = a.int64(0);
      Query v(db_, statement("PRAGMA user_version"), path_);
      if (v.step()) h.user_version = v.int64(0);
      Query o(db_, statement("SELECT count(*) FROM sqlite_schema"), path_);
      if (o.step()) h.objects = o.int64(0);
      return h;
    };
    const auto verify = [&](const Header& h) {
      if (h.application_id != kApplicationId)
        fail(ErrorKind::kCorruptData, "'{}' is not a hearth index database (another program's SQLite file)",
             path_);
      if (h.user_version > kSchemaVersion)
        fail(ErrorKind::kCorruptData,
             "index database '{}' has schema version {}, newer than this hearth's {}: upgrade hearth", path_,
             h.user_version, kSchemaVersion);
      if (h.user_version < 1)
        fail(ErrorKind::kCorruptData, "index database '{}' has no schema version: it is damaged", path_);
    };
    const auto is_new = [](const Header& h) { return h.application_id == 0 && h.user_version == 0 && h.objects == 0; };

    Header header = read_header();
    if (!is_new(header)) verify(header);

    // WAL: readers never block the writer nor each other, and a commit is one append to the log. With
    // synchronous=NORMAL the log is not fsynced at each commit, only at checkpoints: a power loss may lose the
    // last commits (the database stays consistent, rolled back to an earlier commit), but a killed process loses
    // nothing that was committed, since its writes are in the OS's cache already. That is the failure this index
    // meets (kill -9, a crash), and the index is derived data that a rescan restores anyway.
    exec(db_, path_, "PRAGMA journal_mode = WAL");
    exec(db_, path_, "PRAGMA synchronous = NORMAL");

    if (is_new(header)) {
      Transaction tx(db_, path_);
      header = read_header();  // another process may have created it while this one waited for the lock
      if (is_new(header)) {
        exec(db_, path_, kSchema);
        exec(db_, path_, fmt::format("PRAGMA application_id = {}", kApplicationId).c_str());
        exec(db_, path_, fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str());
      } else {
        verify(header);
      }
      tx.commit();
    }
  } catch (...) {
    close();
    throw;
  }
}

Store::~Store() { close(); }

void Store::close() noexcept {
  for (auto& [sql, stmt] : statements_->by_sql) sqlite3_finalize(stmt);
  statements_->by_sql.clear();
  if (db_) sqlite3_close(db_);
  db_ = nullptr;
}

sqlite3_stmt* Store::statement(const char* sql) {
  auto it = statements_->by_sql.find(sql);
  if (it != statements_->by_sql.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) sql_fail(db_, rc, path_, sql);
  HEARTH_ASSERT(stmt != nullptr);  // only an empty statement prepares to null
  statements_->by_sql.emplace(sql, stmt);
  return stmt;
}

std::optional<EmbeddingModelInfo> Store::embedding_model() {
  Query q(db_, statement("SELECT key, value FROM meta WHERE key IN ('model_name', 'model_fingerprint', 'model_dim')"),
          path_);
  EmbeddingModelInfo model;
  bool has_dim = false;
  while (q.step()) {
    const std::string key = q.text(0), value = q.text(1);
    if (key == "model_name") {
      model.name = value;
    } else if (key == "model_fingerprint") {
      model.fingerprint = value;
    } else {
      try {
        model.dim = std::stoi(value);
      } catch (const std::exception&) {
        model.dim = 0;
      }
      if (model.dim <= 0)
        fail(ErrorKind::kCorruptData, "index database '{}': the embedding dimension '{}' is not a number", path_,
             value);
      has_dim = true;
    }
  }
  if (!has_dim) return std::nullopt;
  return model;
}

int Store::dim_or_fail() {
  const auto model = embedding_model();
  if (!model) fail("index database '{}': no embedding model is set, so chunks cannot be stored", path_);
  return model->dim;
}

void Store::set_embedding_model(const EmbeddingModelInfo& model) {
  if (model.dim <= 0) fail("embedding model '{}': dimension {} is not positive", model.name, model.dim);
  Transaction tx(db_, path_);
  const auto old = embedding_model();
  if (old && old->dim != model.dim) {
    Query q(db_, statement("SELECT EXISTS (SELECT 1 FROM chunks)"), path_);
    if (q.step() && q.int64(0))
      fail("index database '{}' holds {}-dimensional vectors of '{}': it cannot switch to '{}' ({} dimensions) "
           "while it has chunks",
           path_, old->dim, old->name, model.name, model.dim);
  }
  const std::pair<const char*, std::string> entries[] = {
      {"model_name", model.name}, {"model_fingerprint", model.fingerprint}, {"model_dim", std::to_string(model.dim)}};
  for (const auto& [key, value] : entries) {
    Query q(db_, statement("INSERT INTO meta(key, value) VALUES (?1, ?2) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
            path_);
    q.bind(1, key).bind(2, value).run();
  }
  tx.commit();
}

std::vector<std::pair<std::string, std::string>> Store::roots() {
  Query q(db_, statement("SELECT path, options FROM roots ORDER BY path"), path_);
  std::vector<std::pair<std::string, std::string>> out;
  while (q.step()) out.emplace_back(q.text(0), q.text(1));
  return out;
}

void Store::add_root(const std::string& root, const std::string& options_json) {
  Transaction tx(db_, path_);
  Query q(db_, statement("INSERT INTO roots(path, options) VALUES (?1, ?2) "
                         "ON CONFLICT(path) DO UPDATE SET options = excluded.options"),
          path_);
  q.bind(1, root).bind(2, options_json).run();
  tx.commit();
}

void Store::remove_root(const std::string& root) {
  Transaction tx(db_, path_);
  {
    Query q(db_, statement("DELETE FROM files WHERE root = ?1"), path_);
    q.bind(1, root).run();
  }
  {
    Query q(db_, statement("DELETE FROM roots WHERE path = ?1"), path_);
    q.bind(1, root).run();
  }
  tx.commit();
}

std::optional<FileRecord> Store::file(const std::string& path) {
  static const std::string sql = fmt::format("SELECT {} FROM files f WHERE f.path = ?1", kFileColumns);
  Query q(db_, statement(sql.c_str()), path_);
  q.bind(1, path);
  if (!q.step()) return std::nullopt;
  return read_file_record(q);
}

std::vector<FileRecord> Store::files(const std::string& root) {
  static const std::string all = fmt::format("SELECT {} FROM files f ORDER BY f.path", kFileColumns);
  static const std::string of_root =
      fmt::format("SELECT {} FROM files f WHERE f.root = ?1 ORDER BY f.path", kFileColumns);
  Query q(db_, statement(root.empty() ? all.c_str() : of_root.c_str()), path_);
  if (!root.empty()) q.bind(1, root);
  std::vector<FileRecord> out;
  while (q.step()) out.push_back(read_file_record(q));
  return out;
}

IndexCounts Store::counts() {
  IndexCounts counts;
  Transaction tx(db_, path_, Transaction::kRead);  // files and chunks from one snapshot
  {
    Query q(db_, statement("SELECT state, count(*) FROM files GROUP BY state"), path_);
    while (q.step()) {
      const int64_t n = q.int64(1);
      counts.files += n;
      switch (parse_state(q.text(0))) {
        case FileState::kPending: counts.pending += n; break;
        case FileState::kIndexed: counts.indexed += n; break;
        case FileState::kSkipped: counts.skipped += n; break;
        case FileState::kFailed: counts.failed += n; break;
      }
    }
  }
  {
    Query q(db_, statement("SELECT count(*) FROM chunks"), path_);
    if (q.step()) counts.chunks = q.int64(0);
  }
  tx.commit();
  return counts;
}

void Store::mark_pending(const std::string& root, const std::string& path, int64_t mtime_ns, int64_t size) {
  Transaction tx(db_, path_);
  Query q(db_, statement(R"sql(
      INSERT INTO files(path, root, mtime_ns, size, state) VALUES (?1, ?2, ?3, ?4, 'pending')
      ON CONFLICT(path) DO UPDATE SET root = excluded.root, mtime_ns = excluded.mtime_ns, size = excluded.size,
        hash = CASE WHEN state IN ('indexed', 'pending') THEN hash ELSE '' END, state = 'pending', error = '')sql"),
          path_);
  q.bind(1, path).bind(2, root).bind(3, mtime_ns).bind(4, size).run();
  tx.commit();
}

void Store::set_file_state(const std::string& root, const std::string& path, int64_t mtime_ns, int64_t size,
                           const std::string& hash, FileState state, const std::string& error) {
  HEARTH_ASSERT(state == FileState::kSkipped || state == FileState::kFailed);
  Transaction tx(db_, path_);
  int64_t file_id = 0;
  {
    Query q(db_, statement(R"sql(
        INSERT INTO files(path, root, mtime_ns, size, hash, state, format, error, indexed_at)
          VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7, ?8)
        ON CONFLICT(path) DO UPDATE SET root = excluded.root, mtime_ns = excluded.mtime_ns, size = excluded.size,
          hash = excluded.hash, state = excluded.state, format = '', error = excluded.error,
          indexed_at = excluded.indexed_at
        RETURNING id)sql"),
            path_);
    q.bind(1, path).bind(2, root).bind(3, mtime_ns).bind(4, size).bind(5, hash).bind(6, file_state_name(state));
    q.bind(7, error).bind(8, unix_now());
    HEARTH_ASSERT(q.step());
    file_id = q.int64(0);
    q.run();
  }
  {
    Query q(db_, statement("DELETE FROM chunks WHERE file_id = ?1"), path_);
    q.bind(1, file_id).run();
  }
  tx.commit();
}

void Store::touch_file(const std::string& path, int64_t mtime_ns, int64_t size) {
  Transaction tx(db_, path_);
  {
    Query q(db_, statement(R"sql(
        UPDATE files SET mtime_ns = ?2, size = ?3,
          state = CASE WHEN state = 'pending' AND hash <> '' THEN 'indexed' ELSE state END
        WHERE path = ?1)sql"),
            path_);
    q.bind(1, path).bind(2, mtime_ns).bind(3, size).run();
  }
  if (sqlite3_changes(db_) == 0) fail(ErrorKind::kNotFound, "index database '{}' has no file '{}'", path_, path);
  tx.commit();
}

void Store::replace_file(const std::string& root, const std::string& path, int64_t mtime_ns, int64_t size,
                         const std::string& hash, const std::string& format, const std::vector<ChunkWrite>& chunks) {
  Transaction tx(db_, path_);
  const int dim = dim_or_fail();
  int64_t file_id = 0;
  {
    Query q(db_, statement(R"sql(
        INSERT INTO files(path, root, mtime_ns, size, hash, state, format, error, indexed_at)
          VALUES (?1, ?2, ?3, ?4, ?5, 'indexed', ?6, '', ?7)
        ON CONFLICT(path) DO UPDATE SET root = excluded.root, mtime_ns = excluded.mtime_ns, size = excluded.size,
          hash = excluded.hash, state = 'indexed', format = excluded.format, error = '',
          indexed_at = excluded.indexed_at
        RETURNING id)sql"),
            path_);
    q.bind(1, path).bind(2, root).bind(3, mtime_ns).bind(4, size).bind(5, hash).bind(6, format).bind(7, unix_now());
    HEARTH_ASSERT(q.step());
    file_id = q.int64(0);
    q.run();
  }

  std::unordered_set<int64_t> existing, kept;
  {
    Query q(db_, statement("SELECT id FROM chunks WHERE file_id = ?1"), path_);
    q.bind(1, file_id);
    while (q.step()) existing.insert(q.int64(0));
  }
  for (const ChunkWrite& write : chunks) {
    if (write.keep_id <= 0) continue;
    if (!existing.count(write.keep_id))
      fail("index database '{}': chunk {} cannot be kept for '{}': it is not one of that file's chunks", path_,
           write.keep_id, path);
    if (!kept.insert(write.keep_id).second)
      fail("index database '{}': chunk {} of '{}' is kept twice", path_, write.keep_id, path);
  }
  for (int64_t id : existing) {
    if (kept.count(id)) continue;
    Query q(db_, statement("DELETE FROM chunks WHERE id = ?1"), path_);
    q.bind(1, id).run();
  }

  std::string scratch;
  for (const ChunkWrite& write : chunks) {
    const ChunkRecord& c = write.chunk;
    if (write.keep_id > 0) {
      Query q(db_, statement(R"sql(
          UPDATE chunks SET ordinal = ?2, line_begin = ?3, line_end = ?4, byte_begin = ?5, byte_end = ?6, title = ?7
          WHERE id = ?1)sql"),
              path_);
      q.bind(1, write.keep_id).bind(2, int64_t(c.ordinal)).bind(3, int64_t(c.line_begin)).bind(4, int64_t(c.line_end));
      q.bind(5, int64_t(c.byte_begin)).bind(6, int64_t(c.byte_end)).bind(7, c.title).run();
      continue;
    }
    if (c.vector.size() != size_t(dim))
      fail("index database '{}': chunk {} of '{}' has a vector of {} floats; the embedding model's is {}", path_,
           c.ordinal, path, c.vector.size(), dim);
    const std::string_view bytes = vector_bytes(c.vector, scratch);
    Query q(db_, statement(R"sql(
        INSERT INTO chunks(file_id, ordinal, line_begin, line_end, byte_begin, byte_end, title, text, hash, vector)
          VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10))sql"),
            path_);
    q.bind(1, file_id).bind(2, int64_t(c.ordinal)).bind(3, int64_t(c.line_begin)).bind(4, int64_t(c.line_end));
    q.bind(5, int64_t(c.byte_begin)).bind(6, int64_t(c.byte_end)).bind(7, c.title).bind(8, c.text).bind(9, c.hash);
    q.bind_blob(10, bytes.data(), bytes.size()).run();
  }
  tx.commit();
}

int64_t Store::remove_path(const std::string& path) {
  // The file itself, or everything below the folder: paths in [path + "/", path + "0") — '0' follows '/' in
  // byte order — which the unique index on path answers as a range, and which leaves a sibling "path-x" alone.
  if (path.empty()) return 0;
  std::string folder = path;
  while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
  const std::string exact = folder;
  if (folder.back() != '/') folder += '/';
  std::string past_folder = folder;
  past_folder.back() = '0';
  Transaction tx(db_, path_);
  int64_t removed = 0;
  {
    Query q(db_, statement("DELETE FROM files WHERE path = ?1 OR (path >= ?2 AND path < ?3)"), path_);
    q.bind(1, exact).bind(2, folder).bind(3, past_folder).run();
    removed = sqlite3_changes64(db_);  // the files only: cascaded and triggered rows are not counted
  }
  tx.commit();
  return removed;
}

std::vector<ChunkRecord> Store::file_chunks(int64_t file_id) {
  Query q(db_, statement("SELECT " HEARTH_CHUNK_COLUMNS " FROM chunks c JOIN files f ON f.id = c.file_id "
                         "WHERE c.file_id = ?1 ORDER BY c.ordinal, c.id"),
          path_);
  q.bind(1, file_id);
  std::vector<ChunkRecord> out;
  while (q.step()) out.push_back(read_chunk_record(q));
  return out;
}

std::vector<std::pair<std::string, std::vector<float>>> Store::vectors_by_hash(const std::vector<std::string>& hashes) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  if (hashes.empty()) return out;
  const auto model = embedding_model();
  if (!model) return out;  // no model, no chunks
  Transaction tx(db_, path_, Transaction::kRead);
  std::set<std::string> seen;
  for (const std::string& hash : hashes) {
    if (!seen.insert(hash).second) continue;
    Query q(db_, statement("SELECT id, vector FROM chunks WHERE hash = ?1 LIMIT 1"), path_);
    q.bind(1, hash);
    if (!q.step()) continue;
    std::vector<float> vector;
    decode_vector(q.blob(1), model->dim, q.int64(0), path_, vector);
    out.emplace_back(hash, std::move(vector));
  }
  tx.commit();
  return out;
}

std::vector<ChunkRecord> Store::chunks(const std::vector<int64_t>& ids, bool with_vectors) {
  std::vector<ChunkRecord> out;
  if (ids.empty()) return out;
  const int dim = with_vectors ? dim_or_fail() : 0;
  Transaction tx(db_, path_, Transaction::kRead);
  for (int64_t id : ids) {
    Query q(db_, statement("SELECT " HEARTH_CHUNK_COLUMNS " FROM chunks c JOIN files f ON f.id = c.file_id "
                           "WHERE c.id = ?1"),
            path_);
    q.bind(1, id);
    if (!q.step()) continue;
    ChunkRecord record = read_chunk_record(q);
    if (with_vectors) decode_vector(q.blob(12), dim, record.id, path_, record.vector);
    out.push_back(std::move(record));
  }
  tx.commit();
  return out;
}

void Store::for_each_vector(const SearchFilter& filter, const std::function<void(int64_t, const float*)>& fn) {
  const auto model = embedding_model();
  if (!model) return;
  Query q(db_,
          statement(filter.empty() ? "SELECT id, vector FROM chunks"
                                   : "SELECT c.id, c.vector FROM chunks c JOIN files f ON f.id = c.file_id "
                                     "WHERE (?1 = '' OR hearth_glob(?1, f.path)) AND f.mtime_ns >= ?2"),
          path_);
  if (!filter.empty()) q.bind(1, filter.path_glob).bind(2, filter.modified_since_ns);
  std::vector<float> vector;
  while (q.step()) {
    const int64_t id = q.int64(0);
    decode_vector(q.blob(1), model->dim, id, path_, vector);
    fn(id, vector.data());
  }
}

std::vector<ScoredChunk> Store::bm25(const std::vector<std::string>& terms, int k, const SearchFilter& filter) {
  std::vector<ScoredChunk> out;
  std::vector<std::string> words = quoted_words(terms);
  if (words.empty() || k <= 0) return out;

  // A word in more than half the chunks ("the", "return") adds nothing to FTS5's BM25: its IDF,
  // log((N - n + 0.5) / (n + 0.5)), is not positive and FTS5 floors it at 1e-6. Yet scoring its matches is most of
  // a query's time — every chunk — so it is left out when a more telling word remains. The ranking of chunks with
  // a telling word is unchanged; chunks with only the common word, which would trail them, are not returned.
  // Counting a word's matches reads its posting list only, a few percent of scoring them.
  if (words.size() > 1) {
    Transaction tx(db_, path_, Transaction::kRead);
    Query total(db_, statement("SELECT count(*) FROM chunks"), path_);
    const int64_t chunks = total.step() ? total.int64(0) : 0;
    if (chunks >= kCommonTermMinChunks) {
      std::vector<std::string> telling;
      for (const std::string& word : words) {
        Query matches(db_, statement("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?1"), path_);
        matches.bind(1, word);
        if (matches.step() && 2 * matches.int64(0) < chunks) telling.push_back(word);
      }
      if (!telling.empty()) words = std::move(telling);
    }
    tx.commit();
  }

  // ORDER BY bm25(...) LIMIT k, not ORDER BY rank: FTS5's rank order scores and sorts every match inside the
  // virtual table (SQLite 3.40: ~1.4x slower on 100k matches), while bm25() in ORDER BY lets SQLite keep a k-row
  // heap; and with filters, only the rows that pass them are scored.
  static const char* const unfiltered =
      "SELECT rowid, -" HEARTH_BM25 " FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY " HEARTH_BM25 " LIMIT ?2";
  static const char* const filtered =
      "SELECT chunks_fts.rowid, -" HEARTH_BM25 " FROM chunks_fts "
      "JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id "
      "WHERE chunks_fts MATCH ?1 AND (?3 = '' OR hearth_glob(?3, f.path)) AND f.mtime_ns >= ?4 "
      "ORDER BY " HEARTH_BM25 " LIMIT ?2";
  Query q(db_, statement(filter.empty() ? unfiltered : filtered), path_);
  q.bind(1, join_or(words)).bind(2, int64_t(k));
  if (!filter.empty()) q.bind(3, filter.path_glob).bind(4, filter.modified_since_ns);
  while (q.step()) out.push_back({q.int64(0), q.real(1)});
  return out;
}

namespace {

// Runs one of FTS5's own tokenizers over `text` (the one the index uses, or a part of it), so a word typed by a
// user is normalized exactly as the index's terms were.
std::vector<std::string> fts5_tokens(fts5_api* api, const char* name, std::vector<const char*> args,
                                     std::string_view text) {
  std::vector<std::string> tokens;
  void* context = nullptr;
  fts5_tokenizer tokenizer{};
  if (api->xFindTokenizer(api, name, &context, &tokenizer) != SQLITE_OK) return tokens;
  Fts5Tokenizer* instance = nullptr;
  if (tokenizer.xCreate(context, args.data(), int(args.size()), &instance) != SQLITE_OK) return tokens;
  const auto collect = [](void* out, int, const char* token, int bytes, int, int) {
    static_cast<std::vector<std::string>*>(out)->emplace_back(token, size_t(bytes));
    return SQLITE_OK;
  };
  tokenizer.xTokenize(instance, &tokens, FTS5_TOKENIZE_DOCUMENT, text.data(), int(text.size()), collect);
  tokenizer.xDelete(instance);
  return tokens;
}

}  // namespace

std::vector<std::pair<std::string, int64_t>> Store::vocabulary(const std::string& prefix, int limit) {
  std::vector<std::pair<std::string, int64_t>> out;
  if (limit <= 0 || prefix.size() > (1u << 16)) return out;
  if (!statements_->fts5) {
    Query q(db_, statement("SELECT fts5(?1)"), path_);
    q.bind_pointer(1, &statements_->fts5, "fts5_api_ptr").run();
    if (!statements_->fts5) fail(ErrorKind::kUnsupported, "this SQLite has no FTS5 (index database '{}')", path_);
  }
  const std::vector<std::string> words =
      fts5_tokens(statements_->fts5, "unicode61", {"remove_diacritics", "2"}, prefix);
  if (words.empty()) return out;
  const std::string& word = words.back();
  const std::vector<std::string> stems =
      fts5_tokens(statements_->fts5, "porter", {"unicode61", "remove_diacritics", "2"}, word);

  std::unordered_map<std::string, int64_t> found;
  {
    // Terms in [word, word + U+10FFFF): every term that starts with it (the vocabulary compares bytes).
    Query q(db_, statement("SELECT term, doc FROM chunks_vocab WHERE term >= ?1 AND term < ?2 "
                           "ORDER BY doc DESC, term LIMIT ?3"),
            path_);
    q.bind(1, word).bind(2, word + "\xF4\x8F\xBF\xBF").bind(3, int64_t(limit));
    while (q.step()) found.emplace(q.text(0), q.int64(1));
  }
  if (!stems.empty() && stems.front() != word) {
    Query q(db_, statement("SELECT term, doc FROM chunks_vocab WHERE term = ?1"), path_);
    q.bind(1, stems.front());
    while (q.step()) found.emplace(q.text(0), q.int64(1));
  }
  out.assign(found.begin(), found.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > size_t(limit)) out.resize(size_t(limit));
  return out;
}

ChangeSet Store::changes_since(int64_t since_chunk_id, int64_t since_deletion_seq) {
  ChangeSet changes;
  const auto model = embedding_model();
  Transaction tx(db_, path_, Transaction::kRead);
  changes.max_chunk_id = max_chunk_id();
  changes.deletion_seq = deletion_seq();
  {
    Query q(db_, statement("SELECT id, vector FROM chunks WHERE id > ?1 ORDER BY id"), path_);
    q.bind(1, since_chunk_id);
    while (q.step()) {
      const int64_t id = q.int64(0);
      if (!model) fail(ErrorKind::kCorruptData, "index database '{}' has chunks but no embedding model", path_);
      changes.added.emplace_back(id, std::vector<float>());
      decode_vector(q.blob(1), model->dim, id, path_, changes.added.back().second);
    }
  }
  {
    Query q(db_, statement("SELECT chunk_id FROM deletions WHERE seq > ?1 ORDER BY seq"), path_);
    q.bind(1, since_deletion_seq);
    while (q.step()) changes.removed.push_back(q.int64(0));
  }
  tx.commit();
  return changes;
}

void Store::prune_deletion_log(int64_t deletion_seq) {
  Transaction tx(db_, path_);
  Query q(db_, statement("DELETE FROM deletions WHERE seq <= ?1"), path_);
  q.bind(1, deletion_seq).run();
  tx.commit();
}

// AUTOINCREMENT's counters (sqlite_sequence), not max(id): they never go back when the newest rows are deleted
// or the deletion log is pruned, so a sync point taken from them stays valid.
int64_t Store::max_chunk_id() {
  Query q(db_, statement("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'"), path_);
  return q.step() ? q.int64(0) : 0;
}

int64_t Store::deletion_seq() {
  Query q(db_, statement("SELECT seq FROM sqlite_sequence WHERE name = 'deletions'"), path_);
  return q.step() ? q.int64(0) : 0;
}

std::string Store::check() {
  std::vector<std::string> problems;
  {
    Query q(db_, statement("PRAGMA integrity_check"), path_);
    while (q.step()) {
      const std::string line = q.text(0);
      if (line != "ok") problems.push_back("SQLite: " + line);
    }
  }
  {
    // The full-text index in itself and (rank = 1) against the chunks it is built from: a mismatch is
    // SQLITE_CORRUPT_VTAB. Without rank = 1 an external-content table's index is checked only in itself.
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)",
                                nullptr, nullptr, &message);
    if (rc != SQLITE_OK)
      problems.push_back(fmt::format("full-text index: {}", message ? message : sqlite3_errstr(rc)));
    sqlite3_free(message);
  }
  {
    Query q(db_, statement("SELECT count(*), min(id) FROM chunks WHERE file_id NOT IN (SELECT id FROM files)"),
            path_);
    if (q.step() && q.int64(0) > 0)
      problems.push_back(fmt::format("{} chunks belong to no file (the first is chunk {})", q.int64(0), q.int64(1)));
  }
  {
    // Indexed files may have no chunks (an empty text); skipped and failed ones must have none.
    Query q(db_, statement("SELECT count(*), min(f.path) FROM files f WHERE f.state IN ('skipped', 'failed') "
                           "AND EXISTS (SELECT 1 FROM chunks c WHERE c.file_id = f.id)"),
            path_);
    if (q.step() && q.int64(0) > 0)
      problems.push_back(
          fmt::format("{} skipped or failed files still have chunks (the first is '{}')", q.int64(0), q.text(1)));
  }
  const auto model = embedding_model();
  {
    Query q(db_, statement("SELECT count(*), min(id) FROM chunks WHERE length(vector) <> ?1"), path_);
    q.bind(1, model ? int64_t(model->dim) * int64_t(sizeof(float)) : int64_t(-1));
    if (q.step() && q.int64(0) > 0) {
      if (model)
        problems.push_back(fmt::format("{} chunks have a vector that is not {} floats (the first is chunk {})",
                                       q.int64(0), model->dim, q.int64(1)));
      else
        problems.push_back(fmt::format("{} chunks have vectors but no embedding model is recorded", q.int64(0)));
    }
  }
  std::string report;
  for (const std::string& p : problems) report += (report.empty() ? "" : "\n") + p;
  return report;
}

}  // namespace hearth::context
