// Approximate nearest-neighbour search over chunk embeddings: hnswlib's HNSW graph (Debian's libhnswlib-dev;
// docs/context.md says why it and not FAISS). Vectors are L2-normalized and compared by inner product, so a
// score is the cosine similarity. Deletes mark a node (hnswlib's markDelete) and the graph is rebuilt by the
// owner when deleted nodes pass a share of it (deleted_count()).
//
// A saved index is one file: a small header (magic, version, dimension, the sync point below, payload length
// and sha256) followed by hnswlib's own serialization, written to a temporary file and renamed, so a crash
// leaves the previous file. load() checks the header and checksum before hnswlib reads a byte, so a truncated
// or corrupt file is an Error (kCorruptData), never a crash; the owner then rebuilds from the store.
//
// The sync point (max chunk id, deletion seq) says which store state the index reflects (store.h).
//
// Thread-safety: search() from any number of threads concurrently; add/remove/set_sync_point take an exclusive
// lock; save() a shared one (searches go on while it writes, changes wait) and one save runs at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace hearth::context {

struct VectorIndexOptions {
  int m = 16;                  // graph degree (hnswlib's M)
  // Measured on 100k real USE-lite vectors (`hearth bench ann`, docs/benchmarks.md): ef_construction 100 builds
  // 1.7x faster than 200 (18 s against 32 s with 2 threads), and searching with ef 512 then gives recall@10
  // 0.986 against exact search at 1.6 ms p95 (ef 96 gave 0.908).
  int ef_construction = 100;
  int ef_search = 512;  // default search breadth; search() raises it to at least k
};

struct SyncPoint {
  int64_t max_chunk_id = 0;
  int64_t deletion_seq = 0;
};

class VectorIndex {
 public:
  VectorIndex(int dim, VectorIndexOptions options = {});
  ~VectorIndex();

  // Throws Error kNotFound (no file), kCorruptData (bad header, checksum, dimension other than `dim`).
  static std::unique_ptr<VectorIndex> load(const std::string& path, int dim, VectorIndexOptions options = {});
  // Atomic replace of `path` (tmp + fsync + rename).
  void save(const std::string& path) const;

  int dim() const { return dim_; }
  // Adds or replaces the vector of `id` (dim floats; normalized by the caller). Grows capacity as needed.
  void add(int64_t id, const float* vector);
  // The same for many vectors at once, inserted by `threads` threads (hnswlib's insertion is thread-safe for
  // distinct ids): catching up with a large indexing pass, or a rebuild. Pointers must stay valid for the call.
  void add_many(const std::vector<std::pair<int64_t, const float*>>& vectors, int threads);
  // Removes `id`; no-op when absent.
  void remove(int64_t id);
  bool contains(int64_t id) const;
  size_t size() const;           // live vectors
  size_t deleted_count() const;  // marked-deleted nodes still in the graph

  // The k nearest live vectors by inner product, best first: (id, score). `ef` = 0 uses the default.
  std::vector<std::pair<int64_t, float>> search(const float* query, int k, int ef = 0) const;

  SyncPoint sync_point() const;
  void set_sync_point(SyncPoint point);

 private:
  struct Impl;
  int dim_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::context
