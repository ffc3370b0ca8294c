// Safetensors files and Hugging Face model folders.
//
// A .safetensors file is: u64 little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}, ..., "__metadata__": {...}}
// then the data section, offsets relative to its start. Every entry is validated against the file (dtype known,
// shape non-negative with no overflow, end - begin == elements * element size, inside the data section, no
// overlap), so a hostile file gives one hearth::Error naming the file, the tensor and the fault.
//
// A Hugging Face folder (config.json + model.safetensors, or shards listed by model.safetensors.index.json) is
// presented in GGUF vocabulary: config.json keys become GGUF metadata keys and HF tensor names become GGUF
// names, for the BERT family (arch "bert": BERT and XLM-RoBERTa, their *ForSequenceClassification cross-encoders
// with the head as cls / cls.output and pooling type rank, XLM-RoBERTa's position table without the
// padding_idx + 1 rows its positions skip, all as llama.cpp's converter writes them, except that BERT's pooler is
// kept as the head's dense layer) and Llama/Mistral (arch "llama"), Qwen2 ("qwen2"), Qwen3 ("qwen3").
// Only F32, F16 and BF16 tensors are accepted (others: Error naming the dtype). HF's [out, in] row-major
// matrices are GGUF's ne {in, out}, so no transpose is needed: data stays in the file's memory map.
//
// Rope convention (llama arch): HF checkpoints rotate the two halves of each head (NeoX style), while GGUF
// "llama" files carry q/k rows permuted by llama.cpp's converter for interleaved-pair rotation. The loader
// reproduces that converter: q_proj / k_proj rows of llama-arch models are permuted into the GGUF order (the
// Weights object owns the permuted copies), so a model reads HF and GGUF llama weights identically.
// qwen2/qwen3 use NeoX rope in GGUF too and need no permutation.
//
// The folder path is recorded as metadata "general.source.hf_dir" so the tokenizer loader can find
// tokenizer.json / vocab.txt there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/weights.h"

namespace hearth {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // as in the file: "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;  // as in the file: outermost first
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
};

// Parses a safetensors image; entries point into `data`, in file order of their offsets.
std::vector<SafetensorsEntry> read_safetensors(const uint8_t* data, size_t size, const std::string& source);

// Loads one .safetensors file as-is (HF names, GGUF-order shapes, no metadata mapping), for tools and tests.
std::unique_ptr<Weights> load_safetensors(const std::string& path);

// Loads a Hugging Face model folder, mapped to GGUF names and metadata (see above).
std::unique_ptr<Weights> load_hf_folder(const std::string& dir);

// For tests and tools: serializes tensors (HF names, shapes outermost first) into a safetensors image.
struct SafetensorsWriterTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};
std::string write_safetensors(const std::vector<SafetensorsWriterTensor>& tensors);

}  // namespace hearth
