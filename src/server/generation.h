// Running /v1/chat/completions and /v1/completions on a decoder's batching Engine, whole or as a stream.
//
// A request becomes a GenerationPlan: one engine job per choice (n per prompt, choice j seeded seed + j), each
// with its prompt ids already checked against the context. Both ways of answering run the same plan through the
// same engine, and the engine's output does not depend on what else is batched with it, so a streamed answer
// has the text of the whole one for the same seed.
//
// Nothing here knows HTTP: a stream hands out ready SSE text and the HTTP layer writes it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/model_set.h"
#include "server/request.h"
#include "server/responses.h"

namespace hearth::server {

struct ChoicePlan {
  int index = 0;
  int prompt_index = 0;  // choices of one prompt count its tokens once in usage
  std::vector<int32_t> prompt;
  GenerateOptions options;
  std::string echo;  // completions with echo: the prompt text, returned in front of the output
};

struct GenerationPlan {
  Endpoint endpoint = Endpoint::kChat;
  ResponseHeader header;
  std::vector<ChoicePlan> choices;
  bool include_usage = false;
};

// ApiError 400 (context_length_exceeded) when a prompt leaves no room to generate in the engine's context.
GenerationPlan plan_chat(const DecoderEntry& model, const ChatRequest& request, const std::string& model_id);
GenerationPlan plan_completion(const DecoderEntry& model, const CompletionRequest& request,
                               const std::string& model_id);

// Runs the plan to the end; the response body. Rethrows the first job's error (after cancelling the others).
// Once `abandon` is set (the server's drain deadline passed) the jobs stop at their next piece of text.
Json run_generation(DecoderEntry& model, GenerationPlan plan, const std::atomic<bool>& abandon);

// A streamed generation. The engine's callbacks (its scheduler thread) only append text under a lock; the
// HTTP thread turns it into SSE events in next(). Destroying the stream cancels what still runs (the client
// went away).
class GenerationStream {
 public:
  // Submits every job; throws (Error kBusy, ...) before any event when the engine refuses one. The stream holds
  // the model's lease until it is destroyed, so the model stays loaded while it runs.
  GenerationStream(DecoderLease model, GenerationPlan plan);
  ~GenerationStream();
  GenerationStream(const GenerationStream&) = delete;
  GenerationStream& operator=(const GenerationStream&) = delete;

  // Waits up to `wait` for output and appends the events that are ready to `out`. Returns false once the last
  // event ("data: [DONE]") has been appended.
  bool next(std::string& out, std::chrono::milliseconds wait);
  void cancel();

 private:
  struct Shared {  // what the engine callbacks write to (they hold it weakly: a finished stream ignores them)
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> pending;  // per choice: text not yet sent
    bool cancelled = false;
  };
  void finish_choice(size_t i, std::string& out);
  void append_text(size_t i, const std::string& text, std::string& out);

  DecoderLease model_;
  GenerationPlan plan_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<Job>> jobs_;
  std::vector<bool> finished_;
  std::vector<GenerateResult> results_;
  bool started_ = false, ended_ = false;
};

}  // namespace hearth::server
