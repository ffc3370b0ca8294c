// Models: an architecture's forward pass, built from Weights by the architecture registry, running on a
// Backend. Models hold prepared weights (immutable after load) and are safe to call from several threads at
// once: per-call state (workspace, KV cache) is passed in or created per call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/weights.h"

namespace hearth {

struct EmbedOptions {
  Pooling pooling = Pooling::kMean;
  bool normalize = true;
};

// Sentence encoders (BERT family, Universal Sentence Encoder).
class EncoderModel {
 public:
  virtual ~EncoderModel() = default;
  virtual int dim() const = 0;
  virtual int max_tokens() const = 0;           // longest sequence; longer inputs must be truncated by the caller
  virtual EmbedOptions default_options() const = 0;  // from the file's metadata
  virtual std::vector<Pooling> supported_poolings() const = 0;
  // Embeds each token sequence independently (each attends only to itself). Result i holds dim() floats,
  // or tokens_i * dim() floats for Pooling::kNone.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& sequences,
                                                const EmbedOptions& options) const = 0;
};

}  // namespace hearth
