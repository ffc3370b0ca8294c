// The llama.cpp embedding goldens of the bert-dev models (../shared/golden/dev/*.embeddings.json) and the
// comparisons the BERT, embedder and CLI tests make against them.
#pragma once

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  std::ifstream in(dir + "/dev/bert-dev." + quant + ".embeddings.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EmbeddingGolden g;
  g.model_path = dir + "/models/bert-dev." + quant + ".gguf";
  g.sentences = j.at("sentences").get<std::vector<std::string>>();
  g.token_ids = j.at("token_ids").get<std::vector<std::vector<int32_t>>>();
  g.embeddings = j.at("embeddings").get<std::vector<std::vector<float>>>();
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
