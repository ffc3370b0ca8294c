// Universal Sentence Encoder lite (GGUF architecture "use", imported from TF.js by `hearth convert tfjs-use`).
//
// Forward pass (spec: /work/shared/uselite/ARCHITECTURE.md §4), per sentence of at most 128 tokens:
// x = 2·E[ids] + timing (sin | cos halves); layer 0 is pre-norm attention (256 -> 512 through a projected
// residual "attn_res") and a ReLU FFN; later layers are pre-norm attention + FFN with plain residuals; no final
// norm; mean over tokens; tanh dense head; L2 normalization. A sentence with no tokens pools to zeros, giving
// l2norm(tanh(b)). Sentences of a batch are stacked without padding, one attention span each.
#pragma once

#include <memory>

#include "backends/backend.h"
#include "formats/weights.h"
#include "models/model.h"

namespace hearth {

// Builds the encoder, validating the metadata and every tensor's shape (Error naming what is wrong).
std::unique_ptr<EncoderModel> load_use(const Weights& weights, Backend& backend);

}  // namespace hearth
