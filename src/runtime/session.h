// A loaded text-generation model: weights, backend, decoder and tokenizer of one file, bundled so that the
// CLI commands (run, chat, logits, bench gen) and the server load a model one way.
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"
#include "formats/weights.h"
#include "models/decoder.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

struct DecoderSession {
  std::shared_ptr<const Weights> weights;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DecoderModel> model;
  std::unique_ptr<Tokenizer> tokenizer;

  // The context a new cache gets: `requested` if > 0, else the model's training context capped at `cap`
  // (a 128k-context model would otherwise reserve gigabytes of KV cache for a short chat).
  int context_size(int requested, int cap = 4096) const;
};

// Opens `path` (GGUF file or Hugging Face folder), makes a backend ("auto" = the best available) with
// `threads` threads (0 = one per physical core), and builds the decoder and its tokenizer. Throws Error.
DecoderSession open_decoder(const std::string& path, int threads = 0, const std::string& backend = "auto");

}  // namespace hearth
