// hearth index add|rm|status|watch|list|check|reembed|install-service: the context engine's indexes
// (src/context/, docs/context.md).
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/command.h"
#include "cli/progress_line.h"
#include "context/data_dir.h"
#include "context/index_watcher.h"
#include "context/json.h"
#include "context/open_index.h"
#include "core/error.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;
using context::OpenIndex;
using context::OpenIndexOptions;

struct IndexCliOptions {
  std::string index = "default";
  std::string data_dir;
  std::string model;
  int threads = 0;
  std::vector<std::string> paths;
  bool watch = false;
  bool json = false;
  bool hidden = false;
  bool no_gitignore = false;
  uint64_t max_file_bytes = 8ull << 20;
  std::vector<std::string> exclude;
};

void add_common(CLI::App& app, IndexCliOptions& o, bool model) {
  app.add_option("--index", o.index, "Index name (default: default)");
  app.add_option("--data-dir", o.data_dir, "Data folder (default: $HEARTH_DATA_DIR, $XDG_DATA_HOME/hearth)");
  if (model) {
    app.add_option("-m,--model", o.model, "Embedding model (default: the index's, else USE lite)");
    app.add_option("--threads", o.threads, "CPU threads (default: one per physical core)");
  }
}

OpenIndexOptions open_options(const IndexCliOptions& o, bool create, bool need_model) {
  OpenIndexOptions r;
  r.name = o.index;
  r.data_dir = o.data_dir;
  r.model = o.model;
  r.create = create;
  r.need_model = need_model;
  r.threads = o.threads;
  return r;
}

// Blocks SIGINT/SIGTERM in every thread (call before starting any) and sets `stop` when one arrives.
class StopOnSignal {
 public:
  explicit StopOnSignal(std::atomic<bool>& stop) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    waiter_ = std::thread([set, &stop] {
      int sig = 0;
      sigwait(&set, &sig);
      stop = true;
    });
  }
  ~StopOnSignal() {
    pthread_kill(waiter_.native_handle(), SIGTERM);
    waiter_.join();
  }

 private:
  std::thread waiter_;
};

void print_sync(const context::SyncStats& s) {
  std::fprintf(stderr,
               "%lld files: %lld indexed, %lld unchanged, %lld touched, %lld removed, %lld skipped, %lld failed; "
               "%lld chunks embedded, %lld reused; %.1f s\n",
               (long long)s.files_seen, (long long)s.files_indexed, (long long)s.files_unchanged,
               (long long)s.files_touched, (long long)s.files_removed, (long long)s.files_skipped,
               (long long)s.files_failed, (long long)s.chunks_embedded, (long long)s.chunks_reused, s.seconds);
}

context::SyncStats sync_with_progress(context::ContextIndex& index, const std::atomic<bool>* cancel) {
  ProgressLine line;
  auto stats = index.sync(
      [&](const context::IndexProgress& p) {
        if (p.state != context::IndexProgress::State::kIndexing) return;
        line.update("indexing", double(p.files_done), double(p.files_total), "files", p.files_per_second(),
                    p.eta_seconds(), fmt::format("{} chunks embedded", p.chunks_embedded));
      },
      cancel);
  line.finish();
  return stats;
}

// Follows the index's folders until SIGINT/SIGTERM.
int watch_until_signal(context::ContextIndex& index, std::atomic<bool>& stop) {
  context::IndexWatcher watcher(index, context::make_watcher());
  std::fprintf(stderr, "watching index '%s' (%zu roots); Ctrl-C stops\n", index.name().c_str(), index.roots().size());
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}

int run_add(const IndexCliOptions& o) {
  if (o.paths.empty()) fail("no path given: hearth index add PATH…");
  std::atomic<bool> stop{false};
  StopOnSignal signals(stop);
  OpenIndex opened(open_options(o, /*create=*/true, /*need_model=*/true));
  context::WalkOptions walk;
  walk.include_hidden = o.hidden;
  walk.use_gitignore = !o.no_gitignore;
  walk.max_file_bytes = o.max_file_bytes;
  walk.exclude = o.exclude;
  for (const std::string& p : o.paths) opened.index().add_root(p, walk);
  print_sync(sync_with_progress(opened.index(), &stop));
  if (o.watch && !stop) return watch_until_signal(opened.index(), stop);
  return stop ? 130 : 0;
}

int run_rm(const IndexCliOptions& o) {
  if (o.paths.empty()) fail("no path given: hearth index rm PATH…");
  OpenIndex opened(open_options(o, false, /*need_model=*/false));
  for (const std::string& p : o.paths) {
    const int64_t n = opened.index().remove_path(p);
    std::fprintf(stderr, "%s: %lld files removed from index '%s'\n", p.c_str(), (long long)n, o.index.c_str());
  }
  return 0;
}

int run_status(const IndexCliOptions& o) {
  OpenIndex opened(open_options(o, false, false));
  const context::IndexStatus s = opened.index().status();
  if (o.json) {
    std::printf("%s\n", context::status_json(s).dump(2).c_str());
    return 0;
  }
  std::printf("index:    %s (%s)\n", s.name.c_str(), s.dir.c_str());
  if (s.model) std::printf("model:    %s (%d dimensions)\n", s.model->name.c_str(), s.model->dim);
  for (const std::string& r : s.roots) std::printf("root:     %s\n", r.c_str());
  std::printf("files:    %lld (%lld indexed, %lld pending, %lld skipped, %lld failed)\n", (long long)s.counts.files,
              (long long)s.counts.indexed, (long long)s.counts.pending, (long long)s.counts.skipped,
              (long long)s.counts.failed);
  std::printf("chunks:   %lld\n", (long long)s.counts.chunks);
  for (const context::FileError& p : s.problems)
    std::printf("%s:  %s: %s\n", p.state.c_str(), p.path.c_str(), p.error.c_str());
  return 0;
}

int run_watch(const IndexCliOptions& o) {
  std::atomic<bool> stop{false};
  StopOnSignal signals(stop);
  OpenIndex opened(open_options(o, false, true));
  return watch_until_signal(opened.index(), stop);
}

int run_list(const IndexCliOptions& o) {
  for (const std::string& name : context::list_indexes(o.data_dir)) std::printf("%s\n", name.c_str());
  return 0;
}

int run_check(const IndexCliOptions& o) {
  OpenIndex opened(open_options(o, false, true));
  const std::string problems = opened.index().check();
  if (problems.empty()) {
    std::printf("index '%s' is consistent\n", o.index.c_str());
    return 0;
  }
  std::fprintf(stderr, "index '%s' is inconsistent:\n%s", o.index.c_str(), problems.c_str());
  return 1;
}

// A new index with the new model is built beside the old one from the same folders, then put in its place: the
// old one answers searches until then, and a crash midway leaves it intact.
int run_reembed(const IndexCliOptions& o) {
  if (o.model.empty()) fail("reembed needs the new model: hearth index reembed --index NAME -m MODEL");
  std::atomic<bool> stop{false};
  StopOnSignal signals(stop);
  const std::string dir = context::index_dir(o.index, o.data_dir);
  std::vector<std::pair<std::string, context::WalkOptions>> roots;
  {
    OpenIndex old(open_options(o, false, false));
    roots = old.index().root_options();
  }
  const std::string staging_name = o.index + ".reembed";
  const std::string staging = context::index_dir(staging_name, o.data_dir);
  std::error_code ec;
  fs::remove_all(staging, ec);
  {
    IndexCliOptions n = o;
    n.index = staging_name;
    OpenIndex fresh(open_options(n, true, true));
    for (auto& [root, walk] : roots) fresh.index().add_root(root, walk);
    print_sync(sync_with_progress(fresh.index(), &stop));
    if (stop) {
      fs::remove_all(staging, ec);
      return 130;
    }
  }
  const std::string old_dir = dir + ".old";
  fs::remove_all(old_dir, ec);
  fs::rename(dir, old_dir, ec);
  if (ec) fail(errno_kind(ec.value()), "cannot move {} aside: {}", dir, ec.message());
  fs::rename(staging, dir, ec);
  if (ec) {
    fs::rename(old_dir, dir);
    fail(errno_kind(ec.value()), "cannot put the re-embedded index in place: {}", ec.message());
  }
  fs::remove_all(old_dir, ec);
  std::fprintf(stderr, "index '%s' re-embedded with %s\n", o.index.c_str(), o.model.c_str());
  return 0;
}

std::string self_path() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "hearth" : p.string();
}

// A systemd user unit that runs `hearth index watch` for one index, restarted if it dies. Written, not enabled:
// the message says how, so nothing is started behind the user's back.
int run_install_service(const IndexCliOptions& o) {
  context::validate_index_name(o.index);
  std::string config;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) config = x;
  else if (const char* h = std::getenv("HOME"); h && *h) config = std::string(h) + "/.config";
  else fail(ErrorKind::kNotFound, "no config folder: set XDG_CONFIG_HOME or HOME");
  const std::string unit_dir = config + "/systemd/user";
  const std::string unit_name = "hearth-index-" + o.index + ".service";
  std::error_code ec;
  fs::create_directories(unit_dir, ec);
  if (ec) fail(errno_kind(ec.value()), "cannot create {}: {}", unit_dir, ec.message());
  std::string exec = self_path() + " index watch --index " + o.index;
  if (!o.data_dir.empty()) exec += " --data-dir " + fs::absolute(o.data_dir).string();
  const std::string unit = fmt::format(
      "[Unit]\n"
      "Description=hearth: keep index '{}' current with its folders\n"
      "After=default.target\n\n"
      "[Service]\n"
      "Type=simple\n"
      "ExecStart={}\n"
      "Restart=on-failure\n"
      "RestartSec=5\n"
      "Nice=10\n"
      "IOSchedulingClass=idle\n\n"
      "[Install]\n"
      "WantedBy=default.target\n",
      o.index, exec);
  const std::string path = unit_dir + "/" + unit_name;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << unit;
    if (!out.flush()) fail(ErrorKind::kResourceExhausted, "cannot write {}", tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) fail(errno_kind(ec.value()), "cannot write {}: {}", path, ec.message());
  std::printf("wrote %s\nstart it now and at every login with:\n  systemctl --user daemon-reload && "
              "systemctl --user enable --now %s\n",
              path.c_str(), unit_name.c_str());
  return 0;
}

using Runner = int (*)(const IndexCliOptions&);

CommandSetup setup(Runner run, bool model, int extra) {
  return [run, model, extra](CLI::App& app) -> CommandAction {
    auto o = std::make_shared<IndexCliOptions>();
    add_common(app, *o, model);
    if (extra & 1) app.add_option("paths", o->paths, "Files or folders")->required();
    if (extra & 2) app.add_flag("--json", o->json, "Print JSON");
    if (extra & 4) {
      app.add_flag("--watch", o->watch, "Keep watching the folders after indexing them (until Ctrl-C)");
      app.add_flag("--hidden", o->hidden, "Index hidden files and folders too (.git is always left out)");
      app.add_flag("--no-gitignore", o->no_gitignore, "Do not apply .gitignore files");
      app.add_option("--exclude", o->exclude, "Glob to leave out, as in .gitignore (repeatable)");
      app.add_option("--max-file-size", o->max_file_bytes, "Skip files larger than this many bytes");
    }
    return [run, o] { return run(*o); };
  };
}

CommandRegistration reg_add({"index", "add"}, "Add files or folders to an index and index them", setup(run_add, true, 1 | 4));
CommandRegistration reg_rm({"index", "rm"}, "Remove files or folders from an index", setup(run_rm, false, 1));
CommandRegistration reg_status({"index", "status"}, "Show an index's files, chunks, model and problems",
                               setup(run_status, false, 2));
CommandRegistration reg_watch({"index", "watch"}, "Keep an index current with its folders (foreground)",
                              setup(run_watch, true, 0));
CommandRegistration reg_list({"index", "list"}, "List the indexes in the data folder", setup(run_list, false, 0));
CommandRegistration reg_check({"index", "check"}, "Check that an index is consistent", setup(run_check, true, 0));
CommandRegistration reg_reembed({"index", "reembed"}, "Rebuild an index with another embedding model (-m)",
                                setup(run_reembed, true, 0));
CommandRegistration reg_service({"index", "install-service"},
                                "Write a systemd user unit that runs `hearth index watch` for an index",
                                setup(run_install_service, false, 0));

}  // namespace
}  // namespace hearth::cli
