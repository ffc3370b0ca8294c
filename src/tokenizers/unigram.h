// The Universal Sentence Encoder lite tokenizer ("use-unigram"): a SentencePiece unigram vocabulary decoded by
// the custom Viterbi of @energetic-ai/embeddings 0.2.0, reproduced exactly, quirks included, because the
// model was only ever fed its output (see /work/shared/uselite/ARCHITECTURE.md §3):
//  - NFKC, then "▁" + text with every U+0020 replaced by "▁" (no trimming, lowercasing or collapsing);
//  - the first `reserved` ids (0..5) are never matched; id 0 is the unknown token;
//  - best[e] == 0 means "unset", so an exact total of 0 is overwritten; ties go to the later candidate;
//  - a duplicated piece keeps the later id; null (absent) scores count as 0;
//  - runs of consecutive unknowns are collapsed into one id 0.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace hearth {

class UseUnigramTokenizer : public Tokenizer {
 public:
  // pieces[i] is id i's text; scores[i] its log-probability (same length). Error on an empty or
  // inconsistent vocabulary, invalid UTF-8, or reserved >= vocabulary size.
  UseUnigramTokenizer(std::vector<std::string> pieces, std::vector<double> scores, int reserved = 6);

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const override;
  std::string token_to_piece(int32_t id, bool render_special = false) const override;
  std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const override;
  int32_t n_vocab() const override { return int32_t(pieces_.size()); }
  std::string type_name() const override { return "use-unigram"; }
  bool is_end_of_generation(int32_t) const override { return false; }

 private:
  struct Node {
    int32_t id = -1;  // the piece ending here, -1 if none
    double score = 0;
    int32_t length = 0;  // in code points
  };
  static uint64_t edge_key(int32_t node, char32_t cp) { return (uint64_t(uint32_t(node)) << 21) | uint64_t(cp); }
  uint64_t first_slot(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> edge_shift_; }  // Fibonacci hash
  // Child of trie node `node` on code point cp, or -1. The edges are one open-addressing table (linear probing,
  // at most half full): a lookup per code point of every candidate is most of the tokenizer's time, and this
  // is usually one cache line where a node-based hash map chases pointers.
  int32_t child(int32_t node, char32_t cp) const {
    const uint64_t key = edge_key(node, cp);
    for (uint64_t slot = first_slot(key);; slot = (slot + 1) & edge_mask_) {
      const Edge& e = edges_[slot];
      if (e.key == key) return e.child;
      if (e.key == kNoEdge) return -1;
    }
  }
  struct Edge {
    uint64_t key;
    int32_t child;
  };
  static constexpr uint64_t kNoEdge = ~uint64_t(0);  // never a key: node ids are below 2^31

  std::vector<std::string> pieces_;
  std::vector<int32_t> piece_lengths_;  // code points, for the backtrack
  std::vector<Node> nodes_;             // node 0 is the root
  std::vector<Edge> edges_;
  uint64_t edge_mask_ = 0;
  int edge_shift_ = 64;
  int max_piece_length_ = 0;
};

// Builds the tokenizer from GGUF metadata (tokenizer.ggml.tokens, tokenizer.ggml.scores, optional
// use.tokenizer.reserved_tokens). `source` names the file in errors.
std::unique_ptr<Tokenizer> make_use_unigram_tokenizer(const Metadata& metadata, const std::string& source);

}  // namespace hearth
