// The paged KV cache (models/decoder.h DecoderCache): block accounting, prefix attachment, least-recently-used
// eviction, copy-on-write of shared blocks, and refusal when full. The K/V contents are checked through the CPU
// backend's host memory; that a model reading through block tables gets the same logits is batch_invariance_test's.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "core/fp16.h"
#include "models/decoder.h"

namespace hearth {
namespace {

Backend& cpu() {
  static std::unique_ptr<Backend> b = make_cpu_backend(1);
  return *b;
}

DecoderHParams shape() {
  DecoderHParams hp;
  hp.n_layer = 2;
  hp.n_head = hp.n_head_kv = 1;
  hp.head_dim = 4;
  return hp;
}

// 4 blocks of 2 positions, up to 3 sequences of at most 8 positions.
std::unique_ptr<DecoderCache> small_cache() {
  CacheOptions o;
  o.n_ctx = 8;
  o.n_seq = 3;
  o.capacity = 8;
  o.block_size = 2;
  return std::make_unique<DecoderCache>(cpu(), shape(), o);
}

// Writes positions [start, start + tokens.size()) of seq as a model's forward would: reserve, K rows, commit.
// Row p of K in layer 0 gets the value 100 * seq + p in every column.
void write(DecoderCache& c, int seq, int start, const std::vector<int32_t>& tokens) {
  c.reserve(seq, start, int(tokens.size()));
  for (const auto& r : c.row_runs(seq, start, int(tokens.size())))
    for (int64_t i = 0; i < r.count; ++i) {
      auto* row = static_cast<uint16_t*>(c.k(0).data) + (r.row + i) * c.kv_dim();
      for (int64_t j = 0; j < c.kv_dim(); ++j) row[j] = fp32_to_fp16(float(100 * seq + r.position + i));
    }
  c.commit(seq, start, tokens);
}

float k_at(const DecoderCache& c, int seq, int position) {
  const auto runs = c.row_runs(seq, position, 1);
  return fp16_to_fp32(static_cast<const uint16_t*>(c.k(0).data)[runs[0].row * c.kv_dim()]);
}

TEST(DecoderCache, AllocatesBlocksAsSequencesGrowAndRefusesWhenFull) {
  auto c = small_cache();
  EXPECT_EQ(c->n_blocks(), 4);
  EXPECT_EQ(c->available_blocks(), 4);
  write(*c, 0, 0, {1, 2, 3});
  EXPECT_EQ(c->block_table(0).size(), 2u);
  EXPECT_EQ(c->available_blocks(), 2);
  EXPECT_EQ(c->blocks_needed(0, 3, 1), 0);  // position 3 is in its second block
  EXPECT_EQ(c->blocks_needed(0, 3, 2), 1);
  write(*c, 1, 0, {7, 8, 9, 10});
  EXPECT_EQ(c->available_blocks(), 0);
  try {
    c->reserve(2, 0, 1);
    FAIL() << "no block left";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kResourceExhausted);
  }
  EXPECT_EQ(c->length(2), 0);
  EXPECT_THROW(c->length(3), Error);  // no such sequence
  try {
    c->reserve(0, 3, 6);  // 9 positions: more than a sequence may hold
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kResourceExhausted);
  }
  EXPECT_EQ(k_at(*c, 0, 2), 2.0f);
  EXPECT_EQ(k_at(*c, 1, 3), 103.0f);
}

TEST(DecoderCache, AttachesTheCachedWholeBlockPrefixOfEqualTokensOnly) {
  auto c = small_cache();
  write(*c, 0, 0, {1, 2, 3, 4, 5});
  c->clear(0);  // its two full blocks stay cached
  EXPECT_EQ(c->available_blocks(), 4);
  // At least one token is left to run: 4 tokens attach one block, not two.
  EXPECT_EQ(c->attach_prefix(1, std::vector<int32_t>{1, 2, 3, 4}), 2);
  c->clear(1);
  EXPECT_EQ(c->attach_prefix(1, std::vector<int32_t>{1, 2, 3, 4, 9}), 4);
  EXPECT_EQ(c->length(1), 4);
  EXPECT_EQ(k_at(*c, 1, 3), 3.0f);  // the rows sequence 0 wrote
  std::vector<int32_t> held(c->tokens(1).begin(), c->tokens(1).end());
  EXPECT_EQ(held, (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(c->attach_prefix(2, std::vector<int32_t>{1, 2, 0, 4, 9}), 2);  // the second block differs
  EXPECT_EQ(c->attach_prefix(0, std::vector<int32_t>{2, 1, 3, 4, 9}), 0);  // so does the first
  EXPECT_THROW(c->attach_prefix(1, std::vector<int32_t>{1, 2, 3}), Error);  // not empty
}

TEST(DecoderCache, EvictsTheLeastRecentlyUsedUnheldBlocksTailFirst) {
  auto c = small_cache();
  write(*c, 0, 0, {1, 2, 3, 4, 5, 6});  // three full blocks
  c->clear(0);
  write(*c, 1, 0, {9, 9, 9});  // takes the free block, then evicts the oldest cached one: the tail {5, 6}
  EXPECT_EQ(c->attach_prefix(2, std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7}), 4);
  c->clear(2);  // {3,4} then {1,2} back to the cache, now the oldest
  c->clear(1);  // {9,9} cached after them; the partial {9} is simply free
  write(*c, 0, 0, {5, 5, 5});  // the free block, then the oldest cached one: {3,4}, the tail of its prefix
  EXPECT_EQ(c->attach_prefix(2, std::vector<int32_t>{1, 2, 3, 4, 0}), 2);
  EXPECT_EQ(c->attach_prefix(1, std::vector<int32_t>{9, 9, 9}), 2);
}

TEST(DecoderCache, CopiesASharedBlockBeforeWritingIntoIt) {
  auto c = small_cache();
  write(*c, 0, 0, {1, 2, 3, 4, 5});
  ASSERT_EQ(c->attach_prefix(1, std::vector<int32_t>{1, 2, 3, 4, 6}), 4);
  EXPECT_EQ(c->block_table(0)[1], c->block_table(1)[1]);
  // Sequence 1 rewinds into the shared block and writes position 3: it gets its own copy.
  EXPECT_EQ(c->blocks_needed(1, 3, 1), 1);
  write(*c, 1, 3, {8});
  EXPECT_NE(c->block_table(0)[1], c->block_table(1)[1]);
  EXPECT_EQ(c->block_table(0)[0], c->block_table(1)[0]);
  EXPECT_EQ(k_at(*c, 1, 2), 2.0f);    // copied from sequence 0's block
  EXPECT_EQ(k_at(*c, 1, 3), 103.0f);  // its own
  EXPECT_EQ(k_at(*c, 0, 3), 3.0f);    // sequence 0's untouched
  // The prefix table still leads to sequence 0's blocks, not the changed copy.
  EXPECT_EQ(c->attach_prefix(2, std::vector<int32_t>{1, 2, 3, 4, 0}), 4);
  EXPECT_EQ(k_at(*c, 2, 3), 3.0f);
}

TEST(DecoderCache, RejectsBadOptions) {
  CacheOptions o;
  o.n_ctx = 8;
  o.block_size = 0;
  EXPECT_THROW(DecoderCache(cpu(), shape(), o), Error);
  o.block_size = 2;
  o.type = DType::Q8_0;  // head size 4 is not a whole number of Q8_0 blocks
  try {
    DecoderCache c(cpu(), shape(), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
  EXPECT_EQ(parse_cache_type("q8_0"), DType::Q8_0);
  EXPECT_EQ(parse_cache_type("f16"), DType::F16);
  EXPECT_THROW(parse_cache_type("q4_0"), Error);
}

}  // namespace
}  // namespace hearth
