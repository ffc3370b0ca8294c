// Dynamic batching of embedding requests: requests that arrive while a batch runs, or within a short window, are
// merged into one Embedder::embed call (one set of large matrix products instead of many small ones) and the
// vectors are split back to their callers. A server answering many small /v1/embeddings calls, or an indexer and
// a user querying at once, gets the throughput of bulk calls without any caller waiting more than the window.
//
// The window adapts to the load, so that a lone caller never pays it: a request that finds the worker idle runs
// at once when the previous batch served one request; after a batch of k requests the next one waits (at most
// the window) until k requests are queued, since that many callers were seen at once.
//
// Interactive requests are served first; a background request's texts are taken a batch at a time, so a bulk
// indexing job never holds an interactive query back for more than one batch. Each text is encoded on its
// own (attention never crosses texts), so merging does not change a request's vectors beyond float rounding
// of the batch shapes (Embedder's contract).
//
// Thread-safety: embed() may be called from any number of threads; one worker thread runs the batches.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/embedder.h"
#include "runtime/engine.h"

namespace hearth {

struct EmbedBatcherOptions {
  std::chrono::microseconds window{2000};  // the longest the first request of a batch waits for company
  size_t max_batch_texts = 256;            // texts per embed call
  size_t max_queued_texts = 1 << 16;       // texts waiting; a request that would exceed it gets kBusy
};

struct EmbedBatcherStats {
  uint64_t requests = 0, texts = 0, batches = 0;
  size_t queued_texts = 0;  // now: texts waiting for a batch
};

// What a batch runs: Embedder::embed, or (in tests) anything with its contract.
using EmbedFunction = std::function<EmbedResult(const std::vector<std::string>&, const EmbedderOptions&)>;

class EmbedBatcher {
 public:
  // `embedder` must outlive the batcher.
  explicit EmbedBatcher(const Embedder& embedder, EmbedBatcherOptions options = {});
  explicit EmbedBatcher(EmbedFunction embed, EmbedBatcherOptions options = {});
  ~EmbedBatcher();  // finishes what is queued, then stops
  EmbedBatcher(const EmbedBatcher&) = delete;
  EmbedBatcher& operator=(const EmbedBatcher&) = delete;

  // Blocks until the texts' vectors are ready; the same result as embedder.embed(texts, options). Errors are
  // the caller's own (one bad request never fails the requests it was merged with); kBusy when the queue is
  // full.
  EmbedResult embed(const std::vector<std::string>& texts, const EmbedderOptions& options = {},
                    Priority priority = Priority::kInteractive);

  EmbedBatcherStats stats() const;

 private:
  struct Request;
  void loop();
  void run_batch(std::vector<std::pair<std::shared_ptr<Request>, std::pair<size_t, size_t>>>& parts);

  const EmbedFunction embed_;
  const EmbedBatcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Request>> queue_;
  size_t queued_texts_ = 0;
  size_t last_batch_requests_ = 1;  // requests merged into the previous batch: the company to wait for
  bool stopping_ = false;
  EmbedBatcherStats stats_;
  std::thread thread_;
};

}  // namespace hearth
