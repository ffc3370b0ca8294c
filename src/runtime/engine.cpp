#include "runtime/engine.h"

#include <algorithm>

#include "core/error.h"

namespace hearth {

// ---- Job ----

void Job::cancel() {
  if (seq_) seq_->cancel();
}

GenerateResult Job::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_; });
  if (error_) std::rethrow_exception(error_);
  return result_;
}

bool Job::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return done_; });
}

bool Job::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

// ---- Engine ----

Engine::Engine(const DecoderModel& model, const Tokenizer& tokenizer, EngineOptions options)
    : model_(model), tok_(tokenizer), options_(options) {
  if (options_.slots < 1 || options_.slots > 4096) fail("engine slots must be in 1..4096, not {}", options_.slots);
  if (options_.context < 2) fail("engine context must be at least 2 positions, not {}", options_.context);
  if (options_.step_tokens < options_.slots)
    fail("engine step budget ({} tokens) must hold one token of each of the {} slots", options_.step_tokens,
         options_.slots);
  if (options_.max_queued < 0) fail("engine queue bound must be >= 0");
  CacheOptions co;
  co.n_ctx = options_.context;
  co.n_seq = options_.slots;
  co.capacity = options_.cache_positions;
  co.block_size = options_.block_size;
  co.type = options_.cache_type;
  cache_ = model_.new_cache(co);
  if (cache_->n_blocks() * cache_->block_size() < options_.context)
    fail("engine cache of {} positions cannot hold one sequence of {}", cache_->n_blocks() * cache_->block_size(),
         options_.context);
  slot_busy_.assign(size_t(options_.slots), false);
  max_queued_ = options_.max_queued;
  if (options_.draft) {
    if (options_.draft_max < 1) fail("the draft length must be at least 1, not {}", options_.draft_max);
    // The draft's cache: as many positions as the target's, F16 (a draft is small), the same blocks.
    co.type = DType::F16;
    draft_ = std::make_unique<DraftRunner>(*options_.draft, model_.hparams().n_vocab, co);
  }
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<Job> Engine::submit(EngineRequest request) {
  auto job = std::make_shared<Job>();
  job->priority_ = request.priority;
  job->lora_ = std::move(request.lora);
  job->lora_key_ = lora_key(job->lora_.get());
  // Validates the prompt (empty, ids outside the vocabulary, longer than a slot) in the caller's thread.
  job->seq_ = std::make_unique<Sequence>(tok_, std::move(request.prompt), std::move(request.options),
                                         options_.context, std::move(request.on_text));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) fail(ErrorKind::kCancelled, "the engine is shutting down");
    if (int(queued_.size()) >= max_queued_)
      fail(ErrorKind::kBusy, "the engine is busy: {} requests are already waiting", queued_.size());
    job->id_ = next_id_++;
    queued_.push_back(job);
  }
  wake_.notify_one();
  return job;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineStats s = stats_;
  s.queued = queued_.size();
  s.running = running_.size();
  return s;
}

namespace {

// The power-of-two bucket of a step size (EngineStats::kSizeBuckets).
size_t size_bucket(uint64_t n) {
  size_t b = 0;
  while (b + 1 < size_t(EngineStats::kSizeBuckets) && (uint64_t(1) << b) < n) ++b;
  return b;
}

}  // namespace

EngineLoad Engine::load() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {int(queued_.size()), int(running_.size()), options_.slots};
}

int64_t Engine::cache_bytes() const {
  // The caches are sized once, at construction: reading their size needs no lock.
  return cache_->bytes() + (draft_ ? draft_->cache_bytes() : 0);
}

void Engine::set_max_queued(int max_queued) {
  if (max_queued < 0) fail("engine queue bound must be >= 0");
  std::lock_guard<std::mutex> lock(mu_);
  max_queued_ = max_queued;
}

void Engine::finish(const std::shared_ptr<Job>& job, std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(job->mu_);
    job->done_ = true;
    job->error_ = error;
    if (!error) job->result_ = job->seq_->take_result();
  }
  job->cv_.notify_all();
}

void Engine::release_slot(Job& job) {
  cache_->clear(job.slot_);  // its full blocks stay cached: a later request (or its own resumption) attaches them
  if (draft_) draft_->release(job.slot_);
  slot_busy_[size_t(job.slot_)] = false;
  job.slot_ = -1;
}

void Engine::preempt(const std::shared_ptr<Job>& job) {
  running_.erase(std::find(running_.begin(), running_.end(), job));
  release_slot(*job);
  job->seq_->set_cached_tokens(0);
  queued_.push_back(job);  // sorted back among the others by its id at the next admit()
  ++stats_.preemptions;
}

void Engine::admit() {
  // Interactive requests first, each class in arrival order.
  std::stable_sort(queued_.begin(), queued_.end(), [](const auto& a, const auto& b) {
    return a->priority_ != b->priority_ ? a->priority_ < b->priority_ : a->id_ < b->id_;
  });
  const int64_t bs = cache_->block_size();
  while (!queued_.empty()) {
    const std::shared_ptr<Job> job = queued_.front();
    auto free_slot = [&] { return int(std::find(slot_busy_.begin(), slot_busy_.end(), false) - slot_busy_.begin()); };
    if (free_slot() == options_.slots && job->priority_ == Priority::kInteractive) {
      // Preempt the background sequence admitted last.
      auto victim = std::find_if(running_.rbegin(), running_.rend(),
                                 [](const auto& j) { return j->priority_ == Priority::kBackground; });
      if (victim != running_.rend()) preempt(*victim);
    }
    const int slot = free_slot();
    if (slot == options_.slots) return;
    Sequence& seq = *job->seq_;
    const int attached = cache_->attach_prefix(slot, seq.tokens(), job->lora_key_);
    // Room for the rest of what it has to run now (its prompt, or what a preempted one recomputes), beyond the
    // blocks it attached; else it waits, and so does everything behind it (first come, first served).
    const int64_t rest = int64_t(seq.tokens().size()) - attached;
    if ((rest + bs - 1) / bs > cache_->available_blocks()) {
      cache_->clear(slot);
      return;
    }
    queued_.erase(queued_.begin());
    if (seq.result().usage.completion_tokens == 0) stats_.cached_prompt_tokens += uint64_t(attached);
    if (draft_) draft_->attach(slot, seq.tokens());
    seq.set_cached_tokens(attached);
    job->slot_ = slot;
    slot_busy_[size_t(slot)] = true;
    running_.push_back(job);
  }
}

bool Engine::step(std::unique_lock<std::mutex>& lock) {
  // Decoding sequences first (one token each), then prompt chunks; interactive before background.
  std::vector<std::shared_ptr<Job>> order = running_;
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a->priority_ < b->priority_; });
  auto decoding = [](const Job& j) { return j.seq_->tokens().size() - size_t(j.seq_->cached_tokens()) == 1; };
  std::stable_partition(order.begin(), order.end(), [&](const auto& j) { return decoding(*j); });

  struct Planned {
    std::shared_ptr<Job> job;
    Sequence::Step step;
    int guesses = 0;              // draft tokens room was made for (decoding sequences, with a draft)
    std::vector<int32_t> run;     // the newest token and the draft's guesses
  };
  std::vector<Planned> plan;
  int budget = options_.step_tokens;
  int64_t blocks = cache_->available_blocks();
  bool starved = false;  // a sequence had tokens to run but no block for them
  for (const auto& job : order) {
    if (budget == 0) break;
    Sequence::Step s = job->seq_->next_step(budget);
    if (s.tokens.empty()) continue;
    // A prompt chunk is cut to the blocks left; a decoding sequence with no block left is preempted below.
    const int bs = cache_->block_size();
    int64_t need = cache_->blocks_needed(job->slot_, s.start, int(s.tokens.size()));
    if (need > blocks && s.tokens.size() > 1) {
      const int64_t fit = (cache_->block_table(job->slot_).size() + blocks) * bs - s.start;
      if (fit > 0) {
        s = job->seq_->next_step(int(std::min<int64_t>(fit, budget)));
        need = cache_->blocks_needed(job->slot_, s.start, int(s.tokens.size()));
      }
    }
    if (need > blocks) {
      starved = true;
      continue;
    }
    blocks -= need;
    budget -= int(s.tokens.size());
    Planned p;
    p.job = job;
    p.step = s;
    if (draft_ && s.tokens.size() == 1 && s.wants_logits) {
      // Room for guesses: the step budget, the context, the tokens the request may still generate, the blocks.
      const Sequence& seq = *job->seq_;
      int room = std::min({options_.draft_max, budget, options_.context - int(seq.tokens().size())});
      if (seq.options().max_tokens >= 0)
        room = std::min(room, seq.options().max_tokens - int(seq.result().tokens.size()) - 1);
      for (; room > 0; --room) {
        const int64_t more = cache_->blocks_needed(job->slot_, s.start, 1 + room) - need;
        if (more <= blocks) {
          blocks -= more;
          break;
        }
      }
      p.guesses = std::max(room, 0);
      budget -= p.guesses;
    }
    plan.push_back(std::move(p));
  }
  if (plan.empty()) {
    if (!starved) return false;
    // Nothing could run: the cache is full. Give the blocks of the sequence admitted last (background first)
    // to the others; a sequence alone that cannot grow has outgrown the cache.
    if (running_.size() == 1) {
      const std::shared_ptr<Job> job = running_.front();
      running_.clear();
      release_slot(*job);
      finish(job, std::make_exception_ptr(Error(
                      fmt::format("the KV cache ({} positions) is too small for this sequence",
                                  cache_->n_blocks() * cache_->block_size()),
                      ErrorKind::kResourceExhausted)));
      return true;
    }
    auto victim = std::find_if(running_.rbegin(), running_.rend(),
                               [](const auto& j) { return j->priority_ == Priority::kBackground; });
    preempt(victim != running_.rend() ? *victim : running_.back());
    return true;
  }

  // The models run without the lock: submit() and stats() go on meanwhile. Only this thread touches the
  // running sequences and the caches.
  lock.unlock();
  const auto started = std::chrono::steady_clock::now();
  if (draft_) {
    // The draft follows every sequence the target runs (prompt chunks too, so that it never has a whole prompt to
    // catch up on) and guesses for the decoding ones.
    std::vector<DraftRunner::Request> requests;
    for (const Planned& p : plan) {
      const std::span<const int32_t> so_far(p.job->seq_->tokens());
      requests.push_back({p.job->slot_, so_far.first(size_t(p.step.start) + p.step.tokens.size()), p.guesses});
    }
    try {
      const std::vector<std::vector<int32_t>> guesses = draft_->guess(requests);
      for (size_t i = 0; i < plan.size(); ++i) {
        if (guesses[i].empty()) continue;
        plan[i].run.assign(plan[i].step.tokens.begin(), plan[i].step.tokens.end());
        plan[i].run.insert(plan[i].run.end(), guesses[i].begin(), guesses[i].end());
      }
    } catch (const Error&) {
      // The draft only saves time: when its cache has no room, this step runs without guesses, and the draft
      // starts those sequences over.
      for (const Planned& p : plan) draft_->release(p.job->slot_);
    }
  }
  // Sequences with the same adapters side by side: the model runs each adapter once over their rows together.
  std::stable_sort(plan.begin(), plan.end(),
                   [](const Planned& a, const Planned& b) { return a.job->lora_key_ < b.job->lora_key_; });
  std::vector<DecoderInput> inputs;
  for (Planned& p : plan) {
    DecoderInput in;
    in.seq = p.job->slot_;
    in.start = p.step.start;
    in.tokens = p.step.tokens;
    in.lora = p.job->lora_.get();
    if (!p.run.empty()) {
      in.tokens = p.run;
      in.all_logits = true;  // every guess is checked against the target's own logits
    }
    inputs.push_back(in);
  }
  std::vector<float> logits;
  std::exception_ptr error;
  try {
    logits = model_.forward(inputs, *cache_);
  } catch (...) {
    error = std::current_exception();
  }
  const size_t n_vocab = size_t(model_.hparams().n_vocab);
  std::vector<std::pair<std::shared_ptr<Job>, std::exception_ptr>> ended;
  uint64_t decode_tokens = 0, prompt_tokens = 0, drafted = 0, accepted = 0;
  size_t row = 0;  // the first logits row of input i
  for (size_t i = 0; i < plan.size(); ++i) {
    Sequence& seq = *plan[i].job->seq_;
    const Sequence::Step& s = plan[i].step;
    const size_t rows = inputs[i].all_logits ? inputs[i].tokens.size() : 1;
    (s.tokens.size() == 1 && s.wants_logits ? decode_tokens : prompt_tokens) += s.tokens.size();
    std::exception_ptr job_error = error;
    if (!job_error) {
      try {
        const std::span<const float> own(logits.data() + row * n_vocab, rows * n_vocab);
        if (plan[i].run.empty()) {
          seq.advance(s.tokens.size(), s.wants_logits ? own : std::span<const float>());
        } else {
          const std::span<const int32_t> guessed = std::span<const int32_t>(plan[i].run).subspan(1);
          drafted += guessed.size();
          accepted += seq.advance_with_draft(guessed, own);
        }
      } catch (...) {
        job_error = std::current_exception();
      }
    }
    row += rows;
    if (job_error || seq.finished()) ended.emplace_back(plan[i].job, job_error);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options_.on_step)
    options_.on_step({int(decode_tokens), int(prompt_tokens), int(plan.size()), cache_->available_blocks(), seconds});
  lock.lock();
  ++stats_.steps;
  ++stats_.step_tokens[size_bucket(decode_tokens + prompt_tokens)];
  ++stats_.step_sequences[size_bucket(plan.size())];
  stats_.batched_sequences += plan.size();
  stats_.step_seconds += seconds;
  stats_.decode_tokens += decode_tokens;
  stats_.prompt_tokens += prompt_tokens;
  stats_.drafted += drafted;
  stats_.accepted += accepted;
  for (auto& [job, job_error] : ended) {
    running_.erase(std::find(running_.begin(), running_.end(), job));
    // A failed forward committed nothing: what the cache holds is still right, and is kept for reuse.
    release_slot(*job);
    finish(job, job_error);
  }
  return true;
}

void Engine::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Requests cancelled while waiting or between steps end here, whatever they were doing.
    auto cancelled = [](const std::shared_ptr<Job>& j) { return j->seq_->cancel_requested(); };
    for (auto* list : {&queued_, &running_}) {
      for (const auto& job : *list) {
        if (!cancelled(job) && !stopping_) continue;
        job->seq_->finish_cancelled();
        if (job->slot_ >= 0) release_slot(*job);
        finish(job);
      }
      std::erase_if(*list, [&](const auto& j) { return j->seq_->finished(); });
    }
    if (stopping_) return;
    admit();
    if (running_.empty()) {
      wake_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
      continue;
    }
    step(lock);
  }
}

}  // namespace hearth
