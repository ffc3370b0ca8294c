// `hearth convert` and `hearth quantize` as programs, against llama.cpp's own files in golden/.
//
// Convert round trips: a golden GGUF is exported here to the Hugging Face folder it would have come from
// (config.json, model.safetensors, tokenizer files; the name mapping and llama's q/k row order inverted by tables
// written in this file, independently of formats/hf_folder.cpp), then `hearth convert` must give back the same
// tensors (bit for bit where the type is the same), the same metadata keys and values as llama.cpp's file, and the
// same logits / embeddings when hearth runs it.
// Quantize: Q8_0 and Q4_0 files from the golden F16 model must equal llama-quantize's blocks byte for byte
// (those quantizers are ggml's reference rounding), and every key of llama-quantize's metadata must be there.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cli/hf_export.h"
#include "cli/run_hearth.h"
#include "core/dtype.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/weights.h"
#include "test_util.h"
#include "tokenizers/charsmap_builder.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace test;  // hf_export.h

std::string golden_model(const std::string& name) { return test::shared_dir() + "/golden/models/" + name; }
std::string q(const std::string& path) { return "'" + path + "'"; }

bool same_value(const MetaValue& a, const MetaValue& b) {
  if (a.type != b.type || a.value.index() != b.value.index()) return false;
  switch (a.value.index()) {
    case 0: return std::get<0>(a.value) == std::get<0>(b.value);
    case 1: return std::get<1>(a.value) == std::get<1>(b.value);
    case 2: return std::get<2>(a.value) == std::get<2>(b.value);
    case 3: return std::get<3>(a.value) == std::get<3>(b.value);
    case 4: return std::get<4>(a.value) == std::get<4>(b.value);
    default: break;
  }
  const auto& x = std::get<MetaArray>(a.value);
  const auto& y = std::get<MetaArray>(b.value);
  return x.elem == y.elem && x.ints == y.ints && x.floats == y.floats && x.strings == y.strings;
}

// Every key of llama.cpp's file, with the same type and value, and no other key (`except`: keys whose value may
// differ, with the reason at the call).
void expect_same_metadata(const Weights& ours, const Weights& theirs, const std::set<std::string>& except = {}) {
  for (const auto& [key, value] : theirs.metadata().entries()) {
    const MetaValue* v = ours.metadata().find(key);
    ASSERT_NE(v, nullptr) << "missing key " << key;
    if (!except.count(key)) {
      EXPECT_TRUE(same_value(*v, value)) << "key " << key;
    }
  }
  for (const auto& [key, value] : ours.metadata().entries())
    EXPECT_TRUE(theirs.metadata().has(key)) << "extra key " << key;
}

// Same names and shapes; the same bytes where the types agree, else the same dequantized values.
void expect_same_tensors(const Weights& ours, const Weights& theirs) {
  EXPECT_EQ(ours.tensors().size(), theirs.tensors().size());
  for (const WeightTensor& t : theirs.tensors()) {
    SCOPED_TRACE(t.name);
    const WeightTensor* o = ours.find(t.name);
    ASSERT_NE(o, nullptr);
    ASSERT_EQ(o->ne, t.ne);
    if (o->type == t.type) {
      ASSERT_EQ(o->nbytes, t.nbytes);
      EXPECT_EQ(std::memcmp(o->data, t.data, t.nbytes), 0);
    } else {
      std::vector<float> a(size_t(t.n_elements())), b(a.size());
      dequantize_row(o->type, o->data, a.data(), t.n_elements());
      dequantize_row(t.type, t.data, b.data(), t.n_elements());
      EXPECT_EQ(a, b);
    }
  }
}

TEST(ConvertCli, LlamaFolderRoundTripsToLlamaCppsFile) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir tmp;
  auto golden = load_gguf(golden_model("llama-dev.f16.gguf"));
  const fs::path dir = export_hf_folder(*golden, tmp.path());
  const std::string out = (fs::path(tmp.path()) / "llama.gguf").string();
  const auto r = test::run_hearth("convert " + q(dir.string()) + " -o " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  auto ours = load_gguf(out);
  expect_same_metadata(*ours, *golden);
  expect_same_tensors(*ours, *golden);
  // hearth runs both alike: the same logits at every position.
  const std::string args = " -p 'Once upon a time, a little fox' --top 8 -t 1";
  const auto a = test::run_hearth("logits -m " + q(out) + args);
  const auto b = test::run_hearth("logits -m " + q(golden_model("llama-dev.f16.gguf")) + args);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(ConvertCli, Qwen2FolderWithByteLevelBpeRoundTrips) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir tmp;
  auto golden = load_gguf(golden_model("qwen2-dev.f32.gguf"));
  const fs::path dir = export_hf_folder(*golden, tmp.path());
  const std::string out = (fs::path(tmp.path()) / "qwen2.gguf").string();
  const auto r = test::run_hearth("convert " + q(dir.string()) + " --type f32 -o " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  auto ours = load_gguf(out);
  expect_same_metadata(*ours, *golden);
  // golden keeps token_embd in Q8_0 and output in F16 (made that way for size); an F32 conversion holds exactly
  // their values.
  expect_same_tensors(*ours, *golden);
  EXPECT_EQ(ours->get("token_embd.weight").type, DType::F32);
  const std::string text = " 'Hello world, the quick brown fox.'";
  EXPECT_EQ(test::run_hearth("tokenize -m " + q(out) + text).out,
            test::run_hearth("tokenize -m " + q(golden_model("qwen2-dev.f32.gguf")) + text).out);
}

TEST(ConvertCli, BertFolderRoundTripsAndEmbedsTheSame) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir tmp;
  auto golden = load_gguf(golden_model("bert-dev.f16.gguf"));
  const fs::path dir = export_hf_folder(*golden, tmp.path());
  const std::string out = (fs::path(tmp.path()) / "bert.gguf").string();
  const auto r = test::run_hearth("convert " + q(dir.string()) + " -o " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  auto ours = load_gguf(out);
  // tokenizer.ggml.pre: llama.cpp's converter names BERT pre-tokenizers by hashing a tokenization ("bert-bge");
  // hearth writes "default". llama.cpp reads no pre-tokenizer for WordPiece vocabularies, so both load alike.
  expect_same_metadata(*ours, *golden, {"tokenizer.ggml.pre"});
  EXPECT_EQ(ours->metadata().get_string("tokenizer.ggml.pre"), "default");
  expect_same_tensors(*ours, *golden);
  const std::string text = " 'The cat sat on the mat.' 'Quantization keeps the meaning.'";
  const auto a = test::run_hearth("embed -m " + q(out) + text);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, test::run_hearth("embed -m " + q(golden_model("bert-dev.f16.gguf")) + text).out);
}

TEST(ConvertCli, CrossEncoderFolderKeepsItsHead) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir tmp;
  // bert-dev plus a classification head (pooler + one-logit classifier), as BertForSequenceClassification.
  auto base = load_gguf(golden_model("bert-dev.f16.gguf"));
  GgufWriter w;
  w.metadata() = base->metadata();
  w.metadata().set_string("general.name", "bert-rerank");
  for (const auto& t : base->tensors()) w.add_tensor(t.name, t.type, t.ne, t.data, t.nbytes);
  std::vector<float> cls(128 * 128), cls_b(128), out_w(128), out_b(1, 0.25f);
  for (size_t i = 0; i < cls.size(); ++i) cls[i] = float(int(i * 7919 % 201) - 100) / 1000.0f;
  for (size_t i = 0; i < 128; ++i) cls_b[i] = out_w[i] = float(int(i * 31 % 17) - 8) / 50.0f;
  w.add_tensor("cls.weight", DType::F32, {128, 128}, cls.data(), cls.size() * 4);
  w.add_tensor("cls.bias", DType::F32, {128}, cls_b.data(), 128 * 4);
  w.add_tensor("cls.output.weight", DType::F32, {128, 1}, out_w.data(), 128 * 4);
  w.add_tensor("cls.output.bias", DType::F32, {1}, out_b.data(), 4);
  const std::string src = (fs::path(tmp.path()) / "src.gguf").string();
  w.write(src);
  auto g = load_gguf(src);
  const fs::path dir = export_hf_folder(*g, tmp.path(), /*cross_encoder=*/true);
  const std::string out = (fs::path(tmp.path()) / "rerank.gguf").string();
  const auto r = test::run_hearth("convert " + q(dir.string()) + " --type q8_0 -o " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  auto ours = load_gguf(out);
  EXPECT_EQ(ours->metadata().get_int("bert.pooling_type"), 4);  // rank
  EXPECT_EQ(*ours->metadata().find_strings("bert.classifier.output_labels"), std::vector<std::string>{"LABEL_0"});
  EXPECT_EQ(ours->get("cls.weight", {128, 128}).type, DType::Q8_0);
  // One row: a 1-D tensor to ggml (ggml_n_dims), which llama-quantize never quantizes.
  EXPECT_EQ(ours->get("cls.output.weight", {128, 1}).type, DType::F32);
  EXPECT_EQ(ours->get("cls.output.bias", {1}).type, DType::F32);
  EXPECT_EQ(ours->get("position_embd.weight").type, DType::F32);  // never quantized, as llama-quantize leaves it
}

// XLM-RoBERTa: sentencepiece.bpe.model holds <unk>, <s>, </s> then the pieces; Hugging Face (and llama.cpp's
// "t5" vocabulary) shift them behind <s>, <pad>, </s>, <unk> (fairseq's order). Written here from that rule.
TEST(ConvertCli, XlmRobertaCrossEncoderGetsTheFairseqAlignedT5Vocabulary) {
  test::TempDir tmp;
  const fs::path dir = fs::path(tmp.path()) / "xlmr-rerank";
  const std::vector<std::string> words = {"\u2581", "\u2581hello", "\u2581world", "\u2581he", "llo", "h", "e", "l", "o", "."};
  std::vector<SentencePiece> pieces = {{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}};
  for (size_t i = 0; i < words.size(); ++i) pieces.push_back({words[i], -2.0f - float(i), 1});
  std::string normalizer;
  put_varint(normalizer, (4 << 3) | 0);  // remove_extra_whitespaces = false; add_dummy_prefix keeps its default
  put_varint(normalizer, 0);
  // precompiled_charsmap (nmt_nfkc's kind of entry): the ligature "ﬁ" spelled "fi".
  const std::string charsmap = test::CharsmapBuilder().build({{"\uFB01", "fi"}});
  put_varint(normalizer, (2 << 3) | 2);
  put_varint(normalizer, charsmap.size());
  normalizer += charsmap;
  write_text(dir / "sentencepiece.bpe.model", sentencepiece_model(pieces, normalizer));
  const int64_t n_vocab = int64_t(pieces.size()) + 2;  // + <pad> and the <mask> Hugging Face appends
  write_text(dir / "tokenizer_config.json",
             json({{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"pad_token", "<pad>"},
                   {"sep_token", "</s>"}, {"cls_token", "<s>"}, {"mask_token", "<mask>"}})
                 .dump());
  const int64_t h = 8;
  write_text(dir / "config.json", json({{"architectures", {"XLMRobertaForSequenceClassification"}},
                                        {"model_type", "xlm-roberta"},
                                        {"hidden_size", h},
                                        {"num_hidden_layers", 1},
                                        {"num_attention_heads", 2},
                                        {"intermediate_size", 16},
                                        {"max_position_embeddings", 20},
                                        {"type_vocab_size", 1},
                                        {"pad_token_id", 1},
                                        {"vocab_size", n_vocab}})
                                      .dump());
  std::vector<SafetensorsWriterTensor> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(int(i * 37 % 23) - 11) / 40.0f;
    tensors.push_back({name, "F32", shape, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4)});
  };
  add("roberta.embeddings.word_embeddings.weight", {n_vocab, h});
  add("roberta.embeddings.position_embeddings.weight", {20, h});
  add("roberta.embeddings.token_type_embeddings.weight", {1, h});
  add("roberta.embeddings.LayerNorm.weight", {h});
  add("roberta.embeddings.LayerNorm.bias", {h});
  for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
    add(std::string("roberta.encoder.layer.0.") + m + ".weight", {h, h});
    add(std::string("roberta.encoder.layer.0.") + m + ".bias", {h});
  }
  for (const char* m : {"attention.output.LayerNorm", "output.LayerNorm"}) {
    add(std::string("roberta.encoder.layer.0.") + m + ".weight", {h});
    add(std::string("roberta.encoder.layer.0.") + m + ".bias", {h});
  }
  add("roberta.encoder.layer.0.intermediate.dense.weight", {16, h});
  add("roberta.encoder.layer.0.intermediate.dense.bias", {16});
  add("roberta.encoder.layer.0.output.dense.weight", {h, 16});
  add("roberta.encoder.layer.0.output.dense.bias", {h});
  add("classifier.dense.weight", {h, h});
  add("classifier.dense.bias", {h});
  add("classifier.out_proj.weight", {1, h});
  add("classifier.out_proj.bias", {1});
  write_text(dir / "model.safetensors", write_safetensors(tensors));

  const std::string out = (fs::path(tmp.path()) / "xlmr.gguf").string();
  const auto r = test::run_hearth("convert " + q(dir.string()) + " -o " + q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  auto w = load_gguf(out);
  const Metadata& md = w->metadata();
  EXPECT_EQ(md.get_string("tokenizer.ggml.model"), "t5");
  std::vector<std::string> expected = {"<s>", "<pad>", "</s>", "<unk>"};
  expected.insert(expected.end(), words.begin(), words.end());
  expected.push_back("[PAD" + std::to_string(n_vocab - 2) + "]");  // the table's own filler, as llama.cpp's
  EXPECT_EQ(*md.find_strings("tokenizer.ggml.tokens"), expected);
  const auto types = *md.find_ints("tokenizer.ggml.token_type");
  EXPECT_EQ(types, (std::vector<int64_t>{3, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5}));
  EXPECT_EQ((*md.find_floats("tokenizer.ggml.scores"))[5], -3.0);  // "▁hello", piece 4 -> id 5
  EXPECT_EQ(md.get_bool("tokenizer.ggml.add_space_prefix"), true);
  EXPECT_EQ(md.get_bool("tokenizer.ggml.remove_extra_whitespaces"), false);
  std::vector<int64_t> charsmap_bytes;
  for (unsigned char c : charsmap) charsmap_bytes.push_back(c);
  EXPECT_EQ(*md.find_ints("tokenizer.ggml.precompiled_charsmap"), charsmap_bytes);
  EXPECT_EQ(md.get_int("tokenizer.ggml.bos_token_id"), 0);
  EXPECT_EQ(md.get_int("tokenizer.ggml.padding_token_id"), 1);
  EXPECT_EQ(md.get_int("tokenizer.ggml.unknown_token_id"), 3);
  EXPECT_FALSE(md.has("tokenizer.ggml.mask_token_id"));  // "<mask>" is in no table the converter reads
  EXPECT_EQ(md.get_int("tokenizer.ggml.token_type_count"), 1);
  EXPECT_EQ(md.get_int("bert.context_length"), 18);  // 20 positions less padding_idx + 1
  EXPECT_EQ(w->get("position_embd.weight").ne, (std::vector<int64_t>{h, 18}));
  EXPECT_EQ(md.get_int("bert.pooling_type"), 4);
  // hearth's "t5" tokenizer reads it: the unigram segmentation of the two words is their whole pieces.
  const auto t = test::run_hearth("tokenize -m " + q(out) + " 'hello world.'");
  EXPECT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(t.out, "[5,6,13]\n");
}

TEST(QuantizeCli, Q8_0AndQ4_0MatchLlamaQuantizeByteForByte) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir tmp;
  for (const char* type : {"q8_0", "q4_0"}) {
    SCOPED_TRACE(type);
    const std::string out = (fs::path(tmp.path()) / (std::string(type) + ".gguf")).string();
    const auto r = test::run_hearth("quantize " + q(golden_model("llama-dev.f16.gguf")) + " " + q(out) + " " + type);
    ASSERT_EQ(r.code, 0) << r.err;
    auto ours = load_gguf(out);
    auto theirs = load_gguf(golden_model(std::string("llama-dev.") + type + ".gguf"));
    expect_same_metadata(*ours, *theirs);
    expect_same_tensors(*ours, *theirs);
    for (const auto& t : theirs->tensors()) EXPECT_EQ(ours->get(t.name).type, t.type) << t.name;
  }
}

TEST(QuantizeCli, StatsReportEveryTensorsErrorAsTableAndJson) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir tmp;
  const std::string out = (fs::path(tmp.path()) / "mixed.gguf").string();
  const auto r = test::run_hearth("quantize " + q(golden_model("llama-dev.f16.gguf")) + " " + q(out) +
                                  " q8_0 --recipe attn=Q6_K,ffn=Q4_0,embd=Q8_0 --stats --stats-json -");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.0.attn_q.weight"), std::string::npos);
  EXPECT_NE(r.out.find("q8_0 instead of q6_K"), std::string::npos) << r.out;  // rows of 128: llama's fallback
  const json j = json::parse(r.out.substr(r.out.find("\n{") + 1));
  ASSERT_EQ(j["tensors"].size(), 20u);
  auto ours = load_gguf(out);
  auto source = load_gguf(golden_model("llama-dev.f16.gguf"));
  for (const auto& t : j["tensors"]) {
    const std::string name = t["name"];
    EXPECT_EQ(t["type"], std::string(dtype_name(ours->get(name).type))) << name;
    if (name.find("ffn_up") != std::string::npos) {
      EXPECT_EQ(t["type"], "q4_0");
    }
    if (t["copied"].get<bool>()) {
      EXPECT_EQ(t["rmse"], 0.0);
    } else {
      // The error reported is the error of the file: recompute it from the written and the source values.
      const WeightTensor& w = ours->get(name);
      const WeightTensor& s = source->get(name);
      std::vector<float> a(size_t(w.n_elements())), b(a.size());
      dequantize_row(w.type, w.data, a.data(), w.n_elements());
      dequantize_row(s.type, s.data, b.data(), s.n_elements());
      double se = 0, mx = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        mx = std::max(mx, std::fabs(double(a[i]) - b[i]));
      }
      EXPECT_NEAR(t["rmse"].get<double>(), std::sqrt(se / double(a.size())), 1e-9) << name;
      EXPECT_DOUBLE_EQ(t["max_abs_error"].get<double>(), mx) << name;
      EXPECT_GT(t["rmse"].get<double>(), 0.0) << name;
    }
  }
  EXPECT_GT(j["total"]["rmse"].get<double>(), 0.0);
}

TEST(QuantizeCli, BadInputGivesOneLineAndNoOutputFile) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir tmp, inputs;
  const std::string out = (fs::path(tmp.path()) / "bad.gguf").string();
  const std::string in = q(golden_model("llama-dev.f16.gguf"));
  // A matrix holding a NaN: the quantizers assume finite values.
  const std::string nan_model = (fs::path(inputs.path()) / "nan.gguf").string();
  {
    std::vector<float> m(64 * 4, 0.5f);
    m[77] = std::nanf("");
    GgufWriter w;
    w.metadata().set_string("general.architecture", "llama");
    w.add_tensor("blk.0.ffn_up.weight", DType::F32, {64, 4}, m.data(), m.size() * 4);
    w.write(nan_model);
  }
  for (const auto& [args, expected] : std::vector<std::pair<std::string, std::string>>{
           {in + " " + q(out) + " q4_k_m --recipe attn=Q6_K,mlp=Q4_K", "unknown class 'mlp'"},
           {in + " " + q(out) + " q3_k", "unknown type 'q3_k'"},
           // Already quantized: Q8_0 -> Q4_0 would quantize twice.
           {q(golden_model("llama-dev.q8_0.gguf")) + " " + q(out) + " q4_0", "already q8_0"},
           {q(fs::path(tmp.path()) / "missing.gguf") + " " + q(out) + " q8_0", "missing.gguf"},
           {q(nan_model) + " " + q(out) + " q8_0", "tensor 'blk.0.ffn_up.weight' holds 1 NaN or infinite values"},
       }) {
    const auto r = test::run_hearth("quantize " + args);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
  // Nothing is left beside the output either (no temporary file).
  for (const auto& e : fs::directory_iterator(tmp.path())) ADD_FAILURE() << "left behind: " << e.path();
}

TEST(ConvertCli, CorruptTokenizerFilesAreOneLineErrors) {
  HEARTH_REQUIRE_SHARED();
  test::TempDir tmp;
  auto golden = load_gguf(golden_model("llama-dev.f16.gguf"));
  const fs::path dir = export_hf_folder(*golden, tmp.path());
  const std::string model = read_file((dir / "tokenizer.model").string());
  const std::string out = (fs::path(tmp.path()) / "o.gguf").string();
  // Cut inside a piece, and a length prefix claiming more bytes than the file has.
  for (const std::string& bad : {model.substr(0, model.size() / 2 + 3), std::string("\x0a\xff\x7f", 3)}) {
    write_text(dir / "tokenizer.model", bad);
    const auto r = test::run_hearth("convert " + q(dir.string()) + " -o " + q(out));
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("tokenizer.model: "), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
  // A byte-level BPE with a pre-tokenizer name llama.cpp does not know.
  fs::remove(dir / "tokenizer.model");
  write_text(dir / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})");
  const auto r = test::run_hearth("convert " + q(dir.string()) + " --tokenizer-pre no-such-pre -o " + q(out));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unknown pre-tokenizer type tokenizer.ggml.pre = 'no-such-pre'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(ConvertCli, UnknownFoldersAndTokenizersAreClearErrors) {
  test::TempDir tmp;
  const fs::path dir = fs::path(tmp.path()) / "m";
  write_text(dir / "readme.txt", "x");
  auto r = test::run_hearth("convert " + q(dir.string()) + " -o " + q((dir / "o.gguf").string()));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("neither a Hugging Face model folder"), std::string::npos) << r.err;
  r = test::run_hearth("convert " + q(dir.string()) + " -o x.gguf --type q2_k");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unknown type"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hearth
