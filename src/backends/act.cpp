#include "backends/backend.h"

#include "core/error.h"

namespace hearth {

Act Act::slice_rows(int64_t begin, int64_t count) const {
  HEARTH_ASSERT(begin >= 0 && count >= 0 && begin + count <= rows);
  Act a = *this;
  a.data = static_cast<uint8_t*>(data) + size_t(begin) * row_bytes(type, cols);
  a.rows = count;
  return a;
}

Act Act::reshape(int64_t new_cols) const {
  HEARTH_ASSERT(new_cols > 0 && (rows * cols) % new_cols == 0);
  Act a = *this;
  a.rows = rows * cols / new_cols;
  a.cols = new_cols;
  return a;
}

}  // namespace hearth
