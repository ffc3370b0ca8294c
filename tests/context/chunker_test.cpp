#include "context/chunker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "context/chunk_check.h"
#include "error_kind_util.h"

namespace hearth::context {
namespace {

using test::check_chunks;
using test::count_chars;
using test::count_words;
using test::count_words_and_breaks;

SourceText src(FileFormat format, std::string text, std::string language = "") {
  SourceText s;
  s.format = format;
  s.text = std::move(text);
  s.language = std::move(language);
  return s;
}

std::vector<Chunk> chunk(const SourceText& s, int max_tokens, int overlap = 0,
                         const TokenCounter& count = count_words) {
  ChunkerOptions o;
  o.max_tokens = max_tokens;
  o.overlap_tokens = overlap;
  auto chunks = chunk_text(s, count, o);
  check_chunks(s, chunks, count, max_tokens, true, std::string(format_name(s.format)) + "/" + s.language);
  return chunks;
}

std::vector<std::string> titles(const std::vector<Chunk>& chunks) {
  std::vector<std::string> out;
  for (const auto& c : chunks) out.push_back(c.title);
  return out;
}

// The chunk holding `needle` (first one), or nullptr.
const Chunk* find(const std::vector<Chunk>& chunks, const std::string& needle) {
  for (const auto& c : chunks)
    if (c.text.find(needle) != std::string::npos) return &c;
  return nullptr;
}

std::string words(int n, const std::string& w = "word") {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? " " : "") + w + std::to_string(i);
  return out;
}

TEST(Chunker, EmptyAndWhitespaceGiveNoChunks) {
  EXPECT_TRUE(chunk(src(FileFormat::kText, ""), 16).empty());
  EXPECT_TRUE(chunk(src(FileFormat::kText, " \n\n\t \f\n"), 16).empty());
  EXPECT_TRUE(chunk(src(FileFormat::kMarkdown, "\n\n   \n"), 16).empty());
  EXPECT_TRUE(chunk(src(FileFormat::kCode, "\n  \n", "python"), 16).empty());
}

TEST(Chunker, SmallTextIsOneTrimmedChunk) {
  const auto s = src(FileFormat::kText, "\n\n  Hello there.\nSecond line.  \n\n");
  const auto chunks = chunk(s, 16);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "Hello there.\nSecond line.");
  EXPECT_EQ(chunks[0].line_begin, 3u);
  EXPECT_EQ(chunks[0].line_end, 4u);
  EXPECT_EQ(chunks[0].title, "");
}

TEST(Chunker, RejectsANonPositiveBound) {
  EXPECT_EQ(hearth::test::thrown_kind([] { chunk_text(src(FileFormat::kText, "a"), count_words, {0, 0}); }),
            "invalid_argument");
}

TEST(Chunker, TextSplitsAtParagraphsThenSentences) {
  // Three paragraphs of 10 words each (two sentences of five): with a bound of 12, one paragraph per chunk.
  std::string text;
  for (int p = 0; p < 3; ++p)
    text += "Alpha beta gamma delta p" + std::to_string(p) + ". Eta theta iota kappa lambda.\n\n";
  const auto chunks = chunk(src(FileFormat::kText, text), 12);
  ASSERT_EQ(chunks.size(), 3u);
  for (int p = 0; p < 3; ++p) {
    EXPECT_EQ(chunks[size_t(p)].line_begin, uint32_t(1 + 2 * p));
    EXPECT_NE(chunks[size_t(p)].text.find("p" + std::to_string(p) + "."), std::string::npos);
  }
  // A bound of 7: a paragraph does not fit, its sentences do.
  const auto small = chunk(src(FileFormat::kText, text), 7);
  ASSERT_EQ(small.size(), 6u);
  EXPECT_EQ(small[0].text, "Alpha beta gamma delta p0.");
  EXPECT_EQ(small[1].text, "Eta theta iota kappa lambda.");
}

TEST(Chunker, OverlapRepeatsWholeSentencesWithinTheBound) {
  std::string text;
  for (int s = 0; s < 40; ++s) text += "Sentence number s" + std::to_string(s) + " ends here. ";
  const auto chunks = chunk(src(FileFormat::kText, text), 20, 6);
  ASSERT_GT(chunks.size(), 3u);
  for (size_t i = 1; i < chunks.size(); ++i) {
    const Chunk& prev = chunks[i - 1];
    const Chunk& cur = chunks[i];
    ASSERT_LT(cur.byte_begin, prev.byte_end) << "chunk " << i << " overlaps the one before";
    const std::string shared = prev.text.substr(cur.byte_begin - prev.byte_begin);
    EXPECT_LE(count_words(shared), 6);
    EXPECT_EQ(shared.rfind("Sentence", 0), 0u) << "the overlap starts at a sentence: " << shared;
  }
}

TEST(Chunker, OverlapIsWholeLinesInCode) {
  std::string body;
  for (int i = 0; i < 60; ++i) body += "    x" + std::to_string(i) + " = f(a, b)\n";
  const auto s = src(FileFormat::kCode, "def big():\n" + body, "python");
  const auto chunks = chunk(s, 24, 8);
  ASSERT_GT(chunks.size(), 5u);
  for (size_t i = 1; i < chunks.size(); ++i) {
    ASSERT_LT(chunks[i].byte_begin, chunks[i - 1].byte_end);
    EXPECT_EQ(chunks[i].text.rfind("x", 0), 0u) << "starts at a line's first word";
    EXPECT_EQ(chunks[i].title, "def big");
    const std::string shared = chunks[i - 1].text.substr(chunks[i].byte_begin - chunks[i - 1].byte_begin);
    EXPECT_LE(count_words(shared), 8);
    EXPECT_GE(count_words(shared), 4) << "two lines of four words fit the overlap";
  }
}

TEST(Chunker, MarkdownSectionsAndTitles) {
  const std::string md =
      "Intro before headings.\n"  // 1
      "\n"
      "# Install\n"               // 3: heading alone, followed by a subsection: goes with it
      "\n"
      "## Debian\n"               // 5
      "\n"
      "Run apt.\n"                // 7
      "\n"
      "## Source\n"               // 9
      "Build it.\n"               // 10
      "\n"
      "# Usage #\n"               // 12
      "\n"
      "Use it.\n";                // 14
  const auto chunks = chunk(src(FileFormat::kMarkdown, md), 100, 10);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(titles(chunks), (std::vector<std::string>{"", "Install > Debian", "Install > Source", "Usage"}));
  EXPECT_EQ(chunks[1].text, "# Install\n\n## Debian\n\nRun apt.");
  EXPECT_EQ(chunks[1].line_begin, 3u);
  EXPECT_EQ(chunks[1].line_end, 7u);
  EXPECT_EQ(chunks[3].text, "# Usage #\n\nUse it.");
}

TEST(Chunker, MarkdownHeadingWithContentKeepsItsChunk) {
  const auto chunks = chunk(src(FileFormat::kMarkdown, "# A\ntext a\n## B\ntext b\n# C\n"), 100);
  EXPECT_EQ(titles(chunks), (std::vector<std::string>{"A", "A > B", "C"}));
}

TEST(Chunker, MarkdownSetextHeadingsAndFrontMatter) {
  const std::string md =
      "---\n"
      "title: not a heading\n"
      "---\n"
      "\n"
      "Top Title\n"
      "=========\n"
      "\n"
      "Body one.\n"
      "\n"
      "Second Part\n"
      "-----------\n"
      "Body two.\n";
  const auto chunks = chunk(src(FileFormat::kMarkdown, md), 100);
  EXPECT_EQ(titles(chunks), (std::vector<std::string>{"", "Top Title", "Top Title > Second Part"}));
  EXPECT_EQ(chunks[0].text, "---\ntitle: not a heading\n---");
  EXPECT_EQ(chunks[2].line_begin, 10u);
}

TEST(Chunker, MarkdownFencesAreNotSplitAndHideHeadings) {
  std::string fence = "```python\n# not a heading\n";
  for (int i = 0; i < 6; ++i) fence += "x = " + std::to_string(i) + "\n\n";
  fence += "```\n";
  const std::string md = "# Title\n\n" + words(14) + "\n\n" + fence + "\nAfter the fence.\n";
  // The fence (about 20 words) fits a bound of 24 but not after the paragraph: it moves whole to the next chunk.
  const auto chunks = chunk(src(FileFormat::kMarkdown, md), 24, 8);
  for (const auto& c : chunks) EXPECT_EQ(c.title, "Title");
  const Chunk* f = find(chunks, "```python");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->text.find("x = 5\n\n```"), std::string::npos) << "the whole fence in one chunk: " << f->text;
  EXPECT_EQ(f->text.rfind("```python", 0), 0u) << "and no overlap before it";
}

TEST(Chunker, MarkdownOversizedFenceSplitsAtLines) {
  std::string fence = "```\n";
  for (int i = 0; i < 50; ++i) fence += "line " + std::to_string(i) + " of code\n";
  fence += "```\n";
  const auto chunks = chunk(src(FileFormat::kMarkdown, "# T\n\n" + fence + "\nafter\n"), 20, 4);
  ASSERT_GT(chunks.size(), 8u);
  for (const auto& c : chunks) {
    // Lines are whole: every chunk starts at a line's start.
    EXPECT_TRUE(c.text.rfind("line", 0) == 0 || c.text.rfind("```", 0) == 0 || c.text.rfind("# T", 0) == 0 ||
                c.text == "after")
        << c.text;
  }
  EXPECT_EQ(chunks.back().text, "after") << "the text after a split fence is not packed with its tail";
}

TEST(Chunker, PythonDefinitionsDecoratorsAndComments) {
  const std::string py =
      "import os\n"                         // 1
      "\n"
      "# Parses args.\n"                    // 3
      "@decorator(1)\n"                     // 4
      "def parse_args(argv):\n"             // 5
      "    s = \"\"\"\n"                    // 6
      "def not_a_def():\n"                  // 7
      "\"\"\"\n"                            // 8
      "    return foo(\n"                   // 9
      "1)\n"                                // 10
      "\n"
      "class Foo(Base):\n"                  // 12
      "    \"\"\"Doc.\"\"\"\n"              // 13
      "\n"
      "    def one(self):\n"                // 15
      "        return 1\n"
      "\n"
      "    # About two.\n"                 // 18
      "    @property\n"                     // 19
      "    def two(self):\n"                // 20
      "        return self.value + other.value + more.values\n"
      "\n"
      "async def main():\n"                 // 23
      "    pass\n";
  const auto s = src(FileFormat::kCode, py, "python");
  // parse_args is 15 words: it fits the bound alone, not with the import.
  const auto chunks = chunk(s, 15);
  const Chunk* parse = find(chunks, "def parse_args");
  ASSERT_NE(parse, nullptr);
  EXPECT_EQ(parse->title, "def parse_args");
  EXPECT_EQ(parse->line_begin, 3u) << "the comment and decorator above belong to the definition";
  EXPECT_EQ(parse->line_end, 10u) << "the string and the bracket do not end it";
  const Chunk* foo = find(chunks, "class Foo");
  ASSERT_NE(foo, nullptr);
  EXPECT_EQ(foo->title, "class Foo");
  EXPECT_EQ(foo->line_end, 16u) << "method two does not fit with it";
  const Chunk* two = find(chunks, "def two");
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(two->title, "def two");
  EXPECT_EQ(two->line_begin, 18u) << "a method's comment and decorator belong to it";
  EXPECT_EQ(two->line_end, 21u);
  const auto main_only = chunk(src(FileFormat::kCode, "async def main():\n    pass\n", "python"), 15);
  ASSERT_EQ(main_only.size(), 1u);
  EXPECT_EQ(main_only[0].title, "async def main");
  // A bound of 100: the whole file is one chunk, titled by its first definition.
  const auto whole = chunk(s, 100);
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].title, "def parse_args");
}

TEST(Chunker, CDefinitionsSurviveBracesInStringsCommentsAndMacros) {
  const std::string c =
      "/* License\n"                           // 1
      " * text { */\n"
      "#include <stdio.h>\n"                   // 3
      "#define OPEN {\n"                       // 4
      "#define TWO(x) \\\n"                    // 5
      "  do { x; } while (0)\n"
      "\n"
      "// Adds.\n"                             // 8
      "static int\n"                           // 9
      "add(int a, int b)\n"
      "{\n"
      "  const char* s = \"}{\";  /* } */\n"
      "  char c = '}';\n"
      "  return a + b;\n"
      "}\n"                                    // 15
      "\n"
      "struct point *make_point(void) {\n"     // 17
      "  return 0;\n"
      "}\n"                                    // 19
      "\n"
      "typedef struct {\n"                     // 21
      "  int x;\n"
      "} Point;\n";                            // 23
  // The preamble is 20 words, add() 24, make_point() and the typedef 7 each.
  const auto chunks = chunk(src(FileFormat::kCode, c, "c"), 30);
  const Chunk* add = find(chunks, "static int");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->title, "static int add");
  EXPECT_EQ(add->line_begin, 8u);
  EXPECT_EQ(add->line_end, 15u);
  const Chunk* mk = find(chunks, "make_point");
  ASSERT_NE(mk, nullptr);
  EXPECT_EQ(mk->title, "struct point *make_point");
  EXPECT_EQ(mk->line_begin, 17u);
  EXPECT_EQ(mk->line_end, 23u) << "the typedef is packed with it";
  EXPECT_EQ(find(chunks, "#include"), find(chunks, "License")) << "the preamble is one chunk";
  EXPECT_EQ(find(chunks, "#include")->line_end, 6u);
}

TEST(Chunker, CppClassMembersAndNamespaces) {
  const std::string cpp =
      "namespace app {\n"                        // 1
      "\n"
      "template <typename T>\n"                  // 3
      "class Box : public Base {\n"
      " public:\n"
      "  // Gets it.\n"                          // 6
      "  T get() const {\n"                      // 7
      "    auto r = R\"x(})x\";\n"
      "    return value_;\n"
      "  }\n"                                    // 10
      "\n"
      "  void set(T v) {\n"                      // 12
      "    value_ = v;\n"
      "  }\n"                                    // 14
      "\n"
      " private:\n"
      "  T value_;\n"
      "};\n"
      "\n"
      "}  // namespace app\n";
  const auto chunks = chunk(src(FileFormat::kCode, cpp, "cpp"), 12);
  const Chunk* get = find(chunks, "T get()");
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->line_begin, 6u) << get->text;
  EXPECT_EQ(get->title, "T get");
  const Chunk* set = find(chunks, "void set");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->line_begin, 12u);
}

TEST(Chunker, NamespaceMembersAreTopLevelAndSplitDefinitionsStandAlone) {
  std::string big = "int big(int a) {\n";
  for (int i = 0; i < 30; ++i) big += "  a += " + std::to_string(i) + ";\n";
  big += "  return a;\n}\n";
  const std::string cpp = "namespace n {\n\nint tiny() { return 1; }\n\n" + big + "\nint after() { return 2; }\n\n}\n";
  const auto chunks = chunk(src(FileFormat::kCode, cpp, "cpp"), 20, 4);
  const Chunk* tiny = find(chunks, "int tiny");
  const Chunk* first = find(chunks, "int big");
  const Chunk* after = find(chunks, "int after");
  ASSERT_TRUE(tiny && first && after);
  EXPECT_NE(tiny, first) << "a definition that must be split is not packed with its neighbours";
  EXPECT_EQ(first->text.rfind("int big", 0), 0u);
  EXPECT_EQ(after->text.rfind("int after", 0), 0u) << after->text;
  for (const auto& c : chunks) {
    if (c.text.find("a += ") != std::string::npos) {
      EXPECT_EQ(c.title, "int big");
    }
  }
}

TEST(Chunker, GoRustJavaScriptJavaTitles) {
  const std::string go =
      "package main\n\nimport (\n\t\"fmt\"\n)\n\n// Start starts.\nfunc (s *Server) Start(ctx Context) error {\n"
      "\tm := `raw {\n`\n\treturn nil\n}\n\nfunc main() {\n\tfmt.Println(1)\n}\n";
  auto chunks = chunk(src(FileFormat::kCode, go, "go"), 10);
  ASSERT_NE(find(chunks, "func main"), nullptr);
  EXPECT_EQ(find(chunks, "func main")->title, "func main");
  EXPECT_EQ(find(chunks, "Start(")->title, "func (s *Server) Start");
  EXPECT_EQ(find(chunks, "Start(")->line_begin, 7u);

  const std::string rust =
      "use std::fmt;\n\n/// A point.\n#[derive(Debug)]\npub struct Point {\n    x: i32,\n}\n\n"
      "impl Point {\n    pub fn new(x: i32) -> Self {\n        let c = '{';\n        Point { x }\n    }\n\n"
      "    fn get<'a>(&'a self) -> &'a i32 {\n        let r = r#\"}\"#;\n        &self.x\n    }\n}\n\n"
      "fn main()\nwhere\n    T: Clone,\n{\n}\n";
  chunks = chunk(src(FileFormat::kCode, rust, "rust"), 14);
  EXPECT_EQ(find(chunks, "pub struct Point")->title, "pub struct Point");
  EXPECT_EQ(find(chunks, "pub struct Point"), find(chunks, "/// A point.")) << "the doc comment goes with it";
  EXPECT_EQ(find(chunks, "fn get")->title, "fn get<'a>");
  EXPECT_EQ(find(chunks, "fn main")->title, "fn main");
  EXPECT_NE(find(chunks, "fn main")->text.find("T: Clone,\n{\n}"), std::string::npos) << "where and { continue it";

  const std::string ts =
      "import { x } from \"y\";\n\n/** Doc. */\nexport function foo(a: number): string {\n"
      "  const t = `tpl ${a + {b: 1}.b} }`;\n  return t;\n}\n\n@Component({\n  selector: 'app',\n})\n"
      "export class App extends Base {\n  render() {\n    return 1;\n  }\n}\n\nconst bar = (x) =>\n  x + 1;\n";
  chunks = chunk(src(FileFormat::kCode, ts, "typescript"), 12);
  EXPECT_EQ(find(chunks, "function foo")->title, "export function foo");
  EXPECT_EQ(find(chunks, "function foo")->line_begin, 3u);
  EXPECT_EQ(find(chunks, "@Component")->title, "export class App extends Base");
  EXPECT_EQ(find(chunks, "const bar")->title, "const bar");
  EXPECT_NE(find(chunks, "const bar")->text.find("x + 1;"), std::string::npos);

  const std::string java =
      "package a;\n\nimport java.util.List;\n\n@Entity\npublic class Foo extends Bar {\n    private int x;\n\n"
      "    @Override\n    public String toString() {\n        return \"}\" + x;\n    }\n\n"
      "    /** Gets x. */\n    public int getX() {\n        char c = '}';\n        return x;\n    }\n}\n";
  chunks = chunk(src(FileFormat::kCode, java, "java"), 12);
  EXPECT_EQ(find(chunks, "toString")->title, "public String toString");
  EXPECT_EQ(find(chunks, "toString")->line_begin, 9u) << "the annotation belongs to the method";
  EXPECT_EQ(find(chunks, "getX")->title, "public int getX");
  EXPECT_EQ(find(chunks, "getX")->line_begin, 14u);
}

TEST(Chunker, SmallDefinitionsArePackedAndALongOneSplitAtBlankLines) {
  std::string py;
  for (int i = 0; i < 6; ++i) py += "def f" + std::to_string(i) + "():\n    return " + std::to_string(i) + "\n\n";
  // Each is 4 words: four fit a bound of 16, and chunks end between definitions.
  auto chunks = chunk(src(FileFormat::kCode, py, "python"), 16);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].title, "def f0");
  EXPECT_EQ(chunks[1].title, "def f4");
  EXPECT_EQ(chunks[1].text.rfind("def f4", 0), 0u);

  std::string big = "def big():\n";
  for (int para = 0; para < 4; ++para) {
    for (int i = 0; i < 5; ++i) big += "    v" + std::to_string(para) + std::to_string(i) + " = 1\n";
    big += "\n";
  }
  // 4 paragraphs of 5 lines of 3 words: with a bound of 40 the cuts fall on blank lines.
  chunks = chunk(src(FileFormat::kCode, "import x\n\n" + big + "def after():\n    pass\n", "python"), 40);
  const Chunk* first = find(chunks, "def big");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->text.substr(first->text.size() - 7), "v14 = 1") << first->text;
  EXPECT_EQ(find(chunks, "def after")->text.rfind("def after", 0), 0u);
}

TEST(Chunker, HugeLinesCjkAndLongWordsStayWithinTheBound) {
  std::string line;
  for (int i = 0; i < 5000; ++i) line += "w" + std::to_string(i) + (i % 50 == 49 ? ". " : " ");
  std::string cjk;
  for (int i = 0; i < 3000; ++i) cjk += "\xE4\xB8\xAD\xE6\x96\x87";  // 中文, no spaces, no stops
  const std::string long_word(20000, 'x');
  for (const auto& text : {line, cjk, long_word, line + "\n" + cjk + "\n" + long_word}) {
    for (auto format : {FileFormat::kText, FileFormat::kMarkdown, FileFormat::kCode}) {
      auto s = src(format, text, format == FileFormat::kCode ? "c" : "");
      chunk(s, 32, 8, count_words);
      chunk(s, 32, 8, count_chars);
      const auto chunks = chunk(s, 7, 3, count_chars);
      // CJK pieces cut at character boundaries: every chunk is valid UTF-8 (a lead byte first).
      for (const auto& c : chunks) EXPECT_NE(static_cast<unsigned char>(c.text[0]) & 0xc0, 0x80);
    }
  }
}

TEST(Chunker, CjkSentencesEndAtFullStops) {
  const std::string text =
      "\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD\xE3\x80\x82"      // 今天天气很好。
      "\xE6\x88\x91\xE4\xBB\xAC\xE5\x8E\xBB\xE5\x85\xAC\xE5\x9B\xAD\xE3\x80\x82"                  // 我们去公园。
      "\xE4\xBD\xA0\xE5\x91\xA2\xEF\xBC\x9F";                                                     // 你呢？
  const auto chunks = chunk(src(FileFormat::kText, text), 7, 0, count_chars);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1].text, "\xE6\x88\x91\xE4\xBB\xAC\xE5\x8E\xBB\xE5\x85\xAC\xE5\x9B\xAD\xE3\x80\x82");
}

TEST(Chunker, ACharacterOverTheBoundIsLeftOut) {
  // A counter of bytes with a bound of 2: 'a' and 'é' fit, '中' (3 bytes) fits nowhere.
  const TokenCounter bytes = [](std::string_view s) { return int(s.size()); };
  const auto s = src(FileFormat::kText, "a\xC3\xA9\xE4\xB8\xAD" "b");
  const auto chunks = chunk_text(s, bytes, {2, 0});
  check_chunks(s, chunks, bytes, 2, false);
  std::string all;
  for (const auto& c : chunks) all += c.text;
  EXPECT_EQ(all, "a\xC3\xA9" "b");
}

TEST(Chunker, ExactCountIsCheckedWhenPartsDoNotAddUp) {
  // Words plus line breaks: units are counted trimmed, so chunks count more than the sum of their units.
  std::string text;
  for (int i = 0; i < 200; ++i) text += "a" + std::to_string(i) + " b\n";
  for (auto format : {FileFormat::kText, FileFormat::kMarkdown, FileFormat::kCode})
    chunk(src(format, text, "go"), 9, 3, count_words_and_breaks);
}

TEST(Chunker, PageBreaksSeparateParagraphs) {
  const std::string text = "Page one text.\n\fPage two text.\n\fPage three.\n";
  const auto chunks = chunk(src(FileFormat::kText, text), 4);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1].text, "Page two text.");
  EXPECT_EQ(chunks[1].line_begin, 2u);
}

TEST(Chunker, IsDeterministic) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "Line " + std::to_string(i) + " has some words. And more.\n";
  const auto s = src(FileFormat::kText, text);
  const auto a = chunk_text(s, count_words, {20, 6});
  const auto b = chunk_text(s, count_words, {20, 6});
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].byte_begin, b[i].byte_begin);
    EXPECT_EQ(a[i].byte_end, b[i].byte_end);
    EXPECT_EQ(a[i].title, b[i].title);
  }
}

// Random documents built from pieces that stress the structure detectors: headings, fences, braces, strings,
// comments, decorators, CJK, long words and lines, blank lines, form feeds, CRLF, stray quotes.
std::string random_document(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {
      "# Heading\n", "## Sub heading ##\n", "Setext\n======\n", "```\n", "~~~python\n", "---\n",
      "def f(x):\n", "    return x\n", "class A:\n", "@decorator\n", "async def g():\n", "\"\"\"\n",
      "int main(void) {\n", "}\n", "{\n", "  return 0;\n", "/* comment {\n", " */\n", "// line comment }\n",
      "#include <x.h>\n", "#define X {\\\n", "s = \"}{\";\n", "c = '{';\n", "`template ${x} {`\n",
      "r#\"raw }\"#\n", "func (s *S) M() {\n", "fn main() {\n", "impl X {\n", "public class C {\n",
      "@Override\n", "export function h() {\n", "const k = () =>\n", "    .chain()\n", "where\n",
      "Plain sentence one. Plain sentence two! Three?\n", "\n", "\n\n", "\f", "\r\n", "'", "\"", "`", "\\",
      "\xE4\xB8\xAD\xE6\x96\x87\xE3\x80\x82\xE6\x96\x87\xE5\xAD\x97", "\xE2\x80\x9CQuoted.\xE2\x80\x9D Next.\n",
      "- list item\n", "1. numbered\n", "> quote\n", "| a | b |\n", "    indented code\n", "&amp; <b>x</b>\n",
  };
  std::string doc;
  const int n = std::uniform_int_distribution<int>(0, 120)(rng);
  for (int i = 0; i < n; ++i) {
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    if (kind < 7) {
      doc += kPieces[std::uniform_int_distribution<size_t>(0, kPieces.size() - 1)(rng)];
    } else if (kind == 7) {
      const int w = std::uniform_int_distribution<int>(1, 400)(rng);
      for (int k = 0; k < w; ++k) doc += "w" + std::to_string(k % 7) + (k % 13 == 12 ? ". " : " ");
    } else if (kind == 8) {
      doc += std::string(std::uniform_int_distribution<size_t>(1, 3000)(rng), 'z');
    } else {
      for (int k = std::uniform_int_distribution<int>(1, 500)(rng); k > 0; --k) doc += "\xE5\xAD\x97";
    }
  }
  return doc;
}

TEST(Chunker, RandomDocumentsKeepEveryInvariant) {
  std::mt19937 rng(20261207);
  const std::vector<std::pair<FileFormat, std::string>> kinds = {
      {FileFormat::kText, ""},       {FileFormat::kMarkdown, ""},       {FileFormat::kHtml, ""},
      {FileFormat::kPdf, ""},        {FileFormat::kCode, "python"},     {FileFormat::kCode, "c"},
      {FileFormat::kCode, "cpp"},    {FileFormat::kCode, "rust"},       {FileFormat::kCode, "go"},
      {FileFormat::kCode, "javascript"}, {FileFormat::kCode, "typescript"}, {FileFormat::kCode, "java"},
      {FileFormat::kCode, "csharp"}, {FileFormat::kCode, "kotlin"},     {FileFormat::kCode, "shell"},
      {FileFormat::kCode, "css"},
  };
  const std::vector<std::pair<const char*, TokenCounter>> counters = {
      {"words", count_words}, {"words+breaks", count_words_and_breaks}, {"chars", count_chars}};
  // HEARTH_CHUNKER_ITERATIONS runs more (a longer soak than the suite's default).
  const int iterations = std::getenv("HEARTH_CHUNKER_ITERATIONS") ? std::atoi(std::getenv("HEARTH_CHUNKER_ITERATIONS")) : 300;
  for (int iter = 0; iter < iterations; ++iter) {
    const std::string doc = random_document(rng);
    const auto& [format, language] = kinds[size_t(iter) % kinds.size()];
    const auto& [counter_name, counter] = counters[size_t(iter / 7) % counters.size()];
    const int max_tokens = std::uniform_int_distribution<int>(1, 80)(rng);
    const int overlap = std::uniform_int_distribution<int>(0, 40)(rng);
    const auto s = src(format, doc, language);
    const auto chunks = chunk_text(s, counter, {max_tokens, overlap});
    check_chunks(s, chunks, counter, max_tokens, true,
                 "iter " + std::to_string(iter) + " " + std::string(format_name(format)) + "/" + language + " " +
                     counter_name + " max " + std::to_string(max_tokens));
    if (HasFatalFailure() || HasFailure()) {
      ADD_FAILURE() << "document: [" << doc << "]";
      break;
    }
  }
}

TEST(Chunker, CountsLinearlyOnLargeInputs) {
  // About 2 MB each: code with many functions, prose with long lines, and one enormous line.
  std::string code;
  for (int f = 0; f < 8000; ++f) {
    code += "// Function " + std::to_string(f) + ".\nint f" + std::to_string(f) + "(int a) {\n";
    for (int l = 0; l < 1 + f % 40; ++l) code += "  a = a * " + std::to_string(l) + " + 1;\n";
    code += "  return a;\n}\n\n";
  }
  std::string prose;
  while (prose.size() < 2'000'000) prose += "Some words in a sentence here. " + std::string(prose.size() % 7 ? "" : "\n\n");
  std::string one_line;
  while (one_line.size() < 2'000'000) one_line += "tok ";
  struct Case {
    SourceText s;
    double max_bytes_ratio;
  };
  const Case cases[] = {{src(FileFormat::kCode, code, "c"), 4.0},
                        {src(FileFormat::kText, prose, ""), 4.0},
                        {src(FileFormat::kMarkdown, prose, ""), 4.0},
                        {src(FileFormat::kText, one_line, ""), 24.0}};
  for (const auto& c : cases) {
    size_t calls = 0, bytes = 0;
    const TokenCounter counting = [&](std::string_view t) {
      ++calls;
      bytes += t.size();
      return count_words(t);
    };
    const auto start = std::chrono::steady_clock::now();
    const auto chunks = chunk_text(c.s, counting, {128, 16});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    check_chunks(c.s, chunks, count_words, 128, true, std::string(format_name(c.s.format)));
    EXPECT_LE(double(bytes), c.max_bytes_ratio * double(c.s.text.size()))
        << format_name(c.s.format) << ": " << calls << " counts over " << bytes << " bytes for "
        << c.s.text.size() << " bytes of text";
    EXPECT_LT(secs, 10.0);
  }
}

}  // namespace
}  // namespace hearth::context
