// The Linux watcher: one inotify instance, one watch per folder (inotify is not recursive), and an eventfd that
// interrupt() writes so that a blocked wait() returns.
#include "context/watcher.h"

#include "core/error.h"

#ifdef __linux__

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include "context/walker.h"
#include "core/log.h"

namespace hearth::context {
namespace {

// What is seen: a file's content once its writer closes it (IN_CLOSE_WRITE; IN_MODIFY would fire for every
// write() of a save in progress), a name that appears or goes (create, delete, and both ends of a rename), a
// change of times or permissions (IN_ATTRIB: touch, chmod), and a watched folder itself going away.
constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
                           IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK;

std::string read_sysctl(const char* path) {
  std::ifstream in(path);
  std::string v;
  if (!(in >> v)) return "?";
  return v;
}

bool under(const std::string& path, const std::string& folder) {
  if (folder == "/") return true;
  return path == folder || (path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 &&
                            path[folder.size()] == '/');
}

std::string join(const std::string& folder, std::string_view name) {
  std::string out = folder;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

class InotifyWatcher final : public Watcher {
 public:
  InotifyWatcher() {
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) {
      const int e = errno;
      if (e == EMFILE)
        fail(ErrorKind::kResourceExhausted,
             "cannot start watching files: the limit of inotify instances is reached (fs.inotify.max_user_instances "
             "= {}; raise it with sysctl)",
             read_sysctl("/proc/sys/fs/inotify/max_user_instances"));
      fail(errno_kind(e), "cannot start watching files: inotify_init1: {}", std::strerror(e));
    }
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_ < 0) {
      const int e = errno;
      ::close(fd_);
      fail(errno_kind(e), "cannot start watching files: eventfd: {}", std::strerror(e));
    }
  }
  ~InotifyWatcher() override {
    ::close(fd_);
    ::close(wake_);
  }

  void add_root(const std::string& root_in) override {
    const std::string root = normalize_path(root_in);
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) {
      const int e = errno;
      fail(errno_kind(e), "{}: cannot watch: {}", root, std::strerror(e));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (roots_.count(root)) return;
    std::vector<int> added;
    try {
      if (S_ISDIR(st.st_mode)) {
        watch_tree(root, added, /*throw_on_error=*/true);
      } else {
        watch_one(root, false, added, true);
      }
    } catch (...) {
      // All or nothing: a root that cannot be watched whole is not watched at all.
      for (int wd : added) forget(wd, true);
      throw;
    }
    roots_.insert(root);
  }

  void remove_root(const std::string& root_in) override {
    const std::string root = normalize_path(root_in);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!roots_.erase(root)) return;
    unwatch_under(root);
  }

  std::vector<WatchEvent> wait(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        drain();
        if (!pending_.empty()) {
          std::vector<WatchEvent> out;
          out.swap(pending_);
          return out;
        }
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      const int r = ::poll(fds, 2, int(std::min<int64_t>(left.count(), 1 << 30)));
      if (r < 0 && errno != EINTR) fail(errno_kind(errno), "watching files: poll: {}", std::strerror(errno));
      if (r > 0 && (fds[1].revents & POLLIN)) {
        uint64_t v;
        while (::read(wake_, &v, sizeof v) > 0) {
        }
        std::lock_guard<std::mutex> lock(mutex_);
        drain();
        std::vector<WatchEvent> out;
        out.swap(pending_);
        return out;
      }
    }
  }

  void interrupt() override {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_, &one, sizeof one);
  }

 private:
  // Adds a watch for `path`; false when it cannot be watched (vanished, unreadable), or throws for the system's
  // limit when `throw_on_error` (for a folder found later, the limit is logged: wait() cannot throw it usefully).
  bool watch_one(const std::string& path, bool folder, std::vector<int>& added, bool throw_on_error) {
    const int wd = ::inotify_add_watch(fd_, path.c_str(), kMask | (folder ? IN_ONLYDIR | IN_DONT_FOLLOW : 0));
    if (wd < 0) {
      const int e = errno;
      if (e == ENOSPC) {
        const std::string msg = fmt::format(
            "{}: cannot watch: the limit of inotify watches is reached (fs.inotify.max_user_watches = {}; raise "
            "it with sysctl)",
            path, read_sysctl("/proc/sys/fs/inotify/max_user_watches"));
        if (throw_on_error) throw Error(msg, ErrorKind::kResourceExhausted);
        log::warn("{}", msg);
      } else if (throw_on_error && added.empty()) {
        fail(errno_kind(e), "{}: cannot watch: {}", path, std::strerror(e));
      }
      return false;
    }
    auto it = by_wd_.find(wd);
    if (it != by_wd_.end() && it->second != path) by_path_.erase(it->second);  // same inode, new name
    if (it == by_wd_.end() || it->second != path) added.push_back(wd);
    by_wd_[wd] = path;
    by_path_[path] = wd;
    return true;
  }

  // Watches `folder` and every folder below it (not following symlinks; .git is left out, as the walker leaves
  // it out). Sub-folders that cannot be read are skipped.
  void watch_tree(const std::string& folder, std::vector<int>& added, bool throw_on_error) {
    if (!watch_one(folder, true, added, throw_on_error)) return;
    std::vector<std::string> subs;
    if (DIR* dir = ::opendir(folder.c_str())) {
      const int dfd = ::dirfd(dir);
      while (const dirent* e = ::readdir(dir)) {
        const std::string_view name = e->d_name;
        if (name == "." || name == ".." || name == ".git") continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
        struct stat st {};
        if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
        subs.push_back(join(folder, name));
      }
      ::closedir(dir);
    }
    for (const std::string& s : subs) watch_tree(s, added, throw_on_error);
  }

  void forget(int wd, bool remove_watch) {
    auto it = by_wd_.find(wd);
    if (it == by_wd_.end()) return;
    if (remove_watch) ::inotify_rm_watch(fd_, wd);
    by_path_.erase(it->second);
    by_wd_.erase(it);
  }

  // The watches of `folder` and of everything below it ("a/b" and "a/b/…", not "a/b-c").
  std::vector<std::pair<std::string, int>> watches_under(const std::string& folder) const {
    std::vector<std::pair<std::string, int>> out;
    if (auto it = by_path_.find(folder); it != by_path_.end()) out.emplace_back(*it);
    const std::string prefix = folder == "/" ? "/" : folder + "/";
    for (auto it = by_path_.lower_bound(prefix); it != by_path_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
         ++it)
      if (it->first != folder) out.emplace_back(*it);
    return out;
  }

  // Drops the watches of `folder` and below, except those another root still needs.
  void unwatch_under(const std::string& folder) {
    std::vector<int> drop;
    for (const auto& [path, wd] : watches_under(folder)) {
      bool needed = false;
      for (const std::string& r : roots_)
        if (under(path, r)) needed = true;
      if (!needed) drop.push_back(wd);
    }
    for (int wd : drop) forget(wd, true);
  }

  // A folder moved or deleted away: its watches (which follow the inode, wherever it went) are dropped.
  void drop_subtree(const std::string& folder) {
    for (const auto& entry : watches_under(folder)) forget(entry.second, true);
  }

  // Reads every queued event and turns it into pending_ events. Called with mutex_ held.
  void drain() {
    alignas(inotify_event) char buf[64 * 1024];
    while (true) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // EAGAIN: nothing more
      }
      if (n == 0) return;
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        off += ssize_t(sizeof(inotify_event) + ev->len);
        handle(*ev);
      }
    }
  }

  void handle(const inotify_event& ev) {
    if (ev.mask & IN_Q_OVERFLOW) {
      if (pending_.empty() || pending_.back().kind != WatchEvent::Kind::kOverflow)
        pending_.push_back({WatchEvent::Kind::kOverflow, ""});
      return;
    }
    auto it = by_wd_.find(ev.wd);
    if (ev.mask & IN_IGNORED) {
      // The kernel dropped the watch (its folder was deleted, or it was removed).
      if (it != by_wd_.end()) forget(ev.wd, false);
      return;
    }
    if (it == by_wd_.end()) return;  // a watch already dropped
    const std::string base = it->second;
    const std::string path = ev.len > 0 ? join(base, std::string_view(ev.name)) : base;
    if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
      // Only a root needs saying: any other folder's parent reported the deletion or move.
      if (roots_.count(base)) {
        pending_.push_back({WatchEvent::Kind::kRemoved, base});
        if (ev.mask & IN_MOVE_SELF) drop_subtree(base);
      }
      return;
    }
    const bool folder = ev.mask & IN_ISDIR;
    if (ev.mask & (IN_DELETE | IN_MOVED_FROM)) {
      if (folder && (ev.mask & IN_MOVED_FROM)) drop_subtree(path);
      pending_.push_back({WatchEvent::Kind::kRemoved, path});
      return;
    }
    if (folder && (ev.mask & (IN_CREATE | IN_MOVED_TO))) {
      // A new folder: watch it and what is already inside, and have the caller rescan it, since files made in
      // it before its watch existed raised no event.
      if (std::string_view(ev.name) != ".git") {
        std::vector<int> added;
        watch_tree(path, added, false);
      }
      pending_.push_back({WatchEvent::Kind::kChanged, path});
      return;
    }
    if (ev.mask & (IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_ATTRIB)) {
      pending_.push_back({WatchEvent::Kind::kChanged, path});
    }
  }

  int fd_ = -1, wake_ = -1;
  std::mutex mutex_;
  std::set<std::string> roots_;
  std::unordered_map<int, std::string> by_wd_;
  std::map<std::string, int> by_path_;  // ordered: a folder's subtree is one range
  std::vector<WatchEvent> pending_;
};

}  // namespace

std::unique_ptr<Watcher> make_watcher() { return std::make_unique<InotifyWatcher>(); }

}  // namespace hearth::context

#else  // !__linux__

namespace hearth::context {

std::unique_ptr<Watcher> make_watcher() {
  fail(ErrorKind::kUnsupported, "watching folders is not supported on this platform (Linux inotify only)");
}

}  // namespace hearth::context

#endif
