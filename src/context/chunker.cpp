// The chunker in three steps:
//  1. Structure: the text is cut into segments that no chunk crosses (Markdown sections; the whole file
//     otherwise) and each segment into blocks (code: definitions with their comments and decorators; Markdown:
//     paragraphs and fenced code blocks; text: paragraphs).
//  2. Units: a block that fits the bound is one unit; a longer one becomes its lines, a line over the bound its
//     sentences (prose) or word groups (code), and a word over the bound groups of characters. Each unit is counted
//     once, and each carries the strength of the boundary before it (definition > member > paragraph > line >
//     sentence > word).
//  3. Packing: units are taken greedily while their counts add up to the bound; the chunk then ends at the
//     strongest boundary in reach (a weak one only when it leaves the chunk at least half full), its exact count is
//     checked with the counter (sums of parts can differ from the count of the whole) and it is shortened when
//     over, and the next chunk starts with an overlap: the previous chunk's last lines or sentences.
#include "context/chunker.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/error.h"

namespace hearth::context {
namespace {

// Boundary strengths, weakest first.
// kHard: no chunk crosses it (around a definition or fenced block that was split, so that its pieces are not
// packed together with its neighbours).
enum : uint8_t { kWord = 0, kSentence = 1, kLine = 2, kPara = 3, kMember = 4, kTop = 5, kHard = 6 };

// A block whose bytes exceed this many per token of the bound is not counted whole (it cannot fit).
constexpr size_t kMaxBytesPerToken = 32;
constexpr size_t kMaxTitleBytes = 80;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_hspace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool is_cont(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }
bool is_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// True when s starts with the word w (followed by a non-identifier character or the end).
bool starts_with_word(std::string_view s, std::string_view w) {
  return starts_with(s, w) && (s.size() == w.size() || !is_ident(s[w.size()]));
}

struct Block {
  size_t begin = 0, end = 0;  // bytes
  uint8_t strength = kPara;   // of the boundary before it
  bool prose = true;          // sentences are units, and an overlap may start at one
  std::string title;
};

struct Unit {
  size_t begin, end;  // trimmed: no leading or trailing whitespace
  int tokens;
  uint8_t strength;
  uint32_t block;
};

class LineIndex {
 public:
  explicit LineIndex(std::string_view text) : size_(text.size()) {
    starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') starts_.push_back(i + 1);
  }
  size_t count() const { return starts_.size(); }
  size_t begin(size_t line) const { return line < starts_.size() ? starts_[line] : size_; }
  // End of the line's content (its '\n' excluded).
  size_t content_end(size_t line) const { return line + 1 < starts_.size() ? starts_[line + 1] - 1 : size_; }
  // 1-based number of the line holding byte `pos`.
  uint32_t line_of(size_t pos) const {
    return uint32_t(std::upper_bound(starts_.begin(), starts_.end(), pos) - starts_.begin());
  }

 private:
  size_t size_;
  std::vector<size_t> starts_;
};

// ---- Titles ---------------------------------------------------------------------------------------------------

std::string collapse_spaces(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (is_space(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string cap_title(std::string s) {
  if (s.size() > kMaxTitleBytes) {
    size_t cut = kMaxTitleBytes;
    while (cut > 0 && is_cont(s[cut])) --cut;
    s.resize(cut);
    while (!s.empty() && s.back() == ' ') s.pop_back();
  }
  return s;
}

// Skips a balanced (…) or […] group starting at s[i]; returns the index after it.
size_t skip_group(std::string_view s, size_t i) {
  const char open = s[i], close = open == '(' ? ')' : ']';
  int depth = 0;
  for (; i < s.size(); ++i) {
    if (s[i] == open) ++depth;
    if (s[i] == close && --depth == 0) return i + 1;
  }
  return s.size();
}

// The title of a definition from its head (the text up to its body): "def parse_args", "fn main",
// "func (s *Server) Start", "class Foo : public Bar"; "" for imports, includes and the like.
std::string title_from_head(std::string_view head_in, bool python, bool csharp) {
  std::string s = collapse_spaces(head_in);
  std::string_view v = s;
  // Decorators, annotations and attributes are not the name.
  while (!v.empty()) {
    if (v[0] == '@' && !starts_with(v, "@interface")) {
      size_t i = 1;
      while (i < v.size() && (is_ident(v[i]) || v[i] == '.')) ++i;
      if (i < v.size() && v[i] == '(') i = skip_group(v, i);
      v.remove_prefix(i);
    } else if (starts_with(v, "#[") || starts_with(v, "#![")) {
      v.remove_prefix(skip_group(v, v.find('[')));
    } else if (csharp && v[0] == '[') {
      v.remove_prefix(skip_group(v, 0));
    } else {
      break;
    }
    while (!v.empty() && v[0] == ' ') v.remove_prefix(1);
  }
  if (v.empty() || v[0] == '#' || v[0] == '/' || v[0] == '*') return "";
  static constexpr const char* kNotDefinitions[] = {"import", "package", "use", "using", "from", "require",
                                                    "include", "module.exports", "export *", "export {"};
  for (const char* w : kNotDefinitions)
    if (starts_with_word(v, w) || starts_with(v, w + std::string(" "))) return "";
  if (python) {
    if (!starts_with_word(v, "def") && !starts_with_word(v, "class") && !starts_with_word(v, "async")) return "";
  }
  size_t cut = std::string_view::npos;
  if (starts_with(v, "func (")) {
    // Go: a method's receiver comes before its name.
    const size_t receiver_end = skip_group(v, 5);
    cut = v.find('(', receiver_end);
  } else {
    cut = v.find_first_of(python ? "(:={;" : "({;=");
  }
  std::string out(v.substr(0, cut));
  while (!out.empty() && (out.back() == ' ' || out.back() == ':')) out.pop_back();
  return cap_title(out);
}

// ---- Code structure -------------------------------------------------------------------------------------------

struct CodeStart {
  size_t line;
  uint8_t strength;
};

struct LangSyntax {
  bool python = false;
  bool brace = false;
  bool semicolons = true;            // statements end with ';' or a block: C, C++, Java, C#, PHP, Rust, CSS
  bool single_quote_strings = false;  // '…' is a string (JS, TS, PHP, Dart, CSS), else a character literal
  bool template_literals = false;    // JS/TS `…${…}…`
  bool backtick_raw = false;         // Go `…`
  bool triple_quotes = false;        // """…""" (Java text blocks, Kotlin, Swift, Scala, Dart)
  bool rust = false;                 // r#"…"#, lifetimes, strings across lines, #[attributes]
  bool cpp_raw = false;              // R"delim(…)delim"
  bool csharp = false;               // @"…", [Attributes]
  bool preprocessor = false;         // # lines (C, C++, Objective-C, C#)
  bool nested_comments = false;      // Rust, Swift, Kotlin, Scala
  bool css = false;
  bool c_like = false;               // "struct f(…) {" is a function returning a struct, not a container
};

LangSyntax syntax_for(const std::string& lang) {
  LangSyntax s;
  if (lang == "python" || lang == "starlark") {
    s.python = true;
    return s;
  }
  s.brace = true;
  if (lang == "c" || lang == "cpp" || lang == "objc") {
    s.preprocessor = s.c_like = true;
    s.cpp_raw = lang != "c";
  } else if (lang == "java") {
    s.triple_quotes = true;
  } else if (lang == "csharp") {
    s.csharp = s.preprocessor = true;
  } else if (lang == "php") {
    s.single_quote_strings = true;
  } else if (lang == "css") {
    s.css = s.single_quote_strings = true;
  } else if (lang == "rust") {
    s.rust = s.nested_comments = true;
  } else if (lang == "go") {
    s.semicolons = false;
    s.backtick_raw = true;
  } else if (lang == "javascript" || lang == "typescript") {
    s.semicolons = false;
    s.single_quote_strings = s.template_literals = true;
  } else if (lang == "kotlin" || lang == "scala" || lang == "swift") {
    s.semicolons = false;
    s.triple_quotes = s.nested_comments = true;
  } else if (lang == "dart") {
    s.semicolons = false;
    s.triple_quotes = s.single_quote_strings = true;
  } else {
    s.brace = false;  // no definition heuristics: blank lines and lines
  }
  return s;
}

bool is_decorator_line(std::string_view rest, const LangSyntax& lang) {
  if (lang.css) return false;
  if (rest[0] == '@') return !starts_with(rest, "@interface");
  if ((lang.rust || lang.csharp) && starts_with(rest, "#[")) return true;
  if (lang.rust && starts_with(rest, "#![")) return false;
  if (lang.csharp && rest[0] == '[') return true;
  return false;
}

// C++'s "public:", "private:", "protected:", Qt's "public slots:", "signals:".
bool is_access_label(std::string_view rest) {
  size_t i = 0;
  while (i < rest.size() && ((rest[i] >= 'a' && rest[i] <= 'z') || rest[i] == ' ' || rest[i] == '_')) ++i;
  if (i == 0 || i >= rest.size() || rest[i] != ':' || (i + 1 < rest.size() && rest[i + 1] == ':')) return false;
  for (size_t k = i + 1; k < rest.size(); ++k)
    if (!is_space(rest[k])) return false;
  const std::string_view word = rest.substr(0, rest.find_first_of(" :"));
  return word == "public" || word == "private" || word == "protected" || word == "signals" || word == "slots";
}

// A line that continues the statement above (free-form languages): it starts with an operator or closer, or
// with a keyword that cannot start a statement.
bool is_continuation_line(std::string_view rest) {
  static constexpr std::string_view kChars = ".,)]}?:+-*/%&|^=<>{";
  if (kChars.find(rest[0]) != std::string_view::npos) return true;
  static constexpr const char* kWords[] = {"else", "catch", "finally", "where", "extends", "implements", "throws"};
  for (const char* w : kWords)
    if (starts_with_word(rest, w)) return true;
  return false;
}

bool is_continuation_end(char c) {
  static constexpr std::string_view kChars = ",([=+-*/%&|^<>?:.\\";
  return kChars.find(c) != std::string_view::npos;
}

// Whether the statement head before a '{' opens a container whose members are definitions of their own: a
// class, interface, impl, … (kClassLike), or a namespace, extern "C" block or module, whose members are as good as
// top-level ones (kTransparent). ("struct f(…) {" in C is a function.)
enum Container { kNotContainer, kClassLike, kTransparent };

Container container_kind(std::string_view head_in, const LangSyntax& lang) {
  std::string head = collapse_spaces(head_in);
  std::string_view v = head;
  if (lang.css)
    return starts_with(v, "@media") || starts_with(v, "@supports") || starts_with(v, "@layer") ||
                   starts_with(v, "@container") || starts_with(v, "@document")
               ? kTransparent
               : kNotContainer;
  if (starts_with(v, "extern \"C\"")) return kTransparent;
  if (starts_with(v, "@interface")) return kClassLike;
  static constexpr const char* kModifiers[] = {
      "public",  "private",  "protected", "internal", "static", "final",    "abstract", "sealed", "open",
      "data",    "export",   "default",   "declare",  "pub",    "unsafe",   "partial",  "inline", "inner",
      "readonly", "companion", "enum",    "annotation", "value", "case",    "extern",   "template", "typedef"};
  while (!v.empty()) {
    bool stripped = false;
    if (v[0] == '@' || starts_with(v, "#[")) {
      size_t i = v[0] == '@' ? 1 : 0;
      if (v[0] == '@') {
        while (i < v.size() && (is_ident(v[i]) || v[i] == '.')) ++i;
        if (i < v.size() && v[i] == '(') i = skip_group(v, i);
      } else {
        i = skip_group(v, 1);
      }
      v.remove_prefix(i);
      stripped = true;
    } else if (lang.csharp && v[0] == '[') {
      v.remove_prefix(skip_group(v, 0));
      stripped = true;
    } else {
      for (const char* m : kModifiers) {
        if (!starts_with_word(v, m)) continue;
        // "enum class" (C++, Kotlin) and "enum Foo" both open a container; "enum" alone is kept as the keyword.
        if (std::string_view(m) == "enum") {
          std::string_view after = v.substr(4);
          while (!after.empty() && after[0] == ' ') after.remove_prefix(1);
          if (!starts_with_word(after, "class") && !starts_with_word(after, "struct")) break;
        }
        v.remove_prefix(std::strlen(m));
        if (starts_with(v, "(")) v.remove_prefix(skip_group(v, 0));  // pub(crate)
        if (std::string_view(m) == "template" && starts_with(v, " <")) v.remove_prefix(1);
        if (std::string_view(m) == "template" && starts_with(v, "<")) {
          int depth = 0;
          size_t i = 0;
          for (; i < v.size(); ++i) {
            if (v[i] == '<') ++depth;
            if (v[i] == '>' && --depth == 0) break;
          }
          v.remove_prefix(std::min(v.size(), i + 1));
        }
        stripped = true;
        break;
      }
    }
    while (!v.empty() && v[0] == ' ') v.remove_prefix(1);
    if (!stripped) break;
  }
  size_t w = 0;
  while (w < v.size() && is_ident(v[w])) ++w;
  const std::string_view word = v.substr(0, w);
  static constexpr const char* kContainers[] = {"class",  "interface", "enum",   "struct",    "union",
                                                "namespace", "impl",   "trait",  "mod",       "object",
                                                "record", "extension", "protocol", "module"};
  for (const char* c : kContainers) {
    if (word != c) continue;
    if (lang.c_like && (word == "struct" || word == "union" || word == "enum") &&
        v.find('(') != std::string_view::npos)
      return kNotContainer;
    return word == "namespace" || word == "mod" || word == "module" ? kTransparent : kClassLike;
  }
  return kNotContainer;
}

class BraceScanner {
 public:
  BraceScanner(std::string_view text, const LineIndex& lines, const LangSyntax& lang)
      : text_(text), lines_(lines), lang_(lang) {}

  void run(std::vector<CodeStart>& starts, std::vector<char>& comment_line) {
    comment_line.assign(lines_.count(), 0);
    frames_.push_back(frame('\0', true));
    frames_.back().top_level = true;
    for (size_t li = 0; li < lines_.count(); ++li) {
      const size_t ls = lines_.begin(li), le = lines_.content_end(li);
      size_t fs = ls;
      while (fs < le && is_hspace(text_[fs])) ++fs;
      const bool blank = fs == le;
      const Mode mode_at_start = mode_;
      bool skip_line = false;
      if (pp_continued_) {
        pp_continued_ = le > ls && text_[le - 1 - (text_[le - 1] == '\r' && le - 1 > ls)] == '\\';
        continue;
      }
      if (mode_ == Mode::kCode && !blank) {
        const std::string_view rest = text_.substr(fs, le - fs);
        const bool pp = lang_.preprocessor && rest[0] == '#';
        Frame& f = frames_.back();
        if (!starts_with(rest, "//") && !starts_with(rest, "/*") && f.container) {
          const int indent = int(fs - ls);
          bool start;
          if ((rest[0] == '}' || rest[0] == ')' || rest[0] == ']') || (lang_.c_like && is_access_label(rest))) {
            start = false;  // the end of what is above
          } else if (pp || lang_.semicolons) {
            start = !f.stmt_open;
          } else {
            start = !f.prev_open && !is_continuation_line(rest);
            if (frames_.size() == 1 && indent != 0) start = false;
            if (frames_.size() > 1 && f.member_indent >= 0 && indent != f.member_indent) start = false;
          }
          // (Where statements end with ';' or a block, a decorator's line leaves its statement open, so the
          // definition below it continues it without help.)
          const bool decorator = !pp && !lang_.semicolons && is_decorator_line(rest, lang_);
          if (start && f.deco_pending) {
            start = false;
            if (!decorator) f.deco_pending = false;  // the definition its decorators were waiting for
          }
          if (start) {
            starts.push_back({li, f.top_level ? kTop : kMember});
            f.head.clear();
            f.deco_pending = decorator;
            if (frames_.size() > 1 && f.member_indent < 0) f.member_indent = indent;
          }
        }
        if (!pp && lang_.c_like && f.container && is_access_label(rest)) {
          // "public:" in a class: a line of its own, not the start of the member below it.
          skip_line = true;
        }
        if (pp) {
          // Preprocessor lines do not take part in the braces ("#define BEGIN {").
          skip_line = true;
          pp_continued_ = text_[le - 1 - (text_[le - 1] == '\r' && le - 1 > fs)] == '\\';
        }
      }
      line_has_code_ = line_has_comment_ = false;
      if (!skip_line) scan_line(ls, le);
      if (!blank && !line_has_code_ && (line_has_comment_ || mode_at_start == Mode::kBlockComment))
        comment_line[li] = 1;
      // A string that is not closed by the line's end ends there (all but Rust's, which may span lines).
      if (mode_ == Mode::kString && !lang_.rust) mode_ = Mode::kCode;
      if (line_has_code_ && mode_ == Mode::kCode) frames_.back().prev_open = is_continuation_end(last_sig_);
      if (!frames_.back().head.empty() && frames_.back().head.back() != ' ') add_head(' ');
    }
  }

 private:
  enum class Mode { kCode, kBlockComment, kString, kRaw, kTemplate };
  struct Frame {
    char closer = '\0';      // '}', ')', ']', 'T' (a template literal's ${…}), '\0' (the file)
    bool container = false;  // its direct statements are definitions (the file, a class body, a namespace)
    bool top_level = false;  // and as good as the file's (the file, a namespace, an extern "C" block)
    bool stmt_open = false;  // a statement has begun and not ended
    bool deco_pending = false;  // decorators seen, their definition not yet
    bool prev_open = false;  // the last line ended in an operator or comma (free-form languages)
    int member_indent = -1;
    std::string head;        // the current statement's text so far (capped)
  };

  static Frame frame(char closer, bool container) {
    Frame f;
    f.closer = closer;
    f.container = container;
    return f;
  }

  void add_head(char c) {
    std::string& h = frames_.back().head;
    if (h.size() < 256) h += c;
  }

  void scan_line(size_t ls, size_t le) {
    const std::string_view t = text_;
    for (size_t i = ls; i < le; ++i) {
      const char c = t[i];
      const char next = i + 1 < le ? t[i + 1] : '\0';
      switch (mode_) {
        case Mode::kBlockComment:
          line_has_comment_ = true;
          if (c == '*' && next == '/') {
            ++i;
            if (--comment_depth_ == 0) mode_ = Mode::kCode;
          } else if (lang_.nested_comments && c == '/' && next == '*') {
            ++i;
            ++comment_depth_;
          }
          continue;
        case Mode::kString:
          line_has_code_ = true;
          add_head(c);
          if (c == '\\') {
            ++i;
          } else if (c == quote_) {
            mode_ = Mode::kCode;
          }
          continue;
        case Mode::kRaw:
          line_has_code_ = true;
          if (t.compare(i, raw_end_.size(), raw_end_) == 0) {
            i += raw_end_.size() - 1;
            mode_ = Mode::kCode;
          }
          continue;
        case Mode::kTemplate:
          line_has_code_ = true;
          if (c == '\\') {
            ++i;
          } else if (c == '`') {
            mode_ = Mode::kCode;
          } else if (c == '$' && next == '{') {
            ++i;
            frames_.push_back(frame('T', false));
            mode_ = Mode::kCode;
          }
          continue;
        case Mode::kCode:
          break;
      }
      if (is_space(c)) {
        if (!frames_.back().head.empty() && frames_.back().head.back() != ' ') add_head(' ');
        continue;
      }
      if (c == '/' && next == '/') {
        line_has_comment_ = true;
        return;
      }
      if (c == '/' && next == '*') {
        line_has_comment_ = true;
        mode_ = Mode::kBlockComment;
        comment_depth_ = 1;
        ++i;
        continue;
      }
      line_has_code_ = true;
      last_sig_ = c;
      Frame& f = frames_.back();
      if (c == '"') {
        f.stmt_open = true;
        add_head(c);
        if (lang_.triple_quotes && t.compare(i, 3, "\"\"\"") == 0) {
          mode_ = Mode::kRaw;
          raw_end_ = "\"\"\"";
          i += 2;
        } else if (lang_.cpp_raw && i > ls && t[i - 1] == 'R' && (i - 1 == ls || !is_ident(t[i - 2]) ||
                                                                  t[i - 2] == '8' || t[i - 2] == 'L' ||
                                                                  t[i - 2] == 'u' || t[i - 2] == 'U')) {
          const size_t paren = t.find('(', i + 1);
          if (paren != std::string_view::npos && paren < le && paren - i <= 17) {
            raw_end_ = ")" + std::string(t.substr(i + 1, paren - i - 1)) + "\"";
            mode_ = Mode::kRaw;
            i = paren;
          } else {
            mode_ = Mode::kString;
            quote_ = '"';
          }
        } else if (lang_.csharp && i > ls && t[i - 1] == '@') {
          mode_ = Mode::kRaw;  // verbatim: "" inside ends and restarts it, which scans the same
          raw_end_ = "\"";
        } else {
          mode_ = Mode::kString;
          quote_ = '"';
        }
        continue;
      }
      if (c == '\'') {
        f.stmt_open = true;
        add_head(c);
        if (lang_.single_quote_strings) {
          mode_ = Mode::kString;
          quote_ = '\'';
        } else if (next == '\\') {
          // '\n', '\x41', '\u{1F600}'
          const size_t close = t.find('\'', i + 3);
          if (close != std::string_view::npos && close < le && close - i <= 12) i = close;
        } else if (i + 1 < le) {
          // 'x' is a character; 'a in Rust (a lifetime) or a stray quote is nothing.
          size_t j = i + 1;
          do ++j;
          while (j < le && is_cont(t[j]));
          if (j < le && t[j] == '\'') i = j;
        }
        continue;
      }
      if (c == '`' && (lang_.template_literals || lang_.backtick_raw)) {
        f.stmt_open = true;
        add_head(c);
        if (lang_.template_literals) {
          mode_ = Mode::kTemplate;
        } else {
          mode_ = Mode::kRaw;
          raw_end_ = "`";
        }
        continue;
      }
      if (lang_.rust && c == 'r' && (i == ls || !is_ident(t[i - 1]) || (t[i - 1] == 'b' && (i - 1 == ls || !is_ident(t[i - 2]))))) {
        size_t j = i + 1;
        while (j < le && t[j] == '#') ++j;
        if (j < le && t[j] == '"') {
          f.stmt_open = true;
          raw_end_ = "\"" + std::string(j - i - 1, '#');
          mode_ = Mode::kRaw;
          i = j;
          continue;
        }
      }
      if (c == '{' || c == '(' || c == '[') {
        if (frames_.size() >= kMaxFrames) {
          ++excess_depth_;  // pathological nesting: counted, not tracked
          continue;
        }
        const Container kind = c == '{' && f.container ? container_kind(f.head, lang_) : kNotContainer;
        const bool parent_top_level = f.top_level;
        f.stmt_open = true;
        add_head(c);
        frames_.push_back(frame(c == '{' ? '}' : c == '(' ? ')' : ']', kind != kNotContainer));
        frames_.back().top_level = parent_top_level && kind == kTransparent;
        continue;
      }
      if (c == '}' || c == ')' || c == ']') {
        if (excess_depth_ > 0) {
          --excess_depth_;
          continue;
        }
        // Close the innermost matching frame among the last eight (a stray closer is ignored).
        size_t found = 0;  // 1 + the matching frame's index
        for (size_t k = frames_.size(); k > 1 && frames_.size() - k < 8; --k) {
          const char closer = frames_[k - 1].closer;
          if (closer == c || (c == '}' && closer == 'T')) {
            found = k;
            break;
          }
        }
        if (found == 0) continue;
        const bool template_end = frames_[found - 1].closer == 'T';
        frames_.resize(found - 1);
        if (template_end) {
          mode_ = Mode::kTemplate;
          continue;
        }
        if (c == '}') {
          // A block ends the statement it belongs to ("void f() { … }", "struct S { … }").
          Frame& p = frames_.back();
          p.stmt_open = false;
          p.head.clear();
        } else {
          add_head(c);
        }
        continue;
      }
      if (c == ';') {
        if (f.closer == '}' || f.closer == '\0') {
          f.stmt_open = false;
          f.head.clear();
        }
        continue;
      }
      f.stmt_open = true;
      add_head(c);
    }
  }

  std::string_view text_;
  const LineIndex& lines_;
  const LangSyntax& lang_;
  std::vector<Frame> frames_;
  Mode mode_ = Mode::kCode;
  int comment_depth_ = 0;
  char quote_ = '"';
  std::string raw_end_;
  static constexpr size_t kMaxFrames = 512;
  size_t excess_depth_ = 0;
  bool pp_continued_ = false;
  bool line_has_code_ = false, line_has_comment_ = false;
  char last_sig_ = '\0';
};

// Python: statements at column 0 (not inside brackets, strings or a backslash continuation), and the methods of
// top-level classes.
void python_starts(std::string_view text, const LineIndex& lines, std::vector<CodeStart>& starts,
                   std::vector<char>& comment_line) {
  comment_line.assign(lines.count(), 0);
  char triple = 0;  // the quote of an open """ or '''
  int depth = 0;
  bool continued = false, deco_pending = false, member_deco_pending = false, in_class = false;
  int member_indent = -1;
  for (size_t li = 0; li < lines.count(); ++li) {
    const size_t ls = lines.begin(li), le = lines.content_end(li);
    size_t fs = ls;
    while (fs < le && is_hspace(text[fs])) ++fs;
    const bool clean = triple == 0 && depth == 0 && !continued;
    if (clean && fs < le) {
      const std::string_view rest = text.substr(fs, le - fs);
      const int indent = int(fs - ls);
      if (rest[0] == '#') {
        comment_line[li] = 1;
      } else if (indent == 0) {
        static constexpr const char* kClauses[] = {"else", "elif", "except", "finally", "case"};
        bool clause = rest[0] == ')' || rest[0] == ']' || rest[0] == '}';
        for (const char* w : kClauses) clause = clause || starts_with_word(rest, w);
        if (!clause) {
          const bool decorator = rest[0] == '@';
          if (deco_pending) {
            if (!decorator) deco_pending = false;
          } else {
            starts.push_back({li, kTop});
            deco_pending = decorator;
          }
          if (!decorator) {
            in_class = starts_with_word(rest, "class");
            member_indent = -1;
            member_deco_pending = false;
          }
        }
      } else if (in_class) {
        if (member_indent < 0) member_indent = indent;
        const bool decorator = rest[0] == '@';
        if (indent == member_indent && (decorator || starts_with_word(rest, "def") ||
                                        starts_with(rest, "async def") || starts_with_word(rest, "class"))) {
          if (member_deco_pending) {
            if (!decorator) member_deco_pending = false;
          } else {
            starts.push_back({li, kMember});
            member_deco_pending = decorator;
          }
        }
      }
    }
    // Scan the line for strings, comments and brackets.
    continued = false;
    for (size_t i = ls; i < le; ++i) {
      const char c = text[i];
      if (triple) {
        if (c == '\\') {
          ++i;
        } else if (c == triple && text.compare(i, 3, std::string(3, triple)) == 0) {
          triple = 0;
          i += 2;
        }
        continue;
      }
      if (c == '#') break;
      if (c == '"' || c == '\'') {
        if (text.compare(i, 3, std::string(3, c)) == 0) {
          triple = c;
          i += 2;
          continue;
        }
        // A one-line string.
        for (++i; i < le && text[i] != c; ++i)
          if (text[i] == '\\') ++i;
        continue;
      }
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      if (c == '\\' && i + 1 == le) continued = true;
      if (c == '\\' && i + 2 == le && text[i + 1] == '\r') continued = true;
    }
  }
}

// Definition blocks of a code file. Comment lines directly above a definition (no blank line between) belong to
// it, and so do its decorators (the scanners do not start a block at the definition a decorator waits for).
std::vector<Block> code_blocks(std::string_view text, const LineIndex& lines, const std::string& language) {
  const LangSyntax lang = syntax_for(language);
  std::vector<CodeStart> starts;
  std::vector<char> comment_line;
  if (lang.python) {
    python_starts(text, lines, starts, comment_line);
  } else if (lang.brace) {
    BraceScanner(text, lines, lang).run(starts, comment_line);
  }
  // Comments above a definition move its start up.
  for (size_t s = 0; s < starts.size(); ++s) {
    const size_t floor = s == 0 ? 0 : starts[s - 1].line + 1;
    size_t line = starts[s].line;
    while (line > floor && comment_line[line - 1]) --line;
    starts[s].line = line;
  }
  std::vector<Block> blocks;
  auto add = [&](size_t first_line, size_t end_line, uint8_t strength, bool titled) {
    Block b;
    b.begin = lines.begin(first_line);
    b.end = end_line < lines.count() ? lines.begin(end_line) : text.size();
    b.strength = strength;
    b.prose = false;
    if (titled) {
      // The head: the block's text from its first line that is neither a comment nor blank, a few lines at most.
      // Decorators (which may take several lines: "@Component({ … })") are skipped.
      std::string head;
      int decorator_depth = 0;
      for (size_t l = first_line; l < end_line && l < lines.count() && head.size() < 200 && l < first_line + 24;
           ++l) {
        if (!comment_line.empty() && comment_line[l]) continue;
        const std::string_view line = text.substr(lines.begin(l), lines.content_end(l) - lines.begin(l));
        const std::string trimmed = collapse_spaces(line);
        if (trimmed.empty()) continue;
        const bool decorator = trimmed[0] == '@' ? !starts_with(trimmed, "@interface")
                                                 : starts_with(trimmed, "#[") || (lang.csharp && trimmed[0] == '[');
        if (decorator_depth > 0 || decorator) {
          for (char c : trimmed) decorator_depth += (c == '(' || c == '[') - (c == ')' || c == ']');
          decorator_depth = std::max(decorator_depth, 0);
          continue;
        }
        head += trimmed;
        head += ' ';
        if (trimmed.find_first_of(lang.python ? ":" : "{;") != std::string::npos) break;
      }
      b.title = title_from_head(head, lang.python, lang.csharp);
    }
    if (b.end > b.begin) blocks.push_back(std::move(b));
  };
  if (starts.empty() || starts[0].line > 0) add(0, starts.empty() ? lines.count() : starts[0].line, kTop, false);
  for (size_t s = 0; s < starts.size(); ++s)
    add(starts[s].line, s + 1 < starts.size() ? starts[s + 1].line : lines.count(), starts[s].strength, true);
  return blocks;
}

// ---- Markdown structure ---------------------------------------------------------------------------------------

// "```" / "~~~" (3 or more) after at most 3 spaces: the fence's character and length, else 0.
int fence_open(std::string_view line, char& ch) {
  size_t i = 0;
  while (i < line.size() && i < 4 && line[i] == ' ') ++i;
  if (i > 3 || i >= line.size() || (line[i] != '`' && line[i] != '~')) return 0;
  const char c = line[i];
  size_t n = 0;
  while (i + n < line.size() && line[i + n] == c) ++n;
  if (n < 3) return 0;
  if (c == '`' && line.substr(i + n).find('`') != std::string_view::npos) return 0;  // `` ```x``` `` inline code
  ch = c;
  return int(n);
}

bool fence_close(std::string_view line, char ch, int len) {
  size_t i = 0;
  while (i < line.size() && i < 4 && line[i] == ' ') ++i;
  if (i > 3) return false;
  size_t n = 0;
  while (i + n < line.size() && line[i + n] == ch) ++n;
  if (int(n) < len) return false;
  for (size_t k = i + n; k < line.size(); ++k)
    if (!is_space(line[k])) return false;
  return true;
}

// An ATX heading's level (1-6) and text, or 0.
int atx_heading(std::string_view line, std::string& text) {
  size_t i = 0;
  while (i < line.size() && i < 4 && line[i] == ' ') ++i;
  if (i > 3) return 0;
  size_t n = 0;
  while (i + n < line.size() && line[i + n] == '#') ++n;
  if (n == 0 || n > 6) return 0;
  if (i + n < line.size() && !is_space(line[i + n])) return 0;
  std::string_view t = line.substr(std::min(line.size(), i + n));
  while (!t.empty() && is_space(t.front())) t.remove_prefix(1);
  while (!t.empty() && is_space(t.back())) t.remove_suffix(1);
  // A closing sequence of '#'s (after a space) is not part of the text.
  size_t h = t.size();
  while (h > 0 && t[h - 1] == '#') --h;
  if (h == 0) t = {};
  else if (h < t.size() && is_space(t[h - 1])) t = t.substr(0, h);
  while (!t.empty() && is_space(t.back())) t.remove_suffix(1);
  text = std::string(t);
  return int(n);
}

// A setext underline: '=' (level 1) or '-' (level 2) only, after at most 3 spaces.
int setext_underline(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && i < 4 && line[i] == ' ') ++i;
  if (i > 3 || i >= line.size() || (line[i] != '=' && line[i] != '-')) return 0;
  const char c = line[i];
  while (i < line.size() && line[i] == c) ++i;
  while (i < line.size() && is_space(line[i])) ++i;
  if (i != line.size()) return 0;
  return c == '=' ? 1 : 2;
}

bool is_blank(std::string_view line) {
  for (char c : line)
    if (!is_space(c)) return false;
  return true;
}

bool could_be_setext_text(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  const std::string_view t = line.substr(i);
  if (t.empty() || i > 3) return false;
  if (t[0] == '>' || t[0] == '|' || t[0] == '#') return false;
  if ((t[0] == '-' || t[0] == '*' || t[0] == '+') && (t.size() == 1 || t[1] == ' ')) return false;
  size_t d = 0;
  while (d < t.size() && t[d] >= '0' && t[d] <= '9') ++d;
  if (d > 0 && d < t.size() && (t[d] == '.' || t[d] == ')')) return false;
  return true;
}

// ---- The chunker ----------------------------------------------------------------------------------------------

class Chunker {
 public:
  Chunker(const SourceText& source, const TokenCounter& count, const ChunkerOptions& options)
      : text_(source.text), source_(source), count_(count), lines_(source.text), max_(options.max_tokens),
        overlap_(std::min(std::max(options.overlap_tokens, 0), options.max_tokens / 2)),
        fit_bytes_(size_t(options.max_tokens) * kMaxBytesPerToken) {}

  std::vector<Chunk> run() {
    switch (source_.format) {
      case FileFormat::kMarkdown: markdown(); break;
      case FileFormat::kCode: {
        std::vector<Block> blocks = code_blocks(text_, lines_, source_.language);
        segment(blocks, nullptr);
        break;
      }
      default: {
        std::vector<Block> blocks = paragraphs(0, lines_.count());
        const std::string none;
        segment(blocks, &none);
        break;
      }
    }
    return std::move(out_);
  }

 private:
  int count(size_t b, size_t e) const { return count_(std::string_view(text_).substr(b, e - b)); }

  void trim(size_t& b, size_t& e) const {
    while (b < e && is_space(text_[b])) ++b;
    while (e > b && is_space(text_[e - 1])) --e;
  }

  void emit(size_t b, size_t e, const std::string& title) {
    Chunk c;
    c.text = text_.substr(b, e - b);
    c.byte_begin = b;
    c.byte_end = e;
    c.line_begin = lines_.line_of(b);
    c.line_end = lines_.line_of(e - 1);
    c.title = title;
    out_.push_back(std::move(c));
  }

  // Prose paragraphs of lines [first, end): blank lines separate them, and so does a page break (a line that
  // holds a form feed starts a paragraph).
  std::vector<Block> paragraphs(size_t first, size_t end) const {
    std::vector<Block> blocks;
    size_t start = SIZE_MAX;
    auto close = [&](size_t l) {
      if (start == SIZE_MAX) return;
      Block b;
      b.begin = lines_.begin(start);
      b.end = l < lines_.count() ? lines_.begin(l) : text_.size();
      blocks.push_back(std::move(b));
      start = SIZE_MAX;
    };
    for (size_t l = first; l < end; ++l) {
      const std::string_view line = line_view(l);
      if (line.find('\f') != std::string_view::npos) close(l);
      if (is_blank(line)) {
        close(l);
      } else if (start == SIZE_MAX) {
        start = l;
      }
    }
    close(end);
    return blocks;
  }

  std::string_view line_view(size_t l) const {
    return std::string_view(text_).substr(lines_.begin(l), lines_.content_end(l) - lines_.begin(l));
  }

  void markdown() {
    const size_t n = lines_.count();
    // Pass 1: headings (level per line; a setext heading's text line gets the level, its underline -1).
    std::vector<int> level(n, 0);
    std::vector<std::string> heading(n);
    std::vector<char> fenced(n, 0);  // inside a fence or the front matter, fence lines included
    size_t l = 0;
    if (n > 1 && collapse_spaces(line_view(0)) == "---") {
      for (size_t k = 1; k < n; ++k) {
        const std::string c = collapse_spaces(line_view(k));
        if (c == "---" || c == "...") {
          for (size_t m = 0; m <= k; ++m) fenced[m] = 1;
          l = k + 1;
          break;
        }
      }
    }
    for (; l < n; ++l) {
      const std::string_view line = line_view(l);
      char ch;
      if (const int len = fence_open(line, ch)) {
        fenced[l] = 1;
        size_t k = l + 1;
        while (k < n && !fence_close(line_view(k), ch, len)) fenced[k++] = 1;
        if (k < n) fenced[k] = 1;
        l = k;
        continue;
      }
      std::string text;
      if (const int lv = atx_heading(line, text)) {
        level[l] = lv;
        heading[l] = text;
        continue;
      }
      if (const int lv = setext_underline(line); lv && l > 0 && level[l - 1] == 0 && !fenced[l - 1] &&
                                                 !is_blank(line_view(l - 1)) &&
                                                 could_be_setext_text(line_view(l - 1)) &&
                                                 (l == 1 || is_blank(line_view(l - 2)) || level[l - 2] != 0)) {
        level[l - 1] = lv;
        heading[l - 1] = collapse_spaces(line_view(l - 1));
        level[l] = -1;
      }
    }
    // Pass 2: sections, each chunked alone.
    std::vector<std::pair<int, std::string>> path;
    size_t section_start = 0;
    int section_level = 0;
    std::string title;
    // Returns false when the section is its heading alone and a subsection follows: then it has nothing to say
    // that the subsection's title does not, and its heading goes with the subsection's first chunk.
    auto close_section = [&](size_t end, int next_level) {
      if (end <= section_start) return true;
      if (section_level > 0 && next_level > section_level) {
        bool empty = true;
        for (size_t k = section_start; k < end && empty; ++k)
          if (level[k] == 0 && !is_blank(line_view(k))) empty = false;
        if (empty) return false;
      }
      std::vector<Block> blocks = markdown_blocks(section_start, end, fenced, level);
      segment(blocks, &title);
      return true;
    };
    for (size_t k = 0; k < n; ++k) {
      if (level[k] <= 0) continue;
      const bool closed = close_section(k, level[k]);
      while (!path.empty() && path.back().first >= level[k]) path.pop_back();
      path.emplace_back(level[k], heading[k]);
      title.clear();
      for (const auto& [lv, h] : path) {
        if (!title.empty()) title += " > ";
        title += h;
      }
      if (closed) section_start = k;
      section_level = level[k];
    }
    close_section(n, 0);
  }

  // The blocks of a Markdown section: its heading, paragraphs and fenced blocks (the latter split only when one
  // alone is over the bound).
  std::vector<Block> markdown_blocks(size_t first, size_t end, const std::vector<char>& fenced,
                                     const std::vector<int>& level) const {
    std::vector<Block> blocks;
    size_t l = first;
    bool after_fence = false;
    while (l < end) {
      if (is_blank(line_view(l))) {
        ++l;
        continue;
      }
      size_t k = l;
      Block b;
      if (fenced[l]) {
        while (k < end && fenced[k]) ++k;
        b.prose = false;
        b.strength = kMember;
      } else if (level[l] != 0) {
        k = l + 1;
        if (k < end && level[k] == -1) ++k;
      } else {
        while (k < end && !fenced[k] && level[k] == 0 && !is_blank(line_view(k))) ++k;
      }
      if (after_fence) b.strength = kMember;
      after_fence = !b.prose;
      b.begin = lines_.begin(l);
      b.end = k < lines_.count() ? lines_.begin(k) : text_.size();
      blocks.push_back(std::move(b));
      l = k;
    }
    return blocks;
  }

  // One segment: chunks never cross its ends. `fixed_title` is every chunk's title (Markdown, prose); without
  // it a chunk's title is its first block's.
  void segment(std::vector<Block>& blocks, const std::string* fixed_title) {
    for (Block& b : blocks) trim(b.begin, b.end);
    blocks.erase(std::remove_if(blocks.begin(), blocks.end(), [](const Block& b) { return b.begin >= b.end; }),
                 blocks.end());
    if (blocks.empty()) return;
    auto title_of = [&](size_t first_block, size_t last_block) -> const std::string& {
      if (fixed_title) return *fixed_title;
      for (size_t i = first_block; i <= last_block; ++i)
        if (!blocks[i].title.empty()) return blocks[i].title;
      return blocks[first_block].title;
    };
    const size_t seg_begin = blocks.front().begin, seg_end = blocks.back().end;
    if (seg_end - seg_begin <= fit_bytes_ && count(seg_begin, seg_end) <= max_) {
      emit(seg_begin, seg_end, title_of(0, blocks.size() - 1));
      return;
    }
    std::vector<Unit> units;
    bool after_split = false;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const Block& b = blocks[i];
      const size_t first_unit = units.size();
      bool split = true;
      if (b.end - b.begin <= fit_bytes_) {
        const int c = count(b.begin, b.end);
        if (c <= max_) {
          units.push_back({b.begin, b.end, c, b.strength, uint32_t(i)});
          split = false;
        }
      }
      if (split) block_lines(b, uint32_t(i), units);
      // A definition or fenced block that had to be split has chunks of its own: none of its pieces is packed
      // with a neighbour.
      if ((after_split || (split && !b.prose)) && units.size() > first_unit && first_unit > 0)
        units[first_unit].strength = kHard;
      after_split = split && !b.prose;
    }
    pack(units, blocks, title_of);
  }

  // A block over the bound, as units of its lines (and of less than lines where a line is over the bound).
  // Blank lines and page breaks make the next line's boundary a paragraph's.
  void block_lines(const Block& b, uint32_t block, std::vector<Unit>& units) {
    uint8_t strength = b.strength;
    size_t pos = b.begin;
    while (pos < b.end) {
      size_t stop = text_.find_first_of(b.prose ? "\n\f" : "\n", pos);
      if (stop == std::string::npos || stop > b.end) stop = b.end;
      size_t lb = pos, le = stop;
      trim(lb, le);
      if (lb < le) {
        line_units(lb, le, strength, block, b.prose, units);
        strength = kLine;
      } else if (strength < kPara) {
        strength = kPara;
      }
      if (stop < b.end && text_[stop] == '\f' && strength < kPara) strength = kPara;
      pos = stop + 1;
    }
  }

  void line_units(size_t b, size_t e, uint8_t strength, uint32_t block, bool prose, std::vector<Unit>& units) {
    const int c = count(b, e);
    if (c <= max_) {
      units.push_back({b, e, c, strength, block});
    } else if (prose) {
      sentence_units(b, e, strength, block, units);
    } else {
      split_units(b, e, c, strength, block, true, units);
    }
  }

  // Whether a sentence ends just before `p` (at a '.', '!', '?' or '…' maybe followed by closing quotes or
  // brackets, then whitespace), or a CJK full stop, exclamation or question mark ends there (no space needed).
  bool sentence_ends_before(size_t p, size_t floor) const {
    if (p <= floor) return false;
    size_t q = p;
    if (q >= floor + 3) {
      const std::string_view cjk = std::string_view(text_).substr(q - 3, 3);
      if (cjk == "\xE3\x80\x82" || cjk == "\xEF\xBC\x81" || cjk == "\xEF\xBC\x9F") return true;
    }
    if (!is_space(text_[q - 1])) return false;
    while (q > floor && is_space(text_[q - 1])) --q;
    while (q > floor && std::string_view(")]\"'").find(text_[q - 1]) != std::string_view::npos) --q;
    if (q >= floor + 3) {
      const std::string_view tail = std::string_view(text_).substr(q - 3, 3);
      if (tail == "\xE2\x80\x9D" || tail == "\xE2\x80\x99") q -= 3;  // ” ’
    }
    if (q <= floor) return false;
    const char c = text_[q - 1];
    if (c == '.' || c == '!' || c == '?') return true;
    return q >= floor + 3 && std::string_view(text_).substr(q - 3, 3) == "\xE2\x80\xA6";  // …
  }

  void sentence_units(size_t b, size_t e, uint8_t strength, uint32_t block, std::vector<Unit>& units) {
    size_t s = b;
    auto add = [&](size_t sb, size_t se) {
      trim(sb, se);
      if (sb >= se) return;
      const int c = count(sb, se);
      if (c <= max_) {
        units.push_back({sb, se, c, strength, block});
      } else {
        split_units(sb, se, c, strength, block, true, units);
      }
      strength = kSentence;
    };
    for (size_t p = b + 1; p < e; ++p) {
      if (is_space(text_[p]) || is_cont(text_[p])) continue;
      if (sentence_ends_before(p, s)) {
        add(s, p);
        s = p;
      }
    }
    add(s, e);
  }

  // Splits [b, e) (over the bound, or over a quarter of it) into pieces: at the whitespace nearest its middle
  // while it has some (`words`), else at the character boundary nearest its middle. Halving keeps the number of
  // counts low (each level counts the text once); pieces of at most a quarter of the bound pack well. A single
  // character over the bound cannot be in any chunk: it is left out.
  void split_units(size_t b, size_t e, int c, uint8_t strength, uint32_t block, bool words,
                   std::vector<Unit>& units) {
    trim(b, e);
    if (b >= e) return;
    if (c < 0) c = count(b, e);
    const int leaf = std::max(1, max_ / 4);
    if (c <= leaf || (!words && c <= max_)) {
      units.push_back({b, e, c, strength, block});
      return;
    }
    const size_t mid = b + (e - b) / 2;
    if (words) {
      // The whitespace nearest the middle.
      size_t ws = std::string::npos;
      for (size_t d = 0; mid + d < e || mid >= b + d; ++d) {
        if (mid + d < e && is_space(text_[mid + d])) {
          ws = mid + d;
          break;
        }
        if (mid >= b + d && is_space(text_[mid - d])) {
          ws = mid - d;
          break;
        }
      }
      if (ws == std::string::npos) {
        if (c <= max_) units.push_back({b, e, c, strength, block});
        else split_units(b, e, c, strength, block, false, units);
        return;
      }
      size_t l_end = ws, r_begin = ws;
      while (l_end > b && is_space(text_[l_end - 1])) --l_end;
      while (r_begin < e && is_space(text_[r_begin])) ++r_begin;
      split_units(b, l_end, -1, strength, block, true, units);
      split_units(r_begin, e, -1, kWord, block, true, units);
      return;
    }
    size_t m = mid;
    while (m < e && is_cont(text_[m])) ++m;
    if (m >= e) {
      m = mid;
      while (m > b && is_cont(text_[m])) --m;
    }
    if (m <= b || m >= e) return;  // one character over the bound: no chunk can hold it
    split_units(b, m, -1, strength, block, false, units);
    split_units(m, e, -1, kWord, block, false, units);
  }

  // The start of the overlap for the chunk after [chunk_begin, end): the earliest line or sentence start
  // (sentences in prose) at or after `floor` whose text up to `end` counts at most `limit` tokens, within the
  // chunk's second half. SIZE_MAX when there is none.
  size_t overlap_start(size_t chunk_begin, size_t floor, size_t end, bool prose, int limit, int& tokens) const {
    const size_t min_pos = std::max({floor, chunk_begin + 1, end - (end - chunk_begin) / 2});
    size_t best = SIZE_MAX;
    for (size_t p = end; p-- > min_pos;) {
      if (is_space(text_[p]) || is_cont(text_[p])) continue;
      bool line_start = false;
      size_t q = p;
      while (q > chunk_begin && is_hspace(text_[q - 1]) && text_[q - 1] != '\f') --q;
      if (q > chunk_begin && (text_[q - 1] == '\n' || text_[q - 1] == '\f')) line_start = true;
      if (!line_start && !(prose && sentence_ends_before(p, chunk_begin))) continue;
      const int t = count(p, end);
      if (t > limit) break;
      best = p;
      tokens = t;
    }
    return best;
  }

  template <class TitleOf>
  void pack(const std::vector<Unit>& u, const std::vector<Block>& blocks, TitleOf&& title_of) {
    const size_t n = u.size();
    std::vector<int64_t> pre(n + 1, 0);
    for (size_t i = 0; i < n; ++i) pre[i + 1] = pre[i] + u[i].tokens;
    size_t k_prev = 0;
    bool has_ov = false;
    size_t ov_begin = 0;
    int ov_tokens = 0;
    while (k_prev < n) {
      if (has_ov && int64_t(ov_tokens) + u[k_prev].tokens > max_) has_ov = false;
      size_t begin = has_ov ? ov_begin : u[k_prev].begin;
      const int64_t base = has_ov ? ov_tokens : 0;
      size_t j = k_prev;
      while (j < n && (j == k_prev || u[j].strength < kHard) && base + pre[j + 1] - pre[k_prev] <= max_) ++j;
      if (j == k_prev) j = k_prev + 1;  // cannot happen (each unit is within the bound); keeps the loop finite
      size_t k = j;
      if (j < n && u[j].strength < kHard) {
        // The strongest boundary in reach; a weak one (paragraph or less) only if the chunk is half full there.
        uint8_t best = u[j].strength;
        for (size_t kk = j; kk > k_prev + 1;) {
          --kk;
          const uint8_t s = u[kk].strength;
          if (s <= best) continue;
          // Where the chunk would end: a definition's start always will do; a member's (a method in a class)
          // when the chunk is a quarter full (so a class's first line stays with its first member); anything
          // weaker when it is half full.
          const int64_t fill = base + pre[kk] - pre[k_prev];
          if (s >= kTop || (s == kMember && 4 * fill >= max_) || 2 * fill >= max_) {
            best = s;
            k = kk;
          }
        }
      }
      // The bound, exactly: the parts' counts need not add up to the whole's.
      auto fits = [&](size_t bg, size_t kk) { return count(bg, u[kk - 1].end) <= max_; };
      if ((has_ov || k > k_prev + 1) && !fits(begin, k)) {
        if (has_ov && !fits(begin, k_prev + 1)) {
          has_ov = false;
          begin = u[k_prev].begin;
        }
        size_t lo = k_prev + 1, hi = k - 1;  // fits(begin, lo) holds
        while (lo < hi) {
          const size_t mid = (lo + hi + 1) / 2;
          if (fits(begin, mid)) lo = mid;
          else hi = mid - 1;
        }
        k = lo;
      }
      emit(begin, u[k - 1].end, title_of(u[k_prev].block, u[k - 1].block));
      has_ov = false;
      if (k < n && overlap_ > 0 && u[k].strength <= kPara) {
        // Within one definition or fenced block: not before the last one's start in this chunk.
        size_t floor = begin;
        for (size_t kk = k; kk-- > k_prev;) {
          if (u[kk].strength >= kMember) {
            floor = std::max(floor, u[kk].begin);
            break;
          }
        }
        const int limit = std::min(overlap_, max_ - u[k].tokens);
        if (limit > 0) {
          const size_t p =
              overlap_start(begin, floor, u[k - 1].end, blocks[u[k - 1].block].prose, limit, ov_tokens);
          if (p != SIZE_MAX) {
            has_ov = true;
            ov_begin = p;
          }
        }
      }
      k_prev = k;
    }
  }

  const std::string& text_;
  const SourceText& source_;
  const TokenCounter& count_;
  LineIndex lines_;
  int max_, overlap_;
  size_t fit_bytes_;
  std::vector<Chunk> out_;
};

}  // namespace

std::vector<Chunk> chunk_text(const SourceText& source, const TokenCounter& count_tokens,
                              const ChunkerOptions& options) {
  if (options.max_tokens < 1) fail("chunker: max_tokens must be at least 1 (got {})", options.max_tokens);
  if (!count_tokens) fail("chunker: no token counter");
  return Chunker(source, count_tokens, options).run();
}

}  // namespace hearth::context
