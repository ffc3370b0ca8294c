// Test material for LoRA: a tiny runnable llama model and random adapters (PEFT folders and GGUF files), written
// by the tests themselves, and the reference update B·A in double precision.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/quantize.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

namespace hearth::test {

// The model's shape: 4 heads of 16 (2 KV heads), 2 layers, 96 tokens.
struct TinyLlama {
  static constexpr int kEmbd = 64, kHeads = 4, kHeadsKv = 2, kHeadDim = 16, kFf = 128, kVocab = 96, kLayers = 2;
  static constexpr int kKv = kHeadsKv * kHeadDim;
};

inline std::vector<float> random_floats(size_t n, float stddev, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// Random rows stored as `type`: quantize() for the types it writes, random blocks with sane scales for Q4_1.
inline std::vector<uint8_t> random_rows(DType type, int64_t rows, int64_t cols, float stddev, std::mt19937& rng) {
  if (type == DType::Q4_1) {
    std::vector<uint8_t> out(row_bytes(type, cols) * size_t(rows));
    std::uniform_int_distribution<int> byte(0, 255);
    for (uint8_t& b : out) b = uint8_t(byte(rng));
    for (size_t at = 0; at < out.size(); at += sizeof(BlockQ4_1)) {
      const uint16_t d = fp32_to_fp16(stddev / 4.6f), m = fp32_to_fp16(-7.5f * stddev / 4.6f);
      std::memcpy(&out[at], &d, 2);
      std::memcpy(&out[at + 2], &m, 2);
    }
    return out;
  }
  const std::vector<float> v = random_floats(size_t(rows * cols), stddev, rng);
  return quantize(type, v.data(), rows, cols);
}

// Writes a runnable llama model (tied output, no tokenizer) with matrices of the type `type_of(name)` returns.
inline void write_tiny_llama(const std::string& path, uint32_t seed,
                             const std::function<DType(const std::string&)>& type_of = nullptr) {
  using T = TinyLlama;
  std::mt19937 rng(seed);
  GgufWriter w;
  Metadata& md = w.metadata();
  md.set_string("general.architecture", "llama");
  md.set_u32("llama.embedding_length", T::kEmbd);
  md.set_u32("llama.block_count", T::kLayers);
  md.set_u32("llama.feed_forward_length", T::kFf);
  md.set_u32("llama.attention.head_count", T::kHeads);
  md.set_u32("llama.attention.head_count_kv", T::kHeadsKv);
  md.set_u32("llama.context_length", 256);
  md.set_u32("llama.rope.dimension_count", T::kHeadDim);
  md.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  std::vector<std::vector<uint8_t>> keep;
  keep.reserve(64);
  auto add = [&](const std::string& name, int64_t rows, int64_t cols, float stddev) {
    const DType t = rows == 1 ? DType::F32 : (type_of ? type_of(name) : DType::F32);
    if (rows == 1) {
      std::vector<float> v = random_floats(size_t(cols), 0.05f, rng);
      for (float& x : v) x += 1.0f;
      keep.emplace_back(reinterpret_cast<uint8_t*>(v.data()), reinterpret_cast<uint8_t*>(v.data() + v.size()));
    } else {
      keep.push_back(random_rows(t, rows, cols, stddev, rng));
    }
    w.add_tensor(name, t, rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows}, keep.back().data(),
                 keep.back().size());
  };
  add("token_embd.weight", T::kVocab, T::kEmbd, 0.5f);
  add("output_norm.weight", 1, T::kEmbd, 0);
  for (int l = 0; l < T::kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", 1, T::kEmbd, 0);
    add(p + "attn_q.weight", T::kEmbd, T::kEmbd, 0.08f);
    add(p + "attn_k.weight", T::kKv, T::kEmbd, 0.08f);
    add(p + "attn_v.weight", T::kKv, T::kEmbd, 0.06f);
    add(p + "attn_output.weight", T::kEmbd, T::kEmbd, 0.06f);
    add(p + "ffn_norm.weight", 1, T::kEmbd, 0);
    add(p + "ffn_gate.weight", T::kFf, T::kEmbd, 0.06f);
    add(p + "ffn_up.weight", T::kFf, T::kEmbd, 0.06f);
    add(p + "ffn_down.weight", T::kEmbd, T::kFf, 0.05f);
  }
  w.write(path);
}

// One random low-rank update, in PEFT's layout: a is rank x in, b is out x rank (rows in HF order for PEFT files).
struct TestPair {
  std::string module;  // HF module ("model.layers.0.self_attn.q_proj") or GGUF target ("blk.0.attn_q.weight")
  int64_t rank = 0, in = 0, out = 0;
  std::vector<float> a, b;
};

inline TestPair random_pair(std::string module, int64_t rank, int64_t in, int64_t out, std::mt19937& rng) {
  return {std::move(module), rank, in, out, random_floats(size_t(rank * in), 0.1f, rng),
          random_floats(size_t(out * rank), 0.1f, rng)};
}

// Random pairs for layers 0 .. layers-1 of each projection {stem, in, out}: named as GGUF targets
// ("blk.N.<stem>.weight"), or with `hf_names` as PEFT modules ("model.layers.N.<stem>", stem e.g. "self_attn.q_proj").
struct ProjectionShape {
  std::string stem;
  int64_t in, out;
};
inline std::vector<TestPair> random_layer_pairs(int layers, const std::vector<ProjectionShape>& projections,
                                                int64_t rank, bool hf_names, std::mt19937& rng) {
  std::vector<TestPair> out;
  for (int l = 0; l < layers; ++l)
    for (const ProjectionShape& p : projections) {
      const std::string name = hf_names ? "model.layers." + std::to_string(l) + "." + p.stem
                                        : "blk." + std::to_string(l) + "." + p.stem + ".weight";
      out.push_back(random_pair(name, rank, p.in, p.out, rng));
    }
  return out;
}

inline std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// A PEFT folder: adapter_config.json (+ `extra` keys) and adapter_model.safetensors.
inline void write_peft(const std::string& dir, const std::vector<TestPair>& pairs, int64_t r, double alpha,
                       const nlohmann::json& extra = nlohmann::json::object()) {
  std::filesystem::create_directories(dir);
  nlohmann::json config = {{"peft_type", "LORA"}, {"r", r}, {"lora_alpha", alpha}, {"fan_in_fan_out", false},
                           {"base_model_name_or_path", "tiny-llama"}};
  std::vector<std::string> modules;
  std::vector<SafetensorsWriterTensor> tensors;
  for (const TestPair& p : pairs) {
    const std::string stem = "base_model.model." + p.module;
    tensors.push_back({stem + ".lora_A.weight", "F32", {p.rank, p.in}, float_bytes(p.a)});
    tensors.push_back({stem + ".lora_B.weight", "F32", {p.out, p.rank}, float_bytes(p.b)});
    const std::string last = p.module.substr(p.module.rfind('.') + 1);
    if (std::find(modules.begin(), modules.end(), last) == modules.end()) modules.push_back(last);
  }
  config["target_modules"] = modules;
  config.update(extra);
  std::ofstream(dir + "/adapter_config.json") << config.dump(2);
  std::ofstream(dir + "/adapter_model.safetensors", std::ios::binary) << write_safetensors(tensors);
}

// A llama.cpp GGUF LoRA adapter (lora_a ne {in, rank}, lora_b ne {rank, out}, b's rows in GGUF order).
inline void write_gguf_lora(const std::string& path, const std::vector<TestPair>& pairs, float alpha,
                            const std::string& arch = "llama") {
  GgufWriter w;
  w.metadata().set_string("general.architecture", arch);
  w.metadata().set_string("general.type", "adapter");
  w.metadata().set_string("adapter.type", "lora");
  w.metadata().set_f32("adapter.lora.alpha", alpha);
  for (const TestPair& p : pairs) {
    w.add_tensor(p.module + ".lora_a", DType::F32, {p.in, p.rank}, p.a.data(), p.a.size() * sizeof(float));
    w.add_tensor(p.module + ".lora_b", DType::F32, {p.rank, p.out}, p.b.data(), p.b.size() * sizeof(float));
  }
  w.write(path);
}

// factor · B · A as out x in doubles, B's rows taken through `row_of` (GGUF row → the pair's row).
inline std::vector<double> reference_delta(const TestPair& p, double factor,
                                           const std::function<int64_t(int64_t)>& row_of = nullptr) {
  std::vector<double> d(size_t(p.out * p.in), 0.0);
  for (int64_t o = 0; o < p.out; ++o) {
    const int64_t src = row_of ? row_of(o) : o;
    for (int64_t k = 0; k < p.rank; ++k)
      for (int64_t i = 0; i < p.in; ++i)
        d[size_t(o * p.in + i)] += factor * double(p.b[size_t(src * p.rank + k)]) * double(p.a[size_t(k * p.in + i)]);
  }
  return d;
}

// llama.cpp's q/k row order: GGUF row h*hd + 2i + j holds HF row h*hd + j*hd/2 + i.
inline std::function<int64_t(int64_t)> hf_row_of(int64_t head_dim) {
  return [head_dim](int64_t g) {
    const int64_t h = g / head_dim, r = g % head_dim, i = r / 2, j = r % 2;
    return h * head_dim + j * (head_dim / 2) + i;
  };
}

}  // namespace hearth::test
