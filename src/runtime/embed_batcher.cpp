#include "runtime/embed_batcher.h"

#include <algorithm>
#include <exception>

#include "core/error.h"

namespace hearth {

struct EmbedBatcher::Request {
  std::vector<std::string> texts;
  EmbedderOptions options;
  Priority priority = Priority::kInteractive;
  std::chrono::steady_clock::time_point arrived;
  size_t next = 0;     // texts before this one are taken into batches
  size_t pending = 0;  // texts taken but not yet embedded
  EmbedResult result;
  std::exception_ptr error;
  bool done = false;
  std::condition_variable cv;
};

namespace {

bool same_options(const EmbedderOptions& a, const EmbedderOptions& b) {
  return a.pooling == b.pooling && a.normalize == b.normalize && a.batch_tokens == b.batch_tokens &&
         a.instruction == b.instruction;
}

}  // namespace

EmbedBatcher::EmbedBatcher(const Embedder& embedder, EmbedBatcherOptions options)
    : EmbedBatcher([&embedder](const std::vector<std::string>& texts, const EmbedderOptions& o) {
        return embedder.embed(texts, o);
      }, options) {}

EmbedBatcher::EmbedBatcher(EmbedFunction embed, EmbedBatcherOptions options)
    : embed_(std::move(embed)), options_(options) {
  if (options_.max_batch_texts < 1) fail("embedding batches must hold at least one text");
  if (options_.window.count() < 0) fail("the embedding batch window must not be negative");
  thread_ = std::thread([this] { loop(); });
}

EmbedBatcher::~EmbedBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

EmbedBatcherStats EmbedBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EmbedBatcherStats s = stats_;
  s.queued_texts = queued_texts_;
  return s;
}

EmbedResult EmbedBatcher::embed(const std::vector<std::string>& texts, const EmbedderOptions& options,
                                Priority priority) {
  if (texts.empty()) return embed_(texts, options);
  auto r = std::make_shared<Request>();
  r->texts = texts;
  r->options = options;
  r->priority = priority;
  r->arrived = std::chrono::steady_clock::now();
  r->result.embeddings.resize(texts.size());
  r->result.n_tokens.resize(texts.size());
  r->result.truncated.resize(texts.size());
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) fail(ErrorKind::kCancelled, "the embedding batcher is shutting down");
  if (queued_texts_ + texts.size() > options_.max_queued_texts)
    fail(ErrorKind::kBusy, "the embedding queue is full ({} texts waiting)", queued_texts_);
  queued_texts_ += texts.size();
  ++stats_.requests;
  stats_.texts += texts.size();
  queue_.push_back(r);
  wake_.notify_all();
  r->cv.wait(lock, [&] { return r->done; });
  if (r->error) std::rethrow_exception(r->error);
  return std::move(r->result);
}

void EmbedBatcher::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    // Wait (within the first request's window) for as many requests as the previous batch merged, unless a full
    // batch is already waiting.
    const auto deadline = queue_.front()->arrived + options_.window;
    wake_.wait_until(lock, deadline, [&] {
      return stopping_ || queued_texts_ >= options_.max_batch_texts || queue_.size() >= last_batch_requests_;
    });

    // Interactive requests first, each class in arrival order; only requests with the first one's options.
    std::stable_sort(queue_.begin(), queue_.end(), [](const auto& a, const auto& b) { return a->priority < b->priority; });
    const EmbedderOptions options = queue_.front()->options;
    std::vector<std::pair<std::shared_ptr<Request>, std::pair<size_t, size_t>>> parts;
    size_t room = options_.max_batch_texts;
    for (const auto& r : queue_) {
      if (room == 0) break;
      if (!same_options(r->options, options) || r->next == r->texts.size()) continue;
      const size_t take = std::min(room, r->texts.size() - r->next);
      parts.push_back({r, {r->next, r->next + take}});
      r->next += take;
      r->pending += take;
      room -= take;
      queued_texts_ -= take;
    }
    std::erase_if(queue_, [](const auto& r) { return r->next == r->texts.size(); });
    last_batch_requests_ = parts.size();
    ++stats_.batches;
    lock.unlock();
    run_batch(parts);
    lock.lock();
    for (auto& [r, range] : parts) {
      r->pending -= range.second - range.first;
      if (r->pending == 0 && (r->next == r->texts.size() || r->error)) {
        if (r->error) {  // the rest of a failed request is not run
          queued_texts_ -= r->texts.size() - r->next;
          r->next = r->texts.size();
          std::erase(queue_, r);
        }
        r->done = true;
        r->cv.notify_all();
      }
    }
  }
}

void EmbedBatcher::run_batch(std::vector<std::pair<std::shared_ptr<Request>, std::pair<size_t, size_t>>>& parts) {
  std::vector<std::string> texts;
  for (const auto& [r, range] : parts) texts.insert(texts.end(), r->texts.begin() + long(range.first), r->texts.begin() + long(range.second));
  auto scatter = [](Request& r, std::pair<size_t, size_t> range, EmbedResult& from, size_t offset) {
    for (size_t i = range.first; i < range.second; ++i, ++offset) {
      r.result.embeddings[i] = std::move(from.embeddings[offset]);
      r.result.n_tokens[i] = from.n_tokens[offset];
      r.result.truncated[i] = from.truncated[offset];
      r.result.total_tokens += from.n_tokens[offset];
    }
  };
  try {
    EmbedResult all = embed_(texts, parts.front().first->options);
    size_t offset = 0;
    for (auto& [r, range] : parts) {
      scatter(*r, range, all, offset);
      offset += range.second - range.first;
    }
    return;
  } catch (...) {
    if (parts.size() == 1) {
      parts.front().first->error = std::current_exception();
      return;
    }
  }
  // The merged call failed: run each part alone, so that the error reaches only the request that caused it.
  for (auto& [r, range] : parts) {
    try {
      std::vector<std::string> own(r->texts.begin() + long(range.first), r->texts.begin() + long(range.second));
      EmbedResult mine = embed_(own, r->options);
      scatter(*r, range, mine, 0);
    } catch (...) {
      r->error = std::current_exception();
    }
  }
}

}  // namespace hearth
