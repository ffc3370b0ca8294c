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

}  // namespace hearth
