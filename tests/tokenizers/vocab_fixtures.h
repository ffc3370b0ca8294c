// Readers for llama.cpp's tokenizer fixtures in ../shared/golden/tokenizer (format: golden/README.md).
#pragma once

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

namespace hearth::test {

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string tokenizer_golden(const std::string& name) { return shared_dir() + "/golden/tokenizer/" + name; }

// `.inp` strings separated by "\n__ggml_vocab_test__\n", `.out` one line of space-separated ids each.
// base: e.g. ".../ggml-vocab-bert-bge.gguf" or ".../ggml-vocab-bert-bge.gguf.alt".
inline std::vector<std::pair<std::string, std::vector<int32_t>>> read_vocab_fixture(const std::string& base) {
  const std::string inp = read_text_file(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0;;) {
    size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      // The file ends with the separator minus its final newline (or with one more text).
      std::string last = inp.substr(pos);
      const std::string tail = "\n__ggml_vocab_test__";
      if (last.size() >= tail.size() && last.compare(last.size() - tail.size(), tail.size(), tail) == 0)
        last.resize(last.size() - tail.size());
      else if (last.empty())
        break;
      texts.push_back(last);
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::istringstream out(read_text_file(base + ".out"));
  std::vector<std::pair<std::string, std::vector<int32_t>>> cases;
  std::string line;
  for (const std::string& t : texts) {
    if (!std::getline(out, line)) break;
    std::istringstream ids(line);
    std::vector<int32_t> v;
    for (int32_t id; ids >> id;) v.push_back(id);
    cases.emplace_back(t, std::move(v));
  }
  EXPECT_EQ(cases.size(), texts.size()) << base << ": .inp and .out disagree on the number of cases";
  return cases;
}

inline nlohmann::json read_json_file(const std::string& path) { return nlohmann::json::parse(read_text_file(path)); }

}  // namespace hearth::test
