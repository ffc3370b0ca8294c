// A least-recently-used cache with O(1) lookup and eviction: a list keeps the order of use, a hash map finds
// a key's node in the list.
#pragma once

#include <cstddef>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>

template <typename Key, typename Value>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}

  std::optional<Value> get(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) {
      ++misses_;
      return std::nullopt;
    }
    // Move the entry to the front: it is now the most recently used.
    order_.splice(order_.begin(), order_, it->second);
    ++hits_;
    return it->second->second;
  }

  void put(const Key& key, Value value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (order_.size() == capacity_) evict_oldest();
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
  }

  double hit_ratio() const {
    const size_t total = hits_ + misses_;
    return total == 0 ? 0.0 : double(hits_) / double(total);
  }

 private:
  void evict_oldest() {
    index_.erase(order_.back().first);
    order_.pop_back();
  }

  size_t capacity_;
  size_t hits_ = 0, misses_ = 0;
  std::list<std::pair<Key, Value>> order_;
  std::unordered_map<Key, typename std::list<std::pair<Key, Value>>::iterator> index_;
};
