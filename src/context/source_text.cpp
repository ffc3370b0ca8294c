#include "context/source_text.h"

#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "core/error.h"
#include "core/utf8.h"

namespace hearth::context {
namespace {

// How much of a file's start the format and binary sniffing look at.
constexpr size_t kSniffBytes = 8192;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != lower(prefix[i])) return false;
  return true;
}

std::string_view base_name(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

struct ExtensionFormat {
  const char* ext;
  FileFormat format;
  const char* language;
};

// Lower-case extensions. Code languages the chunker knows by name: c, cpp, python, javascript, typescript, go,
// rust, java (definition heuristics), csharp, kotlin, swift, php, scala, dart, css (the brace heuristics);
// every other language is chunked by blank lines and lines.
constexpr ExtensionFormat kExtensions[] = {
    {"md", FileFormat::kMarkdown, ""},       {"markdown", FileFormat::kMarkdown, ""},
    {"mdx", FileFormat::kMarkdown, ""},      {"html", FileFormat::kHtml, ""},
    {"htm", FileFormat::kHtml, ""},          {"xhtml", FileFormat::kHtml, ""},
    {"pdf", FileFormat::kPdf, ""},           {"txt", FileFormat::kText, ""},
    {"text", FileFormat::kText, ""},         {"rst", FileFormat::kText, ""},
    {"adoc", FileFormat::kText, ""},         {"org", FileFormat::kText, ""},
    {"tex", FileFormat::kText, ""},          {"csv", FileFormat::kText, ""},
    {"tsv", FileFormat::kText, ""},          {"log", FileFormat::kText, ""},
    {"xml", FileFormat::kText, ""},          {"svg", FileFormat::kText, ""},
    {"c", FileFormat::kCode, "c"},           {"h", FileFormat::kCode, "c"},
    {"cc", FileFormat::kCode, "cpp"},        {"cpp", FileFormat::kCode, "cpp"},
    {"cxx", FileFormat::kCode, "cpp"},       {"c++", FileFormat::kCode, "cpp"},
    {"hpp", FileFormat::kCode, "cpp"},       {"hh", FileFormat::kCode, "cpp"},
    {"hxx", FileFormat::kCode, "cpp"},       {"h++", FileFormat::kCode, "cpp"},
    {"inl", FileFormat::kCode, "cpp"},       {"ipp", FileFormat::kCode, "cpp"},
    {"cu", FileFormat::kCode, "cpp"},        {"cuh", FileFormat::kCode, "cpp"},
    {"m", FileFormat::kCode, "objc"},        {"mm", FileFormat::kCode, "objc"},
    {"py", FileFormat::kCode, "python"},     {"pyi", FileFormat::kCode, "python"},
    {"pyw", FileFormat::kCode, "python"},    {"js", FileFormat::kCode, "javascript"},
    {"mjs", FileFormat::kCode, "javascript"}, {"cjs", FileFormat::kCode, "javascript"},
    {"jsx", FileFormat::kCode, "javascript"}, {"ts", FileFormat::kCode, "typescript"},
    {"tsx", FileFormat::kCode, "typescript"}, {"mts", FileFormat::kCode, "typescript"},
    {"cts", FileFormat::kCode, "typescript"}, {"go", FileFormat::kCode, "go"},
    {"rs", FileFormat::kCode, "rust"},       {"java", FileFormat::kCode, "java"},
    {"cs", FileFormat::kCode, "csharp"},     {"kt", FileFormat::kCode, "kotlin"},
    {"kts", FileFormat::kCode, "kotlin"},    {"swift", FileFormat::kCode, "swift"},
    {"php", FileFormat::kCode, "php"},       {"scala", FileFormat::kCode, "scala"},
    {"dart", FileFormat::kCode, "dart"},     {"css", FileFormat::kCode, "css"},
    {"scss", FileFormat::kCode, "css"},      {"less", FileFormat::kCode, "css"},
    {"sh", FileFormat::kCode, "shell"},      {"bash", FileFormat::kCode, "shell"},
    {"zsh", FileFormat::kCode, "shell"},     {"fish", FileFormat::kCode, "shell"},
    {"ps1", FileFormat::kCode, "powershell"}, {"rb", FileFormat::kCode, "ruby"},
    {"pl", FileFormat::kCode, "perl"},       {"pm", FileFormat::kCode, "perl"},
    {"lua", FileFormat::kCode, "lua"},       {"r", FileFormat::kCode, "r"},
    {"jl", FileFormat::kCode, "julia"},      {"hs", FileFormat::kCode, "haskell"},
    {"ml", FileFormat::kCode, "ocaml"},      {"ex", FileFormat::kCode, "elixir"},
    {"exs", FileFormat::kCode, "elixir"},    {"erl", FileFormat::kCode, "erlang"},
    {"clj", FileFormat::kCode, "clojure"},   {"el", FileFormat::kCode, "elisp"},
    {"vim", FileFormat::kCode, "vim"},       {"zig", FileFormat::kCode, "zig"},
    {"nim", FileFormat::kCode, "nim"},       {"sql", FileFormat::kCode, "sql"},
    {"proto", FileFormat::kCode, "protobuf"}, {"cmake", FileFormat::kCode, "cmake"},
    {"mk", FileFormat::kCode, "make"},       {"bzl", FileFormat::kCode, "starlark"},
    {"toml", FileFormat::kCode, "toml"},     {"yaml", FileFormat::kCode, "yaml"},
    {"yml", FileFormat::kCode, "yaml"},      {"json", FileFormat::kCode, "json"},
    {"jsonc", FileFormat::kCode, "json"},    {"ini", FileFormat::kCode, "ini"},
    {"cfg", FileFormat::kCode, "ini"},       {"conf", FileFormat::kCode, "ini"},
    {"gradle", FileFormat::kCode, "groovy"}, {"groovy", FileFormat::kCode, "groovy"},
    {"vue", FileFormat::kCode, "vue"},       {"svelte", FileFormat::kCode, "svelte"},
};

struct NameFormat {
  const char* name;
  const char* language;
};

// Exact file names (case-sensitive, as build tools treat them) that are code whatever their extension says.
constexpr NameFormat kNames[] = {
    {"Makefile", "make"},         {"makefile", "make"},         {"GNUmakefile", "make"},
    {"Dockerfile", "dockerfile"}, {"Containerfile", "dockerfile"}, {"CMakeLists.txt", "cmake"},
    {"Rakefile", "ruby"},         {"Gemfile", "ruby"},          {"Jenkinsfile", "groovy"},
    {"BUILD", "starlark"},        {"BUILD.bazel", "starlark"},  {"WORKSPACE", "starlark"},
    {"Vagrantfile", "ruby"},      {"Justfile", "make"},         {"justfile", "make"},
};

// The language a "#!" line names: "#!/usr/bin/env python3 -u" -> "python".
std::string shebang_language(std::string_view head) {
  std::string_view line = head.substr(2, std::min(head.find('\n'), size_t(256)) - 2);
  // The interpreter: the last path component of the first word, or the word after "env" (skipping env's flags).
  auto next_word = [&](size_t& i) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t b = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    return line.substr(b, i - b);
  };
  size_t i = 0;
  std::string_view word = base_name(next_word(i));
  if (word == "env") {
    do word = next_word(i);
    while (!word.empty() && word[0] == '-');
    word = base_name(word);
  }
  // Strip a version suffix: python3.11, node18.
  std::string name(word);
  while (!name.empty() && ((name.back() >= '0' && name.back() <= '9') || name.back() == '.')) name.pop_back();
  static const std::pair<const char*, const char*> kInterpreters[] = {
      {"python", "python"}, {"pypy", "python"}, {"sh", "shell"},      {"bash", "shell"},    {"zsh", "shell"},
      {"dash", "shell"},    {"ksh", "shell"},   {"fish", "shell"},    {"node", "javascript"}, {"nodejs", "javascript"},
      {"deno", "typescript"}, {"bun", "javascript"}, {"ts-node", "typescript"}, {"ruby", "ruby"}, {"perl", "perl"},
      {"php", "php"},       {"lua", "lua"},     {"luajit", "lua"},    {"Rscript", "r"},     {"julia", "julia"},
      {"tclsh", "tcl"},     {"awk", "awk"},     {"gawk", "awk"},      {"make", "make"},
  };
  for (const auto& [interp, language] : kInterpreters)
    if (name == interp) return language;
  return "";
}

// ---- Binary sniffing ------------------------------------------------------------------------------------------

// Share of suspicious bytes (control bytes other than the usual whitespace, backspace and escape, and bytes of
// invalid UTF-8) above which the head is binary: 10%. Latin-1 text (one invalid byte per accented letter) stays
// well below it; compressed data, images and executables are far above it.
constexpr double kBinaryShare = 0.10;

// ---- HTML -----------------------------------------------------------------------------------------------------

// Latin-1's named entities, U+00A0 .. U+00FF in order.
constexpr const char* kLatin1Entities[96] = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",    "copy",   "ordf",
    "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",   "acute",  "micro",
    "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",  "frac14", "frac12", "frac34", "iquest", "Agrave",
    "Aacute", "Acirc",  "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil", "Egrave", "Eacute", "Ecirc",  "Euml",
    "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",
    "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",  "Uuml",   "Yacute", "THORN",  "szlig",  "agrave", "aacute",
    "acirc",  "atilde", "auml",   "aring",  "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave",
    "iacute", "icirc",  "iuml",   "eth",    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide",
    "oslash", "ugrave", "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml",
};

constexpr std::pair<const char*, char32_t> kOtherEntities[] = {
    {"amp", '&'},       {"lt", '<'},         {"gt", '>'},         {"quot", '"'},       {"apos", '\''},
    {"hellip", 0x2026}, {"mdash", 0x2014},   {"ndash", 0x2013},   {"lsquo", 0x2018},   {"rsquo", 0x2019},
    {"sbquo", 0x201a},  {"ldquo", 0x201c},   {"rdquo", 0x201d},   {"bdquo", 0x201e},   {"bull", 0x2022},
    {"trade", 0x2122},  {"euro", 0x20ac},    {"dagger", 0x2020},  {"Dagger", 0x2021},  {"permil", 0x2030},
    {"lsaquo", 0x2039}, {"rsaquo", 0x203a},  {"ensp", ' '},       {"emsp", ' '},       {"thinsp", ' '},
    {"zwnj", 0x200c},   {"zwj", 0x200d},     {"lrm", 0x200e},     {"rlm", 0x200f},     {"larr", 0x2190},
    {"rarr", 0x2192},   {"uarr", 0x2191},    {"darr", 0x2193},    {"harr", 0x2194},    {"minus", 0x2212},
    {"le", 0x2264},     {"ge", 0x2265},      {"ne", 0x2260},      {"asymp", 0x2248},   {"infin", 0x221e},
    {"prime", 0x2032},  {"Prime", 0x2033},   {"oelig", 0x0153},   {"OElig", 0x0152},   {"scaron", 0x0161},
    {"Scaron", 0x0160}, {"fnof", 0x0192},    {"circ", 0x02c6},    {"tilde", 0x02dc},   {"alpha", 0x03b1},
    {"beta", 0x03b2},   {"gamma", 0x03b3},   {"delta", 0x03b4},   {"pi", 0x03c0},      {"sigma", 0x03c3},
    {"mu", 0x03bc},     {"lambda", 0x03bb},  {"check", 0x2713},   {"star", 0x2606},    {"hearts", 0x2665},
};

// Tags after which words must not run together ("<p>a</p><p>b</p>" is "a b", not "ab").
bool is_block_tag(std::string_view name) {
  static constexpr const char* kBlock[] = {
      "address", "article", "aside",  "blockquote", "br",     "caption", "dd",       "details", "div",
      "dl",      "dt",      "fieldset", "figcaption", "figure", "footer", "form",    "h1",      "h2",
      "h3",      "h4",      "h5",     "h6",         "header", "hr",      "li",      "main",    "nav",
      "ol",      "option",  "p",      "pre",        "section", "summary", "table",   "tbody",   "td",
      "tfoot",   "th",      "thead",  "title",      "tr",     "ul",      "img",     "input",   "button",
      "label",   "select",  "textarea", "body",     "head",   "html",    "meta",    "link",    "dialog",
  };
  for (const char* b : kBlock)
    if (name == b) return true;
  return false;
}

// Decodes the entity at s[i] == '&' into `out`; returns the bytes consumed, 0 when it is not one.
size_t decode_entity(std::string_view s, size_t i, std::string& out) {
  size_t j = i + 1;
  char32_t cp = 0;
  if (j < s.size() && s[j] == '#') {
    ++j;
    const bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
    if (hex) ++j;
    const size_t digits = j;
    uint64_t v = 0;
    while (j < s.size() && j - digits < 8) {
      const char c = s[j];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (hex && lower(c) >= 'a' && lower(c) <= 'f') d = lower(c) - 'a' + 10;
      else break;
      v = v * (hex ? 16 : 10) + uint64_t(d);
      ++j;
    }
    if (j == digits) return 0;
    if (j < s.size() && s[j] == ';') ++j;
    cp = (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) ? char32_t(0xfffd) : char32_t(v);
  } else {
    while (j < s.size() && j - i <= 10 && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
                                            (s[j] >= '0' && s[j] <= '9')))
      ++j;
    if (j >= s.size() || s[j] != ';' || j == i + 1) return 0;
    const std::string_view name = s.substr(i + 1, j - i - 1);
    ++j;
    bool found = false;
    for (int k = 0; k < 96 && !found; ++k)
      if (name == kLatin1Entities[k]) cp = char32_t(0xa0 + k), found = true;
    for (const auto& [n, c] : kOtherEntities)
      if (!found && name == n) cp = c, found = true;
    if (!found) return 0;
  }
  // A decoded line break or control character must not add a line: it becomes a space (so does no-break space,
  // which tokenizers treat as a space anyway); a soft hyphen is invisible.
  if (cp == 0xad) return j - i;
  if (cp < 0x20 || cp == 0x7f || cp == 0xa0 || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029) cp = ' ';
  utf8_append(out, cp);
  return j - i;
}

// Appends text, collapsing runs of spaces and tabs into one space and dropping spaces at a line's start and end
// (the line breaks themselves are kept: they are the source's).
class HtmlOut {
 public:
  std::string text;
  void space() { pending_space_ = true; }
  void newline() {
    pending_space_ = false;
    text += '\n';
  }
  void put(std::string_view s) {
    if (s.empty()) return;
    if (pending_space_ && !text.empty() && text.back() != '\n') text += ' ';
    pending_space_ = false;
    text += s;
  }

 private:
  bool pending_space_ = false;
};

// Adds the line breaks inside s[b, e) (a tag, comment or script) so that line numbers stay the source's.
void keep_newlines(std::string_view s, size_t b, size_t e, HtmlOut& out) {
  for (size_t i = b; i < e && i < s.size(); ++i)
    if (s[i] == '\n') out.newline();
}

size_t find_icase(std::string_view s, std::string_view needle, size_t from) {
  if (needle.empty()) return from;
  for (size_t i = from; i + needle.size() <= s.size(); ++i)
    if (lower(s[i]) == lower(needle[0]) && starts_with_icase(s.substr(i), needle)) return i;
  return std::string_view::npos;
}

// The end (one past '>') of the tag starting at s[i] == '<', skipping quoted attribute values.
size_t tag_end(std::string_view s, size_t i) {
  char quote = 0;
  for (size_t j = i + 1; j < s.size(); ++j) {
    const char c = s[j];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      // A quote starts a value only after '='.
      size_t k = j;
      while (k > i && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\n' || s[k - 1] == '\r')) --k;
      if (k > i && s[k - 1] == '=') quote = c;
    } else if (c == '>') {
      return j + 1;
    }
  }
  return s.size();
}

std::string html_text(std::string_view s) {
  HtmlOut out;
  out.text.reserve(s.size() / 2);
  size_t i = 0;
  size_t run = 0;  // start of the current run of plain text
  auto flush = [&](size_t end) {
    // Plain text s[run, end): collapse horizontal whitespace, keep line breaks, decode entities.
    size_t k = run;
    while (k < end) {
      const char c = s[k];
      if (c == '\n') {
        out.newline();
        ++k;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        out.space();
        ++k;
      } else if (c == '&') {
        std::string decoded;
        const size_t n = decode_entity(s.substr(0, end), k, decoded);
        if (n == 0) {
          out.put("&");
          ++k;
        } else {
          if (decoded == " ") out.space();
          else out.put(decoded);
          k += n;
        }
      } else {
        size_t e = k;
        while (e < end && s[e] != '\n' && s[e] != ' ' && s[e] != '\t' && s[e] != '\r' && s[e] != '\f' &&
               s[e] != '\v' && s[e] != '&')
          ++e;
        out.put(s.substr(k, e - k));
        k = e;
      }
    }
  };
  while (i < s.size()) {
    if (s[i] != '<') {
      ++i;
      continue;
    }
    flush(i);
    if (s.compare(i, 4, "<!--") == 0) {
      size_t e = s.find("-->", i + 4);
      e = e == std::string_view::npos ? s.size() : e + 3;
      keep_newlines(s, i, e, out);
      i = run = e;
      continue;
    }
    if (starts_with_icase(s.substr(i), "<![cdata[")) {
      // CDATA's content is text.
      size_t e = s.find("]]>", i + 9);
      const size_t content_end = e == std::string_view::npos ? s.size() : e;
      run = i + 9;
      flush(content_end);
      i = run = e == std::string_view::npos ? s.size() : e + 3;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    const size_t name_begin = i + (closing ? 2 : 1);
    size_t name_end = name_begin;
    while (name_end < s.size() && ((s[name_end] >= 'a' && s[name_end] <= 'z') ||
                                   (s[name_end] >= 'A' && s[name_end] <= 'Z') ||
                                   (name_end > name_begin && s[name_end] >= '0' && s[name_end] <= '9') ||
                                   (name_end > name_begin && (s[name_end] == '-' || s[name_end] == ':'))))
      ++name_end;
    const bool declaration = !closing && i + 1 < s.size() && (s[i + 1] == '!' || s[i + 1] == '?');
    if (name_end == name_begin && !declaration) {
      // "a < b": a literal '<'.
      out.put("<");
      run = ++i;
      continue;
    }
    const size_t e = tag_end(s, i);
    keep_newlines(s, i, e, out);
    const std::string name = to_lower(s.substr(name_begin, name_end - name_begin));
    if (is_block_tag(name)) out.space();
    i = run = e;
    if (!closing && !declaration && (name == "script" || name == "style" || name == "template") &&
        !(e >= 2 && s[e - 2] == '/')) {
      // Raw content up to the closing tag: none of it is text.
      const size_t close = find_icase(s, "</" + name, e);
      const size_t stop = close == std::string_view::npos ? s.size() : tag_end(s, close);
      keep_newlines(s, e, stop, out);
      out.space();
      i = run = stop;
    }
  }
  flush(s.size());
  return std::move(out.text);
}

// ---- PDF ------------------------------------------------------------------------------------------------------

void quiet_poppler(const std::string&, void*) {}

// poppler's global state is set up once; documents are read one at a time (poppler's thread-safety across
// documents depends on how it was built, and PDFs are a small share of a corpus).
std::mutex& poppler_mutex() {
  static std::mutex m;
  return m;
}

std::string pdf_text(std::string_view path, std::string_view bytes) {
  if (bytes.size() > size_t(INT_MAX)) fail(ErrorKind::kUnsupported, "{}: PDF too large to read", path);
  std::lock_guard<std::mutex> lock(poppler_mutex());
  static std::once_flag quiet;
  std::call_once(quiet, [] { poppler::set_debug_error_function(quiet_poppler, nullptr); });
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes.data(), int(bytes.size())));
  if (!doc) fail(ErrorKind::kCorruptData, "{}: not a readable PDF", path);
  if (doc->is_locked())
    fail(ErrorKind::kUnsupported, "{}: encrypted PDF (it needs a password to open): not indexed", path);
  std::string text;
  const int pages = doc->pages();
  for (int p = 0; p < pages; ++p) {
    if (p > 0) text += '\f';
    std::unique_ptr<poppler::page> page(doc->create_page(p));
    if (!page) continue;
    const poppler::byte_array utf8 = page->text().to_utf8();
    const size_t start = text.size();
    for (size_t k = 0; k < utf8.size(); ++k) {
      const char c = utf8[k];
      if (c == '\r') {
        if (k + 1 < utf8.size() && utf8[k + 1] == '\n') continue;
        text += '\n';
      } else if (c == '\f' || c == '\0' || (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')) {
        text += ' ';  // a page is delimited by "\f" alone
      } else {
        text += c;
      }
    }
    // Each page ends its last line (trailing blank lines and poppler's own page-end form feed dropped), so that
    // the next page's first line starts right after the "\f".
    while (text.size() > start && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n')) text.pop_back();
    if (text.size() > start) text += '\n';
  }
  return text;
}

// Invalid UTF-8 bytes become U+FFFD, one per byte; a UTF-8 byte order mark is dropped.
std::string sanitize_utf8(std::string_view s) {
  if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) s.remove_prefix(3);
  if (utf8_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    char32_t cp;
    const int n = utf8_next(s, i, cp);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, size_t(n)));
      i += size_t(n);
    }
  }
  return out;
}

}  // namespace

std::string_view format_name(FileFormat format) {
  switch (format) {
    case FileFormat::kText: return "text";
    case FileFormat::kMarkdown: return "markdown";
    case FileFormat::kCode: return "code";
    case FileFormat::kHtml: return "html";
    case FileFormat::kPdf: return "pdf";
  }
  return "text";
}

bool looks_binary(std::string_view head) {
  if (head.empty()) return false;
  if (head.find('\0') != std::string_view::npos) return true;
  // A sequence cut by the end of the head is not held against it.
  head.remove_suffix(utf8_incomplete_tail(head));
  size_t suspicious = 0;
  for (size_t i = 0; i < head.size();) {
    const auto c = static_cast<unsigned char>(head[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != '\v' && c != '\b' && c != 0x1b) ||
          c == 0x7f)
        ++suspicious;
      ++i;
      continue;
    }
    char32_t cp;
    const int n = utf8_next(head, i, cp);
    if (n == 0) {
      ++suspicious;
      ++i;
    } else {
      i += size_t(n);
    }
  }
  return double(suspicious) > kBinaryShare * double(head.size());
}

FileFormat detect_format(std::string_view path, std::string_view head, std::string* language) {
  auto code = [&](const char* lang) {
    if (language) *language = lang;
    return FileFormat::kCode;
  };
  if (language) language->clear();
  const std::string_view name = base_name(path);
  for (const auto& n : kNames)
    if (name == n.name) return code(n.language);
  if (starts_with_icase(name, "Dockerfile.") || starts_with_icase(name, "Containerfile.")) return code("dockerfile");
  const size_t dot = name.find_last_of('.');
  if (dot != std::string_view::npos && dot > 0 && dot + 1 < name.size()) {
    const std::string ext = to_lower(name.substr(dot + 1));
    for (const auto& e : kExtensions)
      if (ext == e.ext) return e.format == FileFormat::kCode ? code(e.language) : e.format;
  }
  // The name says nothing: the content.
  if (head.substr(0, 5) == "%PDF-") return FileFormat::kPdf;
  std::string_view h = head;
  if (h.size() >= 3 && h.compare(0, 3, "\xEF\xBB\xBF") == 0) h.remove_prefix(3);
  if (h.size() > 2 && h[0] == '#' && h[1] == '!') {
    const std::string lang = shebang_language(h);
    if (!lang.empty()) {
      if (language) *language = lang;
      return FileFormat::kCode;
    }
  }
  size_t k = 0;
  while (k < h.size() && (h[k] == ' ' || h[k] == '\t' || h[k] == '\r' || h[k] == '\n')) ++k;
  h.remove_prefix(k);
  if (starts_with_icase(h, "<!doctype html") || starts_with_icase(h, "<html")) return FileFormat::kHtml;
  return FileFormat::kText;
}

SourceText extract_text(std::string_view path, std::string_view bytes) {
  const std::string_view head = bytes.substr(0, kSniffBytes);
  SourceText out;
  out.format = detect_format(path, head, &out.language);
  if (out.format == FileFormat::kPdf) {
    out.text = sanitize_utf8(pdf_text(path, bytes));
    return out;
  }
  if (looks_binary(head)) fail(ErrorKind::kUnsupported, "{}: binary file: not indexed", path);
  out.text = sanitize_utf8(bytes);
  if (out.format == FileFormat::kHtml) out.text = html_text(out.text);
  return out;
}

}  // namespace hearth::context
