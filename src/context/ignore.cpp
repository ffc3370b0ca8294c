#include "context/ignore.h"

#include <cctype>
#include <cstddef>
#include <cstring>
#include <string>

namespace hearth::context {
namespace {

// git's wildmatch (wildmatch.c, WM_PATHNAME, case-sensitive), over NUL-terminated strings: paths and patterns
// never contain NUL (a pattern cut at one matches less, never more).
enum { kNoMatch = 1, kMatch = 0, kAbortAll = -1, kAbortToStarStar = -2 };

bool is_glob_special(unsigned char c) { return c == '*' || c == '?' || c == '[' || c == '\\'; }

bool class_matches(const unsigned char* name, size_t len, unsigned char c) {
  auto is = [&](const char* n) { return std::strlen(n) == len && std::memcmp(name, n, len) == 0; };
  if (is("alnum")) return std::isalnum(c);
  if (is("alpha")) return std::isalpha(c);
  if (is("blank")) return c == ' ' || c == '\t';
  if (is("cntrl")) return std::iscntrl(c);
  if (is("digit")) return c >= '0' && c <= '9';
  if (is("graph")) return std::isgraph(c);
  if (is("lower")) return c >= 'a' && c <= 'z';
  if (is("print")) return std::isprint(c);
  if (is("punct")) return std::ispunct(c);
  if (is("space")) return std::isspace(c);
  if (is("upper")) return c >= 'A' && c <= 'Z';
  if (is("xdigit")) return std::isxdigit(c);
  return false;
}

bool known_class(const unsigned char* name, size_t len) {
  static constexpr const char* kNames[] = {"alnum", "alpha", "blank", "cntrl", "digit", "graph",
                                           "lower", "print", "punct", "space", "upper", "xdigit"};
  for (const char* n : kNames)
    if (std::strlen(n) == len && std::memcmp(name, n, len) == 0) return true;
  return false;
}

int dowild(const unsigned char* p, const unsigned char* text) {
  const unsigned char* pattern = p;
  unsigned char p_ch;
  for (; (p_ch = *p) != '\0'; text++, p++) {
    int matched, negated;
    bool match_slash;
    unsigned char t_ch, prev_ch;
    if ((t_ch = *text) == '\0' && p_ch != '*') return kAbortAll;
    switch (p_ch) {
      case '\\':
        // A literal match with the next character (a trailing backslash matches nothing).
        p_ch = *++p;
        if (p_ch == '\0') return kNoMatch;
        [[fallthrough]];
      default:
        if (t_ch != p_ch) return kNoMatch;
        continue;
      case '?':
        if (t_ch == '/') return kNoMatch;
        continue;
      case '*':
        if (*++p == '*') {
          const unsigned char* prev_p = p - 2;
          while (*++p == '*') {
          }
          if ((prev_p < pattern || *prev_p == '/') && (*p == '\0' || *p == '/' || (p[0] == '\\' && p[1] == '/'))) {
            // "**/" at a folder boundary: try it as matching no folder first ("a/**/b" matches "a/b").
            if (p[0] == '/' && dowild(p + 1, text) == kMatch) return kMatch;
            match_slash = true;
          } else {
            match_slash = false;  // "**" inside a name is "*"
          }
        } else {
          match_slash = false;
        }
        if (*p == '\0') {
          // A trailing "**" matches everything; a trailing "*" only what has no more slashes.
          if (!match_slash && std::strchr(reinterpret_cast<const char*>(text), '/')) return kNoMatch;
          return kMatch;
        } else if (!match_slash && *p == '/') {
          // One "*" followed by a slash matches the rest of this folder name.
          const char* slash = std::strchr(reinterpret_cast<const char*>(text), '/');
          if (!slash) return kNoMatch;
          text = reinterpret_cast<const unsigned char*>(slash);
          break;  // the slash is consumed by the loop
        }
        while (true) {
          if (t_ch == '\0') break;
          // Skip ahead to the next occurrence of a literal that follows the star.
          if (!is_glob_special(*p)) {
            p_ch = *p;
            while ((t_ch = *text) != '\0' && (match_slash || t_ch != '/')) {
              if (t_ch == p_ch) break;
              text++;
            }
            if (t_ch != p_ch) return kNoMatch;
          }
          if ((matched = dowild(p, text)) != kNoMatch) {
            if (!match_slash || matched != kAbortToStarStar) return matched;
          } else if (!match_slash && t_ch == '/') {
            return kAbortToStarStar;
          }
          t_ch = *++text;
        }
        return kAbortAll;
      case '[':
        p_ch = *++p;
        if (p_ch == '^') p_ch = '!';
        negated = p_ch == '!' ? 1 : 0;
        if (negated) p_ch = *++p;
        prev_ch = 0;
        matched = 0;
        do {
          if (!p_ch) return kAbortAll;
          if (p_ch == '\\') {
            p_ch = *++p;
            if (!p_ch) return kAbortAll;
            if (t_ch == p_ch) matched = 1;
          } else if (p_ch == '-' && prev_ch && p[1] && p[1] != ']') {
            p_ch = *++p;
            if (p_ch == '\\') {
              p_ch = *++p;
              if (!p_ch) return kAbortAll;
            }
            if (t_ch <= p_ch && t_ch >= prev_ch) matched = 1;
            p_ch = 0;  // so that prev_ch is 0: "a-c-e" is a range and a literal '-' and 'e'
          } else if (p_ch == '[' && p[1] == ':') {
            const unsigned char* s = p += 2;
            while ((p_ch = *p) && p_ch != ']') p++;
            if (!p_ch) return kAbortAll;
            const ptrdiff_t len = p - s - 1;
            if (len < 0 || p[-1] != ':') {
              // Not "[:name:]": a literal '['.
              p = s - 2;
              p_ch = '[';
              if (t_ch == p_ch) matched = 1;
              continue;
            }
            if (!known_class(s, size_t(len))) return kAbortAll;
            if (class_matches(s, size_t(len), t_ch)) matched = 1;
            p_ch = 0;
          } else if (t_ch == p_ch) {
            matched = 1;
          }
        } while (prev_ch = p_ch, (p_ch = *++p) != ']');
        if (matched == negated || t_ch == '/') return kNoMatch;
        continue;
    }
  }
  return *text ? kNoMatch : kMatch;
}

bool has_glob_special(std::string_view s) {
  for (char c : s)
    if (is_glob_special(static_cast<unsigned char>(c))) return true;
  return false;
}

// git's trim_trailing_spaces: trailing spaces go, unless escaped with a backslash.
std::string_view trim_trailing_spaces(std::string_view s) {
  size_t last_space = std::string_view::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    switch (s[i]) {
      case ' ':
        if (last_space == std::string_view::npos) last_space = i;
        break;
      case '\\':
        ++i;
        if (i >= s.size()) return s;
        [[fallthrough]];
      default:
        last_space = std::string_view::npos;
    }
  }
  return last_space == std::string_view::npos ? s : s.substr(0, last_space);
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  const std::string p(pattern.substr(0, pattern.find('\0')));
  const std::string t(path.substr(0, path.find('\0')));
  return dowild(reinterpret_cast<const unsigned char*>(p.c_str()), reinterpret_cast<const unsigned char*>(t.c_str())) ==
         kMatch;
}

void IgnoreRules::add_pattern(std::string_view pattern) {
  std::string_view line = pattern;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // a .gitignore saved with CRLF line ends
  line = trim_trailing_spaces(line);
  if (line.empty() || line[0] == '#') return;
  Pattern p;
  if (line[0] == '!') {
    p.negated = true;
    line.remove_prefix(1);
  }
  if (!line.empty() && line.back() == '/') {
    p.folder_only = true;
    line.remove_suffix(1);
  }
  if (line.empty()) return;
  // A slash at the start or in the middle anchors the pattern to its folder; without one it matches a name at
  // any depth below the folder.
  if (line.find('/') != std::string_view::npos) {
    p.anchored = true;
    if (line[0] == '/') line.remove_prefix(1);
    if (line.empty()) return;
  }
  p.glob = std::string(line);
  patterns_.push_back(std::move(p));
}

void IgnoreRules::add_gitignore(std::string_view folder, std::string_view content) {
  if (content.size() >= 3 && content.compare(0, 3, "\xEF\xBB\xBF") == 0) content.remove_prefix(3);
  std::string base(folder);
  while (!base.empty() && base.back() == '/') base.pop_back();
  while (!base.empty() && base.front() == '/') base.erase(base.begin());
  size_t start = 0;
  while (start <= content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string_view::npos) end = content.size();
    const size_t before = patterns_.size();
    add_pattern(content.substr(start, end - start));
    if (patterns_.size() > before) patterns_.back().base = base;
    start = end + 1;
  }
}

bool IgnoreRules::ignored(std::string_view path, bool is_folder) const {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty() || patterns_.empty()) return false;
  // The verdict for one path: the last pattern that matches it decides.
  auto excluded = [&](std::string_view p, bool folder) {
    const size_t slash = p.find_last_of('/');
    const std::string_view name = slash == std::string_view::npos ? p : p.substr(slash + 1);
    for (size_t i = patterns_.size(); i-- > 0;) {
      const Pattern& pat = patterns_[i];
      if (pat.folder_only && !folder) continue;
      std::string_view rel = p;
      if (!pat.base.empty()) {
        if (rel.size() <= pat.base.size() || rel.compare(0, pat.base.size(), pat.base) != 0 ||
            rel[pat.base.size()] != '/')
          continue;
        rel.remove_prefix(pat.base.size() + 1);
      }
      bool match;
      if (!pat.anchored) {
        match = has_glob_special(pat.glob) ? glob_match(pat.glob, name) : name == pat.glob;
      } else {
        match = has_glob_special(pat.glob) ? glob_match(pat.glob, rel) : rel == pat.glob;
      }
      if (match) return !pat.negated;
    }
    return false;
  };
  // git's rule: a folder that is excluded is not entered, so nothing inside it can be re-included.
  for (size_t slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/', slash + 1))
    if (excluded(path.substr(0, slash), true)) return true;
  return excluded(path, is_folder);
}

}  // namespace hearth::context
