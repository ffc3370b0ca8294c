// load_decoder's validation: every fault in a file is an Error naming it, never a crash.
#include <gtest/gtest.h>

#include <functional>

#include "backends/backend.h"
#include "core/error.h"
#include "models/decoder.h"
#include "test_util.h"

namespace hearth {
namespace {

Backend& backend() {
  static std::unique_ptr<Backend> b = make_cpu_backend(1);
  return *b;
}

// A copy of llama-dev.f16 (tensors pointing into the original's memory map) with one change applied.
std::unique_ptr<Weights> altered(const Weights& src, const std::function<void(Weights&, std::vector<WeightTensor>&)>& f) {
  auto w = std::make_unique<Weights>();
  w->set_source("altered");
  w->mutable_metadata() = src.metadata();
  std::vector<WeightTensor> tensors = src.tensors();
  f(*w, tensors);
  for (auto& t : tensors) w->add_tensor(t);
  return w;
}

std::string load_error(const Weights& w) {
  try {
    load_decoder(w, backend());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class DecoderLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    src_ = Weights::open(test::shared_dir() + "/golden/models/llama-dev.f16.gguf");
  }
  std::unique_ptr<Weights> src_;
};

TEST_F(DecoderLoad, ReadsTheHyperParameters) {
  auto m = load_decoder(*src_, backend());
  const DecoderHParams& hp = m->hparams();
  EXPECT_EQ(hp.arch, "llama");
  EXPECT_EQ(hp.n_embd, 128);
  EXPECT_EQ(hp.n_layer, 2);
  EXPECT_EQ(hp.n_head, 4);
  EXPECT_EQ(hp.n_head_kv, 2);
  EXPECT_EQ(hp.head_dim, 32);
  EXPECT_EQ(hp.n_ff, 384);
  EXPECT_EQ(hp.n_vocab, 32000);
  EXPECT_EQ(hp.n_ctx_train, 2048);
  EXPECT_TRUE(hp.tied_output);
  EXPECT_EQ(hp.rope.mode, RopeMode::kNormal);
  auto qwen = Weights::open(test::shared_dir() + "/golden/models/qwen2-dev.f32.gguf");
  auto q = load_decoder(*qwen, backend());
  EXPECT_EQ(q->hparams().rope.mode, RopeMode::kNeox);
  EXPECT_TRUE(q->hparams().qkv_bias);
  EXPECT_FALSE(q->hparams().tied_output);
}

TEST_F(DecoderLoad, UnknownOrEncoderArchitecturesAreNamed) {
  auto w = altered(*src_, [](Weights& w, auto&) { w.mutable_metadata().set_string("general.architecture", "gpt-j7"); });
  EXPECT_NE(load_error(*w).find("gpt-j7"), std::string::npos);
  auto bert = Weights::open(test::shared_dir() + "/golden/models/bert-dev.f16.gguf");
  EXPECT_NE(load_error(*bert).find("encoder"), std::string::npos);
}

TEST_F(DecoderLoad, MissingOrMisshapenTensorsAreNamed) {
  auto missing = altered(*src_, [](Weights&, std::vector<WeightTensor>& t) {
    std::erase_if(t, [](const WeightTensor& x) { return x.name == "blk.1.ffn_up.weight"; });
  });
  EXPECT_NE(load_error(*missing).find("blk.1.ffn_up.weight"), std::string::npos);
  auto shape = altered(*src_, [](Weights&, std::vector<WeightTensor>& t) {
    for (auto& x : t)
      if (x.name == "blk.0.attn_k.weight") {
        x.ne = {128, 32};  // half the rows: the data stays in bounds
        x.nbytes /= 2;
      }
  });
  EXPECT_NE(load_error(*shape).find("blk.0.attn_k.weight"), std::string::npos);
}

TEST_F(DecoderLoad, InconsistentHyperParametersAreErrors) {
  auto heads = altered(*src_, [](Weights& w, auto&) { w.mutable_metadata().set_u32("llama.attention.head_count_kv", 3); });
  EXPECT_NE(load_error(*heads).find("KV heads"), std::string::npos);
  auto zero = altered(*src_, [](Weights& w, auto&) { w.mutable_metadata().set_u32("llama.attention.head_count", 0); });
  EXPECT_NE(load_error(*zero).find("head_count"), std::string::npos);
  auto rope = altered(*src_, [](Weights& w, auto&) { w.mutable_metadata().set_u32("llama.rope.dimension_count", 33); });
  EXPECT_FALSE(load_error(*rope).empty());
  auto scaling =
      altered(*src_, [](Weights& w, auto&) { w.mutable_metadata().set_string("llama.rope.scaling.type", "yarn"); });
  EXPECT_NE(load_error(*scaling).find("yarn"), std::string::npos);
  auto no_key = altered(*src_, [](Weights&, auto&) {});
  EXPECT_TRUE(load_error(*no_key).empty());
}

TEST_F(DecoderLoad, CacheRejectsBadSizes) {
  auto m = load_decoder(*src_, backend());
  EXPECT_THROW(m->new_cache(0, 1), Error);
  EXPECT_THROW(m->new_cache(16, 0), Error);
  EXPECT_THROW(m->new_cache(1 << 30, 64), Error);
  auto c = m->new_cache(16, 2);
  EXPECT_THROW(c->truncate(0, 1), Error);
  EXPECT_THROW(c->length(5), Error);
}

}  // namespace
}  // namespace hearth
