// The dynamic embedding batcher: requests from many threads are merged into few embed calls, each caller gets
// the vectors it would get alone, background bulk work does not hold interactive requests back, and one bad
// request does not fail the requests merged with it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "models/bert_golden.h"
#include "runtime/embed_batcher.h"
#include "runtime/bert_embedder_fixture.h"
#include "test_util.h"

namespace hearth {
namespace {

using test::max_abs_diff;

class EmbedBatcherTest : public test::BertEmbedderFixture {};

// A text's vector depends only on the text: batch shapes change it by float rounding at most (Embedder's
// contract). 1e-5 absolute on unit vectors is far below what separates two different texts.
constexpr float kBatchRounding = 1e-5f;

TEST_F(EmbedBatcherTest, ConcurrentRequestsAreMergedAndEachGetsItsOwnVectors) {
  EmbedBatcherOptions bo;
  bo.window = std::chrono::milliseconds(20);  // wide, so that the threads' requests meet
  EmbedBatcher batcher(*embedder_, bo);
  const size_t n_threads = 8;
  std::vector<std::vector<std::string>> requests(n_threads);
  for (size_t t = 0; t < n_threads; ++t)
    for (size_t k = 0; k <= t % 3; ++k) requests[t].push_back(golden_.sentences[(t * 3 + k) % golden_.sentences.size()]);
  std::vector<EmbedResult> got(n_threads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n_threads; ++t) threads.emplace_back([&, t] { got[t] = batcher.embed(requests[t]); });
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < n_threads; ++t) {
    const EmbedResult alone = embedder_->embed(requests[t]);
    ASSERT_EQ(got[t].embeddings.size(), requests[t].size());
    for (size_t i = 0; i < requests[t].size(); ++i) {
      EXPECT_LE(max_abs_diff(got[t].embeddings[i], alone.embeddings[i]), kBatchRounding) << t << "/" << i;
      EXPECT_EQ(got[t].n_tokens[i], alone.n_tokens[i]);
    }
    EXPECT_EQ(got[t].total_tokens, alone.total_tokens);
  }
  const EmbedBatcherStats st = batcher.stats();
  EXPECT_EQ(st.requests, n_threads);
  EXPECT_LT(st.batches, st.requests) << "requests within the window share embed calls";
}

// A stand-in embedder: one float per text (its length), and an Error for the text "bad".
EmbedResult fake_embed(const std::vector<std::string>& texts, const EmbedderOptions&) {
  EmbedResult r;
  for (const std::string& t : texts) {
    if (t == "bad") fail("the text 'bad' cannot be embedded");
    r.embeddings.push_back({float(t.size())});
    r.n_tokens.push_back(int(t.size()));
    r.truncated.push_back(false);
    r.total_tokens += int64_t(t.size());
  }
  return r;
}

TEST(EmbedBatcher, ABadRequestFailsAloneAndTheOthersInItsBatchSucceed) {
  // A first request holds the worker until the three others are queued, so those three share the next batch.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  EmbedBatcherOptions bo;
  bo.window = std::chrono::milliseconds(50);
  EmbedBatcher batcher([&](const auto& texts, const auto& o) {
    if (calls++ == 0) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return release; });
    }
    return fake_embed(texts, o);
  }, bo);
  std::thread first([&] { batcher.embed({"first"}); });
  while (calls.load() == 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
  EmbedResult a, c;
  std::thread ta([&] { a = batcher.embed({"one", "three"}); });
  std::thread tc([&] { c = batcher.embed({"seven!!"}); });
  std::thread tb([&] { EXPECT_THROW(batcher.embed({"x", "bad"}), Error); });
  while (batcher.stats().requests < 4) std::this_thread::sleep_for(std::chrono::microseconds(100));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  ta.join();
  tc.join();
  tb.join();
  ASSERT_EQ(a.embeddings.size(), 2u);
  EXPECT_EQ(a.embeddings[0], std::vector<float>{3.0f});
  EXPECT_EQ(a.embeddings[1], std::vector<float>{5.0f});
  EXPECT_EQ(c.embeddings[0], std::vector<float>{7.0f});
  EXPECT_EQ(a.total_tokens, 8);
  EXPECT_EQ(batcher.stats().batches, 2u) << "the three queued requests were merged";
  EXPECT_EQ(calls.load(), 5) << "first, the merged call that failed, then each of the three alone";
}

TEST(EmbedBatcher, ALoneCallerDoesNotWaitForTheWindow) {
  EmbedBatcherOptions bo;
  bo.window = std::chrono::seconds(5);  // a caller that waited for it would time the test out
  EmbedBatcher batcher(fake_embed, bo);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(batcher.embed({"abc"}).embeddings[0], std::vector<float>{3.0f});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_EQ(batcher.stats().batches, 3u);
}

TEST(EmbedBatcher, InteractiveRequestsOvertakeABackgroundBulkJob) {
  // The first batch of the bulk job waits until the query is queued, so the order of the calls is certain.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::vector<std::string>> calls;
  EmbedBatcherOptions bo;
  bo.max_batch_texts = 8;
  bo.window = std::chrono::microseconds(0);
  EmbedBatcher batcher([&](const std::vector<std::string>& texts, const EmbedderOptions& o) {
    std::unique_lock<std::mutex> lock(mu);
    calls.push_back(texts);
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return fake_embed(texts, o);
  }, bo);
  const std::vector<std::string> bulk(40, "bulk");
  std::thread background([&] { batcher.embed(bulk, {}, Priority::kBackground); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !calls.empty(); });  // the bulk job's first batch is running
  }
  std::thread query([&] { EXPECT_EQ(batcher.embed({"query"}).embeddings[0], std::vector<float>{5.0f}); });
  while (batcher.stats().requests < 2) std::this_thread::sleep_for(std::chrono::microseconds(100));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  query.join();
  background.join();
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls[1].front(), "query") << "the query ran right after the batch that was running";
  EXPECT_EQ(calls.size(), 6u) << "the query shares its batch with the next 7 bulk texts; the rest follow";
}

TEST(EmbedBatcher, AFullQueueIsBusyAndOptionsAreNeverMixed) {
  EmbedBatcherOptions tiny;
  tiny.max_queued_texts = 2;
  EmbedBatcher small(fake_embed, tiny);
  try {
    small.embed({"a", "b", "c"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBusy);
  }
  EXPECT_EQ(small.embed({"ab"}).embeddings[0], std::vector<float>{2.0f});

  std::vector<bool> seen_cls;
  EmbedBatcherOptions bo;
  bo.window = std::chrono::milliseconds(30);
  EmbedBatcher batcher([&](const auto& texts, const EmbedderOptions& o) {
    seen_cls.push_back(o.pooling == Pooling::kCls);
    return fake_embed(texts, o);
  }, bo);
  EmbedderOptions cls;
  cls.pooling = Pooling::kCls;
  std::thread t([&] { batcher.embed({"aa"}, cls); });
  batcher.embed({"bbb"});
  t.join();
  EXPECT_EQ(seen_cls.size(), 2u) << "requests with different options run in separate calls";
}

}  // namespace
}  // namespace hearth
