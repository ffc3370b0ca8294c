#include "context/context_index.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "context/ignore.h"
#include "context/retrieval.h"
#include "context/source_text.h"
#include "core/error.h"
#include "core/log.h"
#include "runtime/reranker.h"

namespace hearth::context {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kDatabaseFile = "index.sqlite";
constexpr const char* kVectorsFile = "vectors.hnsw";
// Chunks embedded per call: large enough for the encoder's batched matrix products, small enough that a
// background batch holds an interactive request back only briefly (EmbedBatcher takes one batch at a time).
constexpr size_t kEmbedBatch = 128;
// The graph is rebuilt once deleted nodes are this share of it: they still cost search time and memory.
constexpr double kRebuildDeletedShare = 0.3;

std::string walk_options_json(const WalkOptions& o) {
  return Json{{"max_file_bytes", o.max_file_bytes},
              {"include_hidden", o.include_hidden},
              {"use_gitignore", o.use_gitignore},
              {"exclude", o.exclude}}
      .dump();
}

WalkOptions parse_walk_options(const std::string& text) {
  WalkOptions o;
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return o;
  if (j.contains("max_file_bytes") && j["max_file_bytes"].is_number_unsigned()) o.max_file_bytes = j["max_file_bytes"];
  if (j.contains("include_hidden") && j["include_hidden"].is_boolean()) o.include_hidden = j["include_hidden"];
  if (j.contains("use_gitignore") && j["use_gitignore"].is_boolean()) o.use_gitignore = j["use_gitignore"];
  if (j.contains("exclude") && j["exclude"].is_array())
    for (const auto& g : j["exclude"])
      if (g.is_string()) o.exclude.push_back(g);
  return o;
}

bool under(const std::string& path, const std::string& folder) {
  if (folder == "/") return true;
  return path == folder || (path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 &&
                            path[folder.size()] == '/');
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(errno_kind(errno), "cannot read {}: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(ErrorKind::kInvalidArgument, "cannot read {}", path);
  return std::move(ss).str();
}

std::optional<FoundFile> stat_file(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FoundFile{path, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, uint64_t(st.st_size)};
}

// A user's --path glob: one without '/' matches a file name anywhere ("*.md"); a relative one matches a path's
// tail ("docs/*.md"); an absolute one matches the whole path.
SearchFilter normalize_filter(SearchFilter f) {
  if (!f.path_glob.empty() && f.path_glob[0] != '/') f.path_glob = "**/" + f.path_glob;
  return f;
}

// Threads that insert into the graph after a pass: the pass's own work is done by then, so every core helps.
int insert_threads() { return int(std::max(1u, std::min(8u, std::thread::hardware_concurrency()))); }

bool passes(const SearchFilter& f, const ChunkRecord& c) {
  if (f.modified_since_ns && c.mtime_ns < f.modified_since_ns) return false;
  return f.path_glob.empty() || glob_match(f.path_glob, c.path);
}

}  // namespace

double IndexProgress::eta_seconds() const {
  if (files_done <= 0 || seconds <= 0 || files_total <= files_done) return files_total == files_done ? 0 : -1;
  return double(files_total - files_done) / files_per_second();
}

std::string_view progress_state_name(IndexProgress::State state) {
  switch (state) {
    case IndexProgress::State::kIdle: return "idle";
    case IndexProgress::State::kScanning: return "scanning";
    case IndexProgress::State::kIndexing: return "indexing";
  }
  return "idle";
}

SearchMode parse_search_mode(std::string_view name) {
  if (name == "hybrid") return SearchMode::kHybrid;
  if (name == "vector") return SearchMode::kVector;
  if (name == "bm25") return SearchMode::kBm25;
  fail("unknown search mode '{}': use hybrid, vector or bm25", name);
}

std::string_view search_mode_name(SearchMode mode) {
  switch (mode) {
    case SearchMode::kHybrid: return "hybrid";
    case SearchMode::kVector: return "vector";
    case SearchMode::kBm25: return "bm25";
  }
  return "hybrid";
}

ContextIndex::ContextIndex(std::string name, std::string dir, const ChunkEmbedder* embedder, bool create)
    : name_(std::move(name)), dir_(std::move(dir)), embedder_(embedder) {
  const std::string db = dir_ + "/" + kDatabaseFile;
  std::error_code ec;
  if (!fs::exists(db, ec)) {
    if (!create)
      fail(ErrorKind::kNotFound, "no index '{}' (looked in {}): create it with `hearth index add --index {} PATH`",
           name_, dir_, name_);
    fs::create_directories(dir_, ec);
    if (ec) fail(errno_kind(ec.value()), "cannot create {}: {}", dir_, ec.message());
  }
  write_store_ = std::make_unique<Store>(db);
  read_store_ = std::make_unique<Store>(db);
  const auto recorded = write_store_->embedding_model();
  if (embedder_ && !recorded) {
    write_store_->set_embedding_model(embedder_->info());
  } else if (embedder_ && recorded->fingerprint != embedder_->info().fingerprint) {
    fail("index '{}' was embedded with '{}' ({} dimensions), not '{}' ({} dimensions): search it with -m {}, or "
         "re-embed it with `hearth index reembed --index {} -m {}`",
         name_, recorded->name, recorded->dim, embedder_->info().name, embedder_->info().dim, recorded->name, name_,
         embedder_->info().name);
  }
}

ContextIndex::~ContextIndex() {
  try {
    save_vectors();
  } catch (const Error& e) {
    log::warn("index '{}': could not save the vector index ({}); it is rebuilt from the store on next open", name_,
             e.what());
  }
}

// ---- roots ----

void ContextIndex::add_root(const std::string& path, const WalkOptions& options) {
  const std::string root = normalize_path(path);
  std::error_code ec;
  if (!fs::exists(root, ec)) fail(ErrorKind::kNotFound, "cannot index {}: no such file or folder", root);
  std::lock_guard<std::mutex> lock(write_mu_);
  write_store_->add_root(root, walk_options_json(options));
}

std::vector<std::string> ContextIndex::roots() {
  std::lock_guard<std::mutex> lock(read_mu_);
  std::vector<std::string> out;
  for (auto& [root, options] : read_store_->roots()) out.push_back(root);
  return out;
}

std::vector<std::pair<std::string, WalkOptions>> ContextIndex::root_options() {
  std::lock_guard<std::mutex> lock(read_mu_);
  std::vector<std::pair<std::string, WalkOptions>> out;
  for (auto& [root, options] : read_store_->roots()) out.emplace_back(root, parse_walk_options(options));
  return out;
}

std::string ContextIndex::root_of(const std::string& path) {
  std::string best;
  for (auto& [root, options] : write_store_->roots())
    if (under(path, root) && root.size() > best.size()) best = root;
  return best;
}

WalkOptions ContextIndex::walk_options_of(const std::string& root) {
  for (auto& [r, options] : write_store_->roots())
    if (r == root) return parse_walk_options(options);
  return {};
}

int64_t ContextIndex::remove_path(const std::string& path) {
  const std::string target = normalize_path(path);
  int64_t removed = 0;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    bool is_root = false;
    for (auto& [r, options] : write_store_->roots()) is_root = is_root || r == target;
    if (is_root) {
      const int64_t before = write_store_->counts().files;
      // Files also covered by another root stay: only what no remaining root covers goes.
      write_store_->remove_root(target);
      removed = before - write_store_->counts().files;
    } else {
      const std::string root = root_of(target);
      if (root.empty()) fail(ErrorKind::kNotFound, "{} is not in index '{}'", target, name_);
      WalkOptions options = walk_options_of(root);
      const std::string relative = target.substr(root == "/" ? 1 : root.size() + 1);
      options.exclude.push_back("/" + relative);
      write_store_->add_root(root, walk_options_json(options));
      removed = write_store_->remove_path(target);
    }
  }
  catch_up_vectors();
  return removed;
}

// ---- indexing ----

struct ContextIndex::Pending {
  std::string root;
  FoundFile file;
  std::string hash, format;
  std::vector<ChunkWrite> writes;
  std::vector<size_t> need_vector;  // indices into writes whose vector is still to embed
};

SyncStats ContextIndex::sync(const ProgressCallback& progress, const std::atomic<bool>* cancel) {
  std::unique_lock<std::mutex> lock(write_mu_);
  const auto start = Clock::now();
  {
    std::lock_guard<std::mutex> p(progress_mu_);
    progress_ = IndexProgress{};
    progress_.state = IndexProgress::State::kScanning;
  }
  if (progress) progress(progress_);
  // Every indexable file of every root; a file under two roots belongs to the deeper one.
  std::map<std::string, std::pair<std::string, FoundFile>> found;
  for (auto& [root, options_text] : write_store_->roots()) {
    std::error_code ec;
    if (!fs::exists(root, ec)) continue;  // its files are removed below, as gone
    for (FoundFile& f : walk(root, parse_walk_options(options_text))) {
      auto it = found.find(f.path);
      if (it == found.end()) {
        std::string path = f.path;  // not f.path in the call: f is moved from there
        found.emplace(std::move(path), std::make_pair(root, std::move(f)));
      }
      else if (root.size() > it->second.first.size()) it->second.first = root;
    }
  }
  SyncStats stats;
  stats.files_seen = int64_t(found.size());
  std::vector<std::pair<std::string, FoundFile>> changed;
  std::vector<std::string> gone;
  for (const FileRecord& record : write_store_->files()) {
    auto it = found.find(record.path);
    if (it == found.end()) {
      gone.push_back(record.path);
      continue;
    }
    const FoundFile& f = it->second.second;
    const bool same = record.mtime_ns == f.mtime_ns && record.size == int64_t(f.size) && record.root == it->second.first;
    if (!same || record.state == FileState::kPending) changed.push_back(std::move(it->second));
    else ++stats.files_unchanged;
    found.erase(it);
  }
  for (auto& [path, entry] : found) changed.push_back(std::move(entry));
  apply_changes(changed, gone, progress, cancel, stats);
  lock.unlock();
  catch_up_vectors();
  save_vectors();
  stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return stats;
}

SyncStats ContextIndex::update_paths(const std::vector<std::string>& paths, const std::atomic<bool>* cancel) {
  std::unique_lock<std::mutex> lock(write_mu_);
  SyncStats stats;
  std::map<std::string, std::pair<std::string, FoundFile>> to_index;
  std::set<std::string> seen;
  std::vector<std::string> to_remove;
  auto consider_file = [&](const std::string& root, const WalkOptions& options, const std::string& path) {
    if (!seen.insert(path).second) return;
    const auto f = stat_file(path);
    const auto record = write_store_->file(path);
    if (f && is_indexable(root, path, options)) {
      if (record && record->mtime_ns == f->mtime_ns && record->size == int64_t(f->size) &&
          record->state != FileState::kPending)
        ++stats.files_unchanged;
      else to_index.emplace(path, std::make_pair(root, *f));
    } else if (record) {
      to_remove.push_back(path);
    }
  };
  for (const std::string& raw : paths) {
    std::string path = normalize_path(raw);
    // A .gitignore changes which files of its folder are indexable: look at the whole folder.
    if (fs::path(path).filename() == ".gitignore") path = fs::path(path).parent_path().string();
    const std::string root = root_of(path);
    if (root.empty()) continue;
    const WalkOptions options = walk_options_of(root);
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0) {
      to_remove.push_back(path);
    } else if (S_ISDIR(st.st_mode)) {
      std::set<std::string> present;
      for (const FoundFile& f : walk(path, options)) {
        present.insert(f.path);
        consider_file(root, options, f.path);
      }
      for (const FileRecord& r : write_store_->files())
        if (under(r.path, path) && !present.count(r.path)) to_remove.push_back(r.path);
    } else {
      consider_file(root, options, path);
    }
  }
  std::vector<std::pair<std::string, FoundFile>> changed;
  for (auto& [path, entry] : to_index) changed.push_back(std::move(entry));
  stats.files_seen = int64_t(seen.size());
  apply_changes(changed, to_remove, {}, cancel, stats);
  lock.unlock();
  catch_up_vectors();
  return stats;
}

void ContextIndex::apply_changes(const std::vector<std::pair<std::string, FoundFile>>& changed,
                                 const std::vector<std::string>& gone, const ProgressCallback& progress,
                                 const std::atomic<bool>* cancel, SyncStats& stats) {
  // Pending first, so the index remembers what is left to do if this pass is interrupted.
  for (auto& [root, f] : changed) write_store_->mark_pending(root, f.path, f.mtime_ns, int64_t(f.size));
  const SyncStats indexed = index_files(changed, progress, cancel);
  // Removals after indexing: a renamed file's chunks are then still there to give their vectors to its new path.
  if (!(cancel && cancel->load()))
    for (const std::string& path : gone) stats.files_removed += write_store_->remove_path(path);
  stats.files_indexed += indexed.files_indexed;
  stats.files_touched += indexed.files_touched;
  stats.files_skipped += indexed.files_skipped;
  stats.files_failed += indexed.files_failed;
  stats.chunks_embedded += indexed.chunks_embedded;
  stats.chunks_reused += indexed.chunks_reused;
  stats.embed_seconds += indexed.embed_seconds;
}

SyncStats ContextIndex::index_files(const std::vector<std::pair<std::string, FoundFile>>& files,
                                    const ProgressCallback& progress, const std::atomic<bool>* cancel) {
  SyncStats stats;
  if (files.empty()) {
    std::lock_guard<std::mutex> p(progress_mu_);
    progress_.state = IndexProgress::State::kIdle;
    return stats;
  }
  if (!embedder_) fail("indexing needs the index's embedding model");
  const auto start = Clock::now();
  {
    std::lock_guard<std::mutex> p(progress_mu_);
    progress_.state = IndexProgress::State::kIndexing;
    progress_.files_total = int64_t(files.size());
    progress_.files_done = 0;
  }
  const TokenCounter counter = [this](std::string_view text) { return embedder_->count_tokens(text); };
  ChunkerOptions chunker;
  chunker.max_tokens = embedder_->max_chunk_tokens();
  chunker.overlap_tokens = chunker.max_tokens / 8;

  std::vector<Pending> batch;
  size_t batch_texts = 0;
  auto report = [&](int64_t done_files) {
    IndexProgress snapshot;
    {
      std::lock_guard<std::mutex> p(progress_mu_);
      progress_.files_done += done_files;
      progress_.chunks_embedded = stats.chunks_embedded;
      progress_.chunks_reused = stats.chunks_reused;
      progress_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
      snapshot = progress_;
    }
    if (progress) progress(snapshot);
  };
  // Embeds what the batch lacks (each distinct text once), then writes each file in its own transaction.
  auto flush = [&] {
    std::vector<std::string> texts;
    std::unordered_map<std::string, size_t> text_index;
    for (Pending& p : batch)
      for (size_t i : p.need_vector)
        if (text_index.emplace(p.writes[i].chunk.hash, texts.size()).second) texts.push_back(p.writes[i].chunk.text);
    const auto t0 = Clock::now();
    std::vector<std::vector<float>> vectors = embedder_->embed(texts, Priority::kBackground);
    stats.embed_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    stats.chunks_embedded += int64_t(texts.size());
    for (Pending& p : batch) {
      for (size_t i : p.need_vector) p.writes[i].chunk.vector = vectors[text_index.at(p.writes[i].chunk.hash)];
      write_store_->replace_file(p.root, p.file.path, p.file.mtime_ns, int64_t(p.file.size), p.hash, p.format,
                                 p.writes);
      ++stats.files_indexed;
    }
    const int64_t n = int64_t(batch.size());
    batch.clear();
    batch_texts = 0;
    report(n);
  };

  for (const auto& [root, file] : files) {
    if (cancel && cancel->load()) break;
    std::string bytes;
    try {
      bytes = read_file_bytes(file.path);
    } catch (const Error& e) {
      write_store_->set_file_state(root, file.path, file.mtime_ns, int64_t(file.size), "", FileState::kFailed, e.what());
      ++stats.files_failed;
      report(1);
      continue;
    }
    const std::string hash = content_hash(bytes);
    const auto record = write_store_->file(file.path);
    // The store keeps the hash of the content a file's chunks hold (also while it is pending): equal means a touch.
    if (record && !record->hash.empty() && record->hash == hash &&
        (record->state == FileState::kIndexed || record->state == FileState::kPending)) {
      write_store_->touch_file(file.path, file.mtime_ns, int64_t(file.size));
      ++stats.files_touched;
      report(1);
      continue;
    }
    Pending pending{root, file, hash, "", {}, {}};
    try {
      SourceText source = extract_text(file.path, bytes);
      pending.format = std::string(format_name(source.format));
      std::vector<Chunk> chunks = chunk_text(source, counter, chunker);
      // Unchanged chunks of this file keep their rows; other known texts reuse their vectors.
      std::unordered_map<std::string, int64_t> kept;
      if (record)
        for (const ChunkRecord& c : write_store_->file_chunks(record->id)) kept.emplace(c.hash, c.id);
      std::vector<std::string> unknown;
      for (size_t i = 0; i < chunks.size(); ++i) {
        ChunkWrite w;
        w.chunk.ordinal = int(i);
        w.chunk.line_begin = chunks[i].line_begin;
        w.chunk.line_end = chunks[i].line_end;
        w.chunk.byte_begin = chunks[i].byte_begin;
        w.chunk.byte_end = chunks[i].byte_end;
        w.chunk.title = std::move(chunks[i].title);
        w.chunk.text = std::move(chunks[i].text);
        w.chunk.hash = content_hash(w.chunk.text);
        if (auto it = kept.find(w.chunk.hash); it != kept.end()) {
          w.keep_id = it->second;
          kept.erase(it);  // a text repeated in the file keeps one row; the other copies are new rows
          ++stats.chunks_reused;
        } else {
          unknown.push_back(w.chunk.hash);
        }
        pending.writes.push_back(std::move(w));
      }
      std::unordered_map<std::string, std::vector<float>> known;
      if (!unknown.empty())
        for (auto& [h, v] : write_store_->vectors_by_hash(unknown)) known.emplace(std::move(h), std::move(v));
      for (size_t i = 0; i < pending.writes.size(); ++i) {
        ChunkWrite& w = pending.writes[i];
        if (w.keep_id) continue;
        if (auto it = known.find(w.chunk.hash); it != known.end() && int(it->second.size()) == embedder_->dim()) {
          w.chunk.vector = it->second;
          ++stats.chunks_reused;
        } else {
          pending.need_vector.push_back(i);
        }
      }
    } catch (const Error& e) {
      const bool skipped = e.kind() == ErrorKind::kUnsupported;
      write_store_->set_file_state(root, file.path, file.mtime_ns, int64_t(file.size), hash,
                                   skipped ? FileState::kSkipped : FileState::kFailed, e.what());
      ++(skipped ? stats.files_skipped : stats.files_failed);
      report(1);
      continue;
    }
    batch_texts += pending.need_vector.size();
    batch.push_back(std::move(pending));
    if (batch_texts >= kEmbedBatch || batch.size() >= 64) flush();
  }
  if (!batch.empty()) flush();
  {
    std::lock_guard<std::mutex> p(progress_mu_);
    progress_.state = IndexProgress::State::kIdle;
  }
  stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return stats;
}

// ---- vectors ----

void ContextIndex::open_vectors() {
  // Caller holds vectors_mu_ exclusively.
  std::optional<EmbeddingModelInfo> model;
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    model = read_store_->embedding_model();
  }
  if (!model) return;
  const std::string path = dir_ + "/" + kVectorsFile;
  try {
    vectors_ = VectorIndex::load(path, model->dim);
    int64_t max_id = 0, seq = 0;
    {
      std::lock_guard<std::mutex> lock(read_mu_);
      max_id = read_store_->max_chunk_id();
      seq = read_store_->deletion_seq();
    }
    const SyncPoint at = vectors_->sync_point();
    if (at.max_chunk_id > max_id || at.deletion_seq > seq) {
      log::warn("index '{}': the vector index is ahead of the store; rebuilding it", name_);
      vectors_.reset();
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kNotFound) log::warn("index '{}': {}", name_, e.what());
    vectors_.reset();
  }
  if (!vectors_) {
    auto fresh = std::make_unique<VectorIndex>(model->dim);
    std::lock_guard<std::mutex> lock(read_mu_);
    const int64_t max_id = read_store_->max_chunk_id(), seq = read_store_->deletion_seq();
    // In slices, so a large index is inserted by several threads without holding every vector twice.
    std::vector<std::vector<float>> slice;
    std::vector<std::pair<int64_t, const float*>> ids;
    auto insert = [&] {
      fresh->add_many(ids, insert_threads());
      slice.clear();
      ids.clear();
    };
    read_store_->for_each_vector({}, [&](int64_t id, const float* v) {
      slice.emplace_back(v, v + model->dim);
      ids.emplace_back(id, nullptr);
      if (slice.size() == 8192) {
        for (size_t i = 0; i < ids.size(); ++i) ids[i].second = slice[i].data();
        insert();
      }
    });
    for (size_t i = 0; i < ids.size(); ++i) ids[i].second = slice[i].data();
    insert();
    fresh->set_sync_point({max_id, seq});
    vectors_ = std::move(fresh);
    vectors_dirty_ = true;
  }
}

void ContextIndex::rebuild_vectors() {
  std::unique_lock<std::shared_mutex> lock(vectors_mu_);
  vectors_.reset();
  std::error_code ec;
  fs::remove(dir_ + "/" + kVectorsFile, ec);
  open_vectors();
}

void ContextIndex::catch_up_vectors() {
  std::unique_lock<std::shared_mutex> lock(vectors_mu_);
  if (!vectors_) {
    open_vectors();
    if (!vectors_) return;
  }
  const SyncPoint at = vectors_->sync_point();
  ChangeSet changes;
  {
    std::lock_guard<std::mutex> store_lock(read_mu_);
    if (read_store_->max_chunk_id() == at.max_chunk_id && read_store_->deletion_seq() == at.deletion_seq) return;
    changes = read_store_->changes_since(at.max_chunk_id, at.deletion_seq);
  }
  for (int64_t id : changes.removed) vectors_->remove(id);
  std::vector<std::pair<int64_t, const float*>> added;
  for (auto& [id, v] : changes.added) added.emplace_back(id, v.data());
  vectors_->add_many(added, insert_threads());
  vectors_->set_sync_point({changes.max_chunk_id, changes.deletion_seq});
  vectors_dirty_ = true;
  if (vectors_->deleted_count() > 1000 &&
      double(vectors_->deleted_count()) > kRebuildDeletedShare * double(vectors_->size() + vectors_->deleted_count())) {
    lock.unlock();
    rebuild_vectors();
  }
}

void ContextIndex::save_vectors() {
  std::unique_lock<std::shared_mutex> lock(vectors_mu_);
  if (!vectors_ || !vectors_dirty_) return;
  vectors_->save(dir_ + "/" + kVectorsFile);
  vectors_dirty_ = false;
}

// ---- status ----

IndexStatus ContextIndex::status() {
  IndexStatus s;
  s.name = name_;
  s.dir = dir_;
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    s.model = read_store_->embedding_model();
    for (auto& [root, options] : read_store_->roots()) s.roots.push_back(root);
    s.counts = read_store_->counts();
    for (const FileRecord& f : read_store_->files()) {
      if (f.state != FileState::kSkipped && f.state != FileState::kFailed) continue;
      if (s.problems.size() >= 100) break;
      s.problems.push_back({f.path, std::string(file_state_name(f.state)), f.error});
    }
  }
  std::lock_guard<std::mutex> p(progress_mu_);
  s.progress = progress_;
  return s;
}

std::string ContextIndex::check() {
  std::string problems;
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    problems = read_store_->check();
  }
  catch_up_vectors();
  std::shared_lock<std::shared_mutex> lock(vectors_mu_);
  if (vectors_) {
    std::lock_guard<std::mutex> store_lock(read_mu_);
    const int64_t chunks = read_store_->counts().chunks;
    if (int64_t(vectors_->size()) != chunks)
      problems += fmt::format("vector index holds {} vectors for {} chunks\n", vectors_->size(), chunks);
    int64_t missing = 0;
    read_store_->for_each_vector({}, [&](int64_t id, const float*) { missing += !vectors_->contains(id); });
    if (missing) problems += fmt::format("{} chunks have no vector in the vector index\n", missing);
  }
  return problems;
}

// ---- search ----

SearchResult ContextIndex::search(const std::string& query, const SearchOptions& options) {
  const auto start = Clock::now();
  if (options.k < 1 || options.k > 1000) fail("k must be between 1 and 1000, not {}", options.k);
  SearchResult result;
  const SearchFilter filter = normalize_filter(options.filter);
  const int candidates = std::max({options.candidates, options.k, options.reranker ? options.rerank_top : 0});
  result.terms = query_terms(query);
  if (result.terms.empty() && options.mode != SearchMode::kVector && query.find_first_not_of(" \t\r\n") == std::string::npos)
    fail("empty query");
  if (options.expand_query) {
    // The index's own terms nearest each query word: longer forms ("index" -> "indexing") and one-letter
    // typos ("serach" -> "search"), each only if it occurs in the index.
    std::lock_guard<std::mutex> lock(read_mu_);
    std::vector<std::string> expanded = result.terms;
    for (const std::string& term : result.terms) {
      if (term.size() < 3) continue;
      int added = 0;
      for (auto& [word, df] : read_store_->vocabulary(term.substr(0, 2), 2000)) {
        if (word == term || added >= 3) continue;
        const bool longer = word.size() > term.size() && word.compare(0, term.size(), term) == 0;
        if (longer || (term.size() >= 5 && edit_distance(word, term, 1) <= 1)) {
          if (std::find(expanded.begin(), expanded.end(), word) == expanded.end()) expanded.push_back(word);
          ++added;
        }
      }
    }
    result.terms = std::move(expanded);
  }

  std::vector<std::pair<int64_t, float>> vector_hits;
  std::vector<ScoredChunk> bm25_hits;
  auto run_bm25 = [&] {
    std::lock_guard<std::mutex> lock(read_mu_);
    return read_store_->bm25(result.terms, candidates, filter);
  };
  // Hybrid: BM25 runs on its own thread while the query is embedded and the graph searched, so a query costs the
  // slower of the two, not their sum.
  std::future<std::vector<ScoredChunk>> bm25_running;
  const bool with_bm25 = options.mode != SearchMode::kVector && !result.terms.empty();
  if (with_bm25 && options.mode == SearchMode::kHybrid) bm25_running = std::async(std::launch::async, run_bm25);
  if (options.mode != SearchMode::kBm25) {
    if (!embedder_) fail("vector search needs the index's embedding model");
    const std::vector<float> q = embedder_->embed_query(query, options.priority);
    catch_up_vectors();
    std::shared_lock<std::shared_mutex> lock(vectors_mu_);
    if (vectors_) {
      if (filter.empty()) {
        vector_hits = vectors_->search(q.data(), candidates);
      } else {
        // Post-filter a wide ANN search; when the filter is too selective for that, search its chunks exactly.
        const auto wide = vectors_->search(q.data(), candidates * 8, candidates * 8);
        std::vector<int64_t> ids;
        for (auto& [id, score] : wide) ids.push_back(id);
        std::unordered_map<int64_t, bool> ok;
        {
          std::lock_guard<std::mutex> store_lock(read_mu_);
          for (const ChunkRecord& c : read_store_->chunks(ids)) ok[c.id] = passes(filter, c);
        }
        for (auto& [id, score] : wide)
          if (ok[id] && int(vector_hits.size()) < candidates) vector_hits.emplace_back(id, score);
        if (int(vector_hits.size()) < candidates && int(wide.size()) == candidates * 8) {
          vector_hits.clear();
          std::lock_guard<std::mutex> store_lock(read_mu_);
          read_store_->for_each_vector(filter, [&](int64_t id, const float* v) {
            float dot = 0;
            for (int i = 0; i < embedder_->dim(); ++i) dot += q[size_t(i)] * v[i];
            vector_hits.emplace_back(id, dot);
          });
          const size_t keep = std::min(vector_hits.size(), size_t(candidates));
          std::partial_sort(vector_hits.begin(), vector_hits.begin() + keep, vector_hits.end(),
                            [](auto& a, auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
          vector_hits.resize(keep);
        }
      }
    }
  }
  if (bm25_running.valid()) bm25_hits = bm25_running.get();
  else if (with_bm25) bm25_hits = run_bm25();

  // Fuse (or take the one list), then fetch the chunks of the best.
  std::vector<RankedList> lists(2);
  lists[0].weight = options.vector_weight;
  lists[1].weight = options.bm25_weight;
  // A list weighted 0 is left out, not merely ranked last.
  if (options.vector_weight > 0 || options.mode == SearchMode::kVector)
    for (auto& [id, score] : vector_hits) lists[0].ids.push_back(id);
  if (options.bm25_weight > 0 || options.mode == SearchMode::kBm25)
    for (auto& h : bm25_hits) lists[1].ids.push_back(h.chunk_id);
  std::vector<FusedId> fused = reciprocal_rank_fusion(lists, options.rrf_k);
  const size_t wanted = size_t(options.reranker ? std::max(options.rerank_top, options.k) : options.k);
  std::vector<int64_t> ids;
  for (const FusedId& f : fused) {
    if (ids.size() >= wanted) break;
    ids.push_back(f.id);
  }
  std::unordered_map<int64_t, ChunkRecord> records;
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    for (ChunkRecord& c : read_store_->chunks(ids)) records.emplace(c.id, std::move(c));
  }
  std::unordered_map<int64_t, float> vscore;
  for (auto& [id, score] : vector_hits) vscore.emplace(id, score);
  std::unordered_map<int64_t, double> bscore;
  for (auto& h : bm25_hits) bscore.emplace(h.chunk_id, h.score);
  for (const FusedId& f : fused) {
    auto it = records.find(f.id);
    if (it == records.end()) continue;  // deleted since the lists were made
    SearchHit hit;
    hit.chunk = std::move(it->second);
    records.erase(it);
    hit.vector_rank = f.ranks[0];
    hit.bm25_rank = f.ranks[1];
    if (hit.vector_rank) hit.vector_score = vscore[f.id];
    if (hit.bm25_rank) hit.bm25_score = bscore[f.id];
    hit.fused_score = f.score;
    hit.score = options.mode == SearchMode::kVector ? hit.vector_score
                : options.mode == SearchMode::kBm25 ? hit.bm25_score
                                                    : hit.fused_score;
    result.hits.push_back(std::move(hit));
  }
  if (options.reranker && !result.hits.empty()) {
    std::vector<std::string> documents;
    for (const SearchHit& h : result.hits) documents.push_back(h.chunk.text);
    const RerankResult r = options.reranker->score(query, documents);
    for (size_t i = 0; i < result.hits.size(); ++i) {
      result.hits[i].rerank_score = r.scores[i];
      result.hits[i].score = r.scores[i];
    }
    std::stable_sort(result.hits.begin(), result.hits.end(),
                     [](const SearchHit& a, const SearchHit& b) { return *a.rerank_score > *b.rerank_score; });
  }
  if (int(result.hits.size()) > options.k) result.hits.resize(size_t(options.k));
  for (SearchHit& h : result.hits) {
    Snippet s = make_snippet(h.chunk.text, result.terms);
    h.snippet = std::move(s.text);
    h.marks = std::move(s.marks);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace hearth::context
