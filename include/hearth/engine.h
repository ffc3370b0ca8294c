// hearth's public API: text generation.
//
// An Engine runs generation requests on one decoder Model, many at once (continuous batching: the requests
// share each forward pass, a new one joins at the next step, a prompt that starts like an earlier one reuses
// its cache). submit() queues a request and returns at once with a Request handle; the text streams to the
// request's on_text callback as it is generated, and Request::wait() returns the whole result.
//
//   auto model = hearth::Model::open("model.gguf");
//   hearth::Engine engine(model);
//   auto request = engine.submit({.prompt = "Once upon a time", .max_tokens = 64,
//                                 .on_text = [](std::string_view t) { std::cout << t << std::flush; return true; }});
//   hearth::GenerationResult result = request->wait();
//
// Lifetimes: the Engine holds its Model, and each Request holds the Engine's scheduler and the Model, so the
// caller may drop its Model and Engine handles while requests run: they complete, and the model is unloaded
// when the last request handle goes.
//
// Thread-safety: submit(), Request::cancel() and Request::wait() may be called from any thread. Callbacks run
// on the engine's scheduler thread, one at a time: they must be quick, must not wait on a Request, and must not
// hold the Request or Engine handle (the engine would keep itself alive).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/error.h"
#include "hearth/model.h"

namespace hearth {
inline namespace v1 {

enum class Priority {
  kInteractive,  // a person waits on it: scheduled first, may pause background requests
  kBackground,   // bulk work: runs when interactive work leaves room
};

struct GenerationRequest {
  std::string prompt;                  // text; tokenized with the model's framing tokens (BOS)
  std::vector<int32_t> prompt_tokens;  // token ids used as they are instead of `prompt`, when not empty
  int max_tokens = 128;                // tokens to generate at most; < 0: until the context is full
  // Sampling: llama.cpp's chain (top-k → top-p → min-p → temperature). temperature <= 0 is greedy.
  float temperature = 0.8f;
  int top_k = 40;       // <= 0: off
  float top_p = 0.95f;  // >= 1: off
  float min_p = 0.05f;  // <= 0: off
  std::optional<uint64_t> seed;  // the same seed, prompt and settings give the same text; none: random
  std::vector<std::string> stop;  // generation ends before the first of these strings (not part of the text)
  Priority priority = Priority::kInteractive;
  // Each piece of text as soon as it is final (whole UTF-8 characters, never part of a stop string).
  // Return false to cancel the request. Runs on the engine's thread.
  std::function<bool(std::string_view)> on_text;
};

enum class FinishReason {
  kStop,       // the model ended its text, or a stop string appeared
  kLength,     // max_tokens reached, or the context is full
  kCancelled,  // Request::cancel(), on_text returned false, or the engine shut down
};
const char* to_string(FinishReason reason);  // "stop", "length", "cancelled" (OpenAI's names)

struct Usage {
  int prompt_tokens = 0;         // prompt length in tokens
  int cached_prompt_tokens = 0;  // of those, how many an earlier request's cache supplied
  int completion_tokens = 0;     // tokens generated
};

struct GenerationResult {
  std::string text;             // everything on_text received, in one string
  std::vector<int32_t> tokens;  // the generated ids (with a final end-of-text token, if one ended it)
  FinishReason finish_reason = FinishReason::kStop;
  Usage usage;
};

// One submitted request. Shared by the caller and the engine.
class Request {
 public:
  struct Impl;  // defined by the implementation
  explicit Request(std::unique_ptr<Impl> impl);  // for Engine::submit only
  ~Request();
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // Stops the request at the engine's next step, wherever it is (queued, reading its prompt, generating);
  // wait() then returns what was generated so far with FinishReason::kCancelled.
  void cancel();
  // Blocks until the request ends. Throws the Error that ended it, if one did (e.g. an on_text that threw).
  GenerationResult wait();
  bool done() const;

 private:
  std::unique_ptr<Impl> impl_;
};

struct EngineOptions {
  int slots = 8;         // requests generating at once; more wait in the queue
  int context = 0;       // positions per request (prompt + output); 0: the model's, at most 4096
  int max_queued = 64;   // requests waiting for a slot; one more is refused with Error kBusy
  // KV cache memory in positions, shared by all requests in blocks (0: slots × context). Less than that
  // saves memory when requests are shorter than the context; the engine pauses the last one admitted when it
  // runs out, and resumes it with the same output.
  int64_t cache_positions = 0;
  std::string cache_type = "f16";  // "f16", or "q8_0": half the memory, logits within a stated bound
};

class Engine {
 public:
  // Allocates the cache. Error kInvalidArgument for an encoder model or bad options, kUnsupported for a
  // cache type the model cannot use, kResourceExhausted if the cache does not fit in memory.
  explicit Engine(std::shared_ptr<Model> model, const EngineOptions& options = {});
  // Requests whose handles the caller still holds keep running (see Lifetimes above); once no handle is left,
  // what is still queued or running is cancelled.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Error kBusy when the queue is full; kInvalidArgument for an empty prompt or a token id
  // outside the vocabulary; kResourceExhausted for a prompt longer than the context.
  std::shared_ptr<Request> submit(GenerationRequest request);

  const std::shared_ptr<Model>& model() const;
  int context() const;  // positions per request

  struct Core;  // the scheduler and the model, shared with the requests; defined by the implementation

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace v1
}  // namespace hearth
