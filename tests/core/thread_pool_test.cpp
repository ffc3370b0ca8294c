#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace hearth {
namespace {

TEST(ThreadPool, RunCallsEveryThreadOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(4);
  for (int rep = 0; rep < 200; ++rep) {
    pool.run([&](int i, int n) {
      EXPECT_EQ(n, 4);
      hits[i].fetch_add(1);
    });
  }
  for (auto& h : hits) EXPECT_EQ(h.load(), 200);
}

TEST(ThreadPool, ParallelForCoversRangeExactlyOnce) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 2, 7, 64, 1001, 100003}) {
    std::vector<std::atomic<int>> seen(size_t(n) + 1);
    pool.parallel_for(n, [&](int64_t b, int64_t e) {
      EXPECT_EQ(b % 4, 0) << "ranges start at a multiple of the grain";
      EXPECT_TRUE(e == n || e % 4 == 0) << "and end at one, or at n";
      for (int64_t i = b; i < e; ++i) seen[size_t(i)].fetch_add(1);
    }, 4);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[size_t(i)].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPool, NestedRunExecutesInline) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.run([&](int, int) { pool.run([&](int i, int n) { inner += (i == 0 && n == 1) ? 1 : 100; }); });
  EXPECT_EQ(inner.load(), 2);
}

TEST(ThreadPool, SingleThreadRunsOnCaller) {
  ThreadPool pool(1);
  int calls = 0;
  pool.run([&](int i, int n) { calls += (i == 0 && n == 1); });
  EXPECT_EQ(calls, 1);
}

}  // namespace
TEST(StealingRanges, OwnShareInOrderThenOthersFromTheBack) {
  StealingRanges r(10, 2);  // shares [0, 5) and [5, 10)
  EXPECT_EQ(r.next(0), 0);
  EXPECT_EQ(r.next(0), 1);
  EXPECT_EQ(r.next(1), 5);
  for (int64_t i = 2; i < 5; ++i) EXPECT_EQ(r.next(0), i);
  EXPECT_EQ(r.next(0), 9);  // thread 0 is done with its share: it helps from the end of thread 1's
  EXPECT_EQ(r.next(1), 6);
  EXPECT_EQ(r.next(1), 7);
  EXPECT_EQ(r.next(1), 8);
  EXPECT_EQ(r.next(1), -1);
  EXPECT_EQ(r.next(0), -1);
  StealingRanges empty(0, 3);
  EXPECT_EQ(empty.next(2), -1);
}

TEST(StealingRanges, EveryIndexExactlyOnceUnderContention) {
  for (int64_t n : {0, 1, 7, 1000}) {
    ThreadPool pool(4);
    StealingRanges r(n, pool.size());
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.run([&](int ith, int) {
      for (int64_t t; (t = r.next(ith)) >= 0;) hits[size_t(t)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[size_t(i)].load(), 1) << "index " << i << " of " << n;
  }
}

}  // namespace hearth
