// The persistent part of an index: one SQLite database (WAL journal) holding the indexed roots, every file seen,
// every chunk with its text, position and embedding, an FTS5 table over the chunks for BM25, and the index's
// metadata (embedding model and dimension). SQLite is the truth; the vector index (vector_index.h) is derived
// from it and can always be rebuilt from it.
//
// Crash safety comes from transactions: each mutation below is one transaction, so a kill -9 leaves the
// database as it was before or after it — never a file without its chunks, a chunk without its file, or FTS rows
// out of step with the chunks (FTS5 is kept in step by triggers inside the same transaction).
//
// Chunk ids only grow (AUTOINCREMENT: an id is never reused) and each chunk deletion is logged with a growing
// sequence number, so a vector index saved at (max chunk id, deletion seq) = (I, D) is brought up to date by
// adding chunks with id > I and removing those logged after D (changes_since()).
//
// Thread-safety: a Store is one connection; use it from one thread at a time (the caller locks). Several
// processes may open one database (SQLite's locking; a busy database is waited on for up to 5 s).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace hearth::context {

struct EmbeddingModelInfo {
  std::string name;  // what the user named (a path or a model id) — shown in errors
  std::string fingerprint;  // identifies the weights (architecture, dim, tensor checksum); compared on open
  int dim = 0;
};

enum class FileState { kPending, kIndexed, kSkipped, kFailed };
std::string_view file_state_name(FileState state);  // "pending", "indexed", "skipped", "failed"

struct FileRecord {
  int64_t id = 0;
  std::string path;      // absolute
  std::string root;      // the added root it belongs to
  int64_t mtime_ns = 0;
  int64_t size = 0;
  std::string hash;      // content hash (hex) of what was indexed; "" while pending
  FileState state = FileState::kPending;
  std::string format;    // format_name() of the extracted text
  std::string error;     // why it was skipped or failed; "" otherwise
  int64_t indexed_at = 0;  // unix seconds
  int64_t chunks = 0;    // filled by files()/file()
};

struct ChunkRecord {
  int64_t id = 0;
  int64_t file_id = 0;
  std::string path;      // the file's (filled by reads)
  int64_t mtime_ns = 0;  // the file's (filled by reads)
  int ordinal = 0;       // position in the file
  uint32_t line_begin = 0, line_end = 0;
  uint64_t byte_begin = 0, byte_end = 0;
  std::string title;
  std::string text;
  std::string hash;      // hash of the text (hex): equal text, equal vector
  std::vector<float> vector;  // filled only where a call says so
};

// One chunk of a file being (re)written by replace_file(): either an existing chunk of the file kept as it is
// (same text: its id and vector stay, only position fields are updated) or a new chunk with its vector.
struct ChunkWrite {
  int64_t keep_id = 0;   // > 0: keep that chunk (of this file), updating ordinal/lines/bytes/title
  ChunkRecord chunk;     // for a new chunk: everything but id/file_id/path; vector must have dim floats
};

struct SearchFilter {
  std::string path_glob;     // glob_match() against the absolute path; "" = any
  int64_t modified_since_ns = 0;  // file mtime >= this; 0 = any
  bool empty() const { return path_glob.empty() && modified_since_ns == 0; }
};

struct ScoredChunk {
  int64_t chunk_id = 0;
  double score = 0;  // bm25: higher is better (negated SQLite bm25())
};

struct IndexCounts {
  int64_t files = 0, indexed = 0, pending = 0, skipped = 0, failed = 0, chunks = 0;
};

struct ChangeSet {
  std::vector<std::pair<int64_t, std::vector<float>>> added;  // chunk id, vector: id > since_chunk_id
  std::vector<int64_t> removed;                               // chunk ids deleted after since_deletion_seq
  int64_t max_chunk_id = 0, deletion_seq = 0;                 // the point this brings an index up to
};

class Store {
 public:
  // Opens (creating if needed) `db_path`. Throws Error kCorruptData if it is not a hearth index database (or a
  // newer schema), with the path in the message.
  explicit Store(const std::string& db_path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }

  // The embedding model the index was built with; nullopt for a new index.
  std::optional<EmbeddingModelInfo> embedding_model();
  // Error kInvalidArgument when dim <= 0, or when it differs from the recorded model's while chunks exist (their
  // vectors would no longer fit: remove the files first).
  void set_embedding_model(const EmbeddingModelInfo& model);

  // Roots the user added, with their walk options as JSON (kept verbatim).
  std::vector<std::pair<std::string, std::string>> roots();
  void add_root(const std::string& root, const std::string& options_json);
  // Removes the root and every file (and chunk) under it, in one transaction.
  void remove_root(const std::string& root);

  std::optional<FileRecord> file(const std::string& path);
  std::vector<FileRecord> files(const std::string& root = "");  // all, or those of one root; sorted by path
  IndexCounts counts();

  // Marks a file pending (inserting it if new) with what the walk saw, keeping its chunks until replaced. An
  // indexed file keeps its hash too (that of the content its chunks hold), so a touch can be told from an edit;
  // a skipped or failed one has no chunks and its hash is cleared.
  void mark_pending(const std::string& root, const std::string& path, int64_t mtime_ns, int64_t size);
  // Records a file as skipped or failed (its chunks, if any, are deleted): `error` says why. `state` must be
  // kSkipped or kFailed.
  void set_file_state(const std::string& root, const std::string& path, int64_t mtime_ns, int64_t size,
                      const std::string& hash, FileState state, const std::string& error);
  // Updates only mtime/size of an indexed file whose content hash is unchanged (a touch). A file made pending
  // by mark_pending() that holds chunks of that content is indexed again. Error kNotFound for an unknown path.
  void touch_file(const std::string& path, int64_t mtime_ns, int64_t size);
  // Replaces a file's chunks with `chunks` (kept or new) and marks it indexed with `hash`/`format`: one
  // transaction. Chunks of the file not kept are deleted (and logged). Error kInvalidArgument (nothing changed)
  // when no embedding model is set, a keep_id is not a chunk of this file (or is kept twice), or a new chunk's
  // vector is not dim floats.
  void replace_file(const std::string& root, const std::string& path, int64_t mtime_ns, int64_t size,
                    const std::string& hash, const std::string& format, const std::vector<ChunkWrite>& chunks);
  // Deletes a file (or, when `path` is a folder, every file under it) with its chunks. Returns files removed.
  int64_t remove_path(const std::string& path);

  // The file's chunks in order (vectors not filled).
  std::vector<ChunkRecord> file_chunks(int64_t file_id);
  // Vectors of any chunk in the index with one of these text hashes (a rename, a copy, an unchanged chunk).
  std::vector<std::pair<std::string, std::vector<float>>> vectors_by_hash(const std::vector<std::string>& hashes);
  // Chunks by id, with path and mtime; with vectors when `with_vectors`. Missing ids are left out.
  std::vector<ChunkRecord> chunks(const std::vector<int64_t>& ids, bool with_vectors = false);
  // Calls `fn(id, vector)` for every chunk passing `filter` (all when empty): exact search and rebuilds. Rows are
  // streamed (the vector pointer is valid during the call only); `fn` must not call this Store. An exception
  // from `fn` stops the walk and propagates.
  void for_each_vector(const SearchFilter& filter, const std::function<void(int64_t, const float*)>& fn);

  // BM25 over chunk text and title (FTS5): `terms` are plain words, matched as an OR of their prefixes-free
  // tokens; k best, filtered. Words are quoted, so no user text is FTS5 syntax. A title match weighs twice a
  // body match. In an index of 1000 chunks or more, a word found in over half of them (which BM25 scores as
  // nothing) is dropped when another word is not: chunks holding only such words are then not returned.
  std::vector<ScoredChunk> bm25(const std::vector<std::string>& terms, int k, const SearchFilter& filter = {});
  // Index vocabulary terms starting with `prefix` / close to it, with their document frequency (query
  // expansion), most frequent first. Uses an fts5vocab table. The index stems English words (porter), so terms
  // are stems ("index" for "indexing"). `prefix` is normalized as the index's tokenizer does (case, diacritics);
  // "close" is the stem of the whole word, so "indexing" finds "index". Several words: the last one counts.
  std::vector<std::pair<std::string, int64_t>> vocabulary(const std::string& prefix, int limit);

  // Everything a vector index saved at (since_chunk_id, since_deletion_seq) lacks, read in one snapshot.
  ChangeSet changes_since(int64_t since_chunk_id, int64_t since_deletion_seq);
  // Drops deletion log entries up to `deletion_seq` (after the vector index was saved past them).
  void prune_deletion_log(int64_t deletion_seq);
  int64_t max_chunk_id();
  int64_t deletion_seq();

  // Checks internal consistency (PRAGMA integrity_check, FTS5 integrity-check, chunks without files, indexed
  // files without chunks that should have some); "" when consistent, else what is wrong. For tests and
  // `hearth index check`.
  std::string check();

 private:
  struct Statements;  // prepared statements, kept for the connection's life (SQLITE_PREPARE_PERSISTENT)
  sqlite3_stmt* statement(const char* sql);  // the cached statement for `sql`, prepared on first use
  int dim_or_fail();  // the embedding model's dim; Error kInvalidArgument when none is set
  void close() noexcept;

  std::string path_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<Statements> statements_;
};

// sha256 of bytes as 64 lowercase hex digits (content and chunk hashes).
std::string content_hash(std::string_view bytes);

}  // namespace hearth::context
