// Hugging Face tokenizer.json (+ tokenizer_config.json) → a tokenizer that runs the file's pipeline as the
// `tokenizers` library does (see tokenizers/hf/pipeline.h and docs/tokenizers.md). Anything unknown or
// malformed is an Error naming it, never a silently different tokenization.
#pragma once

#include <memory>
#include <string>

#include "tokenizers/tokenizer.h"

namespace hearth {

// `dir` holds tokenizer.json and optionally tokenizer_config.json. Error naming the file and the fault.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& dir);

}  // namespace hearth
