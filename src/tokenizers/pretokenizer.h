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

  // What llama.cpp derives from a GGUF `tokenizer.ggml.pre` value ("" = "default"): the regexes and the
  // per-model switches that travel with them.
  struct Gguf {
    std::vector<std::string> patterns;
    bool ignore_merges = false;  // a piece that is itself a token bypasses merges (llama3 family, tekken)
    bool add_bos = false;        // BOS by default when the vocabulary has no add_bos_token key
    bool clean_spaces = true;    // decoded text gets llama.cpp's clean-up (" ." -> ".", " 's" -> "'s", ...)
  };
  // Error naming the value if it is unknown.
  static Gguf gguf(std::string_view pre);

  // Appends the pieces of `text` to `out` (views into `text`, in order, none empty).
  void split(std::string_view text, std::vector<std::string_view>& out) const;

  bool empty() const { return regexes_.empty(); }

 private:
  struct Regex;
  std::vector<std::shared_ptr<const Regex>> regexes_;
};

}  // namespace hearth
