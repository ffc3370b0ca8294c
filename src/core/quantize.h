// Quantizers: float rows -> GGUF block types. Q8_0 and Q4_0 are bit-identical to ggml's reference quantizers
// (the ones llama-quantize uses without an importance matrix), so a file hearth writes holds the same blocks llama.cpp
// would write for the same floats.
// Used by `hearth convert`, `hearth quantize` and `hearth dev make-model`; the backend has its own (vectorized)
// activation quantizers. Every function is pure and thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace hearth {

// n must be a multiple of 32. dst receives n / 32 blocks.
void quantize_row_q8_0(const float* src, BlockQ8_0* dst, int64_t n);
void quantize_row_q4_0(const float* src, BlockQ4_0* dst, int64_t n);

// Q5_0 and Q5_1 (ggml's reference rounding, bit-identical) are what llama-quantize writes instead of Q4_K and
// Q5_K for rows shorter than a K-quant super-block. n must be a multiple of 32.
void quantize_row_q5_0(const float* src, BlockQ5_0* dst, int64_t n);
void quantize_row_q5_1(const float* src, BlockQ5_1* dst, int64_t n);

// K-quants (quantize_k.cpp). n must be a multiple of 256; dst receives n / 256 super-blocks. Not bit-identical
// to ggml: each block's scales come from a search that minimises the plain squared error of the dequantized
// values (ggml's reference minimises a weighted one), so their RMSE is no worse than llama-quantize's without
// an importance matrix (tests/core/quantize_test.cpp and tests/formats/quant_golden_test.cpp check it).
// Q4_K / Q5_K: 8 sub-blocks of 32, each a 6-bit scale and min against F16 d and dmin; q in [0, 15] / [0, 31].
void quantize_row_q4_k(const float* src, BlockQ4_K* dst, int64_t n);
void quantize_row_q5_k(const float* src, BlockQ5_K* dst, int64_t n);
// Q6_K: 16 sub-blocks of 16, each with an int8 scale against an F16 d, q in [-32, 31].
void quantize_row_q6_k(const float* src, BlockQ6_K* dst, int64_t n);

// Whether quantize() supports the type (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K).
bool can_quantize(DType t);
// Converts n_rows rows of row_length floats to `t`, returning the raw bytes as stored in a GGUF tensor.
// Throws Error if the type is unsupported or row_length is not a multiple of its block size.
std::vector<uint8_t> quantize(DType t, const float* src, int64_t n_rows, int64_t row_length);

}  // namespace hearth
