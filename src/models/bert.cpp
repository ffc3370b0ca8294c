#include "models/bert.h"

#include <cmath>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <fmt/ranges.h>

#include "core/error.h"

namespace hearth {
namespace {

// Limits that keep every size computation far from overflow; real models are orders of magnitude below them.
constexpr int64_t kMaxLayers = 1024, kMaxWidth = 1 << 16, kMaxContext = 1 << 20;

int64_t int_key(const Weights& w, const std::string& key, int64_t lo, int64_t hi) {
  const std::optional<int64_t> v = w.metadata().find_int(key);
  if (!v) fail("{}: missing metadata key '{}'", w.source(), key);
  if (*v < lo || *v > hi) fail("{}: metadata '{}' = {} is out of range [{}, {}]", w.source(), key, *v, lo, hi);
  return *v;
}

// The rows [begin, begin + count) of a matrix tensor (or elements of a vector), as a tensor of its own. Fused
// QKV weights are split this way so q, k and v land in separate contiguous activations.
WeightTensor slice_outer(const WeightTensor& t, int64_t begin, int64_t count, const std::string& name) {
  const int64_t block = traits(t.type).block_size;
  if (t.ne.size() == 1 && (begin % block != 0 || count % block != 0))
    fail("tensor '{}': a {} vector of {} values cannot be split into parts of {}", t.name, dtype_name(t.type),
         t.ne[0], count);
  WeightTensor s = t;
  s.name = name;
  if (t.ne.size() == 1) {
    s.ne = {count};
    s.data = t.data + row_bytes(t.type, begin);
    s.nbytes = row_bytes(t.type, count);
  } else {
    const size_t rb = row_bytes(t.type, t.ne[0]);
    s.ne = {t.ne[0], count};
    s.data = t.data + rb * size_t(begin);
    s.nbytes = rb * size_t(count);
  }
  return s;
}

struct Layer {
  std::unique_ptr<Matrix> wq, wk, wv, wo, up, down;
  std::unique_ptr<Vector> bq, bk, bv, bo, b_up, b_down;
  std::unique_ptr<Vector> attn_norm_w, attn_norm_b, out_norm_w, out_norm_b;
};

class BertModel final : public EncoderModel {
 public:
  BertModel(const Weights& w, Backend& backend) : backend_(backend), hp_(read_bert_hparams(w)) {
    const int64_t H = hp_.n_embd, F = hp_.n_ff;
    tok_embd_ = backend.prepare_matrix(w.get("token_embd.weight", {H, hp_.n_vocab}));
    const WeightTensor& pos = w.get("position_embd.weight");
    if (pos.ne.size() != 2 || pos.ne[0] != H || pos.ne[1] < hp_.n_ctx)
      fail("{}: tensor 'position_embd.weight' must be {} x at least {} (bert.context_length), got {} dims [{}]",
           w.source(), H, hp_.n_ctx, pos.ne.size(), fmt::join(pos.ne, ", "));
    pos_embd_ = backend.prepare_matrix(pos);
    if (const WeightTensor* types = w.find("token_types.weight")) {
      if (types->ne.size() != 2 || types->ne[0] != H || types->ne[1] < 1)
        fail("{}: tensor 'token_types.weight' must have rows of {} values", w.source(), H);
      if (!can_dequantize(types->type) || H % traits(types->type).block_size != 0)
        fail("{}: tensor 'token_types.weight' has unsupported type {}", w.source(), dtype_name(types->type));
      // Every token is "sentence A": the same row 0 is added to all of them.
      std::vector<float> row0(static_cast<size_t>(H));
      dequantize_row(types->type, types->data, row0.data(), H);
      type0_ = backend.make_vector(row0);
    }
    embd_norm_w_ = vector(w, "token_embd_norm.weight", H);
    embd_norm_b_ = vector(w, "token_embd_norm.bias", H);

    layers_.resize(static_cast<size_t>(hp_.n_layer));
    for (int il = 0; il < hp_.n_layer; ++il) {
      Layer& L = layers_[static_cast<size_t>(il)];
      const std::string p = "blk." + std::to_string(il) + ".";
      if (const WeightTensor* qkv = w.find(p + "attn_qkv.weight")) {
        w.get(qkv->name, {H, 3 * H});
        L.wq = backend.prepare_matrix(slice_outer(*qkv, 0, H, p + "attn_q.weight"));
        L.wk = backend.prepare_matrix(slice_outer(*qkv, H, H, p + "attn_k.weight"));
        L.wv = backend.prepare_matrix(slice_outer(*qkv, 2 * H, H, p + "attn_v.weight"));
        if (const WeightTensor* b = w.find(p + "attn_qkv.bias")) {
          w.get(b->name, {3 * H});
          L.bq = backend.prepare_vector(slice_outer(*b, 0, H, p + "attn_q.bias"));
          L.bk = backend.prepare_vector(slice_outer(*b, H, H, p + "attn_k.bias"));
          L.bv = backend.prepare_vector(slice_outer(*b, 2 * H, H, p + "attn_v.bias"));
        }
      } else {
        L.wq = matrix(w, p + "attn_q.weight", H, H);
        L.wk = matrix(w, p + "attn_k.weight", H, H);
        L.wv = matrix(w, p + "attn_v.weight", H, H);
        L.bq = optional_vector(w, p + "attn_q.bias", H);
        L.bk = optional_vector(w, p + "attn_k.bias", H);
        L.bv = optional_vector(w, p + "attn_v.bias", H);
      }
      L.wo = matrix(w, p + "attn_output.weight", H, H);
      L.bo = optional_vector(w, p + "attn_output.bias", H);
      L.attn_norm_w = vector(w, p + "attn_output_norm.weight", H);
      L.attn_norm_b = optional_vector(w, p + "attn_output_norm.bias", H);
      L.up = matrix(w, p + "ffn_up.weight", F, H);
      L.b_up = optional_vector(w, p + "ffn_up.bias", F);
      L.down = matrix(w, p + "ffn_down.weight", H, F);
      L.b_down = optional_vector(w, p + "ffn_down.bias", H);
      L.out_norm_w = vector(w, p + "layer_output_norm.weight", H);
      L.out_norm_b = optional_vector(w, p + "layer_output_norm.bias", H);
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

 private:
  std::unique_ptr<Matrix> matrix(const Weights& w, const std::string& name, int64_t rows, int64_t cols) {
    return backend_.prepare_matrix(w.get(name, {cols, rows}));
  }
  std::unique_ptr<Vector> vector(const Weights& w, const std::string& name, int64_t n) {
    return backend_.prepare_vector(w.get(name, {n}));
  }
  std::unique_ptr<Vector> optional_vector(const Weights& w, const std::string& name, int64_t n) {
    return w.find(name) ? vector(w, name, n) : nullptr;
  }

  // Workspaces are kept between calls: a warm one has its pages mapped already, which matters for the latency
  // of short single-sentence calls. One per concurrent caller.
  std::unique_ptr<Workspace> acquire_workspace() const {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (pool_.empty()) return backend_.new_workspace();
    auto ws = std::move(pool_.back());
    pool_.pop_back();
    return ws;
  }
  void release_workspace(std::unique_ptr<Workspace> ws) const {
    ws->reset();
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool_.push_back(std::move(ws));
  }

  Backend& backend_;
  BertHParams hp_;
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<Workspace>> pool_;
  std::unique_ptr<Matrix> tok_embd_, pos_embd_;
  std::unique_ptr<Vector> type0_, embd_norm_w_, embd_norm_b_;
  std::vector<Layer> layers_;
};

std::vector<std::vector<float>> BertModel::embed(const std::vector<std::vector<int32_t>>& sequences,
                                                 const EmbedOptions& options) const {
  if (sequences.empty()) return {};
  const int64_t H = hp_.n_embd;
  std::vector<int32_t> ids, positions;
  std::vector<AttentionSpan> spans;
  spans.reserve(sequences.size());
  for (size_t s = 0; s < sequences.size(); ++s) {
    const auto& seq = sequences[s];
    if (seq.empty()) fail("sequence {} is empty: an encoder needs at least one token", s);
    if (seq.size() > size_t(hp_.n_ctx))
      fail("sequence {} has {} tokens; this model takes at most {}", s, seq.size(), hp_.n_ctx);
    for (int32_t id : seq)
      if (id < 0 || id >= hp_.n_vocab) fail("sequence {}: token id {} is outside the vocabulary (0..{})", s, id,
                                            hp_.n_vocab - 1);
    const int64_t begin = int64_t(ids.size()), n = int64_t(seq.size());
    spans.push_back({begin, n, begin, n});
    ids.insert(ids.end(), seq.begin(), seq.end());
    for (int32_t i = 0; i < int32_t(n); ++i) positions.push_back(i);
  }
  const int64_t T = int64_t(ids.size());

  struct Lease {
    const BertModel& model;
    std::unique_ptr<Workspace> ws;
    ~Lease() { model.release_workspace(std::move(ws)); }
  } lease{*this, acquire_workspace()};
  Workspace* ws = lease.ws.get();
  Act x = ws->act(T, H);
  backend_.get_rows(x, *tok_embd_, ids);
  if (type0_) backend_.add_vector(x, *type0_);
  {
    Act pos = ws->act(T, H);
    backend_.get_rows(pos, *pos_embd_, positions);
    backend_.add(x, pos);
  }
  backend_.layer_norm(x, embd_norm_w_.get(), embd_norm_b_.get(), hp_.eps);

  Act q = ws->act(T, H), k = ws->act(T, H), v = ws->act(T, H);
  Act att = ws->act(T, H), h = ws->act(T, H), ff = ws->act(T, hp_.n_ff);
  AttentionParams ap;
  ap.n_head = ap.n_head_kv = hp_.n_head;
  ap.head_dim = hp_.n_embd / hp_.n_head;
  ap.scale = 1.0f / std::sqrt(float(ap.head_dim));
  ap.causal = false;
  for (const Layer& L : layers_) {
    backend_.matmul(q, x, *L.wq, L.bq.get());
    backend_.matmul(k, x, *L.wk, L.bk.get());
    backend_.matmul(v, x, *L.wv, L.bv.get());
    backend_.attention(att, q, k, v, spans, ap);
    backend_.matmul(h, att, *L.wo, L.bo.get());
    backend_.add(h, x);
    backend_.layer_norm(h, L.attn_norm_w.get(), L.attn_norm_b.get(), hp_.eps);
    backend_.matmul(ff, h, *L.up, L.b_up.get());
    backend_.gelu_erf(ff);
    backend_.matmul(x, ff, *L.down, L.b_down.get());
    backend_.add(x, h);
    backend_.layer_norm(x, L.out_norm_w.get(), L.out_norm_b.get(), hp_.eps);
  }

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
    fail("{}: {}.embedding_length {} is not a multiple of {}.attention.head_count {}", w.source(), a, hp.n_embd, a,
         hp.n_head);
  hp.n_ctx = int(int_key(w, a + ".context_length", 1, kMaxContext));
  const std::optional<double> eps = w.metadata().find_float(a + ".attention.layer_norm_epsilon");
  if (!eps) fail("{}: missing metadata key '{}.attention.layer_norm_epsilon'", w.source(), a);
  if (!(*eps > 0.0 && *eps < 1.0))
    fail("{}: metadata '{}.attention.layer_norm_epsilon' = {} must be in (0, 1)", w.source(), a, *eps);
  hp.eps = float(*eps);
  if (w.metadata().find_bool(a + ".attention.causal").value_or(false))
    fail("{}: {}.attention.causal is true; a BERT encoder attends bidirectionally", w.source(), a);
  if (w.metadata().has(a + ".pooling_type")) {
    static constexpr Pooling kByType[] = {Pooling::kNone, Pooling::kMean, Pooling::kCls, Pooling::kLast};
    hp.pooling = kByType[int_key(w, a + ".pooling_type", 0, 3)];
  }
  const WeightTensor& tok = w.get("token_embd.weight");
  if (tok.ne.size() != 2 || tok.ne[0] != hp.n_embd || tok.ne[1] < 1 || tok.ne[1] > (int64_t(1) << 31) - 1)
    fail("{}: tensor 'token_embd.weight' must be {} x n_vocab, got [{}]", w.source(), hp.n_embd,
         fmt::join(tok.ne, ", "));
  hp.n_vocab = tok.ne[1];
  return hp;
}

std::unique_ptr<EncoderModel> load_bert(const Weights& weights, Backend& backend) {
  return std::make_unique<BertModel>(weights, backend);
}

}  // namespace hearth
