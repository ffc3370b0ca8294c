#include "models/bert.h"

#include <cmath>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/log.h"
#include "models/encoder_weights.h"
#include "models/qkv_projection.h"
#include "models/workspace_pool.h"

namespace hearth {
namespace {

// Limits that keep every size computation far from overflow; real models are orders of magnitude below them.
constexpr int64_t kMaxLayers = 1024, kMaxWidth = 1 << 16, kMaxContext = 1 << 20;

int64_t int_key(const Weights& w, const std::string& key, int64_t lo, int64_t hi) {
  const std::optional<int64_t> v = w.metadata().find_int(key);
  if (!v) fail(ErrorKind::kCorruptData, "{}: missing metadata key '{}'", w.source(), key);
  if (*v < lo || *v > hi)
    fail(ErrorKind::kCorruptData, "{}: metadata '{}' = {} is out of range [{}, {}]", w.source(), key, *v, lo, hi);
  return *v;
}

struct Layer {
  std::unique_ptr<QkvProjection> qkv;
  std::unique_ptr<Matrix> wo, up, down;
  std::unique_ptr<Vector> bo, b_up, b_down;
  std::unique_ptr<Vector> attn_norm_w, attn_norm_b, out_norm_w, out_norm_b;
};

class BertModel final : public EncoderModel {
 public:
  BertModel(const Weights& w, Backend& backend) : backend_(backend), hp_(read_bert_hparams(w)) {
    const int64_t H = hp_.n_embd, F = hp_.n_ff;
    tok_embd_ = backend.prepare_matrix(w.get("token_embd.weight", {H, hp_.n_vocab}), Backend::MatrixUse::kLookup);
    const WeightTensor& pos = w.get("position_embd.weight");
    if (pos.ne.size() != 2 || pos.ne[0] != H || pos.ne[1] < hp_.n_ctx)
      fail(ErrorKind::kCorruptData,
           "{}: tensor 'position_embd.weight' must be {} x at least {} (bert.context_length), got {} dims [{}]",
           w.source(), H, hp_.n_ctx, pos.ne.size(), fmt::join(pos.ne, ", "));
    pos_embd_ = backend.prepare_matrix(pos, Backend::MatrixUse::kLookup);
    if (const WeightTensor* types = w.find("token_types.weight")) {
      // One row may be stored squeezed to a vector (llama.cpp's converter squeezed every tensor once).
      const WeightTensor table = as_rows(w, *types, H);
      if (!can_dequantize(table.type) || H % traits(table.type).block_size != 0)
        fail(ErrorKind::kUnsupported, "{}: tensor 'token_types.weight' has unsupported type {}", w.source(),
             dtype_name(table.type));
      n_types_ = int(std::min<int64_t>(table.ne[1], 1 << 16));
      // Sentence A's row, added to every token when no token types are given (embeddings).
      std::vector<float> row0(static_cast<size_t>(H));
      dequantize_row(table.type, table.data, row0.data(), H);
      type0_ = backend.make_vector(row0);
      if (n_types_ > 1) types_ = backend.prepare_matrix(table, Backend::MatrixUse::kLookup);
    }
    const EncoderWeights ew(backend, w);
    load_head(ew);
    embd_norm_w_ = ew.vector("token_embd_norm.weight", H);
    embd_norm_b_ = ew.vector("token_embd_norm.bias", H);

    layers_.resize(static_cast<size_t>(hp_.n_layer));
    for (int il = 0; il < hp_.n_layer; ++il) {
      Layer& L = layers_[static_cast<size_t>(il)];
      const std::string p = "blk." + std::to_string(il) + ".";
      L.qkv = std::make_unique<QkvProjection>(ew, p, H, QkvProjection::Biases::kOptional);
      L.wo = ew.matrix(p + "attn_output.weight", H, H);
      L.bo = ew.optional_vector(p + "attn_output.bias", H);
      L.attn_norm_w = ew.vector(p + "attn_output_norm.weight", H);
      L.attn_norm_b = ew.optional_vector(p + "attn_output_norm.bias", H);
      L.up = ew.matrix(p + "ffn_up.weight", F, H);
      L.b_up = ew.optional_vector(p + "ffn_up.bias", F);
      L.down = ew.matrix(p + "ffn_down.weight", H, F);
      L.b_down = ew.optional_vector(p + "ffn_down.bias", H);
      L.out_norm_w = ew.vector(p + "layer_output_norm.weight", H);
      L.out_norm_b = ew.optional_vector(p + "layer_output_norm.bias", H);
    }
  }

  int dim() const override { return hp_.n_embd; }
  int max_tokens() const override { return hp_.n_ctx; }
  EmbedOptions default_options() const override { return {hp_.pooling, true}; }
  std::vector<Pooling> supported_poolings() const override {
    return {Pooling::kMean, Pooling::kCls, Pooling::kLast, Pooling::kNone};
  }

  std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& sequences,
                                        const EmbedOptions& options) const override;

  int n_token_types() const override { return n_types_; }
  int n_classes() const override { return n_classes_; }
  std::vector<std::vector<float>> classify(const std::vector<std::vector<int32_t>>& sequences,
                                           const std::vector<std::vector<int32_t>>& token_types) const override;

 private:
  // `t` as a matrix of rows of `cols` values: ne {cols, rows}, or a vector {cols} (one row, squeezed).
  static WeightTensor as_rows(const Weights& w, const WeightTensor& t, int64_t cols) {
    WeightTensor m = t;
    if (t.ne.size() == 1 && t.ne[0] == cols) m.ne = {cols, 1};
    if (m.ne.size() != 2 || m.ne[0] != cols || m.ne[1] < 1)
      fail(ErrorKind::kCorruptData, "{}: tensor '{}' must have rows of {} values, got dims [{}]", w.source(), t.name,
           cols, fmt::join(t.ne, ", "));
    return m;
  }

  // The classification head's dense layer (`cls`, followed by tanh) and output projection (`cls.output`), either
  // of which may be absent.
  void load_head(const EncoderWeights& ew) {
    const Weights& w = ew.weights();
    int64_t width = hp_.n_embd;  // the width entering the next layer of the head
    auto layer = [&](const std::string& name, std::unique_ptr<Matrix>& m, std::unique_ptr<Vector>& b) {
      const WeightTensor* t = w.find(name + ".weight");
      if (!t) {
        if (w.find(name + ".bias"))
          fail(ErrorKind::kCorruptData, "{}: tensor '{}.bias' without '{}.weight'", w.source(), name, name);
        return;
      }
      const WeightTensor rows = as_rows(w, *t, width);
      if (rows.ne[1] > kMaxWidth)
        fail(ErrorKind::kCorruptData, "{}: tensor '{}.weight' has {} rows", w.source(), name, rows.ne[1]);
      m = ew.backend().prepare_matrix(rows, Backend::MatrixUse::kBatchedProduct);
      width = rows.ne[1];
      b = ew.optional_vector(name + ".bias", width);
    };
    layer("cls", cls_w_, cls_b_);
    layer("cls.output", cls_out_w_, cls_out_b_);
    if (!cls_w_ && !cls_out_w_) {
      if (hp_.rank)
        fail(ErrorKind::kCorruptData,
             "{}: {}.pooling_type is 4 (rank) but the file has no classification head (cls.weight or "
             "cls.output.weight)",
             w.source(), w.architecture());
      return;
    }
    n_classes_ = int(width);
    if (!cls_w_ && cls_out_w_)
      log::warn("{}: the classification head has no dense layer before its output (cls.weight): a "
                "BertForSequenceClassification converted by llama.cpp, which drops BERT's pooler; its scores are "
                "llama.cpp's, not the model's (convert the Hugging Face folder with the pooler, or load the folder)",
                w.source());
  }

  // Embeds, adds token types and positions, runs the layers; returns the final hidden states of every token
  // (rows of `ws`), sequence s at rows spans[s].
  Act encode(Workspace& ws, const std::vector<std::vector<int32_t>>& sequences,
             const std::vector<std::vector<int32_t>>* token_types, std::vector<AttentionSpan>& spans) const;

  Backend& backend_;
  BertHParams hp_;
  mutable WorkspacePool workspaces_{backend_};
  std::unique_ptr<Matrix> tok_embd_, pos_embd_, types_;
  std::unique_ptr<Vector> type0_, embd_norm_w_, embd_norm_b_;
  int n_types_ = 1;
  std::unique_ptr<Matrix> cls_w_, cls_out_w_;
  std::unique_ptr<Vector> cls_b_, cls_out_b_;
  int n_classes_ = 0;
  std::vector<Layer> layers_;
};

Act BertModel::encode(Workspace& ws, const std::vector<std::vector<int32_t>>& sequences,
                      const std::vector<std::vector<int32_t>>* token_types, std::vector<AttentionSpan>& spans) const {
  const int64_t H = hp_.n_embd;
  std::vector<int32_t> ids, positions, types;
  spans.clear();
  spans.reserve(sequences.size());
  bool any_type = false;
  for (size_t s = 0; s < sequences.size(); ++s) {
    const auto& seq = sequences[s];
    if (seq.empty()) fail("sequence {} is empty: an encoder needs at least one token", s);
    if (seq.size() > size_t(hp_.n_ctx))
      fail(ErrorKind::kResourceExhausted, "sequence {} has {} tokens; this model takes at most {}", s, seq.size(),
           hp_.n_ctx);
    for (int32_t id : seq)
      if (id < 0 || id >= hp_.n_vocab) fail("sequence {}: token id {} is outside the vocabulary (0..{})", s, id,
                                            hp_.n_vocab - 1);
    if (token_types) {
      const auto& tt = (*token_types)[s];
      if (tt.size() != seq.size())
        fail("sequence {} has {} tokens but {} token types", s, seq.size(), tt.size());
      for (int32_t t : tt) {
        if (t < 0 || t >= n_types_)
          fail("sequence {}: token type {} is out of range (this model has {} token type{})", s, t, n_types_,
               n_types_ == 1 ? "" : "s");
        any_type |= t != 0;
      }
      types.insert(types.end(), tt.begin(), tt.end());
    }
    const int64_t begin = int64_t(ids.size()), n = int64_t(seq.size());
    spans.push_back({begin, n, begin, n});
    ids.insert(ids.end(), seq.begin(), seq.end());
    for (int32_t i = 0; i < int32_t(n); ++i) positions.push_back(i);
  }
  const int64_t T = int64_t(ids.size());

  Act x = ws.act(T, H);
  backend_.get_rows(x, *tok_embd_, ids);
  if (any_type) {
    // Sentence B's tokens (a cross-encoder's pair) take their own row; the same sum as row 0 for the others.
    Act t = ws.act(T, H);
    backend_.get_rows(t, *types_, types);
    backend_.add(x, t);
  } else if (type0_) {
    backend_.add_vector(x, *type0_);
  }
  {
    Act pos = ws.act(T, H);
    backend_.get_rows(pos, *pos_embd_, positions);
    backend_.add(x, pos);
  }
  backend_.layer_norm(x, x, embd_norm_w_.get(), embd_norm_b_.get(), hp_.eps);

  Act qkv = ws.act(T, 3 * H);
  Act att = ws.act(T, H), ff = ws.act(T, hp_.n_ff);
  AttentionParams ap;
  ap.n_head = ap.n_head_kv = hp_.n_head;
  ap.head_dim = hp_.n_embd / hp_.n_head;
  ap.scale = 1.0f / std::sqrt(float(ap.head_dim));
  ap.causal = false;
  for (const Layer& L : layers_) {
    L.qkv->attend(backend_, x, qkv, att, spans, ap);
    // Post-layer-norm residual blocks: x = LN(x + att·Wo + bo), then x = LN(x + FFN(x)).
    backend_.matmul(x, att, *L.wo, L.bo.get(), Backend::Epilogue::kAccumulate);
    backend_.layer_norm(x, x, L.attn_norm_w.get(), L.attn_norm_b.get(), hp_.eps);
    backend_.matmul(ff, x, *L.up, L.b_up.get(), Backend::Epilogue::kGeluErf);
    backend_.matmul(x, ff, *L.down, L.b_down.get(), Backend::Epilogue::kAccumulate);
    backend_.layer_norm(x, x, L.out_norm_w.get(), L.out_norm_b.get(), hp_.eps);
  }
  return x;
}

std::vector<std::vector<float>> BertModel::classify(const std::vector<std::vector<int32_t>>& sequences,
                                                    const std::vector<std::vector<int32_t>>& token_types) const {
  if (n_classes_ == 0)
    fail(ErrorKind::kUnsupported, "this model has no classification head: it embeds texts and cannot score pairs");
  if (!token_types.empty() && token_types.size() != sequences.size())
    fail("{} sequences but {} token type lists", sequences.size(), token_types.size());
  if (sequences.empty()) return {};
  const WorkspacePool::Lease ws = workspaces_.lease();
  std::vector<AttentionSpan> spans;
  const Act x = encode(*ws, sequences, token_types.empty() ? nullptr : &token_types, spans);
  const int64_t S = int64_t(spans.size());
  Act h = ws->act(S, hp_.n_embd);
  backend_.pool(h, x, spans, Pooling::kCls);
  if (cls_w_) {
    Act d = ws->act(S, cls_w_->rows);
    backend_.matmul(d, h, *cls_w_, cls_b_.get());
    backend_.tanh(d);
    h = d;
  }
  if (cls_out_w_) {
    Act o = ws->act(S, cls_out_w_->rows);
    backend_.matmul(o, h, *cls_out_w_, cls_out_b_.get());
    h = o;
  }
  std::vector<float> all(static_cast<size_t>(S * n_classes_));
  backend_.read(h, all.data());
  std::vector<std::vector<float>> out(sequences.size());
  for (int64_t s = 0; s < S; ++s)
    out[size_t(s)].assign(all.begin() + s * n_classes_, all.begin() + (s + 1) * n_classes_);
  return out;
}

std::vector<std::vector<float>> BertModel::embed(const std::vector<std::vector<int32_t>>& sequences,
                                                 const EmbedOptions& options) const {
  if (sequences.empty()) return {};
  const int64_t H = hp_.n_embd;
  const WorkspacePool::Lease ws = workspaces_.lease();
  std::vector<AttentionSpan> spans;
  const Act x = encode(*ws, sequences, nullptr, spans);
  const int64_t T = x.rows;

  std::vector<std::vector<float>> out(sequences.size());
  if (options.pooling == Pooling::kNone) {
    if (options.normalize) backend_.l2_normalize(x);
    std::vector<float> all(static_cast<size_t>(T * H));
    backend_.read(x, all.data());
    for (size_t s = 0; s < spans.size(); ++s)
      out[s].assign(all.begin() + spans[s].q_begin * H, all.begin() + (spans[s].q_begin + spans[s].q_count) * H);
    return out;
  }
  const int64_t S = int64_t(spans.size());
  Act pooled = ws->act(S, H);
  backend_.pool(pooled, x, spans, options.pooling);
  if (options.normalize) backend_.l2_normalize(pooled);
  std::vector<float> all(static_cast<size_t>(S * H));
  backend_.read(pooled, all.data());
  for (int64_t s = 0; s < S; ++s) out[size_t(s)].assign(all.begin() + s * H, all.begin() + (s + 1) * H);
  return out;
}

}  // namespace

BertHParams read_bert_hparams(const Weights& w) {
  const std::string a = w.architecture();
  BertHParams hp;
  hp.n_layer = int(int_key(w, a + ".block_count", 1, kMaxLayers));
  hp.n_embd = int(int_key(w, a + ".embedding_length", 1, kMaxWidth));
  hp.n_ff = int(int_key(w, a + ".feed_forward_length", 1, 8 * kMaxWidth));
  hp.n_head = int(int_key(w, a + ".attention.head_count", 1, hp.n_embd));
  if (hp.n_embd % hp.n_head != 0)
    fail(ErrorKind::kCorruptData, "{}: {}.embedding_length {} is not a multiple of {}.attention.head_count {}",
         w.source(), a, hp.n_embd, a, hp.n_head);
  hp.n_ctx = int(int_key(w, a + ".context_length", 1, kMaxContext));
  const std::optional<double> eps = w.metadata().find_float(a + ".attention.layer_norm_epsilon");
  if (!eps) fail(ErrorKind::kCorruptData, "{}: missing metadata key '{}.attention.layer_norm_epsilon'", w.source(), a);
  if (!(*eps > 0.0 && *eps < 1.0))
    fail(ErrorKind::kCorruptData, "{}: metadata '{}.attention.layer_norm_epsilon' = {} must be in (0, 1)", w.source(),
         a, *eps);
  hp.eps = float(*eps);
  if (w.metadata().find_bool(a + ".attention.causal").value_or(false))
    fail(ErrorKind::kUnsupported, "{}: {}.attention.causal is true; a BERT encoder attends bidirectionally", w.source(),
         a);
  if (w.metadata().has(a + ".pooling_type")) {
    // llama.cpp's enum llama_pooling_type; RANK (4) marks a cross-encoder, whose embeddings pool CLS.
    static constexpr Pooling kByType[] = {Pooling::kNone, Pooling::kMean, Pooling::kCls, Pooling::kLast,
                                          Pooling::kCls};
    const int64_t type = int_key(w, a + ".pooling_type", 0, 4);
    hp.pooling = kByType[type];
    hp.rank = type == 4;
  }
  const WeightTensor& tok = w.get("token_embd.weight");
  if (tok.ne.size() != 2 || tok.ne[0] != hp.n_embd || tok.ne[1] < 1 || tok.ne[1] > (int64_t(1) << 31) - 1)
    fail(ErrorKind::kCorruptData, "{}: tensor 'token_embd.weight' must be {} x n_vocab, got [{}]", w.source(),
         hp.n_embd, fmt::join(tok.ne, ", "));
  hp.n_vocab = tok.ne[1];
  return hp;
}

bool has_classification_head(const Weights& w) {
  if (w.find("cls.weight") || w.find("cls.output.weight")) return true;
  const std::optional<std::string> a = w.metadata().find_string("general.architecture");
  return a && w.metadata().find_int(*a + ".pooling_type") == 4;
}

std::unique_ptr<EncoderModel> load_bert(const Weights& weights, Backend& backend) {
  return std::make_unique<BertModel>(weights, backend);
}

}  // namespace hearth
