// Helpers shared by safetensors.cpp and hf_folder.cpp (not part of the formats API).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "formats/safetensors.h"

namespace hearth {

// Parses JSON from an untrusted file; Error "<source>: invalid JSON: ..." (or too deeply nested).
nlohmann::json parse_json_checked(std::string_view text, const std::string& source);

// F32/F16/BF16 map to hearth types; anything else is nullopt.
std::optional<DType> safetensors_dtype(const std::string& dtype);

// The entry as a WeightTensor named `gguf_name` (shape reversed into GGUF order, data still in the map).
// Error naming the dtype when it is not F32/F16/BF16.
WeightTensor to_weight_tensor(const SafetensorsEntry& e, const std::string& source, std::string gguf_name);

// The GGUF name of a llama / qwen2 / qwen3 tensor's Hugging Face name ("model.layers.3.self_attn.q_proj.weight" →
// "blk.3.attn_q.weight"), or "" when it has none. Shared with PEFT adapters, whose names follow the base's.
std::string llama_family_gguf_name(const std::string& hf_name);

// Reorders `rows` rows of `row_bytes` from HF's rotary layout into llama.cpp's (rows a multiple of 2 * n_head),
// as its converter does for the q/k projections of llama-arch models (and so for a LoRA's B matrix of them).
void permute_rope_rows(const uint8_t* src, uint8_t* dst, int64_t rows, size_t row_bytes, int64_t n_head);

}  // namespace hearth
