// GGUF reader/writer: round trips, the golden files written by llama.cpp / gguf-py, and hostile files.
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"
#include "error_kind_util.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("hearth_gguf_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

// Parses an in-memory image; returns the error message, or "" when it parsed.
std::string parse_error(const std::string& bytes) {
  Weights w;
  try {
    read_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem.gguf", w);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

template <typename T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_str(std::string& s, const std::string& v) {
  put<uint64_t>(s, v.size());
  s += v;
}

struct SmallModel {
  std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -8.5f};  // 3 x 2
  std::vector<uint16_t> b{0x3c00, 0xc000, 0x7bff, 0x0001};         // f16: 1, -2, 65504, tiny
  std::vector<uint8_t> q;                                          // one Q8_0 block

  SmallModel() {
    BlockQ8_0 blk{};
    blk.d = 0x3800;  // 0.5
    for (int i = 0; i < 32; ++i) blk.qs[i] = int8_t(i - 16);
    q.resize(sizeof blk);
    std::memcpy(q.data(), &blk, sizeof blk);
  }

  GgufWriter writer() const {
    GgufWriter w;
    Metadata& m = w.metadata();
    m.set_string("general.architecture", "llama");
    m.set_u32("llama.block_count", 2);
    m.set_i32("test.i32", -7);
    m.set_u64("test.u64", 0xfedcba9876543210ull);
    m.set_f32("test.f32", 0.1f);
    m.set_bool("test.bool", true);
    m.set("test.u8", {MetaType::U8, uint64_t(200)});
    m.set("test.i8", {MetaType::I8, int64_t(-100)});
    m.set("test.u16", {MetaType::U16, uint64_t(60000)});
    m.set("test.i16", {MetaType::I16, int64_t(-30000)});
    m.set("test.i64", {MetaType::I64, int64_t(-1) << 40});
    m.set("test.f64", {MetaType::F64, 1.0 / 3.0});
    m.set_strings("test.strings", {"a", "", "ünïcødé"});
    m.set_f32s("test.f32s", {1.0f, -0.5f});
    m.set_i32s("test.i32s", {-1, 2, 3});
    MetaArray inner1, inner2, outer;
    inner1.elem = MetaType::U8;
    inner1.ints = {1, 2};
    inner2.elem = MetaType::String;
    inner2.strings = {"x"};
    outer.elem = MetaType::Array;
    outer.arrays = {{MetaType::Array, inner1}, {MetaType::Array, inner2}};
    m.set("test.nested", {MetaType::Array, outer});
    w.add_tensor("a", DType::F32, {3, 2}, a.data(), a.size() * 4);
    w.add_tensor("b", DType::F16, {4}, b.data(), b.size() * 2);
    w.add_tensor("blk.0.q", DType::Q8_0, {32, 1}, q.data(), q.size());
    return w;
  }
};

TEST(GgufTest, RoundTripAllValueTypesAndTensors) {
  SmallModel model;
  const std::string path = temp_path("roundtrip.gguf");
  model.writer().write(path);
  GgufInfo info;
  auto w = load_gguf(path, &info);
  fs::remove(path);

  EXPECT_EQ(info.version, 3u);
  EXPECT_EQ(info.alignment, 32u);
  EXPECT_EQ(info.data_offset % 32, 0u);
  EXPECT_EQ(info.n_tensors, 3u);
  const Metadata& m = w->metadata();
  EXPECT_EQ(w->architecture(), "llama");
  EXPECT_EQ(m.get_int("llama.block_count"), 2);
  EXPECT_EQ(m.find("llama.block_count")->type, MetaType::U32);
  EXPECT_EQ(m.get_int("test.i32"), -7);
  EXPECT_EQ(std::get<uint64_t>(m.find("test.u64")->value), 0xfedcba9876543210ull);
  EXPECT_EQ(m.get_float("test.f32"), double(0.1f));
  EXPECT_TRUE(m.get_bool("test.bool"));
  EXPECT_EQ(m.get_int("test.u8"), 200);
  EXPECT_EQ(m.get_int("test.i8"), -100);
  EXPECT_EQ(m.get_int("test.u16"), 60000);
  EXPECT_EQ(m.get_int("test.i16"), -30000);
  EXPECT_EQ(m.get_int("test.i64"), int64_t(-1) << 40);
  EXPECT_EQ(m.find("test.i64")->type, MetaType::I64);
  EXPECT_EQ(m.get_float("test.f64"), 1.0 / 3.0);
  EXPECT_EQ(*m.find_strings("test.strings"), (std::vector<std::string>{"a", "", "ünïcødé"}));
  EXPECT_EQ(*m.find_floats("test.f32s"), (std::vector<double>{1.0, -0.5}));
  EXPECT_EQ(*m.find_ints("test.i32s"), (std::vector<int64_t>{-1, 2, 3}));
  const auto& outer = std::get<MetaArray>(m.find("test.nested")->value);
  ASSERT_EQ(outer.elem, MetaType::Array);
  ASSERT_EQ(outer.arrays.size(), 2u);
  EXPECT_EQ(std::get<MetaArray>(outer.arrays[0].value).ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(std::get<MetaArray>(outer.arrays[1].value).strings, (std::vector<std::string>{"x"}));

  const WeightTensor& a = w->get("a", {3, 2});
  EXPECT_EQ(a.type, DType::F32);
  EXPECT_EQ(a.nbytes, 24u);
  EXPECT_EQ(std::memcmp(a.data, model.a.data(), 24), 0);
  const WeightTensor& b = w->get("b", {4});
  EXPECT_EQ(b.type, DType::F16);
  EXPECT_EQ(std::memcmp(b.data, model.b.data(), 8), 0);
  const WeightTensor& q = w->get("blk.0.q", {32});
  EXPECT_EQ(q.type, DType::Q8_0);
  EXPECT_EQ(q.nbytes, 34u);
  EXPECT_EQ(std::memcmp(q.data, model.q.data(), 34), 0);
  for (const auto& t : w->tensors()) EXPECT_EQ((t.data - w->tensors()[0].data) % 32, 0) << t.name;
}

TEST(GgufTest, ReadWriteReadIsByteIdentical) {
  SmallModel model;
  const std::string bytes = model.writer().serialize();
  Weights w;
  read_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem", w);
  GgufWriter again;
  for (const auto& [k, v] : w.metadata().entries()) again.metadata().set(k, v);
  for (const auto& t : w.tensors()) again.add_tensor(t.name, t.type, t.ne, t.data, t.nbytes);
  EXPECT_EQ(again.serialize(), bytes);
}

TEST(GgufTest, CustomAlignmentIsHonoured) {
  SmallModel model;
  GgufWriter w = model.writer();
  w.metadata().set_u32("general.alignment", 64);
  const std::string bytes = w.serialize();
  Weights out;
  GgufInfo info = read_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem", out);
  EXPECT_EQ(info.alignment, 64u);
  EXPECT_EQ(info.data_offset % 64, 0u);
  for (const auto& t : out.tensors())
    EXPECT_EQ(size_t(t.data - reinterpret_cast<const uint8_t*>(bytes.data())) % 64, 0u);
}

TEST(GgufTest, TensorsAtOddAddressesAreCopiedToAlignedMemory) {
  // general.alignment 1 is a valid power of two: an F16 tensor after a 3-byte one starts at an odd offset.
  const uint8_t odd[3] = {1, 2, 3};
  const uint16_t halves[4] = {0x3c00, 0x4000, 0xc000, 0x3800};  // 1, 2, -2, 0.5
  GgufWriter w;
  w.metadata().set_string("general.architecture", "test");
  w.metadata().set_u32("general.alignment", 1);
  w.add_tensor("odd", DType::I8, {3}, odd, sizeof odd);
  w.add_tensor("halves", DType::F16, {4}, halves, sizeof halves);
  const std::string bytes = w.serialize();
  // In a buffer aligned to 8, as a memory map is, "halves" sits at an odd address.
  std::vector<uint64_t> buffer((bytes.size() + 7) / 8);
  std::memcpy(buffer.data(), bytes.data(), bytes.size());
  const auto* data = reinterpret_cast<const uint8_t*>(buffer.data());
  Weights out;
  read_gguf(data, bytes.size(), "mem", out);
  const WeightTensor& t = out.get("halves");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 8, 0u);
  float values[4];
  dequantize_row(DType::F16, t.data, values, 4);
  EXPECT_EQ(std::vector<float>(values, values + 4), (std::vector<float>{1, 2, -2, 0.5f}));
  // Aligned tensors stay in place (mapped, never copied).
  EXPECT_GE(out.get("odd").data, data);
  EXPECT_LT(out.get("odd").data, data + bytes.size());
}

TEST(GgufTest, WriterRejectsBadTensors) {
  GgufWriter w;
  float x[4] = {};
  EXPECT_THROW(w.add_tensor("t", DType::F32, {4}, x, 12), Error);          // wrong size
  EXPECT_THROW(w.add_tensor("t", DType::Q8_0, {4}, x, 16), Error);         // row not a block multiple
  EXPECT_THROW(w.add_tensor("t", DType::F32, {1, 1, 1, 1, 4}, x, 16), Error);
  EXPECT_THROW(w.add_tensor("t", DType::F32, {-4}, x, 16), Error);
  w.add_tensor("t", DType::F32, {4}, x, 16);
  EXPECT_THROW(w.add_tensor("t", DType::F32, {4}, x, 16), Error);          // duplicate
  w.metadata().set_u32("general.alignment", 3);
  EXPECT_THROW(w.serialize(), Error);
}

TEST(GgufTest, WriteIsAtomicAndLeavesNoTemporary) {
  SmallModel model;
  const fs::path dir = temp_path("dir");
  fs::create_directories(dir);
  model.writer().write((dir / "m.gguf").string());
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  EXPECT_EQ(n, 1u);
  EXPECT_THROW(model.writer().write((dir / "missing" / "m.gguf").string()), Error);
  fs::remove_all(dir);
}

// ---- hostile files ----

std::string header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
  std::string s;
  put<uint32_t>(s, kGgufMagic);
  put<uint32_t>(s, version);
  put<uint64_t>(s, n_tensors);
  put<uint64_t>(s, n_kv);
  return s;
}

TEST(GgufTest, RejectsBadMagicAndVersions) {
  EXPECT_NE(parse_error("").find("too short"), std::string::npos);
  EXPECT_NE(parse_error("GGML\3\0\0\0").find("bad magic"), std::string::npos);
  EXPECT_NE(parse_error(header(1, 0, 0)).find("version 1 is not supported"), std::string::npos);
  EXPECT_NE(parse_error(header(0x03000000, 0, 0)).find("big-endian"), std::string::npos);
  EXPECT_NE(parse_error(header(7, 0, 0)).find("unsupported GGUF version 7"), std::string::npos);
  EXPECT_EQ(parse_error(header(2, 0, 0)), "");
  EXPECT_EQ(parse_error(header(3, 0, 0)), "");
}

TEST(GgufTest, RejectsAbsurdCountsBeforeAllocating) {
  EXPECT_NE(parse_error(header(3, uint64_t(1) << 60, 0)).find("tensor count"), std::string::npos);
  EXPECT_NE(parse_error(header(3, 0, ~uint64_t(0))).find("key/value count"), std::string::npos);
  std::string s = header(3, 0, 1);
  put_str(s, "k");
  put<uint32_t>(s, uint32_t(MetaType::Array));
  put<uint32_t>(s, uint32_t(MetaType::String));
  put<uint64_t>(s, uint64_t(1) << 40);
  EXPECT_NE(parse_error(s).find("array length"), std::string::npos);
  EXPECT_NE(parse_error(s).find("key 'k'"), std::string::npos);
}

TEST(GgufTest, RejectsBadStringsTypesAndDuplicateKeys) {
  std::string s = header(3, 0, 1);
  put<uint64_t>(s, 1000);  // key length beyond the file
  s += "abcdefghijklmnop";
  EXPECT_NE(parse_error(s).find("key length 1000 exceeds"), std::string::npos);

  s = header(3, 0, 1);
  put_str(s, "k");
  put<uint32_t>(s, 13);
  EXPECT_NE(parse_error(s).find("unknown value type 13"), std::string::npos);

  s = header(3, 0, 2);
  for (int i = 0; i < 2; ++i) {
    put_str(s, "dup");
    put<uint32_t>(s, uint32_t(MetaType::U8));
    put<uint8_t>(s, 1);
  }
  const std::string e = parse_error(s);
  EXPECT_NE(e.find("duplicate key"), std::string::npos) << e;
  EXPECT_NE(e.find("key 'dup'"), std::string::npos) << e;
  EXPECT_NE(e.find("offset 40"), std::string::npos) << e;

  // Arrays nested without end would recurse without bound.
  s = header(3, 0, 1);
  put_str(s, "deep");
  put<uint32_t>(s, uint32_t(MetaType::Array));
  for (int i = 0; i < 100; ++i) {
    put<uint32_t>(s, uint32_t(MetaType::Array));
    put<uint64_t>(s, 1);
  }
  EXPECT_NE(parse_error(s).find("nested deeper"), std::string::npos);

  s = header(3, 0, 1);
  put_str(s, "general.alignment");
  put<uint32_t>(s, uint32_t(MetaType::U32));
  put<uint32_t>(s, 48);
  EXPECT_NE(parse_error(s).find("not a power of two"), std::string::npos);
}

// A file with one tensor info, for corrupting its fields.
std::string one_tensor(uint32_t n_dims, std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                       size_t data_bytes, const std::string& name = "t") {
  std::string s = header(3, 1, 0);
  put_str(s, name);
  put<uint32_t>(s, n_dims);
  for (uint64_t d : ne) put<uint64_t>(s, d);
  put<uint32_t>(s, type);
  put<uint64_t>(s, offset);
  s.resize((s.size() + 31) / 32 * 32, '\0');
  s.append(data_bytes, '\x01');
  return s;
}

TEST(GgufTest, RejectsBadTensorInfos) {
  EXPECT_EQ(parse_error(one_tensor(2, {4, 2}, 0, 0, 32)), "");
  EXPECT_NE(parse_error(one_tensor(5, {1, 1, 1, 1, 1}, 0, 0, 4)).find("5 dimensions"), std::string::npos);
  EXPECT_NE(parse_error(one_tensor(1, {~uint64_t(0)}, 0, 0, 4)).find("negative"), std::string::npos);
  EXPECT_NE(parse_error(one_tensor(2, {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0, 4)).find("overflows"),
            std::string::npos);
  EXPECT_NE(parse_error(one_tensor(1, {uint64_t(1) << 40}, 0, 0, 4)).find("exceeds the file"), std::string::npos);
  EXPECT_NE(parse_error(one_tensor(1, {4}, 99, 0, 16)).find("unknown tensor type id 99"), std::string::npos);
  EXPECT_NE(parse_error(one_tensor(1, {16}, 8, 0, 34)).find("not a multiple of the q8_0 block size"),
            std::string::npos);
  EXPECT_NE(parse_error(one_tensor(1, {4}, 0, 8, 64)).find("not a multiple of the alignment"), std::string::npos);
  const std::string e = parse_error(one_tensor(1, {4}, 0, 32, 40, "weights"));
  EXPECT_NE(e.find("beyond the end of the file"), std::string::npos) << e;
  EXPECT_NE(e.find("tensor 'weights'"), std::string::npos) << e;
  EXPECT_NE(parse_error(one_tensor(1, {4}, 0, ~uint64_t(0) - 31, 40)).find("beyond the end"), std::string::npos);
}

TEST(GgufTest, RejectsOverlappingAndDuplicateTensors) {
  auto two = [](const std::string& n1, uint64_t off1, const std::string& n2, uint64_t off2) {
    std::string s = header(3, 2, 0);
    for (auto [n, off] : {std::pair{n1, off1}, std::pair{n2, off2}}) {
      put_str(s, n);
      put<uint32_t>(s, 1);
      put<uint64_t>(s, 16);  // 64 bytes of f32
      put<uint32_t>(s, 0);
      put<uint64_t>(s, off);
    }
    s.resize((s.size() + 31) / 32 * 32, '\0');
    s.append(256, '\0');
    return s;
  };
  EXPECT_EQ(parse_error(two("a", 0, "b", 64)), "");
  EXPECT_NE(parse_error(two("a", 0, "b", 32)).find("overlaps tensor 'a'"), std::string::npos);
  EXPECT_NE(parse_error(two("a", 64, "b", 32)).find("overlaps"), std::string::npos);
  EXPECT_NE(parse_error(two("a", 0, "a", 64)).find("duplicate tensor name"), std::string::npos);
}

TEST(GgufTest, EveryTruncationOfAValidFileFailsCleanly) {
  SmallModel model;
  const std::string bytes = model.writer().serialize();
  ASSERT_EQ(parse_error(bytes), "");
  for (size_t n = 0; n < bytes.size(); ++n) {
    // Trailing padding after the last tensor is optional; everything before it is not.
    if (n >= bytes.size() - 31) break;
    const std::string e = parse_error(bytes.substr(0, n));
    EXPECT_NE(e, "") << "truncated at " << n;
    EXPECT_EQ(e.rfind("mem.gguf: ", 0), 0u) << e;
  }
}

TEST(GgufTest, RandomByteCorruptionNeverCrashes) {
  SmallModel model;
  const std::string bytes = model.writer().serialize();
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = bytes;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) s[rng() % s.size()] = char(rng());
    (void)parse_error(s);  // must either parse or throw Error; ASan checks the reads
  }
}

// ---- files written by llama.cpp / gguf-py ----

std::vector<std::string> golden_ggufs() {
  std::vector<std::string> out;
  for (const char* sub : {"golden/models", "golden/kquant", "golden/tokenizer", "models"}) {
    const fs::path dir = fs::path(test::shared_dir()) / sub;
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".gguf") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(GgufGoldenTest, LoadsEveryGoldenFile) {
  HEARTH_REQUIRE_SHARED();
  const auto files = golden_ggufs();
  ASSERT_GE(files.size(), 25u);
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    std::unique_ptr<Weights> w;
    ASSERT_NO_THROW(w = Weights::open(path));
    EXPECT_FALSE(w->architecture().empty());
    EXPECT_TRUE(w->metadata().find_strings("tokenizer.ggml.tokens") != nullptr);
    for (const auto& t : w->tensors()) EXPECT_EQ(t.nbytes, row_bytes(t.type, t.n_elements())) << t.name;
  }
}

TEST(GgufGoldenTest, KnownMetadataAndShapes) {
  HEARTH_REQUIRE_SHARED();
  const std::string g = test::shared_dir() + "/golden/";
  {
    auto w = Weights::open(g + "kquant/kq-dev.q4_k_m.gguf");
    const Metadata& m = w->metadata();
    EXPECT_EQ(w->architecture(), "llama");
    EXPECT_EQ(m.get_string("general.name"), "golden-kq-dev");
    EXPECT_EQ(m.get_int("llama.embedding_length"), 256);
    EXPECT_EQ(m.get_int("llama.block_count"), 2);
    EXPECT_EQ(m.get_int("llama.feed_forward_length"), 512);
    EXPECT_EQ(m.get_int("llama.attention.head_count"), 4);
    EXPECT_EQ(m.get_int("llama.attention.head_count_kv"), 2);
    EXPECT_EQ(m.get_int("llama.context_length"), 2048);
    EXPECT_FLOAT_EQ(float(m.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
    EXPECT_EQ(m.find_strings("tokenizer.ggml.tokens")->size(), 32000u);
    EXPECT_EQ(w->get("token_embd.weight", {256, 32000}).type, DType::Q4_K);
    EXPECT_EQ(w->get("output.weight", {256, 32000}).type, DType::Q5_K);
    EXPECT_EQ(w->get("blk.1.attn_v.weight", {256, 128}).type, DType::Q6_K);
    EXPECT_EQ(w->get("blk.0.ffn_down.weight", {512, 256}).type, DType::Q4_K);
    EXPECT_EQ(w->get("blk.0.attn_norm.weight", {256}).type, DType::F32);
    EXPECT_EQ(w->tensors().size(), 21u);
  }
  {
    auto w = Weights::open(g + "models/bert-dev.f16.gguf");
    EXPECT_EQ(w->architecture(), "bert");
    EXPECT_EQ(w->metadata().get_int("bert.embedding_length"), 128);
    EXPECT_EQ(w->metadata().get_int("bert.block_count"), 2);
    EXPECT_EQ(w->metadata().get_int("bert.context_length"), 1024);
    EXPECT_EQ(w->metadata().get_int("bert.pooling_type"), 1);
    EXPECT_EQ(w->get("token_types.weight").type, DType::F32);
    EXPECT_EQ(w->get("token_embd.weight", {128, 30522}).type, DType::F16);
  }
  {
    auto w = Weights::open(g + "models/llama-dev.q4_0.gguf");
    EXPECT_EQ(w->get("token_embd.weight", {128, 32000}).type, DType::Q8_0);
    EXPECT_EQ(w->get("blk.0.attn_q.weight", {128, 128}).type, DType::Q4_0);
    EXPECT_EQ(w->get("blk.0.attn_k.weight", {128, 64}).type, DType::Q4_0);
    EXPECT_EQ(w->find("output.weight"), nullptr);  // tied
  }
  {
    auto w = Weights::open(g + "models/qwen2-dev.f32.gguf");
    EXPECT_EQ(w->architecture(), "qwen2");
    EXPECT_EQ(w->get("token_embd.weight", {64, 50257}).type, DType::Q8_0);
    EXPECT_EQ(w->get("output.weight", {64, 50257}).type, DType::F16);
    EXPECT_EQ(w->get("blk.0.attn_q.bias", {64}).type, DType::F32);
  }
  {
    auto w = Weights::open(g + "tokenizer/ggml-vocab-bert-bge.gguf");
    EXPECT_TRUE(w->tensors().empty());
    EXPECT_EQ(w->metadata().find_strings("tokenizer.ggml.tokens")->size(), 30522u);
    EXPECT_EQ(w->metadata().get_string("tokenizer.ggml.model"), "bert");
  }
}

TEST(GgufGoldenTest, RewrittenGoldenFileIsIdentical) {
  HEARTH_REQUIRE_SHARED();
  // llama-quantize writes the same layout as GgufWriter (sorted keys aside), so compare the parsed content.
  const std::string src = test::shared_dir() + "/golden/models/llama-dev.q4_0.gguf";
  auto w = Weights::open(src);
  GgufWriter out;
  for (const auto& [k, v] : w->metadata().entries()) out.metadata().set(k, v);
  for (const auto& t : w->tensors()) out.add_tensor(t.name, t.type, t.ne, t.data, t.nbytes);
  const std::string path = temp_path("rewrite.gguf");
  out.write(path);
  auto again = Weights::open(path);
  ASSERT_EQ(again->tensors().size(), w->tensors().size());
  for (const auto& t : w->tensors()) {
    const WeightTensor& u = again->get(t.name, t.ne);
    EXPECT_EQ(u.type, t.type);
    ASSERT_EQ(u.nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(u.data, t.data, t.nbytes), 0) << t.name;
  }
  EXPECT_EQ(again->metadata().entries().size(), w->metadata().entries().size());
  EXPECT_EQ(*again->metadata().find_strings("tokenizer.ggml.tokens"), *w->metadata().find_strings("tokenizer.ggml.tokens"));
  fs::remove(path);
}

TEST(GgufGoldenTest, TruncatedGoldenFileFailsCleanly) {
  HEARTH_REQUIRE_SHARED();
  const std::string src = test::shared_dir() + "/golden/tokenizer/ggml-vocab-bert-bge.gguf";
  MappedFile f(src);
  const std::string bytes(reinterpret_cast<const char*>(f.data()), f.size());
  auto w = Weights::open(test::shared_dir() + "/golden/models/bert-dev.q8_0.gguf");
  MappedFile g(test::shared_dir() + "/golden/models/bert-dev.q8_0.gguf");
  const std::string model(reinterpret_cast<const char*>(g.data()), g.size());
  // Cut points across the header, the vocabulary strings, the tensor infos and the data.
  for (size_t n : {size_t(3), size_t(10), size_t(23), size_t(24), size_t(100), bytes.size() / 3, bytes.size() / 2,
                   bytes.size() - 100}) {
    EXPECT_NE(parse_error(bytes.substr(0, n)), "") << n;
  }
  for (size_t n = 0; n < model.size(); n += model.size() / 97 + 1) EXPECT_NE(parse_error(model.substr(0, n)), "") << n;
  EXPECT_NE(parse_error(model.substr(0, model.size() - 1)), "");
}

TEST(GgufGoldenTest, CorruptedGoldenFieldsGiveErrors) {
  HEARTH_REQUIRE_SHARED();
  MappedFile f(test::shared_dir() + "/golden/models/llama-dev.q4_0.gguf");
  const std::string good(reinterpret_cast<const char*>(f.data()), f.size());
  ASSERT_EQ(parse_error(good), "");
  auto patched = [&](size_t at, auto value) {
    std::string s = good;
    std::memcpy(s.data() + at, &value, sizeof value);
    return parse_error(s);
  };
  EXPECT_NE(patched(0, uint32_t(0x46554748)).find("bad magic"), std::string::npos);
  EXPECT_NE(patched(4, uint32_t(1)).find("version 1"), std::string::npos);
  // An old version is a format hearth does not read, unlike the damage below.
  std::string old_version = good;
  old_version[4] = 1;
  EXPECT_EQ(test::thrown_kind([&] {
              Weights w;
              read_gguf(reinterpret_cast<const uint8_t*>(old_version.data()), old_version.size(), "mem.gguf", w);
            }),
            to_string(ErrorKind::kUnsupported));
  EXPECT_NE(patched(8, uint64_t(1) << 62).find("tensor count"), std::string::npos);
  EXPECT_NE(patched(16, uint64_t(1) << 62).find("key/value count"), std::string::npos);
  // More tensors than described: the parser runs into the data section and must fail cleanly there.
  EXPECT_NE(patched(8, uint64_t(1000)), "");

  // The tensor info of blk.0.attn_q.weight: name, n_dims, ne[2], type, offset.
  const std::string name = "blk.0.attn_q.weight";
  const size_t name_at = good.find(name);
  ASSERT_NE(name_at, std::string::npos);
  const size_t dims_at = name_at + name.size(), ne_at = dims_at + 4, type_at = ne_at + 16, off_at = type_at + 4;
  uint64_t offset;
  std::memcpy(&offset, good.data() + off_at, 8);
  EXPECT_NE(patched(dims_at, uint32_t(7)).find("7 dimensions"), std::string::npos);
  EXPECT_NE(patched(ne_at, uint64_t(1) << 63).find("negative"), std::string::npos);
  EXPECT_NE(patched(type_at, uint32_t(77)).find("unknown tensor type id 77"), std::string::npos);
  EXPECT_NE(patched(off_at, offset + 1).find("not a multiple of the alignment"), std::string::npos);
  EXPECT_NE(patched(off_at, uint64_t(good.size())).find("beyond the end"), std::string::npos);
  const std::string overlap = patched(off_at, offset + 32);
  EXPECT_NE(overlap.find("overlaps"), std::string::npos) << overlap;
  EXPECT_NE(overlap.find("tensor '"), std::string::npos) << overlap;
  // Its name length pointing past the end of the file.
  EXPECT_NE(patched(name_at - 8, uint64_t(good.size())).find("exceeds"), std::string::npos);
}

// Callers (the server's HTTP status, a retry policy) branch on the kind: the file's fault, the caller's, or a
// format hearth does not read.
TEST(WeightsOpenTest, ErrorKindsNameTheFault) {
  const std::string good = temp_path("kinds_good.gguf"), cut = temp_path("kinds_cut.gguf");
  SmallModel().writer().write(good);
  MappedFile f(good);
  const std::string bytes(reinterpret_cast<const char*>(f.data()), f.size());
  for (size_t n : {size_t(6), size_t(30), bytes.size() / 2, bytes.size() * 3 / 4}) {
    write_file_atomic(cut, bytes.substr(0, n));
    EXPECT_EQ(test::thrown_kind([&] { Weights::open(cut); }), to_string(ErrorKind::kCorruptData)) << n;
  }
  EXPECT_EQ(test::thrown_kind([&] { Weights::open(temp_path("does-not-exist")); }), to_string(ErrorKind::kNotFound));
  EXPECT_EQ(test::thrown_kind([&] { Weights::open(temp_path("no-such-dir") + "/model.gguf"); }),
            to_string(ErrorKind::kNotFound));
  write_file_atomic(cut, "hello world");
  EXPECT_EQ(test::thrown_kind([&] { Weights::open(cut); }), to_string(ErrorKind::kUnsupported));
  EXPECT_EQ(test::thrown_kind([&] { MappedFile m(temp_path("missing.bin")); }), to_string(ErrorKind::kNotFound));
  // A missing tensor the model needs, or one of the wrong shape, is the file's fault.
  auto w = Weights::open(good);
  EXPECT_EQ(test::thrown_kind([&] { w->get("no.such.tensor"); }), to_string(ErrorKind::kCorruptData));
  EXPECT_EQ(test::thrown_kind([&] { w->get("a", {2, 3}); }), to_string(ErrorKind::kCorruptData));
  EXPECT_EQ(test::thrown_kind([&] { w->metadata().get_string("no.such.key"); }), to_string(ErrorKind::kCorruptData));
  fs::remove(good);
  fs::remove(cut);
}

TEST(WeightsOpenTest, DispatchesAndRejectsOtherFiles) {
  const std::string path = temp_path("notgguf.bin");
  {
    std::ofstream(path) << "hello world";
  }
  try {
    Weights::open(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a GGUF file or model folder"), std::string::npos) << e.what();
  }
  fs::remove(path);
  EXPECT_THROW(Weights::open(temp_path("does-not-exist")), Error);
  try {
    Weights::open("/dev/null");  // not a regular file: refused without reading
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a GGUF file or model folder"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hearth
