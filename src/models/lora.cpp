#include "models/lora.h"

#include <cstring>

#include "core/error.h"

namespace hearth {
namespace {

// "blk.<layer>.<projection>.weight" → (layer, projection); false for anything else.
bool parse_target(const std::string& name, int n_layer, int& layer, LoraProjection& p) {
  static const std::pair<const char*, LoraProjection> kNames[] = {
      {"attn_q", LoraProjection::kQ},      {"attn_k", LoraProjection::kK},       {"attn_v", LoraProjection::kV},
      {"attn_output", LoraProjection::kOutput}, {"ffn_gate", LoraProjection::kGate}, {"ffn_up", LoraProjection::kUp},
      {"ffn_down", LoraProjection::kDown},
  };
  if (name.rfind("blk.", 0) != 0) return false;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4 || dot > 10) return false;
  layer = 0;
  for (size_t i = 4; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    layer = layer * 10 + (name[i] - '0');
  }
  if (layer >= n_layer) return false;
  for (const auto& [stem, proj] : kNames)
    if (name.compare(dot + 1, std::string::npos, std::string(stem) + ".weight") == 0) {
      p = proj;
      return true;
    }
  return false;
}

class LoraDecoder final : public DecoderModel {
 public:
  LoraDecoder(const DecoderModel& base, std::shared_ptr<const LoraStack> stack) : base_(base), stack_(std::move(stack)) {}
  const DecoderHParams& hparams() const override { return base_.hparams(); }
  Backend& backend() const override { return base_.backend(); }
  std::vector<float> forward(std::span<const DecoderInput> inputs, DecoderCache& cache) const override {
    std::vector<DecoderInput> own(inputs.begin(), inputs.end());
    for (DecoderInput& in : own)
      if (!in.lora) in.lora = stack_.get();
    return base_.forward(own, cache);
  }

 private:
  const DecoderModel& base_;
  std::shared_ptr<const LoraStack> stack_;
};

}  // namespace

PreparedLora::PreparedLora(const LoraAdapter& adapter, const DecoderModel& model)
    : source_(adapter.source), fingerprint_(adapter.fingerprint) {
  const DecoderHParams& hp = model.hparams();
  n_embd_ = hp.n_embd;
  n_ff_ = hp.n_ff;
  q_dim_ = hp.q_dim();
  kv_dim_ = hp.kv_dim();
  layers_.resize(size_t(hp.n_layer));
  storage_.reserve(adapter.pairs.size() * 2);
  Backend& be = model.backend();
  auto prepare = [&](const std::vector<float>& values, int64_t rows, int64_t cols, const std::string& name) {
    storage_.push_back(values);
    WeightTensor t;
    t.name = name;
    t.type = DType::F32;
    t.ne = {cols, rows};
    t.data = reinterpret_cast<const uint8_t*>(storage_.back().data());
    t.nbytes = storage_.back().size() * sizeof(float);
    return be.prepare_matrix(t);
  };
  for (const LoraPair& pair : adapter.pairs) {
    int layer = 0;
    LoraProjection p{};
    if (!parse_target(pair.target, hp.n_layer, layer, p))
      fail(ErrorKind::kUnsupported, "{}: run-time LoRA updates only the attention and feed-forward projections, not "
           "'{}' (merge the adapter with hearth lora merge instead)", adapter.source, pair.target);
    Factors& f = layers_[size_t(layer)][size_t(p)];
    f.a = prepare(pair.a, pair.rank, pair.in, pair.target + ".lora_a");
    f.b = prepare(pair.b, pair.out, pair.rank, pair.target + ".lora_b");
    f.scale = pair.scale;
    f.rank = pair.rank;
  }
}

uint64_t LoraStack::key() const {
  if (adapters.empty()) return 0;
  uint64_t h = 0x4c6f5261537461ull;
  for (const LoraUse& u : adapters) {
    uint32_t bits;
    std::memcpy(&bits, &u.scale, sizeof bits);
    for (const uint64_t v : {u.adapter->fingerprint(), uint64_t(bits)}) {
      h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
      h *= 0xbf58476d1ce4e5b9ull;
    }
  }
  return h == 0 ? 1 : h;
}

std::shared_ptr<const LoraStack> load_lora_stack(const std::vector<std::string>& specs, const Weights& weights,
                                                 const DecoderModel& model) {
  if (specs.empty()) return nullptr;
  auto stack = std::make_shared<LoraStack>();
  for (const std::string& text : specs) {
    const LoraSpec spec = parse_lora_spec(text);
    stack->adapters.push_back({std::make_shared<PreparedLora>(load_lora_adapter(spec.path, weights), model), spec.scale});
  }
  return stack;
}

std::unique_ptr<DecoderModel> with_lora(const DecoderModel& base, std::shared_ptr<const LoraStack> stack) {
  return std::make_unique<LoraDecoder>(base, std::move(stack));
}

}  // namespace hearth
