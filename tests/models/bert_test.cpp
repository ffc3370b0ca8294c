// BERT loading: hyper-parameter and tensor validation on small synthetic files, the registry's messages, and
// input validation of embed(). Numerical parity with llama.cpp is in bert_parity_test.cpp.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "backends/backend.h"
#include "core/error.h"
#include "core/fp16.h"
#include "formats/gguf.h"
#include "models/bert.h"
#include "models/registry.h"
#include "error_kind_util.h"
#include "test_util.h"

namespace hearth {
namespace {

constexpr int64_t kH = 32, kF = 64, kVocab = 50, kCtx = 16;

// A tiny random BERT as named F32 tensors plus metadata; tests edit it, then load it.
struct TinyBert {
  Metadata meta;
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tensors;
  std::set<std::string> f16;  // tensors stored as F16 instead of F32
  std::string image;  // serialized GGUF; the loaded Weights point into it

  explicit TinyBert(bool fused_qkv = false) {
    meta.set_string("general.architecture", "bert");
    meta.set_u32("bert.block_count", 1);
    meta.set_u32("bert.embedding_length", kH);
    meta.set_u32("bert.feed_forward_length", kF);
    meta.set_u32("bert.attention.head_count", 2);
    meta.set_f32("bert.attention.layer_norm_epsilon", 1e-12f);
    meta.set_u32("bert.context_length", kCtx);
    meta.set_u32("bert.pooling_type", 1);
    std::mt19937 rng(7);
    std::normal_distribution<float> n(0.0f, 0.2f);
    auto add = [&](const std::string& name, std::vector<int64_t> ne, float mean = 0.0f) {
      int64_t count = 1;
      for (int64_t d : ne) count *= d;
      std::vector<float> v(static_cast<size_t>(count));
      for (float& x : v) x = mean + n(rng);
      tensors[name] = {std::move(ne), std::move(v)};
    };
    add("token_embd.weight", {kH, kVocab});
    add("position_embd.weight", {kH, kCtx});
    add("token_types.weight", {kH, 2});
    add("token_embd_norm.weight", {kH}, 1.0f);
    add("token_embd_norm.bias", {kH});
    add("blk.0.attn_q.weight", {kH, kH});
    add("blk.0.attn_k.weight", {kH, kH});
    add("blk.0.attn_v.weight", {kH, kH});
    add("blk.0.attn_q.bias", {kH});
    add("blk.0.attn_k.bias", {kH});
    add("blk.0.attn_v.bias", {kH});
    add("blk.0.attn_output.weight", {kH, kH});
    add("blk.0.attn_output.bias", {kH});
    add("blk.0.attn_output_norm.weight", {kH}, 1.0f);
    add("blk.0.attn_output_norm.bias", {kH});
    add("blk.0.ffn_up.weight", {kH, kF});
    add("blk.0.ffn_up.bias", {kF});
    add("blk.0.ffn_down.weight", {kF, kH});
    add("blk.0.ffn_down.bias", {kH});
    add("blk.0.layer_output_norm.weight", {kH}, 1.0f);
    add("blk.0.layer_output_norm.bias", {kH});
    if (fused_qkv) fuse_qkv();
  }

  // Same numbers, stored as llama.cpp's fused attn_qkv (rows q, then k, then v).
  void fuse_qkv() {
    for (const char* kind : {"weight", "bias"}) {
      std::vector<float> all;
      for (const char* part : {"q", "k", "v"}) {
        const std::string name = std::string("blk.0.attn_") + part + "." + kind;
        all.insert(all.end(), tensors[name].second.begin(), tensors[name].second.end());
        tensors.erase(name);
      }
      std::vector<int64_t> ne = std::string(kind) == "weight" ? std::vector<int64_t>{kH, 3 * kH}
                                                              : std::vector<int64_t>{3 * kH};
      tensors[std::string("blk.0.attn_qkv.") + kind] = {ne, all};
    }
  }

  std::unique_ptr<Weights> weights() {
    GgufWriter w;
    for (const auto& [key, value] : meta.entries()) w.metadata().set(key, value);
    std::vector<std::vector<uint16_t>> halves;  // F16 copies, alive until serialize()
    for (const auto& [name, t] : tensors) {
      if (!f16.count(name)) {
        w.add_tensor(name, DType::F32, t.first, t.second.data(), t.second.size() * sizeof(float));
        continue;
      }
      halves.emplace_back();
      for (float v : t.second) halves.back().push_back(fp32_to_fp16(v));
      w.add_tensor(name, DType::F16, t.first, halves.back().data(), halves.back().size() * sizeof(uint16_t));
    }
    image = w.serialize();
    auto out = std::make_unique<Weights>();
    out->set_source("tiny.gguf");
    read_gguf(reinterpret_cast<const uint8_t*>(image.data()), image.size(), "tiny.gguf", *out);
    return out;
  }
};

// Loading fails with an Error of `kind` whose message names `fragment`; a faulty file is the default kind.
void expect_load_error(TinyBert& m, const std::string& fragment, ErrorKind kind = ErrorKind::kCorruptData) {
  auto backend = make_cpu_backend(1);
  auto w = m.weights();
  try {
    load_encoder(*w, *backend);
    ADD_FAILURE() << "loaded without error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_STREQ(to_string(e.kind()), to_string(kind)) << e.what();
  }
}

TEST(Bert, LoadsTinyModelAndReadsHyperParameters) {
  TinyBert m;
  auto w = m.weights();
  const BertHParams hp = read_bert_hparams(*w);
  EXPECT_EQ(hp.n_layer, 1);
  EXPECT_EQ(hp.n_embd, kH);
  EXPECT_EQ(hp.n_head, 2);
  EXPECT_EQ(hp.n_vocab, kVocab);
  auto backend = make_cpu_backend(1);
  auto model = load_encoder(*w, *backend);
  EXPECT_EQ(model->dim(), kH);
  EXPECT_EQ(model->max_tokens(), kCtx);
  const auto out = model->embed({{1, 2, 3}, {4}}, model->default_options());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].size(), size_t(kH));
}

TEST(Bert, FusedQkvGivesTheSameEmbeddings) {
  TinyBert separate, fused(true);
  auto backend = make_cpu_backend(1);
  auto ws = separate.weights(), wf = fused.weights();
  auto ms = load_encoder(*ws, *backend), mf = load_encoder(*wf, *backend);
  const std::vector<std::vector<int32_t>> ids = {{1, 5, 9, 2}, {3, 3}};
  const auto a = ms->embed(ids, ms->default_options()), b = mf->embed(ids, mf->default_options());
  for (size_t s = 0; s < ids.size(); ++s)
    for (size_t i = 0; i < a[s].size(); ++i) EXPECT_FLOAT_EQ(a[s][i], b[s][i]);
}

// q, k and v of different types cannot be stacked: three matmuls, then attention. A missing bias is zeros.
TEST(Bert, QkvOfDifferentTypesStaySeparate) {
  TinyBert mixed, reference;
  for (TinyBert* m : {&mixed, &reference}) {
    for (float& v : m->tensors["blk.0.attn_k.weight"].second) v = fp16_to_fp32(fp32_to_fp16(v));  // F16-exact
    for (float& v : m->tensors["blk.0.attn_v.bias"].second) v = 0.0f;
  }
  mixed.f16.insert("blk.0.attn_k.weight");
  mixed.tensors.erase("blk.0.attn_v.bias");
  auto backend = make_cpu_backend(1);
  auto wm = mixed.weights(), wr = reference.weights();
  auto mm = load_encoder(*wm, *backend), mr = load_encoder(*wr, *backend);
  const std::vector<std::vector<int32_t>> ids = {{1, 5, 9, 2}, {3, 3}};
  const auto a = mm->embed(ids, mm->default_options()), b = mr->embed(ids, mr->default_options());
  // The F16 matrix multiplies F16-rounded activations: the keys move by about 2^-11 relative, no more.
  for (size_t s = 0; s < ids.size(); ++s)
    for (size_t i = 0; i < a[s].size(); ++i) EXPECT_NEAR(a[s][i], b[s][i], 2e-3) << s << "," << i;
}

TEST(Bert, MissingTensorIsNamed) {
  TinyBert m;
  m.tensors.erase("blk.0.ffn_up.weight");
  expect_load_error(m, "blk.0.ffn_up.weight");
}

TEST(Bert, WrongShapeIsNamed) {
  TinyBert m;
  m.tensors["blk.0.ffn_down.weight"].first = {kH, kF};
  expect_load_error(m, "blk.0.ffn_down.weight");
  TinyBert p;
  p.meta.set_u32("bert.context_length", kCtx * 2);  // more positions than the table has rows
  expect_load_error(p, "position_embd.weight");
}

TEST(Bert, BadHyperParametersAreNamed) {
  TinyBert a;
  a.meta = Metadata();
  a.meta.set_string("general.architecture", "bert");
  expect_load_error(a, "bert.block_count");
  TinyBert b;
  b.meta.set_u32("bert.attention.head_count", 5);
  expect_load_error(b, "head_count");
  TinyBert c;
  c.meta.set_u32("bert.pooling_type", 7);
  expect_load_error(c, "bert.pooling_type");
  TinyBert d;
  d.meta.set_bool("bert.attention.causal", true);
  expect_load_error(d, "causal", ErrorKind::kUnsupported);
  TinyBert e;
  e.meta.set_f32("bert.attention.layer_norm_epsilon", -1.0f);
  expect_load_error(e, "layer_norm_epsilon");
}

TEST(Registry, DecoderAndUnknownArchitectures) {
  TinyBert m;
  m.meta.set_string("general.architecture", "llama");
  expect_load_error(m, "tiny.gguf: 'llama' is a decoder model; embeddings need an encoder (bert",
                    ErrorKind::kInvalidArgument);
  TinyBert u;
  u.meta.set_string("general.architecture", "frobnicator");
  expect_load_error(u, "unknown architecture 'frobnicator'", ErrorKind::kUnsupported);
}

TEST(Bert, RejectsBadSequences) {
  TinyBert m;
  auto w = m.weights();
  auto backend = make_cpu_backend(1);
  auto model = load_encoder(*w, *backend);
  const EmbedOptions o = model->default_options();
  EXPECT_THROW(model->embed({{1, int32_t(kVocab)}}, o), Error);
  EXPECT_THROW(model->embed({{-1}}, o), Error);
  EXPECT_THROW(model->embed({{1}, {}}, o), Error);
  // Out of context room, not a bad token.
  EXPECT_EQ(test::thrown_kind([&] { model->embed({std::vector<int32_t>(kCtx + 1, 1)}, o); }),
            to_string(ErrorKind::kResourceExhausted));
  EXPECT_NO_THROW(model->embed({std::vector<int32_t>(kCtx, 1)}, o));
  EXPECT_TRUE(model->embed({}, o).empty());
}

}  // namespace
}  // namespace hearth
