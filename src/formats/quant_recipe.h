// Which type each tensor of a model gets when it is converted or quantized: llama-quantize's rules for its file
// types (Q4_K_M's extra bits for some attn_v / ffn_down layers, the output head in Q6_K, norms and biases left in
// F32, the fallback for rows shorter than a block), plus hearth's per-class overrides (--recipe).
// Used by `hearth convert`, `hearth quantize` and `hearth dev make-model`. Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "formats/weights.h"

namespace hearth {

struct QuantRecipe {
  std::string type_name;  // the --type as written in llama.cpp's style: "Q4_K_M", "Q8_0", "F16"
  DType base = DType::F16;
  bool k_mix = false;         // _M file types: more bits for some attn_v / ffn_down layers
  DType more_bits = DType::Q6_K;
  uint32_t file_type = 1;     // general.file_type (llama.cpp's LLAMA_FTYPE_*)
  // --recipe: tensor class ("attn", "ffn_down", "embd", ...) or exact tensor name -> type.
  std::map<std::string, DType, std::less<>> overrides;
};

// The file types convert and quantize accept: F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K (any case).
// Error naming the type and listing these otherwise.
QuantRecipe recipe_for_type(std::string_view type);
std::string recipe_type_names();  // "F32, F16, ..." for help texts

// Adds "class=TYPE,class=TYPE,..." overrides to `recipe`. Classes: attn (attn_q, attn_k, attn_v, attn_output,
// attn_qkv), ffn (ffn_up, ffn_gate, ffn_down), each of those alone, embd (token_embd), output (the output head,
// or the tied token embedding that serves as one), cls (a classifier head), or an exact tensor name
// ("blk.3.ffn_down" or "blk.3.ffn_down.weight"). Types: any quantize() supports. One Error line naming the
// faulty element otherwise.
void add_recipe_overrides(QuantRecipe& recipe, std::string_view spec);

// The plan for one tensor.
struct TensorPlan {
  DType type;          // the type written
  bool quantized;      // false: a norm, bias, 1-D tensor, position or token-type table (never quantized)
  std::string note;    // why the type differs from the recipe's (a fallback for short rows), else ""
};

// Plans every tensor of one model: the layer count (for use_more_bits) and whether the model has its own output
// head (if not, the token embedding is also the output head and is planned as one) come from its tensor list.
class QuantPlanner {
 public:
  QuantPlanner(QuantRecipe recipe, const std::vector<WeightTensor>& tensors);
  QuantPlanner(QuantRecipe recipe, int64_t n_layers, bool has_output)
      : recipe_(std::move(recipe)), has_output_(has_output), n_layers_(n_layers) {}
  // `unquantized` is the type for tensors that are never quantized (F32 when converting; when requantizing a
  // file, their own type).
  TensorPlan plan(const WeightTensor& t, DType unquantized) const;
  const QuantRecipe& recipe() const { return recipe_; }

 private:
  DType recipe_type(const std::string& name, int64_t row_length) const;
  QuantRecipe recipe_;
  bool has_output_ = false;
  int64_t n_layers_ = 0;
};

// llama-quantize's use_more_bits: the first and last eighth of the layers and every third one in between.
bool use_more_bits(int64_t layer, int64_t n_layers);

}  // namespace hearth
