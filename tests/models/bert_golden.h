// The llama.cpp embedding goldens of the bert-dev models (../shared/golden/dev/*.embeddings.json) and the
// comparisons the BERT, embedder and CLI tests make against them.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/reference_file.h"
#include "test_util.h"

namespace hearth::test {

struct EmbeddingGolden {
  std::string model_path;
  std::vector<std::string> sentences;
  std::vector<std::vector<int32_t>> token_ids;
  std::vector<std::vector<float>> embeddings;
};

// `quant` is "f16" or "q8_0". Call after HEARTH_REQUIRE_SHARED().
inline EmbeddingGolden load_bert_golden(const std::string& quant) {
  const std::string dir = shared_dir() + "/golden";
  const Reference ref = read_reference(dir + "/dev/bert-dev." + quant + ".embeddings.json");
  EmbeddingGolden g;
  g.model_path = dir + "/models/bert-dev." + quant + ".gguf";
  for (const EmbeddingReference& s : ref.sentences) {
    g.sentences.push_back(s.sentence);
    g.token_ids.push_back(s.token_ids);
    g.embeddings.push_back(s.embedding);
  }
  return g;
}

inline std::string shared_model(const std::string& name) { return shared_dir() + "/golden/models/" + name; }

inline double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

}  // namespace hearth::test
