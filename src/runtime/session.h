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
  std::shared_ptr<Backend> backend;  // the process-wide backend of its device (shared_backend), not its own
  std::unique_ptr<DecoderModel> model;
  std::unique_ptr<Tokenizer> tokenizer;

  // The context a new cache gets: `requested` if > 0, else the model's training context capped at `cap`
  // (a 128k-context model would otherwise reserve gigabytes of KV cache for a short chat).
  int context_size(int requested, int cap = 4096) const;
};

// Opens `path` (GGUF file or Hugging Face folder) on the process-wide backend of the device ("auto" = the best
// available; see shared_backend for `threads`: 0 = as it is, else the count it must have), and builds the decoder
// and its tokenizer. Throws Error.
DecoderSession open_decoder(const std::string& path, int threads = 0, const std::string& backend = "auto");
// The same for weights already open (a caller that opened the file to learn its architecture).
DecoderSession open_decoder(std::shared_ptr<const Weights> weights, int threads = 0,
                            const std::string& backend = "auto");

}  // namespace hearth
