// The stages of a Hugging Face tokenizer.json, each built from its JSON section, as the `tokenizers` library
// defines them (https://huggingface.co/docs/tokenizers/components):
//
//   text ─► added tokens split out ─► Normalizer ─► PreTokenizer ─► Model ─► PostProcessor ─► ids
//   ids  ─► Model's token strings ─► Decoder ─► text
//
// This header has the three stages that only move text around (normalizers, pre-tokenizers, decoders); the
// models and post-processors, which need the vocabulary, live in hf/pipeline.cpp. Each factory accepts every
// type (and every option of it) that the library defines and fails with an Error naming the type or option
// only when it is truly unknown or makes the tokenization non-deterministic. A JSON null section means "no
// stage" and gives nullptr.
//
// All stages are immutable after construction and safe to share between threads.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace hearth::hf {

// text → text. Input and output are UTF-8; invalid bytes are passed through unchanged.
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string text) const = 0;
};

// pieces → pieces: each stage re-splits (and may rewrite) every piece the previous one produced.
// `section` is the index of this text segment among the segments left between added tokens (Metaspace's
// prepend_scheme "first" prepends only in section 0).
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void split(std::vector<std::string>& pieces, size_t section) const = 0;
};

// The model's token strings → the strings that are concatenated into the decoded text (HF's decode_chain).
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // What one token adds in the middle of a text (for streaming): like decode_chain on that token alone, but
  // without the rules for the start of a text (Metaspace's and Strip's dropped leading space, WordPiece's
  // first word) and with a lone byte token kept as its raw byte (it may be part of a UTF-8 sequence).
  virtual std::string decode_piece(const std::string& token) const {
    std::vector<std::string> one{token};
    decode_chain(one);
    std::string out;
    for (const std::string& t : one) out += t;
    return out;
  }
};

// The most a chain of stages may grow a text of n bytes to: generous for real chains (a space becomes the
// three bytes of "▁"), finite for hostile ones.
inline size_t growth_limit(size_t n) { return 16 * n + 4096; }

// `source` names the file in errors, e.g. ".../tokenizer.json".
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config, const std::string& source);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config, const std::string& source);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& config, const std::string& source);

}  // namespace hearth::hf
