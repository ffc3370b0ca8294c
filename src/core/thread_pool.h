// A fixed pool of worker threads for data-parallel kernels.
//
// run(fn) calls fn(i, n) once on each of the n threads (the caller is thread 0) and returns when all are done.
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

  // Splits [0, n) into contiguous ranges, at most one per thread, each a multiple of `grain` except the last.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t grain = 1);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// Waits until counter >= target: spins briefly (the other threads of a run() are expected within microseconds),
// then yields, so that on an oversubscribed machine a descheduled thread can run. A barrier inside run()
// jobs: every thread adds 1, then waits for the run's thread count.
void wait_until_at_least(const std::atomic<int>& counter, int target);

// Default thread count: the number of physical cores available to this process.
int default_thread_count();

}  // namespace hearth
