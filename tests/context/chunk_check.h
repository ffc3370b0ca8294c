// Checks shared by the chunker's tests: the invariants every chunk of every input must satisfy, and simple token
// counters.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "context/chunker.h"

namespace hearth::context::test {

inline bool space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Whitespace-separated words: additive over text cut at whitespace.
inline int count_words(std::string_view s) {
  int n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool sp = space_byte(c);
    if (!sp && !in_word) ++n;
    in_word = !sp;
  }
  return n;
}

// Words plus one per line break: a chunk counts more than its (trimmed) lines add up to, so the chunker's exact
// check of each chunk is what keeps it within the bound.
inline int count_words_and_breaks(std::string_view s) {
  int n = count_words(s);
  for (char c : s) n += c == '\n';
  return n;
}

// One token per UTF-8 character that is not whitespace, as a byte-level tokenizer would for CJK text.
inline int count_chars(std::string_view s) {
  int n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80 && !space_byte(c)) ++n;
  return n;
}

// 1-based line numbers of byte positions, by counting line breaks (independently of the chunker's own index).
class LineCounter {
 public:
  explicit LineCounter(std::string_view text) {
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') breaks_.push_back(i);
  }
  uint32_t line_at(size_t pos) const {
    return 1 + uint32_t(std::lower_bound(breaks_.begin(), breaks_.end(), pos) - breaks_.begin());
  }

 private:
  std::vector<size_t> breaks_;
};

// The invariants: text is the source's bytes at the recorded range, lines are that range's, the bound holds,
// chunks come in text order and move forward, no chunk starts or ends with whitespace, and (when `complete`)
// every non-whitespace byte of the source is in some chunk.
inline void check_chunks(const SourceText& source, const std::vector<Chunk>& chunks, const TokenCounter& count,
                         int max_tokens, bool complete = true, const std::string& what = "") {
  const std::string& text = source.text;
  const LineCounter lines(text);
  size_t covered_to = 0;  // every non-space byte before this is in a chunk
  size_t prev_begin = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    SCOPED_TRACE(what + " chunk " + std::to_string(i) + ": [" + c.text.substr(0, 80) + "]");
    ASSERT_LT(c.byte_begin, c.byte_end);
    ASSERT_LE(c.byte_end, text.size());
    ASSERT_EQ(c.text, text.substr(c.byte_begin, c.byte_end - c.byte_begin));
    EXPECT_EQ(c.line_begin, lines.line_at(c.byte_begin));
    EXPECT_EQ(c.line_end, lines.line_at(c.byte_end - 1));
    EXPECT_LE(count(c.text), max_tokens);
    EXPECT_FALSE(space_byte(c.text.front()));
    EXPECT_FALSE(space_byte(c.text.back()));
    if (i > 0) {
      EXPECT_GT(c.byte_begin, prev_begin) << "chunks move forward";
    }
    prev_begin = c.byte_begin;
    if (complete) {
      for (size_t k = covered_to; k < c.byte_begin; ++k)
        ASSERT_TRUE(space_byte(text[k])) << "byte " << k << " is in no chunk: ["
                                         << text.substr(k, 40) << "]";
    }
    covered_to = std::max(covered_to, c.byte_end);
  }
  if (complete) {
    for (size_t k = covered_to; k < text.size(); ++k)
      ASSERT_TRUE(space_byte(text[k])) << what << ": byte " << k << " after the last chunk is in none";
  }
}

}  // namespace hearth::context::test
