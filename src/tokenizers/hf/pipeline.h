// A Tokenizer that runs a Hugging Face tokenizer.json the way the `tokenizers` library does:
//
//   encode: added tokens are split out of the text (leftmost-longest; lstrip / rstrip / single_word /
//           normalized honoured), each remaining segment is normalized, pre-tokenized and tokenized by the
//           model (BPE, WordPiece, WordLevel or Unigram), and the post-processor frames the result.
//   decode: ids → the model's token strings (special tokens dropped unless rendered) → the decoder chain.
//
// Special added tokens (special = true) are read from the text only with parse_special; other added tokens
// always are (Hugging Face's encode reads both; see docs/tokenizers.md). Immutable and thread-safe.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>

#include "tokenizers/tokenizer.h"

namespace hearth::hf {

// `tokenizer` is tokenizer.json, `config` tokenizer_config.json (an empty object when absent; it supplies the
// bos/eos/... token names, add_bos_token / add_eos_token when there is no post-processor, clean-up of decoded
// spaces and model_max_length). Error naming `source` and the fault for anything malformed or unknown.
std::unique_ptr<Tokenizer> make_tokenizer(const nlohmann::json& tokenizer, const nlohmann::json& config,
                                          const std::string& source);

}  // namespace hearth::hf
