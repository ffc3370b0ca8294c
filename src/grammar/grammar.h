// A context-free grammar over Unicode code points, in the shape llama.cpp's GBNF compiles to: each rule is a
// list of alternatives, each alternative a sequence of elements (a character set or a reference to a rule).
// Repetitions and groups of the source are already lowered to helper rules, so the matcher sees only these two
// element kinds. Immutable once built; share it (std::shared_ptr<const Grammar>) between requests.
//
// Elements live in one flat array; an alternative is the run of elements from its start index up to a kEnd.
// A character set is one kChar/kCharNot element followed by kCharAlt elements (one range each), so matching a
// code point reads a few adjacent elements and no pointers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::grammar {

enum class ElementType : uint8_t {
  kEnd,      // ends an alternative
  kRuleRef,  // lo = rule index
  kChar,     // a set of code points: the range [lo, hi], then any kCharAlt ranges that follow
  kCharNot,  // like kChar, but matches what is outside all its ranges
  kCharAlt,  // one more range of the kChar/kCharNot before it
};

struct Element {
  ElementType type = ElementType::kEnd;
  uint32_t lo = 0, hi = 0;
};

class Grammar {
 public:
  // The rules as built: names[i] is rule i's name (helper rules get "<parent>_<n>"), alternatives[i] the start
  // index of each of its alternatives in `elements`. Checks that every rule is defined, `root` exists and no
  // rule is left-recursive (the matcher expands rules eagerly, so left recursion would not terminate);
  // Error (invalid argument) naming the rule otherwise.
  Grammar(std::vector<std::string> names, std::vector<std::vector<uint32_t>> alternatives,
          std::vector<Element> elements);

  size_t rule_count() const { return names_.size(); }
  const std::string& rule_name(size_t rule) const { return names_[rule]; }
  const std::vector<uint32_t>& alternatives(size_t rule) const { return alternatives_[rule]; }
  const Element& element(uint32_t pos) const { return elements_[pos]; }
  uint32_t root() const { return root_; }

  // True if code point c is in the character set starting at element `pos` (a kChar or kCharNot).
  bool char_matches(uint32_t pos, char32_t c) const;
  // The position after the character set starting at `pos` (past its kCharAlt ranges).
  uint32_t after_char(uint32_t pos) const;

 private:
  void check_left_recursion() const;

  std::vector<std::string> names_;
  std::vector<std::vector<uint32_t>> alternatives_;
  std::vector<Element> elements_;
  uint32_t root_ = 0;
};

}  // namespace hearth::grammar
