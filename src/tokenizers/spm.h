// SentencePiece-style BPE (tokenizer.ggml.model = "llama"), as llama.cpp's SPM tokenizer runs it: spaces
// become U+2581 ("▁"), a "▁" is prepended to the text (add_space_prefix, default true; again after every
// special token), then adjacent pieces are merged pairwise, always the pair whose merged text is the
// vocabulary token with the highest score (ties: the leftmost pair), until no pair forms a token.
// Characters left without a token are spelled with byte tokens "<0xNN>".
// Decoding maps "▁" back to spaces and byte tokens to raw bytes, and drops the leading space of the first
// token (the one add_space_prefix added).
#pragma once

#include <memory>
#include <string>

#include "tokenizers/tokenizer.h"

namespace hearth {

class Metadata;

std::unique_ptr<Tokenizer> make_spm_tokenizer(const Metadata& md, const std::string& source);

}  // namespace hearth
