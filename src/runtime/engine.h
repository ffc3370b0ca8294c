// The batching engine: many generation requests on one decoder model at once, continuously batched.
//
// One scheduler thread owns the model's KV cache (paged: see DecoderCache) and runs a loop of steps. A step is
// one DecoderModel::forward over
//   - the next token of every running sequence that is decoding, and
//   - prompt chunks of sequences still reading their prompt, up to a per-step token budget (chunked prefill:
//     a long prompt takes several steps, so it never stalls the decoding sequences for more than one step).
// Requests wait in a bounded queue (full: Error kBusy) and are admitted when a slot (one of `slots` running
// sequences) is free and the cache has room for the rest of their prompt. An interactive request is scheduled
// before background ones and may preempt one when no slot is free; when the cache runs out of blocks mid-run,
// the sequence admitted last (background first) is preempted. A preempted sequence keeps its tokens and sampler
// state, gives its blocks back (full ones stay cached), and later re-attaches what is still cached, recomputes
// the rest and resumes with the output it would have had (forward's results do not depend on the batch, see
// docs/decoder.md). With a draft model, each decoding sequence's token in a step comes with the draft's guesses,
// which the target checks in the same forward (Sequence::advance_with_draft keeps exactly the target's output).
// Every admitted sequence first attaches the cached blocks of its longest whole-block prefix
// (the same system prompt, a chat's earlier turns, a preempted run), across requests: only the rest runs.
//
// Thread-safety: submit(), Job::cancel() and Job::wait() may be called from any thread. Callbacks run on the
// scheduler thread, one at a time: they must be quick and must not call into the engine's Job::wait().
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "models/decoder.h"
#include "models/lora.h"
#include "runtime/sequence.h"
#include "runtime/speculative.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

enum class Priority {
  kInteractive,  // a person waits on it: scheduled first, may preempt background sequences
  kBackground,   // bulk work (indexing, batch jobs): runs when interactive work leaves room
};

// What one step ran (for metrics and tests): EngineOptions::on_step gets it after each forward.
struct StepReport {
  int decode_tokens = 0;     // next tokens of decoding sequences
  int prompt_tokens = 0;     // prompt (or recomputation) chunk tokens
  int sequences = 0;         // inputs of the forward
  int64_t free_blocks = 0;   // cache blocks available after it
  double seconds = 0;        // wall time of the step's forward (and the draft's guesses)
};

struct EngineOptions {
  int slots = 8;              // sequences running at once
  int context = 2048;         // most positions one sequence may hold (prompt + output)
  int64_t cache_positions = 0;  // KV cache memory in positions, shared by all sequences (0: slots * context)
  int block_size = 32;        // KV cache block: the unit of allocation and of prefix reuse
  DType cache_type = DType::F16;  // F16 or Q8_0 (half the memory; see docs/decoder.md for its parity bound)
  int step_tokens = 512;      // tokens per forward step (decode tokens + prompt chunks)
  int max_queued = 64;        // requests waiting for a slot; one more is refused with kBusy
  // Speculative decoding: a draft model with the target's vocabulary (must outlive the engine) guesses up to
  // draft_max tokens for each decoding sequence, and the step checks them with the target (output unchanged).
  const DecoderModel* draft = nullptr;
  int draft_max = 4;
  std::function<void(const StepReport&)> on_step;  // scheduler thread, after each step; must be quick
};

struct EngineRequest {
  std::vector<int32_t> prompt;  // token ids (framing tokens included)
  GenerateOptions options;
  Priority priority = Priority::kInteractive;
  TextCallback on_text;  // each final piece of text; return false to cancel (scheduler thread)
  // Run-time LoRA adapters for this request (models/lora.h; null: the base model). Requests with different
  // adapters share steps; their KV cache blocks are never shared.
  std::shared_ptr<const LoraStack> lora = nullptr;
};

// A submitted request. Shared by the caller and the engine; outlives either.
class Job {
 public:
  uint64_t id() const { return id_; }
  // Stops the request at its next step, wherever it is (queued, mid-prompt, decoding). Any thread.
  void cancel();
  // Blocks until the request ends and returns its result; rethrows the Error that ended it, if any.
  GenerateResult wait();
  // Waits at most `timeout` for the request to end; true when it has (wait() then returns at once).
  bool wait_for(std::chrono::milliseconds timeout);
  bool done() const;

 private:
  friend class Engine;
  uint64_t id_ = 0;
  Priority priority_ = Priority::kInteractive;
  std::unique_ptr<Sequence> seq_;
  std::shared_ptr<const LoraStack> lora_;
  uint64_t lora_key_ = 0;  // lora_->key(), computed once
  int slot_ = -1;  // the cache slot while running
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  GenerateResult result_;
  std::exception_ptr error_;
};

// Counters of the scheduler (for benchmarks and metrics).
struct EngineStats {
  // Step sizes, counted in buckets of powers of two: bucket i counts steps of at most 2^i (tokens or sequences),
  // the last bucket the larger ones. Cumulative over the engine's life, like the counters below.
  static constexpr int kSizeBuckets = 14;  // 1, 2, 4, ..., 4096, more
  size_t queued = 0;   // now: requests waiting for a slot
  size_t running = 0;  // now: sequences holding a slot
  std::array<uint64_t, kSizeBuckets> step_tokens{};     // steps by tokens run (decode + prompt)
  std::array<uint64_t, kSizeBuckets> step_sequences{};  // steps by sequences batched
  uint64_t batched_sequences = 0;  // sequences summed over the steps (the step_sequences sum)
  double step_seconds = 0;  // total wall time of the steps
  uint64_t steps = 0;
  uint64_t decode_tokens = 0;  // tokens run as the next token of a decoding sequence
  uint64_t prompt_tokens = 0;  // tokens run as prompt (or recomputation) chunks
  uint64_t cached_prompt_tokens = 0;  // prompt tokens found in the cache (attached, not run)
  uint64_t preemptions = 0;
  uint64_t drafted = 0, accepted = 0;  // draft tokens guessed, and kept by the target
};

// What an engine holds right now (for the server's status): requests waiting, sequences running, slots.
struct EngineLoad {
  int queued = 0;
  int running = 0;
  int slots = 0;
};

class Engine {
 public:
  // `model` and `tokenizer` must outlive the engine. Allocates the KV cache (cache_positions).
  Engine(const DecoderModel& model, const Tokenizer& tokenizer, EngineOptions options = {});
  // Cancels what is queued or running, waits for the scheduler thread to end.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Error kBusy if max_queued requests are already waiting; kInvalidArgument /
  // kResourceExhausted for a prompt that is empty, holds an id outside the vocabulary or exceeds the context.
  std::shared_ptr<Job> submit(EngineRequest request);

  const EngineOptions& options() const { return options_; }
  EngineStats stats() const;
  EngineLoad load() const;
  // Bytes of key/value cache the engine allocated (the target's cache and the draft's).
  int64_t cache_bytes() const;
  // Changes the queue bound (options().max_queued keeps the value the engine was made with). Any thread.
  void set_max_queued(int max_queued);

 private:
  void loop();
  bool step(std::unique_lock<std::mutex>& lock);  // one forward step; false when there was nothing to run
  void admit();
  // Takes the job off its slot (its blocks back to the cache) and queues it again.
  void preempt(const std::shared_ptr<Job>& job);
  void release_slot(Job& job);
  void finish(const std::shared_ptr<Job>& job, std::exception_ptr error = nullptr);

  const DecoderModel& model_;
  const Tokenizer& tok_;
  const EngineOptions options_;
  std::unique_ptr<DecoderCache> cache_;  // sequence id = slot
  std::unique_ptr<DraftRunner> draft_;   // with options_.draft
  std::vector<bool> slot_busy_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  int max_queued_ = 0;  // options_.max_queued until set_max_queued
  std::vector<std::shared_ptr<Job>> queued_;   // waiting for a slot, in arrival order
  std::vector<std::shared_ptr<Job>> running_;  // holding a slot, in admission order
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace hearth
