// LoRA adapters: PEFT folders and llama.cpp GGUF adapters → F32 pairs keyed by GGUF base tensor names; merging.
#include "formats/lora.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/quantize.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/safetensors_internal.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_llama_family(const std::string& arch) { return arch == "llama" || arch == "qwen2" || arch == "qwen3"; }

// Any stored tensor (F32, F16, BF16 or a GGUF block type) as F32 values.
std::vector<float> to_f32(const WeightTensor& t, const std::string& source) {
  if (!can_dequantize(t.type))
    fail(ErrorKind::kUnsupported, "{}: tensor '{}' has type {}, which hearth cannot read", source, t.name,
         dtype_name(t.type));
  std::vector<float> out(size_t(t.n_elements()));
  const size_t rb = row_bytes(t.type, t.row_length());
  for (int64_t r = 0; r < t.n_rows(); ++r)
    dequantize_row(t.type, t.data + size_t(r) * rb, out.data() + size_t(r) * size_t(t.row_length()), t.row_length());
  return out;
}

// A and B as stored (GGUF order: a.ne {in, rank}, b.ne {rank, out}) as a pair updating `target`; `what` names the
// module in errors.
LoraPair make_pair(const std::string& source, const std::string& what, const std::string& target,
                   const WeightTensor* a, const WeightTensor* b) {
  if (!a || !b)
    fail(ErrorKind::kCorruptData, "{}: '{}' has a lora_{} matrix but no lora_{}", source, what, a ? "A" : "B", a ? "B" : "A");
  if (a->ne.size() != 2 || b->ne.size() != 2)
    fail(ErrorKind::kCorruptData, "{}: the LoRA matrices of '{}' must be 2-D", source, what);
  LoraPair p;
  p.target = target;
  p.in = a->ne[0];
  p.rank = a->ne[1];
  p.out = b->ne[1];
  if (b->ne[0] != p.rank)
    fail(ErrorKind::kCorruptData, "{}: '{}': lora_A has rank {} but lora_B has {} (A is rank x in, B out x rank)",
         source, what, p.rank, b->ne[0]);
  p.a = to_f32(*a, source);
  p.b = to_f32(*b, source);
  return p;
}

// The base matrix a pair updates, and the shape checks every format shares.
void check_against_base(const LoraPair& p, const Weights& base, const std::string& source) {
  const WeightTensor* w = base.find(p.target);
  if (!w)
    fail("{}: the adapter updates '{}', which the base model {} does not have (an adapter for another model?)", source,
         p.target, base.source());
  if (w->ne.size() != 2)
    fail(ErrorKind::kUnsupported, "{}: '{}' is not a matrix in the base model; only matrices can take a LoRA update",
         source, p.target);
  if (p.target == "token_embd.weight")
    fail(ErrorKind::kUnsupported, "{}: LoRA updates of the token embedding are not supported", source);
  if (p.in != w->ne[0] || p.out != w->ne[1])
    fail("{}: the update of '{}' is {} x {} (out x in) but the base model's matrix is {} x {} (an adapter for "
         "another model?)",
         source, p.target, p.out, p.in, w->ne[1], w->ne[0]);
}

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xbf58476d1ce4e5b9ull;
}

uint64_t content_fingerprint(const std::vector<LoraPair>& pairs) {
  uint64_t h = 0x6c6f7261;  // "lora"
  for (const LoraPair& p : pairs) {
    for (char c : p.target) h = mix(h, uint8_t(c));
    h = mix(h, uint64_t(p.rank));
    uint32_t bits;
    std::memcpy(&bits, &p.scale, 4);
    h = mix(h, bits);
    for (const auto* v : {&p.a, &p.b}) {
      // FNV-1a over the values' bits: fast enough for adapters of hundreds of MB.
      uint64_t f = 0xcbf29ce484222325ull;
      const auto* bytes = reinterpret_cast<const uint8_t*>(v->data());
      for (size_t i = 0; i < v->size() * sizeof(float); ++i) f = (f ^ bytes[i]) * 0x100000001b3ull;
      h = mix(h, f);
    }
  }
  return h;
}

void finish(LoraAdapter& a, const Weights& base) {
  if (a.pairs.empty()) fail(ErrorKind::kCorruptData, "{}: the adapter holds no LoRA tensors", a.source);
  std::sort(a.pairs.begin(), a.pairs.end(), [](const LoraPair& x, const LoraPair& y) { return x.target < y.target; });
  for (const LoraPair& p : a.pairs) check_against_base(p, base, a.source);
  a.fingerprint = content_fingerprint(a.pairs);
}

// ---- PEFT ----

struct PeftConfig {
  int64_t r = 0;
  double alpha = 8;  // PEFT's default lora_alpha
  bool rslora = false;
  std::vector<std::string> target_modules;  // empty when given as a regular expression or "all-linear"
};

PeftConfig read_peft_config(const std::string& path) {
  const json j = parse_json_checked(read_file(path), path);
  if (!j.is_object()) fail(ErrorKind::kCorruptData, "{}: expected a JSON object", path);
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  if (has("peft_type") && (!j["peft_type"].is_string() || j["peft_type"].get<std::string>() != "LORA"))
    fail(ErrorKind::kUnsupported, "{}: peft_type {} is not supported (only LORA)", path, j["peft_type"].dump());
  PeftConfig c;
  if (!has("r") || !j["r"].is_number_integer() || j["r"].get<int64_t>() <= 0 || j["r"].get<int64_t>() > 65536)
    fail(ErrorKind::kCorruptData, "{}: key 'r' must be a positive integer, got {}", path, has("r") ? j["r"].dump() : "nothing");
  c.r = j["r"].get<int64_t>();
  if (has("lora_alpha")) {
    if (!j["lora_alpha"].is_number() || !std::isfinite(j["lora_alpha"].get<double>()))
      fail(ErrorKind::kCorruptData, "{}: key 'lora_alpha' must be a number, got {}", path, j["lora_alpha"].dump());
    c.alpha = j["lora_alpha"].get<double>();
  }
  auto flag = [&](const char* k) {
    if (!has(k)) return false;
    if (!j[k].is_boolean()) fail(ErrorKind::kCorruptData, "{}: key '{}' must be true or false", path, k);
    return j[k].get<bool>();
  };
  c.rslora = flag("use_rslora");
  if (flag("use_dora")) fail(ErrorKind::kUnsupported, "{}: DoRA adapters (use_dora) are not supported", path);
  // Conv1D bases (GPT-2) store weights transposed; no architecture hearth runs has them.
  if (flag("fan_in_fan_out"))
    fail(ErrorKind::kUnsupported, "{}: fan_in_fan_out adapters (for Conv1D layers) are not supported", path);
  for (const char* k : {"rank_pattern", "alpha_pattern"})
    if (has(k) && (!j[k].is_object() || !j[k].empty()))
      fail(ErrorKind::kUnsupported, "{}: per-module ranks or alphas ('{}') are not supported", path, k);
  if (has("target_modules") && j["target_modules"].is_array())
    for (const auto& m : j["target_modules"])
      if (m.is_string()) c.target_modules.push_back(m.get<std::string>());
  return c;
}

LoraAdapter load_peft(const fs::path& dir, const Weights& base) {
  const std::string arch = base.architecture();
  if (!is_llama_family(arch))
    fail(ErrorKind::kUnsupported, "{}: PEFT adapters are supported for llama, qwen2 and qwen3 models, not '{}'",
         dir.string(), arch);
  const std::string config_path = (dir / "adapter_config.json").string();
  if (!fs::exists(config_path)) fail(ErrorKind::kNotFound, "{}: not a PEFT adapter: adapter_config.json is missing", dir.string());
  const PeftConfig config = read_peft_config(config_path);
  const fs::path weights_path = dir / "adapter_model.safetensors";
  if (!fs::exists(weights_path)) {
    if (fs::exists(dir / "adapter_model.bin"))
      fail(ErrorKind::kUnsupported, "{}: adapter_model.bin (a PyTorch pickle) is not read; save the adapter with "
           "safe_serialization=True (adapter_model.safetensors)", dir.string());
    fail(ErrorKind::kNotFound, "{}: adapter_model.safetensors is missing", dir.string());
  }
  const MappedFile file(weights_path.string());
  const std::string source = weights_path.string();
  LoraAdapter out;
  out.source = dir.string();
  out.format = "peft";
  const float scale = float(config.alpha / (config.rslora ? std::sqrt(double(config.r)) : double(config.r)));
  const bool permute = arch == "llama";
  std::map<std::string, std::pair<const SafetensorsEntry*, const SafetensorsEntry*>> found;  // module -> A, B
  const std::vector<SafetensorsEntry> entries = read_safetensors(file.data(), file.size(), source);
  for (const SafetensorsEntry& e : entries) {
    // PEFT saves the wrapped model's names: "base_model.model." + the base's own ("model.layers.0...").
    std::string name = e.name;
    if (name.rfind("base_model.model.", 0) == 0) name = name.substr(17);
    bool is_a = false;
    std::string module;
    for (const char* suffix : {".lora_A.weight", ".lora_A.default.weight", ".lora_B.weight", ".lora_B.default.weight"})
      if (ends_with(name, suffix)) {
        module = name.substr(0, name.size() - std::strlen(suffix));
        is_a = std::string_view(suffix).substr(0, 7) == ".lora_A";
        break;
      }
    if (module.empty())
      fail(ErrorKind::kUnsupported, "{}: tensor '{}' is not a LoRA A or B matrix (embedding adapters, biases and "
           "modules_to_save are not supported)", source, e.name);
    auto& slot = found[module];
    (is_a ? slot.first : slot.second) = &e;
  }
  std::set<std::string> adapted_modules;  // last name component: "q_proj", ...
  for (const auto& [module, ab] : found) {
    const std::string target = llama_family_gguf_name(module + ".weight");
    if (target.empty())
      fail("{}: module '{}' has no counterpart in a {} model (an adapter for another architecture?)", source, module, arch);
    std::optional<WeightTensor> a, b;
    if (ab.first) a = to_weight_tensor(*ab.first, source, target + ".lora_a");
    if (ab.second) b = to_weight_tensor(*ab.second, source, target + ".lora_b");
    LoraPair p = make_pair(source, module, target, a ? &*a : nullptr, b ? &*b : nullptr);
    p.scale = scale;
    if (p.rank != config.r)
      fail(ErrorKind::kCorruptData, "{}: '{}' has rank {} but adapter_config.json says r = {}", source, module, p.rank,
           config.r);
    const bool is_q = target.find(".attn_q.") != std::string::npos, is_k = target.find(".attn_k.") != std::string::npos;
    if (permute && (is_q || is_k)) {
      const int64_t heads = is_k ? base.metadata().find_int("llama.attention.head_count_kv")
                                       .value_or(base.metadata().get_int("llama.attention.head_count"))
                                 : base.metadata().get_int("llama.attention.head_count");
      if (heads <= 0 || p.out % (2 * heads) != 0)
        fail("{}: '{}' has {} rows, which do not split into {} rotary heads of the base model", source, module, p.out,
             heads);
      std::vector<float> permuted(p.b.size());
      permute_rope_rows(reinterpret_cast<const uint8_t*>(p.b.data()), reinterpret_cast<uint8_t*>(permuted.data()),
                        p.out, size_t(p.rank) * sizeof(float), heads);
      p.b = std::move(permuted);
    }
    adapted_modules.insert(module.substr(module.rfind('.') + 1));
    out.pairs.push_back(std::move(p));
  }
  for (const std::string& m : config.target_modules)
    if (!adapted_modules.count(m))
      fail(ErrorKind::kCorruptData, "{}: target module '{}' of adapter_config.json has no LoRA matrices in {}",
           dir.string(), m, source);
  finish(out, base);
  return out;
}

// ---- GGUF ----

LoraAdapter load_gguf_adapter(const std::string& path, const Weights& base) {
  const std::unique_ptr<Weights> w = load_gguf(path);
  const Metadata& m = w->metadata();
  const std::string type = m.find_string("general.type").value_or("");
  if (type != "adapter")
    fail("{}: not a LoRA adapter (general.type is '{}', expected 'adapter'); is it a model?", path, type);
  const std::string adapter_type = m.find_string("adapter.type").value_or("");
  if (adapter_type != "lora")
    fail(ErrorKind::kUnsupported, "{}: adapter.type '{}' is not supported (only 'lora')", path, adapter_type);
  const std::string arch = w->architecture(), base_arch = base.architecture();
  if (arch != base_arch)
    fail("{}: the adapter is for a '{}' model but the base model {} is '{}'", path, arch, base.source(), base_arch);
  const double alpha = m.find_float("adapter.lora.alpha").value_or(0.0);
  LoraAdapter out;
  out.source = path;
  out.format = "gguf";
  std::map<std::string, std::pair<const WeightTensor*, const WeightTensor*>> found;
  for (const WeightTensor& t : w->tensors()) {
    const bool is_a = ends_with(t.name, ".lora_a");
    if (!is_a && !ends_with(t.name, ".lora_b"))
      fail(ErrorKind::kUnsupported, "{}: tensor '{}' is not a LoRA matrix (.lora_a / .lora_b)", path, t.name);
    auto& slot = found[t.name.substr(0, t.name.size() - 7)];
    (is_a ? slot.first : slot.second) = &t;
  }
  for (const auto& [target, ab] : found) {
    LoraPair p = make_pair(path, target, target, ab.first, ab.second);
    p.scale = alpha != 0 ? float(alpha / double(p.rank)) : 1.0f;
    out.pairs.push_back(std::move(p));
  }
  finish(out, base);
  return out;
}

}  // namespace

const LoraPair* LoraAdapter::find(const std::string& target) const {
  const auto it = std::lower_bound(pairs.begin(), pairs.end(), target,
                                   [](const LoraPair& p, const std::string& t) { return p.target < t; });
  return it != pairs.end() && it->target == target ? &*it : nullptr;
}

LoraAdapter load_lora_adapter(const std::string& path, const Weights& base) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(ErrorKind::kNotFound, "{}: no such LoRA adapter", path);
  if (fs::is_directory(path)) return load_peft(path, base);
  const std::string file = fs::path(path).filename().string();
  if (file == "adapter_config.json" || file == "adapter_model.safetensors")
    return load_peft(fs::path(path).parent_path(), base);
  return load_gguf_adapter(path, base);
}

LoraSpec parse_lora_spec(const std::string& text) {
  LoraSpec spec{text, 1.0f};
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return spec;
  const std::string number = text.substr(colon + 1);
  double v = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (ec != std::errc() || end != number.data() + number.size() || number.empty()) {
    if (std::filesystem::exists(text)) return spec;
    fail("'{}': the scale after ':' must be a number, e.g. adapter.gguf:0.5", text);
  }
  if (!std::isfinite(v) || std::fabs(v) > 1e6) fail("'{}': the LoRA scale must be a finite number", text);
  spec.path = text.substr(0, colon);
  spec.scale = float(v);
  return spec;
}

LoraMergeReport merge_lora(const Weights& base, std::span<const AppliedLora> adapters, const std::string& out_path,
                           const LoraMergeOptions& options) {
  if (fs::is_directory(base.source()))
    fail(ErrorKind::kUnsupported, "{}: lora merge writes GGUF and needs a GGUF base; convert the folder first "
         "(hearth convert)", base.source());
  if (options.type && !can_quantize(*options.type))
    fail(ErrorKind::kUnsupported, "--type {}: hearth cannot write that type", dtype_name(*options.type));
  // Which adapters update each target, in the order given.
  std::map<std::string, std::vector<std::pair<const LoraPair*, float>>> updates;
  for (const AppliedLora& a : adapters)
    for (const LoraPair& p : a.adapter->pairs) updates[p.target].push_back({&p, a.scale * p.scale});

  LoraMergeReport report;
  GgufWriter writer;
  writer.metadata() = base.metadata();
  std::vector<std::vector<uint8_t>> merged_bytes;  // alive until the file is written
  merged_bytes.reserve(updates.size());
  for (const WeightTensor& t : base.tensors()) {
    const auto it = updates.find(t.name);
    if (it == updates.end()) {
      writer.add_tensor(t.name, t.type, t.ne, t.data, t.nbytes);
      continue;
    }
    std::vector<float> w = to_f32(t, base.source());
    const int64_t in = t.ne[0], out = t.ne[1];
    for (const auto& [p, factor] : it->second)
      for (int64_t o = 0; o < out; ++o) {
        float* row = w.data() + size_t(o) * size_t(in);
        for (int64_t k = 0; k < p->rank; ++k) {
          const float c = factor * p->b[size_t(o * p->rank + k)];
          const float* a_row = p->a.data() + size_t(k) * size_t(in);
          for (int64_t i = 0; i < in; ++i) row[i] += c * a_row[i];
        }
      }
    DType type = options.type.value_or(t.type);
    const auto fits = [&](DType d) { return can_quantize(d) && in % traits(d).block_size == 0; };
    if (!fits(type)) {
      if (options.type)
        fail(ErrorKind::kUnsupported, "'{}': rows of {} values cannot be written as {}", t.name, in, dtype_name(type));
      report.notes.push_back(fmt::format("{}: {} cannot be written after merging; stored as F16", t.name,
                                         dtype_name(t.type)));
      type = DType::F16;
    }
    merged_bytes.push_back(quantize(type, w.data(), out, in));
    writer.add_tensor(t.name, type, t.ne, merged_bytes.back().data(), merged_bytes.back().size());
    ++report.merged_tensors;
  }
  writer.write(out_path);
  return report;
}

}  // namespace hearth
