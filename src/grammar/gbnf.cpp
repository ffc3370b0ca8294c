#include "grammar/gbnf.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/utf8.h"

namespace hearth::grammar {
namespace {

using Sequence = std::vector<Element>;
using Alternatives = std::vector<Sequence>;

// Repetition counts are expanded into that many copies, so they are bounded to keep a hostile grammar from
// asking for gigabytes: each count, and all the copies of a grammar together.
constexpr long kMaxRepetition = 4096;
constexpr size_t kMaxCopiedElements = size_t(1) << 20;
// Groups nest by recursion in the parser; a bound keeps a hostile "((((…" from overflowing the stack.
constexpr int kMaxGroupDepth = 256;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

class Parser {
 public:
  explicit Parser(std::string_view src) : src_(src) {}

  std::shared_ptr<const Grammar> parse() {
    skip_space(true);
    while (!eof()) parse_rule();
    for (size_t i = 0; i < names_.size(); ++i)
      if (!defined_[i]) error(first_use_[i], "undefined rule '{}'", names_[i]);
    if (!ids_.count("root")) error(src_.size(), "no rule named 'root' (the start symbol)");
    std::vector<Element> elements;
    std::vector<std::vector<uint32_t>> starts(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const Sequence& alt : rules_[r]) {
        starts[r].push_back(uint32_t(elements.size()));
        elements.insert(elements.end(), alt.begin(), alt.end());
        elements.push_back({ElementType::kEnd, 0, 0});
      }
    }
    return std::make_shared<const Grammar>(std::move(names_), std::move(starts), std::move(elements));
  }

 private:
  template <typename... Args>
  [[noreturn]] void error(size_t at, fmt::format_string<Args...> format, Args&&... args) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    fail("grammar: line {}, column {}: {}", line, col, fmt::format(format, std::forward<Args>(args)...));
  }

  bool eof() const { return pos_ >= src_.size(); }
  char peek() const { return eof() ? '\0' : src_[pos_]; }

  // Spaces, tabs and comments; newlines too where a rule may continue on the next line.
  void skip_space(bool newline_ok) {
    while (!eof()) {
      const char c = src_[pos_];
      if (c == ' ' || c == '\t') {
        ++pos_;
      } else if (c == '#') {
        while (!eof() && src_[pos_] != '\n') ++pos_;
      } else if (newline_ok && (c == '\n' || c == '\r')) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (!eof() && is_name_char(src_[pos_])) ++pos_;
    return std::string(src_.substr(start, pos_ - start));
  }

  uint32_t rule_id(const std::string& name, size_t at) {
    auto [it, inserted] = ids_.emplace(name, uint32_t(names_.size()));
    if (inserted) {
      names_.push_back(name);
      rules_.emplace_back();
      defined_.push_back(false);
      first_use_.push_back(at);
    }
    return it->second;
  }

  // A rule for a group or repetition inside rule `parent`.
  uint32_t helper_rule(const std::string& parent, Alternatives alts) {
    std::string name;
    do name = parent + "_" + std::to_string(++helpers_); while (ids_.count(name));
    const uint32_t id = rule_id(name, pos_);
    rules_[id] = std::move(alts);
    defined_[id] = true;
    return id;
  }

  void parse_rule() {
    const size_t start = pos_;
    const std::string name = parse_name();
    if (name.empty()) error(pos_, "expected a rule name, found '{}'", peek());
    skip_space(false);
    if (src_.substr(pos_, 3) != "::=") error(pos_, "expected '::=' after the rule name '{}'", name);
    pos_ += 3;
    skip_space(true);
    const uint32_t id = rule_id(name, start);
    if (defined_[id]) error(start, "rule '{}' is defined twice", name);
    defined_[id] = true;
    Alternatives alts = parse_alternatives(name, false);
    rules_[id] = std::move(alts);
    if (!eof() && peek() != '\n' && peek() != '\r') error(pos_, "expected the end of the line, found '{}'", peek());
    skip_space(true);
  }

  Alternatives parse_alternatives(const std::string& rule, bool nested) {
    Alternatives alts;
    alts.push_back(parse_sequence(rule, nested));
    while (peek() == '|') {
      ++pos_;
      skip_space(true);
      alts.push_back(parse_sequence(rule, nested));
    }
    return alts;
  }

  Sequence parse_sequence(const std::string& rule, bool nested) {
    Sequence seq;
    size_t last = std::string::npos;  // where the last symbol's elements start, for a postfix operator
    while (!eof()) {
      const char c = peek();
      const size_t at = pos_;
      if (c == '"') {
        ++pos_;
        last = seq.size();
        while (peek() != '"') {
          if (eof()) error(at, "unterminated string literal");
          const char32_t cp = parse_char();
          seq.push_back({ElementType::kChar, uint32_t(cp), uint32_t(cp)});
        }
        ++pos_;
      } else if (c == '[') {
        ++pos_;
        last = seq.size();
        parse_class(seq, at);
      } else if (c == '.') {
        ++pos_;
        last = seq.size();
        seq.push_back({ElementType::kChar, 0, 0x10FFFF});
      } else if (is_name_char(c)) {
        last = seq.size();
        const std::string name = parse_name();
        seq.push_back({ElementType::kRuleRef, rule_id(name, at), 0});
      } else if (c == '(') {
        ++pos_;
        if (++depth_ > kMaxGroupDepth) error(at, "groups nested deeper than {}", kMaxGroupDepth);
        skip_space(true);
        Alternatives inner = parse_alternatives(rule, true);
        if (peek() != ')') error(at, "unclosed '('");
        ++pos_;
        --depth_;
        last = seq.size();
        seq.push_back({ElementType::kRuleRef, helper_rule(rule, std::move(inner)), 0});
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (last == std::string::npos) error(at, "'{}' has nothing before it to repeat", c);
        ++pos_;
        long min = 0, max = -1;
        if (c == '+') min = 1;
        if (c == '?') max = 1;
        if (c == '{') parse_braces(min, max, at);
        repeat(rule, seq, last, min, max);
        last = std::string::npos;
      } else {
        break;
      }
      skip_space(nested);
    }
    return seq;
  }

  // {m}, {m,}, {m,n}
  void parse_braces(long& min, long& max, size_t at) {
    auto number = [&] {
      skip_space(false);
      const size_t start = pos_;
      long v = 0;
      while (!eof() && peek() >= '0' && peek() <= '9') {
        v = v * 10 + (peek() - '0');
        if (v > kMaxRepetition) error(at, "repetition count above {}", kMaxRepetition);
        ++pos_;
      }
      skip_space(false);
      return pos_ == start ? -1L : v;
    };
    min = number();
    if (min < 0) error(at, "expected a number after '{{'");
    max = min;
    if (peek() == ',') {
      ++pos_;
      max = number();  // -1 when absent: unbounded
    }
    if (peek() != '}') error(at, "expected '}}' to close the repetition");
    ++pos_;
    if (max >= 0 && max < min) error(at, "repetition {{{},{}}} has its maximum below its minimum", min, max);
  }

  // Replaces the symbol at seq[last..] by `min` copies followed by up to max - min optional ones (unbounded:
  // a right-recursive helper rule, which the matcher runs in constant stack depth).
  void repeat(const std::string& rule, Sequence& seq, size_t last, long min, long max) {
    const Sequence symbol(seq.begin() + long(last), seq.end());
    copied_ += (symbol.size() + 1) * size_t(std::max(min, max));
    if (copied_ > kMaxCopiedElements) error(pos_, "the repetitions expand to more than {} elements", kMaxCopiedElements);
    seq.resize(last);
    for (long i = 0; i < min; ++i) seq.insert(seq.end(), symbol.begin(), symbol.end());
    if (max < 0) {
      const uint32_t id = helper_rule(rule, {});
      Sequence again = symbol;
      again.push_back({ElementType::kRuleRef, id, 0});
      rules_[id] = {again, {}};
      seq.push_back({ElementType::kRuleRef, id, 0});
      return;
    }
    // x{0,3} = (x (x (x)?)?)? : each optional copy nests the rest, so there is one way to match each count.
    uint32_t inner = UINT32_MAX;
    for (long i = min; i < max; ++i) {
      Sequence alt = symbol;
      if (inner != UINT32_MAX) alt.push_back({ElementType::kRuleRef, inner, 0});
      inner = helper_rule(rule, {alt, {}});
    }
    if (inner != UINT32_MAX) seq.push_back({ElementType::kRuleRef, inner, 0});
  }

  void parse_class(Sequence& seq, size_t at) {
    const bool negate = peek() == '^';
    if (negate) ++pos_;
    const size_t first = seq.size();
    while (peek() != ']') {
      if (eof()) error(at, "unterminated character class");
      const char32_t lo = parse_char();
      char32_t hi = lo;
      if (peek() == '-' && pos_ + 1 < src_.size() && src_[pos_ + 1] != ']') {
        ++pos_;
        hi = parse_char();
        if (hi < lo) error(at, "character range is backwards (U+{:04X} after U+{:04X})", uint32_t(hi), uint32_t(lo));
      }
      const ElementType type = seq.size() > first ? ElementType::kCharAlt
                               : negate           ? ElementType::kCharNot
                                                  : ElementType::kChar;
      seq.push_back({type, uint32_t(lo), uint32_t(hi)});
    }
    ++pos_;
    if (seq.size() == first) error(at, "empty character class");
  }

  // One character of a literal or class: an escape or one UTF-8 code point.
  char32_t parse_char() {
    const size_t at = pos_;
    if (src_[pos_] != '\\') {
      char32_t cp = 0;
      const int len = utf8_next(src_, pos_, cp);
      if (len == 0) error(at, "invalid UTF-8");
      pos_ += size_t(len);
      return cp;
    }
    if (++pos_ >= src_.size()) error(at, "unfinished escape");
    const char e = src_[pos_++];
    switch (e) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '.': case '|':
        return char32_t(e);
      case 'x': return parse_hex(2, at);
      case 'u': return parse_hex(4, at);
      case 'U': return parse_hex(8, at);
      default: error(at, "unknown escape '\\{}'", e);
    }
  }

  char32_t parse_hex(int digits, size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const char c = peek();
      int d = -1;
      if (c >= '0' && c <= '9') d = c - '0';
      if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      if (d < 0) error(at, "expected {} hexadecimal digits in the escape", digits);
      v = v * 16 + uint32_t(d);
      ++pos_;
    }
    if (v > 0x10FFFF) error(at, "escape U+{:X} is beyond Unicode", v);
    return char32_t(v);
  }

  std::string_view src_;
  size_t pos_ = 0;
  std::map<std::string, uint32_t, std::less<>> ids_;
  std::vector<std::string> names_;
  std::vector<Alternatives> rules_;
  std::vector<bool> defined_;
  std::vector<size_t> first_use_;
  int helpers_ = 0;
  int depth_ = 0;  // groups open around the parser's position
  size_t copied_ = 0;  // elements written by repetitions so far
};

}  // namespace

std::shared_ptr<const Grammar> parse_gbnf(std::string_view text) { return Parser(text).parse(); }

std::string prefix_rule_names(std::string_view text, std::string_view prefix) {
  std::string out;
  out.reserve(text.size() * 2);
  // Copies text[i..] up to and including the first unescaped `close`.
  auto copy_until = [&](size_t& i, char close) {
    out += text[i++];
    while (i < text.size() && text[i] != close) {
      if (text[i] == '\\' && i + 1 < text.size()) out += text[i++];
      out += text[i++];
    }
    if (i < text.size()) out += text[i++];
  };
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '"') {
      copy_until(i, '"');
    } else if (c == '[') {
      copy_until(i, ']');
    } else if (c == '{') {
      copy_until(i, '}');
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n') out += text[i++];
    } else if (is_name_char(c)) {
      out += prefix;
      while (i < text.size() && is_name_char(text[i])) out += text[i++];
    } else {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace hearth::grammar
