// Keeps one index current while it runs: first reconciles the index with its folders (so whatever changed while
// nothing watched — a reboot, a crash — is caught up), then follows the watcher's events, debounced, and brings
// the paths they name up to date. An overflow of the event queue triggers a full reconcile. Roots added or
// removed by anyone (the CLI beside a server) are picked up within a poll interval.
//
// Runs on its own thread; the index does the work at background priority through its ChunkEmbedder.
// Thread-safety: the public methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "context/context_index.h"
#include "context/watcher.h"

namespace hearth::context {

struct IndexWatcherOptions {
  std::chrono::milliseconds debounce{100};    // quiet time that ends a burst of events
  std::chrono::milliseconds max_delay{500};   // a burst is handled at most this long after its first event
  std::chrono::seconds save_every{60};        // saves the vector index when it changed
};

class IndexWatcher {
 public:
  // `index` must outlive this. Starts the thread.
  IndexWatcher(ContextIndex& index, std::unique_ptr<Watcher> watcher, IndexWatcherOptions options = {});
  ~IndexWatcher();  // stops and joins (an indexing pass in progress stops at the next file)

  // True once the first reconcile finished.
  bool caught_up() const { return caught_up_.load(); }
  // Updates handled since start (for tests and status).
  uint64_t passes() const { return passes_.load(); }
  std::string last_error() const;
  // Looks at the index's roots again and reconciles now (a root was just added), instead of within the poll
  // interval.
  void refresh();

 private:
  void run();
  void watch_roots();
  void set_error(const std::string& message);

  ContextIndex& index_;
  std::unique_ptr<Watcher> watcher_;
  const IndexWatcherOptions options_;
  std::set<std::string> watched_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> refresh_{false};
  std::atomic<uint64_t> passes_{0};
  mutable std::mutex error_mu_;
  std::string last_error_;
  std::thread thread_;
};

}  // namespace hearth::context
