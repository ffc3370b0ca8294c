#include "context/index_watcher.h"

#include <vector>

#include "core/error.h"
#include "core/log.h"

namespace hearth::context {

using Clock = std::chrono::steady_clock;

IndexWatcher::IndexWatcher(ContextIndex& index, std::unique_ptr<Watcher> watcher, IndexWatcherOptions options)
    : index_(index), watcher_(std::move(watcher)), options_(options) {
  thread_ = std::thread([this] { run(); });
}

IndexWatcher::~IndexWatcher() {
  stop_ = true;
  watcher_->interrupt();
  if (thread_.joinable()) thread_.join();
}

std::string IndexWatcher::last_error() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return last_error_;
}

void IndexWatcher::refresh() {
  refresh_ = true;
  watcher_->interrupt();
}

void IndexWatcher::set_error(const std::string& message) {
  log::warn("index '{}': {}", index_.name(), message);
  std::lock_guard<std::mutex> lock(error_mu_);
  last_error_ = message;
}

// Watches the roots the index has now; forgets those it no longer has.
void IndexWatcher::watch_roots() {
  std::set<std::string> roots;
  for (const std::string& r : index_.roots()) roots.insert(r);
  for (auto it = watched_.begin(); it != watched_.end();) {
    if (roots.count(*it)) {
      ++it;
      continue;
    }
    watcher_->remove_root(*it);
    it = watched_.erase(it);
  }
  for (const std::string& r : roots) {
    if (watched_.count(r)) continue;
    try {
      watcher_->add_root(r);
      watched_.insert(r);
    } catch (const Error& e) {
      set_error(e.what());
    }
  }
}

void IndexWatcher::run() {
  auto reconcile = [this] {
    try {
      index_.sync({}, &stop_);
    } catch (const Error& e) {
      set_error(e.what());
    }
  };
  // Watch first, then reconcile: a change made during the reconcile is then seen by both, never by neither.
  watch_roots();
  reconcile();
  caught_up_ = true;
  auto last_save = Clock::now();
  auto last_roots = Clock::now();
  while (!stop_) {
    std::vector<std::string> paths;
    bool overflow = false;
    auto take = [&](std::vector<WatchEvent> events) {
      for (WatchEvent& e : events) {
        if (e.kind == WatchEvent::Kind::kOverflow) overflow = true;
        else paths.push_back(std::move(e.path));
      }
      return !events.empty();
    };
    take(watcher_->wait(std::chrono::milliseconds(500)));
    if (!paths.empty() || overflow) {
      const auto first = Clock::now();
      while (!stop_ && Clock::now() - first < options_.max_delay && take(watcher_->wait(options_.debounce))) {
      }
    }
    if (stop_) break;
    if (overflow) {
      log::info("index '{}': the watcher's event queue overflowed; rescanning", index_.name());
      reconcile();
      ++passes_;
    } else if (!paths.empty()) {
      try {
        index_.update_paths(paths, &stop_);
      } catch (const Error& e) {
        set_error(e.what());
      }
      ++passes_;
    }
    const auto now = Clock::now();
    if (refresh_.exchange(false)) {
      watch_roots();
      reconcile();
      ++passes_;
      last_roots = now;
    } else if (now - last_roots > std::chrono::seconds(2)) {
      const size_t before = watched_.size();
      watch_roots();
      // A root added by someone else is indexed now, not at the next restart.
      if (watched_.size() > before) reconcile();
      last_roots = now;
    }
    if (now - last_save > options_.save_every) {
      try {
        index_.save_vectors();
      } catch (const Error& e) {
        set_error(e.what());
      }
      last_save = now;
    }
  }
}

}  // namespace hearth::context
