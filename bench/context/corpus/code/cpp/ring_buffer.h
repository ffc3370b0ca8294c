// Single-producer single-consumer queue of fixed capacity, without locks.
// The audio callback pushes samples and the encoder thread pops them; neither may block.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>

namespace audio {

template <typename T>
class SpscRing {
 public:
  // Capacity is rounded up to a power of two so that an index wraps with a mask instead of a division.
  explicit SpscRing(size_t min_capacity) {
    size_t cap = 1;
    while (cap < min_capacity + 1) cap <<= 1;
    mask_ = cap - 1;
    slots_ = std::make_unique<T[]>(cap);
  }

  // Called by the producer only. Returns false when the ring is full; the caller drops the sample.
  bool try_push(const T& value) {
    const size_t head = head_.load(std::memory_order_relaxed);
    const size_t next = (head + 1) & mask_;
    if (next == tail_.load(std::memory_order_acquire)) return false;
    slots_[head] = value;
    head_.store(next, std::memory_order_release);
    return true;
  }

  // Called by the consumer only.
  std::optional<T> try_pop() {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_.load(std::memory_order_acquire)) return std::nullopt;
    T value = slots_[tail];
    tail_.store((tail + 1) & mask_, std::memory_order_release);
    return value;
  }

  size_t size_approx() const {
    const size_t head = head_.load(std::memory_order_acquire);
    const size_t tail = tail_.load(std::memory_order_acquire);
    return (head - tail) & mask_;
  }

 private:
  // Head and tail on separate cache lines: the two threads write one each, and sharing a line would make
  // every push and pop invalidate the other core's copy.
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
  size_t mask_ = 0;
  std::unique_ptr<T[]> slots_;
};

}  // namespace audio
