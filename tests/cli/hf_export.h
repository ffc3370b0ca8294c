// Writes a GGUF model back out as the Hugging Face folder it would have been converted from (config.json,
// model.safetensors, tokenizer files): the name mapping and llama's q/k row order inverted by tables written here,
// independently of formats/hf_folder.cpp. For tests of `hearth convert` and of the toolchain end to end.
#pragma once

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/safetensors.h"
#include "formats/weights.h"

namespace hearth::test {

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// ---- GGUF -> Hugging Face names (the inverse of llama.cpp's convert_hf_to_gguf tensor map) ----

inline const std::map<std::string, std::string> kLlamaGlobal = {
    {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}};
inline const std::map<std::string, std::string> kLlamaLayer = {
    {"attn_norm", "input_layernorm"},   {"ffn_norm", "post_attention_layernorm"}, {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},     {"attn_v", "self_attn.v_proj"},           {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"},      {"ffn_up", "mlp.up_proj"},                {"ffn_down", "mlp.down_proj"}};
inline const std::map<std::string, std::string> kBertGlobal = {
    {"token_embd", "embeddings.word_embeddings"}, {"position_embd", "embeddings.position_embeddings"},
    {"token_types", "embeddings.token_type_embeddings"}, {"token_embd_norm", "embeddings.LayerNorm"},
    {"cls", "pooler.dense"}, {"cls.output", "classifier"}};
inline const std::map<std::string, std::string> kBertLayer = {
    {"attn_q", "attention.self.query"},       {"attn_k", "attention.self.key"},
    {"attn_v", "attention.self.value"},       {"attn_output", "attention.output.dense"},
    {"attn_output_norm", "attention.output.LayerNorm"}, {"ffn_up", "intermediate.dense"},
    {"ffn_down", "output.dense"},             {"layer_output_norm", "output.LayerNorm"}};

inline std::string hf_name(const std::string& gguf, bool bert, const std::string& bert_prefix) {
  const size_t dot = gguf.rfind('.');
  const std::string stem = gguf.substr(0, dot), suffix = gguf.substr(dot);
  if (stem.rfind("blk.", 0) == 0) {
    const size_t d2 = stem.find('.', 4);
    const std::string layer = stem.substr(4, d2 - 4), part = stem.substr(d2 + 1);
    const auto& table = bert ? kBertLayer : kLlamaLayer;
    return (bert ? bert_prefix + "encoder.layer." : std::string("model.layers.")) + layer + "." + table.at(part) + suffix;
  }
  if (bert) return (stem == "cls" || stem == "cls.output" ? "" : bert_prefix) + kBertGlobal.at(stem) + suffix;
  return kLlamaGlobal.at(stem) + suffix;
}

// The tensor as a safetensors entry: F32 and F16 as stored, anything quantized as the F32 it dequantizes to. For
// llama, attn_q/attn_k rows go back to Hugging Face's half-split rotary order:
// HF row h*hd + j*hd/2 + i = GGUF row h*hd + 2i + j.
inline SafetensorsWriterTensor hf_tensor(const WeightTensor& t, const std::string& name, int64_t rope_heads) {
  SafetensorsWriterTensor out;
  out.name = name;
  out.shape.assign(t.ne.rbegin(), t.ne.rend());
  if (t.type == DType::F32 || t.type == DType::F16) {
    out.dtype = t.type == DType::F32 ? "F32" : "F16";
    out.bytes.assign(reinterpret_cast<const char*>(t.data), t.nbytes);
  } else {
    std::vector<float> f(size_t(t.n_elements()));
    dequantize_row(t.type, t.data, f.data(), t.n_elements());
    out.dtype = "F32";
    out.bytes.assign(reinterpret_cast<const char*>(f.data()), f.size() * sizeof(float));
  }
  if (rope_heads > 0) {
    const int64_t rows = t.n_rows(), hd = rows / rope_heads;
    const size_t rb = out.bytes.size() / size_t(rows);
    std::string permuted(out.bytes.size(), '\0');
    for (int64_t h = 0; h < rope_heads; ++h)
      for (int64_t i = 0; i < hd / 2; ++i)
        for (int64_t j = 0; j < 2; ++j)
          std::memcpy(&permuted[size_t(h * hd + j * (hd / 2) + i) * rb], &out.bytes[size_t(h * hd + 2 * i + j) * rb], rb);
    out.bytes = std::move(permuted);
  }
  return out;
}

// SentencePiece's tokenizer.model (protobuf ModelProto): one `pieces` entry (field 1) per token with its text
// (1), score (2, float) and type (3).
inline void put_varint(std::string& s, uint64_t v) {
  for (; v >= 0x80; v >>= 7) s += char(uint8_t(v | 0x80));
  s += char(uint8_t(v));
}
struct SentencePiece {
  std::string text;
  float score;
  int type;  // NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6
};
// `normalizer`: the NormalizerSpec message (field 3), already encoded, or "".
inline std::string sentencepiece_model(const std::vector<SentencePiece>& pieces, const std::string& normalizer = "") {
  std::string model;
  for (const SentencePiece& p : pieces) {
    std::string piece;
    put_varint(piece, (1 << 3) | 2);
    put_varint(piece, p.text.size());
    piece += p.text;
    put_varint(piece, (2 << 3) | 5);
    piece.append(reinterpret_cast<const char*>(&p.score), 4);
    put_varint(piece, (3 << 3) | 0);
    put_varint(piece, uint64_t(p.type));
    put_varint(model, (1 << 3) | 2);
    put_varint(model, piece.size());
    model += piece;
  }
  if (!normalizer.empty()) {
    put_varint(model, (3 << 3) | 2);
    put_varint(model, normalizer.size());
    model += normalizer;
  }
  return model;
}
inline std::string sentencepiece_model(const Metadata& md) {
  const auto& tokens = *md.find_strings("tokenizer.ggml.tokens");
  const auto scores = *md.find_floats("tokenizer.ggml.scores");
  const auto types = *md.find_ints("tokenizer.ggml.token_type");
  std::vector<SentencePiece> pieces;
  for (size_t i = 0; i < tokens.size(); ++i) pieces.push_back({tokens[i], float(scores[i]), int(types[i])});
  return sentencepiece_model(pieces);
}

inline std::string token_at(const Metadata& md, const char* key) {
  return (*md.find_strings("tokenizer.ggml.tokens")).at(size_t(md.get_int(key)));
}

// Writes the folder `dir` (named after general.name, as the converter names the model) for golden GGUF `g`.
inline std::filesystem::path export_hf_folder(const Weights& g, const std::filesystem::path& parent, bool cross_encoder = false) {
  const Metadata& md = g.metadata();
  const std::string arch = md.get_string("general.architecture");
  const std::filesystem::path dir = parent / md.get_string("general.name");
  std::filesystem::create_directories(dir);
  const bool bert = arch == "bert";
  auto u = [&](const std::string& key) { return md.get_int(arch + "." + key); };
  nlohmann::json config;
  std::vector<SafetensorsWriterTensor> tensors;
  if (bert) {
    config = {{"architectures", {cross_encoder ? "BertForSequenceClassification" : "BertModel"}},
              {"model_type", "bert"},
              {"hidden_size", u("embedding_length")},
              {"num_hidden_layers", u("block_count")},
              {"num_attention_heads", u("attention.head_count")},
              {"intermediate_size", u("feed_forward_length")},
              {"layer_norm_eps", md.get_float("bert.attention.layer_norm_epsilon")},
              {"max_position_embeddings", u("context_length")},
              {"type_vocab_size", md.get_int("tokenizer.ggml.token_type_count")},
              {"vocab_size", md.find_strings("tokenizer.ggml.tokens")->size()}};
    if (cross_encoder) {
      config["id2label"] = {{"0", "LABEL_0"}};
    } else {
      write_text(dir / "1_Pooling" / "config.json", R"({"pooling_mode_mean_tokens": true})");
    }
    // vocab.txt: llama.cpp's phantom-space tokens back to BERT's ("▁word" -> "word", "piece" -> "##piece").
    std::string vocab;
    for (const std::string& t : *md.find_strings("tokenizer.ggml.tokens")) {
      if (t.size() >= 2 && t.front() == '[' && t.back() == ']') vocab += t;
      else if (t.rfind("\xE2\x96\x81", 0) == 0) vocab += t.substr(3);
      else vocab += "##" + t;
      vocab += "\n";
    }
    write_text(dir / "vocab.txt", vocab);
  } else {
    config = {{"architectures", {arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
              {"model_type", arch},
              {"hidden_size", u("embedding_length")},
              {"num_hidden_layers", u("block_count")},
              {"num_attention_heads", u("attention.head_count")},
              {"num_key_value_heads", u("attention.head_count_kv")},
              {"intermediate_size", u("feed_forward_length")},
              {"rms_norm_eps", md.get_float(arch + ".attention.layer_norm_rms_epsilon")},
              {"rope_theta", md.find_float(arch + ".rope.freq_base").value_or(10000.0)},  // llama.cpp's default
              {"max_position_embeddings", u("context_length")},
              {"tie_word_embeddings", g.find("output.weight") == nullptr}};
    if (auto n = md.find_int(arch + ".vocab_size")) config["vocab_size"] = *n;
    if (md.get_string("tokenizer.ggml.model") == "llama") {
      write_text(dir / "tokenizer.model", sentencepiece_model(md));
      nlohmann::json tc = {{"bos_token", token_at(md, "tokenizer.ggml.bos_token_id")},
                 {"eos_token", token_at(md, "tokenizer.ggml.eos_token_id")},
                 {"unk_token", token_at(md, "tokenizer.ggml.unknown_token_id")}};
      for (const char* k : {"add_bos_token", "add_eos_token"})
        if (auto b = md.find_bool(std::string("tokenizer.ggml.") + k)) tc[k] = *b;
      write_text(dir / "tokenizer_config.json", tc.dump());
    } else {  // GPT-2 byte-level BPE, GPT-2's own pre-tokenizer; specials as config.json ids
      const auto& tokens = *md.find_strings("tokenizer.ggml.tokens");
      const auto types = *md.find_ints("tokenizer.ggml.token_type");
      nlohmann::json vocab = nlohmann::json::object(), added = nlohmann::json::array();
      for (size_t i = 0; i < tokens.size(); ++i) {
        vocab[tokens[i]] = i;
        if (types[i] == 3) added.push_back({{"id", i}, {"content", tokens[i]}, {"special", true}});
      }
      const nlohmann::json tj = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", *md.find_strings("tokenizer.ggml.merges")}}},
                       {"added_tokens", added},
                       {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
                       {"decoder", {{"type", "ByteLevel"}}}};
      write_text(dir / "tokenizer.json", tj.dump());
      config["bos_token_id"] = md.get_int("tokenizer.ggml.bos_token_id");
      config["eos_token_id"] = md.get_int("tokenizer.ggml.eos_token_id");
    }
  }
  write_text(dir / "config.json", config.dump(1));
  const std::string prefix = cross_encoder ? "bert." : "";
  for (const WeightTensor& t : g.tensors()) {
    int64_t rope_heads = 0;
    if (arch == "llama" && t.name.find(".attn_q.") != std::string::npos) rope_heads = u("attention.head_count");
    if (arch == "llama" && t.name.find(".attn_k.") != std::string::npos) rope_heads = u("attention.head_count_kv");
    tensors.push_back(hf_tensor(t, hf_name(t.name, bert, prefix), rope_heads));
  }
  write_text(dir / "model.safetensors", write_safetensors(tensors));
  return dir;
}

}  // namespace hearth::test
