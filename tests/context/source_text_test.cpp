#include "context/source_text.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "error_kind_util.h"

namespace hearth::context {
namespace {

using hearth::test::thrown_kind;

std::string lang_of(std::string_view path, std::string_view head = "") {
  std::string language;
  const FileFormat f = detect_format(path, head, &language);
  return std::string(format_name(f)) + (language.empty() ? "" : ":" + language);
}

TEST(SourceText, FormatByExtension) {
  EXPECT_EQ(lang_of("/a/README.md"), "markdown");
  EXPECT_EQ(lang_of("notes.MARKDOWN"), "markdown");
  EXPECT_EQ(lang_of("x.c"), "code:c");
  EXPECT_EQ(lang_of("x.h"), "code:c");
  for (const char* p : {"x.cc", "x.cpp", "x.cxx", "x.hpp", "x.hh"}) EXPECT_EQ(lang_of(p), "code:cpp") << p;
  EXPECT_EQ(lang_of("a/b.py"), "code:python");
  for (const char* p : {"x.js", "x.mjs", "x.cjs", "x.jsx"}) EXPECT_EQ(lang_of(p), "code:javascript") << p;
  EXPECT_EQ(lang_of("x.ts"), "code:typescript");
  EXPECT_EQ(lang_of("x.tsx"), "code:typescript");
  EXPECT_EQ(lang_of("x.go"), "code:go");
  EXPECT_EQ(lang_of("x.rs"), "code:rust");
  EXPECT_EQ(lang_of("X.java"), "code:java");
  EXPECT_EQ(lang_of("x.sh"), "code:shell");
  EXPECT_EQ(lang_of("x.rb"), "code:ruby");
  EXPECT_EQ(lang_of("x.cs"), "code:csharp");
  EXPECT_EQ(lang_of("x.kt"), "code:kotlin");
  EXPECT_EQ(lang_of("x.swift"), "code:swift");
  EXPECT_EQ(lang_of("x.php"), "code:php");
  EXPECT_EQ(lang_of("x.lua"), "code:lua");
  EXPECT_EQ(lang_of("x.sql"), "code:sql");
  EXPECT_EQ(lang_of("x.toml"), "code:toml");
  EXPECT_EQ(lang_of("x.yaml"), "code:yaml");
  EXPECT_EQ(lang_of("x.yml"), "code:yaml");
  EXPECT_EQ(lang_of("x.json"), "code:json");
  EXPECT_EQ(lang_of("index.HTML"), "html");
  EXPECT_EQ(lang_of("index.htm"), "html");
  EXPECT_EQ(lang_of("paper.pdf"), "pdf");
  EXPECT_EQ(lang_of("notes.txt"), "text");
  EXPECT_EQ(lang_of("unknown.zzz"), "text");
  EXPECT_EQ(lang_of(".bashrc"), "text") << "a leading dot is a hidden name, not an extension";
}

TEST(SourceText, FormatByKnownName) {
  EXPECT_EQ(lang_of("/src/Makefile"), "code:make");
  EXPECT_EQ(lang_of("Dockerfile"), "code:dockerfile");
  EXPECT_EQ(lang_of("Dockerfile.dev"), "code:dockerfile");
  EXPECT_EQ(lang_of("a/CMakeLists.txt"), "code:cmake") << "the name wins over .txt";
}

TEST(SourceText, FormatByContentWhenTheNameSaysNothing) {
  EXPECT_EQ(lang_of("blob", "%PDF-1.7\n..."), "pdf");
  EXPECT_EQ(lang_of("run", "#!/usr/bin/env python3 -u\nprint(1)\n"), "code:python");
  EXPECT_EQ(lang_of("run", "#!/usr/bin/env -S node --harmony\n"), "code:javascript");
  EXPECT_EQ(lang_of("run", "#!/bin/bash\nset -e\n"), "code:shell");
  EXPECT_EQ(lang_of("run", "#!/usr/bin/perl -w\n"), "code:perl");
  EXPECT_EQ(lang_of("run", "#!/opt/unknown-interp\n"), "text");
  EXPECT_EQ(lang_of("page", "\xEF\xBB\xBF  \n<!DOCTYPE html>\n<html>"), "html");
  EXPECT_EQ(lang_of("page", "<html lang=en>"), "html");
  EXPECT_EQ(lang_of("LICENSE", "Permission is hereby granted"), "text");
  // The name wins over the content.
  EXPECT_EQ(lang_of("a.md", "%PDF-1.4"), "markdown");
  EXPECT_EQ(lang_of("x.py", "#!/bin/sh\n"), "code:python");
}

TEST(SourceText, LooksBinary) {
  EXPECT_FALSE(looks_binary(""));
  EXPECT_FALSE(looks_binary("plain text\nwith lines\tand tabs\r\n"));
  EXPECT_FALSE(looks_binary("UTF-8: \xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(looks_binary("\x1b[31mred\x1b[0m log line\n")) << "ANSI colours in logs";
  EXPECT_TRUE(looks_binary(std::string("text with a NUL\0 byte", 21)));
  // Latin-1 French: a few invalid bytes among many ASCII ones is text (decoded with U+FFFD).
  EXPECT_FALSE(looks_binary("Le caf\xE9 est pr\xEAt pour les \xE9l\xE8ves de l'\xE9" "cole du quartier.\n"));
  // A head cut in the middle of a UTF-8 sequence is not held against it.
  EXPECT_FALSE(looks_binary("abc \xE4\xB8"));
  std::mt19937 rng(7);
  std::string random_bytes(4096, '\0');
  for (char& c : random_bytes) c = char(std::uniform_int_distribution<int>(1, 255)(rng));
  EXPECT_TRUE(looks_binary(random_bytes));
  // More than 10% control bytes.
  std::string controls(100, 'a');
  for (int i = 0; i < 11; ++i) controls[size_t(i * 9)] = '\x01';
  EXPECT_TRUE(looks_binary(controls));
  for (int i = 0; i < 11; ++i) controls[size_t(i * 9)] = 'a';
  for (int i = 0; i < 9; ++i) controls[size_t(i * 9)] = '\x01';
  EXPECT_FALSE(looks_binary(controls));
}

TEST(SourceText, TextIsTheFileWithInvalidBytesReplaced) {
  auto t = extract_text("a.txt", "line one\r\nline two\n");
  EXPECT_EQ(t.format, FileFormat::kText);
  EXPECT_EQ(t.text, "line one\r\nline two\n");
  EXPECT_EQ(t.language, "");
  t = extract_text("a.txt", "caf\xE9 ok \xC3\xA9");
  EXPECT_EQ(t.text, "caf\xEF\xBF\xBD ok \xC3\xA9");
  EXPECT_TRUE(utf8_valid(t.text));
  t = extract_text("a.md", "\xEF\xBB\xBF# Title\n");
  EXPECT_EQ(t.text, "# Title\n") << "the byte order mark is dropped";
  t = extract_text("main.go", "package main\n");
  EXPECT_EQ(t.format, FileFormat::kCode);
  EXPECT_EQ(t.language, "go");
  EXPECT_EQ(extract_text("empty.txt", "").text, "");
}

TEST(SourceText, BinaryFilesAreUnsupported) {
  EXPECT_EQ(thrown_kind([] { extract_text("a.bin", std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10)); }),
            "unsupported");
  EXPECT_EQ(thrown_kind([] { extract_text("a.txt", std::string("x\0y", 3)); }), "unsupported");
  try {
    extract_text("/x/a.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/x/a.png"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("binary"), std::string::npos);
  }
}

size_t lines_in(const std::string& s) {
  size_t n = 1;
  for (char c : s) n += c == '\n';
  return n;
}

std::string line_of(const std::string& s, size_t line) {
  size_t pos = 0;
  for (size_t l = 1; l < line; ++l) pos = s.find('\n', pos) + 1;
  return s.substr(pos, s.find('\n', pos) - pos);
}

TEST(SourceText, HtmlKeepsLinesAndDropsMarkup) {
  const std::string html =
      "<!DOCTYPE html>\n"                                        // 1
      "<html><head><title>The Title</title>\n"                   // 2
      "<style>\n"                                                // 3
      "body { color: red; }\n"                                   // 4
      "</style>\n"                                               // 5
      "<script type=\"text/javascript\">\n"                      // 6
      "if (a < b && c > d) { alert('<p>not text</p>'); }\n"      // 7
      "</script></head>\n"                                       // 8
      "<body>\n"                                                 // 9
      "<!-- a comment\n"                                         // 10
      "over two lines -->\n"                                     // 11
      "<h1>Heading</h1><p>First&nbsp;para &amp; more</p>\n"      // 12
      "<p>Caf&eacute; &#233; &#x4E2D; &lt;tag&gt; &bogus; &#0; A&#10;B</p>\n"  // 13
      "<div>one</div><div>two</div>word<b>bold</b>word\n"        // 14
      "<a href=\"x>y\"\n"                                        // 15
      "   title='t'>link</a> 1 < 2\n"                            // 16
      "<template><p>hidden</p></template>\n"                     // 17
      "<ul><li>a</li><li>b</li></ul>last\n"                      // 18
      "</body></html>\n";                                        // 19
  const auto t = extract_text("page.html", html);
  EXPECT_EQ(t.format, FileFormat::kHtml);
  EXPECT_EQ(lines_in(t.text), lines_in(html)) << t.text;
  EXPECT_EQ(line_of(t.text, 2), "The Title");
  for (size_t l : {3, 4, 5, 6, 7, 8, 10, 11, 17}) EXPECT_EQ(line_of(t.text, l), "") << "line " << l;
  EXPECT_EQ(line_of(t.text, 12), "Heading First para & more");
  EXPECT_EQ(line_of(t.text, 13), "Caf\xC3\xA9 \xC3\xA9 \xE4\xB8\xAD <tag> &bogus; \xEF\xBF\xBD A B");
  EXPECT_EQ(line_of(t.text, 14), "one two wordboldword") << "block tags separate words, inline ones do not";
  EXPECT_EQ(line_of(t.text, 15), "");
  EXPECT_EQ(line_of(t.text, 16), "link 1 < 2");
  EXPECT_EQ(line_of(t.text, 18), "a b last");
  EXPECT_TRUE(utf8_valid(t.text));
}

TEST(SourceText, HtmlUnclosedConstructsDoNotLoseLines) {
  for (const std::string html : {"<p>a\n<script>\nx\n", "a\n<!-- open\ncomment\n", "a <b\nc\n", "<p title=\"x\ny\">"}) {
    const auto t = extract_text("x.html", html);
    EXPECT_EQ(lines_in(t.text), lines_in(html)) << html;
  }
}

// A small PDF with the standard Helvetica font and one text line per string; `encrypt` adds an /Encrypt
// dictionary whose empty-password check fails (as for a document with a user password).
std::string make_pdf(const std::vector<std::vector<std::string>>& pages, bool encrypt = false) {
  std::vector<std::string> objs;
  std::string kids;
  for (size_t p = 0; p < pages.size(); ++p) kids += std::to_string(4 + 2 * p) + " 0 R ";
  objs.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objs.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) + " >>");
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  for (size_t p = 0; p < pages.size(); ++p) {
    objs.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                   "/Contents " + std::to_string(5 + 2 * p) + " 0 R >>");
    std::string content = "BT /F1 12 Tf 72 720 Td";
    for (size_t l = 0; l < pages[p].size(); ++l)
      content += (l ? " 0 -20 Td" : "") + std::string(" (") + pages[p][l] + ") Tj";
    content += " ET";
    objs.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "\nendstream");
  }
  if (encrypt)
    objs.push_back("<< /Filter /Standard /V 1 /R 2 /O <" + std::string(64, 'a') + "> /U <" + std::string(64, 'b') +
                   "> /P -4 >>");
  std::string out = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  const size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t o : offsets) {
    char entry[32];
    std::snprintf(entry, sizeof entry, "%010zu 00000 n \n", o);
    out += entry;
  }
  out += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R";
  if (encrypt)
    out += " /Encrypt " + std::to_string(objs.size()) +
           " 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]";
  out += " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return out;
}

TEST(SourceText, PdfPagesAreJoinedWithFormFeeds) {
  const auto t = extract_text("doc.pdf", make_pdf({{"Hello page one", "Second line here"}, {"Page two text"}, {}}));
  EXPECT_EQ(t.format, FileFormat::kPdf);
  EXPECT_EQ(t.text, "Hello page one\nSecond line here\n\fPage two text\n\f");
  // Found by its magic when the name says nothing.
  EXPECT_EQ(extract_text("download", make_pdf({{"Magic"}})).text, "Magic\n");
}

TEST(SourceText, PdfErrors) {
  EXPECT_EQ(thrown_kind([] { extract_text("bad.pdf", "%PDF-1.4\nthis is not a pdf\n"); }), "corrupt_data");
  EXPECT_EQ(thrown_kind([] { extract_text("bad.pdf", ""); }), "corrupt_data");
  std::string cut = make_pdf({{"Some text"}});
  cut.resize(cut.size() / 3);
  const std::string kind = thrown_kind([&] { extract_text("cut.pdf", cut); });
  EXPECT_TRUE(kind == "no error" || kind == "corrupt_data") << kind;  // repaired or refused, never a crash
  try {
    extract_text("/d/secret.pdf", make_pdf({{"Secret"}}, true));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("/d/secret.pdf"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("encrypted"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hearth::context
