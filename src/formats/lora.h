// LoRA adapters: low-rank updates W' = W + scale · B · A of a base model's weight matrices.
//
// Two file formats are read, both checked against the base model they are for:
//  - PEFT (Hugging Face): a folder with adapter_config.json (r, lora_alpha, use_rslora, target_modules, ...) and
//    adapter_model.safetensors holding "base_model.model.<module>.lora_A.weight" [r, in] and ".lora_B.weight"
//    [out, r]. Module names are mapped to GGUF tensor names as the base model's Hugging Face folder would be
//    (llama, qwen2, qwen3), and for llama-arch bases the rows of q_proj / k_proj's B are permuted as llama.cpp's
//    converter permutes the base's rows. The adapter's scale is lora_alpha / r (lora_alpha / sqrt(r) with rsLoRA).
//  - llama.cpp's GGUF adapters (convert_lora_to_gguf.py): general.type "adapter", adapter.type "lora",
//    adapter.lora.alpha, tensors "<base tensor>.lora_a" (ne {in, r}) and ".lora_b" (ne {r, out}); the scale is
//    alpha / r, or 1 when alpha is 0, as llama.cpp applies it.
// Matrices are held as F32 (converted from whatever the file stores). A loaded adapter is immutable and safe to
// share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/weights.h"

namespace hearth {

// The update of one base matrix (GGUF ne {in, out}: `out` rows of `in` values).
struct LoraPair {
  std::string target;    // the base tensor's GGUF name, e.g. "blk.0.attn_q.weight"
  int64_t rank = 0, in = 0, out = 0;
  std::vector<float> a;  // rank x in, row-major (GGUF ne {in, rank})
  std::vector<float> b;  // out x rank, row-major (GGUF ne {rank, out}), rows in the base's (GGUF) order
  float scale = 1.0f;    // the adapter's own factor (alpha / r ...), before the user's scale
};

struct LoraAdapter {
  std::string source;  // the path it was loaded from
  std::string format;  // "peft" or "gguf"
  std::vector<LoraPair> pairs;  // sorted by target
  // A 64-bit identity of the content (targets, shapes, scales and every value): what a KV cache or a saved
  // sequence computed with this adapter is keyed by. Not a cryptographic hash.
  uint64_t fingerprint = 0;

  const LoraPair* find(const std::string& target) const;
};

// Loads a PEFT folder (or its adapter_config.json / adapter_model.safetensors) or a GGUF LoRA file and checks it
// against `base`: the architecture, every target present in the base as a 2-D matrix, A's width = the base's
// row length, B's height = its rows, A's and B's ranks equal (and equal to the config's r). Errors name the file
// and the tensor: kNotFound (no such path), kInvalidArgument (an adapter for another model: architecture, shapes,
// unknown targets), kCorruptData (damaged files, A without B), kUnsupported (DoRA, rank/alpha patterns,
// fan_in_fan_out, embedding adapters).
LoraAdapter load_lora_adapter(const std::string& path, const Weights& base);

// "FILE" or "FILE:SCALE" (SCALE a finite number; default 1) as the CLI takes it. A path that itself contains ':'
// is taken whole when what follows the last ':' is not a number.
struct LoraSpec {
  std::string path;
  float scale = 1.0f;
};
LoraSpec parse_lora_spec(const std::string& text);

// One adapter applied with the user's scale (the total factor is scale * pair.scale).
struct AppliedLora {
  const LoraAdapter* adapter = nullptr;
  float scale = 1.0f;
};

struct LoraMergeOptions {
  std::optional<DType> type;  // the merged tensors' type; default: the base tensor's when it can be written, else F16
};

struct LoraMergeReport {
  int merged_tensors = 0;
  std::vector<std::string> notes;  // one line per tensor written in another type than the base's
};

// W' = W + Σ scale · B · A for every target of every adapter (in the order given), computed in F32 from the
// dequantized base, written with every other tensor and all metadata unchanged into a GGUF file at `out_path`
// (atomically: a temporary file renamed over it). Error kUnsupported for a base that is not a GGUF file (convert
// it first) or a merged type that cannot be written.
LoraMergeReport merge_lora(const Weights& base, std::span<const AppliedLora> adapters, const std::string& out_path,
                           const LoraMergeOptions& options = {});

}  // namespace hearth
