// Watching folders for changes. A small interface (add roots, wait for events) that Linux implements with inotify
// and macOS could with FSEvents. Events are hints that say where to look, never the truth: the indexer stats and
// hashes what an event names. When the kernel drops events (inotify's queue overflowed) the watcher says so with
// kOverflow and the indexer rescans everything, so a change is never missed silently.
//
// Thread-safety: wait() from one thread; add_root(), remove_root() and interrupt() from any.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace hearth::context {

struct WatchEvent {
  enum class Kind {
    kChanged,   // `path` (file or folder) was created, written, or moved here: look at it
    kRemoved,   // `path` (file or folder) was deleted or moved away
    kOverflow,  // events were lost: rescan every root
  };
  Kind kind = Kind::kChanged;
  std::string path;  // absolute; "" for kOverflow
};

class Watcher {
 public:
  virtual ~Watcher() = default;
  // Watches `root` and everything below it, including folders created later. Throws Error kNotFound for a
  // missing root, kResourceExhausted when the system's watch limit is reached (message names the sysctl).
  virtual void add_root(const std::string& root) = 0;
  virtual void remove_root(const std::string& root) = 0;
  // Waits up to `timeout` for events and returns them (empty on timeout or interrupt). Writes that come in a
  // burst are not merged here: the caller debounces.
  virtual std::vector<WatchEvent> wait(std::chrono::milliseconds timeout) = 0;
  // Makes a blocked wait() return now.
  virtual void interrupt() = 0;
};

// The platform's watcher: inotify on Linux. Throws Error kUnsupported where there is none.
std::unique_ptr<Watcher> make_watcher();

}  // namespace hearth::context
