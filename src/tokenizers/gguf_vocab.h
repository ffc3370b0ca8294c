// A Hugging Face tokenizer folder -> the tokenizer.* GGUF keys llama.cpp's convert_hf_to_gguf.py writes for it, so
// that `hearth convert` produces files llama.cpp tokenizes as it would its own:
//   vocab.txt or a WordPiece tokenizer.json      -> "bert" (phantom-space tokens, "##" stripped)
//   tokenizer.model (SentencePiece protobuf)     -> "llama" (pieces, scores, piece types), pre "default"
//   a byte-level BPE tokenizer.json              -> "gpt2" (tokens, merges), pre named by --tokenizer-pre or
//                                                   recognised (plain ByteLevel: gpt-2; qwen2/qwen3: qwen2;
//                                                   llama: llama-bpe)
//   sentencepiece.bpe.model (XLM-RoBERTa)        -> "t5" (fairseq-aligned pieces, scores, the normalizer's
//                                                   charsmap and flags)
// plus the special-token ids (bos, eos, unk, sep, pad, cls, mask) from tokenizer_config.json / config.json,
// add_bos_token / add_eos_token and the chat template. Anything else (a Unigram tokenizer.json) is an Error saying
// it is not supported yet.
#pragma once

#include <string>

#include "formats/metadata.h"

namespace hearth {

struct VocabExportOptions {
  std::string arch;        // general.architecture of the model (picks the BPE pre-tokenizer name)
  int64_t n_vocab = 0;     // the model's vocabulary size (config.json vocab_size); shorter lists are padded
  std::string pre;         // tokenizer.ggml.pre to write instead of the recognised one
};

// Error naming the folder / file and the fault.
Metadata hf_tokenizer_gguf_metadata(const std::string& dir, const VocabExportOptions& options);

}  // namespace hearth
