// The labelled retrieval set behind `hearth bench retrieval` (bench/context/): every label must point at a real
// passage, or the benchmark's recall figures measure the labels rather than the engine. No model needed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "core/utf8.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

fs::path set_dir() { return fs::path(test::source_dir()) / "bench" / "context"; }

std::vector<std::string> file_lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(path.string()));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.push_back(lower(w));
  return out;
}

TEST(RetrievalSet, CorpusIsSmallVariedAndText) {
  std::map<std::string, int> by_extension;
  uintmax_t total_bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(set_dir() / "corpus")) {
    if (!entry.is_regular_file()) continue;
    const std::string content = read_file(entry.path().string());
    EXPECT_TRUE(utf8_valid(content)) << entry.path();
    EXPECT_FALSE(content.empty()) << entry.path();
    total_bytes += content.size();
    ++by_extension[entry.path().extension().string()];
  }
  int files = 0;
  for (const auto& [ext, n] : by_extension) files += n;
  EXPECT_GE(files, 40);
  EXPECT_LE(files, 80);
  EXPECT_LE(total_bytes, 400u * 1024u) << "a few hundred KB at most";
  for (const char* ext : {".md", ".txt", ".html", ".cpp", ".py", ".go", ".rs", ".js", ".ts", ".java"})
    EXPECT_GT(by_extension[ext], 0) << "no " << ext << " file in the corpus";
}

TEST(RetrievalSet, EveryLabelPointsInsideAFileOfTheCorpus) {
  const nlohmann::json queries = nlohmann::json::parse(read_file((set_dir() / "queries.json").string()));
  ASSERT_TRUE(queries.is_array());
  ASSERT_GE(queries.size(), 60u);

  const fs::path corpus = fs::canonical(set_dir() / "corpus");
  std::map<std::string, int> by_kind;
  std::set<std::string> seen_queries;
  for (const auto& q : queries) {
    const std::string query = q.at("query").get<std::string>();
    SCOPED_TRACE(query);
    EXPECT_FALSE(query.empty());
    EXPECT_TRUE(seen_queries.insert(query).second) << "duplicate query";
    const std::string kind = q.at("kind").get<std::string>();
    EXPECT_TRUE(kind == "keyword" || kind == "paraphrase" || kind == "code") << kind;
    ++by_kind[kind];

    const auto& relevant = q.at("relevant");
    ASSERT_TRUE(relevant.is_array());
    ASSERT_FALSE(relevant.empty());
    std::string labelled_text;
    for (const auto& r : relevant) {
      const std::string rel = r.at("path").get<std::string>();
      ASSERT_FALSE(fs::path(rel).is_absolute()) << rel;
      const fs::path file = corpus / rel;
      ASSERT_TRUE(fs::is_regular_file(file)) << rel;
      const std::string canonical = fs::canonical(file).string();
      EXPECT_EQ(canonical.rfind(corpus.string() + "/", 0), 0u) << rel << " leaves the corpus";

      const auto& lines = r.at("lines");
      ASSERT_TRUE(lines.is_array());
      ASSERT_EQ(lines.size(), 2u);
      const int first = lines[0].get<int>(), last = lines[1].get<int>();
      const std::vector<std::string> content = file_lines(file);
      EXPECT_GE(first, 1) << rel;
      EXPECT_LE(first, last) << rel;
      ASSERT_LE(last, int(content.size())) << rel << " has " << content.size() << " lines";
      // A passage, not a file: a label spanning most of a long file would accept almost any hit in it.
      EXPECT_LE(last - first + 1, 45) << rel;
      for (int i = first; i <= last; ++i) labelled_text += lower(content[size_t(i - 1)]) + "\n";
    }
    EXPECT_NE(labelled_text.find_first_not_of(" \t\n"), std::string::npos) << "labels only blank lines";
    // A keyword query names something the passage literally contains (an identifier, a code, a phrase).
    if (kind == "keyword") {
      bool any_word_found = false;
      for (const std::string& w : words(query)) any_word_found |= labelled_text.find(w) != std::string::npos;
      EXPECT_TRUE(any_word_found) << "no word of the keyword query is in its labelled passage";
    }
  }
  for (const char* kind : {"keyword", "paraphrase", "code"}) EXPECT_GE(by_kind[kind], 18) << kind;
}

}  // namespace
}  // namespace hearth
