// Batch invariance (docs/decoder.md, "Batch invariance"): a sequence's logits are the same bits whether it runs
// alone or batched with other sequences, at any position of the inputs, with its prompt in one chunk or several,
// whether a token's logits come from a prompt chunk (all_logits) or from decoding it one token at a time after its
// prefix, and with 1 or 2 threads. Checked on random-weight llama models of every weight type the CPU backend
// multiplies (always) and on stories260K (when ../shared is present), at the machine's kernel level and, through
// ctest's models_tests_cpu_avx2 / _scalar entries, at the lower ones.
//
// The random models are shaped so that every kernel path runs: 256 columns (several 32-value blocks and one
// K-quant super-block per row; two super-blocks for ffn_down), 300-row output head (not a whole number of 16-row
// panels nor of the 128-row panel groups a one-row F16 product takes per call), tied output (the embedding table's
// product, packed at its first use), a 72-token prompt (more than the 64-row attention query block and matmul's 48-row tiles;
// chunks of 1 to 3 rows take the GEMV paths, 4 or more the GEMM paths).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/quantize.h"
#include "models/decoder.h"
#include "test_util.h"

namespace hearth {
namespace {

Backend& backend(int threads) {
  static std::unique_ptr<Backend> one = make_cpu_backend(1), two = make_cpu_backend(2);
  return threads == 1 ? *one : *two;
}

// ---- random-weight llama models ----
constexpr int kEmbd = 256, kHeads = 4, kHeadsKv = 2, kFf = 512, kVocab = 300, kLayers = 2, kCtx = 128;

void set_f16(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// rows x cols values of type t with roughly the given standard deviation: through hearth's quantizer where it has
// one, else random quants with scales that give about that spread.
std::vector<uint8_t> random_matrix(DType t, int64_t rows, int64_t cols, float std, std::mt19937& rng) {
  if (can_quantize(t)) {
    std::normal_distribution<float> nd(0.0f, std);
    std::vector<float> x(size_t(rows * cols));
    for (float& v : x) v = nd(rng);
    return quantize(t, x.data(), rows, cols);
  }
  const auto& tr = traits(t);
  std::vector<uint8_t> out(row_bytes(t, cols) * size_t(rows));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : out) b = uint8_t(byte(rng));
  for (size_t at = 0; at < out.size(); at += tr.type_size) {
    uint8_t* b = out.data() + at;
    switch (t) {
      case DType::Q4_1: set_f16(b, std / 4.6f), set_f16(b + 2, -7.5f * std / 4.6f); break;
      case DType::Q5_0: set_f16(b, std / 9.2f); break;
      case DType::Q5_1: set_f16(b, std / 9.2f), set_f16(b + 2, -15.5f * std / 9.2f); break;
      case DType::Q5_K: set_f16(b, std / 300.0f), set_f16(b + 2, 16.0f * std / 300.0f); break;
      case DType::Q2_K: set_f16(b + 80, std / 8.0f), set_f16(b + 82, 1.5f * std / 8.0f); break;
      case DType::Q3_K: set_f16(b + 108, std / 40.0f); break;
      default: ADD_FAILURE() << "no random blocks for " << dtype_name(t);
    }
  }
  return out;
}

struct RandomModel {
  std::vector<std::vector<uint8_t>> data;
  Weights weights;
};

std::unique_ptr<RandomModel> make_model(DType t) {
  auto m = std::make_unique<RandomModel>();
  std::mt19937 rng(1234 + uint32_t(t));
  Metadata& md = m->weights.mutable_metadata();
  md.set_string("general.architecture", "llama");
  md.set_u32("llama.embedding_length", kEmbd);
  md.set_u32("llama.block_count", kLayers);
  md.set_u32("llama.feed_forward_length", kFf);
  md.set_u32("llama.attention.head_count", kHeads);
  md.set_u32("llama.attention.head_count_kv", kHeadsKv);
  md.set_u32("llama.context_length", kCtx);
  md.set_u32("llama.rope.dimension_count", kEmbd / kHeads);
  md.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  m->weights.set_source("random " + std::string(dtype_name(t)));
  m->data.reserve(64);
  auto add = [&](const std::string& name, DType type, int64_t rows, int64_t cols, std::vector<uint8_t> bytes) {
    m->data.push_back(std::move(bytes));
    WeightTensor w;
    w.name = name;
    w.type = type;
    w.ne = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    w.data = m->data.back().data();
    w.nbytes = m->data.back().size();
    m->weights.add_tensor(w);
  };
  auto norm = [&](const std::string& name) {
    std::normal_distribution<float> nd(1.0f, 0.05f);
    std::vector<float> v(kEmbd);
    for (float& x : v) x = nd(rng);
    std::vector<uint8_t> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    add(name, DType::F32, 1, kEmbd, std::move(bytes));
  };
  const int64_t kv = int64_t(kEmbd / kHeads) * kHeadsKv;
  add("token_embd.weight", t, kVocab, kEmbd, random_matrix(t, kVocab, kEmbd, 0.5f, rng));
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight");
    add(p + "attn_q.weight", t, kEmbd, kEmbd, random_matrix(t, kEmbd, kEmbd, 0.08f, rng));
    add(p + "attn_k.weight", t, kv, kEmbd, random_matrix(t, kv, kEmbd, 0.08f, rng));
    add(p + "attn_v.weight", t, kv, kEmbd, random_matrix(t, kv, kEmbd, 0.06f, rng));
    add(p + "attn_output.weight", t, kEmbd, kEmbd, random_matrix(t, kEmbd, kEmbd, 0.06f, rng));
    norm(p + "ffn_norm.weight");
    add(p + "ffn_gate.weight", t, kFf, kEmbd, random_matrix(t, kFf, kEmbd, 0.06f, rng));
    add(p + "ffn_up.weight", t, kFf, kEmbd, random_matrix(t, kFf, kEmbd, 0.06f, rng));
    add(p + "ffn_down.weight", t, kEmbd, kFf, random_matrix(t, kEmbd, kFf, 0.05f, rng));
  }
  norm("output_norm.weight");  // no output.weight: the head is the (unpacked) embedding table
  return m;
}

// ---- the checks ----
using Logits = std::vector<float>;  // rows x n_vocab

struct Chunk {
  int seq;                   // index into the sequences (and the cache slot, unless slot is set)
  int begin, count;          // tokens [begin, begin + count) of that sequence
  bool all_logits = true;    // else only the chunk's last token
  int slot = -1;
};

class Runner {
 public:
  Runner(const DecoderModel& m, const std::vector<std::vector<int32_t>>& seqs, CacheOptions o)
      : m_(m), seqs_(seqs), vocab_(m.hparams().n_vocab) {
    o.n_ctx = kCtx;
    o.n_seq = 2 * int(seqs.size());  // the second half of the ids for prefix reuse
    cache_ = m.new_cache(o);
  }

  // One forward of the chunks (each continuing its sequence from `begin`); returns each chunk's logits rows.
  std::vector<Logits> step(const std::vector<Chunk>& chunks) {
    std::vector<DecoderInput> in;
    for (const Chunk& c : chunks) {
      DecoderInput d;
      d.seq = c.slot >= 0 ? c.slot : c.seq;
      d.tokens = std::span<const int32_t>(seqs_[size_t(c.seq)]).subspan(size_t(c.begin), size_t(c.count));
      d.start = c.begin;
      d.all_logits = c.all_logits;
      in.push_back(d);
    }
    const Logits all = m_.forward(in, *cache_);
    std::vector<Logits> out;
    size_t at = 0;
    for (const Chunk& c : chunks) {
      const size_t rows = c.all_logits ? size_t(c.count) : 1;
      out.emplace_back(all.begin() + long(at * vocab_), all.begin() + long((at + rows) * vocab_));
      at += rows;
    }
    EXPECT_EQ(at * vocab_, all.size());
    return out;
  }
  void clear() {
    for (int s = 0; s < cache_->n_seq(); ++s) cache_->clear(s);
  }
  size_t vocab() const { return vocab_; }
  DecoderCache& cache() { return *cache_; }

 private:
  const DecoderModel& m_;
  const std::vector<std::vector<int32_t>>& seqs_;
  std::unique_ptr<DecoderCache> cache_;
  size_t vocab_;
};

// Bit-for-bit equality of logits rows `got` with rows [row0, row0 + rows) of `want`.
::testing::AssertionResult same_bits(const Logits& want, size_t row0, const Logits& got, size_t vocab) {
  const float* w = want.data() + row0 * vocab;
  if (row0 * vocab + got.size() > want.size()) return ::testing::AssertionFailure() << "too many rows";
  if (std::memcmp(w, got.data(), got.size() * sizeof(float)) == 0) return ::testing::AssertionSuccess();
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(w + i, got.data() + i, sizeof(float)) != 0)
      return ::testing::AssertionFailure() << "row " << row0 + i / vocab << " logit " << i % vocab << ": "
                                           << std::hexfloat << w[i] << " alone vs " << got[i];
  return ::testing::AssertionFailure();
}

void check_model(const DecoderModel& m1, const DecoderModel& m2, const std::string& what,
                 const CacheOptions& cache = {}) {
  SCOPED_TRACE(what + ", cache " + std::string(dtype_name(cache.type)) + " in blocks of " + std::to_string(cache.block_size));
  const int vocab = m1.hparams().n_vocab;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> tok(1, vocab - 1);
  // Sequence 0 is longer than the attention's 64-row query block; the others are of assorted lengths.
  std::vector<std::vector<int32_t>> seqs;
  for (int len : {72, 5, 23, 1, 40}) {
    seqs.emplace_back();
    for (int i = 0; i < len; ++i) seqs.back().push_back(tok(rng));
  }
  const int n = int(seqs.size());
  auto len = [&](int s) { return int(seqs[size_t(s)].size()); };

  // The reference: each sequence alone, its whole prompt in one chunk, all logits, 1 thread.
  Runner r1(m1, seqs, cache), r2(m2, seqs, cache);
  std::vector<Logits> ref;
  for (int s = 0; s < n; ++s) ref.push_back(r1.step({{s, 0, len(s)}})[0]);
  for (float v : ref[0]) ASSERT_TRUE(std::isfinite(v)) << "the random model's logits are not finite";
  const size_t V = r1.vocab();

  // Chunked prompts; chunk size 1 is decoding each token after its prefix. Also only-the-last-logits chunks.
  for (int chunk : {1, 2, 3, 7, 64}) {
    r1.clear();
    for (int s : {0, 2}) {
      for (int b = 0; b < len(s); b += chunk) {
        const int c = std::min(chunk, len(s) - b);
        const bool all = (b / chunk) % 2 == 0;
        const Logits got = r1.step({{s, b, c, all}})[0];
        EXPECT_TRUE(same_bits(ref[size_t(s)], all ? size_t(b) : size_t(b + c - 1), got, V))
            << "sequence " << s << " in chunks of " << chunk << ", chunk at " << b << (all ? "" : " (last logits)");
      }
    }
  }

  // All sequences in one batch, sequence 0 at every position of the inputs; every other batch wants only some
  // sequences' last logits.
  for (int pos = 0; pos < n; ++pos) {
    for (bool all : {pos % 2 == 0}) {
      r1.clear();
      std::vector<Chunk> batch;
      for (int s = 1; s < n; ++s) batch.push_back({s, 0, len(s), all || s % 2 == 0});
      batch.insert(batch.begin() + pos, Chunk{0, 0, len(0), all});
      const auto got = r1.step(batch);
      for (size_t i = 0; i < batch.size(); ++i) {
        const Chunk& c = batch[i];
        EXPECT_TRUE(same_bits(ref[size_t(c.seq)], c.all_logits ? 0 : size_t(c.count - 1), got[i], V))
            << "sequence " << c.seq << " at input " << i << " of a batch of " << batch.size();
      }
    }
  }

  // Continuous batching: every step mixes one-token decodes of some sequences with prompt chunks of others, in a
  // rotating order, until every sequence is done; once with 1 thread, once with 2.
  for (Runner* r : {&r1, &r2}) {
    r->clear();
    std::vector<int> done(size_t(n), 0);
    std::uniform_int_distribution<int> size(1, 9);
    for (int stepno = 0;; ++stepno) {
      std::vector<Chunk> batch;
      for (int k = 0; k < n; ++k) {
        const int s = (k + stepno) % n;
        if (done[size_t(s)] == len(s)) continue;
        const int c = std::min((s + stepno) % 3 == 0 ? 1 : size(rng), len(s) - done[size_t(s)]);
        batch.push_back({s, done[size_t(s)], c, true});
        done[size_t(s)] += c;
      }
      if (batch.empty()) break;
      const auto got = r->step(batch);
      for (size_t i = 0; i < batch.size(); ++i)
        EXPECT_TRUE(same_bits(ref[size_t(batch[i].seq)], size_t(batch[i].begin), got[i], V))
            << "step " << stepno << ", sequence " << batch[i].seq << " tokens " << batch[i].begin << "+"
            << batch[i].count << (r == &r2 ? ", 2 threads" : ", 1 thread");
    }
  }
  // And each sequence alone with 2 threads.
  r2.clear();
  for (int s = 0; s < n; ++s) EXPECT_TRUE(same_bits(ref[size_t(s)], 0, r2.step({{s, 0, len(s)}})[0], V)) << "2 threads";

  // Prefix reuse: the blocks those runs left cached (computed in other batches, under other ids) attached to a
  // new id, all in one batch, and only the rest of each sequence run.
  r2.clear();
  std::vector<Chunk> rest;
  int attached_total = 0;
  for (int s = 0; s < n; ++s) {
    const int attached = r2.cache().attach_prefix(n + s, seqs[size_t(s)]);
    EXPECT_EQ(attached % r2.cache().block_size(), 0);
    attached_total += attached;
    rest.push_back({s, attached, len(s) - attached, true, n + s});
  }
  EXPECT_GE(attached_total, 64) << "sequence 0's first 64 positions are whole blocks of any size up to 32";
  const auto got = r2.step(rest);
  for (size_t i = 0; i < rest.size(); ++i)
    EXPECT_TRUE(same_bits(ref[i], size_t(rest[i].begin), got[i], V)) << "sequence " << i << " after "
                                                                         << rest[i].begin << " reused positions";
}

class RandomLlama : public ::testing::TestWithParam<DType> {};

TEST_P(RandomLlama, LogitsDoNotDependOnTheBatch) {
  auto model = make_model(GetParam());
  auto m1 = load_decoder(model->weights, backend(1));
  auto m2 = load_decoder(model->weights, backend(2));
  check_model(*m1, *m2, std::string(dtype_name(GetParam())));
}

// A Q8_0 KV cache, and blocks of 3 positions (so each sequence's rows are scattered over many runs), on two weight
// types: the cache's storage and layout change nothing in the argument.
TEST(RandomLlamaCache, Q8_0AndSmallBlocksDoNotDependOnTheBatch) {
  for (DType t : {DType::F16, DType::Q4_0}) {
    auto model = make_model(t);
    auto m1 = load_decoder(model->weights, backend(1));
    auto m2 = load_decoder(model->weights, backend(2));
    CacheOptions c;
    c.block_size = 3;
    check_model(*m1, *m2, std::string(dtype_name(t)), c);
    c.type = DType::Q8_0;
    check_model(*m1, *m2, std::string(dtype_name(t)), c);
  }
}

// Every weight type with a matmul kernel, and two (Q2_K, Q3_K) that the backend multiplies as F32 copies.
INSTANTIATE_TEST_SUITE_P(EveryWeightType, RandomLlama,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                                           DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                                           DType::Q2_K, DType::Q3_K),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

TEST(Stories260K, LogitsDoNotDependOnTheBatch) {
  HEARTH_REQUIRE_SHARED();
  auto weights = Weights::open(test::shared_dir() + "/models/stories260K.gguf");
  auto m1 = load_decoder(*weights, backend(1));
  auto m2 = load_decoder(*weights, backend(2));
  check_model(*m1, *m2, "stories260K");
  CacheOptions c;
  c.block_size = 5;
  check_model(*m1, *m2, "stories260K", c);
}

}  // namespace
}  // namespace hearth
