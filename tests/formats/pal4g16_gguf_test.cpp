// PAL4G16 tensors in GGUF files: written and read back byte for byte, and a tensor that is not whole 16-row groups
// refused by the writer and, when a file declares one, by the reader (as corrupt data, never a crash).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/palettize.h"
#include "formats/gguf.h"
#include "formats/weights.h"

namespace hearth {
namespace {

std::vector<uint8_t> pal_bytes(int64_t rows, int64_t cols) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (float& v : x) v = g(rng);
  return palettize(x.data(), rows, cols);
}

TEST(Pal4g16Gguf, RoundTripsByteForByte) {
  const auto bytes = pal_bytes(32, 64);
  GgufWriter w;
  w.add_tensor("blk.0.ffn_up.weight", DType::PAL4G16, {64, 32}, bytes.data(), bytes.size());
  const std::string file = w.serialize();
  Weights read;
  read_gguf(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "pal.gguf", read);
  const WeightTensor& t = read.get("blk.0.ffn_up.weight");
  EXPECT_EQ(t.type, DType::PAL4G16);
  ASSERT_EQ(t.nbytes, bytes.size());
  EXPECT_EQ(std::memcmp(t.data, bytes.data(), bytes.size()), 0);
}

TEST(Pal4g16Gguf, TensorsThatAreNotWholeGroupsAreRefused) {
  const auto bytes = pal_bytes(32, 64);
  GgufWriter w;
  EXPECT_THROW(w.add_tensor("w", DType::PAL4G16, {64, 24}, bytes.data(), row_bytes(DType::PAL4G16, 64) * 24), Error);
  EXPECT_THROW(w.add_tensor("w", DType::PAL4G16, {64, 32}, bytes.data(), bytes.size() - 1), Error);
  EXPECT_THROW(w.add_tensor("w", DType::PAL4G16, {48, 32}, bytes.data(), bytes.size()), Error);  // not 32-value blocks

  // A file whose tensor claims 8 rows: the row count written as 32 is patched after the name.
  GgufWriter ok;
  ok.add_tensor("pal", DType::PAL4G16, {64, 32}, bytes.data(), bytes.size());
  std::string file = ok.serialize();
  const size_t name_at = file.find("pal");
  ASSERT_NE(name_at, std::string::npos);
  const size_t rows_at = name_at + 3 + 4 + 8;  // name, n_dims (u32), ne[0] (u64), then ne[1]
  uint64_t rows = 0;
  std::memcpy(&rows, file.data() + rows_at, 8);
  ASSERT_EQ(rows, 32u);
  rows = 8;
  std::memcpy(file.data() + rows_at, &rows, 8);
  Weights read;
  try {
    read_gguf(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "pal.gguf", read);
    FAIL() << "a PAL4G16 tensor of 8 rows was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptData) << e.what();
    EXPECT_NE(std::string(e.what()).find("row group"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hearth
