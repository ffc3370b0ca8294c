// Cross-encoders (BERT and XLM-RoBERTa with a classification head): the scores of small random-weight models,
// loaded from GGUF files shaped as llama.cpp writes them and from Hugging Face folders, against a forward pass
// written out here in plain double-precision loops from the Hugging Face definitions (BertForSequenceClassification:
// classifier(tanh(pooler(h_[CLS]))), XLMRobertaForSequenceClassification: out_proj(tanh(dense(h_<s>))), RoBERTa
// positions from padding_idx + 1), sharing nothing with the model code but the weights.
//
// Tolerance: the model runs F32 weights with F32 activations and accumulation; the reference runs in double. The
// logits (magnitude ~1) agreed to within 5e-7 when this was written; the bound is 2e-5 absolute, while a wrong
// position, token type or head moves them by more than 0.01 (checked below where it is not obvious).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "models/bert.h"
#include "models/registry.h"
#include "error_kind_util.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using Mat = std::vector<std::vector<double>>;  // [rows][cols], as Hugging Face stores Linear weights ([out][in])
using Vec = std::vector<double>;

constexpr double kTolerance = 2e-5;

struct Shape {
  int H = 32, F = 64, heads = 2, layers = 2, vocab = 40, positions = 16, types = 2;
  int offset = 0;    // RoBERTa: position ids start at padding_idx + 1 (the table has `offset` extra rows)
  double eps = 1e-12;
  bool dense = true;  // the head's dense + tanh (pooler / classifier.dense)
};

// A tiny encoder with a classification head, its weights in Hugging Face's layout.
struct TinyCrossEncoder {
  Shape s;
  Mat tok, pos, types;
  Vec emb_ln_w, emb_ln_b;
  struct Layer {
    Mat q, k, v, o, up, down;
    Vec bq, bk, bv, bo, bup, bdown, ln1_w, ln1_b, ln2_w, ln2_b;
  };
  std::vector<Layer> layers;
  Mat dense, out;
  Vec dense_b, out_b;

  explicit TinyCrossEncoder(Shape shape, uint32_t seed = 11) : s(shape) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> n(0.0, 1.0);
    auto mat = [&](int rows, int cols, double sd) {
      Mat m(static_cast<size_t>(rows), Vec(static_cast<size_t>(cols)));
      for (auto& r : m)
        for (double& x : r) x = float(n(rng) * sd);  // representable in F32: the file holds the same numbers
      return m;
    };
    auto vec = [&](int len, double sd, double mean = 0) {
      Vec v(static_cast<size_t>(len));
      for (double& x : v) x = float(mean + n(rng) * sd);
      return v;
    };
    tok = mat(s.vocab, s.H, 0.5);
    pos = mat(s.positions + s.offset, s.H, 0.5);
    types = mat(s.types, s.H, 0.5);
    emb_ln_w = vec(s.H, 0.1, 1.0);
    emb_ln_b = vec(s.H, 0.1);
    for (int l = 0; l < s.layers; ++l) {
      Layer L;
      L.q = mat(s.H, s.H, 0.3), L.k = mat(s.H, s.H, 0.3), L.v = mat(s.H, s.H, 0.2), L.o = mat(s.H, s.H, 0.2);
      L.up = mat(s.F, s.H, 0.2), L.down = mat(s.H, s.F, 0.15);
      L.bq = vec(s.H, 0.1), L.bk = vec(s.H, 0.1), L.bv = vec(s.H, 0.1), L.bo = vec(s.H, 0.1);
      L.bup = vec(s.F, 0.1), L.bdown = vec(s.H, 0.1);
      L.ln1_w = vec(s.H, 0.1, 1.0), L.ln1_b = vec(s.H, 0.1), L.ln2_w = vec(s.H, 0.1, 1.0), L.ln2_b = vec(s.H, 0.1);
      layers.push_back(std::move(L));
    }
    dense = mat(s.H, s.H, 0.3);
    dense_b = vec(s.H, 0.1);
    out = mat(1, s.H, 0.5);
    out_b = vec(1, 0.2);
  }

  // ---- the reference forward pass ----
  static Vec affine(const Mat& w, const Vec& b, const Vec& x) {
    Vec y(w.size());
    for (size_t r = 0; r < w.size(); ++r) {
      double acc = b.empty() ? 0.0 : b[r];
      for (size_t c = 0; c < x.size(); ++c) acc += w[r][c] * x[c];
      y[r] = acc;
    }
    return y;
  }
  Vec layer_norm(const Vec& x, const Vec& w, const Vec& b) const {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    var /= double(x.size());
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + s.eps) * w[i] + b[i];
    return y;
  }

  // The relevance logit of one sequence; positions are HF's: padding_idx + 1 + i for RoBERTa, i for BERT.
  double score(const std::vector<int32_t>& ids, const std::vector<int32_t>& type_ids) const {
    const size_t T = ids.size();
    std::vector<Vec> x(T);
    for (size_t t = 0; t < T; ++t) {
      Vec e(static_cast<size_t>(s.H));
      for (int i = 0; i < s.H; ++i)
        e[size_t(i)] = tok[size_t(ids[t])][size_t(i)] + types[size_t(type_ids[t])][size_t(i)] +
                       pos[t + size_t(s.offset)][size_t(i)];
      x[t] = layer_norm(e, emb_ln_w, emb_ln_b);
    }
    const int hd = s.H / s.heads;
    for (const Layer& L : layers) {
      std::vector<Vec> q(T), k(T), v(T);
      for (size_t t = 0; t < T; ++t) q[t] = affine(L.q, L.bq, x[t]), k[t] = affine(L.k, L.bk, x[t]), v[t] = affine(L.v, L.bv, x[t]);
      std::vector<Vec> ctx(T, Vec(size_t(s.H), 0.0));
      for (int h = 0; h < s.heads; ++h)
        for (size_t i = 0; i < T; ++i) {
          Vec logits(T);
          double mx = -1e300;
          for (size_t j = 0; j < T; ++j) {
            double d = 0;
            for (int c = 0; c < hd; ++c) d += q[i][size_t(h * hd + c)] * k[j][size_t(h * hd + c)];
            logits[j] = d / std::sqrt(double(hd));
            mx = std::max(mx, logits[j]);
          }
          double sum = 0;
          for (double& l : logits) sum += (l = std::exp(l - mx));
          for (size_t j = 0; j < T; ++j)
            for (int c = 0; c < hd; ++c) ctx[i][size_t(h * hd + c)] += logits[j] / sum * v[j][size_t(h * hd + c)];
        }
      for (size_t t = 0; t < T; ++t) {
        Vec a = affine(L.o, L.bo, ctx[t]);
        for (int i = 0; i < s.H; ++i) a[size_t(i)] += x[t][size_t(i)];
        x[t] = layer_norm(a, L.ln1_w, L.ln1_b);
        Vec f = affine(L.up, L.bup, x[t]);
        for (double& z : f) z = 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0)));  // GELU (erf)
        Vec d = affine(L.down, L.bdown, f);
        for (int i = 0; i < s.H; ++i) d[size_t(i)] += x[t][size_t(i)];
        x[t] = layer_norm(d, L.ln2_w, L.ln2_b);
      }
    }
    Vec h = x[0];  // [CLS] / <s>
    if (s.dense) {
      h = affine(dense, dense_b, h);
      for (double& z : h) z = std::tanh(z);
    }
    return affine(out, out_b, h)[0];
  }

  // ---- files ----
  static std::vector<float> flat(const Mat& m) {
    std::vector<float> v;
    for (const auto& r : m)
      for (double x : r) v.push_back(float(x));
    return v;
  }
  static std::vector<float> flat(const Vec& x) { return std::vector<float>(x.begin(), x.end()); }

  // GGUF as llama.cpp's converter writes it: arch "bert", position table without the offset rows, pooling rank.
  // `squeeze`: one-row tensors stored as vectors (token_types of XLM-R, cls.output.weight), as some converter
  // versions do.
  std::string gguf(bool squeeze = false, bool with_dense = true) const {
    GgufWriter w;
    Metadata& m = w.metadata();
    m.set_string("general.architecture", "bert");
    m.set_u32("bert.block_count", uint32_t(s.layers));
    m.set_u32("bert.embedding_length", uint32_t(s.H));
    m.set_u32("bert.feed_forward_length", uint32_t(s.F));
    m.set_u32("bert.attention.head_count", uint32_t(s.heads));
    m.set_f32("bert.attention.layer_norm_epsilon", float(s.eps));
    m.set_u32("bert.context_length", uint32_t(s.positions));
    m.set_bool("bert.attention.causal", false);
    m.set_u32("bert.pooling_type", 4);
    std::vector<std::vector<float>> keep;
    auto add = [&](const std::string& name, std::vector<float> v, std::vector<int64_t> ne) {
      if (squeeze && ne.size() == 2 && ne[1] == 1) ne = {ne[0]};
      keep.push_back(std::move(v));
      w.add_tensor(name, DType::F32, ne, keep.back().data(), keep.back().size() * sizeof(float));
    };
    const int64_t H = s.H, F = s.F;
    add("token_embd.weight", flat(tok), {H, s.vocab});
    Mat chopped(pos.begin() + s.offset, pos.end());
    add("position_embd.weight", flat(chopped), {H, s.positions});
    add("token_types.weight", flat(types), {H, s.types});
    add("token_embd_norm.weight", flat(emb_ln_w), {H});
    add("token_embd_norm.bias", flat(emb_ln_b), {H});
    for (int l = 0; l < s.layers; ++l) {
      const Layer& L = layers[size_t(l)];
      const std::string p = "blk." + std::to_string(l) + ".";
      add(p + "attn_q.weight", flat(L.q), {H, H});
      add(p + "attn_q.bias", flat(L.bq), {H});
      add(p + "attn_k.weight", flat(L.k), {H, H});
      add(p + "attn_k.bias", flat(L.bk), {H});
      add(p + "attn_v.weight", flat(L.v), {H, H});
      add(p + "attn_v.bias", flat(L.bv), {H});
      add(p + "attn_output.weight", flat(L.o), {H, H});
      add(p + "attn_output.bias", flat(L.bo), {H});
      add(p + "attn_output_norm.weight", flat(L.ln1_w), {H});
      add(p + "attn_output_norm.bias", flat(L.ln1_b), {H});
      add(p + "ffn_up.weight", flat(L.up), {H, F});
      add(p + "ffn_up.bias", flat(L.bup), {F});
      add(p + "ffn_down.weight", flat(L.down), {F, H});
      add(p + "ffn_down.bias", flat(L.bdown), {H});
      add(p + "layer_output_norm.weight", flat(L.ln2_w), {H});
      add(p + "layer_output_norm.bias", flat(L.ln2_b), {H});
    }
    if (with_dense) {
      add("cls.weight", flat(dense), {H, H});
      add("cls.bias", flat(dense_b), {H});
    }
    add("cls.output.weight", flat(out), {H, 1});
    add("cls.output.bias", flat(out_b), {1});
    return w.serialize();
  }

  // A Hugging Face folder: BertForSequenceClassification ("bert." prefix, pooler + classifier) or, with
  // s.offset > 0, XLMRobertaForSequenceClassification ("roberta." prefix, classifier.dense + out_proj).
  void hf_folder(const fs::path& dir) const {
    const bool roberta = s.offset > 0;
    const std::string root = roberta ? "roberta." : "bert.";
    std::vector<SafetensorsWriterTensor> t;
    auto add = [&](const std::string& name, const std::vector<float>& v, std::vector<int64_t> shape) {
      t.push_back({name, "F32", std::move(shape),
                   std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float))});
    };
    const int64_t H = s.H, F = s.F;
    add(root + "embeddings.word_embeddings.weight", flat(tok), {s.vocab, H});
    add(root + "embeddings.position_embeddings.weight", flat(pos), {s.positions + s.offset, H});
    add(root + "embeddings.token_type_embeddings.weight", flat(types), {s.types, H});
    add(root + "embeddings.LayerNorm.weight", flat(emb_ln_w), {H});
    add(root + "embeddings.LayerNorm.bias", flat(emb_ln_b), {H});
    for (int l = 0; l < s.layers; ++l) {
      const Layer& L = layers[size_t(l)];
      const std::string p = root + "encoder.layer." + std::to_string(l) + ".";
      add(p + "attention.self.query.weight", flat(L.q), {H, H});
      add(p + "attention.self.query.bias", flat(L.bq), {H});
      add(p + "attention.self.key.weight", flat(L.k), {H, H});
      add(p + "attention.self.key.bias", flat(L.bk), {H});
      add(p + "attention.self.value.weight", flat(L.v), {H, H});
      add(p + "attention.self.value.bias", flat(L.bv), {H});
      add(p + "attention.output.dense.weight", flat(L.o), {H, H});
      add(p + "attention.output.dense.bias", flat(L.bo), {H});
      add(p + "attention.output.LayerNorm.weight", flat(L.ln1_w), {H});
      add(p + "attention.output.LayerNorm.bias", flat(L.ln1_b), {H});
      add(p + "intermediate.dense.weight", flat(L.up), {F, H});
      add(p + "intermediate.dense.bias", flat(L.bup), {F});
      add(p + "output.dense.weight", flat(L.down), {H, F});
      add(p + "output.dense.bias", flat(L.bdown), {H});
      add(p + "output.LayerNorm.weight", flat(L.ln2_w), {H});
      add(p + "output.LayerNorm.bias", flat(L.ln2_b), {H});
    }
    if (roberta) {
      add("classifier.dense.weight", flat(dense), {H, H});
      add("classifier.dense.bias", flat(dense_b), {H});
      add("classifier.out_proj.weight", flat(out), {1, H});
      add("classifier.out_proj.bias", flat(out_b), {1});
    } else {
      add("bert.pooler.dense.weight", flat(dense), {H, H});
      add("bert.pooler.dense.bias", flat(dense_b), {H});
      add("classifier.weight", flat(out), {1, H});
      add("classifier.bias", flat(out_b), {1});
    }
    nlohmann::json c = {{"architectures", {roberta ? "XLMRobertaForSequenceClassification" : "BertForSequenceClassification"}},
                        {"model_type", roberta ? "xlm-roberta" : "bert"},
                        {"hidden_size", s.H},
                        {"intermediate_size", s.F},
                        {"num_attention_heads", s.heads},
                        {"num_hidden_layers", s.layers},
                        {"max_position_embeddings", s.positions + s.offset},
                        {"type_vocab_size", s.types},
                        {"vocab_size", s.vocab},
                        {"layer_norm_eps", s.eps},
                        {"id2label", {{"0", "LABEL_0"}}}};
    if (roberta) c["pad_token_id"] = s.offset - 1;
    fs::create_directories(dir);
    write_file_atomic((dir / "config.json").string(), c.dump());
    write_file_atomic((dir / "model.safetensors").string(), write_safetensors(t));
  }
};

std::unique_ptr<Weights> from_image(const std::string& image) {
  auto w = std::make_unique<Weights>();
  w->set_source("tiny-rerank.gguf");
  read_gguf(reinterpret_cast<const uint8_t*>(image.data()), image.size(), "tiny-rerank.gguf", *w);
  return w;
}

// BERT pairs: [CLS]=1 query [SEP]=2 document [SEP]=2 with segment 0 up to the first [SEP], 1 after it.
struct Pair {
  std::vector<int32_t> ids, types;
};
Pair bert_pair(const std::vector<int32_t>& q, const std::vector<int32_t>& d) {
  Pair p;
  p.ids.push_back(1);
  p.ids.insert(p.ids.end(), q.begin(), q.end());
  p.ids.push_back(2);
  p.types.assign(p.ids.size(), 0);
  p.ids.insert(p.ids.end(), d.begin(), d.end());
  p.ids.push_back(2);
  p.types.resize(p.ids.size(), 1);
  return p;
}
// XLM-RoBERTa pairs: <s>=0 query </s>=2 </s> document </s>, all token type 0.
Pair roberta_pair(const std::vector<int32_t>& q, const std::vector<int32_t>& d) {
  Pair p;
  p.ids.push_back(0);
  p.ids.insert(p.ids.end(), q.begin(), q.end());
  p.ids.push_back(2);
  p.ids.push_back(2);
  p.ids.insert(p.ids.end(), d.begin(), d.end());
  p.ids.push_back(2);
  p.types.assign(p.ids.size(), 0);
  return p;
}

std::vector<Pair> test_pairs(bool roberta) {
  const std::vector<std::vector<int32_t>> queries = {{5, 9, 12}, {30}, {7, 7, 8, 21}};
  const std::vector<std::vector<int32_t>> docs = {{14, 15, 16, 17}, {3}, {22, 25, 39, 11, 6, 19}};
  std::vector<Pair> out;
  for (const auto& q : queries)
    for (const auto& d : docs) out.push_back(roberta ? roberta_pair(q, d) : bert_pair(q, d));
  return out;
}

// Scores all pairs in one batch and checks each against the reference; returns the scores.
std::vector<float> expect_scores_match(const EncoderModel& model, const TinyCrossEncoder& ref,
                                       const std::vector<Pair>& pairs) {
  std::vector<std::vector<int32_t>> ids, types;
  for (const Pair& p : pairs) ids.push_back(p.ids), types.push_back(p.types);
  const auto logits = model.classify(ids, types);
  EXPECT_EQ(logits.size(), pairs.size());
  std::vector<float> scores;
  for (size_t i = 0; i < pairs.size() && i < logits.size(); ++i) {
    EXPECT_EQ(logits[i].size(), 1u);
    const double want = ref.score(pairs[i].ids, pairs[i].types);
    EXPECT_NEAR(logits[i][0], want, kTolerance) << "pair " << i;
    scores.push_back(logits[i][0]);
  }
  return scores;
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("hearth_rerank_" + std::to_string(::getpid()) + "_" +
                                                  std::to_string(counter_++))) {}
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(CrossEncoder, BertGgufMatchesReference) {
  const TinyCrossEncoder ref{Shape{}};
  const std::string image = ref.gguf();
  auto w = from_image(image);
  EXPECT_TRUE(is_cross_encoder(*w));
  auto backend = make_cpu_backend(1);
  auto model = load_encoder(*w, *backend);
  EXPECT_EQ(model->n_classes(), 1);
  EXPECT_EQ(model->n_token_types(), 2);
  const auto pairs = test_pairs(false);
  const std::vector<float> scores = expect_scores_match(*model, ref, pairs);

  // Segment ids matter: the same ids all as sentence A score differently (and still as the reference says).
  std::vector<Pair> flat = pairs;
  for (Pair& p : flat) std::fill(p.types.begin(), p.types.end(), 0);
  const std::vector<float> flat_scores = expect_scores_match(*model, ref, flat);
  double moved = 0;
  for (size_t i = 0; i < scores.size(); ++i) moved = std::max(moved, double(std::fabs(scores[i] - flat_scores[i])));
  EXPECT_GT(moved, 0.01);

  // One pair at a time gives the batch's numbers.
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto one = model->classify({pairs[i].ids}, {pairs[i].types});
    EXPECT_NEAR(one[0][0], scores[i], 1e-5);
  }
}

TEST(CrossEncoder, BertHfFolderKeepsThePooler) {
  const TinyCrossEncoder ref{Shape{}, 23};
  TempDir dir;
  ref.hf_folder(dir.path());
  auto w = Weights::open(dir.path().string());
  EXPECT_EQ(w->architecture(), "bert");
  EXPECT_EQ(w->metadata().find_int("bert.pooling_type"), 4);
  ASSERT_NE(w->find("cls.weight"), nullptr);  // bert.pooler.dense
  ASSERT_NE(w->find("cls.output.weight"), nullptr);  // classifier
  auto backend = make_cpu_backend(1);
  auto model = load_encoder(*w, *backend);
  expect_scores_match(*model, ref, test_pairs(false));
}

Shape roberta_shape() {
  Shape s;
  s.types = 1;
  s.offset = 2;  // padding_idx 1
  s.eps = 1e-5;
  return s;
}

TEST(CrossEncoder, XlmRobertaHfFolderOffsetsPositions) {
  const TinyCrossEncoder ref{roberta_shape(), 31};
  TempDir dir;
  ref.hf_folder(dir.path());
  auto w = Weights::open(dir.path().string());
  EXPECT_EQ(w->architecture(), "bert");
  EXPECT_EQ(w->metadata().find_int("bert.context_length"), ref.s.positions);  // 18 rows less the 2 skipped
  EXPECT_EQ(w->get("position_embd.weight").ne[1], ref.s.positions);
  auto backend = make_cpu_backend(1);
  auto model = load_encoder(*w, *backend);
  EXPECT_EQ(model->n_token_types(), 1);
  EXPECT_EQ(model->max_tokens(), ref.s.positions);
  expect_scores_match(*model, ref, test_pairs(true));

  // Without the offset the scores are another model's: the reference with positions from 0 disagrees.
  TinyCrossEncoder unshifted = ref;
  unshifted.s.offset = 0;
  const Pair p = roberta_pair({5, 9, 12}, {14, 15, 16, 17});
  EXPECT_GT(std::fabs(ref.score(p.ids, p.types) - unshifted.score(p.ids, p.types)), 0.01);
}

TEST(CrossEncoder, XlmRobertaGgufAsLlamaCppWritesIt) {
  const TinyCrossEncoder ref{roberta_shape(), 37};
  // token_types [H] and cls.output.weight [H]: one-row tensors squeezed to vectors.
  const std::string image = ref.gguf(/*squeeze=*/true);
  auto w = from_image(image);
  EXPECT_EQ(w->get("token_types.weight").ne.size(), 1u);
  auto backend = make_cpu_backend(2);
  auto model = load_encoder(*w, *backend);
  EXPECT_EQ(model->n_token_types(), 1);
  expect_scores_match(*model, ref, test_pairs(true));
}

TEST(CrossEncoder, OutputOnlyHeadAsLlamaCppConvertsBert) {
  // llama.cpp's converter drops BERT's pooler and keeps the classifier as cls.output: the head is one projection.
  Shape s;
  s.dense = false;
  const TinyCrossEncoder ref{s, 41};
  const std::string image = ref.gguf(false, /*with_dense=*/false);
  auto w = from_image(image);
  EXPECT_TRUE(is_cross_encoder(*w));
  auto backend = make_cpu_backend(1);
  auto model = load_encoder(*w, *backend);
  expect_scores_match(*model, ref, test_pairs(false));
}

TEST(CrossEncoder, Errors) {
  const TinyCrossEncoder ref{Shape{}};
  auto backend = make_cpu_backend(1);
  {
    const std::string image = ref.gguf();  // the Weights point into it
    auto w = from_image(image);
    auto model = load_encoder(*w, *backend);
    const Pair p = bert_pair({5}, {6});
    std::vector<int32_t> bad_types = p.types;
    bad_types.back() = 2;  // the model has types 0 and 1
    EXPECT_EQ(test::thrown_kind([&] { model->classify({p.ids}, {bad_types}); }), to_string(ErrorKind::kInvalidArgument));
    EXPECT_EQ(test::thrown_kind([&] { model->classify({p.ids}, {{0, 1}}); }), to_string(ErrorKind::kInvalidArgument));  // length mismatch
    std::vector<int32_t> too_long(size_t(ref.s.positions + 1), 5);
    EXPECT_EQ(test::thrown_kind([&] { model->classify({too_long}, {}); }), to_string(ErrorKind::kResourceExhausted));
    // A cross-encoder still embeds (its first token's state, the rank pooling's input).
    const auto e = model->embed({p.ids}, model->default_options());
    EXPECT_EQ(e[0].size(), size_t(ref.s.H));
    EXPECT_EQ(model->default_options().pooling, Pooling::kCls);
  }
  {
    // Pooling type rank without a head is a broken file.
    const std::string image = ref.gguf();  // the Weights point into it
    auto w = from_image(image);
    auto stripped = std::make_unique<Weights>();
    stripped->set_source("no-head.gguf");
    for (const auto& [k, v] : w->metadata().entries()) stripped->mutable_metadata().set(k, v);
    for (const WeightTensor& t : w->tensors())
      if (t.name.rfind("cls.", 0) != 0) stripped->add_tensor(t);
    EXPECT_TRUE(is_cross_encoder(*stripped));  // pooling type 4 says so
    try {
      load_encoder(*stripped, *backend);
      ADD_FAILURE() << "loaded a rank model without a head";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no classification head"), std::string::npos) << e.what();
      EXPECT_EQ(e.kind(), ErrorKind::kCorruptData);
    }
    // Without the rank pooling type it is an embedder, which cannot classify.
    stripped->mutable_metadata().set_u32("bert.pooling_type", 2);
    EXPECT_FALSE(is_cross_encoder(*stripped));
    auto embedder = load_encoder(*stripped, *backend);
    EXPECT_EQ(embedder->n_classes(), 0);
    EXPECT_EQ(test::thrown_kind([&] { embedder->classify({{1, 5, 2}}, {}); }), to_string(ErrorKind::kUnsupported));
  }
}

}  // namespace
}  // namespace hearth
