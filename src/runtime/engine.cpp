#include "runtime/engine.h"

#include <algorithm>
#include <tuple>

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
  cache_ = model_.new_cache(options_.context, options_.slots);
  slot_tokens_.resize(size_t(options_.slots));
  slot_busy_.assign(size_t(options_.slots), false);
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
  // Validates the prompt (empty, ids outside the vocabulary, longer than a slot) in the caller's thread.
  job->seq_ = std::make_unique<Sequence>(tok_, std::move(request.prompt), std::move(request.options),
                                         options_.context, std::move(request.on_text));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) fail(ErrorKind::kCancelled, "the engine is shutting down");
    if (int(queued_.size()) >= options_.max_queued)
      fail(ErrorKind::kBusy, "the engine is busy: {} requests are already waiting", queued_.size());
    job->id_ = next_id_++;
    queued_.push_back(job);
  }
  wake_.notify_one();
  return job;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
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

// Ties go to the lowest slot.
std::pair<int, size_t> Engine::free_slot_for(const Sequence& seq) const {
  std::pair<int, size_t> best{-1, 0};
  for (size_t s = 0; s < slot_busy_.size(); ++s) {
    if (slot_busy_[s]) continue;
    const size_t common = common_prefix(slot_tokens_[s], seq.tokens());
    if (best.first < 0 || common > best.second) best = {int(s), common};
  }
  return best;
}

void Engine::admit() {
  // Interactive requests first, each class in arrival order.
  std::stable_sort(queued_.begin(), queued_.end(), [](const auto& a, const auto& b) {
    return a->priority_ != b->priority_ ? a->priority_ < b->priority_ : a->id_ < b->id_;
  });
  while (!queued_.empty()) {
    const std::shared_ptr<Job> job = queued_.front();
    auto [slot, common] = free_slot_for(*job->seq_);
    if (slot < 0 && job->priority_ == Priority::kInteractive) {
      // Preempt the background sequence admitted last: it keeps its tokens and sampler, and its slot keeps
      // the cache, so if nobody takes the slot over it resumes without recomputing.
      auto victim = std::find_if(running_.rbegin(), running_.rend(),
                                 [](const auto& j) { return j->priority_ == Priority::kBackground; });
      if (victim != running_.rend()) {
        const std::shared_ptr<Job> v = *victim;
        running_.erase(std::next(victim).base());
        const Sequence& vs = *v->seq_;
        slot_tokens_[size_t(v->slot_)].assign(vs.tokens().begin(), vs.tokens().begin() + vs.cached_tokens());
        slot_busy_[size_t(v->slot_)] = false;
        v->slot_ = -1;
        queued_.push_back(v);  // sorted back among the background requests by its id at the next admit()
        ++stats_.preemptions;
        std::tie(slot, common) = free_slot_for(*job->seq_);
      }
    }
    if (slot < 0) return;
    queued_.erase(queued_.begin());
    Sequence& seq = *job->seq_;
    const int before = seq.cached_tokens();
    seq.set_cached_tokens(int(common));
    if (seq.result().usage.completion_tokens == 0 && seq.cached_tokens() > before)
      stats_.cached_prompt_tokens += uint64_t(seq.cached_tokens() - before);
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
  };
  std::vector<Planned> plan;
  std::vector<DecoderInput> inputs;
  int budget = options_.step_tokens;
  for (const auto& job : order) {
    if (budget == 0) break;
    const Sequence::Step s = job->seq_->next_step(budget);
    if (s.tokens.empty()) continue;
    budget -= int(s.tokens.size());
    plan.push_back({job, s});
    DecoderInput in;
    in.seq = job->slot_;
    in.tokens = s.tokens;
    in.start = s.start;
    inputs.push_back(in);
  }
  if (plan.empty()) return false;

  // The model runs without the lock: submit() and stats() go on meanwhile. Only this thread touches the
  // running sequences and the cache.
  lock.unlock();
  std::vector<float> logits;
  std::exception_ptr error;
  try {
    logits = model_.forward(inputs, *cache_);
  } catch (...) {
    error = std::current_exception();
  }
  const size_t n_vocab = size_t(model_.hparams().n_vocab);
  std::vector<std::pair<std::shared_ptr<Job>, std::exception_ptr>> ended;
  uint64_t decode_tokens = 0, prompt_tokens = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    Sequence& seq = *plan[i].job->seq_;
    const Sequence::Step& s = plan[i].step;
    (s.tokens.size() == 1 && s.wants_logits ? decode_tokens : prompt_tokens) += s.tokens.size();
    std::exception_ptr job_error = error;
    if (!job_error) {
      try {
        const std::span<const float> row(logits.data() + i * n_vocab, n_vocab);
        seq.advance(s.tokens.size(), s.wants_logits ? row : std::span<const float>());
      } catch (...) {
        job_error = std::current_exception();
      }
    }
    if (job_error || seq.finished()) ended.emplace_back(plan[i].job, job_error);
  }
  lock.lock();
  ++stats_.steps;
  stats_.decode_tokens += decode_tokens;
  stats_.prompt_tokens += prompt_tokens;
  for (auto& [job, job_error] : ended) {
    running_.erase(std::find(running_.begin(), running_.end(), job));
    const Sequence& seq = *job->seq_;
    // After an error the slot's cache is in an unknown state: nothing of it is reused.
    if (job_error) {
      slot_tokens_[size_t(job->slot_)].clear();
    } else {
      slot_tokens_[size_t(job->slot_)].assign(seq.tokens().begin(), seq.tokens().begin() + seq.cached_tokens());
    }
    slot_busy_[size_t(job->slot_)] = false;
    job->slot_ = -1;
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
        if (job->slot_ >= 0) {
          const Sequence& seq = *job->seq_;
          slot_tokens_[size_t(job->slot_)].assign(seq.tokens().begin(), seq.tokens().begin() + seq.cached_tokens());
          slot_busy_[size_t(job->slot_)] = false;
          job->slot_ = -1;
        }
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
