#include "grammar/token_constraint.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.h"
#include "core/utf8.h"

namespace hearth::grammar {

VocabularyTrie::VocabularyTrie(const Tokenizer& tokenizer) {
  const int32_t n = tokenizer.n_vocab();
  text_.resize(size_t(n));
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < n; ++id) {
    if (tokenizer.is_end_of_generation(id)) {
      eog_.push_back(id);
      continue;
    }
    const std::string piece = tokenizer.token_to_piece(id);
    if (piece.empty() || !utf8_valid(piece)) continue;
    text_[size_t(id)] = utf8_decode(piece);
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return text_[size_t(a)] != text_[size_t(b)] ? text_[size_t(a)] < text_[size_t(b)] : a < b;
  });
  tokens_.reserve(ids.size());
  nodes_.push_back({});
  // Builds node `node` from ids[b, e), whose texts share their first `depth` code points: the texts that end
  // there come first (sorted), then the rest grouped by their next code point, one child per group, the
  // children allocated side by side so a node's children are one contiguous run.
  std::function<void(uint32_t, size_t, size_t, size_t)> build = [&](uint32_t node, size_t b, size_t e, size_t depth) {
    nodes_[node].first_token = uint32_t(tokens_.size());
    while (b < e && text_[size_t(ids[b])].size() == depth) tokens_.push_back(ids[b++]);
    nodes_[node].token_count = uint32_t(tokens_.size()) - nodes_[node].first_token;
    std::vector<std::pair<size_t, size_t>> groups;
    for (size_t i = b; i < e;) {
      const char32_t c = text_[size_t(ids[i])][depth];
      size_t j = i + 1;
      while (j < e && text_[size_t(ids[j])][depth] == c) ++j;
      groups.emplace_back(i, j);
      i = j;
    }
    const uint32_t first = uint32_t(nodes_.size());
    nodes_[node].first_child = first;
    nodes_[node].child_count = uint32_t(groups.size());
    for (const auto& [gb, ge] : groups) {
      Node child;
      child.c = text_[size_t(ids[gb])][depth];
      nodes_.push_back(child);
    }
    for (size_t k = 0; k < groups.size(); ++k) build(first + uint32_t(k), groups[k].first, groups[k].second, depth + 1);
  };
  build(0, 0, ids.size(), 0);
}

TokenConstraint::TokenConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabularyTrie> trie)
    : matcher_(std::move(grammar)), trie_(std::move(trie)), allowed_(size_t(trie_->n_vocab()), 0) {}

void TokenConstraint::walk(uint32_t node, size_t depth) {
  const auto& nodes = trie_->nodes();
  const VocabularyTrie::Node& n = nodes[node];
  if (states_.size() < depth + 2) states_.resize(depth + 2);
  for (uint32_t k = 0; k < n.child_count; ++k) {
    const uint32_t child = n.first_child + k;
    matcher_.step(states_[depth], nodes[child].c, states_[depth + 1]);
    if (states_[depth + 1].empty()) continue;
    for (int32_t id : trie_->tokens_at(nodes[child])) allowed_[size_t(id)] = 1;
    walk(child, depth + 1);
  }
}

const std::vector<uint8_t>& TokenConstraint::allowed(bool allow_eog) {
  std::fill(allowed_.begin(), allowed_.end(), 0);
  if (states_.empty()) states_.resize(2);
  states_[0] = matcher_.state();
  walk(0, 0);
  if (allow_eog && matcher_.can_end())
    for (int32_t id : trie_->end_of_generation()) allowed_[size_t(id)] = 1;
  return allowed_;
}

size_t TokenConstraint::mask(std::span<float> logits, bool allow_eog) {
  if (logits.size() < allowed_.size()) fail("grammar: {} logits for a vocabulary of {}", logits.size(), allowed_.size());
  const auto& ok = allowed(allow_eog);
  size_t count = 0;
  for (size_t i = 0; i < ok.size(); ++i) {
    if (ok[i]) {
      ++count;
    } else {
      logits[i] = -INFINITY;
    }
  }
  // Ids past the tokenizer's vocabulary (padded output rows) have no text: never allowed.
  for (size_t i = ok.size(); i < logits.size(); ++i) logits[i] = -INFINITY;
  return count;
}

void TokenConstraint::accept(int32_t id) {
  if (id < 0 || id >= trie_->n_vocab()) fail("grammar: token id {} is outside the vocabulary", id);
  const auto& eog = trie_->end_of_generation();
  if (std::find(eog.begin(), eog.end(), id) != eog.end()) return;
  const auto& text = trie_->text(id);
  if (text.empty()) fail("grammar: token {} has no text the grammar could match", id);
  State state = matcher_.state(), next;
  for (char32_t c : text) {
    matcher_.step(state, c, next);
    if (next.empty()) fail("grammar: token {} is not allowed here", id);
    state.swap(next);
  }
  matcher_.set_state(std::move(state));
}

}  // namespace hearth::grammar
