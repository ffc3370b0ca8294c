#include "jinja/js_string.h"

#include <utf8proc.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/utf8.h"

namespace hearth::jinja {

bool js_space(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000: case 0xFEFF:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

char32_t decode_at(std::string_view s, size_t i, int* len) {
  const auto c = static_cast<unsigned char>(s[i]);
  int n = utf8_seq_len(c);
  if (i + n > s.size()) n = 1;
  char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *len = n;
  return cp;
}

std::string_view js_trim_start(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    int n;
    if (!js_space(decode_at(s, i, &n))) break;
    i += n;
  }
  return s.substr(i);
}

std::string_view js_trim_end(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    int n;
    if (!js_space(decode_at(s, start, &n))) break;
    end = start;
  }
  return s.substr(0, end);
}

size_t utf16_length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) n += c >= 0xF0 ? 2 : 1;
  }
  return n;
}

bool utf16_at(std::string_view s, double index, std::string* out) {
  const double len = static_cast<double>(utf16_length(s));
  double k = std::trunc(index);
  if (std::isnan(k)) k = 0;
  if (k < 0) k += len;
  if (k < 0 || k >= len) return false;
  const auto target = static_cast<size_t>(k);
  size_t unit = 0;
  for (size_t i = 0; i < s.size();) {
    int n;
    const char32_t cp = decode_at(s, i, &n);
    const size_t units = cp >= 0x10000 ? 2 : 1;
    if (target < unit + units) {
      out->clear();
      if (units == 2) utf8_append(*out, 0xFFFD);
      else out->assign(s.substr(i, n));
      return true;
    }
    unit += units;
    i += n;
  }
  return false;
}

namespace {

template <typename Map>
std::string map_case(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    int n;
    const char32_t cp = decode_at(s, i, &n);
    map(out, cp);
    i += n;
  }
  return out;
}

}  // namespace

std::string js_upper(std::string_view s) {
  return map_case(s, [](std::string& out, char32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp >= 'a' && cp <= 'z' ? cp - 32 : cp);
    } else if (cp == 0xDF) {  // the one full (one-to-many) mapping common in chat text: ß -> SS
      out += "SS";
    } else {
      utf8_append(out, static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cp))));
    }
  });
}

std::string js_lower(std::string_view s) {
  return map_case(s, [](std::string& out, char32_t cp) {
    if (cp < 0x80) out += static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    else utf8_append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
  });
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Length of the longest prefix of s that is an ECMAScript StrDecimalLiteral (without sign), 0 if none.
size_t decimal_prefix(std::string_view s) {
  if (s.substr(0, 8) == "Infinity") return 8;
  size_t i = 0, digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    size_t j = i + 1, frac = 0;
    while (j < s.size() && is_digit(s[j])) ++j, ++frac;
    if (digits + frac > 0) i = j, digits += frac;
  }
  if (digits == 0) return 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    size_t exp_digits = 0;
    while (j < s.size() && is_digit(s[j])) ++j, ++exp_digits;
    if (exp_digits > 0) i = j;
  }
  return i;
}

double parse_decimal(std::string_view s, bool negative) {
  if (s == "Infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  const std::string copy(s);
  const double v = std::strtod(copy.c_str(), nullptr);
  return negative ? -v : v;
}

}  // namespace

double js_to_number(std::string_view s) {
  s = js_trim(s);
  if (s.empty()) return 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'O' || s[1] == 'b' ||
                                      s[1] == 'B')) {
    const int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
    double v = 0;
    for (char c : s.substr(2)) {
      int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 99;
      if (d >= base) return kNaN;
      v = v * base + d;
    }
    return v;
  }
  bool negative = false;
  std::string_view body = s;
  if (body[0] == '+' || body[0] == '-') negative = body[0] == '-', body.remove_prefix(1);
  const size_t n = decimal_prefix(body);
  if (n == 0 || n != body.size()) return kNaN;
  return parse_decimal(body, negative);
}

double js_parse_int(std::string_view s) {
  s = js_trim_start(s);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) negative = s[0] == '-', s.remove_prefix(1);
  size_t i = 0;
  double v = 0;
  while (i < s.size() && is_digit(s[i])) v = v * 10 + (s[i++] - '0');
  if (i == 0) return kNaN;
  if (i > 15) v = parse_decimal(s.substr(0, i), false);  // exact rounding for long digit strings
  return negative ? -v : v;
}

double js_parse_float(std::string_view s) {
  s = js_trim_start(s);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) negative = s[0] == '-', s.remove_prefix(1);
  const size_t n = decimal_prefix(s);
  if (n == 0) return kNaN;
  return parse_decimal(s.substr(0, n), negative);
}

}  // namespace hearth::jinja
