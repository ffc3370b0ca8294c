// Test helper: SentencePiece precompiled charsmaps built from a few rules, and base64 (tokenizer.json stores the
// charsmap base64-encoded).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace hearth::test {

// A darts-clone double array over `rules` (key -> replacement) in SentencePiece's charsmap layout: u32 trie
// size, units, NUL-terminated replacements. Units: label in bits 0-7, has-leaf bit 8, offset to the children's
// base in bits 10-30; a leaf unit (bit 31) holds the replacement's offset in the pool.
class CharsmapBuilder {
 public:
  std::string build(const std::vector<std::pair<std::string, std::string>>& rules) {
    Node root;
    std::string pool;
    for (const auto& [key, value] : rules) {
      Node* n = &root;
      for (unsigned char c : key) n = &n->kids[c];
      n->value = static_cast<int>(pool.size());
      pool += value;
      pool += '\0';
    }
    units_.assign(1, 0);
    bases_.clear();
    used_.assign(1, true);
    place(root, 0);
    std::string blob;
    auto put = [&](uint32_t v) {
      for (int i = 0; i < 4; ++i) blob += static_cast<char>((v >> (8 * i)) & 0xFF);
    };
    put(static_cast<uint32_t>(units_.size() * 4));
    for (uint32_t u : units_) put(u);
    return blob + pool;
  }

 private:
  struct Node {
    std::map<unsigned char, Node> kids;
    int value = -1;
  };

  bool is_free(size_t i) { return i >= used_.size() || !used_[i]; }
  void take(size_t i) {
    if (i >= used_.size()) {
      used_.resize(i + 1, false);
      units_.resize(i + 1, 0);
    }
    used_[i] = true;
  }

  void place(const Node& node, size_t pos) {
    std::vector<unsigned> labels;
    if (node.value >= 0) labels.push_back(0);
    for (const auto& kid : node.kids) labels.push_back(kid.first);
    if (labels.empty()) return;
    size_t base = 1;
    for (;; ++base) {
      bool ok = !bases_.count(base);  // a shared base would let one node's probe hit another's child
      for (unsigned l : labels) ok = ok && is_free(base ^ l);
      if (ok) break;
    }
    for (unsigned l : labels) take(base ^ l);
    bases_.insert(base);
    units_[pos] |= static_cast<uint32_t>(pos ^ base) << 10;
    if (node.value >= 0) {
      units_[base] = 0x80000000u | static_cast<uint32_t>(node.value);
      units_[pos] |= 1u << 8;
    }
    for (const auto& [label, kid] : node.kids) {
      units_[base ^ label] |= label;
      place(kid, base ^ label);
    }
  }

  std::vector<uint32_t> units_;
  std::vector<bool> used_;
  std::set<size_t> bases_;
};

inline std::string base64(const std::string& bytes) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = 0;
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    for (size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

}  // namespace hearth::test
