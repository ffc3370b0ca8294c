#include <algorithm>
#include <random>

#include "api/internal.h"

namespace hearth::inline v1 {

// The scheduler and the model it runs, shared by the Engine handle and every Request: the runtime's engine
// refers to the model's network and tokenizer without owning them, so whoever can still reach the engine
// must keep the model too. Members are destroyed in reverse: the engine (cancelling what still runs, joining
// its thread) before the model.
struct Engine::Core {
  Core(std::shared_ptr<Model> m, const DecoderSession& d, const internal::EngineOptions& options)
      : model(std::move(m)), engine(*d.model, *d.tokenizer, options) {}

  const std::shared_ptr<Model> model;
  internal::Engine engine;
};

struct Request::Impl {
  std::shared_ptr<Engine::Core> core;  // keeps the scheduler (and so the model) alive while the caller waits
  std::shared_ptr<Job> job;
};

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

namespace {

FinishReason public_reason(internal::FinishReason reason) {
  using R = internal::FinishReason;
  switch (reason) {
    case R::kStop: return FinishReason::kStop;
    case R::kLength: return FinishReason::kLength;
    case R::kCancelled: return FinishReason::kCancelled;
    case R::kNone: break;  // a finished job always has a reason
  }
  HEARTH_ASSERT(!"job finished without a finish reason");
  return FinishReason::kStop;
}

internal::Priority internal_priority(Priority p) {
  return p == Priority::kBackground ? internal::Priority::kBackground : internal::Priority::kInteractive;
}

}  // namespace

// ---- Request ----

Request::Request(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Request::~Request() = default;

void Request::cancel() { impl_->job->cancel(); }
bool Request::done() const { return impl_->job->done(); }

GenerationResult Request::wait() {
  GenerateResult r = translate_errors([&] { return impl_->job->wait(); });
  GenerationResult out;
  out.text = std::move(r.text);
  out.tokens = std::move(r.tokens);
  out.finish_reason = public_reason(r.finish_reason);
  out.usage = {r.usage.prompt_tokens, r.usage.cached_prompt_tokens, r.usage.completion_tokens};
  return out;
}

// ---- Engine ----

Engine::Engine(std::shared_ptr<Model> model, const EngineOptions& options) {
  if (!model) throw Error("Engine needs a model", ErrorKind::kInvalidArgument);
  const std::optional<DecoderSession>& decoder = model->impl_->decoder;
  if (!decoder)
    throw Error(model->info().path + ": '" + model->info().architecture +
                    "' is an encoder model; generation needs a decoder",
                ErrorKind::kInvalidArgument);
  core_ = translate_errors([&] {
    // The step budget must hold one token of every slot; the runtime's default covers the usual slot counts.
    const int step_tokens = std::max(internal::EngineOptions{}.step_tokens, options.slots);
    internal::EngineOptions eo;
    eo.slots = options.slots;
    eo.context = decoder->context_size(options.context);
    eo.step_tokens = step_tokens;
    eo.max_queued = options.max_queued;
    eo.cache_positions = options.cache_positions;
    eo.cache_type = parse_cache_type(options.cache_type);
    return std::make_shared<Core>(std::move(model), *decoder, eo);
  });
}

Engine::~Engine() = default;

const std::shared_ptr<Model>& Engine::model() const { return core_->model; }
int Engine::context() const { return core_->engine.options().context; }

std::shared_ptr<Request> Engine::submit(GenerationRequest request) {
  GenerateOptions g;
  g.max_tokens = request.max_tokens;
  g.stop = std::move(request.stop);
  g.sampling.temperature = request.temperature;
  g.sampling.top_k = request.top_k;
  g.sampling.top_p = request.top_p;
  g.sampling.min_p = request.min_p;
  g.sampling.seed = request.seed ? *request.seed : std::random_device{}();
  return translate_errors([&] {
    std::vector<int32_t> prompt = request.prompt_tokens.empty()
                                      ? core_->model->tokenize(request.prompt, /*add_special=*/true)
                                      : std::move(request.prompt_tokens);
    auto impl = std::make_unique<Request::Impl>();
    impl->core = core_;
    impl->job = core_->engine.submit(
        {std::move(prompt), std::move(g), internal_priority(request.priority),
         [on_text = std::move(request.on_text)](std::string_view text, std::span<const GeneratedToken>) {
           return !on_text || on_text(text);
         }});
    return std::make_shared<Request>(std::move(impl));
  });
}

}  // namespace hearth::inline v1
