// PAL4G16: 4-bit palettized weights, as Core ML's palettize_weights(nbits=4, granularity="per_grouped_channel",
// group_size=16, enable_per_channel_scale=True) defines them: every group of 16 consecutive rows (output channels)
// shares a 16-entry table fitted by k-means, each row has its own scale, and weight j of row r is
// scale[r] * table[index[r][j]].
//
// Stored row by row so that row-oriented code (row_bytes, row strides, GGUF sizes) holds: row r carries entry
// r % 16 of its group's table and its own scale (two IEEE halves), then its indices, 16 bytes per 32 values in
// Q4_0's nibble order (byte i: value i in the low nibble, value i + 16 in the high one). A group of 16 rows holds
// its whole table, so a row is decoded together with its group (dequantize_tensor_row), never alone.
// hearth's own type id (DType::PAL4G16 = 1000): llama.cpp does not know it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace hearth {

constexpr int kPalGroupRows = 16;  // rows sharing one table
constexpr int kPalEntries = 16;    // table entries: 4-bit indices
constexpr int kPalBlock = 32;      // values per 16 bytes of indices
constexpr int kPalRowHeader = 4;   // bytes before a row's indices: its table entry, then its scale (F16 each)

// Whether n_rows rows of n values can be palettized: n a multiple of 32, n_rows a positive multiple of 16.
// Others (1-D tensors, odd shapes) stay in another type; the caller chooses which.
bool can_palettize(int64_t n, int64_t n_rows);
// The type a tensor takes when PAL4G16 is asked for: PAL4G16 where can_palettize holds, else Q8_0 where its rows
// are whole 32-value blocks, else F16.
DType pal4g16_or_fallback(int64_t n, int64_t n_rows);

// Palettizes n_rows rows of n floats (can_palettize must hold; non-finite values throw Error): per row an absmax
// scale, per group the table of weighted k-means (Lloyd's, from quantile and from uniform starts, the better
// kept) over the scaled values. Deterministic. Returns the bytes as stored in a GGUF tensor.
std::vector<uint8_t> palettize(const float* src, int64_t n_rows, int64_t n);

// The table of the group whose first row starts at `group` (rows row_stride bytes apart).
void pal_group_table(const void* group, size_t row_stride, float table[kPalEntries]);
// Row `row` of a PAL4G16 tensor of rows of n values starting at `tensor`.
void dequantize_pal4g16_row(const void* tensor, int64_t n, int64_t row, float* dst);

}  // namespace hearth
