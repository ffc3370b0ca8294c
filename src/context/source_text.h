// Turning a file's bytes into the text the indexer chunks: which format a file is (by name, then by content),
// whether it is text at all (binary files are sniffed and skipped), and its text — a file's own bytes for plain
// text, Markdown and source code; the visible text of HTML; the text layer of a PDF (poppler-cpp).
//
// Line numbers of the extracted text are what the index cites (path:lines), so extraction keeps them meaningful:
// for text, Markdown and code the text IS the file; HTML keeps every source line break (tags, scripts and styles
// become nothing, so line N of the text is line N of the file); a PDF's pages are joined with one form feed
// ("\f") each, and its lines are the text layer's.
//
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace hearth::context {

enum class FileFormat { kText, kMarkdown, kCode, kHtml, kPdf };

std::string_view format_name(FileFormat format);  // "text", "markdown", "code", "html", "pdf"

struct SourceText {
  FileFormat format = FileFormat::kText;
  std::string language;  // kCode: "c", "cpp", "python", "javascript", "typescript", "go", "rust", "java", … ; else ""
  std::string text;      // valid UTF-8 (invalid bytes of a text file are replaced by U+FFFD)
};

// True when the first bytes of a file say it is not text: a NUL byte, or a large share of control bytes or of
// invalid UTF-8 (a PDF is binary by this test; extract_text() recognizes it by its magic first).
bool looks_binary(std::string_view head);

// The format `path` has by its name (extension, or a known file name such as "Makefile"), or by its content
// when the name says nothing ("%PDF-" magic, a "#!" line naming an interpreter, "<!doctype html" / "<html").
// `language` is set for kCode.
FileFormat detect_format(std::string_view path, std::string_view head, std::string* language = nullptr);

// Extracts the text of a file whose whole content is `bytes`. Throws Error kUnsupported for a binary file
// (message says so: the indexer records it as skipped, not failed) and kCorruptData for a PDF poppler cannot read.
SourceText extract_text(std::string_view path, std::string_view bytes);

}  // namespace hearth::context
