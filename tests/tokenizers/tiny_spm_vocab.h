// A small SentencePiece ("llama") vocabulary in GGUF metadata form, for tokenizer tests and the fuzz target:
// 0 <unk>, 1 <s>, 2 </s>, 3..258 the byte tokens <0x00>..<0xFF>, then the given pieces from id 259 on.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "formats/metadata.h"

namespace hearth::test {

struct SpmPiece {
  std::string text;
  float score = 0.0f;
  int32_t type = 1;  // llama.cpp token type: 1 normal, 3 control, 4 user-defined, 6 byte
};

constexpr int32_t kFirstSpmPiece = 259;

inline Metadata tiny_spm_vocab(const std::vector<SpmPiece>& pieces) {
  Metadata md;
  md.set_string("tokenizer.ggml.model", "llama");
  std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    toks.push_back(buf);
    scores.push_back(0);
    types.push_back(6);
  }
  for (const SpmPiece& p : pieces) {
    toks.push_back(p.text);
    scores.push_back(p.score);
    types.push_back(p.type);
  }
  md.set_strings("tokenizer.ggml.tokens", toks);
  md.set_f32s("tokenizer.ggml.scores", scores);
  md.set_i32s("tokenizer.ggml.token_type", types);
  return md;
}

}  // namespace hearth::test
