#include "core/thread_pool.h"

#include <chrono>

#include "core/cpu_features.h"
#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HEARTH_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define HEARTH_CPU_RELAX() asm volatile("yield")
#else
#define HEARTH_CPU_RELAX() ((void)0)
#endif

namespace hearth {
namespace {
thread_local bool t_inside_worker = false;
// How long an idle worker spins before sleeping: long enough to bridge the gap between the ops of one
// forward pass, short enough that an idle server does not burn a core.
constexpr auto kSpinDuration = std::chrono::microseconds(300);
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int) {
  t_inside_worker = true;
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    if (gen == seen) {
      auto start = std::chrono::steady_clock::now();
      int spins = 0;
      while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
        HEARTH_CPU_RELAX();
        if (++spins % 1024 == 0 && std::chrono::steady_clock::now() - start > kSpinDuration) {
          generation_.wait(seen, std::memory_order_acquire);
        }
      }
    }
    seen = gen;
    if (stop_.load()) return;
    // A worker late for this run finds every index taken (or takes one of the next run, whose job_ the
    // successful claim makes visible).
    for (int i; (i = next_index_.fetch_add(1, std::memory_order_acq_rel)) < n_threads_;) {
      (*job_)(i, n_threads_);
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1 || t_inside_worker) {
    fn(0, 1);
    return;
  }
  std::lock_guard<std::mutex> lock(run_mutex_);
  // Every index of the previous run has returned, so no thread reads job_ or done_ until the store below
  // publishes index 1.
  job_ = &fn;
  done_.store(0, std::memory_order_relaxed);
  next_index_.store(1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  t_inside_worker = true;
  fn(0, n_threads_);
  // The indices no worker has started yet: running them here beats waiting for a worker to be scheduled.
  int claimed_here = 0;
  for (int i; (i = next_index_.fetch_add(1, std::memory_order_acq_rel)) < n_threads_; ++claimed_here) fn(i, n_threads_);
  t_inside_worker = false;
  if (claimed_here > 0) done_.fetch_add(claimed_here, std::memory_order_acq_rel);
  // Only calls already running are waited for: spin briefly (they usually end together), then yield so that a
  // descheduled worker can run instead of being starved by this thread's spinning.
  wait_until_at_least(done_, n_threads_ - 1);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  // Up to kPiecesPerThread contiguous pieces per thread, handed out by StealingRanges: each thread works through
  // its own share in order, and a thread that falls behind (a vCPU the host took away) is helped from the end.
  constexpr int64_t kPiecesPerThread = 8;
  const int64_t n_chunks = (n + grain - 1) / grain;
  const int64_t n_pieces = std::min<int64_t>(n_chunks, int64_t(n_threads_) * kPiecesPerThread);
  StealingRanges pieces(n_pieces, n_threads_);
  struct Split {
    int64_t n, n_chunks, n_pieces, grain;
    StealingRanges& pieces;
    const std::function<void(int64_t, int64_t)>& fn;
  } split{n, n_chunks, n_pieces, grain, pieces, fn};
  // Captures one pointer, so the std::function holds it inline: no allocation per call.
  run([s = &split](int ith, int) {
    for (int64_t p; (p = s->pieces.next(ith)) >= 0;) {
      const int64_t begin = std::min(s->n, p * s->n_chunks / s->n_pieces * s->grain);
      const int64_t end = std::min(s->n, (p + 1) * s->n_chunks / s->n_pieces * s->grain);
      if (begin < end) s->fn(begin, end);
    }
  });
}

StealingRanges::StealingRanges(int64_t n, int n_threads) : shares_(size_t(std::max(n_threads, 1))) {
  HEARTH_ASSERT(n >= 0 && n < (int64_t(1) << 32));
  const int64_t nt = int64_t(shares_.size());
  for (int64_t i = 0; i < nt; ++i)
    shares_[size_t(i)].bounds.store(uint64_t(i * n / nt) | uint64_t((i + 1) * n / nt) << 32, std::memory_order_relaxed);
}

int64_t StealingRanges::next(int thread_index) {
  const size_t nt = shares_.size();
  for (size_t j = 0; j < nt; ++j) {
    const bool own = j == 0;
    std::atomic<uint64_t>& bounds = shares_[(size_t(thread_index) + j) % nt].bounds;
    uint64_t b = bounds.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t front = b & 0xffffffffu, end = b >> 32;
      if (front >= end) break;
      const uint64_t taken = own ? front : end - 1;
      const uint64_t rest = own ? (front + 1) | end << 32 : front | (end - 1) << 32;
      if (bounds.compare_exchange_weak(b, rest, std::memory_order_relaxed)) return int64_t(taken);
    }
  }
  return -1;
}

void wait_until_at_least(const std::atomic<int>& counter, int target) {
  for (int spins = 0; counter.load(std::memory_order_acquire) < target; ++spins) {
    if (spins < 4096) {
      HEARTH_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
}

int default_thread_count() { return cpu_info().physical_cores; }

}  // namespace hearth
