// Which files of an indexed folder are left out: .gitignore files (git's semantics: per-folder files whose
// patterns are relative to their folder, later and deeper patterns override earlier ones, "!" re-includes,
// a trailing "/" matches folders only, a "/" elsewhere anchors the pattern, "*", "?", "[…]" and "**"), hidden
// files and folders (a name starting with "."; .git always), files over a size cap, and the user's own globs.
//
// IgnoreRules is a value: copy one per folder level while walking. Thread-safe for concurrent const use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hearth::context {

// git's wildmatch for one pattern against a path relative to the pattern's base ("a/b/c.txt"): "*" and "?" do
// not cross "/", "**/" / "/**" / "/**/" match any number of folders, "[a-z]" / "[!a]" classes, "\" escapes.
bool glob_match(std::string_view pattern, std::string_view path);

class IgnoreRules {
 public:
  // Adds the patterns of a .gitignore found in `folder` (relative to the walk's root, "" for the root itself).
  void add_gitignore(std::string_view folder, std::string_view content);
  // Adds one pattern with the root as its base (the user's --exclude globs; "!" re-includes, as in .gitignore).
  void add_pattern(std::string_view pattern);

  // Whether `path` (relative to the root) is ignored by the patterns; `is_folder` for folder-only patterns.
  // A file inside an ignored folder is ignored whatever later patterns say (git's rule).
  bool ignored(std::string_view path, bool is_folder) const;

 private:
  struct Pattern {
    std::string base;     // folder the pattern is relative to
    std::string glob;
    bool negated = false, folder_only = false, anchored = false;
  };
  std::vector<Pattern> patterns_;
};

}  // namespace hearth::context
