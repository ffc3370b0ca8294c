// The llama family of decoders: llama (Llama 2/3.x, TinyLlama, SmolLM, Mistral without sliding window),
// qwen2 (q/k/v biases, NEOX rope) and qwen3 (per-head q/k RMSNorm, NEOX rope), read with llama.cpp's tensor
// names and metadata keys. Pre-norm blocks: RMSNorm → attention (rope, GQA/MQA, causal) → residual →
// RMSNorm → SwiGLU FFN → residual; final RMSNorm and the output head (or the tied token embedding).
#pragma once

#include <memory>

#include "models/decoder.h"

namespace hearth {

// Reads and validates the hyper-parameters of a llama-family file (Error naming the key or the inconsistency).
DecoderHParams read_llama_hparams(const Weights& weights);

std::unique_ptr<DecoderModel> load_llama_family(const Weights& weights, Backend& backend);

}  // namespace hearth
