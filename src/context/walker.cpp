#include "context/walker.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

#include "context/ignore.h"
#include "core/error.h"

namespace hearth::context {
namespace {

// .gitignore files larger than this are not read (no real one comes close).
constexpr size_t kMaxGitignoreBytes = 1 << 20;

int64_t mtime_ns(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }

std::string join(const std::string& folder, std::string_view name) {
  std::string out = folder;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

// The content of `folder`/.gitignore when it is a regular file, else "".
bool read_gitignore(const std::string& folder, std::string& content) {
  const std::string path = join(folder, ".gitignore");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || size_t(st.st_size) > kMaxGitignoreBytes) {
    ::close(fd);
    return false;
  }
  content.assign(size_t(st.st_size), '\0');
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::read(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += size_t(n);
  }
  content.resize(done);
  ::close(fd);
  return true;
}

// The rules in force inside one folder: the .gitignore files from the root down to it, then the user's globs
// (which therefore override the .gitignore files, as git's command-line excludes do).
struct Rules {
  std::shared_ptr<const IgnoreRules> gitignores;
  std::shared_ptr<const IgnoreRules> effective;
};

Rules enter_folder(const Rules& parent, const std::string& abs_folder, const std::string& rel_folder,
                   const WalkOptions& options) {
  std::string content;
  if (!options.use_gitignore || !read_gitignore(abs_folder, content)) return parent;
  auto git = std::make_shared<IgnoreRules>(*parent.gitignores);
  git->add_gitignore(rel_folder, content);
  auto effective = std::make_shared<IgnoreRules>(*git);
  for (const std::string& p : options.exclude) effective->add_pattern(p);
  return {std::move(git), std::move(effective)};
}

Rules root_rules(const WalkOptions& options) {
  auto git = std::make_shared<IgnoreRules>();
  auto effective = std::make_shared<IgnoreRules>();
  for (const std::string& p : options.exclude) effective->add_pattern(p);
  return {std::move(git), std::move(effective)};
}

bool hidden_skipped(std::string_view name, const WalkOptions& options) {
  if (name == ".git") return true;
  return !options.include_hidden && !name.empty() && name[0] == '.';
}

void walk_folder(const std::string& abs, const std::string& rel, const Rules& parent_rules, const WalkOptions& options,
                 std::vector<FoundFile>& out) {
  const Rules rules = enter_folder(parent_rules, abs, rel, options);
  struct Entry {
    std::string name;
    struct stat st;
  };
  std::vector<Entry> entries;
  {
    // All entries first, then the folder is closed: a deep tree holds one descriptor at a time.
    DIR* dir = ::opendir(abs.c_str());
    if (!dir) return;  // unreadable: skipped
    const int fd = ::dirfd(dir);
    while (const dirent* e = ::readdir(dir)) {
      const std::string_view name = e->d_name;
      if (name == "." || name == ".." || hidden_skipped(name, options)) continue;
      struct stat st {};
      if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;  // symlinks, sockets, devices
      entries.push_back({std::string(name), st});
    }
    ::closedir(dir);
  }
  for (const Entry& e : entries) {
    const std::string child_rel = rel.empty() ? e.name : rel + "/" + e.name;
    const bool folder = S_ISDIR(e.st.st_mode);
    if (!folder && uint64_t(e.st.st_size) > options.max_file_bytes) continue;
    if (rules.effective->ignored(child_rel, folder)) continue;
    const std::string child_abs = join(abs, e.name);
    if (folder) {
      walk_folder(child_abs, child_rel, rules, options, out);
    } else {
      out.push_back({child_abs, mtime_ns(e.st), uint64_t(e.st.st_size)});
    }
  }
}

}  // namespace

std::string normalize_path(const std::string& path) {
  std::string input = path;
  if (input.empty() || input[0] != '/') {
    std::string cwd(4096, '\0');
    while (::getcwd(cwd.data(), cwd.size()) == nullptr) {
      if (errno != ERANGE) fail(errno_kind(errno), "cannot get the current folder: {}", std::strerror(errno));
      cwd.resize(cwd.size() * 2);
    }
    cwd.resize(std::strlen(cwd.c_str()));
    input = cwd + "/" + input;
  }
  std::vector<std::string_view> parts;
  const std::string_view s = input;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == '/') ++i;
    const size_t b = i;
    while (i < s.size() && s[i] != '/') ++i;
    const std::string_view part = s.substr(b, i - b);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  if (parts.empty()) return "/";
  std::string out;
  for (const auto& p : parts) {
    out += '/';
    out += p;
  }
  return out;
}

std::vector<FoundFile> walk(const std::string& root_in, const WalkOptions& options) {
  const std::string root = normalize_path(root_in);
  struct stat st {};
  // The root itself is followed when it is a symlink (the user named it); nothing below it is.
  if (::stat(root.c_str(), &st) != 0) {
    const int e = errno;
    fail(errno_kind(e) == ErrorKind::kNotFound ? ErrorKind::kNotFound : errno_kind(e), "{}: cannot index: {}", root,
         std::strerror(e));
  }
  std::vector<FoundFile> out;
  if (S_ISREG(st.st_mode)) {
    if (uint64_t(st.st_size) <= options.max_file_bytes) out.push_back({root, mtime_ns(st), uint64_t(st.st_size)});
    return out;
  }
  if (!S_ISDIR(st.st_mode)) return out;
  walk_folder(root, "", root_rules(options), options, out);
  std::sort(out.begin(), out.end(), [](const FoundFile& a, const FoundFile& b) { return a.path < b.path; });
  return out;
}

bool is_indexable(const std::string& root_in, const std::string& path_in, const WalkOptions& options) {
  const std::string root = normalize_path(root_in);
  const std::string path = normalize_path(path_in);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    // A root that is a symlink to a file is followed, as walk() follows it.
    if (path != root || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  }
  if (uint64_t(st.st_size) > options.max_file_bytes) return false;
  if (path == root) return true;
  struct stat root_st {};
  if (::stat(root.c_str(), &root_st) != 0 || !S_ISDIR(root_st.st_mode)) return false;
  const std::string prefix = root == "/" ? "/" : root + "/";
  if (path.size() <= prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string rel = path.substr(prefix.size());

  // Down from the root as walk() goes: each folder on the way must be a real, readable folder that is neither
  // hidden nor ignored, and its .gitignore applies below it.
  Rules rules = enter_folder(root_rules(options), root, "", options);
  if (::access(root.c_str(), R_OK | X_OK) != 0) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = rel.find('/', start);
    const std::string_view name = std::string_view(rel).substr(start, slash == std::string::npos ? rel.npos : slash - start);
    if (hidden_skipped(name, options)) return false;
    if (slash == std::string::npos) break;
    const std::string folder_rel = rel.substr(0, slash);
    const std::string folder_abs = prefix + folder_rel;
    struct stat fst {};
    if (::lstat(folder_abs.c_str(), &fst) != 0 || !S_ISDIR(fst.st_mode)) return false;
    if (::access(folder_abs.c_str(), R_OK | X_OK) != 0) return false;
    if (rules.effective->ignored(folder_rel, true)) return false;
    rules = enter_folder(rules, folder_abs, folder_rel, options);
    start = slash + 1;
  }
  return !rules.effective->ignored(rel, false);
}

}  // namespace hearth::context
