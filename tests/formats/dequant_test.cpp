// dequantize_row: hand-built blocks with values worked out from the GGUF block definitions, and bit-for-bit
// agreement with rows that llama.cpp's gguf-py dequantized (golden/kquant/dequant.json).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <set>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/mapped_file.h"
#include "formats/weights.h"
#include "test_util.h"

namespace hearth {
namespace {

template <typename Block>
std::vector<float> dq(DType t, const Block& b) {
  std::vector<float> y(size_t(traits(t).block_size), -999.0f);
  dequantize_row(t, &b, y.data(), int64_t(y.size()));
  return y;
}

constexpr uint16_t kHalf = 0x3800, kOne = 0x3C00, kTwo = 0x4000, kMinusOne = 0xBC00, kQuarter = 0x3400;

TEST(DequantTest, Q4_0) {
  BlockQ4_0 b{};
  b.d = kHalf;
  std::memset(b.qs, 0x88, sizeof b.qs);  // every value 8 - 8 = 0
  b.qs[0] = 0x1F;                        // value 0: (15 - 8) * 0.5; value 16: (1 - 8) * 0.5
  auto y = dq(DType::Q4_0, b);
  EXPECT_EQ(y[0], 3.5f);
  EXPECT_EQ(y[16], -3.5f);
  for (int i : {1, 15, 17, 31}) EXPECT_EQ(y[i], 0.0f);
}

TEST(DequantTest, Q4_1) {
  BlockQ4_1 b{};
  b.d = kTwo;
  b.m = kMinusOne;
  b.qs[0] = 0xF0;  // value 0: 0 * 2 - 1; value 16: 15 * 2 - 1
  auto y = dq(DType::Q4_1, b);
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[16], 29.0f);
  EXPECT_EQ(y[5], -1.0f);
}

TEST(DequantTest, Q5_0) {
  BlockQ5_0 b{};
  b.d = kOne;
  b.qs[0] = 0x03;
  b.qh[0] = 0x01;  // fifth bit of value 0 set: (3 | 16) - 16 = 3
  b.qh[2] = 0x02;  // bit 17 = fifth bit of value 17
  b.qs[1] = 0x40;  // value 17 low bits 4: (4 | 16) - 16 = 4
  auto y = dq(DType::Q5_0, b);
  EXPECT_EQ(y[0], 3.0f);
  EXPECT_EQ(y[16], -16.0f);  // all bits clear
  EXPECT_EQ(y[17], 4.0f);
  EXPECT_EQ(y[1], -16.0f);
}

TEST(DequantTest, Q5_1) {
  BlockQ5_1 b{};
  b.d = kQuarter;
  b.m = kOne;
  b.qs[1] = 0x2F;
  b.qh[0] = 0x02;  // value 1: 31 * 0.25 + 1
  b.qh[2] = 0x02;  // value 17: (2 | 16) * 0.25 + 1
  auto y = dq(DType::Q5_1, b);
  EXPECT_EQ(y[1], 8.75f);
  EXPECT_EQ(y[17], 5.5f);
  EXPECT_EQ(y[0], 1.0f);
}

TEST(DequantTest, Q8_0) {
  BlockQ8_0 b{};
  b.d = kHalf;
  for (int i = 0; i < 32; ++i) b.qs[i] = int8_t(i - 16);
  auto y = dq(DType::Q8_0, b);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], float(i - 16) * 0.5f) << i;
}

TEST(DequantTest, Q2_K) {
  BlockQ2_K b{};
  b.d = kOne;
  b.dmin = kHalf;
  b.scales[0] = 0x23;     // group 0 (values 0..15): scale 3, min 2 * 0.5
  b.scales[2] = 0x11;     // group 2 (values 32..47, bits 2-3 of q[0..15]): scale 1, min 0.5
  b.scales[8] = 0x05;     // group 8 (values 128..143, bits 0-1 of q[32..47]): scale 5
  b.qs[0] = 0b00001011;   // value 0 = 3, value 32 = 2
  b.qs[32] = 0b01;        // value 128 = 1
  auto y = dq(DType::Q2_K, b);
  EXPECT_EQ(y[0], 3 * 3 - 1.0f);
  EXPECT_EQ(y[1], -1.0f);  // q 0, same group
  EXPECT_EQ(y[32], 2 * 1 - 0.5f);
  EXPECT_EQ(y[128], 5.0f);
  EXPECT_EQ(y[16], 0.0f);
}

TEST(DequantTest, Q3_K) {
  BlockQ3_K b{};
  b.d = kOne;
  // Every 6-bit scale 32 (= 0 after the offset): low nibbles 0, high bits 0b10 everywhere.
  std::memset(b.scales + 8, 0xAA, 4);
  b.scales[0] = 0x01;                  // scale 0 = 33 -> +1
  b.scales[7] = 0xF0;                  // scale 15 low nibble 15 ...
  b.scales[11] = 0x6A;                 // ... high bits (bits 6-7 of byte 11) 01: 31 -> -1
  b.qs[0] = 0b10;                      // value 0: low bits 2
  b.hmask[0] = 0x01;                   // value 0: high bit set -> 2 (not 2 - 4)
  b.qs[63] = 0b11000000;               // value 255: second half, shift 6, second 16 -> q[32 + 16 + 15]
  b.hmask[31] = 0x80;                  // its high bit (the 8th plane)
  auto y = dq(DType::Q3_K, b);
  EXPECT_EQ(y[0], 2.0f);
  EXPECT_EQ(y[1], -4.0f);  // q 0, high bit clear: 0 - 4, scale +1
  EXPECT_EQ(y[255], -3.0f);
  EXPECT_EQ(y[254], 4.0f);  // q 0, high bit clear, scale -1
  EXPECT_EQ(y[100], 0.0f);  // scale 0
}

TEST(DequantTest, Q4_K) {
  BlockQ4_K b{};
  b.d = kOne;
  b.dmin = kOne;
  b.scales[0] = 0x42;   // sub-block 0 scale 2; top bits (01) feed sub-block 4's scale
  b.scales[4] = 0x01;   // sub-block 0 min 1
  b.scales[1] = 0x04;   // sub-block 1 scale 4, min 0
  b.scales[8] = 0x21;   // sub-block 4: scale 1 | (1 << 4) = 17, min 2
  b.qs[0] = 0x35;       // value 0 = 5, value 32 = 3
  b.qs[64] = 0x07;      // value 128 (sub-block 4) = 7
  auto y = dq(DType::Q4_K, b);
  EXPECT_EQ(y[0], 2 * 5 - 1.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[32], 12.0f);
  EXPECT_EQ(y[128], 17 * 7 - 2.0f);
  EXPECT_EQ(y[160], 0.0f);  // sub-block 5: scale 0, min 0
}

TEST(DequantTest, Q5_K) {
  BlockQ5_K b{};
  b.d = kHalf;
  b.dmin = kOne;
  b.scales[0] = 3;      // sub-block 0: 1.5
  b.scales[2] = 1;      // sub-block 2: 0.5
  b.scales[5] = 2;      // sub-block 1 min 2
  b.qs[0] = 0x02;
  b.qh[0] = 0x01 | 0x04;  // value 0 fifth bit (plane 0); value 64 fifth bit (plane 2)
  b.qs[32] = 0x0F;        // value 64 low bits 15
  auto y = dq(DType::Q5_K, b);
  EXPECT_EQ(y[0], 1.5f * 18);
  EXPECT_EQ(y[32], -2.0f);  // scale 0, min 2
  EXPECT_EQ(y[64], 0.5f * 31);
  EXPECT_EQ(y[65], 0.0f);
}

TEST(DequantTest, Q6_K) {
  BlockQ6_K b{};
  b.d = kQuarter;
  b.scales[0] = -2;
  b.scales[4] = 1;
  b.ql[0] = 0x0A;
  b.qh[0] = 0b10;  // value 0: (10 | 2 << 4) - 32 = 10
  auto y = dq(DType::Q6_K, b);
  EXPECT_EQ(y[0], 0.25f * -2 * 10);
  EXPECT_EQ(y[64], 0.25f * 1 * -32);  // value 64 uses scale 4 and all-zero bits
  EXPECT_EQ(y[1], 0.25f * -2 * -32);
  EXPECT_EQ(y[16], 0.0f);             // scale 1 is 0
}

TEST(DequantTest, PlainTypes) {
  const uint16_t h[4] = {0x3C00, 0xC000, 0x7BFF, 0x0001};
  float y[4];
  dequantize_row(DType::F16, h, y, 4);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_EQ(y[2], 65504.0f);
  EXPECT_EQ(y[3], 5.9604644775390625e-08f);
  const uint16_t bf[2] = {0x3F80, 0xC0A0};
  dequantize_row(DType::BF16, bf, y, 2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -5.0f);
  const float f[3] = {1.5f, -0.0f, 3e38f};
  dequantize_row(DType::F32, f, y, 3);
  EXPECT_EQ(std::memcmp(y, f, sizeof f), 0);
}

TEST(DequantTest, RejectsUnsupportedTypesAndPartialBlocks) {
  uint8_t buf[512] = {};
  float y[256];
  EXPECT_FALSE(can_dequantize(DType::Q8_K));
  EXPECT_FALSE(can_dequantize(DType::I32));
  EXPECT_TRUE(can_dequantize(DType::Q3_K));
  EXPECT_THROW(dequantize_row(DType::Q8_K, buf, y, 256), Error);
  EXPECT_THROW(dequantize_row(DType::Q4_0, buf, y, 31), Error);
}

TEST(DequantGoldenTest, BitExactAgainstLlamaCpp) {
  HEARTH_REQUIRE_SHARED();
  namespace fs = std::filesystem;
  const fs::path g = fs::path(test::shared_dir()) / "golden";
  const auto doc = nlohmann::json::parse(read_file((g / "kquant" / "dequant.json").string()));
  int checked = 0;
  std::set<std::string> types;
  for (const auto& t : doc.at("tensors")) {
    const std::string file = t.at("file");
    const fs::path path = fs::exists(g / "kquant" / file) ? g / "kquant" / file : g / "models" / file;
    auto w = Weights::open(path.string());
    const WeightTensor& tensor = w->get(t.at("tensor"));
    const std::string type = t.at("type");
    ASSERT_EQ(dtype_from_name(type), tensor.type) << file << " " << tensor.name;
    const int64_t n = t.at("row_length");
    ASSERT_EQ(tensor.row_length(), n);
    const size_t rb = row_bytes(tensor.type, n);
    std::vector<float> row(static_cast<size_t>(n));
    for (size_t r = 0; r < t.at("rows").size(); ++r) {
      dequantize_row(tensor.type, tensor.data + r * rb, row.data(), n);
      const auto& expect = t.at("rows")[r];
      ASSERT_EQ(expect.size(), size_t(n));
      for (int64_t i = 0; i < n; ++i) {
        const float e = float(expect[size_t(i)].get<double>());
        ASSERT_EQ(fp32_to_bits(row[size_t(i)]), fp32_to_bits(e))
            << file << " " << tensor.name << " row " << r << " col " << i << ": " << row[size_t(i)] << " vs " << e;
      }
      ++checked;
    }
    types.insert(type);
  }
  EXPECT_EQ(checked, 24);
  EXPECT_EQ(types, (std::set<std::string>{"Q4_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K"}));
}

}  // namespace
}  // namespace hearth
