// WordPiece, the BERT tokenizer, as Hugging Face's BertTokenizer and llama.cpp's WPM tokenizer run it:
// clean the text (drop control characters, U+0000 and U+FFFD; whitespace separates words), optionally
// lowercase and strip accents (NFD, drop Mn), split off punctuation and CJK ideographs as one-character
// words, then cut each word greedily into the longest vocabulary pieces; a word that cannot be cut
// completely (or is longer than 100 characters) becomes [UNK].
//
// The vocabulary is in llama.cpp's form: a piece that starts a word carries a leading U+2581 ("▁hello"),
// a continuation piece has no mark ("lo", where BERT's vocab.txt says "##lo"); wordpiece_vocab_from_bert()
// converts the latter to the former.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace hearth {

class Metadata;

// Metadata key (bool, default true) saying whether to lowercase and strip accents. llama.cpp has no such
// key and always lowercases; a vocab.txt loader sets it from tokenizer_config.json's do_lower_case.
inline constexpr const char* kWordPieceLowercaseKey = "tokenizer.hearth.do_lower_case";

// Builds the WordPiece tokenizer the metadata describes (tokenizer.ggml.model = "bert").
std::unique_ptr<Tokenizer> make_wordpiece_tokenizer(const Metadata& md, const std::string& source);

// BERT vocab.txt entries → llama.cpp's form: "##x" → "x", "[CLS]"-style names unchanged, others "▁" + text.
std::vector<std::string> wordpiece_vocab_from_bert(const std::vector<std::string>& entries);

}  // namespace hearth
