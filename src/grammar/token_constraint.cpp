#include "grammar/token_constraint.h"

#include <algorithm>
#include <cmath>
#include <list>
#include <mutex>

#include "core/error.h"
#include "core/utf8.h"

namespace hearth::grammar {

VocabularyTrie::VocabularyTrie(const Tokenizer& tokenizer) {
  const int32_t n = tokenizer.n_vocab();
  text_.resize(size_t(n));
  std::vector<std::string> pieces(static_cast<size_t>(n));
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < n; ++id) {
    if (tokenizer.is_end_of_generation(id)) {
      eog_.push_back(id);
      continue;
    }
    std::string piece = tokenizer.token_to_piece(id);
    if (piece.empty() || !utf8_valid(piece)) continue;
    text_[size_t(id)] = utf8_decode(piece);
    pieces[size_t(id)] = std::move(piece);
    ids.push_back(id);
  }
  // In byte order, which for UTF-8 is code point order: the tokens under any prefix are then consecutive, so
  // each token only adds the nodes past what it shares with the one before, and nodes come out in depth-first
  // order (the order the walk visits them).
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    const int c = pieces[size_t(a)].compare(pieces[size_t(b)]);
    return c != 0 ? c < 0 : a < b;
  });
  tokens_.reserve(ids.size());
  nodes_.push_back({});
  std::vector<uint32_t> last_child(1, 0);
  std::vector<uint32_t> path{0};  // path[d]: the node at depth d along the previous token's text
  const std::vector<char32_t>* prev = nullptr;
  for (int32_t id : ids) {
    const std::vector<char32_t>& text = text_[size_t(id)];
    size_t common = 0;
    if (prev)
      while (common < prev->size() && common < text.size() && (*prev)[common] == text[common]) ++common;
    path.resize(common + 1);
    for (size_t d = common; d < text.size(); ++d) {
      const uint32_t parent = path[d], child = uint32_t(nodes_.size());
      Node node;
      node.c = text[d];
      nodes_.push_back(node);
      last_child.push_back(0);
      if (last_child[parent] == 0) {
        nodes_[parent].first_child = child;
      } else {
        nodes_[last_child[parent]].next_sibling = child;
      }
      last_child[parent] = child;
      path.push_back(child);
    }
    Node& end = nodes_[path[text.size()]];
    if (end.token_count == 0) end.first_token = uint32_t(tokens_.size());
    ++end.token_count;
    tokens_.push_back(id);
    prev = &text;
  }
}

// Past this many character classes a per-state table would cost more memory than it saves time.
constexpr size_t kMaxClasses = 4096;

// Vocabularies kept by VocabularyTrie::of(): a process rarely has more models than this at once, and a trie of
// 32000 tokens takes a few MiB.
constexpr size_t kCachedVocabularies = 4;

std::shared_ptr<const VocabularyTrie> VocabularyTrie::of(const Tokenizer& tokenizer) {
  static std::mutex mutex;
  static std::list<std::pair<uint64_t, std::shared_ptr<const VocabularyTrie>>> recent;  // most recent first
  const uint64_t key = tokenizer.instance_id();
  {
    std::lock_guard lock(mutex);
    for (auto it = recent.begin(); it != recent.end(); ++it) {
      if (it->first == key) {
        recent.splice(recent.begin(), recent, it);
        return recent.front().second;
      }
    }
  }
  // Built outside the lock, so requests for other vocabularies do not wait; two first requests for the same
  // one may both build it, and one result is kept.
  auto trie = std::make_shared<const VocabularyTrie>(tokenizer);
  std::lock_guard lock(mutex);
  for (const auto& [k, t] : recent)
    if (k == key) return t;
  recent.emplace_front(key, trie);
  if (recent.size() > kCachedVocabularies) recent.pop_back();
  return trie;
}

TokenConstraint::TokenConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabularyTrie> trie)
    : matcher_(std::move(grammar)), trie_(std::move(trie)), allowed_((size_t(trie_->n_vocab()) + 63) / 64, 0) {
  // Where some character set's ranges start or end (one past): the class of c is how many boundaries are <= c.
  const Grammar& g = matcher_.grammar();
  std::vector<char32_t> bounds;
  for (size_t r = 0; r < g.rule_count(); ++r) {
    for (uint32_t pos : g.alternatives(r)) {
      for (; g.element(pos).type != ElementType::kEnd; ++pos) {
        const Element& e = g.element(pos);
        if (e.type == ElementType::kRuleRef) continue;
        bounds.push_back(char32_t(e.lo));
        bounds.push_back(char32_t(e.hi) + 1);
      }
    }
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  class_count_ = bounds.size() + 1;
  if (class_count_ > kMaxClasses) return;
  const auto& nodes = trie_->nodes();
  node_class_.resize(nodes.size());
  for (size_t n = 1; n < nodes.size(); ++n)
    node_class_[n] = uint32_t(std::upper_bound(bounds.begin(), bounds.end(), nodes[n].c) - bounds.begin());
}

// A state with up to this many stacks keeps its transitions in a table indexed by the match mask.
constexpr size_t kTableStacks = 8;
// Walk results kept per constraint (one bit per token each: 128 states of a 32000-token vocabulary hold
// 512 KiB). The same state comes back often (inside a string of unbounded length, between array items), and a
// copy costs far less than a walk. When full, the results are dropped and computed again.
constexpr size_t kCachedMasks = 128;

uint32_t TokenConstraint::intern(State state) {
  auto it = ids_.find(state);
  if (it != ids_.end()) return it->second;
  StateInfo info;
  if (!node_class_.empty()) info.by_class.assign(class_count_, -2);
  for (StackId s : state)
    if (s != 0) info.tops.push_back(matcher_.top(s));
  if (info.tops.size() <= kTableStacks) info.next.assign(size_t(1) << info.tops.size(), -1);
  info.stacks = state;
  const uint32_t id = uint32_t(infos_.size());
  infos_.push_back(std::move(info));
  ids_.emplace(std::move(state), id);
  return id;
}

int32_t TokenConstraint::next_state(uint32_t id, uint32_t node) {
  const char32_t c = trie_->nodes()[node].c;
  if (node_class_.empty()) return step_state(id, c);
  const uint32_t cls = node_class_[node];
  if (infos_[id].by_class[cls] != -2) return infos_[id].by_class[cls];
  const int32_t next = step_state(id, c);
  infos_[id].by_class[cls] = next;  // step_state() may have grown infos_: index it again
  return next;
}

int32_t TokenConstraint::step_state(uint32_t id, char32_t c) {
  const Grammar& g = matcher_.grammar();
  uint64_t mask = 0;
  {
    // Past 64 stacks (a very ambiguous grammar) the rest are dropped from the mask: still a correct subset of
    // the language, as a stack left out only removes ways to continue.
    const auto& tops = infos_[id].tops;
    for (size_t i = 0; i < tops.size() && i < 64; ++i)
      if (g.char_matches(tops[i], c)) mask |= uint64_t(1) << i;
  }
  if (mask == 0) return -1;
  if (!infos_[id].next.empty()) {
    if (infos_[id].next[mask] >= 0) return infos_[id].next[mask];
  } else if (auto it = wide_next_.find((uint64_t(id) << 32) ^ mask); it != wide_next_.end()) {
    return it->second;
  }
  // The matching stacks, stepped by c (which every one of them matches).
  subset_.clear();
  size_t i = 0;
  for (StackId s : infos_[id].stacks) {
    if (s == 0) continue;
    if (i < 64 && ((mask >> i) & 1)) subset_.push_back(s);
    ++i;
  }
  matcher_.step(subset_, c, scratch_);
  const int32_t next = int32_t(intern(scratch_));  // may grow infos_: index it again
  if (!infos_[id].next.empty()) {
    infos_[id].next[mask] = next;
  } else {
    wide_next_[(uint64_t(id) << 32) ^ mask] = next;
  }
  return next;
}

void TokenConstraint::walk(uint32_t node, uint32_t state) {
  const auto& nodes = trie_->nodes();
  const VocabularyTrie::Node& n = nodes[node];
  for (uint32_t c = n.first_child; c != 0; c = nodes[c].next_sibling) {
    const VocabularyTrie::Node& child = nodes[c];
    const int32_t next = next_state(state, c);
    if (next < 0) continue;
    for (int32_t id : trie_->tokens_at(child)) allow(id);
    if (child.first_child) walk(c, uint32_t(next));
  }
}

void TokenConstraint::compute(bool allow_eog) {
  const uint32_t state = intern(matcher_.state());
  if (!infos_[state].allowed.empty()) {
    allowed_ = infos_[state].allowed;
  } else {
    std::fill(allowed_.begin(), allowed_.end(), 0);
    walk(0, state);
    if (cached_masks_ >= kCachedMasks) {
      for (auto& info : infos_) std::vector<uint64_t>().swap(info.allowed);
      cached_masks_ = 0;
    }
    infos_[state].allowed = allowed_;
    ++cached_masks_;
  }
  if (allow_eog && matcher_.can_end())
    for (int32_t id : trie_->end_of_generation()) allow(id);
}

size_t TokenConstraint::mask(std::span<float> logits, bool allow_eog) {
  const size_t n_vocab = size_t(trie_->n_vocab());
  if (logits.size() < n_vocab) fail("grammar: {} logits for a vocabulary of {}", logits.size(), n_vocab);
  compute(allow_eog);
  size_t count = 0;
  for (size_t w = 0; w < allowed_.size(); ++w) {
    const uint64_t bits = allowed_[w];
    count += size_t(__builtin_popcountll(bits));
    if (bits == ~uint64_t(0)) continue;
    const size_t end = std::min(n_vocab, (w + 1) * 64);
    for (size_t i = w * 64; i < end; ++i)
      if (!((bits >> (i & 63)) & 1)) logits[i] = -INFINITY;
  }
  // Ids past the tokenizer's vocabulary (padded output rows) have no text: never allowed.
  for (size_t i = n_vocab; i < logits.size(); ++i) logits[i] = -INFINITY;
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
