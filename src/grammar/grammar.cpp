#include "grammar/grammar.h"

#include "core/error.h"

namespace hearth::grammar {

Grammar::Grammar(std::vector<std::string> names, std::vector<std::vector<uint32_t>> alternatives,
                 std::vector<Element> elements)
    : names_(std::move(names)), alternatives_(std::move(alternatives)), elements_(std::move(elements)) {
  HEARTH_ASSERT(names_.size() == alternatives_.size());
  bool found = false;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == "root") {
      root_ = uint32_t(i);
      found = true;
    }
    if (alternatives_[i].empty()) fail("grammar: rule '{}' has no alternatives", names_[i]);
  }
  if (!found) fail("grammar: no rule named 'root' (the start symbol)");
  for (const Element& e : elements_)
    if (e.type == ElementType::kRuleRef && e.lo >= names_.size()) fail("grammar: reference to rule #{} of {}", e.lo, names_.size());
  check_left_recursion();
}

bool Grammar::char_matches(uint32_t pos, char32_t c) const {
  const bool negate = elements_[pos].type == ElementType::kCharNot;
  bool in = false;
  do {
    const Element& e = elements_[pos];
    in = in || (c >= e.lo && c <= e.hi);
    ++pos;
  } while (elements_[pos].type == ElementType::kCharAlt);
  return in != negate;
}

uint32_t Grammar::after_char(uint32_t pos) const {
  do ++pos;
  while (elements_[pos].type == ElementType::kCharAlt);
  return pos;
}

// A rule is left-recursive when it can reach itself without consuming a character: through the first element
// of an alternative, or past elements that can match the empty string. First which rules can be empty (to a
// fixed point), then a depth-first search over the "can start with" edges.
void Grammar::check_left_recursion() const {
  const size_t n = names_.size();
  std::vector<bool> nullable(n, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (nullable[r]) continue;
      for (uint32_t pos : alternatives_[r]) {
        while (elements_[pos].type == ElementType::kRuleRef && nullable[elements_[pos].lo]) ++pos;
        if (elements_[pos].type == ElementType::kEnd) {
          nullable[r] = changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::vector<uint32_t>> starts(n);
  for (size_t r = 0; r < n; ++r) {
    for (uint32_t pos : alternatives_[r]) {
      for (; elements_[pos].type == ElementType::kRuleRef; ++pos) {
        starts[r].push_back(elements_[pos].lo);
        if (!nullable[elements_[pos].lo]) break;
      }
    }
  }
  enum : uint8_t { kNew, kOpen, kDone };
  std::vector<uint8_t> state(n, kNew);
  // Iterative, so a deep chain of helper rules cannot overflow the stack.
  for (size_t top = 0; top < n; ++top) {
    if (state[top] != kNew) continue;
    std::vector<std::pair<uint32_t, size_t>> stack{{uint32_t(top), 0}};
    state[top] = kOpen;
    while (!stack.empty()) {
      auto& [r, next] = stack.back();
      if (next == starts[r].size()) {
        state[r] = kDone;
        stack.pop_back();
        continue;
      }
      const uint32_t s = starts[r][next++];
      if (state[s] == kOpen)
        fail("grammar: rule '{}' is left-recursive (it can reach itself before matching a character, e.g. by "
             "repeating something that can be empty)", names_[s]);
      if (state[s] == kNew) {
        state[s] = kOpen;
        stack.push_back({s, 0});
      }
    }
  }
}

}  // namespace hearth::grammar
