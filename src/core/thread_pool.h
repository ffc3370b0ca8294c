// A fixed pool of worker threads for data-parallel kernels.
//
// run(fn) calls fn(i, n) once for each i in [0, n) and returns when all calls are done. The caller runs i = 0 and
// then takes any index no worker has claimed yet, so a descheduled worker (an oversubscribed machine) delays
// nothing it has not started: a job must not make its calls wait for each other (no barrier across indices).
// Dispatch is low-latency: idle workers spin briefly before sleeping, because a decoder issues hundreds of small
// parallel ops per token. One run() at a time: concurrent callers are serialized; a run() issued from inside a
// worker executes inline on that thread (no nested parallelism).
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  void run(const std::function<void(int thread_index, int n_threads)>& fn);

  // Splits [0, n) into contiguous ranges, each a multiple of `grain` except the last, up to 8 per thread: each
  // thread calls fn on its own ranges in order, then on ranges left by the others (see StealingRanges).
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t grain = 1);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> next_index_{0};  // the next index of the current run() to claim; >= n when all are taken
  std::atomic<int> done_{0};        // indices >= 1 of the current run() that have returned
  std::atomic<bool> stop_{false};
};

// Hands out the indices [0, n) to the n_threads calls of one run(): call i takes its own contiguous share
// [i*n/nt, (i+1)*n/nt) from the front, in order; once that is used up it takes from the back of the others'
// shares. Each thread streams one contiguous region of memory, and a thread that falls behind (a descheduled
// vCPU) is helped from the far end of its share. Thread-safety: next() may be called from any thread.
class StealingRanges {
 public:
  StealingRanges(int64_t n, int n_threads);
  // The next index for call `thread_index`, or -1 when every index is taken.
  int64_t next(int thread_index);

 private:
  struct alignas(64) Share {
    std::atomic<uint64_t> bounds{0};  // front (low 32 bits), end (high 32 bits)
  };
  std::vector<Share> shares_;
};

// Waits until counter >= target: spins briefly (the other threads of a run() are expected within microseconds),
// then yields, so that on an oversubscribed machine a descheduled thread can run. Inside a run() job, wait only
// for work that other calls have already claimed: an index may not start until the caller's own call is done.
void wait_until_at_least(const std::atomic<int>& counter, int target);

// Default thread count: the number of physical cores available to this process.
int default_thread_count();

}  // namespace hearth
