// core/quantize.h against llama-quantize: bert-dev.q8_0.gguf was made by llama-quantize from the same master
// as bert-dev.f16.gguf; re-quantizing the F16 copy's matrices must give the same Q8_0 blocks, bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/fp16.h"
#include "core/quantize.h"
#include "formats/weights.h"
#include "models/bert_golden.h"

namespace hearth {
namespace {

TEST(BertQuantize, Q8_0MatchesLlamaQuantize) {
  HEARTH_REQUIRE_SHARED();
  auto f16 = Weights::open(test::shared_model("bert-dev.f16.gguf"));
  auto q8 = Weights::open(test::shared_model("bert-dev.q8_0.gguf"));
  int compared = 0;
  for (const WeightTensor& t : q8->tensors()) {
    if (t.type != DType::Q8_0) continue;
    const WeightTensor& src = f16->get(t.name, t.ne);
    ASSERT_EQ(src.type, DType::F16) << t.name;
    std::vector<float> x(size_t(src.n_elements()));
    for (size_t i = 0; i < x.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, src.data + 2 * i, 2);
      x[i] = fp16_to_fp32(h);
    }
    const auto bytes = quantize(DType::Q8_0, x.data(), src.n_rows(), src.row_length());
    ASSERT_EQ(bytes.size(), t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(bytes.data(), t.data, t.nbytes), 0) << t.name << " differs from llama-quantize's blocks";
    ++compared;
  }
  EXPECT_EQ(compared, 12 + 1);  // 12 layer matrices + token_embd
}

}  // namespace
}  // namespace hearth
