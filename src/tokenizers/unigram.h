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
#include <unordered_map>
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
  // Child of trie node `node` on code point cp, or -1.
  int32_t child(int32_t node, char32_t cp) const {
    auto it = edges_.find((uint64_t(uint32_t(node)) << 21) | uint64_t(cp));
    return it == edges_.end() ? -1 : it->second;
  }

  std::vector<std::string> pieces_;
  std::vector<int32_t> piece_lengths_;  // code points, for the backtrack
  std::vector<Node> nodes_;             // node 0 is the root
  std::unordered_map<uint64_t, int32_t> edges_;
  int max_piece_length_ = 0;
};

// Builds the tokenizer from GGUF metadata (tokenizer.ggml.tokens, tokenizer.ggml.scores, optional
// use.tokenizer.reserved_tokens). `source` names the file in errors.
std::unique_ptr<Tokenizer> make_use_unigram_tokenizer(const Metadata& metadata, const std::string& source);

}  // namespace hearth
