// Structure-aware chunking: cuts a file's text into pieces an embedding model takes whole, along the text's own
// structure, so each chunk is about one thing:
//  - Markdown by headings (a chunk never spans two sections; each chunk's `title` is its heading path,
//    "Install > Debian"), then by paragraphs; fenced code blocks are never split mid-line.
//  - Code by top-level definitions (functions, classes, structs, impls, …) for C/C++, Python, JavaScript/
//    TypeScript, Go, Rust and Java: small neighbouring definitions are packed together, a long one is split at
//    blank lines and then at lines; `title` names the first definition ("def parse_args", "fn main").
//  - Anything else (text, HTML's text, PDF) by paragraphs (blank lines), then sentences, then words.
// Every chunk is at most `max_tokens` tokens by the caller's counter and consecutive chunks of one section
// overlap by about `overlap_tokens` (whole lines or sentences, never a cut word). A chunk records the byte range
// and the 1-based, inclusive line range it came from, so a hit is cited as path:line_begin-line_end.
//
// Pure functions, thread-safe when the counter is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "context/source_text.h"

namespace hearth::context {

struct Chunk {
  std::string text;            // exactly text.substr(byte_begin, byte_end - byte_begin)
  size_t byte_begin = 0, byte_end = 0;
  uint32_t line_begin = 1, line_end = 1;  // 1-based, inclusive
  std::string title;           // heading path or first definition; "" when there is none
};

// Tokens the embedding model would see for a piece of text, framing tokens excluded.
using TokenCounter = std::function<int(std::string_view)>;

struct ChunkerOptions {
  int max_tokens = 128;     // hard bound per chunk (by the counter)
  int overlap_tokens = 16;  // soft: the overlap is whole lines/sentences adding up to at most this
};

// Chunks in text order; empty (whitespace-only) text gives none. Deterministic: the same input gives the same
// chunks, which is what lets the indexer re-embed only the chunks an edit changed.
std::vector<Chunk> chunk_text(const SourceText& source, const TokenCounter& count_tokens,
                              const ChunkerOptions& options = {});

}  // namespace hearth::context
