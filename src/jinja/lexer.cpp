#include "jinja/lexer.h"

#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/utf8.h"
#include "jinja/js_string.h"

namespace hearth::jinja {

const char* tok_name(Tok t) {
  switch (t) {
    case Tok::Text: return "text";
    case Tok::Number: return "number";
    case Tok::String: return "string";
    case Tok::Identifier: return "identifier";
    case Tok::Equals: return "'='";
    case Tok::OpenParen: return "'('";
    case Tok::CloseParen: return "')'";
    case Tok::OpenStatement: return "'{%'";
    case Tok::CloseStatement: return "'%}'";
    case Tok::OpenExpression: return "'{{'";
    case Tok::CloseExpression: return "'}}'";
    case Tok::OpenSquare: return "'['";
    case Tok::CloseSquare: return "']'";
    case Tok::OpenCurly: return "'{'";
    case Tok::CloseCurly: return "'}'";
    case Tok::Comma: return "','";
    case Tok::Dot: return "'.'";
    case Tok::Colon: return "':'";
    case Tok::Pipe: return "'|'";
    case Tok::Additive: return "operator";
    case Tok::Multiplicative: return "operator";
    case Tok::Power: return "'**'";
    case Tok::Comparison: return "comparison";
    case Tok::Unary: return "unary operator";
    case Tok::Comment: return "comment";
  }
  return "?";
}

namespace {

// Text with the original line of every byte, so errors point at the template as written even after
// the whitespace rewriting below removed newlines.
struct Source {
  std::string text;
  std::vector<int> line;
  void push(char c, int l) { text += c; line.push_back(l); }
  size_t size() const { return text.size(); }
  char at(size_t i) const { return i < text.size() ? text[i] : '\0'; }
};

bool line_terminator_before(const std::string& t, size_t i) {
  if (i == 0) return true;
  if (t[i - 1] == '\n' || t[i - 1] == '\r') return true;
  return i >= 3 && static_cast<unsigned char>(t[i - 3]) == 0xE2 && static_cast<unsigned char>(t[i - 2]) == 0x80 &&
         (static_cast<unsigned char>(t[i - 1]) == 0xA8 || static_cast<unsigned char>(t[i - 1]) == 0xA9);
}

bool space_at(std::string_view s, size_t i, int* len) { return js_space(decode_at(s, i, len)); }

// lstrip_blocks: blanks at the start of a line before a block or comment tag go.
Source lstrip_blocks(const Source& in) {
  Source out;
  const std::string& t = in.text;
  for (size_t i = 0; i < t.size();) {
    if (line_terminator_before(t, i)) {
      size_t j = i;
      while (j < t.size() && (t[j] == ' ' || t[j] == '\t')) ++j;
      if (j + 1 < t.size() && t[j] == '{' && std::strchr("#%-", t[j + 1]) != nullptr) i = j;
    }
    out.push(t[i], in.line[i]);
    ++i;
  }
  return out;
}

// trim_blocks: the first newline after a block or comment tag goes.
Source trim_blocks(const Source& in) {
  Source out;
  const std::string& t = in.text;
  for (size_t i = 0; i < t.size();) {
    if (i + 2 < t.size() && std::strchr("#%-", t[i]) != nullptr && t[i + 1] == '}' && t[i + 2] == '\n') {
      out.push(t[i], in.line[i]);
      out.push(t[i + 1], in.line[i + 1]);
      i += 3;
      continue;
    }
    out.push(t[i], in.line[i]);
    ++i;
  }
  return out;
}

// {% generation %} / {% endgeneration %} (assistant-mask markers for training) render as nothing;
// their '-' flags trim the surrounding whitespace as usual.
Source strip_generation_tags(const Source& in) {
  Source out;
  const std::string& t = in.text;
  size_t floor = 0;  // output bytes before this belong to an earlier match and cannot be trimmed again
  for (size_t i = 0; i < t.size();) {
    if (t[i] == '{' && i + 1 < t.size() && t[i + 1] == '%') {
      size_t q = i + 2;
      const bool lstrip = q < t.size() && t[q] == '-';
      if (lstrip) ++q;
      int n;
      while (q < t.size() && space_at(t, q, &n)) q += n;
      if (t.compare(q, 3, "end") == 0 && t.compare(q + 3, 10, "generation") == 0) q += 3;
      if (t.compare(q, 10, "generation") == 0) {
        q += 10;
        while (q < t.size() && space_at(t, q, &n)) q += n;
        bool rstrip = false;
        if (q < t.size() && t[q] == '-') rstrip = true, ++q;
        if (t.compare(q, 2, "%}") == 0) {
          q += 2;
          if (lstrip) {
            size_t end = out.size();
            while (end > floor) {
              size_t start = end - 1;
              while (start > floor && (static_cast<unsigned char>(out.text[start]) & 0xC0) == 0x80) --start;
              if (!space_at(out.text, start, &n)) break;
              end = start;
            }
            out.text.resize(end);
            out.line.resize(end);
          }
          while (q < t.size() && space_at(t, q, &n)) {
            if (!rstrip)
              for (int k = 0; k < n; ++k) out.push(t[q + k], in.line[q + k]);
            q += n;
          }
          floor = out.size();
          i = q;
          continue;
        }
      }
    }
    out.push(t[i], in.line[i]);
    ++i;
  }
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

struct Rule {
  const char* seq;
  Tok type;
};
// Longest operators first where one is a prefix of another.
constexpr Rule kRules[] = {
    {"{%", Tok::OpenStatement}, {"%}", Tok::CloseStatement}, {"{{", Tok::OpenExpression},
    {"}}", Tok::CloseExpression}, {"(", Tok::OpenParen}, {")", Tok::CloseParen}, {"{", Tok::OpenCurly},
    {"}", Tok::CloseCurly}, {"[", Tok::OpenSquare}, {"]", Tok::CloseSquare}, {",", Tok::Comma},
    {".", Tok::Dot}, {":", Tok::Colon}, {"|", Tok::Pipe}, {"<=", Tok::Comparison}, {">=", Tok::Comparison},
    {"==", Tok::Comparison}, {"!=", Tok::Comparison}, {"<", Tok::Comparison}, {">", Tok::Comparison},
    {"+", Tok::Additive}, {"-", Tok::Additive}, {"~", Tok::Additive}, {"**", Tok::Power},
    {"*", Tok::Multiplicative}, {"//", Tok::Multiplicative}, {"/", Tok::Multiplicative},
    {"%", Tok::Multiplicative}, {"=", Tok::Equals},
};

class Lexer {
 public:
  explicit Lexer(Source src) : s_(std::move(src)) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) {
      const bool after_tag = tokens_.empty() || last() == Tok::CloseStatement || last() == Tok::CloseExpression ||
                             last() == Tok::Comment;
      if (after_tag) {
        const size_t start = pos_;
        while (pos_ < s_.size() && !(s_.at(pos_) == '{' && std::strchr("%{#", s_.at(pos_ + 1)) != nullptr &&
                                     s_.at(pos_ + 1) != '\0'))
          ++pos_;
        if (pos_ > start) {
          push(Tok::Text, s_.text.substr(start, pos_ - start), start);
          continue;
        }
      }
      if (starts("{#")) {
        comment();
        continue;
      }
      if (starts("{%-") || starts("{{-")) {
        strip_trailing_whitespace();
        const bool stmt = s_.at(pos_ + 1) == '%';
        push(stmt ? Tok::OpenStatement : Tok::OpenExpression, stmt ? "{%" : "{{", pos_);
        if (!stmt) curly_depth_ = 0;
        pos_ += 3;
        continue;
      }
      const size_t ws_start = pos_;
      skip_whitespace();
      if (pos_ > ws_start && pos_ >= s_.size()) error(ws_start, "unexpected end of template");
      if (starts("-%}") || starts("-}}")) {
        const bool stmt = s_.at(pos_ + 1) == '%';
        push(stmt ? Tok::CloseStatement : Tok::CloseExpression, stmt ? "%}" : "}}", pos_);
        pos_ += 3;
        skip_whitespace();
        continue;
      }
      const char c = s_.at(pos_);
      if ((c == '-' || c == '+') && sign_starts_operand(pos_)) {
        const size_t start = pos_++;
        std::string num = digits();
        if (!num.empty() && s_.at(pos_) == '.' && is_digit(s_.at(pos_ + 1))) {
          ++pos_;
          num += "." + digits();
        }
        push(num.empty() ? Tok::Unary : Tok::Number, std::string(1, c) + num, start);
        continue;
      }
      if (rule()) continue;
      if (c == '\'' || c == '"') {
        const size_t start = pos_++;
        push(Tok::String, string_body(c, start), start);
        ++pos_;
        continue;
      }
      if (is_digit(c)) {
        const size_t start = pos_;
        std::string num = digits();
        if (last_is(Tok::Dot) == false && s_.at(pos_) == '.' && is_digit(s_.at(pos_ + 1))) {
          ++pos_;
          num += "." + digits();
        }
        push(Tok::Number, num, start);
        continue;
      }
      if (is_word(c)) {
        const size_t start = pos_;
        while (pos_ < s_.size() && is_word(s_.at(pos_))) ++pos_;
        if (pos_ >= s_.size()) error(start, "unexpected end of template");
        push(Tok::Identifier, s_.text.substr(start, pos_ - start), start);
        continue;
      }
      int n;
      decode_at(s_.text, pos_, &n);
      error(pos_, "unexpected character '" + s_.text.substr(pos_, n) + "'");
    }
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(size_t at, const std::string& what) const {
    const int line = s_.line.empty() ? 1 : s_.line[std::min(at, s_.line.size() - 1)];
    fail("template syntax error at line {}: {}", line, what);
  }
  Tok last() const { return tokens_.back().type; }
  bool last_is(Tok t) const { return !tokens_.empty() && last() == t; }
  bool starts(const char* seq) const { return s_.text.compare(pos_, std::strlen(seq), seq) == 0; }
  void push(Tok t, std::string v, size_t at) {
    const int line = s_.line.empty() ? 1 : s_.line[std::min(at, s_.line.size() - 1)];
    tokens_.push_back({t, std::move(v), line});
  }

  void skip_whitespace() {
    int n;
    while (pos_ < s_.size() && space_at(s_.text, pos_, &n)) pos_ += n;
  }

  void strip_trailing_whitespace() {
    if (!tokens_.empty() && last() == Tok::Text) {
      Token& t = tokens_.back();
      t.value = std::string(js_trim_end(t.value));
      if (t.value.empty()) tokens_.pop_back();
    }
  }

  // A sign right after an operand is a binary operator; elsewhere it is part of a number or a unary sign.
  bool sign_starts_operand(size_t at) const {
    if (tokens_.empty() || last() == Tok::Text) error(at, std::string("unexpected character '") + s_.at(at) + "'");
    switch (last()) {
      case Tok::Identifier:
      case Tok::Number:
      case Tok::String:
      case Tok::CloseParen:
      case Tok::CloseSquare: return false;
      default: return true;
    }
  }

  std::string digits() {
    const size_t start = pos_;
    while (pos_ < s_.size() && is_digit(s_.at(pos_))) ++pos_;
    if (pos_ > start && pos_ >= s_.size()) error(start, "unexpected end of template");
    return s_.text.substr(start, pos_ - start);
  }

  bool rule() {
    for (const Rule& r : kRules) {
      if (r.type == Tok::CloseExpression && curly_depth_ > 0) continue;
      if (!starts(r.seq)) continue;
      push(r.type, r.seq, pos_);
      if (r.type == Tok::OpenExpression) curly_depth_ = 0;
      else if (r.type == Tok::OpenCurly) ++curly_depth_;
      else if (r.type == Tok::CloseCurly) --curly_depth_;
      pos_ += std::strlen(r.seq);
      return true;
    }
    return false;
  }

  void comment() {
    const size_t start = pos_;
    pos_ += 2;
    const bool strip_before = s_.at(pos_) == '-';
    if (strip_before) ++pos_;
    std::string body;
    while (!(s_.at(pos_) == '#' && s_.at(pos_ + 1) == '}')) {
      if (pos_ + 2 >= s_.size()) error(start, "missing end of comment tag '#}'");
      body += s_.at(pos_++);
    }
    const bool strip_after = !body.empty() && body.back() == '-';
    if (strip_after) body.pop_back();
    if (strip_before) strip_trailing_whitespace();
    push(Tok::Comment, std::move(body), start);
    pos_ += 2;
    if (strip_after) skip_whitespace();
  }

  // The body of a quoted string (pos_ just after the opening quote; left on the closing quote).
  std::string string_body(char quote, size_t start) {
    std::string out;
    char32_t high = 0;  // a pending \u high surrogate, to pair with a following \u low surrogate
    auto flush_high = [&] {
      if (high) utf8_append(out, 0xFFFD), high = 0;
    };
    while (true) {
      if (pos_ >= s_.size()) error(start, "unterminated string literal");
      const char c = s_.at(pos_);
      if (c == quote) break;
      if (c == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) error(start, "unterminated string literal");
        const char e = s_.at(pos_++);
        if (e == 'x' || e == 'u') {
          const size_t len = e == 'x' ? 2 : 4;
          char32_t unit = 0;
          for (size_t k = 0; k < len; ++k) {
            const char h = s_.at(pos_ + k);
            const int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
            if (d < 0) error(pos_, std::string("invalid hexadecimal escape sequence \\") + e);
            unit = unit * 16 + static_cast<char32_t>(d);
          }
          pos_ += len;
          if (unit >= 0xDC00 && unit <= 0xDFFF && high) {
            utf8_append(out, 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00));
            high = 0;
          } else {
            flush_high();
            if (unit >= 0xD800 && unit <= 0xDBFF) high = unit;
            else if (unit >= 0xDC00 && unit <= 0xDFFF) utf8_append(out, 0xFFFD);
            else utf8_append(out, unit);
          }
          continue;
        }
        flush_high();
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'v': out += '\v'; break;
          case '\'': out += '\''; break;
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          default: error(pos_ - 1, std::string("unexpected escaped character '") + e + "'");
        }
        continue;
      }
      flush_high();
      out += c;
      ++pos_;
      if (pos_ >= s_.size()) error(start, "unterminated string literal");
    }
    flush_high();
    return out;
  }

  Source s_;
  size_t pos_ = 0;
  int curly_depth_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  if (!utf8_valid(source)) fail("template is not valid UTF-8");
  Source src;
  int line = 1;
  for (char c : source) {
    src.push(c, line);
    if (c == '\n') ++line;
  }
  if (!src.text.empty() && src.text.back() == '\n') {
    src.text.pop_back();
    src.line.pop_back();
  }
  return Lexer(strip_generation_tags(trim_blocks(lstrip_blocks(src)))).run();
}

}  // namespace hearth::jinja
