// hearth dev make-model: writes a model of a real architecture and shape with random weights (fixed seed), for
// benchmarks and tests that need a full-size file without shipping one. The tokenizer comes from a vocabulary
// GGUF (its tokenizer.* keys are copied verbatim), so the file tokenizes like the real model.
//
// Weights are drawn in float from a portable generator (same seed => same file on every platform), then
// converted with core/quantize.h: matrices and the token embedding take --type; norms, biases, position and
// token-type tables stay F32 as llama.cpp's quantizer leaves them.
#include <cctype>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "core/palettize.h"
#include "core/quantize.h"
#include "formats/gguf.h"
#include "formats/quant_recipe.h"
#include "formats/weights.h"

namespace hearth::cli {
namespace {

struct MakeModelOptions {
  std::string arch, preset, type = "f16", vocab, output;
  uint64_t seed = 42;
  bool rerank = false;  // bert: a cross-encoder (classification head, pooling type rank)
};

// splitmix64 + Box-Muller: fully specified here, unlike std::normal_distribution.
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : state_(seed) {}
  float next(float stddev) {
    if (has_spare_) {
      has_spare_ = false;
      return spare_ * stddev;
    }
    const double u1 = (double(next_u64() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = double(next_u64() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = float(r * std::sin(2.0 * M_PI * u2));
    has_spare_ = true;
    return float(r * std::cos(2.0 * M_PI * u2)) * stddev;
  }

 private:
  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

// Accumulates tensors for a GgufWriter, owning their bytes until the file is written.
class ModelBuilder {
 public:
  ModelBuilder(uint64_t seed, DType type) : rng_(seed), type_(type) {}
  GgufWriter& writer() { return writer_; }
  DType type() const { return type_; }

  // rows x cols (GGUF ne = {cols, rows}), entries mean + N(0, stddev), stored as `t`.
  void add(const std::string& name, DType t, int64_t rows, int64_t cols, float stddev, float mean = 0.0f) {
    if (t == DType::PAL4G16) t = pal4g16_or_fallback(cols, rows);  // e.g. a vocabulary of 30522 rows
    std::vector<float> v(size_t(rows * cols));
    for (float& x : v) x = mean + rng_.next(stddev);
    storage_.push_back(quantize(t, v.data(), rows, cols));
    const auto& bytes = storage_.back();
    if (rows == 1) writer_.add_tensor(name, t, {cols}, bytes.data(), bytes.size());
    else writer_.add_tensor(name, t, {cols, rows}, bytes.data(), bytes.size());
  }
  void add_vector(const std::string& name, int64_t n, float stddev, float mean = 0.0f) {
    add(name, DType::F32, 1, n, stddev, mean);
  }

  // Copies the vocabulary's tokenizer.* keys; returns the number of tokens.
  int64_t copy_tokenizer(const std::string& vocab_path) {
    auto vocab = Weights::open(vocab_path);
    for (const auto& [key, value] : vocab->metadata().entries())
      if (key.rfind("tokenizer.", 0) == 0) writer_.metadata().set(key, value);
    const auto* tokens = vocab->metadata().find_strings("tokenizer.ggml.tokens");
    if (!tokens || tokens->empty())
      fail(ErrorKind::kCorruptData, "{}: no tokenizer.ggml.tokens in this vocabulary", vocab_path);
    tokenizer_model_ = vocab->metadata().find_string("tokenizer.ggml.model").value_or("");
    return int64_t(tokens->size());
  }
  // tokenizer.ggml.model of the copied vocabulary ("bert", "t5", ...).
  const std::string& tokenizer_model() const { return tokenizer_model_; }

 private:
  Gaussian rng_;
  DType type_;
  GgufWriter writer_;
  std::vector<std::vector<uint8_t>> storage_;
  std::string tokenizer_model_;
};

// llama.cpp's general.file_type numbering (LLAMA_FTYPE_*).
uint32_t file_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    case DType::PAL4G16: return 1000;  // hearth's own, like the tensor type: llama.cpp cannot read the file anyway
    default: fail(ErrorKind::kUnsupported, "no llama.cpp file type for {}", dtype_name(t));
  }
}

struct BertShape {
  int n_layer, n_embd, n_head, n_ff, n_ctx;
};

// With --rerank, a cross-encoder as llama.cpp's converter writes one: the classification head cls (dense, then
// tanh) and cls.output (one logit), pooling type rank. A "t5" (unigram) vocabulary gives the XLM-RoBERTa shape
// (one token type; llama.cpp stores its positions from 0), any other BERT's two token types.
void make_bert(ModelBuilder& b, const MakeModelOptions& o) {
  static const std::map<std::string, BertShape> presets = {
      {"minilm-l6", {6, 384, 12, 1536, 512}},     // all-MiniLM-L6-v2, ms-marco-MiniLM-L6-v2
      {"minilm-l12", {12, 384, 12, 1536, 512}},   // all-MiniLM-L12-v2
      {"bge-small", {12, 384, 12, 1536, 512}},    // bge-small-en-v1.5
      {"bert-base", {12, 768, 12, 3072, 512}},    // bert-base / bge-base / e5-base / bge-reranker-base
      {"tiny", {2, 32, 2, 64, 128}},              // for tests: loads and runs in milliseconds
  };
  auto it = presets.find(o.preset);
  if (it == presets.end())
    fail("unknown bert preset '{}' (minilm-l6, minilm-l12, bge-small, bert-base, tiny)", o.preset);
  const BertShape s = it->second;
  const DType t = b.type();
  const int64_t n_vocab = b.copy_tokenizer(o.vocab);
  const int64_t n_types = b.tokenizer_model() == "t5" ? 1 : 2;

  Metadata& m = b.writer().metadata();
  m.set_string("general.architecture", "bert");
  m.set_string("general.name", fmt::format("hearth random {} ({})", o.preset, dtype_name(t)));
  m.set_u32("general.file_type", file_type(t));
  m.set_u32("bert.block_count", uint32_t(s.n_layer));
  m.set_u32("bert.embedding_length", uint32_t(s.n_embd));
  m.set_u32("bert.feed_forward_length", uint32_t(s.n_ff));
  m.set_u32("bert.attention.head_count", uint32_t(s.n_head));
  m.set_f32("bert.attention.layer_norm_epsilon", 1e-12f);
  m.set_u32("bert.context_length", uint32_t(s.n_ctx));
  m.set_bool("bert.attention.causal", false);
  m.set_u32("bert.pooling_type", o.rerank ? 4 : 1);  // rank (a cross-encoder) or mean
  m.set_u32("tokenizer.ggml.token_type_count", uint32_t(n_types));

  // Standard deviations of a trained small BERT's tensors, so activations have realistic ranges; a narrower model
  // (tiny) gets wider ones, so that its products have the same spread as MiniLM's (variance ~ width x std^2).
  const int64_t H = s.n_embd, F = s.n_ff;
  const float w = std::max(1.0f, std::sqrt(384.0f / float(H)));
  b.add("token_embd.weight", t, n_vocab, H, 0.05f);
  b.add("position_embd.weight", DType::F32, s.n_ctx, H, 0.02f);
  b.add("token_types.weight", DType::F32, n_types, H, 0.02f);
  b.add_vector("token_embd_norm.weight", H, 0.05f, 1.0f);
  b.add_vector("token_embd_norm.bias", H, 0.02f);
  for (int il = 0; il < s.n_layer; ++il) {
    const std::string p = fmt::format("blk.{}.", il);
    for (const char* qkv : {"attn_q", "attn_k", "attn_v"}) {
      b.add(p + qkv + ".weight", t, H, H, 0.04f * w);
      b.add_vector(p + qkv + ".bias", H, 0.02f);
    }
    b.add(p + "attn_output.weight", t, H, H, 0.04f * w);
    b.add_vector(p + "attn_output.bias", H, 0.02f);
    b.add_vector(p + "attn_output_norm.weight", H, 0.05f, 1.0f);
    b.add_vector(p + "attn_output_norm.bias", H, 0.02f);
    b.add(p + "ffn_up.weight", t, F, H, 0.04f * w);
    b.add_vector(p + "ffn_up.bias", F, 0.02f);
    b.add(p + "ffn_down.weight", t, H, F, 0.03f * w);
    b.add_vector(p + "ffn_down.bias", H, 0.02f);
    b.add_vector(p + "layer_output_norm.weight", H, 0.05f, 1.0f);
    b.add_vector(p + "layer_output_norm.bias", H, 0.02f);
  }
  if (o.rerank) {
    // Spreads chosen so that random pairs get logits of a few units, as a trained reranker's are.
    b.add("cls.weight", t, H, H, 2.0f / std::sqrt(float(H)));
    b.add_vector("cls.bias", H, 0.1f);
    b.add("cls.output.weight", DType::F32, 1, H, 3.0f / std::sqrt(float(H)));
    b.add_vector("cls.output.bias", 1, 0.5f);
  }
}

struct LlamaShape {
  int n_layer, n_embd, n_head, n_head_kv, n_ff, n_ctx;
};

// Decoder (llama architecture, untied output). --type q4_k_m follows llama-quantize's Q4_K_M recipe
// (formats/quant_recipe.h: Q4_K layers, Q6_K for some attn_v / ffn_down layers and the output head); the other
// types apply to every matrix alike.
void make_llama(ModelBuilder& b, const MakeModelOptions& o) {
  static const std::map<std::string, LlamaShape> presets = {
      {"llama-336m", {24, 1024, 16, 4, 2816, 2048}},  // the shape of peers.md's llama.cpp figures
      {"tinyllama", {22, 2048, 32, 4, 5632, 2048}},   // TinyLlama-1.1B
  };
  auto it = presets.find(o.preset);
  if (it == presets.end()) fail("unknown llama preset '{}' (llama-336m, tinyllama)", o.preset);
  const LlamaShape s = it->second;
  const bool k_mix = b.type() == DType::Q4_K;
  const DType t = b.type();
  const QuantPlanner planner(recipe_for_type("Q4_K_M"), s.n_layer, /*has_output=*/true);
  // The type of a matrix: --type, or the Q4_K_M recipe's choice for it.
  auto type_of = [&](const std::string& name, int64_t cols) {
    if (!k_mix) return t;
    WeightTensor shell;
    shell.name = name;
    shell.ne = {cols, 2};
    return planner.plan(shell, DType::F32).type;
  };
  const int64_t n_vocab = b.copy_tokenizer(o.vocab);

  Metadata& m = b.writer().metadata();
  m.set_string("general.architecture", "llama");
  m.set_string("general.name", fmt::format("hearth random {} ({})", o.preset, o.type));
  m.set_u32("general.file_type", k_mix ? planner.recipe().file_type : file_type(t));
  m.set_u32("llama.block_count", uint32_t(s.n_layer));
  m.set_u32("llama.embedding_length", uint32_t(s.n_embd));
  m.set_u32("llama.feed_forward_length", uint32_t(s.n_ff));
  m.set_u32("llama.attention.head_count", uint32_t(s.n_head));
  m.set_u32("llama.attention.head_count_kv", uint32_t(s.n_head_kv));
  m.set_u32("llama.context_length", uint32_t(s.n_ctx));
  m.set_u32("llama.rope.dimension_count", uint32_t(s.n_embd / s.n_head));
  m.set_f32("llama.rope.freq_base", 10000.0f);
  m.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  m.set_u32("llama.vocab_size", uint32_t(n_vocab));

  // Small stds keep the random network's activations in a trained model's range (no overflow in F16).
  const int64_t H = s.n_embd, F = s.n_ff, KV = int64_t(s.n_embd / s.n_head) * s.n_head_kv;
  auto add_matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    b.add(name, type_of(name, cols), rows, cols, 0.02f);
  };
  add_matrix("token_embd.weight", n_vocab, H);
  for (int il = 0; il < s.n_layer; ++il) {
    const std::string p = fmt::format("blk.{}.", il);
    b.add_vector(p + "attn_norm.weight", H, 0.05f, 1.0f);
    add_matrix(p + "attn_q.weight", H, H);
    add_matrix(p + "attn_k.weight", KV, H);
    add_matrix(p + "attn_v.weight", KV, H);
    add_matrix(p + "attn_output.weight", H, H);
    b.add_vector(p + "ffn_norm.weight", H, 0.05f, 1.0f);
    add_matrix(p + "ffn_gate.weight", F, H);
    add_matrix(p + "ffn_up.weight", F, H);
    add_matrix(p + "ffn_down.weight", H, F);
  }
  b.add_vector("output_norm.weight", H, 0.05f, 1.0f);
  add_matrix("output.weight", n_vocab, H);
}

using ModelMaker = std::function<void(ModelBuilder&, const MakeModelOptions&)>;

const std::map<std::string, ModelMaker>& makers() {
  static const std::map<std::string, ModelMaker> table = {
      {"bert", make_bert},
      {"llama", make_llama},
  };
  return table;
}

int run_make_model(const MakeModelOptions& o) {
  if (o.rerank && o.arch != "bert") fail("--rerank needs --arch bert (a cross-encoder)");
  auto it = makers().find(o.arch);
  if (it == makers().end()) {
    std::string names;
    for (const auto& [name, _] : makers()) names += (names.empty() ? "" : ", ") + name;
    fail("unknown --arch '{}' (supported: {})", o.arch, names);
  }
  // q4_k_m is a recipe, not a type: Q4_K with some Q6_K tensors (see make_llama).
  const std::optional<DType> type = o.type == "q4_k_m" ? std::optional<DType>(DType::Q4_K) : dtype_from_name(o.type);
  if (o.type == "q4_k_m" && !can_quantize(DType::Q6_K))
    fail(ErrorKind::kUnsupported, "--type q4_k_m needs the Q4_K and Q6_K quantizers");
  if (!type || !can_quantize(*type)) {
    std::string names;
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K,
                    DType::PAL4G16})
      if (can_quantize(t)) {
        std::string name(dtype_name(t));
        for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
        names += (names.empty() ? "" : ", ") + name;
      }
    fail("unsupported --type '{}' (supported: {}, q4_k_m)", o.type, names);
  }
  ModelBuilder builder(o.seed, *type);
  it->second(builder, o);
  builder.writer().write(o.output);
  fmt::print(stderr, "wrote {} ({} tensors)\n", o.output, builder.writer().n_tensors());
  return 0;
}

CommandRegistration reg({"dev", "make-model"}, "Write a random-weight model of a real shape (for benchmarks)",
                        [](CLI::App& app) {
                          auto o = std::make_shared<MakeModelOptions>();
                          app.add_option("--arch", o->arch, "Architecture (bert, llama)")->required();
                          app.add_option("--preset", o->preset, "Shape, e.g. minilm-l6")->required();
                          app.add_option("--type", o->type, "Weight type: f32, f16, bf16, q8_0, q4_0, pal4g16 (q4_k_m for llama)");
                          app.add_option("--vocab", o->vocab, "Vocabulary GGUF to copy the tokenizer from")
                              ->required();
                          app.add_option("-o,--output", o->output, "Output GGUF file")->required();
                          app.add_option("--seed", o->seed, "Random seed");
                          app.add_flag("--rerank", o->rerank,
                                       "bert: a cross-encoder (classification head, pooling type rank); XLM-RoBERTa's "
                                       "shape with a t5 vocabulary");
                          return [o] { return run_make_model(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
