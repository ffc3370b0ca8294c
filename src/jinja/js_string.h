// JavaScript string semantics over UTF-8 text. The reference engine runs on JavaScript strings, so
// whitespace (\s, trim), lengths and indexing (UTF-16 code units) and number parsing follow ECMAScript
// here rather than C or Python, for byte-exact parity.
#pragma once

#include <string>
#include <string_view>

namespace hearth::jinja {

// ECMAScript WhiteSpace or LineTerminator (what /\s/ and String.prototype.trim remove).
bool js_space(char32_t cp);
// Decodes the code point at s[i] (s is valid UTF-8) and its byte length.
char32_t decode_at(std::string_view s, size_t i, int* len);

std::string_view js_trim_start(std::string_view s);
std::string_view js_trim_end(std::string_view s);
inline std::string_view js_trim(std::string_view s) { return js_trim_end(js_trim_start(s)); }

// String.prototype.length (UTF-16 code units).
size_t utf16_length(std::string_view s);
// String.prototype.at(index) (UTF-16 index, negative from the end); false when out of range.
// A lone half of a surrogate pair cannot be UTF-8, so it becomes U+FFFD.
bool utf16_at(std::string_view s, double index, std::string* out);

std::string js_upper(std::string_view s);
std::string js_lower(std::string_view s);

// Number(s), parseInt(s, 10) and parseFloat(s); NaN when JavaScript gives NaN.
double js_to_number(std::string_view s);
double js_parse_int(std::string_view s);
double js_parse_float(std::string_view s);

}  // namespace hearth::jinja
