// The Reranker: pair framing (BERT's segments, XLM-RoBERTa's double separator), longest-first truncation, batching,
// and refusals, on tiny random cross-encoders written here (the head's numbers themselves are checked against an
// independent forward pass in tests/models/cross_encoder_test.cpp).
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "runtime/embedder.h"
#include "runtime/reranker.h"
#include "error_kind_util.h"
#include "test_util.h"

namespace hearth {
namespace {

// A tiny BERT-shaped encoder (2 layers, width 32) with a classification head; `tokenizer_keys` supplies the
// vocabulary (copied verbatim, as `hearth dev make-model` does). n_types 2 for BERT, 1 for XLM-RoBERTa.
std::shared_ptr<Weights> tiny_cross_encoder(const Metadata& tokenizer_keys, int n_types, int ctx, bool head = true) {
  const int64_t H = 32, F = 64;
  const int64_t n_vocab = int64_t(tokenizer_keys.find_strings("tokenizer.ggml.tokens")->size());
  auto image = std::make_shared<std::string>();
  GgufWriter w;
  for (const auto& [k, v] : tokenizer_keys.entries()) w.metadata().set(k, v);
  Metadata& m = w.metadata();
  m.set_string("general.architecture", "bert");
  m.set_u32("bert.block_count", 2);
  m.set_u32("bert.embedding_length", uint32_t(H));
  m.set_u32("bert.feed_forward_length", uint32_t(F));
  m.set_u32("bert.attention.head_count", 2);
  m.set_f32("bert.attention.layer_norm_epsilon", 1e-12f);
  m.set_u32("bert.context_length", uint32_t(ctx));
  m.set_u32("bert.pooling_type", head ? 4 : 2);
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<std::vector<float>> keep;
  auto add = [&](const std::string& name, std::vector<int64_t> ne, float sd, float mean = 0) {
    int64_t count = 1;
    for (int64_t d : ne) count *= d;
    keep.emplace_back(size_t(count));
    for (float& x : keep.back()) x = mean + sd * n(rng);
    w.add_tensor(name, DType::F32, ne, keep.back().data(), keep.back().size() * sizeof(float));
  };
  add("token_embd.weight", {H, n_vocab}, 0.5f);
  add("position_embd.weight", {H, ctx}, 0.5f);
  add("token_types.weight", {H, n_types}, 0.5f);
  add("token_embd_norm.weight", {H}, 0.1f, 1.0f);
  add("token_embd_norm.bias", {H}, 0.1f);
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    for (const char* x : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      add(p + x + ".weight", {H, H}, 0.25f);
      add(p + x + ".bias", {H}, 0.1f);
    }
    add(p + "attn_output_norm.weight", {H}, 0.1f, 1.0f);
    add(p + "attn_output_norm.bias", {H}, 0.1f);
    add(p + "ffn_up.weight", {H, F}, 0.2f);
    add(p + "ffn_up.bias", {F}, 0.1f);
    add(p + "ffn_down.weight", {F, H}, 0.15f);
    add(p + "ffn_down.bias", {H}, 0.1f);
    add(p + "layer_output_norm.weight", {H}, 0.1f, 1.0f);
    add(p + "layer_output_norm.bias", {H}, 0.1f);
  }
  if (head) {
    add("cls.weight", {H, H}, 0.3f);
    add("cls.bias", {H}, 0.1f);
    add("cls.output.weight", {H, 1}, 0.5f);
    add("cls.output.bias", {1}, 0.2f);
  }
  *image = w.serialize();
  auto weights = std::shared_ptr<Weights>(new Weights(), [image](Weights* p) { delete p; });
  weights->set_source("tiny-rerank.gguf");
  read_gguf(reinterpret_cast<const uint8_t*>(image->data()), image->size(), "tiny-rerank.gguf", *weights);
  return weights;
}

Metadata bge_vocab() {
  const auto vocab = Weights::open(test::shared_dir() + "/golden/tokenizer/ggml-vocab-bert-bge.gguf");
  Metadata keys;
  for (const auto& [k, v] : vocab->metadata().entries())
    if (k.rfind("tokenizer.", 0) == 0) keys.set(k, v);
  return keys;
}

// XLM-RoBERTa's layout of a unigram vocabulary: <s> <pad> </s> <unk>, then pieces.
Metadata t5_vocab() {
  Metadata md;
  const std::vector<std::string> tokens = {"<s>", "<pad>", "</s>", "<unk>", "\u2581", "\u2581the", "\u2581cat",
                                           "\u2581sat", "\u2581dog", "\u2581ran", "s", "a", "t", "c", "d", "o"};
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (size_t i = 0; i < tokens.size(); ++i) {
    scores.push_back(i < 4 ? 0.0f : -float(i));
    types.push_back(i == 3 ? 2 : i < 3 ? 3 : 1);
  }
  md.set_string("tokenizer.ggml.model", "t5");
  md.set_strings("tokenizer.ggml.tokens", tokens);
  md.set_f32s("tokenizer.ggml.scores", scores);
  md.set_i32s("tokenizer.ggml.token_type", types);
  md.set_u32("tokenizer.ggml.bos_token_id", 0);
  md.set_u32("tokenizer.ggml.eos_token_id", 2);
  md.set_u32("tokenizer.ggml.unknown_token_id", 3);
  md.set_u32("tokenizer.ggml.seperator_token_id", 2);
  md.set_u32("tokenizer.ggml.padding_token_id", 1);
  md.set_bool("tokenizer.ggml.add_bos_token", true);
  md.set_bool("tokenizer.ggml.add_eos_token", true);
  return md;
}

std::vector<int32_t> concat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(Reranker, BertPairsHaveSegments) {
  HEARTH_REQUIRE_SHARED();
  auto backend = make_cpu_backend(2);
  const Reranker r(tiny_cross_encoder(bge_vocab(), 2, 64), *backend);
  const Tokenizer& tok = r.tokenizer();
  const auto q = r.tokenize_query("what is a cat");
  const PairTokens p = r.tokenize_pair(q, "a cat is an animal");
  const auto d = tok.encode("a cat is an animal", false);
  // [CLS]=101 query [SEP]=102 document [SEP]: segment 0 through the first [SEP], 1 after it.
  EXPECT_EQ(p.ids, concat({{101}, q, {102}, d, {102}}));
  std::vector<int32_t> types(q.size() + 2, 0);
  types.resize(p.ids.size(), 1);
  EXPECT_EQ(p.types, types);
  EXPECT_FALSE(p.truncated);

  // The scores are the model's logits for those exact pairs, in document order, however they are batched.
  const std::vector<std::string> docs = {"a cat is an animal", "stock prices fell", "", "cats and dogs",
                                         "the quick brown fox jumps over the lazy dog"};
  const RerankResult all = r.score("what is a cat", docs);
  ASSERT_EQ(all.scores.size(), docs.size());
  int64_t total = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    const PairTokens one = r.tokenize_pair(q, docs[i]);
    const auto logits = r.model().classify({one.ids}, {one.types});
    EXPECT_NEAR(all.scores[i], logits[0][0], 1e-5) << i;
    EXPECT_EQ(all.n_tokens[i], int(one.ids.size()));
    total += int64_t(one.ids.size());
  }
  EXPECT_EQ(all.total_tokens, total);
  const Reranker small_batches(tiny_cross_encoder(bge_vocab(), 2, 64), *backend, /*batch_tokens=*/8);
  const RerankResult split = small_batches.score("what is a cat", docs);
  for (size_t i = 0; i < docs.size(); ++i) EXPECT_NEAR(split.scores[i], all.scores[i], 1e-5);
}

TEST(Reranker, TruncatesLongestFirst) {
  HEARTH_REQUIRE_SHARED();
  auto backend = make_cpu_backend(1);
  const Reranker r(tiny_cross_encoder(bge_vocab(), 2, 24), *backend);
  EXPECT_EQ(r.max_tokens(), 24);
  std::string long_doc;
  for (int i = 0; i < 40; ++i) long_doc += "word ";
  // Room for 21 text tokens: a 3-token query keeps its tokens, the document gets the rest.
  const auto q = r.tokenize_query("cats and dogs");
  ASSERT_EQ(q.size(), 3u);
  PairTokens p = r.tokenize_pair(q, long_doc);
  EXPECT_TRUE(p.truncated);
  ASSERT_EQ(p.ids.size(), 24u);
  EXPECT_EQ(std::vector<int32_t>(p.ids.begin() + 1, p.ids.begin() + 4), q);
  EXPECT_EQ(p.ids[4], 102);
  EXPECT_EQ(p.ids.back(), 102);
  // Both long: each keeps half, the query the odd token (Hugging Face cuts the second text on a tie).
  const auto long_q = r.tokenize_query(long_doc);
  p = r.tokenize_pair(long_q, long_doc);
  ASSERT_EQ(p.ids.size(), 24u);
  EXPECT_EQ(p.ids[12], 102);  // [CLS] + 11 query tokens + [SEP], then 10 document tokens + [SEP]
  EXPECT_EQ(p.types[12], 0);
  EXPECT_EQ(p.types[13], 1);
  // A long query with a short document: the query gives way.
  p = r.tokenize_pair(long_q, "a cat");
  ASSERT_EQ(p.ids.size(), 24u);
  EXPECT_EQ(std::vector<int32_t>(p.ids.end() - 3, p.ids.end()), concat({r.tokenizer().encode("a cat", false), {102}}));
  const RerankResult s = r.score(long_doc, {long_doc, "a cat"});
  EXPECT_TRUE(s.truncated[0]);
  EXPECT_TRUE(s.truncated[1]);
  EXPECT_EQ(s.n_tokens[0], 24);
}

TEST(Reranker, XlmRobertaPairs) {
  auto backend = make_cpu_backend(1);
  const Reranker r(tiny_cross_encoder(t5_vocab(), 1, 32), *backend);
  EXPECT_EQ(r.model().n_token_types(), 1);
  const auto q = r.tokenize_query("the cat");
  EXPECT_EQ(q, (std::vector<int32_t>{5, 6}));
  const PairTokens p = r.tokenize_pair(q, "the dog ran");
  // <s> query </s> </s> document </s>, all type 0.
  EXPECT_EQ(p.ids, (std::vector<int32_t>{0, 5, 6, 2, 2, 5, 8, 9, 2}));
  EXPECT_EQ(p.types, std::vector<int32_t>(9, 0));
  const RerankResult s = r.score("the cat", {"the cat sat", "the dog ran"});
  const auto logits = r.model().classify({p.ids}, {});
  EXPECT_NEAR(s.scores[1], logits[0][0], 1e-5);
  EXPECT_NE(s.scores[0], s.scores[1]);
}

// The same XLM-RoBERTa shape without a head is an embedder (BGE-M3: CLS pooling), served by the embedding path.
TEST(Reranker, XlmRobertaEmbedderEmbeds) {
  auto backend = make_cpu_backend(1);
  const Embedder e(tiny_cross_encoder(t5_vocab(), 1, 32, /*head=*/false), *backend);
  EXPECT_EQ(e.tokenize("the cat"), (std::vector<int32_t>{0, 5, 6, 2}));  // <s> ... </s>
  const EmbedResult r = e.embed({"the cat", "the dog ran"});
  ASSERT_EQ(r.embeddings.size(), 2u);
  const auto direct = e.model().embed({{0, 5, 6, 2}}, {Pooling::kCls, true});
  ASSERT_EQ(r.embeddings[0].size(), direct[0].size());
  for (size_t i = 0; i < direct[0].size(); ++i) EXPECT_NEAR(r.embeddings[0][i], direct[0][i], 1e-6);
}

TEST(Reranker, EmbedderRefusesACrossEncoder) {
  auto backend = make_cpu_backend(1);
  EXPECT_EQ(test::thrown_kind([&] { Embedder e(tiny_cross_encoder(t5_vocab(), 1, 32), *backend); }),
            to_string(ErrorKind::kUnsupported));
}

TEST(Reranker, RefusesAnEmbedder) {
  auto backend = make_cpu_backend(1);
  try {
    Reranker r(tiny_cross_encoder(t5_vocab(), 1, 32, /*head=*/false), *backend);
    ADD_FAILURE() << "an embedding model was accepted as a reranker";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("no classification head"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hearth
