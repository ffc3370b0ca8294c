// Weights: the named tensors and metadata of one model, whatever file format they came from.
//
// Every loader presents llama.cpp's naming: GGUF metadata keys (see metadata.h) and GGUF tensor names
// ("token_embd.weight", "blk.0.attn_q.weight", ...), with shapes in GGUF order (ne[0] is the row length,
// i.e. the innermost, contiguous dimension). Tensor data points into a read-only memory map of the file,
// never copied unless a loader had to convert it (then the Weights object owns the converted copy).
// A Weights object is immutable after loading and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "formats/metadata.h"

namespace hearth {

struct WeightTensor {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> ne;  // ne[0] = row length; a matrix of `rows` x `cols` is ne = {cols, rows}
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t n_elements() const;
  int64_t row_length() const { return ne.empty() ? 1 : ne[0]; }
  int64_t n_rows() const { return row_length() == 0 ? 0 : n_elements() / row_length(); }
};

class Weights {
 public:
  // Opens a model: a GGUF file, or a Hugging Face model folder (config.json + *.safetensors [+ index]
  // + tokenizer.json or vocab.txt). Throws Error naming the file and the fault.
  static std::unique_ptr<Weights> open(const std::string& path);

  Weights() = default;
  Weights(const Weights&) = delete;
  Weights& operator=(const Weights&) = delete;

  const std::string& source() const { return source_; }
  const Metadata& metadata() const { return metadata_; }
  Metadata& mutable_metadata() { return metadata_; }  // for loaders only
  std::string architecture() const;                   // general.architecture; Error if missing

  const std::vector<WeightTensor>& tensors() const { return tensors_; }
  const WeightTensor* find(const std::string& name) const;
  // Error "<source>: missing tensor '<name>'" if absent.
  const WeightTensor& get(const std::string& name) const;
  // Like get(), also checking the shape; Error naming the tensor, expected and actual shapes on mismatch.
  const WeightTensor& get(const std::string& name, const std::vector<int64_t>& expected_ne) const;

  // A 64-bit identity of the model: its metadata (keys, scalar values, array sizes) and each tensor's name, type,
  // shape and first and last bytes. Files saved for one model (a KV cache) check it on load: two fine-tunes of
  // one shape differ in it, a re-open of the same file does not. Not a cryptographic hash.
  uint64_t fingerprint() const;

  // ---- for loaders ----
  void set_source(std::string s) { source_ = std::move(s); }
  void keep_alive(std::shared_ptr<const void> storage) { storage_.push_back(std::move(storage)); }
  // Copies `bytes` into storage owned by this object and returns a pointer to it (64-byte aligned).
  const uint8_t* own_bytes(const void* bytes, size_t n);
  // Tensor data at an address its type may not be read from is copied into storage this object owns.
  void add_tensor(WeightTensor t);

 private:
  std::string source_;
  Metadata metadata_;
  std::vector<WeightTensor> tensors_;
  std::vector<std::shared_ptr<const void>> storage_;
};

}  // namespace hearth
