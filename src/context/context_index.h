// One named index, open: the SQLite store (the truth), the vector index derived from it, and the embedding model
// it was built with. Keeps the index current with the folders it covers (sync, update_paths) and answers
// searches (search). The CLI's `hearth index …` / `hearth search`, the watcher (index_watcher.h) and the server
// all go through this class.
//
// Incremental by construction: a file whose mtime and size are unchanged is not read; one whose content hash
// is unchanged is not re-chunked (a touch); a changed file is re-chunked and only chunks whose text is new to
// the index are embedded (vectors are reused by chunk hash, so unchanged chunks of an edited file, a renamed
// file and a copied file cost nothing). Each file's update is one store transaction.
//
// The vector index is loaded from <dir>/vectors.hnsw and brought up to the store's state from the store's
// change log (store.h); a missing or corrupt file, or one ahead of the store, is rebuilt from the store's
// vectors. Before each search it catches up with changes another process (a CLI beside a server) committed.
//
// Thread-safety: search() and status() from any number of threads, concurrently with one writer at a time
// (sync/update_paths/add_root/remove_root serialize on a writer lock).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "context/chunk_embedder.h"
#include "context/chunker.h"
#include "context/store.h"
#include "context/vector_index.h"
#include "context/walker.h"

namespace hearth {
class Reranker;
}

namespace hearth::context {

// Progress of a sync, for a progress bar and /admin/index/status.
struct IndexProgress {
  enum class State { kIdle, kScanning, kIndexing };
  State state = State::kIdle;
  int64_t files_done = 0, files_total = 0;  // files to (re)index in this pass
  int64_t chunks_embedded = 0;              // chunks newly embedded in this pass
  int64_t chunks_reused = 0;                // chunks whose vector was reused
  double seconds = 0;                       // since the pass started
  double files_per_second() const { return seconds > 0 ? double(files_done) / seconds : 0; }
  double eta_seconds() const;               // < 0 when unknown
};
std::string_view progress_state_name(IndexProgress::State state);  // "idle", "scanning", "indexing"

struct SyncStats {
  int64_t files_seen = 0, files_indexed = 0, files_unchanged = 0, files_touched = 0, files_removed = 0;
  int64_t files_skipped = 0, files_failed = 0;
  int64_t chunks_embedded = 0, chunks_reused = 0;
  double seconds = 0, embed_seconds = 0;
};

struct FileError {
  std::string path, state, error;
};

struct IndexStatus {
  std::string name;
  std::string dir;
  std::optional<EmbeddingModelInfo> model;
  std::vector<std::string> roots;
  IndexCounts counts;
  IndexProgress progress;
  std::vector<FileError> problems;  // last error of each skipped or failed file (at most 100)
};

enum class SearchMode { kHybrid, kVector, kBm25 };
SearchMode parse_search_mode(std::string_view name);  // Error naming the accepted values
std::string_view search_mode_name(SearchMode mode);

struct SearchOptions {
  int k = 10;
  SearchMode mode = SearchMode::kHybrid;
  SearchFilter filter;
  int candidates = 50;              // per list before fusion (raised to k)
  int rrf_k = 60;                   // reciprocal rank fusion constant
  double vector_weight = 1.0, bm25_weight = 1.0;
  const Reranker* reranker = nullptr;  // cross-encoder over the fused top `rerank_top`
  int rerank_top = 20;
  bool expand_query = false;        // add the index's vocabulary terms nearest the query's words to BM25
  Priority priority = Priority::kInteractive;
};

struct SearchHit {
  ChunkRecord chunk;                // with path, lines, title, text
  double score = 0;                 // the ranking score: fused (hybrid), cosine (vector), bm25, or rerank
  int vector_rank = 0, bm25_rank = 0;  // 1-based rank in each list; 0 = not in it
  float vector_score = 0;           // cosine similarity, when in the vector list
  double bm25_score = 0;            // when in the BM25 list
  double fused_score = 0;           // RRF
  std::optional<float> rerank_score;
  std::string snippet;              // a window of the chunk around the query's terms
  std::vector<std::pair<int, int>> marks;  // [begin, end) code point offsets of query terms in snippet
};

struct SearchResult {
  std::vector<SearchHit> hits;
  std::vector<std::string> terms;   // the BM25 terms used (after expansion)
  double seconds = 0;
};

class ContextIndex {
 public:
  // Opens (creating when `create`) the index in `dir`. `embedder` may be null for read-only use (status, rm,
  // bm25 search); when given, it must match the model the index records (else Error kInvalidArgument saying
  // how to re-embed), and a new index records it. Must outlive this object.
  ContextIndex(std::string name, std::string dir, const ChunkEmbedder* embedder, bool create);
  ~ContextIndex();  // saves the vector index if it changed

  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }

  // Records a root (folder or file) to keep indexed with these walk options; does not index it (sync does).
  void add_root(const std::string& path, const WalkOptions& options);
  // Takes `path` out of the index and returns the files removed: a root is forgotten with every file under it;
  // a file or folder inside a root is removed and added to that root's excludes, so later syncs leave it out.
  // Error kNotFound when `path` is not covered by any root.
  int64_t remove_path(const std::string& path);
  std::vector<std::string> roots();
  std::vector<std::pair<std::string, WalkOptions>> root_options();

  using ProgressCallback = std::function<void(const IndexProgress&)>;
  // Reconciles every root with the index (walk; mtime+size, then content hash) and indexes what changed; removes
  // files that are gone. `cancel` (optional) stops it between files. Errors of single files are recorded on
  // them (status), not thrown.
  SyncStats sync(const ProgressCallback& progress = {}, const std::atomic<bool>* cancel = nullptr);
  // Brings the given paths (files or folders, existing or not) up to date: the watcher's events.
  SyncStats update_paths(const std::vector<std::string>& paths, const std::atomic<bool>* cancel = nullptr);

  IndexStatus status();

  SearchResult search(const std::string& query, const SearchOptions& options);

  // Saves the vector index now (also done by sync and the destructor).
  void save_vectors();
  // Store and vector index consistency ("" when consistent): chunks == vectors, store check().
  std::string check();

 private:
  struct Pending;
  void open_vectors();
  void catch_up_vectors();  // applies the store's changes since the vector index's sync point
  void rebuild_vectors();
  SyncStats index_files(const std::vector<std::pair<std::string, FoundFile>>& files, const ProgressCallback& progress,
                        const std::atomic<bool>* cancel);
  std::string root_of(const std::string& path);
  WalkOptions walk_options_of(const std::string& root);

  const std::string name_, dir_;
  const ChunkEmbedder* embedder_;
  std::mutex write_mu_;        // one writer: the write store, syncs
  std::unique_ptr<Store> write_store_;
  std::mutex read_mu_;         // the read connection
  std::unique_ptr<Store> read_store_;
  std::shared_mutex vectors_mu_;  // guards vectors_ (the pointer) and vectors_dirty_
  std::unique_ptr<VectorIndex> vectors_;
  bool vectors_dirty_ = false;
  mutable std::mutex progress_mu_;
  IndexProgress progress_;
};

}  // namespace hearth::context
