// Incremental matching of text against a Grammar: a pushdown recognizer in the style of llama.cpp's, whose
// state is the set of parse stacks still alive. A stack lists the grammar positions left to match, innermost
// on top; the top of every stack in a state is a character set (or the stack is empty: the text so far is a
// complete sentence).
//
// What makes it fast enough to run over a whole vocabulary per token (token_constraint.h):
//  - stacks are interned as linked nodes (top element + id of the rest), so a stack is one integer, shared
//    suffixes are stored once and a state is a short sorted vector of integers;
//  - consuming one character from a stack does not depend on which character it was (only whether the top
//    set matches it), so each stack's successors are computed once and memoized: after warming up, advancing
//    a state is a few range checks and a merge of small vectors.
// Not thread-safe (the memo grows as it goes); one Matcher per generation. Bounded: a grammar ambiguous enough
// to pass kMaxStacks or kMaxStateStacks fails with kResourceExhausted instead of exhausting memory or time.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"

namespace hearth::grammar {

using StackId = uint32_t;  // 0: the empty stack
using State = std::vector<StackId>;  // sorted, no duplicates

class Matcher {
 public:
  // Past either bound, kResourceExhausted: stack nodes interned (memory), and stacks in one state (time per
  // character). Grammars compiled from JSON schemas keep a few dozen.
  static constexpr size_t kMaxStacks = size_t(1) << 20;
  static constexpr size_t kMaxStateStacks = size_t(1) << 14;

  explicit Matcher(std::shared_ptr<const Grammar> grammar);

  const State& state() const { return state_; }
  void set_state(State state) { state_ = std::move(state); }
  // The state after code point c from `from` (empty: c is not allowed there). `out` is overwritten.
  void step(const State& from, char32_t c, State& out);

  // Consumes code point c; false (and no change) if the grammar does not allow it here.
  bool accept(char32_t c);
  // Consumes all of `text` (UTF-8); false (and no change) unless every character is allowed in turn.
  bool accept_text(std::string_view text);
  bool can_end() const;       // the text so far is a complete sentence
  bool can_continue() const;  // some character may follow

  const Grammar& grammar() const { return *grammar_; }
  uint32_t top(StackId s) const { return nodes_[s].pos; }  // the element on top of a non-empty stack

 private:
  struct Node {
    uint32_t pos;  // element index: a character set, or a rule reference still to expand
    StackId rest;
  };
  StackId push(uint32_t pos, StackId rest);
  // The stacks `s` stands for once its rule references are expanded (all topped by a character set, or 0).
  void expand(StackId s, State& out);
  const State& successors(StackId s);  // after the top character set of `s` matched a character

  std::shared_ptr<const Grammar> grammar_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, StackId> interned_;
  std::vector<State> successors_;
  std::vector<bool> has_successors_;
  State state_;
  State scratch_;
};

// True if the whole of `text` (UTF-8) is a sentence of the grammar.
bool matches(std::shared_ptr<const Grammar> grammar, std::string_view text);

}  // namespace hearth::grammar
