// Synthetic, deterministic text for the context-engine benchmarks (`hearth bench index`, `hearth bench ann`):
// English-like sentences, Markdown pages, source files in seven languages and plain notes built from a fixed
// vocabulary, so an index of any size can be made without shipping data. Words are drawn with a Zipf-Mandelbrot
// skew over a few hundred real words followed by a long tail of made-up ones (a few words are common, most are
// rare), which gives BM25 realistic term statistics and the embedding model sentences of natural length; files
// get a log-normal size spread (most a few KB, a few tens of KB).
//
// Deterministic across platforms for a given seed: the generator is splitmix64 with its own range mapping (the
// standard distributions are implementation-defined).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::cli {

class TextGenerator {
 public:
  explicit TextGenerator(uint64_t seed) : state_(seed) {}

  uint64_t next();
  size_t below(size_t n);  // uniform in [0, n)
  double uniform();        // [0, 1)

  std::string word();                   // any vocabulary word, skewed to the common ones
  std::string sentence();               // 6-20 words, capitalized, with a full stop
  std::string paragraph(int sentences);
  std::string identifier(bool camel);   // "parse_header" / "parseHeader"
  std::string type_name();              // "RequestQueue"
  // A short search query: 2-6 content words, as someone would type them.
  std::string query();
  // A chunk-sized passage: 1-3 sentences (bench ann's vectors).
  std::string passage();

 private:
  const std::string& pick(const std::vector<std::string>& words);
  uint64_t state_;
};

struct GeneratedFile {
  std::string relative_path;  // "p003/docs/harbor_signal_00617.md"
  std::string content;
  std::string kind;           // "markdown", "code", "text"
};

// File `index` of a corpus generated with `seed`: the same (seed, index) always gives the same file, so a corpus
// can be written one file at a time and any file regenerated alone.
GeneratedFile generate_file(uint64_t seed, size_t index);

struct CorpusSummary {
  size_t files = 0, markdown = 0, code = 0, text = 0;
  uint64_t bytes = 0;
};

// Writes files [first, first + count) of the corpus under `dir` (created as needed).
CorpusSummary write_corpus(const std::string& dir, uint64_t seed, size_t first, size_t count);

}  // namespace hearth::cli
