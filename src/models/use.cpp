#include "models/use.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/encoder_weights.h"
#include "models/qkv_projection.h"
#include "models/workspace_pool.h"

namespace hearth {
namespace {

constexpr int64_t kMaxLayers = 64, kMaxWidth = 1 << 15, kMaxContext = 1 << 16;

struct Layer {
  int64_t in = 0;  // input width (the token embedding width for layer 0, the model width after)
  std::unique_ptr<QkvProjection> qkv;
  std::unique_ptr<Matrix> wres, wo, up, down;
  std::unique_ptr<Vector> bres, bo, b_up, b_down, attn_norm_w, attn_norm_b, ffn_norm_w, ffn_norm_b;
  float query_scale = 1.0f;
};

class UseModel final : public EncoderModel {
 public:
  UseModel(const Weights& w, Backend& backend) : backend_(backend), source_(w.source()) {
    const Metadata& m = w.metadata();
    auto int_key = [&](const std::string& key, int64_t lo, int64_t hi) {
      std::optional<int64_t> v = m.find_int(key);
      if (!v) fail(ErrorKind::kCorruptData, "{}: missing metadata key '{}'", source_, key);
      if (*v < lo || *v > hi)
        fail(ErrorKind::kCorruptData, "{}: metadata '{}' = {} is out of range [{}, {}]", source_, key, *v, lo, hi);
      return *v;
    };
    const int64_t n_layer = int_key("use.block_count", 1, kMaxLayers);
    dim_ = int_key("use.embedding_length", 1, kMaxWidth);
    const int64_t in = int_key("use.input_embedding_length", 2, kMaxWidth);
    const int64_t ff = int_key("use.feed_forward_length", 1, 8 * kMaxWidth);
    n_head_ = int(int_key("use.attention.head_count", 1, 1024));
    n_ctx_ = int(int_key("use.context_length", 1, kMaxContext));
    if (in % 2 != 0 || in % n_head_ != 0 || dim_ % n_head_ != 0)
      fail(ErrorKind::kCorruptData, "{}: widths {} / {} do not split into {} heads (and sin/cos halves)", source_, in,
           dim_, n_head_);
    eps_ = float(m.find_float("use.attention.layer_norm_epsilon").value_or(-1));
    if (!(eps_ > 0 && eps_ < 1))
      fail(ErrorKind::kCorruptData, "{}: missing or invalid 'use.attention.layer_norm_epsilon'", source_);
    l2_eps_ = float(m.find_float("use.l2_normalize_epsilon").value_or(1e-12));
    if (!(l2_eps_ >= 0 && l2_eps_ < 1))
      fail(ErrorKind::kCorruptData, "{}: invalid 'use.l2_normalize_epsilon'", source_);
    std::optional<std::vector<double>> scales = m.find_floats("use.attention.query_scales");
    if (!scales || scales->size() != size_t(n_layer))
      fail(ErrorKind::kCorruptData, "{}: 'use.attention.query_scales' must hold one value per layer ({})", source_,
           n_layer);

    const WeightTensor& tok = w.get("token_embd.weight");
    if (tok.ne.size() != 2 || tok.ne[0] != in || tok.ne[1] < 1 || tok.ne[1] > INT32_MAX)
      fail(ErrorKind::kCorruptData, "{}: tensor 'token_embd.weight' must be {} x n_vocab", source_, in);
    n_vocab_ = tok.ne[1];
    tok_embd_ = backend.prepare_matrix(tok, Backend::MatrixUse::kLookup);
    const WeightTensor& inv = w.get("timing.inv_timescales", {in / 2});
    if (inv.type != DType::F32)
      fail(ErrorKind::kCorruptData, "{}: tensor 'timing.inv_timescales' must be f32", source_);
    inv_timescales_.resize(size_t(in / 2));
    dequantize_row(DType::F32, inv.data, inv_timescales_.data(), in / 2);
    // The timing signal of the first positions, once: per call it would cost T * in / 2 sin/cos pairs, a
    // noticeable share of a short sentence's latency. Capped so that a file claiming a huge context cannot make
    // the table huge; later positions are computed per call.
    timing_positions_ = std::min<int64_t>(n_ctx_, kTimingTablePositions);
    timing_.resize(size_t(timing_positions_ * in));
    for (int64_t pos = 0; pos < timing_positions_; ++pos) timing_row(pos, timing_.data() + pos * in);
    WeightTensor table{"timing.table", DType::F32, {in, timing_positions_}, reinterpret_cast<const uint8_t*>(timing_.data()),
                       timing_.size() * sizeof(float)};
    timing_table_ = backend.prepare_matrix(table, Backend::MatrixUse::kLookup);

    const EncoderWeights ew(backend, w);
    layers_.resize(size_t(n_layer));
    for (int64_t il = 0; il < n_layer; ++il) {
      Layer& L = layers_[size_t(il)];
      const std::string p = "blk." + std::to_string(il) + ".";
      L.in = il == 0 ? in : dim_;
      L.query_scale = float((*scales)[size_t(il)]);
      if (!(L.query_scale > 0 && L.query_scale <= 1))
        fail(ErrorKind::kCorruptData, "{}: invalid query scale for layer {}", source_, il);
      L.attn_norm_w = ew.vector(p + "attn_norm.weight", L.in);
      L.attn_norm_b = ew.vector(p + "attn_norm.bias", L.in);
      // A layer that changes the width needs a projected residual; otherwise the residual is the input itself.
      if (L.in != dim_) {
        L.wres = ew.matrix(p + "attn_res.weight", dim_, L.in);
        L.bres = ew.vector(p + "attn_res.bias", dim_);
      }
      L.qkv = std::make_unique<QkvProjection>(ew, p, L.in, QkvProjection::Biases::kRequired);
      L.wo = ew.matrix(p + "attn_output.weight", dim_, L.in);
      L.bo = ew.vector(p + "attn_output.bias", dim_);
      L.ffn_norm_w = ew.vector(p + "ffn_norm.weight", dim_);
      L.ffn_norm_b = ew.vector(p + "ffn_norm.bias", dim_);
      L.up = ew.matrix(p + "ffn_up.weight", ff, dim_);
      L.b_up = ew.vector(p + "ffn_up.bias", ff);
      L.down = ew.matrix(p + "ffn_down.weight", dim_, ff);
      L.b_down = ew.vector(p + "ffn_down.bias", dim_);
    }
    n_ff_ = ff;
    head_w_ = ew.matrix("output_tanh.weight", dim_, dim_);
    head_b_ = ew.vector("output_tanh.bias", dim_);
  }

  int dim() const override { return int(dim_); }
  int max_tokens() const override { return n_ctx_; }
  EmbedOptions default_options() const override { return {Pooling::kMean, true}; }
  std::vector<Pooling> supported_poolings() const override { return {Pooling::kMean, Pooling::kNone}; }
  std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& sequences,
                                        const EmbedOptions& options) const override;

 private:
  // Activations reused by every layer (the workspace is a bump allocator, so per-layer allocations would add up).
  struct Scratch {
    Act h, qkv, ctx, f;  // T x widest (h, ctx), T x 3 widest (qkv), T x n_ff (f)
  };
  void attention_block(const Scratch& s, const Layer& L, Act x, Act y, std::span<const AttentionSpan> spans) const;
  void ffn_block(const Scratch& s, const Layer& L, Act y) const;

  Backend& backend_;
  std::string source_;
  int64_t dim_ = 0, n_vocab_ = 0, n_ff_ = 0;
  int n_head_ = 0, n_ctx_ = 0;
  float eps_ = 1e-6f, l2_eps_ = 1e-12f;
  // sin | cos of position * inv_timescales: the input-width timing signal added to a token at `position`.
  void timing_row(int64_t position, float* row) const {
    const size_t half = inv_timescales_.size();
    for (size_t i = 0; i < half; ++i) {
      const float angle = float(position) * inv_timescales_[i];  // float32, as the graph
      row[i] = float(std::sin(double(angle)));
      row[half + i] = float(std::cos(double(angle)));
    }
  }

  static constexpr int64_t kTimingTablePositions = 1024;
  std::vector<float> inv_timescales_;
  std::vector<float> timing_;  // timing_positions_ rows of timing_row()
  int64_t timing_positions_ = 0;
  std::unique_ptr<Matrix> timing_table_;  // timing_ as a lookup table (reads timing_, declared before it)
  std::unique_ptr<Matrix> tok_embd_, head_w_;
  std::unique_ptr<Vector> head_b_;
  std::vector<Layer> layers_;
  mutable WorkspacePool workspaces_{backend_};
};

// A scratch activation seen as T x cols (cols <= its width, so the rows fit in its memory).
Act narrow(Act a, int64_t cols) {
  HEARTH_ASSERT(cols <= a.cols);
  a.cols = cols;
  return a;
}

// y (T x dim) = attention(LN(x)) · Wo + bo + residual, where the residual is x itself or its projection.
// x and y may be the same activation only when the layer keeps the width.
void UseModel::attention_block(const Scratch& s, const Layer& L, Act x, Act y,
                               std::span<const AttentionSpan> spans) const {
  const Act h = narrow(s.h, L.in), ctx = narrow(s.ctx, L.in);
  backend_.layer_norm(h, x, L.attn_norm_w.get(), L.attn_norm_b.get(), eps_);
  AttentionParams ap;
  ap.n_head = ap.n_head_kv = n_head_;
  ap.head_dim = int(L.in / n_head_);
  ap.scale = L.query_scale;
  ap.causal = false;
  L.qkv->attend(backend_, h, s.qkv, ctx, spans, ap);
  if (L.wres) backend_.matmul(y, x, *L.wres, L.bres.get());  // otherwise y is x: the plain residual
  backend_.matmul(y, ctx, *L.wo, L.bo.get(), Backend::Epilogue::kAccumulate);
}

// y += FFN(LN(y)) with a ReLU.
void UseModel::ffn_block(const Scratch& s, const Layer& L, Act y) const {
  const Act h = narrow(s.h, dim_);
  backend_.layer_norm(h, y, L.ffn_norm_w.get(), L.ffn_norm_b.get(), eps_);
  backend_.matmul(s.f, h, *L.up, L.b_up.get(), Backend::Epilogue::kRelu);
  backend_.matmul(y, s.f, *L.down, L.b_down.get(), Backend::Epilogue::kAccumulate);
}

std::vector<std::vector<float>> UseModel::embed(const std::vector<std::vector<int32_t>>& sequences,
                                                const EmbedOptions& options) const {
  if (options.pooling != Pooling::kMean && options.pooling != Pooling::kNone)
    fail(ErrorKind::kUnsupported, "{}: Universal Sentence Encoder supports mean pooling (or none) only", source_);
  const size_t S = sequences.size();
  std::vector<std::vector<float>> out(S);
  if (S == 0) return out;

  // Tokens past the context are dropped, as the graph's ClipToMaxLength does.
  std::vector<int32_t> ids, positions;
  std::vector<AttentionSpan> spans;        // non-empty sequences only
  std::vector<size_t> span_of(S, SIZE_MAX);
  for (size_t s = 0; s < S; ++s) {
    const size_t n = std::min(sequences[s].size(), size_t(n_ctx_));
    for (size_t t = 0; t < n; ++t) {
      const int32_t id = sequences[s][t];
      if (id < 0 || id >= n_vocab_)
        fail("sequence {}: token id {} is outside the vocabulary (0..{})", s, id, n_vocab_ - 1);
      ids.push_back(id);
      positions.push_back(int32_t(t));
    }
    if (n == 0) continue;
    span_of[s] = spans.size();
    const int64_t begin = int64_t(ids.size() - n);
    spans.push_back({begin, int64_t(n), begin, int64_t(n)});
  }
  const int64_t T = int64_t(ids.size());
  const int64_t in = layers_[0].in;
  const WorkspacePool::Lease ws = workspaces_.lease();

  Act y = ws->act(std::max<int64_t>(T, 1), dim_);
  if (T > 0) {
    // The graph adds the gathered embeddings twice (once plain, once with the timing signal), so x = 2·E + timing.
    Act x = ws->act(T, in);
    backend_.get_rows(x, *tok_embd_, ids);
    backend_.scale(x, 2.0f);
    Act tim = ws->act(T, in);
    if (*std::max_element(positions.begin(), positions.end()) < timing_positions_) {
      backend_.get_rows(tim, *timing_table_, positions);
    } else {
      std::vector<float> timing(size_t(T * in));
      for (int64_t r = 0; r < T; ++r) timing_row(positions[size_t(r)], timing.data() + r * in);
      backend_.write(tim, timing.data());
    }
    backend_.add(x, tim);

    y = y.slice_rows(0, T);
    const int64_t wide = std::max(in, dim_);
    const Scratch scratch{ws->act(T, wide), ws->act(T, 3 * wide), ws->act(T, wide), ws->act(T, n_ff_)};
    for (const Layer& L : layers_) {
      attention_block(scratch, L, L.wres ? x : y, y, spans);
      ffn_block(scratch, L, y);
    }
  }

  if (options.pooling == Pooling::kNone) {
    if (T == 0) return out;
    if (options.normalize) backend_.l2_normalize(y, l2_eps_);
    std::vector<float> all(size_t(T * dim_));
    backend_.read(y, all.data());
    for (size_t s = 0; s < S; ++s) {
      if (span_of[s] == SIZE_MAX) continue;
      const AttentionSpan& sp = spans[span_of[s]];
      out[s].assign(all.begin() + sp.q_begin * dim_, all.begin() + (sp.q_begin + sp.q_count) * dim_);
    }
    return out;
  }

  // Mean over each sentence's tokens; a sentence without tokens pools to zeros (the graph's masked mean).
  std::vector<float> pooled(S * size_t(dim_), 0.0f);
  if (!spans.empty()) {
    Act p = ws->act(int64_t(spans.size()), dim_);
    backend_.pool(p, y, spans, Pooling::kMean);
    std::vector<float> host(spans.size() * size_t(dim_));
    backend_.read(p, host.data());
    for (size_t s = 0; s < S; ++s)
      if (span_of[s] != SIZE_MAX)
        std::copy_n(host.data() + span_of[s] * size_t(dim_), dim_, pooled.data() + s * size_t(dim_));
  }
  Act pin = ws->act(int64_t(S), dim_), u = ws->act(int64_t(S), dim_);
  backend_.write(pin, pooled.data());
  backend_.matmul(u, pin, *head_w_, head_b_.get());
  backend_.tanh(u);
  if (options.normalize) backend_.l2_normalize(u, l2_eps_);
  std::vector<float> all(S * size_t(dim_));
  backend_.read(u, all.data());
  for (size_t s = 0; s < S; ++s) out[s].assign(all.begin() + s * dim_, all.begin() + (s + 1) * dim_);
  return out;
}

}  // namespace

std::unique_ptr<EncoderModel> load_use(const Weights& weights, Backend& backend) {
  return std::make_unique<UseModel>(weights, backend);
}

}  // namespace hearth
