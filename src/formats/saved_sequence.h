// The saved-sequence file: one sequence's KV cache on disk, so that a conversation survives a restart
// (models/decoder.h save_sequence / load_sequence). Format version 1, little-endian:
//   "HEARTHKV" | u32 version | u32 header bytes | header (JSON: model_fingerprint, n_layer, kv_dim, kv_type "f16"
//   or "q8_0", n_tokens, note) | i32 tokens[n] | per layer: K rows [n x kv_dim], V rows [n x kv_dim], each row as
//   the cache stores it (F16 values, or Q8_0 blocks) | u64 FNV-1a of everything before
// Reading checks the version, the checksum (before anything else is interpreted), the header's fields against
// the shape the caller expects, and that the sizes add up.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace hearth {

struct SequenceShape {
  uint64_t model_fingerprint = 0;  // Weights::fingerprint() of the model the cache belongs to
  int64_t n_layer = 0, kv_dim = 0;
  int64_t n_ctx = 0;  // positions the cache holds (reading only: more tokens are kResourceExhausted)
  DType kv_type = DType::F16;  // F16 or Q8_0
};

struct SequenceImage {
  std::vector<int32_t> tokens;
  std::string note;          // opaque text saved with it (e.g. a chat's messages)
  std::vector<uint8_t> kv;   // per layer, K rows then V rows, each tokens.size() rows of kv_dim values as stored
};

std::vector<uint8_t> serialize_saved_sequence(const SequenceShape& shape, const SequenceImage& image);

// Error kCorruptData (damaged, truncated, checksum, another format version), kInvalidArgument (saved for another
// model or cache shape), kResourceExhausted (more tokens than shape.n_ctx). `path` names the file in messages.
SequenceImage parse_saved_sequence(const std::vector<uint8_t>& bytes, const SequenceShape& expected,
                                   const std::string& path);

// The checksum a file ends with: FNV-1a (64 bits) of its first n bytes.
uint64_t saved_sequence_checksum(const std::vector<uint8_t>& bytes, size_t n);

}  // namespace hearth
