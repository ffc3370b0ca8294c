// Vocabulary shared by the tokenizers: token texts, scores, attributes and special-token ids read from
// GGUF-style metadata (tokenizer.ggml.*), plus the special-token splitting every algorithm runs first.
// Follows llama.cpp's reading of those keys (the goldens come from it), including its quirks where they
// change ids: out-of-range special ids keep the defaults, end-of-generation tokens are found by text.
// Immutable after construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace hearth {

class Metadata;

// Token attributes (bit set), derived from tokenizer.ggml.token_type.
enum TokenAttr : uint16_t {
  kAttrNormal = 1 << 0,
  kAttrUnknown = 1 << 1,
  kAttrControl = 1 << 2,
  kAttrUserDefined = 1 << 3,
  kAttrUnused = 1 << 4,
  kAttrByte = 1 << 5,
  kAttrLstrip = 1 << 6,  // swallow whitespace before the token when splitting specials
  kAttrRstrip = 1 << 7,  // ... and after it
};

class Vocab {
 public:
  // Reads tokenizer.ggml.tokens (required), .scores, .token_type and the special-token keys.
  // `defaults` are the ids used when a key is absent or out of range (llama.cpp's per-model defaults).
  // Error naming `source` and the key when the arrays are missing or inconsistent.
  static Vocab from_metadata(const Metadata& md, const std::string& source, const SpecialTokens& defaults);

  int32_t size() const { return int32_t(tokens_.size()); }
  const std::string& text(int32_t id) const { return tokens_[size_t(id)]; }
  float score(int32_t id) const { return scores_.empty() ? 0.0f : scores_[size_t(id)]; }
  uint16_t attr(int32_t id) const { return attrs_[size_t(id)]; }
  bool valid(int32_t id) const { return id >= 0 && id < size(); }
  // -1 when absent.
  int32_t find(std::string_view text) const;
  // Longest token text in bytes.
  size_t max_token_bytes() const { return max_token_bytes_; }
  const SpecialTokens& special() const { return special_; }
  bool is_eog(int32_t id) const;
  // The "<0xNN>" token for a raw byte, or -1.
  int32_t byte_token(uint8_t byte) const { return byte_tokens_[byte]; }

  // Splits text at the special tokens it contains (longest token text first, leftmost occurrence first).
  // User-defined tokens are always split out; control and unknown ones only when parse_special.
  struct Fragment {
    int32_t token = -1;     // >= 0: a special token; else raw text
    std::string_view text;  // raw text (empty for tokens)
  };
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;

 private:
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<uint16_t> attrs_;
  // Text → id: open addressing over (hash, id) slots, probed linearly. Encoding is mostly these lookups,
  // and a flat table costs about one cache miss where a node-based map costs three.
  struct Slot {
    uint32_t hash = 0;
    int32_t id = -1;  // -1: empty
  };
  std::vector<Slot> index_;
  void index_insert(int32_t id);
  std::vector<int32_t> special_cache_;  // split candidates, longest text first
  std::vector<int32_t> eog_;            // sorted
  int32_t byte_tokens_[256];
  size_t max_token_bytes_ = 0;
  SpecialTokens special_;
};

// A tokenizer built on a Vocab: pieces, special tokens and end-of-generation come from it.
class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocab vocab);
  int32_t n_vocab() const override { return vocab_.size(); }
  bool is_end_of_generation(int32_t id) const override { return vocab_.is_eog(id); }
  const Vocab& vocab() const { return vocab_; }

 protected:
  // Error naming the id when it is outside the vocabulary.
  void check_id(int32_t id) const;
  Vocab vocab_;
};

// Texts that end a turn or a generation whatever a vocabulary declares ("<|eot_id|>", "<|im_end|>",
// "<end_of_turn>", ...: llama.cpp's list; chat models mark the turn end with these and forget to declare them).
bool is_end_of_generation_text(std::string_view text);

// Replaces every ' ' with U+2581 ("▁"), SentencePiece's visible space, and the reverse.
std::string escape_spaces(std::string_view text);
std::string unescape_spaces(std::string_view text);

// llama.cpp's clean-up of decoded WordPiece/BPE text (Hugging Face's clean_up_tokenization_spaces):
// " ." " ," " !" " ?" lose the space, " ' " becomes "'", and " 's" " 'm" " 're" " 've" join the word before.
std::string clean_up_spaces(std::string_view text);

}  // namespace hearth
