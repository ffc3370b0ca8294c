#include "core/dtype.h"

#include <array>
#include <cctype>
#include <string>

#include "core/error.h"
#include "core/palettize.h"

namespace hearth {
namespace {

struct Entry {
  DType type;
  DTypeTraits traits;
};

constexpr std::array<Entry, 21> kTable = {{
    {DType::F32, {"f32", 1, 4, false}},
    {DType::F16, {"f16", 1, 2, false}},
    {DType::Q4_0, {"q4_0", kQK4_0, sizeof(BlockQ4_0), true}},
    {DType::Q4_1, {"q4_1", kQK4_1, sizeof(BlockQ4_1), true}},
    {DType::Q5_0, {"q5_0", kQK5_0, sizeof(BlockQ5_0), true}},
    {DType::Q5_1, {"q5_1", kQK5_1, sizeof(BlockQ5_1), true}},
    {DType::Q8_0, {"q8_0", kQK8_0, sizeof(BlockQ8_0), true}},
    {DType::Q8_1, {"q8_1", kQK8_1, sizeof(BlockQ8_1), true}},
    {DType::Q2_K, {"q2_K", kQK_K, sizeof(BlockQ2_K), true}},
    {DType::Q3_K, {"q3_K", kQK_K, sizeof(BlockQ3_K), true}},
    {DType::Q4_K, {"q4_K", kQK_K, sizeof(BlockQ4_K), true}},
    {DType::Q5_K, {"q5_K", kQK_K, sizeof(BlockQ5_K), true}},
    {DType::Q6_K, {"q6_K", kQK_K, sizeof(BlockQ6_K), true}},
    {DType::Q8_K, {"q8_K", kQK_K, sizeof(BlockQ8_K), true}},
    {DType::I8, {"i8", 1, 1, false}},
    {DType::I16, {"i16", 1, 2, false}},
    {DType::I32, {"i32", 1, 4, false}},
    {DType::I64, {"i64", 1, 8, false}},
    {DType::F64, {"f64", 1, 8, false}},
    {DType::BF16, {"bf16", 1, 2, false}},
    {DType::PAL4G16, {"pal4g16", kPalBlock, kPalBlock / 2, true, kPalGroupRows, kPalRowHeader}},
}};

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
  for (const auto& e : kTable)
    if (static_cast<uint32_t>(e.type) == id) return e.traits;
  return std::nullopt;
}

const DTypeTraits& traits(DType t) {
  for (const auto& e : kTable)
    if (e.type == t) return e.traits;
  HEARTH_ASSERT(false && "unknown dtype");
  __builtin_unreachable();
}

std::optional<uint64_t> tensor_bytes(const DTypeTraits& tr, int64_t n, int64_t n_rows) {
  if (n < 0 || n_rows < 0 || n_rows % tr.row_group != 0) return std::nullopt;
  uint64_t bytes = 0;
  const uint64_t row = uint64_t(n / tr.block_size) * tr.type_size + tr.row_extra;
  if (__builtin_mul_overflow(row, uint64_t(n_rows), &bytes)) return std::nullopt;
  return bytes;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kTable) {
    std::string n(e.traits.name);
    for (auto& c : n) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (n == lower) return e.type;
  }
  return std::nullopt;
}

}  // namespace hearth
