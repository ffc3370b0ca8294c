#include "grammar/matcher.h"

#include <algorithm>

#include "core/error.h"
#include "core/utf8.h"

namespace hearth::grammar {
namespace {

void sort_unique(State& s) {
  if (s.size() < 2) return;
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
}

}  // namespace

Matcher::Matcher(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
  nodes_.push_back({0, 0});  // id 0, the empty stack
  const Grammar& g = *grammar_;
  for (uint32_t alt : g.alternatives(g.root()))
    expand(g.element(alt).type == ElementType::kEnd ? 0 : push(alt, 0), state_);
  sort_unique(state_);
}

StackId Matcher::push(uint32_t pos, StackId rest) {
  const uint64_t key = (uint64_t(pos) << 32) | rest;
  auto [it, inserted] = interned_.emplace(key, StackId(nodes_.size()));
  if (inserted) {
    // An ambiguous grammar can keep exponentially many parses alive; refuse rather than exhaust memory.
    if (nodes_.size() >= kMaxStacks) {
      interned_.erase(it);
      fail(ErrorKind::kResourceExhausted, "grammar: more than {} parse stack nodes (the grammar is too ambiguous)",
           kMaxStacks);
    }
    nodes_.push_back({pos, rest});
  }
  return it->second;
}

// Iterative, so a long chain of rule references cannot overflow the stack.
void Matcher::expand(StackId s, State& out) {
  const Grammar& g = *grammar_;
  std::vector<StackId> todo{s};
  while (!todo.empty()) {
    s = todo.back();
    todo.pop_back();
    if (s == 0) {
      out.push_back(0);
      continue;
    }
    const Node node = nodes_[s];
    const Element& e = g.element(node.pos);
    if (e.type != ElementType::kRuleRef) {
      out.push_back(s);
      continue;
    }
    // What follows the reference in its alternative; nothing when it is the last element, so a right-recursive
    // rule (x*) does not grow the stack.
    const uint32_t next = node.pos + 1;
    const StackId base = g.element(next).type == ElementType::kEnd ? node.rest : push(next, node.rest);
    for (uint32_t alt : g.alternatives(e.lo)) todo.push_back(g.element(alt).type == ElementType::kEnd ? base : push(alt, base));
  }
}

const State& Matcher::successors(StackId s) {
  if (s >= has_successors_.size()) {
    has_successors_.resize(nodes_.size() + 1, false);
    successors_.resize(nodes_.size() + 1);
  }
  if (!has_successors_[s]) {
    const Grammar& g = *grammar_;
    const Node node = nodes_[s];
    const uint32_t next = g.after_char(node.pos);
    State out;
    expand(g.element(next).type == ElementType::kEnd ? node.rest : push(next, node.rest), out);
    sort_unique(out);
    // expand() may have interned new stacks: make room before storing (references into successors_ are
    // only handed out after this point).
    if (has_successors_.size() < nodes_.size()) {
      has_successors_.resize(nodes_.size(), false);
      successors_.resize(nodes_.size());
    }
    successors_[s] = std::move(out);
    has_successors_[s] = true;
  }
  return successors_[s];
}

void Matcher::step(const State& from, char32_t c, State& out) {
  out.clear();
  const Grammar& g = *grammar_;
  size_t merged = 0;
  for (StackId s : from) {
    if (s == 0 || !g.char_matches(nodes_[s].pos, c)) continue;
    const State& next = successors(s);
    out.insert(out.end(), next.begin(), next.end());
    ++merged;
  }
  if (merged > 1) sort_unique(out);
  if (out.size() > kMaxStateStacks)
    fail(ErrorKind::kResourceExhausted, "grammar: more than {} parses alive at once (the grammar is too ambiguous)",
         kMaxStateStacks);
}

bool Matcher::accept(char32_t c) {
  step(state_, c, scratch_);
  if (scratch_.empty()) return false;
  state_.swap(scratch_);
  return true;
}

bool Matcher::accept_text(std::string_view text) {
  State state = state_, next;
  for (size_t i = 0; i < text.size();) {
    char32_t c = 0;
    const int len = utf8_next(text, i, c);
    if (len == 0) return false;
    i += size_t(len);
    step(state, c, next);
    if (next.empty()) return false;
    state.swap(next);
  }
  state_ = std::move(state);
  return true;
}

bool Matcher::can_end() const { return !state_.empty() && state_.front() == 0; }
bool Matcher::can_continue() const { return !state_.empty() && state_.back() != 0; }

bool matches(std::shared_ptr<const Grammar> grammar, std::string_view text) {
  Matcher m(std::move(grammar));
  return m.accept_text(text) && m.can_end();
}

}  // namespace hearth::grammar
