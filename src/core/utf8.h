// Small UTF-8 helpers shared by tokenizers and input validation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

// True if s is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool utf8_valid(std::string_view s);

// Length in bytes of the UTF-8 sequence starting with lead byte c (1 for invalid leads).
inline int utf8_seq_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xe) return 3;
  if ((c >> 3) == 0x1e) return 4;
  return 1;
}

// Decodes the well-formed sequence at s[i] (i < s.size()) into cp and returns its length in bytes, or 0 (cp
// unspecified) if the bytes there are not one.
int utf8_next(std::string_view s, size_t i, char32_t& cp);

// Decodes s into code points; invalid bytes decode to U+FFFD, one per byte.
std::vector<char32_t> utf8_decode(std::string_view s);
void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(const std::vector<char32_t>& cps);

// Number of bytes at the end of s that form an incomplete (but so far valid) UTF-8 sequence: a streaming
// decoder holds them back until the rest arrives.
size_t utf8_incomplete_tail(std::string_view s);

}  // namespace hearth
