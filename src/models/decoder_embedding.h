// Decoder embedders: a decoder-only language model (llama / qwen2 / qwen3) used as a sentence encoder, as
// Qwen3-Embedding, E5-Mistral or GTE-Qwen are. The text runs through the decoder with its causal attention; the
// embedding is the final-norm hidden state of the last token (pooling LAST: a causal model's last position is the
// only one that has seen the whole text) or the mean over the tokens (MEAN), L2-normalized. Framing tokens (BOS,
// and the EOS that Qwen3-Embedding's tokenizer appends) are the tokenizer's business, as for any encoder.
//
// It is an EncoderModel, so the embedding pipeline (runtime/embedder.h), the server and the context engine take it
// like any other. It only reads the DecoderModel it wraps (which it may or may not own): the same loaded decoder can
// generate text and embed at once.
#pragma once

#include <memory>
#include <optional>

#include "formats/weights.h"
#include "models/decoder.h"
#include "models/model.h"

namespace hearth {

// The pooling a decoder file declares for embeddings: `<arch>.pooling_type` (llama.cpp's enum llama_pooling_type:
// NONE 0, MEAN 1, CLS 2, LAST 3, RANK 4), nullopt when the key is absent. Error kCorruptData for a value outside
// that enum; kUnsupported for CLS and RANK, which a causal decoder cannot pool meaningfully.
std::optional<Pooling> declared_decoder_pooling(const Weights& weights);

// Whether the file declares mean or last pooling: a decoder made for embeddings (Qwen3-Embedding). Never throws.
bool declares_embedding_pooling(const Weights& weights);

// Wraps `decoder` (which must outlive the result); `pooling` is its default pooling (mean or last).
std::unique_ptr<EncoderModel> decoder_embedding(const DecoderModel& decoder, Pooling pooling);
// The same, owning the decoder.
std::unique_ptr<EncoderModel> decoder_embedding(std::unique_ptr<DecoderModel> decoder, Pooling pooling);

}  // namespace hearth
