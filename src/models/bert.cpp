#include "models/bert.h"

#include <cmath>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <fmt/ranges.h>

#include "core/error.h"
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
      if (types->ne.size() != 2 || types->ne[0] != H || types->ne[1] < 1)
        fail(ErrorKind::kCorruptData, "{}: tensor 'token_types.weight' must have rows of {} values", w.source(), H);
      if (!can_dequantize(types->type) || H % traits(types->type).block_size != 0)
        fail(ErrorKind::kUnsupported, "{}: tensor 'token_types.weight' has unsupported type {}", w.source(),
             dtype_name(types->type));
      // Every token is "sentence A": the same row 0 is added to all of them.
      std::vector<float> row0(static_cast<size_t>(H));
      dequantize_row(types->type, types->data, row0.data(), H);
      type0_ = backend.make_vector(row0);
    }
    const EncoderWeights ew(backend, w);
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

 private:
  Backend& backend_;
  BertHParams hp_;
  mutable WorkspacePool workspaces_{backend_};
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
      fail(ErrorKind::kResourceExhausted, "sequence {} has {} tokens; this model takes at most {}", s, seq.size(),
           hp_.n_ctx);
    for (int32_t id : seq)
      if (id < 0 || id >= hp_.n_vocab) fail("sequence {}: token id {} is outside the vocabulary (0..{})", s, id,
                                            hp_.n_vocab - 1);
    const int64_t begin = int64_t(ids.size()), n = int64_t(seq.size());
    spans.push_back({begin, n, begin, n});
    ids.insert(ids.end(), seq.begin(), seq.end());
    for (int32_t i = 0; i < int32_t(n); ++i) positions.push_back(i);
  }
  const int64_t T = int64_t(ids.size());

  const WorkspacePool::Lease ws = workspaces_.lease();
  Act x = ws->act(T, H);
  backend_.get_rows(x, *tok_embd_, ids);
  if (type0_) backend_.add_vector(x, *type0_);
  {
    Act pos = ws->act(T, H);
    backend_.get_rows(pos, *pos_embd_, positions);
    backend_.add(x, pos);
  }
  backend_.layer_norm(x, x, embd_norm_w_.get(), embd_norm_b_.get(), hp_.eps);

  Act qkv = ws->act(T, 3 * H);
  Act att = ws->act(T, H), ff = ws->act(T, hp_.n_ff);
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
    static constexpr Pooling kByType[] = {Pooling::kNone, Pooling::kMean, Pooling::kCls, Pooling::kLast};
    hp.pooling = kByType[int_key(w, a + ".pooling_type", 0, 3)];
  }
  const WeightTensor& tok = w.get("token_embd.weight");
  if (tok.ne.size() != 2 || tok.ne[0] != hp.n_embd || tok.ne[1] < 1 || tok.ne[1] > (int64_t(1) << 31) - 1)
    fail(ErrorKind::kCorruptData, "{}: tensor 'token_embd.weight' must be {} x n_vocab, got [{}]", w.source(),
         hp.n_embd, fmt::join(tok.ne, ", "));
  hp.n_vocab = tok.ne[1];
  return hp;
}

std::unique_ptr<EncoderModel> load_bert(const Weights& weights, Backend& backend) {
  return std::make_unique<BertModel>(weights, backend);
}

}  // namespace hearth
