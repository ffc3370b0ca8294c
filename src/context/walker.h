// Finding the files of an indexed folder: a recursive walk that applies IgnoreRules (.gitignore files as it finds
// them, hidden names, the user's globs), skips what is not a regular file (symlinks are not followed, so a link
// cycle cannot loop), and skips files over the size cap. Binary files are not sniffed here (that needs their
// bytes): the indexer does it when it reads them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::context {

struct WalkOptions {
  uint64_t max_file_bytes = 8ull << 20;   // larger files are skipped
  bool include_hidden = false;            // names starting with "." (".git" is skipped always)
  bool use_gitignore = true;
  std::vector<std::string> exclude;       // globs relative to the root ("!" re-includes), as in .gitignore
};

struct FoundFile {
  std::string path;      // absolute, normalized ("/a/b/c.md")
  int64_t mtime_ns = 0;
  uint64_t size = 0;
};

// Every file under `root` that is indexable, sorted by path. A root that is a file gives that file alone (if
// the size cap allows). Throws Error kNotFound when root does not exist. Unreadable sub-folders are skipped.
std::vector<FoundFile> walk(const std::string& root, const WalkOptions& options = {});

// Whether one file under `root` would be found by walk(root, options): the watcher's events go through this, so
// a file created in an ignored folder, or a new .gitignore's effect, matches what a rescan would do. Reads the
// .gitignore files on the way from root to the file. False when the file does not exist.
bool is_indexable(const std::string& root, const std::string& path, const WalkOptions& options = {});

// "/a/./b/../c/" -> "/a/c"; relative paths are made absolute against the current folder. No symlink resolution.
std::string normalize_path(const std::string& path);

}  // namespace hearth::context
