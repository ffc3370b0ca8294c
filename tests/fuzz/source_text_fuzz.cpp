// libFuzzer target for the context layer's ingest: format detection, text extraction (text, Markdown, HTML, code,
// PDF through poppler) and chunking. The first byte picks the file name (its extension) and the token counter,
// the second the chunk bound; the rest is the file. Whatever the bytes, extraction gives valid UTF-8 (HTML with
// the input's line count) or a hearth::Error, and every chunk is its source's bytes at its recorded range and
// lines, within the bound, in text order.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "context/chunker.h"
#include "context/source_text.h"
#include "core/error.h"
#include "core/utf8.h"

namespace {

using hearth::context::Chunk;
using hearth::context::SourceText;

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int count_words(std::string_view s) {
  int n = 0;
  bool in_word = false;
  for (char c : s) {
    if (!space(c) && !in_word) ++n;
    in_word = !space(c);
  }
  return n;
}

int count_chars(std::string_view s) {
  int n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80 && !space(c);
  return n;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "source_text_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

size_t lines(std::string_view s) {
  size_t n = 1;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const char* kPaths[] = {"a.txt", "a.md", "a.html", "a.py", "a.c", "a.rs", "a.ts", "a.pdf",
                                 "a.go",  "a.java", "a.cpp", "a.js", "a.kt", "a.cs", "noext", "Makefile"};
  const char* path = kPaths[data[0] % 16];
  const bool chars = data[0] & 0x80;
  const int max_tokens = 1 + data[1] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);

  SourceText source;
  try {
    source = hearth::context::extract_text(path, bytes);
  } catch (const hearth::Error& e) {
    check(e.kind() == hearth::ErrorKind::kUnsupported || e.kind() == hearth::ErrorKind::kCorruptData,
          "extraction fails only as unsupported or corrupt");
    return 0;
  }
  check(hearth::utf8_valid(source.text), "extracted text is valid UTF-8");
  if (source.format == hearth::context::FileFormat::kHtml) check(lines(source.text) == lines(bytes), "HTML keeps lines");

  const hearth::context::TokenCounter counter = chars ? count_chars : count_words;
  const auto chunks = hearth::context::chunk_text(source, counter, {max_tokens, max_tokens / 3});
  const std::string& text = source.text;
  size_t prev_begin = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    check(c.byte_begin < c.byte_end && c.byte_end <= text.size(), "chunk range inside the text");
    check(c.text == text.substr(c.byte_begin, c.byte_end - c.byte_begin), "chunk text is the source's bytes");
    check(c.line_begin == lines(std::string_view(text).substr(0, c.byte_begin)), "line_begin");
    check(c.line_end == lines(std::string_view(text).substr(0, c.byte_end - 1)), "line_end");
    check(counter(c.text) <= max_tokens, "chunk within the bound");
    check(i == 0 || c.byte_begin > prev_begin, "chunks in text order");
    prev_begin = c.byte_begin;
  }
  return 0;
}
