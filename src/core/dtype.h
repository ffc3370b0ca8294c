// Element types of tensors, numbered as the GGUF format numbers them (ggml_type), with the block layouts of
// the quantized types exactly as stored in GGUF files. One block covers `block_size` values in `type_size` bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
  // hearth's own types, numbered far above ggml's ids: llama.cpp cannot read them and rejects the file.
  PAL4G16 = 1000,  // 4-bit palettized: a 16-entry table per 16 rows (src/core/palettize.h)
};

struct DTypeTraits {
  std::string_view name;  // as llama.cpp prints it: "f32", "q8_0", "q4_K", ...
  int64_t block_size;     // values per block (1 for plain types)
  size_t type_size;       // bytes per block
  bool quantized;
  // Rows that share data (PAL4G16's table): a tensor's row count must be a multiple, and a row is decoded with
  // its group (dequantize_tensor_row). 1 for every GGUF type.
  int64_t row_group = 1;
  size_t row_extra = 0;  // bytes each row holds besides its blocks
};

// Traits of a type hearth knows, or nullopt for an id it does not (files may carry such ids).
std::optional<DTypeTraits> dtype_traits(uint32_t id);
const DTypeTraits& traits(DType t);  // t must be known
inline std::string_view dtype_name(DType t) { return traits(t).name; }
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive: "q8_0", "Q4_K", "f16"

// Bytes taken by a row of n values; n must be a multiple of the block size.
inline size_t row_bytes(DType t, int64_t n) {
  const auto& tr = traits(t);
  return size_t(n / tr.block_size) * tr.type_size + tr.row_extra;
}
// Bytes of a tensor of n_rows rows of n values (n a multiple of the block size), or nullopt when n_rows is not a
// multiple of the type's row group or the size overflows 64 bits.
std::optional<uint64_t> tensor_bytes(const DTypeTraits& tr, int64_t n, int64_t n_rows);

// ---- Block layouts (little-endian, packed, as in GGUF). d/m/dmin are IEEE half floats. ----
constexpr int kQK4_0 = 32, kQK4_1 = 32, kQK5_0 = 32, kQK5_1 = 32, kQK8_0 = 32, kQK8_1 = 32;
constexpr int kQK_K = 256, kKScaleSize = 12;

#pragma pack(push, 1)
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK4_0 / 2]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[kQK4_1 / 2]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[kQK5_0 / 2]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[kQK5_1 / 2]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[kQK8_0]; };
struct BlockQ8_1 { uint16_t d, s; int8_t qs[kQK8_1]; };
struct BlockQ2_K { uint8_t scales[kQK_K / 16]; uint8_t qs[kQK_K / 4]; uint16_t d, dmin; };
struct BlockQ3_K { uint8_t hmask[kQK_K / 8]; uint8_t qs[kQK_K / 4]; uint8_t scales[12]; uint16_t d; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[kKScaleSize]; uint8_t qs[kQK_K / 2]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[kKScaleSize]; uint8_t qh[kQK_K / 8]; uint8_t qs[kQK_K / 2]; };
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; uint16_t d; };
// Activation block for K-quant dot products (never stored in files): float scale, int8 values, sums of 16.
struct BlockQ8_K { float d; int8_t qs[kQK_K]; int16_t bsums[kQK_K / 16]; };
#pragma pack(pop)

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// Dequantizes n values of type t (n a multiple of the block size) to float, exactly as the GGUF format
// defines each type (bit-identical to llama.cpp's reference dequantizers). Unsupported types throw Error.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
bool can_dequantize(DType t);
// Row `row` of a tensor of rows of n values that starts at `tensor`: every type can_dequantize accepts, and the
// grouped ones (PAL4G16), whose rows cannot be decoded alone.
void dequantize_tensor_row(DType t, const void* tensor, int64_t n, int64_t row, float* dst);

}  // namespace hearth
