#include "models/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numbers>
#include <optional>
#include <set>

#include "core/error.h"
#include "models/lora.h"

namespace hearth {
namespace {

// The per-dimension divisors llama3 rope scaling applies to the rotation frequencies (Meta's reference
// formula, also what llama.cpp's converter bakes into rope_freqs.weight).
std::vector<float> llama3_freq_factors(const RopeParams& r) {
  std::vector<float> out;
  const double low_wavelen = r.llama3_original_context / r.llama3_low_freq_factor;
  const double high_wavelen = r.llama3_original_context / r.llama3_high_freq_factor;
  for (int i = 0; i < r.n_rot / 2; ++i) {
    const double freq = std::pow(double(r.freq_base), -2.0 * i / r.n_rot);
    const double wavelen = 2 * std::numbers::pi / freq;
    double f = 1.0;
    if (wavelen > low_wavelen) {
      f = r.llama3_factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (r.llama3_original_context / wavelen - r.llama3_low_freq_factor) /
                            (r.llama3_high_freq_factor - r.llama3_low_freq_factor);
      f = 1.0 / ((1 - smooth) / r.llama3_factor + smooth);
    }
    out.push_back(float(f));
  }
  return out;
}

// GGUF files converted from Llama 3.1+ carry the llama3 scaling only as a rope_freqs.weight tensor of
// per-dimension divisors. The backend takes llama3 parameters instead, so recover them: the largest divisor is
// the factor, and the remaining parameters are Meta's published ones, checked against the tensor.
void llama3_from_rope_freqs(const WeightTensor& t, RopeParams& r, const std::string& source) {
  if (t.type != DType::F32 || t.n_elements() != r.n_rot / 2)
    fail(ErrorKind::kCorruptData, "{}: rope_freqs.weight must be F32 with {} values", source, r.n_rot / 2);
  std::vector<float> have(size_t(t.n_elements()));
  std::memcpy(have.data(), t.data, have.size() * sizeof(float));
  float factor = 0;
  for (float f : have) factor = std::max(factor, f);
  if (factor <= 1.0f + 1e-6f) return;  // all ones: no scaling
  for (int original : {8192, 4096, 2048, 16384, 32768, 131072}) {
    for (auto [low, high] : {std::pair{1.0f, 4.0f}, std::pair{1.0f, 2.0f}, std::pair{1.0f, 8.0f}}) {
      RopeParams c = r;
      c.llama3_factor = factor;
      c.llama3_low_freq_factor = low;
      c.llama3_high_freq_factor = high;
      c.llama3_original_context = original;
      const auto want = llama3_freq_factors(c);
      bool same = true;
      for (size_t i = 0; i < want.size() && same; ++i) same = std::fabs(want[i] - have[i]) <= 1e-3f * want[i];
      if (same) {
        r = c;
        return;
      }
    }
  }
  fail(ErrorKind::kUnsupported, "{}: rope_freqs.weight does not follow llama3 rope scaling; other per-dimension rope factors are not supported",
       source);
}

struct Layer {
  std::unique_ptr<Vector> attn_norm, ffn_norm, q_norm, k_norm;
  std::unique_ptr<Matrix> wq, wk, wv, wo, gate, up, down;
  std::unique_ptr<Vector> bq, bk, bv;
};

class LlamaModel final : public DecoderModel {
 public:
  LlamaModel(const Weights& w, Backend& backend) : backend_(backend), hp_(read_llama_hparams(w)) {
    const int64_t E = hp_.n_embd, Q = hp_.q_dim(), KV = hp_.kv_dim(), F = hp_.n_ff, V = hp_.n_vocab;
    if (w.find("blk.0.ffn_gate_inp.weight"))
      fail(ErrorKind::kUnsupported, "{}: mixture-of-experts {} models are not supported", w.source(), hp_.arch);
    tok_embd_ = backend.prepare_matrix(w.get("token_embd.weight", {E, V}), Backend::MatrixUse::kLookup);
    output_norm_ = backend.prepare_vector(w.get("output_norm.weight", {E}));
    if (const WeightTensor* out = w.find("output.weight")) {
      w.get("output.weight", {E, V});
      output_ = backend.prepare_matrix(*out);
    }
    auto vec = [&](const std::string& name, int64_t n) { return backend.prepare_vector(w.get(name, {n})); };
    auto mat = [&](const std::string& name, int64_t cols, int64_t rows) {
      return backend.prepare_matrix(w.get(name, {cols, rows}));
    };
    auto opt_vec = [&](const std::string& name, int64_t n) -> std::unique_ptr<Vector> {
      return w.find(name) ? vec(name, n) : nullptr;
    };
    for (int i = 0; i < hp_.n_layer; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      Layer L;
      L.attn_norm = vec(p + "attn_norm.weight", E);
      L.wq = mat(p + "attn_q.weight", E, Q);
      L.wk = mat(p + "attn_k.weight", E, KV);
      L.wv = mat(p + "attn_v.weight", E, KV);
      L.wo = mat(p + "attn_output.weight", Q, E);
      // qwen2 always has q/k/v biases; llama files occasionally do (llama.cpp loads them when present).
      L.bq = hp_.qkv_bias ? vec(p + "attn_q.bias", Q) : opt_vec(p + "attn_q.bias", Q);
      L.bk = hp_.qkv_bias ? vec(p + "attn_k.bias", KV) : opt_vec(p + "attn_k.bias", KV);
      L.bv = hp_.qkv_bias ? vec(p + "attn_v.bias", KV) : opt_vec(p + "attn_v.bias", KV);
      if (hp_.qk_norm) {
        L.q_norm = vec(p + "attn_q_norm.weight", hp_.head_dim);
        L.k_norm = vec(p + "attn_k_norm.weight", hp_.head_dim);
      }
      L.ffn_norm = vec(p + "ffn_norm.weight", E);
      L.gate = mat(p + "ffn_gate.weight", E, F);
      L.up = mat(p + "ffn_up.weight", E, F);
      L.down = mat(p + "ffn_down.weight", F, E);
      layers_.push_back(std::move(L));
    }
  }

  const DecoderHParams& hparams() const override { return hp_; }
  Backend& backend() const override { return backend_; }

  std::vector<float> forward(std::span<const DecoderInput> inputs, DecoderCache& cache) const override {
    return run(inputs, cache, /*logits=*/true);
  }
  std::vector<float> hidden_states(std::span<const DecoderInput> inputs, DecoderCache& cache) const override {
    return run(inputs, cache, /*logits=*/false);
  }

 private:
  Backend& backend_;
  DecoderHParams hp_;
  // The forward pass; `logits`: through the output head, else the final-norm hidden states.
  std::vector<float> run(std::span<const DecoderInput> inputs, DecoderCache& cache, bool logits) const;

  std::unique_ptr<Matrix> tok_embd_, output_;
  std::unique_ptr<Vector> output_norm_;
  std::vector<Layer> layers_;
};

std::vector<float> LlamaModel::run(std::span<const DecoderInput> inputs, DecoderCache& cache, bool want_logits) const {
  Backend& be = backend_;
  if (&cache.backend() != &be) fail("KV cache belongs to another backend");
  // ---- validate the whole batch before touching the cache ----
  std::set<int> seqs;
  std::vector<int32_t> ids, positions;
  std::vector<AttentionSpan> spans;
  std::vector<int64_t> out_rows;  // batch rows whose logits are wanted
  int64_t blocks_needed = 0;
  for (const DecoderInput& in : inputs) {
    if (!seqs.insert(in.seq).second) fail("forward: sequence {} appears twice in one batch", in.seq);
    const int len = cache.length(in.seq);
    if (in.tokens.empty()) fail("forward: empty token list for sequence {}", in.seq);
    if (in.start < 0 || in.start > len)
      fail("forward: start position {} of sequence {} is past its cached length {}", in.start, in.seq, len);
    if (int64_t(in.start) + int64_t(in.tokens.size()) > cache.n_ctx())
      fail(ErrorKind::kResourceExhausted, "context full: sequence {} needs {} positions, the context holds {}", in.seq,
           int64_t(in.start) + int64_t(in.tokens.size()), cache.n_ctx());
    for (const int32_t id : in.tokens)
      if (id < 0 || id >= hp_.n_vocab) fail("token id {} out of range (vocabulary of {})", id, hp_.n_vocab);
    if (in.lora)
      for (const LoraUse& u : in.lora->adapters)
        if (!u.adapter->fits(hp_)) fail("forward: LoRA adapter {} was prepared for another model", u.adapter->source());
    if (in.start > 0 && cache.adapter_key(in.seq) != lora_key(in.lora))
      fail("forward: sequence {} was computed with other LoRA adapters; start it over (position 0) to change them",
           in.seq);
    blocks_needed += cache.blocks_needed(in.seq, in.start, int(in.tokens.size()));
  }
  if (blocks_needed > cache.available_blocks())
    fail(ErrorKind::kResourceExhausted, "KV cache full: this batch needs {} more blocks of {} positions, {} are free",
         blocks_needed, cache.block_size(), cache.available_blocks());
  // From here on nothing fails: the cache's block tables stay as reserved until the batch is committed.
  for (const DecoderInput& in : inputs) {
    cache.reserve(in.seq, in.start, int(in.tokens.size()));
    cache.bind_adapters(in.seq, in.start, lora_key(in.lora));
  }
  // Rows that run through the same LoRA adapters, as runs of consecutive inputs (the engine orders a batch by
  // adapters): `begin`/`count` in the batch, `out_begin`/`out_count` among the rows whose logits are wanted (what
  // the last layer carries on with).
  struct LoraRows {
    const LoraStack* stack;
    int64_t begin, count, out_begin, out_count;
  };
  std::vector<LoraRows> lora_rows;
  for (const DecoderInput& in : inputs) {
    AttentionSpan s;
    s.q_begin = int64_t(ids.size());
    s.q_count = int64_t(in.tokens.size());
    s.kv_count = in.start + s.q_count;
    s.kv_blocks = cache.block_table(in.seq).data();
    s.kv_block_rows = cache.block_size();
    spans.push_back(s);
    const int64_t out_begin = int64_t(out_rows.size());
    for (size_t t = 0; t < in.tokens.size(); ++t) {
      ids.push_back(in.tokens[t]);
      positions.push_back(in.start + int32_t(t));
      if (in.all_logits || t + 1 == in.tokens.size()) out_rows.push_back(s.q_begin + int64_t(t));
    }
    if (!in.lora || in.lora->adapters.empty()) continue;
    const int64_t out_count = int64_t(out_rows.size()) - out_begin;
    LoraRows* last = lora_rows.empty() ? nullptr : &lora_rows.back();
    if (last && last->begin + last->count == s.q_begin && last->out_begin + last->out_count == out_begin &&
        (last->stack == in.lora || last->stack->adapters == in.lora->adapters)) {
      last->count += s.q_count;
      last->out_count += out_count;
    } else {
      lora_rows.push_back({in.lora, s.q_begin, s.q_count, out_begin, out_count});
    }
  }
  const int64_t T = int64_t(ids.size());
  if (T == 0) return {};
  std::vector<std::vector<DecoderCache::RowRun>> runs;  // where each input's new K/V rows go
  for (const DecoderInput& in : inputs) runs.push_back(cache.row_runs(in.seq, in.start, int(in.tokens.size())));

  Workspace& ws = cache.workspace();
  ws.reset();
  const int64_t E = hp_.n_embd;
  Act x = ws.act(T, E);
  be.get_rows(x, *tok_embd_, ids);

  RopeParams rq = hp_.rope, rk = hp_.rope;
  rq.n_head = hp_.n_head;
  rk.n_head = hp_.n_head_kv;
  AttentionParams ap;
  ap.n_head = hp_.n_head;
  ap.n_head_kv = hp_.n_head_kv;
  ap.head_dim = hp_.head_dim;
  ap.scale = 1.0f / std::sqrt(float(hp_.head_dim));
  ap.causal = true;

  // Copies the chosen rows of `a` into a fresh activation (for rows that need logits).
  auto gather = [&](Act a) {
    Act g = ws.act(int64_t(out_rows.size()), a.cols);
    for (size_t i = 0; i < out_rows.size(); ++i) be.copy(g.slice_rows(int64_t(i), 1), a.slice_rows(out_rows[i], 1));
    return g;
  };
  const bool all_rows = int64_t(out_rows.size()) == T;

  // out += scale · B·(A·x) for each adapter of each run of rows: y = W·x + Σ scale · B·(A·x) without merging.
  // `gathered`: x and out hold only the rows whose logits are wanted (the last layer's).
  std::map<int64_t, Act> lora_scratch;  // [T, rank], one per rank
  auto add_lora = [&](Act out, Act x, int layer, LoraProjection p, bool gathered) {
    for (const LoraRows& g : lora_rows) {
      const int64_t begin = gathered ? g.out_begin : g.begin, count = gathered ? g.out_count : g.count;
      if (count == 0) continue;
      for (const LoraUse& u : g.stack->adapters) {
        const PreparedLora::Factors* f = u.adapter->get(layer, p);
        if (!f || u.scale == 0) continue;
        auto it = lora_scratch.find(f->rank);
        if (it == lora_scratch.end()) it = lora_scratch.emplace(f->rank, ws.act(T, f->rank)).first;
        const Act t = it->second.slice_rows(0, count);
        be.matmul(t, x.slice_rows(begin, count), *f->a);
        be.scale(t, u.scale * f->scale);
        be.matmul(out.slice_rows(begin, count), t, *f->b, nullptr, Backend::Epilogue::kAccumulate);
      }
    }
  };

  // Scratch for one layer, reused by every layer (the workspace is a bump allocator: allocating per layer
  // would grow it by the activations of all layers, hundreds of MB for a 512-token batch).
  const Act h_buf = ws.act(T, E), q = ws.act(T, hp_.q_dim()), k = ws.act(T, hp_.kv_dim()),
            v = ws.act(T, hp_.kv_dim()), attn_buf = ws.act(T, hp_.q_dim()),
            g_buf = ws.act(T, hp_.n_ff), u_buf = ws.act(T, hp_.n_ff);
  for (int l = 0; l < hp_.n_layer; ++l) {
    const Layer& L = layers_[size_t(l)];
    Act h = h_buf.slice_rows(0, x.rows);
    be.copy(h, x);
    be.rms_norm(h, *L.attn_norm, hp_.rms_eps);
    be.matmul(q, h, *L.wq, L.bq.get());
    be.matmul(k, h, *L.wk, L.bk.get());
    be.matmul(v, h, *L.wv, L.bv.get());
    if (!lora_rows.empty()) {
      add_lora(q, h, l, LoraProjection::kQ, false);
      add_lora(k, h, l, LoraProjection::kK, false);
      add_lora(v, h, l, LoraProjection::kV, false);
    }
    if (hp_.qk_norm) {
      be.rms_norm(q.reshape(hp_.head_dim), *L.q_norm, hp_.rms_eps);
      be.rms_norm(k.reshape(hp_.head_dim), *L.k_norm, hp_.rms_eps);
    }
    be.rope(q, positions, rq);
    be.rope(k, positions, rk);
    const Act kc = cache.k(l), vc = cache.v(l);
    for (size_t i = 0; i < inputs.size(); ++i)
      for (const DecoderCache::RowRun& r : runs[i]) {
        const int64_t from = spans[i].q_begin + r.position - inputs[i].start;
        be.copy(kc.slice_rows(r.row, r.count), k.slice_rows(from, r.count));
        be.copy(vc.slice_rows(r.row, r.count), v.slice_rows(from, r.count));
      }
    Act attn = attn_buf;
    be.attention(attn, q, kc, vc, spans, ap);
    // Like llama.cpp, the last layer carries on only with the rows whose logits are wanted: the others
    // would be computed and thrown away.
    if (l + 1 == hp_.n_layer && !all_rows) {
      attn = gather(attn);
      x = gather(x);
    }
    const int64_t n = x.rows;
    const bool gathered = l + 1 == hp_.n_layer && !all_rows;
    be.matmul(x, attn, *L.wo, nullptr, Backend::Epilogue::kAccumulate);
    if (!lora_rows.empty()) add_lora(x, attn, l, LoraProjection::kOutput, gathered);

    Act f = h_buf.slice_rows(0, n);
    be.copy(f, x);
    be.rms_norm(f, *L.ffn_norm, hp_.rms_eps);
    Act g = g_buf.slice_rows(0, n), u = u_buf.slice_rows(0, n);
    be.matmul(g, f, *L.gate);
    be.matmul(u, f, *L.up);
    if (!lora_rows.empty()) {
      add_lora(g, f, l, LoraProjection::kGate, gathered);
      add_lora(u, f, l, LoraProjection::kUp, gathered);
    }
    be.swiglu(g, u);
    be.matmul(x, g, *L.down, nullptr, Backend::Epilogue::kAccumulate);
    if (!lora_rows.empty()) add_lora(x, g, l, LoraProjection::kDown, gathered);
  }
  for (const DecoderInput& in : inputs) cache.commit(in.seq, in.start, in.tokens);

  if (hp_.n_layer == 0 && !all_rows) x = gather(x);
  be.rms_norm(x, *output_norm_, hp_.rms_eps);
  Act result = x;
  if (want_logits) {
    result = ws.act(x.rows, hp_.n_vocab);
    be.matmul(result, x, output_ ? *output_ : *tok_embd_);
  }
  std::vector<float> out(size_t(result.rows) * size_t(result.cols));
  be.read(result, out.data());
  return out;
}

}  // namespace

DecoderHParams read_llama_hparams(const Weights& w) {
  const Metadata& m = w.metadata();
  DecoderHParams hp;
  hp.arch = w.architecture();
  const std::string& a = hp.arch;
  if (a != "llama" && a != "qwen2" && a != "qwen3")
    fail(ErrorKind::kUnsupported, "{}: architecture '{}' is not a llama-family decoder", w.source(), a);
  auto get_int = [&](const std::string& key, int64_t lo, int64_t hi) {
    const int64_t v = m.get_int(a + "." + key);
    if (v < lo || v > hi) fail(ErrorKind::kCorruptData, "{}: {}.{} = {} is outside [{}, {}]", w.source(), a, key, v, lo, hi);
    return int(v);
  };
  hp.n_embd = get_int("embedding_length", 1, 1 << 16);
  hp.n_layer = get_int("block_count", 0, 1024);
  hp.n_ff = get_int("feed_forward_length", 1, 1 << 20);
  hp.n_head = get_int("attention.head_count", 1, 1024);
  hp.n_head_kv = m.find_int(a + ".attention.head_count_kv") ? get_int("attention.head_count_kv", 1, 1024) : hp.n_head;
  hp.n_ctx_train = m.find_int(a + ".context_length") ? get_int("context_length", 1, 1 << 24) : 2048;
  if (hp.n_head % hp.n_head_kv != 0)
    fail(ErrorKind::kCorruptData, "{}: {} attention heads are not a multiple of {} KV heads", w.source(), hp.n_head, hp.n_head_kv);
  if (m.find_int(a + ".attention.key_length")) {
    hp.head_dim = get_int("attention.key_length", 1, 1 << 12);
    if (m.find_int(a + ".attention.value_length") && get_int("attention.value_length", 1, 1 << 12) != hp.head_dim)
      fail(ErrorKind::kUnsupported, "{}: key and value head sizes differ; not supported", w.source());
  } else {
    if (hp.n_embd % hp.n_head != 0)
      fail(ErrorKind::kCorruptData, "{}: embedding length {} is not a multiple of {} heads", w.source(), hp.n_embd, hp.n_head);
    hp.head_dim = hp.n_embd / hp.n_head;
  }
  const WeightTensor& emb = w.get("token_embd.weight");
  if (emb.ne.size() != 2 || emb.ne[0] != hp.n_embd)
    fail(ErrorKind::kCorruptData, "{}: token_embd.weight must be [{}, n_vocab]", w.source(), hp.n_embd);
  if (emb.ne[1] < 1 || emb.ne[1] > (int64_t(1) << 24)) fail(ErrorKind::kCorruptData, "{}: bad vocabulary size {}", w.source(), emb.ne[1]);
  hp.n_vocab = int(emb.ne[1]);
  if (auto nv = m.find_int(a + ".vocab_size"); nv && *nv != hp.n_vocab)
    fail(ErrorKind::kCorruptData, "{}: {}.vocab_size = {} but token_embd.weight has {} rows", w.source(), a, *nv, hp.n_vocab);
  if (auto eps = m.find_float(a + ".attention.layer_norm_rms_epsilon")) hp.rms_eps = float(*eps);
  if (!(hp.rms_eps > 0 && hp.rms_eps < 1)) fail(ErrorKind::kCorruptData, "{}: bad RMSNorm epsilon {}", w.source(), hp.rms_eps);

  RopeParams& r = hp.rope;
  r.head_dim = hp.head_dim;
  r.n_rot = m.find_int(a + ".rope.dimension_count") ? get_int("rope.dimension_count", 2, hp.head_dim) : hp.head_dim;
  if (r.n_rot % 2 != 0) fail(ErrorKind::kCorruptData, "{}: rope dimension count {} must be even", w.source(), r.n_rot);
  r.freq_base = float(m.find_float(a + ".rope.freq_base").value_or(a == "llama" ? 10000.0 : 1000000.0));
  if (!(r.freq_base > 0)) fail(ErrorKind::kCorruptData, "{}: bad rope frequency base {}", w.source(), r.freq_base);
  r.mode = a == "llama" ? RopeMode::kNormal : RopeMode::kNeox;
  const std::string scaling = m.find_string(a + ".rope.scaling.type").value_or("");
  std::optional<double> factor = m.find_float(a + ".rope.scaling.factor");
  if (!factor) factor = m.find_float(a + ".rope.scale_linear");
  if (scaling == "linear" || (scaling.empty() && factor && *factor != 0 && *factor != 1)) {
    if (!(*factor > 0)) fail(ErrorKind::kCorruptData, "{}: bad rope scaling factor {}", w.source(), factor.value_or(0));
    r.freq_scale = float(1.0 / *factor);
  } else if (scaling == "llama3") {
    if (!factor || !(*factor >= 1)) fail(ErrorKind::kCorruptData, "{}: llama3 rope scaling needs a factor >= 1", w.source());
    r.llama3_factor = float(*factor);
    r.llama3_low_freq_factor = float(m.find_float(a + ".rope.scaling.low_freq_factor").value_or(1.0));
    r.llama3_high_freq_factor = float(m.find_float(a + ".rope.scaling.high_freq_factor").value_or(4.0));
    r.llama3_original_context = int(m.find_int(a + ".rope.scaling.original_context_length").value_or(8192));
    if (!(r.llama3_high_freq_factor > r.llama3_low_freq_factor && r.llama3_low_freq_factor > 0 &&
          r.llama3_original_context > 0))
      fail(ErrorKind::kCorruptData, "{}: inconsistent llama3 rope scaling parameters", w.source());
  } else if (!scaling.empty() && scaling != "none") {
    fail(ErrorKind::kUnsupported, "{}: rope scaling type '{}' is not supported", w.source(), scaling);
  }
  if (const WeightTensor* ff = w.find("rope_freqs.weight")) {
    if (r.llama3_factor == 0) llama3_from_rope_freqs(*ff, r, w.source());
  }

  hp.qkv_bias = a == "qwen2";
  hp.qk_norm = a == "qwen3";
  hp.tied_output = w.find("output.weight") == nullptr;
  return hp;
}

std::unique_ptr<DecoderModel> load_llama_family(const Weights& weights, Backend& backend) {
  return std::make_unique<LlamaModel>(weights, backend);
}

}  // namespace hearth
