#include "formats/quant_recipe.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "core/palettize.h"
#include "core/quantize.h"

namespace hearth {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

struct FileType {
  const char* name;
  DType base;
  bool k_mix;
  uint32_t ftype;  // llama.cpp's LLAMA_FTYPE_*
};
constexpr FileType kFileTypes[] = {
    {"F32", DType::F32, false, 0},     {"F16", DType::F16, false, 1},      {"BF16", DType::BF16, false, 32},
    {"Q8_0", DType::Q8_0, false, 7},   {"Q4_0", DType::Q4_0, false, 2},    {"Q4_K_M", DType::Q4_K, true, 15},
    {"Q5_K_M", DType::Q5_K, true, 17}, {"Q6_K", DType::Q6_K, false, 18},
    // hearth's own (llama.cpp has no such file type): the type's id, so general.file_type names it unambiguously.
    {"PAL4G16", DType::PAL4G16, false, 1000},
};

// Tensor classes of --recipe, matched on the GGUF name's part after "blk.N.".
constexpr const char* kAttnClasses[] = {"attn_q", "attn_k", "attn_v", "attn_output", "attn_qkv"};
constexpr const char* kFfnClasses[] = {"ffn_up", "ffn_gate", "ffn_down"};

bool is_known_class(std::string_view c) {
  if (c == "attn" || c == "ffn" || c == "embd" || c == "output" || c == "cls") return true;
  for (const char* k : kAttnClasses)
    if (c == k) return true;
  for (const char* k : kFfnClasses)
    if (c == k) return true;
  return false;
}

// "blk.12.ffn_down.weight" -> layer 12, stem "ffn_down"; "output.weight" -> -1, "output".
std::string split_name(const std::string& name, int64_t& layer) {
  layer = -1;
  std::string stem = name;
  if (stem.size() > 7 && stem.compare(stem.size() - 7, 7, ".weight") == 0) stem.resize(stem.size() - 7);
  if (stem.rfind("blk.", 0) == 0) {
    const size_t dot = stem.find('.', 4);
    if (dot != std::string::npos && dot > 4 && dot - 4 <= 6 &&
        std::all_of(stem.begin() + 4, stem.begin() + long(dot), [](char c) { return c >= '0' && c <= '9'; })) {
      layer = std::stoll(stem.substr(4, dot - 4));
      return stem.substr(dot + 1);
    }
  }
  return stem;
}

bool never_quantized(const WeightTensor& t) {
  // llama-quantize's exclusions (and convert_hf_to_gguf's F32 list): 1-D tensors, biases, norms, position and
  // token-type tables, MoE gates.
  const std::string& n = t.name;
  auto ends = [&](std::string_view s) { return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
  int n_dims = 0;
  for (size_t i = 0; i < t.ne.size(); ++i)
    if (t.ne[i] > 1) n_dims = int(i) + 1;
  return n_dims < 2 || !ends(".weight") || ends("_norm.weight") || n == "position_embd.weight" ||
         n == "token_types.weight" || ends("ffn_gate_inp.weight");
}

// llama-quantize's replacement for a type whose blocks do not divide the row.
DType fallback_for(DType t) {
  switch (t) {
    case DType::Q4_K: return DType::Q5_0;
    case DType::Q5_K: return DType::Q5_1;
    case DType::Q6_K: return DType::Q8_0;
    default: return DType::F16;
  }
}

}  // namespace

bool use_more_bits(int64_t layer, int64_t n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

std::string recipe_type_names() {
  std::string out;
  for (const auto& f : kFileTypes) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out;
}

QuantRecipe recipe_for_type(std::string_view type) {
  const std::string u = upper(trim(type));
  for (const auto& f : kFileTypes)
    if (u == f.name) {
      QuantRecipe r;
      r.type_name = f.name;
      r.base = f.base;
      r.k_mix = f.k_mix;
      r.file_type = f.ftype;
      return r;
    }
  fail("unknown type '{}' (supported: {}; per-class types such as Q4_K or Q5_K go in --recipe)", type,
       recipe_type_names());
}

void add_recipe_overrides(QuantRecipe& recipe, std::string_view spec) {
  if (trim(spec).empty()) fail("invalid --recipe '': expected class=TYPE[,class=TYPE...]");
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t comma = std::min(spec.find(',', pos), spec.size());
    const std::string_view item = trim(spec.substr(pos, comma - pos));
    pos = comma + 1;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      fail("invalid --recipe '{}': element '{}' is not class=TYPE", spec, item);
    std::string cls(trim(item.substr(0, eq)));
    const std::string_view type_name = trim(item.substr(eq + 1));
    if (cls.size() > 7 && cls.compare(cls.size() - 7, 7, ".weight") == 0) cls.resize(cls.size() - 7);
    if (!is_known_class(cls) && cls.find('.') == std::string::npos)
      fail("invalid --recipe '{}': unknown class '{}' (classes: attn, attn_q, attn_k, attn_v, attn_output, attn_qkv, "
           "ffn, ffn_up, ffn_gate, ffn_down, embd, output, cls, or a tensor name such as blk.0.ffn_down)",
           spec, cls);
    const auto t = dtype_from_name(type_name);
    if (!t || !can_quantize(*t))
      fail("invalid --recipe '{}': '{}' for '{}' is not a type hearth can write (F32, F16, BF16, Q8_0, Q4_0, Q5_0, "
           "Q5_1, Q4_K, Q5_K, Q6_K)",
           spec, type_name, cls);
    if (recipe.overrides.count(cls)) fail("invalid --recipe '{}': '{}' is given twice", spec, cls);
    recipe.overrides[cls] = *t;
  }
}

QuantPlanner::QuantPlanner(QuantRecipe recipe, const std::vector<WeightTensor>& tensors) : recipe_(std::move(recipe)) {
  for (const auto& t : tensors) {
    if (t.name == "output.weight") has_output_ = true;
    int64_t layer = -1;
    split_name(t.name, layer);
    n_layers_ = std::max(n_layers_, layer + 1);
  }
}

DType QuantPlanner::recipe_type(const std::string& name, int64_t row_length) const {
  int64_t layer = -1;
  const std::string stem = split_name(name, layer);
  const bool is_output = stem == "output" || (!has_output_ && stem == "token_embd");
  auto override_for = [&](std::string_view key) -> std::optional<DType> {
    auto it = recipe_.overrides.find(key);
    return it == recipe_.overrides.end() ? std::nullopt : std::optional<DType>(it->second);
  };
  // The most specific override wins: the tensor's name, its class, its group.
  const bool has_suffix = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
  if (auto t = override_for(has_suffix ? name.substr(0, name.size() - 7) : name)) return *t;
  if (is_output)
    if (auto t = override_for("output")) return *t;
  if (stem == "token_embd")
    if (auto t = override_for("embd")) return *t;
  if (auto t = override_for(stem)) return *t;
  for (const char* c : kAttnClasses)
    if (stem == c)
      if (auto t = override_for("attn")) return *t;
  for (const char* c : kFfnClasses)
    if (stem == c)
      if (auto t = override_for("ffn")) return *t;
  if (stem == "cls" || stem == "cls.output")
    if (auto t = override_for("cls")) return *t;

  // llama-quantize's rules (llama_tensor_get_type) for the file types offered; float file types are uniform.
  const DType base = recipe_.base;
  if (!traits(base).quantized) return base;
  if (is_output) {
    // The output head gets Q6_K unless the file is Q8_0, or Q8_0 when its rows do not fit the base type's blocks.
    if (row_length % traits(base).block_size != 0) return DType::Q8_0;
    return base == DType::Q8_0 ? DType::Q8_0 : DType::Q6_K;
  }
  if (recipe_.k_mix) {
    if (stem == "attn_v" || stem == "ffn_down")
      return use_more_bits(layer, n_layers_) ? recipe_.more_bits : base;
    if (stem == "attn_qkv") return base == DType::Q4_K ? DType::Q5_K : DType::Q6_K;
  }
  return base;
}

TensorPlan QuantPlanner::plan(const WeightTensor& t, DType unquantized) const {
  if (never_quantized(t)) return {unquantized, false, ""};
  const DType wanted = recipe_type(t.name, t.row_length());
  DType type = wanted;
  // PAL4G16 needs whole groups of 16 rows as well as whole blocks: its own fallback knows both.
  if (type == DType::PAL4G16) type = pal4g16_or_fallback(t.row_length(), t.n_rows());
  while (t.row_length() % traits(type).block_size != 0) type = fallback_for(type);
  if (type == wanted) return {type, true, ""};
  if (wanted == DType::PAL4G16)
    return {type, true,
            fmt::format("{} instead of PAL4G16: it palettizes whole groups of 16 rows of whole 32-value blocks, and "
                        "this tensor has {} rows of {}",
                        dtype_name(type), t.n_rows(), t.row_length())};
  return {type, true,
          fmt::format("{} instead of {}: rows of {} are not a multiple of {}", dtype_name(type), dtype_name(wanted),
                      t.row_length(), traits(wanted).block_size)};
}

}  // namespace hearth
