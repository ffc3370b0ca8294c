#include "server/generation.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <random>

#include "server/api_error.h"
#include "server/sse.h"

namespace hearth::server {
namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Unique within the process and unguessable enough for a log line: time, a counter and a random part.
std::string response_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
  return fmt::format("{}-{:x}{:08x}", prefix, salt ^ uint64_t(unix_now()), uint32_t(++counter));
}

// OpenAI's sampling is temperature + nucleus only (no top-k, min-p or repetition penalty), and its penalties
// look at everything generated so far.
GenerateOptions base_options(const GenerationRequest& r) {
  GenerateOptions g;
  g.max_tokens = r.max_tokens.value_or(-1);
  g.stop = r.stop;
  g.top_logprobs = r.top_logprobs;
  SamplerOptions& s = g.sampling;
  s.temperature = r.temperature;
  s.top_k = 0;
  s.top_p = r.top_p;
  s.min_p = 0;
  s.repeat_penalty = 1;
  s.presence_penalty = r.presence_penalty;
  s.frequency_penalty = r.frequency_penalty;
  s.penalty_last_n = -1;
  return g;
}

uint64_t base_seed(const GenerationRequest& r) {
  if (r.seed) return uint64_t(*r.seed);
  std::random_device rd;
  return (uint64_t(rd()) << 32) | rd();
}

// n choices of one prompt, seeded seed, seed + 1, ...
void add_choices(GenerationPlan& plan, const GenerationRequest& r, const DecoderEntry& model,
                 std::vector<int32_t> prompt, int prompt_index, const std::string& echo) {
  const int context = model.engine->options().context;
  if (int64_t(prompt.size()) >= context)
    throw ApiError(400,
                   fmt::format("the prompt is {} tokens; this model's context holds {} (prompt and output together)",
                               prompt.size(), context),
                   plan.endpoint == Endpoint::kChat ? "messages" : "prompt", "context_length_exceeded",
                   ErrorKind::kResourceExhausted);
  const GenerateOptions g = base_options(r);
  const uint64_t seed = base_seed(r);
  for (int j = 0; j < r.n; ++j) {
    ChoicePlan c;
    c.index = int(plan.choices.size());
    c.prompt_index = prompt_index;
    c.prompt = prompt;
    c.options = g;
    c.options.sampling.seed = seed + uint64_t(j);
    c.echo = echo;
    plan.choices.push_back(std::move(c));
  }
}

UsageCounts usage_of(const GenerationPlan& plan, const std::vector<GenerateResult>& results) {
  UsageCounts u;
  std::vector<bool> counted;
  for (size_t i = 0; i < results.size(); ++i) {
    const size_t p = size_t(plan.choices[i].prompt_index);
    if (p >= counted.size()) counted.resize(p + 1, false);
    if (!counted[p]) {
      u.prompt_tokens += results[i].usage.prompt_tokens;
      u.cached_tokens += results[i].usage.cached_prompt_tokens;
      counted[p] = true;
    }
    u.completion_tokens += results[i].usage.completion_tokens;
  }
  return u;
}

std::shared_ptr<Job> submit(Engine& engine, const ChoicePlan& c, TextCallback on_text) {
  EngineRequest req;
  req.prompt = c.prompt;
  req.options = c.options;
  req.priority = Priority::kInteractive;
  req.on_text = std::move(on_text);
  return engine.submit(std::move(req));
}

void cancel_all(const std::vector<std::shared_ptr<Job>>& jobs) {
  for (const auto& j : jobs) j->cancel();
}

}  // namespace

GenerationPlan plan_chat(const DecoderEntry& model, const ChatRequest& r, const std::string& model_id) {
  GenerationPlan plan;
  plan.endpoint = Endpoint::kChat;
  plan.header = {response_id("chatcmpl"), unix_now(), model_id};
  plan.include_usage = r.include_usage;
  const std::string prompt = model.chat_template->render(r.messages, std::nullopt, /*add_generation_prompt=*/true);
  add_choices(plan, r, model,
              tokenize_chat_prompt(*model.session.tokenizer, prompt, model.template_source.bos_token), 0, "");
  return plan;
}

GenerationPlan plan_completion(const DecoderEntry& model, const CompletionRequest& r, const std::string& model_id) {
  GenerationPlan plan;
  plan.endpoint = Endpoint::kCompletion;
  plan.header = {response_id("cmpl"), unix_now(), model_id};
  plan.include_usage = r.include_usage;
  for (size_t p = 0; p < r.prompts.size(); ++p) {
    // As `hearth run`: the text is text; special-token strings in it are not turned into control tokens.
    std::vector<int32_t> ids = model.session.tokenizer->encode(r.prompts[p], /*add_special=*/true, /*parse_special=*/false);
    add_choices(plan, r, model, std::move(ids), int(p), r.echo ? r.prompts[p] : std::string());
  }
  return plan;
}

Json run_generation(DecoderEntry& model, GenerationPlan plan, const std::atomic<bool>& abandon) {
  std::vector<std::shared_ptr<Job>> jobs;
  std::vector<GenerateResult> results;
  try {
    for (const ChoicePlan& c : plan.choices)
      jobs.push_back(submit(*model.engine, c, [&abandon](std::string_view) { return !abandon.load(); }));
    for (const auto& j : jobs) results.push_back(j->wait());
  } catch (...) {
    cancel_all(jobs);
    throw;
  }
  std::vector<ChoiceResult> choices;
  for (size_t i = 0; i < results.size(); ++i) {
    const ChoicePlan& c = plan.choices[i];
    GenerateResult& r = results[i];
    choices.push_back({c.index, c.echo + r.text, r.finish_reason, c.options.top_logprobs >= 0, std::move(r.logprobs),
                       c.echo.size()});
  }
  return completion_response(plan.endpoint, plan.header, choices, usage_of(plan, results), *model.session.tokenizer);
}

GenerationStream::GenerationStream(DecoderLease model, GenerationPlan plan)
    : model_(std::move(model)), plan_(std::move(plan)), shared_(std::make_shared<Shared>()) {
  const size_t n = plan_.choices.size();
  shared_->pending.resize(n);
  finished_.assign(n, false);
  results_.resize(n);
  try {
    for (size_t i = 0; i < n; ++i) {
      std::weak_ptr<Shared> weak = shared_;
      jobs_.push_back(submit(*model_->engine, plan_.choices[i], [weak, i](std::string_view text) {
        const auto s = weak.lock();
        if (!s) return false;
        std::lock_guard<std::mutex> lock(s->mu);
        if (s->cancelled) return false;
        s->pending[i].append(text);
        s->cv.notify_one();
        return true;
      }));
    }
  } catch (...) {
    cancel_all(jobs_);
    throw;
  }
}

GenerationStream::~GenerationStream() { cancel(); }

void GenerationStream::cancel() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->cancelled = true;
  }
  cancel_all(jobs_);
}

void GenerationStream::append_text(size_t i, const std::string& text, std::string& out) {
  if (text.empty()) return;
  const int index = plan_.choices[i].index;
  if (plan_.endpoint == Endpoint::kChat) out += sse_event(chat_chunk(plan_.header, index, {{"content", text}}, nullptr));
  else out += sse_event(completion_chunk(plan_.header, index, text, nullptr));
}

void GenerationStream::finish_choice(size_t i, std::string& out) {
  results_[i] = jobs_[i]->wait();  // done: returns at once, or throws the job's error
  const ChoicePlan& c = plan_.choices[i];
  const char* reason = to_string(results_[i].finish_reason);
  // The text callback carries no token boundaries, so a choice's log-probabilities travel whole in its last
  // chunk; clients that accumulate chunks (the openai packages' stream helpers) end with the full list.
  const Json logprobs = choice_logprobs(
      plan_.endpoint, {c.index, {}, results_[i].finish_reason, c.options.top_logprobs >= 0, results_[i].logprobs, c.echo.size()},
      *model_->session.tokenizer);
  if (plan_.endpoint == Endpoint::kChat)
    out += sse_event(chat_chunk(plan_.header, c.index, Json::object(), reason, logprobs));
  else out += sse_event(completion_chunk(plan_.header, c.index, "", reason, logprobs));
  finished_[i] = true;
}

bool GenerationStream::next(std::string& out, std::chrono::milliseconds wait) {
  if (ended_) return false;
  if (!started_) {  // the opening events: the assistant role (chat) or the echoed prompt (completions)
    started_ = true;
    for (const ChoicePlan& c : plan_.choices) {
      if (plan_.endpoint == Endpoint::kChat)
        out += sse_event(chat_chunk(plan_.header, c.index, {{"role", "assistant"}, {"content", ""}}, nullptr));
      else if (!c.echo.empty())
        out += sse_event(completion_chunk(plan_.header, c.index, c.echo, nullptr));
    }
    return true;
  }
  const size_t n = jobs_.size();
  std::vector<std::string> texts(n);
  std::vector<bool> done(n);
  {
    std::unique_lock<std::mutex> lock(shared_->mu);
    // The engine does not signal a job's end through the callback, so the wait is bounded and done() polled.
    shared_->cv.wait_for(lock, wait, [&] {
      for (const auto& p : shared_->pending)
        if (!p.empty()) return true;
      return shared_->cancelled;
    });
    // A job is marked done after its last callback: read done() before taking the text, so that a job seen as
    // done has nothing left to send.
    for (size_t i = 0; i < n; ++i) done[i] = !finished_[i] && jobs_[i]->done();
    for (size_t i = 0; i < n; ++i) texts[i].swap(shared_->pending[i]);
  }
  try {
    for (size_t i = 0; i < n; ++i) {
      append_text(i, texts[i], out);
      if (done[i]) finish_choice(i, out);
    }
  } catch (const ApiError& e) {
    out += sse_event(error_body(e.what(), e.status(), e.param(), e.code()));
    cancel();
    ended_ = true;
  } catch (const Error& e) {
    // Mid-stream the status line is long sent: the error travels as an event, which OpenAI's clients raise.
    out += sse_event(error_body(e.what(), http_status(e.kind())));
    cancel();
    ended_ = true;
  }
  if (!ended_ && std::find(finished_.begin(), finished_.end(), false) != finished_.end()) return true;
  if (!ended_ && plan_.include_usage) out += sse_event(usage_chunk(plan_.endpoint, plan_.header, usage_of(plan_, results_)));
  out += kSseDone;
  ended_ = true;
  return false;
}

}  // namespace hearth::server
