// Saving a sequence's KV cache to a file and loading it into another cache: the next token's logits are the same
// bits as if it had never left; every kind of damage or mismatch is a clear Error of the right kind and leaves
// the slot as it was.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "backends/backend.h"
#include "core/error.h"
#include "models/decoder.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

class SequenceFile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    weights_ = Weights::open(test::shared_dir() + "/models/stories260K.gguf");
    backend_ = make_cpu_backend(1);
    model_ = load_decoder(*weights_, *backend_);
    path_ = (fs::temp_directory_path() / ("hearth_seqfile_" + std::to_string(::getpid()))).string();
  }
  void TearDown() override {
    if (!path_.empty()) fs::remove(path_);
  }
  std::vector<float> run(DecoderCache& cache, int seq, std::vector<int32_t> tokens, int start) {
    DecoderInput in;
    in.seq = seq;
    in.tokens = tokens;
    in.start = start;
    return model_->forward(std::span<const DecoderInput>(&in, 1), cache);
  }
  ErrorKind load_error(DecoderCache& cache, int seq, uint64_t fingerprint) {
    try {
      load_sequence(cache, seq, fingerprint, path_);
    } catch (const Error& e) {
      return e.kind();
    }
    ADD_FAILURE() << "no error";
    return ErrorKind::kCancelled;
  }
  std::vector<char> bytes() {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  void write(const std::vector<char>& b) { std::ofstream(path_, std::ios::binary).write(b.data(), long(b.size())); }

  std::unique_ptr<Weights> weights_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<DecoderModel> model_;
  std::string path_;
  const std::vector<int32_t> prompt_ = {1, 403, 407, 261, 378, 290, 300, 301, 302};
};

TEST_F(SequenceFile, ALoadedSequenceContinuesWithTheSameLogits) {
  auto original = model_->new_cache(64, 1);
  run(*original, 0, prompt_, 0);
  save_sequence(*original, 0, prompt_, weights_->fingerprint(), "a note", path_);
  const std::vector<float> want = run(*original, 0, {42}, int(prompt_.size()));

  auto restored = model_->new_cache(64, 3);
  const SavedSequence saved = load_sequence(*restored, 2, weights_->fingerprint(), path_);
  EXPECT_EQ(saved.tokens, prompt_);
  EXPECT_EQ(saved.note, "a note");
  EXPECT_EQ(restored->length(2), int(prompt_.size()));
  EXPECT_EQ(run(*restored, 2, {42}, int(prompt_.size())), want);
}

TEST_F(SequenceFile, DamageAndMismatchesAreErrorsOfTheirKind) {
  auto cache = model_->new_cache(64, 1);
  run(*cache, 0, prompt_, 0);
  const uint64_t fp = weights_->fingerprint();
  EXPECT_EQ(load_error(*cache, 0, fp), ErrorKind::kNotFound);
  save_sequence(*cache, 0, prompt_, fp, "", path_);
  const std::vector<char> good = bytes();

  auto target = model_->new_cache(64, 1);
  run(*target, 0, {1, 2, 3}, 0);
  EXPECT_EQ(load_error(*target, 0, fp ^ 1), ErrorKind::kInvalidArgument);  // another model

  std::vector<char> b = good;
  b[b.size() / 2] ^= 0x40;  // a flipped bit in the keys and values
  write(b);
  EXPECT_EQ(load_error(*target, 0, fp), ErrorKind::kCorruptData);
  b = good;
  b.resize(b.size() - 100);
  write(b);
  EXPECT_EQ(load_error(*target, 0, fp), ErrorKind::kCorruptData);
  b = good;
  b[8] = 7;  // format version 7
  write(b);
  EXPECT_EQ(load_error(*target, 0, fp), ErrorKind::kCorruptData);
  write({'n', 'o', 'p', 'e'});
  EXPECT_EQ(load_error(*target, 0, fp), ErrorKind::kCorruptData);
  EXPECT_EQ(target->length(0), 3) << "a failed load leaves the slot as it was";

  write(good);
  auto small = model_->new_cache(4, 1);
  EXPECT_EQ(load_error(*small, 0, fp), ErrorKind::kResourceExhausted);
  EXPECT_THROW(save_sequence(*cache, 0, std::vector<int32_t>(20, 1), fp, "", path_), Error);  // more than it holds
}

}  // namespace
}  // namespace hearth

namespace hearth {
namespace {

// A Q8_0 cache saves its rows as stored, whatever the block layout of the cache it is loaded into; a file of one
// storage type does not load into a cache of the other. llama-dev: head size 32, one Q8_0 block.
TEST(SequenceFileQ8_0, ALoadedSequenceContinuesWithTheSameLogitsAndTypesMustMatch) {
  HEARTH_REQUIRE_SHARED();
  auto weights = Weights::open(test::shared_dir() + "/golden/models/llama-dev.f16.gguf");
  auto backend = make_cpu_backend(1);
  auto model = load_decoder(*weights, *backend);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("hearth_seqfile_q8_" + std::to_string(::getpid()))).string();
  const std::vector<int32_t> prompt = {1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203};
  auto run = [&](DecoderCache& cache, int seq, std::vector<int32_t> tokens, int start) {
    DecoderInput in;
    in.seq = seq;
    in.tokens = tokens;
    in.start = start;
    return model->forward(std::span<const DecoderInput>(&in, 1), cache);
  };
  CacheOptions o;
  o.n_ctx = 64;
  o.type = DType::Q8_0;
  o.block_size = 4;
  auto original = model->new_cache(o);
  run(*original, 0, prompt, 0);
  save_sequence(*original, 0, prompt, weights->fingerprint(), "", path);
  const std::vector<float> want = run(*original, 0, {42}, int(prompt.size()));
  o.block_size = 7;
  o.n_seq = 2;
  auto restored = model->new_cache(o);
  load_sequence(*restored, 1, weights->fingerprint(), path);
  EXPECT_EQ(run(*restored, 1, {42}, int(prompt.size())), want);
  auto f16 = model->new_cache(64, 1);
  try {
    load_sequence(*f16, 0, weights->fingerprint(), path);
    ADD_FAILURE() << "a q8_0 file loaded into an f16 cache";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace hearth
