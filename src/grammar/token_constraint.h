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
#include <map>
#include <memory>
#include <unordered_map>
#include <span>
#include <vector>

#include "grammar/matcher.h"
#include "tokenizers/tokenizer.h"

namespace hearth::grammar {

class VocabularyTrie {
 public:
  explicit VocabularyTrie(const Tokenizer& tokenizer);
  // The trie of a tokenizer, built once and shared: a process-wide cache keyed by Tokenizer::instance_id(),
  // holding the last few vocabularies used (building one of 32000 tokens takes about 10 ms). Thread-safe.
  static std::shared_ptr<const VocabularyTrie> of(const Tokenizer& tokenizer);

  struct Node {
    uint32_t first_child = 0, next_sibling = 0;  // 0: none (node 0 is the root, nobody's child)
    uint32_t first_token = 0, token_count = 0;  // tokens_[first_token ..] end here
    char32_t c = 0;                             // the code point leading here from the parent
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  std::span<const int32_t> tokens_at(const Node& n) const { return {tokens_.data() + n.first_token, n.token_count}; }
  const std::vector<int32_t>& end_of_generation() const { return eog_; }
  const std::vector<char32_t>& text(int32_t id) const { return text_[size_t(id)]; }  // empty: never allowed
  int32_t n_vocab() const { return int32_t(text_.size()); }

 private:
  std::vector<Node> nodes_;  // nodes_[0] is the root; depth-first order, siblings by code point
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
  // Works out which tokens may come next (what mask() applies); then is_allowed() says for each.
  void compute(bool allow_eog);
  bool is_allowed(int32_t id) const { return (allowed_[size_t(id) >> 6] >> (size_t(id) & 63)) & 1; }
  // Advances past token `id`; Error if the grammar does not allow it (end-of-generation tokens change nothing).
  void accept(int32_t id);
  // The text is a complete sentence and nothing may follow: generation is over.
  bool complete() const { return !matcher_.can_continue(); }
  bool can_end() const { return matcher_.can_end(); }

 private:
  // Grammar states seen by this constraint get small ids, and the transitions between them are memoized by
  // which of a state's stacks matched the character (the successors of a stack do not depend on the
  // character itself): the walk's step at a trie node is then a few range checks and a table lookup.
  struct StateInfo {
    State stacks;
    std::vector<uint32_t> tops;  // the element each non-empty stack has on top
    std::vector<int32_t> next;   // by match mask (when there are few stacks): -1 not known yet
    // The transition by each character class (below), once known (-2: not yet; -1: not allowed): this
    // skips even the range checks, for all but the first character of each class seen from this state.
    std::vector<int32_t> by_class;
    std::vector<uint64_t> allowed;  // the walk's result from this state, once computed
  };
  uint32_t intern(State state);
  int32_t next_state(uint32_t id, uint32_t node);  // by the trie node's character; -1: not allowed there
  int32_t step_state(uint32_t id, char32_t c);     // next_state() without the class table
  void walk(uint32_t node, uint32_t state);
  void allow(int32_t id) { allowed_[size_t(id) >> 6] |= uint64_t(1) << (size_t(id) & 63); }

  Matcher matcher_;
  std::shared_ptr<const VocabularyTrie> trie_;
  std::vector<uint64_t> allowed_;  // one bit per token
  std::vector<StateInfo> infos_;
  std::map<State, uint32_t> ids_;
  std::unordered_map<uint64_t, int32_t> wide_next_;  // transitions of states with many stacks: (id, mask)
  // Character classes: code points between two consecutive boundaries of the grammar's character sets match
  // exactly the same sets, so they lead from any state to the same state. node_class_[n] is the class of trie
  // node n's character (empty when the grammar has too many classes for per-state tables).
  std::vector<uint32_t> node_class_;
  size_t class_count_ = 0;
  size_t cached_masks_ = 0;
  State scratch_, subset_;
};

}  // namespace hearth::grammar
