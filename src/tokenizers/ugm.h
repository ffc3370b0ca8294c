// GGUF "t5" vocabularies (llama.cpp's UGM: a SentencePiece unigram model), as llama.cpp's converter writes them for
// T5 and for the XLM-RoBERTa encoders (BGE-M3, multilingual-e5, bge-reranker-v2-m3). They are run by the Hugging
// Face pipeline (tokenizers/hf/pipeline.h): the GGUF keys are translated into the tokenizer.json that describes
// llama.cpp's tokenization, so the Unigram model and the precompiled-charsmap normalizer are the ones that serve
// tokenizer.json folders.
//
// llama.cpp's UGM tokenization, and its translation:
//   - tokenizer.ggml.precompiled_charsmap (u8/i8 array): SentencePiece's normalization → the Precompiled normalizer;
//   - remove_extra_whitespaces (default true): spaces at the ends dropped, runs of spaces made one, and every word
//     gets the "▁" prefix → Replace normalizers and a "▁" prepended to the text (each text segment between special
//     tokens is normalized on its own, as in llama.cpp);
//     otherwise each space becomes "▁" and add_space_prefix (default true) prepends one "▁";
//   - the Viterbi segmentation runs over the whole normalized text (no pre-tokenizer); control (3) and unknown (2)
//     tokens are also special added tokens (read from text with parse_special), user-defined tokens (4) added
//     tokens read from text always; byte tokens (6) give byte_fallback;
//   - framing: [BOS if add_bos_token] text [EOS if add_eos_token] (defaults false / true, as llama.cpp's);
//     a pair is BOS A EOS SEP B EOS (<s> A </s></s> B </s> for XLM-RoBERTa, whose SEP is </s>), all type 0.
// One known difference: a control token's text inside user text ("<s>") is one of the Unigram pieces (score 0),
// so it comes out as that token, as the Hugging Face library gives it (it splits special tokens out of every
// text); llama.cpp leaves control tokens out of its Viterbi and spells such text out.
#pragma once

#include <memory>
#include <string>

#include "formats/metadata.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

// Error naming `source` and the key for a vocabulary that is missing or inconsistent.
std::unique_ptr<Tokenizer> make_ugm_tokenizer(const Metadata& metadata, const std::string& source);

}  // namespace hearth
