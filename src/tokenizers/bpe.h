// Merge-rank BPE, in the two forms vocabularies use it:
//  - byte-level (GPT-2, Llama 3, Qwen, DeepSeek, Falcon, StarCoder, ...): the text's bytes are spelled with
//    GPT-2's byte-to-unicode alphabet, cut into pieces by a regex pre-tokenizer, and each piece is merged
//    independently;
//  - SentencePiece-style as Hugging Face runs it from tokenizer.json (Llama 2): spaces become U+2581, "▁" is
//    prepended to each text segment, the whole segment is one word, and characters missing from the
//    vocabulary fall back to <0xNN> byte tokens.
// Merges are applied lowest rank first (ties: leftmost pair), with a priority queue over a linked list of
// symbols, so a word of n symbols costs O(n log n). Results for short pieces are cached.
//
// Special tokens: control and unknown tokens are recognized in the text only with parse_special;
// user-defined tokens always are (as llama.cpp and Hugging Face do).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace hearth {

class Metadata;

// How a vocabulary runs BPE; the GGUF overload derives this from tokenizer.ggml.pre, the tokenizer.json loader
// from the file's normalizer / pre_tokenizer / model / post_processor sections.
struct BpeOptions {
  bool byte_level = true;
  std::vector<std::string> pre_patterns;  // byte-level: regexes applied in order (see pretokenizer.h)
  bool ignore_merges = false;             // a piece that is itself a token is emitted whole
  bool nfc = false;                       // NFC-normalize text segments first (Qwen's normalizer)
  bool add_prefix_space = false;          // byte-level: " " before a segment not starting with one (RoBERTa)
  bool clean_spaces = false;              // decode() applies llama.cpp's clean-up (" ." -> ".", " 's" -> "'s")
  // SentencePiece-style only:
  bool prepend_space = true;        // "▁" before each text segment (HF Prepend normalizer / Metaspace)
  bool prepend_first_only = false;  // ... only before a segment at the start of the text (prepend_scheme first)
  bool byte_fallback = false;
  bool fuse_unk = false;
  // What encode(add_special = true) puts around the text. framing_from_vocab: BOS / EOS as the vocabulary's
  // add_bos / add_eos say; otherwise exactly `prefix` and `suffix`.
  bool framing_from_vocab = true;
  std::vector<int32_t> prefix, suffix;
};

// GGUF, tokenizer.ggml.model == "gpt2": tokens, merges ("left right", rank = index), token_type, special
// ids, add_bos/add_eos, and the pre-tokenizer named by tokenizer.ggml.pre. Error naming `source` if a key
// is missing or inconsistent, or the pre-tokenizer is unknown.
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const Metadata& md, const std::string& source);
// Same tables (tokenizer.ggml.* keys of md), with the algorithm's details given explicitly.
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const Metadata& md, const std::string& source,
                                              const BpeOptions& options);

// A merge table, and the merge loop every BPE runs: the adjacent pair of lowest rank is merged first (ties: the
// leftmost), until no adjacent pair has a merge. A priority queue over a linked list of symbols makes a word of
// n symbols cost O(n log n).
class BpeMerges {
 public:
  // (left, right) -> merged, at `rank` (lower merges first). A pair added twice keeps its first rank.
  void add(int32_t left, int32_t right, int32_t rank, int32_t merged);
  // Merges `symbols` in place. Negative ids are placeholders that never merge (unknown characters).
  void apply(std::vector<int32_t>& symbols) const;
  size_t size() const { return table_.size(); }

 private:
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> table_;  // (left, right) -> (rank, merged id)
};

// GPT-2's reversible byte <-> printable code point map.
char32_t bpe_byte_to_codepoint(uint8_t b);
// The byte a code point stands for, or -1 if it is not in the map.
int bpe_codepoint_to_byte(char32_t cp);

}  // namespace hearth
