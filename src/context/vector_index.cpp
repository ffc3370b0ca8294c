#include "context/vector_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// hnswlib's software prefetches (on with its compile-time SIMD, whose distance code is otherwise unused here:
// InnerProductSpace below has its own) read one link past the end of a full link list. The read is inside the
// heap and only feeds a prefetch hint, but AddressSanitizer rightly reports it, so sanitized builds go without
// them; elsewhere they are kept (searches take about 1.5x as long without them).
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MANUAL_VECTORIZATION
#endif
#endif
// The file that includes hnswlib must stay the only one: its headers define non-inline functions.
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "context/inner_product.h"
#include "core/error.h"
#include "core/sha256.h"

namespace hearth::context {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// hnswlib's own InnerProductSpace picks its SIMD code when compiled (SSE in a build for any x86-64); this one
// uses the CPU's best inner product, found at run time. Distance = 1 - dot, as hnswlib's (the saved graph does
// not record the space, so files are the same either way).
class InnerProductSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit InnerProductSpace(size_t dim) : param_{dim, inner_product_kernel()} {}
  size_t get_data_size() override { return param_.dim * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &distance; }
  void* get_dist_func_param() override { return &param_; }

 private:
  struct Param {
    size_t dim;  // first: hnswlib reads the parameter as a size_t dimension in places
    InnerProductFn dot;
  };
  static float distance(const void* a, const void* b, const void* param) {
    const auto* p = static_cast<const Param*>(param);
    return 1.0f - p->dot(static_cast<const float*>(a), static_cast<const float*>(b), p->dim);
  }
  Param param_;
};

// The saved file: this header, then hnswlib's own serialization (the payload). All integers little-endian.
//   0  magic "HRTHVIX1"          8
//   8  format version (u32)      4
//  12  dimension (u32)           4
//  16  M (u32)                   4
//  20  reserved, 0 (u32)         4
//  24  max chunk id (i64)        8
//  32  deletion seq (i64)        8
//  40  payload length (u64)      8
//  48  sha256 of bytes 0..47 and the payload   32
// The checksum covers the header's fields too: a flipped bit in the sync point would otherwise go unseen and
// the index would skip changes.
constexpr char kMagic[8] = {'H', 'R', 'T', 'H', 'V', 'I', 'X', '1'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHashedHeaderBytes = 48;
constexpr size_t kHeaderBytes = kHashedHeaderBytes + 32;
constexpr size_t kInitialCapacity = 1024;
constexpr size_t kCopyBlock = 1 << 20;

struct FileHeader {
  uint32_t version = 0, dim = 0, m = 0;
  SyncPoint sync;
  uint64_t payload_bytes = 0;
  std::array<uint8_t, 32> digest{};
};

void put_le(uint8_t* at, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) at[i] = uint8_t(value >> (8 * i));
}

uint64_t get_le(const uint8_t* at, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= uint64_t(at[i]) << (8 * i);
  return value;
}

void encode_header(const FileHeader& h, uint8_t out[kHeaderBytes]) {
  std::memset(out, 0, kHeaderBytes);
  std::memcpy(out, kMagic, sizeof(kMagic));
  put_le(out + 8, h.version, 4);
  put_le(out + 12, h.dim, 4);
  put_le(out + 16, h.m, 4);
  put_le(out + 24, uint64_t(h.sync.max_chunk_id), 8);
  put_le(out + 32, uint64_t(h.sync.deletion_seq), 8);
  put_le(out + 40, h.payload_bytes, 8);
  std::memcpy(out + kHashedHeaderBytes, h.digest.data(), h.digest.size());
}

// A file descriptor closed when it goes.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// A file removed when it goes (the temporaries beside the index).
struct TempFile {
  std::string path;
  ~TempFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

[[noreturn]] void fail_errno(const std::string& doing, const std::string& path) {
  const int err = errno;
  fail(errno_kind(err), "vector index '{}': {}: {}", path, doing, std::strerror(err));
}

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("cannot write", path);
    p += n, size -= size_t(n);
  }
}

// Reads up to `size` bytes; fewer only at the end of the file.
size_t read_some(int fd, void* data, size_t size, const std::string& path) {
  auto* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, p + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("cannot read", path);
    if (n == 0) break;
    got += size_t(n);
  }
  return got;
}

void fsync_or_fail(int fd, const std::string& path) {
  if (::fsync(fd) != 0) fail_errno("cannot sync to disk", path);
}

// The folder holding `path`, synced so a rename into it survives a power loss.
void fsync_folder_of(const std::string& path) {
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) folder = std::filesystem::current_path();
  Fd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd < 0) fail_errno("cannot open its folder", path);
  fsync_or_fail(dir.fd, folder.string());
}

// hnswlib throws std::runtime_error (and std::bad_alloc); the caller sees hearth::Error.
template <class Fn>
auto hnswlib_call(const char* doing, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    fail(ErrorKind::kResourceExhausted, "vector index: out of memory while {}", doing);
  } catch (const std::exception& e) {
    const bool memory = std::string_view(e.what()).find("memory") != std::string_view::npos;
    fail(memory ? ErrorKind::kResourceExhausted : ErrorKind::kInvalidArgument, "vector index: {} failed: {}",
         doing, e.what());
  }
}

// The leading fields of hnswlib 0.6's serialization (saveIndex), in its order and sizes.
struct PayloadHead {
  uint64_t offset_level0, max_elements, count, size_per_element, label_offset, data_offset;
  int32_t max_level;
  uint32_t entry_point;
  uint64_t max_m, max_m0, m;
  double mult;
  uint64_t ef_construction;
};
constexpr size_t kPayloadHeadBytes = 6 * 8 + 4 + 4 + 3 * 8 + 8 + 8;

PayloadHead parse_payload_head(const uint8_t* p) {
  PayloadHead h;
  size_t at = 0;
  const auto u64 = [&] { const uint64_t v = get_le(p + at, 8); at += 8; return v; };
  h.offset_level0 = u64(), h.max_elements = u64(), h.count = u64(), h.size_per_element = u64();
  h.label_offset = u64(), h.data_offset = u64();
  h.max_level = int32_t(uint32_t(get_le(p + at, 4))), at += 4;
  h.entry_point = uint32_t(get_le(p + at, 4)), at += 4;
  h.max_m = u64(), h.max_m0 = u64(), h.m = u64();
  const uint64_t mult_bits = u64();
  std::memcpy(&h.mult, &mult_bits, sizeof(h.mult));
  h.ef_construction = u64();
  return h;
}

// Whether the payload's layout is one this hnswlib writes for `dim` floats: checked before hnswlib reads it, so
// a file that passed the checksum but was not written by hearth cannot make it allocate or index wildly.
bool payload_head_plausible(const PayloadHead& h, int dim, uint64_t payload_bytes) {
  const uint64_t links0 = h.max_m0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  const uint64_t data = uint64_t(dim) * sizeof(float);
  return h.offset_level0 == 0 && h.m >= 2 && h.m <= 10000 && h.max_m == h.m && h.max_m0 == 2 * h.m &&
         h.data_offset == links0 && h.label_offset == links0 + data &&
         h.size_per_element == links0 + data + sizeof(hnswlib::labeltype) && h.count <= h.max_elements &&
         h.count <= payload_bytes / h.size_per_element && h.max_level >= -1 && h.max_level < 256 &&
         (h.count == 0 || h.entry_point < h.count) && h.mult > 0 && h.mult < 10;
}

// After hnswlib's load: every link names an existing node that lives at that level, and no list is longer than
// its room — so searching the loaded graph cannot read outside it.
bool graph_consistent(const Graph& g) {
  const size_t n = g.cur_element_count;
  if (n == 0) return true;
  if (size_t(g.enterpoint_node_) >= n || g.element_levels_[g.enterpoint_node_] != g.maxlevel_) return false;
  for (size_t i = 0; i < n; ++i) {
    const int top = g.element_levels_[i];
    if (top < 0 || top > g.maxlevel_) return false;
    for (int level = 0; level <= top; ++level) {
      const auto* list = g.get_linklist_at_level(hnswlib::tableint(i), level);
      const size_t count = g.getListCount(const_cast<hnswlib::linklistsizeint*>(list));
      if (count > (level == 0 ? g.maxM0_ : g.maxM_)) return false;
      const auto* ids = reinterpret_cast<const hnswlib::tableint*>(list + 1);
      for (size_t j = 0; j < count; ++j)
        if (ids[j] >= n || g.element_levels_[ids[j]] < level) return false;
    }
  }
  return true;
}

// The size hnswlib's saveIndex writes for `g`: its writes are unchecked, so the file is measured against it.
uint64_t expected_payload_bytes(const Graph& g) {
  uint64_t bytes = kPayloadHeadBytes + uint64_t(g.cur_element_count) * g.size_data_per_element_;
  for (size_t i = 0; i < g.cur_element_count; ++i)
    bytes += sizeof(unsigned int) + (g.element_levels_[i] > 0 ? g.size_links_per_element_ * g.element_levels_[i] : 0);
  return bytes;
}

}  // namespace

struct VectorIndex::Impl {
  // The space must outlive the graph (the graph keeps a pointer to its parameter): declared first.
  InnerProductSpace space;
  std::unique_ptr<Graph> graph;
  VectorIndexOptions options;
  SyncPoint sync;
  mutable std::shared_mutex mutex;  // the graph and sync point: shared for search/save, exclusive to change
  // glibc's rwlock lets new readers in while a writer waits, so a steady stream of searches would starve add()
  // for good. Everyone passes this gate to take `mutex`, and a writer holds it while it waits: new searches
  // queue behind the writer, the running ones finish, the writer goes.
  mutable std::mutex gate;
  mutable std::mutex save_mutex;  // one save at a time (they share the temporary file names)

  std::shared_lock<std::shared_mutex> read_lock() const {
    std::lock_guard pass(gate);
    return std::shared_lock(mutex);
  }
  std::unique_lock<std::shared_mutex> write_lock() const {
    std::lock_guard pass(gate);
    return std::unique_lock(mutex);
  }

  Impl(int dim, VectorIndexOptions o) : space(size_t(dim)), options(o) {}

  // hnswlib's search breadth is max(its ef_, k); ef_ is pinned at 1 so the k passed in is the breadth, and
  // concurrent searches never write the shared setting (hnswlib's setEf would be a data race).
  void pin_ef() { graph->setEf(1); }

  bool live(hnswlib::labeltype id) const {
    const auto it = graph->label_lookup_.find(id);
    return it != graph->label_lookup_.end() && !graph->isMarkedDeleted(it->second);
  }
};

VectorIndex::VectorIndex(int dim, VectorIndexOptions options) : dim_(dim) {
  if (dim <= 0) fail("vector index: dimension {} is not positive", dim);
  if (options.m < 2 || options.m > 1000 || options.ef_construction < 1 || options.ef_search < 1)
    fail("vector index: parameters M={} ef_construction={} ef_search={} are out of range", options.m,
         options.ef_construction, options.ef_search);
  impl_ = std::make_unique<Impl>(dim, options);
  impl_->graph = hnswlib_call("creating the graph", [&] {
    return std::make_unique<Graph>(&impl_->space, kInitialCapacity, size_t(options.m),
                                   size_t(options.ef_construction));
  });
  impl_->pin_ef();
}

VectorIndex::~VectorIndex() = default;

void VectorIndex::add(int64_t id, const float* vector) {
  if (id < 0) fail("vector index: id {} is negative", id);
  auto lock = impl_->write_lock();
  Graph& g = *impl_->graph;
  hnswlib_call("adding a vector", [&] {
    // An id already present is updated in place (and undeleted) by hnswlib; a new one may need room first.
    if (!g.label_lookup_.count(hnswlib::labeltype(id)) && g.cur_element_count >= g.max_elements_)
      g.resizeIndex(std::max<size_t>(2 * g.max_elements_, kInitialCapacity));
    g.addPoint(vector, hnswlib::labeltype(id));
  });
}

void VectorIndex::add_many(const std::vector<std::pair<int64_t, const float*>>& vectors, int threads) {
  for (const auto& [id, v] : vectors)
    if (id < 0) fail("vector index: id {} is negative", id);
  auto lock = impl_->write_lock();
  Graph& g = *impl_->graph;
  hnswlib_call("making room for vectors", [&] {
    size_t needed = g.cur_element_count + vectors.size();
    if (needed > g.max_elements_) g.resizeIndex(std::max<size_t>(std::max(needed, 2 * g.max_elements_), kInitialCapacity));
  });
  const size_t workers = std::clamp<size_t>(size_t(std::max(threads, 1)), 1, std::max<size_t>(1, vectors.size() / 256));
  std::vector<std::exception_ptr> errors(workers);
  auto work = [&](size_t w) {
    try {
      for (size_t i = w; i < vectors.size(); i += workers)
        hnswlib_call("adding a vector", [&] { g.addPoint(vectors[i].second, hnswlib::labeltype(vectors[i].first)); });
    } catch (...) {
      errors[w] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void VectorIndex::remove(int64_t id) {
  if (id < 0) return;
  auto lock = impl_->write_lock();
  // hnswlib throws on an unknown or already deleted label: only a live one is marked.
  if (impl_->live(hnswlib::labeltype(id)))
    hnswlib_call("removing a vector", [&] { impl_->graph->markDelete(hnswlib::labeltype(id)); });
}

bool VectorIndex::contains(int64_t id) const {
  if (id < 0) return false;
  auto lock = impl_->read_lock();
  return impl_->live(hnswlib::labeltype(id));
}

size_t VectorIndex::size() const {
  auto lock = impl_->read_lock();
  return impl_->graph->cur_element_count - impl_->graph->num_deleted_;
}

size_t VectorIndex::deleted_count() const {
  auto lock = impl_->read_lock();
  return impl_->graph->num_deleted_;
}

std::vector<std::pair<int64_t, float>> VectorIndex::search(const float* query, int k, int ef) const {
  std::vector<std::pair<int64_t, float>> out;
  if (k <= 0) return out;
  auto lock = impl_->read_lock();
  const Graph& g = *impl_->graph;
  const size_t nodes = g.cur_element_count, live = nodes - g.num_deleted_;
  if (live == 0) return out;
  const size_t want = std::min(size_t(k), live);
  // Deleted nodes are walked through but not returned; when many are deleted the breadth asked for may yield
  // fewer than k live ones, so the search widens until it does or covers the whole graph.
  size_t breadth = std::max<size_t>(size_t(ef > 0 ? ef : impl_->options.ef_search), size_t(k));
  std::priority_queue<std::pair<float, hnswlib::labeltype>> found;
  for (;;) {
    found = hnswlib_call("searching", [&] { return g.searchKnn(query, breadth); });
    if (found.size() >= want || breadth >= nodes) break;
    breadth = std::min(2 * breadth, nodes);
  }
  while (found.size() > want) found.pop();  // the farthest are on top
  out.resize(found.size());
  for (size_t i = found.size(); i-- > 0; found.pop())
    out[i] = {int64_t(found.top().second), 1.0f - found.top().first};  // hnswlib's IP distance is 1 - dot
  return out;
}

SyncPoint VectorIndex::sync_point() const {
  auto lock = impl_->read_lock();
  return impl_->sync;
}

void VectorIndex::set_sync_point(SyncPoint point) {
  auto lock = impl_->write_lock();
  impl_->sync = point;
}

void VectorIndex::save(const std::string& path) const {
  std::lock_guard save_lock(impl_->save_mutex);
  auto lock = impl_->read_lock();  // searches go on while the graph is written; changes wait
  const Graph& g = *impl_->graph;

  // hnswlib writes only to a named file: its payload goes to a temporary, then is copied (and hashed) behind our
  // header into a second temporary that is renamed over `path` once it is on disk.
  TempFile payload{path + ".payload.tmp"};
  hnswlib_call("saving", [&] { const_cast<Graph&>(g).saveIndex(payload.path); });
  Fd in(::open(payload.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) fail_errno("cannot reopen the graph it wrote", payload.path);
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) fail_errno("cannot stat", payload.path);
  const uint64_t expected = expected_payload_bytes(g);
  if (uint64_t(st.st_size) != expected)
    fail(ErrorKind::kResourceExhausted, "vector index '{}': the graph was written short ({} of {} bytes; disk full?)",
         path, uint64_t(st.st_size), expected);

  FileHeader header;
  header.version = kFormatVersion;
  header.dim = uint32_t(dim_);
  header.m = uint32_t(g.M_);
  header.sync = impl_->sync;
  header.payload_bytes = expected;
  uint8_t head[kHeaderBytes];
  encode_header(header, head);

  TempFile out_file{path + ".tmp"};
  Fd out(::open(out_file.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (out.fd < 0) fail_errno("cannot create", out_file.path);
  write_all(out.fd, head, kHeaderBytes, out_file.path);  // the digest is filled in once the payload is through
  Sha256 digest;
  digest.update(head, kHashedHeaderBytes);
  std::vector<char> block(kCopyBlock);
  uint64_t copied = 0;
  for (;;) {
    const size_t n = read_some(in.fd, block.data(), block.size(), payload.path);
    if (n == 0) break;
    digest.update(block.data(), n);
    write_all(out.fd, block.data(), n, out_file.path);
    copied += n;
  }
  if (copied != expected) fail(ErrorKind::kCorruptData, "vector index '{}': the graph changed while saved", path);
  header.digest = digest.digest();
  if (::pwrite(out.fd, header.digest.data(), header.digest.size(), off_t(kHashedHeaderBytes)) !=
      ssize_t(header.digest.size()))
    fail_errno("cannot write", out_file.path);
  fsync_or_fail(out.fd, out_file.path);
  if (::rename(out_file.path.c_str(), path.c_str()) != 0) fail_errno("cannot rename the new file into place", path);
  out_file.path.clear();  // renamed: nothing left to remove
  fsync_folder_of(path);
}

std::unique_ptr<VectorIndex> VectorIndex::load(const std::string& path, int dim, VectorIndexOptions options) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) {
    if (errno == ENOENT) fail(ErrorKind::kNotFound, "vector index '{}' does not exist", path);
    fail_errno("cannot open", path);
  }
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) fail_errno("cannot stat", path);
  const auto corrupt = [&](std::string_view why) {
    fail(ErrorKind::kCorruptData, "vector index '{}' is damaged ({}); it will be rebuilt from the index database",
         path, why);
  };

  uint8_t head[kHeaderBytes];
  if (read_some(in.fd, head, kHeaderBytes, path) != kHeaderBytes) corrupt("shorter than its header");
  if (std::memcmp(head, kMagic, sizeof(kMagic)) != 0) corrupt("not a hearth vector index");
  FileHeader header;
  header.version = uint32_t(get_le(head + 8, 4));
  header.dim = uint32_t(get_le(head + 12, 4));
  header.m = uint32_t(get_le(head + 16, 4));
  header.sync.max_chunk_id = int64_t(get_le(head + 24, 8));
  header.sync.deletion_seq = int64_t(get_le(head + 32, 8));
  header.payload_bytes = get_le(head + 40, 8);
  std::memcpy(header.digest.data(), head + kHashedHeaderBytes, header.digest.size());
  if (header.version != kFormatVersion)
    corrupt(fmt::format("format version {}, this hearth reads {}", header.version, kFormatVersion));
  if (header.dim != uint32_t(dim)) corrupt(fmt::format("built for {} dimensions, not {}", header.dim, dim));
  if (uint64_t(st.st_size) != kHeaderBytes + header.payload_bytes)
    corrupt(fmt::format("{} bytes where its header says {}", uint64_t(st.st_size), kHeaderBytes + header.payload_bytes));
  if (header.payload_bytes < kPayloadHeadBytes) corrupt("its graph is shorter than a graph's header");

  // Checksum the payload while copying it where hnswlib can read it (it loads from a named file only): nothing
  // reaches hnswlib unverified. mkstemp beside the index, so a large graph is not copied into a RAM-backed /tmp.
  std::string pattern = path + ".load.XXXXXX";
  TempFile copy;
  Fd out(::mkstemp(pattern.data()));
  if (out.fd < 0) fail_errno("cannot create a temporary file beside it", path);
  copy.path = pattern;
  Sha256 digest;
  digest.update(head, kHashedHeaderBytes);
  std::vector<char> block(kCopyBlock);
  uint8_t payload_head[kPayloadHeadBytes];
  uint64_t copied = 0;
  while (copied < header.payload_bytes) {
    const size_t n = read_some(in.fd, block.data(), size_t(std::min<uint64_t>(block.size(), header.payload_bytes - copied)), path);
    if (n == 0) corrupt("it ends early");
    if (copied < kPayloadHeadBytes)
      std::memcpy(payload_head + copied, block.data(), std::min<uint64_t>(n, kPayloadHeadBytes - copied));
    digest.update(block.data(), n);
    write_all(out.fd, block.data(), n, copy.path);
    copied += n;
  }
  if (digest.digest() != header.digest) corrupt("checksum mismatch");
  const PayloadHead graph_head = parse_payload_head(payload_head);
  if (!payload_head_plausible(graph_head, dim, header.payload_bytes) || graph_head.m != header.m)
    corrupt("its graph's layout does not fit its header");

  auto index = std::make_unique<VectorIndex>(dim, options);
  Impl& impl = *index->impl_;
  impl.graph = hnswlib_call("loading", [&] {
    // Capacity = the saved count: hnswlib would otherwise allocate the saved capacity, a number only the
    // checksum vouches for. add() grows it again.
    return std::make_unique<Graph>(&impl.space, copy.path, false, std::max<size_t>(graph_head.count, 1));
  });
  Graph& g = *impl.graph;
  // hnswlib 0.6's loading constructor leaves its deleted count uninitialized before adding to it: recount.
  g.num_deleted_ = 0;
  for (size_t i = 0; i < g.cur_element_count; ++i) g.num_deleted_ += g.isMarkedDeleted(hnswlib::tableint(i)) ? 1 : 0;
  if (!graph_consistent(g)) corrupt("its graph links to nodes it does not have");
  impl.pin_ef();
  impl.sync = header.sync;
  return index;
}

}  // namespace hearth::context
