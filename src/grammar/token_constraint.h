// Grammar-constrained decoding over a tokenizer's vocabulary: which token ids may come next, and advancing
// the grammar by the one sampled.
//
// A token is allowed when all of its text (token_to_piece) can follow what was generated so far. Checking the
// 32000 tokens of a vocabulary one by one would re-walk every shared prefix; instead the vocabulary's pieces
// are put in a trie (VocabularyTrie, built once per tokenizer) and the trie is walked depth-first with the
// grammar state, so a prefix is matched once and a subtree is skipped as soon as its prefix is refused.
//
// Tokens whose piece is empty or not complete UTF-8 by itself (control tokens, lone byte-fallback pieces of a
// multi-byte character) are never allowed: the grammar works on characters, and such a token could leave the
// text in a state no later token completes. End-of-generation tokens are allowed exactly when the text is a
// complete sentence.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "grammar/matcher.h"
#include "tokenizers/tokenizer.h"

namespace hearth::grammar {

class VocabularyTrie {
 public:
  explicit VocabularyTrie(const Tokenizer& tokenizer);

  struct Node {
    uint32_t first_child = 0, child_count = 0;  // children are nodes [first_child, first_child + child_count)
    uint32_t first_token = 0, token_count = 0;  // tokens_[first_token ..] end here
    char32_t c = 0;                             // the code point leading here from the parent
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  std::span<const int32_t> tokens_at(const Node& n) const { return {tokens_.data() + n.first_token, n.token_count}; }
  const std::vector<int32_t>& end_of_generation() const { return eog_; }
  const std::vector<char32_t>& text(int32_t id) const { return text_[size_t(id)]; }  // empty: never allowed
  int32_t n_vocab() const { return int32_t(text_.size()); }

 private:
  std::vector<Node> nodes_;  // nodes_[0] is the root; each node's children are contiguous, by code point
  std::vector<int32_t> tokens_;
  std::vector<int32_t> eog_;
  std::vector<std::vector<char32_t>> text_;
};

class TokenConstraint {
 public:
  TokenConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabularyTrie> trie);

  // Sets the logits of tokens that may not come next to -inf; returns how many remain. `allow_eog`: whether
  // end-of-generation tokens may end the text when the grammar is complete (false when they would not end it).
  size_t mask(std::span<float> logits, bool allow_eog);
  // The allowed tokens as a 0/1 vector over the vocabulary (what mask() uses).
  const std::vector<uint8_t>& allowed(bool allow_eog);
  // Advances past token `id`; Error if the grammar does not allow it (end-of-generation tokens change nothing).
  void accept(int32_t id);
  // The text is a complete sentence and nothing may follow: generation is over.
  bool complete() const { return !matcher_.can_continue(); }
  bool can_end() const { return matcher_.can_end(); }

 private:
  void walk(uint32_t node, size_t depth);

  Matcher matcher_;
  std::shared_ptr<const VocabularyTrie> trie_;
  std::vector<uint8_t> allowed_;
  std::vector<State> states_;  // states_[d]: the grammar state after the d code points of the walk's path
};

}  // namespace hearth::grammar
