// Regex pre-tokenization for byte-level BPE: cuts text into the pieces that BPE merges never cross
// (words, number groups, punctuation runs, whitespace runs), as llama.cpp's unicode_regex_split and Hugging
// Face's Split(behavior = Isolated) pre-tokenizers do.
//
// A PreTokenizer is a list of Unicode regexes (PCRE2 with UTF + UCP, so \p{L}, \p{N}, \s follow Unicode).
// Each regex re-splits every piece the previous ones produced; both its matches and the text between
// matches become pieces, so the pieces always concatenate back to the input. Invalid UTF-8 bytes are never
// matched by a regex and end up in the between-match pieces (no error, no out-of-range read).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class PreTokenizer {
 public:
  PreTokenizer() = default;  // no regexes: the whole text is one piece
  // Error naming the pattern and PCRE2's message if a pattern does not compile.
  explicit PreTokenizer(const std::vector<std::string>& patterns);

  // The regexes llama.cpp uses for a GGUF `tokenizer.ggml.pre` value ("" = "default"); Error naming the
  // value if it is unknown. `ignore_merges` is set for the vocabularies whose whole-word tokens bypass merges.
  static std::vector<std::string> gguf_patterns(std::string_view pre, bool* ignore_merges = nullptr);

  // Appends the pieces of `text` to `out` (views into `text`, in order, none empty).
  void split(std::string_view text, std::vector<std::string_view>& out) const;

  bool empty() const { return regexes_.empty(); }

 private:
  struct Regex;
  std::vector<std::shared_ptr<const Regex>> regexes_;
};

}  // namespace hearth
