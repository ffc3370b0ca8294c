// The architecture registry: which model class serves a file's `general.architecture`.
//
// Encoders (sentence embeddings) and decoders (text generation) live in separate tables, so that asking for
// embeddings from a decoder file (or the reverse) fails with a message saying what the file is, not a bare
// "unknown architecture".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.h"
#include "formats/weights.h"
#include "models/decoder.h"
#include "models/model.h"

namespace hearth {

// Builds an encoder from loaded weights. The Weights and the Backend must outlive the model (prepared
// matrices may point into the weights' memory map).
using EncoderBuilder = std::function<std::unique_ptr<EncoderModel>(const Weights&, Backend&)>;

struct EncoderArchitecture {
  std::string_view name;  // general.architecture, e.g. "bert"
  EncoderBuilder build;
};

// Every encoder architecture hearth can run.
const std::vector<EncoderArchitecture>& encoder_architectures();

// Builds a decoder from loaded weights, as load_decoder (models/decoder.h) does; same lifetime rules.
using DecoderBuilder =
    std::function<std::unique_ptr<DecoderModel>(const Weights&, Backend&, const DecoderLoadOptions&)>;

struct DecoderArchitecture {
  std::string_view name;  // general.architecture, e.g. "qwen2"; one family's builder may serve several names
  DecoderBuilder build;
};

// Every decoder architecture hearth can run (load_decoder and decoder_architectures() read this table).
const std::vector<DecoderArchitecture>& decoder_table();

// Architectures known to be decoders (text generation models), whether or not this build runs them.
bool is_decoder_architecture(std::string_view arch);

// Whether the file is an encoder with a classification head (a cross-encoder, for reranking) rather than an
// embedding model. Reads only tensor names and metadata; false for decoders.
bool is_cross_encoder(const Weights& weights);

// Builds the encoder for weights.architecture(). Error "<file>: '<arch>' is a decoder model; embeddings need an
// encoder (bert, …)" for a decoder, "<file>: unknown architecture '<arch>' …" otherwise.
std::unique_ptr<EncoderModel> load_encoder(const Weights& weights, Backend& backend);

}  // namespace hearth
