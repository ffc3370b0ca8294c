// Hugging Face tokenizer.json (+ tokenizer_config.json) → hearth tokenizers.
//
// The file is translated into GGUF's tokenizer.ggml.* keys (tokens by id, token types from added_tokens:
// special → control, other added tokens → user-defined; merges; special ids) plus the details GGUF keys do
// not carry, then built with the same classes as GGUF vocabularies:
//  - BPE with ByteLevel pre-tokenizer (+ Split regexes, Digits, Punctuation; NFC normalizer): byte-level
//    BPE (GPT-2, Llama 3, Qwen);
//  - BPE with Prepend/Replace normalizers or a Metaspace pre-tokenizer, byte_fallback: SentencePiece-style
//    merge-rank BPE (Llama 2), which is how Hugging Face runs it;
//  - WordPiece (BERT): the WordPiece tokenizer.
// What encode(add_special = true) adds comes from post_processor (TemplateProcessing, Bert/RobertaProcessing);
// without one, from tokenizer_config.json's add_bos_token / add_eos_token.
// Anything else (another model type, an unsupported normalizer or pre-tokenizer) is an Error naming it, never
// a silently different tokenization.
#pragma once

#include <memory>
#include <string>

#include "tokenizers/tokenizer.h"

namespace hearth {

// `dir` holds tokenizer.json and optionally tokenizer_config.json. Error naming the file and the fault.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& dir);

}  // namespace hearth
