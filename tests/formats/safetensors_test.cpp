// Safetensors parsing (valid and hostile) and Hugging Face folder mapping to GGUF names and metadata.
// No HF models are on disk, so the tests write small folders themselves.
#include "formats/safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/fp16.h"
#include "core/mapped_file.h"
#include "error_kind_util.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string f32_bytes(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

std::vector<float> iota_floats(size_t n, float start = 0) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + float(i);
  return v;
}

std::string parse_error(const std::string& bytes) {
  try {
    read_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string with_header(const std::string& header, const std::string& body) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + body;
}

TEST(SafetensorsTest, ParsesWhatTheWriterWrites) {
  const std::string bytes = write_safetensors({
      {"b", "F16", {3}, std::string(6, '\x01')},
      {"a", "F32", {2, 3}, f32_bytes(iota_floats(6))},
      {"ids", "I64", {1, 4}, std::string(32, '\0')},
  });
  const auto entries = read_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "b");  // file order of the data
  EXPECT_EQ(entries[1].name, "a");
  EXPECT_EQ(entries[1].dtype, "F32");
  EXPECT_EQ(entries[1].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(entries[1].nbytes, 24u);
  float v[6];
  std::memcpy(v, entries[1].data, 24);
  EXPECT_EQ(v[5], 5.0f);
  EXPECT_EQ(entries[2].dtype, "I64");
}

TEST(SafetensorsTest, LoadSafetensorsReversesShapesIntoGgufOrder) {
  const fs::path path = fs::temp_directory_path() / ("hearth_st_" + std::to_string(::getpid()) + ".safetensors");
  write_file_atomic(path.string(), write_safetensors({{"w", "BF16", {4, 2}, std::string(16, '\0')}}));
  auto w = load_safetensors(path.string());
  EXPECT_EQ(w->get("w", {2, 4}).type, DType::BF16);
  fs::remove(path);
}

TEST(SafetensorsTest, RejectsHostileHeaders) {
  EXPECT_NE(parse_error("abc").find("too short"), std::string::npos);
  std::string huge(8, '\xff');
  EXPECT_NE(parse_error(huge).find("100 MB"), std::string::npos);
  EXPECT_NE(parse_error(with_header("{}", "").substr(0, 9)).find("runs past the end"), std::string::npos);
  EXPECT_NE(parse_error(with_header("[1]", "")).find("not a JSON object"), std::string::npos);
  EXPECT_NE(parse_error(with_header("{\"a\":", "")).find("invalid JSON"), std::string::npos);
  EXPECT_NE(parse_error(with_header("{\"a\":" + std::string(500, '[') + std::string(500, ']') + "}", "")).find("nested"),
            std::string::npos);
  EXPECT_EQ(parse_error(with_header("{\"__metadata__\":{\"format\":\"pt\"}}", "")), "");

  auto one = [](const std::string& entry, size_t body = 16) {
    return parse_error(with_header("{\"t\":" + entry + "}", std::string(body, '\0')));
  };
  EXPECT_EQ(one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})"), "");
  EXPECT_NE(one(R"({"shape":[2,2],"data_offsets":[0,16]})").find("dtype"), std::string::npos);
  EXPECT_NE(one(R"({"dtype":"Q9","shape":[2,2],"data_offsets":[0,16]})").find("unknown dtype 'Q9'"), std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[-2,2],"data_offsets":[0,16]})").find("non-negative"), std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,32]})").find("outside"), std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[8,4]})").find("outside"), std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,16]})").find("need 24"), std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]})").find("overflow"),
            std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0]})").find("data_offsets"), std::string::npos);
  EXPECT_NE(one(R"("x")").find("not an object"), std::string::npos);
  const std::string e = parse_error(with_header(
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      std::string(16, '\0')));
  EXPECT_NE(e.find("overlaps"), std::string::npos) << e;
}

TEST(SafetensorsTest, TruncationsAndCorruptionNeverCrash) {
  const std::string bytes = write_safetensors({
      {"a", "F32", {2, 3}, f32_bytes(iota_floats(6))},
      {"b", "BF16", {5}, std::string(10, '\x02')},
  });
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_NE(parse_error(bytes.substr(0, n)), "") << n;
  std::mt19937 rng(99);
  for (int i = 0; i < 3000; ++i) {
    std::string s = bytes;
    for (int f = 0; f < 3; ++f) s[rng() % s.size()] = char(rng());
    (void)parse_error(s);
  }
}

// ---- Hugging Face folders ----

class HfFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hearth_hf_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& rel, const std::string& contents) {
    fs::create_directories((dir_ / rel).parent_path());
    write_file_atomic((dir_ / rel).string(), contents);
  }
  std::string open_error() {
    try {
      Weights::open(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

json bert_config() {
  return {{"architectures", {"BertForMaskedLM"}}, {"model_type", "bert"}, {"hidden_size", 8},
          {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"intermediate_size", 16},
          {"max_position_embeddings", 32}, {"layer_norm_eps", 1e-12}, {"type_vocab_size", 2}, {"vocab_size", 10}};
}

std::vector<SafetensorsWriterTensor> bert_tensors(const std::string& prefix) {
  std::vector<SafetensorsWriterTensor> t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (auto d : shape) n *= size_t(d);
    std::vector<uint16_t> h(n);
    for (size_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(float(i % 7) - 3.0f);
    t.push_back({prefix + name, "F16", shape, std::string(reinterpret_cast<const char*>(h.data()), n * 2)});
  };
  add("embeddings.word_embeddings.weight", {10, 8});
  add("embeddings.position_embeddings.weight", {32, 8});
  add("embeddings.token_type_embeddings.weight", {2, 8});
  add("embeddings.LayerNorm.gamma", {8});
  add("embeddings.LayerNorm.beta", {8});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      add(p + m + ".weight", {8, 8});
      add(p + m + ".bias", {8});
    }
    add(p + "attention.output.LayerNorm.weight", {8});
    add(p + "attention.output.LayerNorm.bias", {8});
    add(p + "intermediate.dense.weight", {16, 8});
    add(p + "intermediate.dense.bias", {16});
    add(p + "output.dense.weight", {8, 16});
    add(p + "output.dense.bias", {8});
    add(p + "output.LayerNorm.weight", {8});
    add(p + "output.LayerNorm.bias", {8});
  }
  // No GGUF counterpart: skipped, whatever their dtype.
  t.push_back({prefix + "embeddings.position_ids", "I64", {1, 32}, std::string(256, '\0')});
  t.push_back({"cls.predictions.bias", "F32", {10}, std::string(40, '\0')});
  return t;
}

TEST_F(HfFolderTest, BertFolderMapsConfigPoolingAndNames) {
  write("config.json", bert_config().dump());
  write("modules.json", R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                            {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}])");
  write("1_Pooling/config.json", R"({"word_embedding_dimension":8,"pooling_mode_cls_token":false,"pooling_mode_mean_tokens":true})");
  const auto tensors = bert_tensors("bert.");
  write("model.safetensors", write_safetensors(tensors));

  auto w = Weights::open(dir_.string());
  const Metadata& m = w->metadata();
  EXPECT_EQ(w->architecture(), "bert");
  EXPECT_EQ(m.get_int("bert.block_count"), 2);
  EXPECT_EQ(m.get_int("bert.embedding_length"), 8);
  EXPECT_EQ(m.get_int("bert.feed_forward_length"), 16);
  EXPECT_EQ(m.get_int("bert.attention.head_count"), 2);
  EXPECT_EQ(m.get_int("bert.context_length"), 32);
  EXPECT_FLOAT_EQ(float(m.get_float("bert.attention.layer_norm_epsilon")), 1e-12f);
  EXPECT_EQ(m.get_int("bert.pooling_type"), 1);
  EXPECT_FALSE(m.get_bool("bert.attention.causal"));
  EXPECT_EQ(m.get_string("general.source.hf_dir"), fs::absolute(dir_).string());

  // The same names and shapes as llama.cpp's bert GGUF files.
  EXPECT_EQ(w->get("token_embd.weight", {8, 10}).type, DType::F16);
  w->get("position_embd.weight", {8, 32});
  w->get("token_types.weight", {8, 2});
  w->get("token_embd_norm.weight", {8});
  w->get("token_embd_norm.bias", {8});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      w->get(p + n + ".weight", {8, 8});
      w->get(p + n + ".bias", {8});
    }
    w->get(p + "attn_output_norm.weight", {8});
    w->get(p + "ffn_up.weight", {8, 16});
    w->get(p + "ffn_up.bias", {16});
    w->get(p + "ffn_down.weight", {16, 8});
    w->get(p + "layer_output_norm.bias", {8});
  }
  EXPECT_EQ(w->tensors().size(), 5u + 2u * 16u);
  // Data is not copied or transposed: HF [out, in] row-major is GGUF ne {in, out}.
  const WeightTensor& q = w->get("blk.1.attn_q.weight");
  const auto& src = tensors[5 + 16 + 0];
  ASSERT_EQ(src.name, "bert.encoder.layer.1.attention.self.query.weight");
  ASSERT_EQ(q.nbytes, src.bytes.size());
  EXPECT_EQ(std::memcmp(q.data, src.bytes.data(), q.nbytes), 0);
}

TEST_F(HfFolderTest, BertWithoutPrefixAndClsPooling) {
  json c = bert_config();
  c["architectures"] = {"BertModel"};
  write("config.json", c.dump());
  write("1_Pooling/config.json", R"({"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false})");
  write("model.safetensors", write_safetensors(bert_tensors("")));
  auto w = Weights::open(dir_.string());
  EXPECT_EQ(w->metadata().get_int("bert.pooling_type"), 2);
  w->get("blk.0.attn_q.weight", {8, 8});
}

TEST_F(HfFolderTest, UnsupportedPoolingAndDtypesAreErrors) {
  write("config.json", bert_config().dump());
  write("1_Pooling/config.json", R"({"pooling_mode_max_tokens":true})");
  write("model.safetensors", write_safetensors(bert_tensors("")));
  EXPECT_NE(open_error().find("pooling_mode_max_tokens"), std::string::npos);
  fs::remove_all(dir_ / "1_Pooling");
  auto t = bert_tensors("");
  t[0].dtype = "I16";  // same byte size as F16, so the file itself is valid
  write("model.safetensors", write_safetensors(t));
  const std::string e = open_error();
  EXPECT_NE(e.find("dtype I16"), std::string::npos) << e;
  EXPECT_NE(e.find("embeddings.word_embeddings.weight"), std::string::npos) << e;
}

json llama_config(const std::string& arch, bool tied) {
  return {{"architectures", {arch}}, {"hidden_size", 8}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
          {"num_key_value_heads", 1}, {"intermediate_size", 12}, {"max_position_embeddings", 64},
          {"rms_norm_eps", 1e-5}, {"rope_theta", 500000.0}, {"vocab_size", 6}, {"tie_word_embeddings", tied}};
}

// Row r of every matrix holds the value r (so permutations are visible), as F32.
SafetensorsWriterTensor rows_tensor(const std::string& name, int64_t rows, int64_t cols) {
  std::vector<float> v(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) v[size_t(r * cols + c)] = float(r);
  return {name, "F32", {rows, cols}, f32_bytes(v)};
}

std::vector<float> first_column(const WeightTensor& t) {
  std::vector<float> out;
  for (int64_t r = 0; r < t.ne[1]; ++r) {
    float f;
    std::memcpy(&f, t.data + size_t(r * t.ne[0]) * 4, 4);
    out.push_back(f);
  }
  return out;
}

std::vector<SafetensorsWriterTensor> llama_layer(bool biases) {
  const std::string p = "model.layers.0.";
  std::vector<SafetensorsWriterTensor> t = {
      rows_tensor(p + "self_attn.q_proj.weight", 8, 8), rows_tensor(p + "self_attn.k_proj.weight", 4, 8),
      rows_tensor(p + "self_attn.v_proj.weight", 4, 8), rows_tensor(p + "self_attn.o_proj.weight", 8, 8),
      rows_tensor(p + "mlp.gate_proj.weight", 12, 8),   rows_tensor(p + "mlp.up_proj.weight", 12, 8),
      rows_tensor(p + "mlp.down_proj.weight", 8, 12),
      {p + "input_layernorm.weight", "F32", {8}, f32_bytes(iota_floats(8))},
      {p + "post_attention_layernorm.weight", "F32", {8}, f32_bytes(iota_floats(8))},
      {p + "self_attn.rotary_emb.inv_freq", "F32", {2}, f32_bytes(iota_floats(2))},
  };
  if (biases)
    for (const char* n : {"q_proj", "k_proj", "v_proj"})
      t.push_back({p + "self_attn." + n + ".bias", "F32", {n[0] == 'q' ? 8 : 4}, f32_bytes(iota_floats(n[0] == 'q' ? 8 : 4))});
  return t;
}

TEST_F(HfFolderTest, ShardedLlamaWithPermutedQKAndLlama3Rope) {
  json c = llama_config("LlamaForCausalLM", true);
  c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 32}};
  write("config.json", c.dump());
  std::vector<uint16_t> emb(48);
  for (size_t i = 0; i < emb.size(); ++i) emb[i] = fp32_to_bf16(float(i));
  auto shard1 = llama_layer(false);
  std::vector<SafetensorsWriterTensor> shard2 = {
      {"model.embed_tokens.weight", "BF16", {6, 8}, std::string(reinterpret_cast<const char*>(emb.data()), 96)},
      {"model.norm.weight", "F32", {8}, f32_bytes(iota_floats(8))},
  };
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
  for (auto& t : shard1) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (auto& t : shard2) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  write("model-00001-of-00002.safetensors", write_safetensors(shard1));
  write("model-00002-of-00002.safetensors", write_safetensors(shard2));
  write("model.safetensors.index.json", index.dump());

  auto w = Weights::open(dir_.string());
  const Metadata& m = w->metadata();
  EXPECT_EQ(w->architecture(), "llama");
  EXPECT_EQ(m.get_int("llama.block_count"), 1);
  EXPECT_EQ(m.get_int("llama.embedding_length"), 8);
  EXPECT_EQ(m.get_int("llama.feed_forward_length"), 12);
  EXPECT_EQ(m.get_int("llama.attention.head_count"), 2);
  EXPECT_EQ(m.get_int("llama.attention.head_count_kv"), 1);
  EXPECT_EQ(m.get_int("llama.context_length"), 64);
  EXPECT_EQ(m.get_int("llama.rope.dimension_count"), 4);
  EXPECT_FLOAT_EQ(float(m.get_float("llama.rope.freq_base")), 500000.0f);
  EXPECT_FLOAT_EQ(float(m.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);

  // Head dim 4: each head's rows (a0 a1 b0 b1) become interleaved pairs (a0 b0 a1 b1).
  EXPECT_EQ(first_column(w->get("blk.0.attn_q.weight", {8, 8})), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(first_column(w->get("blk.0.attn_k.weight", {8, 4})), (std::vector<float>{0, 2, 1, 3}));
  EXPECT_EQ(first_column(w->get("blk.0.attn_v.weight", {8, 4})), (std::vector<float>{0, 1, 2, 3}));
  w->get("blk.0.attn_output.weight", {8, 8});
  w->get("blk.0.ffn_gate.weight", {8, 12});
  w->get("blk.0.ffn_up.weight", {8, 12});
  w->get("blk.0.ffn_down.weight", {12, 8});
  w->get("blk.0.attn_norm.weight", {8});
  w->get("blk.0.ffn_norm.weight", {8});
  w->get("output_norm.weight", {8});
  EXPECT_EQ(w->get("token_embd.weight", {8, 6}).type, DType::BF16);
  EXPECT_EQ(w->find("output.weight"), nullptr);  // tied
  EXPECT_EQ(w->find("rotary_emb.inv_freq"), nullptr);

  // llama3 scaling with head dim 4, theta 5e5, old context 32: pair 0 has wavelength 2*pi (< 32/4): factor 1;
  // pair 1 has frequency 5e5^-0.5, wavelength ~4443 (> 32/1): the full factor 8.
  const WeightTensor& f = w->get("rope_freqs.weight", {2});
  float fv[2];
  std::memcpy(fv, f.data, 8);
  EXPECT_EQ(fv[0], 1.0f);
  EXPECT_EQ(fv[1], 8.0f);
}

// The point of the q/k permutation: attention scores from HF weights with NeoX (half-split) rope must equal
// scores from the loaded weights with GGUF llama's interleaved-pair rope. A permutation in the wrong
// direction, or with the wrong head count for k, fails this.
TEST_F(HfFolderTest, PermutedLlamaWeightsGiveTheSameRopeScores) {
  constexpr int kIn = 8, kHeads = 2, kKvHeads = 1, kHd = 8;
  json c = llama_config("LlamaForCausalLM", true);
  c["hidden_size"] = kIn;
  c["num_attention_heads"] = kHeads;
  c["num_key_value_heads"] = kKvHeads;
  c["head_dim"] = kHd;
  write("config.json", c.dump());
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
  };
  const std::vector<float> wq = random(kHeads * kHd * kIn), wk = random(kKvHeads * kHd * kIn);
  auto t = llama_layer(false);
  t[0] = {"model.layers.0.self_attn.q_proj.weight", "F32", {kHeads * kHd, kIn}, f32_bytes(wq)};
  t[1] = {"model.layers.0.self_attn.k_proj.weight", "F32", {kKvHeads * kHd, kIn}, f32_bytes(wk)};
  t.push_back(rows_tensor("model.embed_tokens.weight", 6, kIn));
  write("model.safetensors", write_safetensors(t));
  auto w = Weights::open(dir_.string());
  std::vector<float> gq(wq.size()), gk(wk.size());
  std::memcpy(gq.data(), w->get("blk.0.attn_q.weight", {kIn, kHeads * kHd}).data, gq.size() * 4);
  std::memcpy(gk.data(), w->get("blk.0.attn_k.weight", {kIn, kKvHeads * kHd}).data, gk.size() * 4);

  const std::vector<float> x = random(kIn), y = random(kIn);
  auto matvec = [](const std::vector<float>& m, const std::vector<float>& v, int rows) {
    std::vector<double> out(size_t(rows), 0.0);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < kIn; ++i) out[size_t(r)] += double(m[size_t(r * kIn + i)]) * v[size_t(i)];
    return out;
  };
  // Rotates head `h` of `v` at position `pos`; pair i is (i, i + hd/2) for NeoX, (2i, 2i + 1) interleaved.
  auto rope = [](std::vector<double> v, int h, int pos, bool neox) {
    for (int i = 0; i < kHd / 2; ++i) {
      const double theta = pos * std::pow(10000.0, -2.0 * i / kHd);
      const size_t a = size_t(h * kHd + (neox ? i : 2 * i)), b = size_t(h * kHd + (neox ? i + kHd / 2 : 2 * i + 1));
      const double va = v[a], vb = v[b];
      v[a] = va * std::cos(theta) - vb * std::sin(theta);
      v[b] = va * std::sin(theta) + vb * std::cos(theta);
    }
    return v;
  };
  for (int h = 0; h < kHeads; ++h) {
    const auto q_hf = rope(matvec(wq, x, kHeads * kHd), h, 3, true);
    const auto k_hf = rope(matvec(wk, y, kKvHeads * kHd), 0, 7, true);
    const auto q_gg = rope(matvec(gq, x, kHeads * kHd), h, 3, false);
    const auto k_gg = rope(matvec(gk, y, kKvHeads * kHd), 0, 7, false);
    double s_hf = 0, s_gg = 0;
    for (int d = 0; d < kHd; ++d) {
      s_hf += q_hf[size_t(h * kHd + d)] * k_hf[size_t(d)];
      s_gg += q_gg[size_t(h * kHd + d)] * k_gg[size_t(d)];
    }
    EXPECT_NEAR(s_gg, s_hf, 1e-9 * (1 + std::abs(s_hf))) << "head " << h;
  }
}

TEST_F(HfFolderTest, Qwen2KeepsOrderAndMapsBiasesAndLmHead) {
  write("config.json", llama_config("Qwen2ForCausalLM", false).dump());
  auto t = llama_layer(true);
  t.push_back(rows_tensor("model.embed_tokens.weight", 6, 8));
  t.push_back(rows_tensor("lm_head.weight", 6, 8));
  t.push_back({"model.norm.weight", "F32", {8}, f32_bytes(iota_floats(8))});
  write("model.safetensors", write_safetensors(t));
  auto w = Weights::open(dir_.string());
  EXPECT_EQ(w->architecture(), "qwen2");
  EXPECT_EQ(w->metadata().get_int("qwen2.attention.head_count_kv"), 1);
  EXPECT_EQ(first_column(w->get("blk.0.attn_q.weight", {8, 8})), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
  w->get("blk.0.attn_q.bias", {8});
  w->get("blk.0.attn_k.bias", {4});
  w->get("output.weight", {8, 6});
}

TEST_F(HfFolderTest, Qwen3HeadDimAndNorms) {
  json c = llama_config("Qwen3ForCausalLM", true);
  c["head_dim"] = 6;
  write("config.json", c.dump());
  auto t = llama_layer(false);
  t.push_back({"model.layers.0.self_attn.q_norm.weight", "F32", {6}, f32_bytes(iota_floats(6))});
  t.push_back({"model.layers.0.self_attn.k_norm.weight", "F32", {6}, f32_bytes(iota_floats(6))});
  t.push_back(rows_tensor("model.embed_tokens.weight", 6, 8));
  write("model.safetensors", write_safetensors(t));
  auto w = Weights::open(dir_.string());
  EXPECT_EQ(w->architecture(), "qwen3");
  EXPECT_EQ(w->metadata().get_int("qwen3.attention.key_length"), 6);
  EXPECT_EQ(w->metadata().get_int("qwen3.rope.dimension_count"), 6);
  w->get("blk.0.attn_q_norm.weight", {6});
  w->get("blk.0.attn_k_norm.weight", {6});
}

TEST_F(HfFolderTest, ErrorKindsOfBrokenFolders) {
  auto kind = [&] { return test::thrown_kind([&] { Weights::open(dir_.string()); }); };
  EXPECT_EQ(kind(), to_string(ErrorKind::kNotFound));  // no config.json: nothing here to load
  write("config.json", R"({"architectures":["GPT2LMHeadModel"],"model_type":"gpt2"})");
  EXPECT_EQ(kind(), to_string(ErrorKind::kUnsupported));
  json c = llama_config("LlamaForCausalLM", false);
  c["rope_scaling"] = {{"rope_type", "longrope"}};
  write("config.json", c.dump());
  EXPECT_EQ(kind(), to_string(ErrorKind::kUnsupported));
  write("config.json", "{not json");
  EXPECT_EQ(kind(), to_string(ErrorKind::kCorruptData));
  c = llama_config("LlamaForCausalLM", false);
  c.erase("hidden_size");
  write("config.json", c.dump());
  EXPECT_EQ(kind(), to_string(ErrorKind::kCorruptData));
  write("config.json", llama_config("LlamaForCausalLM", false).dump());
  EXPECT_EQ(kind(), to_string(ErrorKind::kCorruptData));  // a config but no weights
  std::string header_length(8, '\0');
  header_length[0] = 16;
  write("model.safetensors", header_length + "{");  // a 16-byte header in a 9-byte file
  EXPECT_EQ(kind(), to_string(ErrorKind::kCorruptData));
}

TEST_F(HfFolderTest, BrokenFoldersGiveClearErrors) {
  EXPECT_NE(open_error().find("config.json is missing"), std::string::npos);
  write("config.json", R"({"architectures":["GPT2LMHeadModel"],"model_type":"gpt2"})");
  EXPECT_NE(open_error().find("unsupported architecture 'GPT2LMHeadModel'"), std::string::npos);
  json c = llama_config("LlamaForCausalLM", false);
  write("config.json", c.dump());
  EXPECT_NE(open_error().find("no model.safetensors"), std::string::npos);
  auto t = llama_layer(false);
  t.push_back(rows_tensor("model.embed_tokens.weight", 6, 8));
  write("model.safetensors", write_safetensors(t));
  EXPECT_NE(open_error().find("lm_head.weight is missing"), std::string::npos);
  t.push_back(rows_tensor("model.layers.3.mlp.up_proj.weight", 12, 8));
  write("model.safetensors", write_safetensors(t));
  EXPECT_NE(open_error().find("layer 3"), std::string::npos);
  c.erase("hidden_size");
  write("config.json", c.dump());
  EXPECT_NE(open_error().find("missing key 'hidden_size'"), std::string::npos);
  c["hidden_size"] = "eight";
  write("config.json", c.dump());
  EXPECT_NE(open_error().find("'hidden_size' must be a positive integer"), std::string::npos);
  write("config.json", "{not json");
  EXPECT_NE(open_error().find("invalid JSON"), std::string::npos);

  fs::remove(dir_ / "model.safetensors");
  write("config.json", llama_config("LlamaForCausalLM", true).dump());
  write("model.safetensors.index.json", R"({"weight_map":{"model.norm.weight":"../evil.safetensors"}})");
  EXPECT_NE(open_error().find("unsafe shard file name"), std::string::npos);
  write("model.safetensors.index.json", R"({"weight_map":{"model.norm.weight":"missing.safetensors"}})");
  EXPECT_NE(open_error().find("missing.safetensors"), std::string::npos);
  write("a.safetensors", write_safetensors({{"model.norm.weight", "F32", {8}, f32_bytes(iota_floats(8))}}));
  write("model.safetensors.index.json", R"({"weight_map":{"model.norm.weight":"a.safetensors","lm_head.weight":"a.safetensors"}})");
  EXPECT_NE(open_error().find("'lm_head.weight' listed in the index is missing"), std::string::npos);
}

}  // namespace
}  // namespace hearth
