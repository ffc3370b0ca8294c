// hearth's public API: models.
//
// A Model is one model file opened for use: its weights (memory-mapped), the compute backend it runs on, the
// network and its tokenizer. Model::open returns a reference-counted handle (std::shared_ptr); everything that
// uses the model — an Engine, a request in flight — holds a reference too, so the model is unloaded when the
// last of them lets go, never under a running request.
//
// Thread-safety: every method may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/error.h"

namespace hearth {
inline namespace v1 {

enum class ModelKind {
  kDecoder,  // generates text (llama, qwen2, qwen3): use it through an Engine
  kEncoder,  // embeds texts (bert, Universal Sentence Encoder): Model::embed
};
const char* to_string(ModelKind kind);  // "decoder", "encoder"

struct ModelOptions {
  int threads = 0;               // compute threads; 0 = one per physical core
  std::string backend = "auto";  // a name list_devices() reports, or "auto" for the best available
};

struct ModelInfo {
  std::string path;          // as given to open()
  ModelKind kind = ModelKind::kDecoder;
  std::string architecture;  // the file's general.architecture: "llama", "bert", …
  std::string tokenizer;     // the tokenizer's algorithm: "spm", "bpe", "wordpiece", "unigram"
  int vocab_size = 0;        // token ids are 0 .. vocab_size - 1
  int context_length = 0;    // decoders: the context they were trained for; encoders: the longest input they take
  int dim = 0;               // hidden size (decoders), embedding size (encoders)
};

class Model {
 public:
  // Opens a GGUF file or a Hugging Face model folder and prepares it on the chosen backend.
  // Error kNotFound for a missing path, kUnsupported for an architecture hearth cannot run, kCorruptData for a
  // damaged file, kInvalidArgument for bad options.
  static std::shared_ptr<Model> open(const std::string& path, const ModelOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelInfo& info() const;
  ModelKind kind() const { return info().kind; }

  // Text → token ids. add_special adds the model's framing tokens (BOS for llama, [CLS] … [SEP] for BERT);
  // text that looks like a special token ("<|im_start|>") stays plain text. Never truncates.
  std::vector<int32_t> tokenize(std::string_view text, bool add_special = true) const;
  // Token ids → text; special tokens are left out. Error kInvalidArgument for an id outside the vocabulary.
  std::string detokenize(const std::vector<int32_t>& ids) const;

  // Encoders only: one vector of info().dim floats per text, in order, pooled and normalized as the model's
  // metadata says (mean pooling and L2 normalization for BERT). Texts longer than the model accepts are
  // truncated. Error kUnsupported for a decoder.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) const;

  struct Impl;  // the loaded model; defined by the implementation
  explicit Model(std::unique_ptr<Impl> impl);  // for open() only: Impl cannot be made outside hearth

 private:
  friend class Engine;  // runs the decoder behind this handle
  std::unique_ptr<Impl> impl_;
};

}  // namespace v1
}  // namespace hearth
