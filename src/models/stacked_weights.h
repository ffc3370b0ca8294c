// Weight matrices of one type stacked row-wise into one, for fused projections (q, k and v as one matmul, which
// also converts the shared input to the activation format once instead of three times). Quantized rows are
// independent, so stacking is exact: each output column is the same dot product as before.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/weights.h"

namespace hearth {

// True when the parts can be stacked: the same type and row length.
inline bool can_stack_rows(const std::vector<WeightTensor>& parts) {
  for (const WeightTensor& t : parts)
    if (t.type != parts.front().type || t.ne.empty() || t.ne[0] != parts.front().ne[0]) return false;
  return !parts.empty();
}

// The parts' rows one after another, in a tensor named `name` whose data lives in `storage` (which must outlive
// the matrix prepared from it: backends may read weights in place).
inline WeightTensor stack_rows(const std::vector<WeightTensor>& parts, const std::string& name,
                               std::vector<uint8_t>& storage) {
  HEARTH_ASSERT(can_stack_rows(parts));
  WeightTensor s = parts.front();
  s.name = name;
  s.ne = {parts.front().ne[0], 0};
  storage.clear();
  for (const WeightTensor& t : parts) {
    const size_t n = row_bytes(t.type, t.ne[0]) * size_t(t.n_rows());
    storage.insert(storage.end(), t.data, t.data + n);
    s.ne[1] += t.n_rows();
  }
  s.data = storage.data();
  s.nbytes = storage.size();
  return s;
}

// Bias vectors (F32/F16/BF16 or a block type) of `width` values each concatenated as floats; a null part is zeros.
inline std::vector<float> stack_biases(const std::vector<const WeightTensor*>& parts, int64_t width,
                                       const std::string& source) {
  std::vector<float> out(parts.size() * size_t(width), 0.0f);
  for (size_t i = 0; i < parts.size(); ++i) {
    const WeightTensor* b = parts[i];
    if (!b) continue;
    if (b->n_elements() != width || !can_dequantize(b->type) || width % traits(b->type).block_size != 0 ||
        b->nbytes < row_bytes(b->type, width))
      fail(ErrorKind::kCorruptData, "{}: tensor '{}' is not a bias of {} values", source, b->name, width);
    dequantize_row(b->type, b->data, out.data() + i * size_t(width), width);
  }
  return out;
}

}  // namespace hearth
