// Running /v1/chat/completions and /v1/completions on a decoder's batching Engine, whole or as a stream.
//
// A request becomes a GenerationPlan: one engine job per choice (n per prompt, choice j seeded seed + j), each
// with its prompt ids already checked against the context. Both ways of answering run the same plan through the
// same engine, and the engine's output does not depend on what else is batched with it, so a streamed answer
// has the text of the whole one for the same seed.
//
// Constrained decoding (grammar, response_format) and tools come in through the plan: a grammar in each choice's
// GenerateOptions, and the tool-call syntax a chat reply is parsed in (runtime/tool_calls.h). A streamed reply
// with tools sends as content only what cannot be the start of a call, and its calls as deltas when it ends.
//
// Nothing here knows HTTP: a stream hands out ready SSE text and the HTTP layer writes it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/tool_calls.h"
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
  std::optional<ToolCallSyntax> tool_syntax;  // chat with tools: the reply is parsed for calls in this syntax
};

// What the HTTP layer learns about a generation while it runs (metrics, the access log). The first-text time is
// written by the engine's scheduler thread, the token counts by the request's thread once they are known.
struct GenerationProgress {
  std::atomic<int64_t> first_text_ns{0};  // steady_clock time of the first piece of text, in ns (0: none yet)
  std::atomic<int> prompt_tokens{0}, completion_tokens{0};
};

struct GenerationPlan {
  Endpoint endpoint = Endpoint::kChat;
  ResponseHeader header;
  std::vector<ChoicePlan> choices;
  bool include_usage = false;
  Priority priority = Priority::kInteractive;
  std::shared_ptr<GenerationProgress> progress = std::make_shared<GenerationProgress>();
};

// The engine's class for a request's (RequestPriority::kUnset is interactive).
inline Priority engine_priority(RequestPriority p) {
  return p == RequestPriority::kBackground ? Priority::kBackground : Priority::kInteractive;
}

// ApiError 400 (context_length_exceeded) when a prompt leaves no room to generate in the engine's context.
GenerationPlan plan_chat(const DecoderEntry& model, const ChatRequest& request, const std::string& model_id);
GenerationPlan plan_completion(const DecoderEntry& model, const CompletionRequest& request,
                               const std::string& model_id);

// Runs the plan to the end; the response body. Rethrows the first job's error (after cancelling the others).
// Once `abandon` is set (the server's drain deadline passed) the jobs stop at their next piece of text.
// `client_gone` (optional) is asked every 20 ms while the jobs run: once it says yes, the jobs are cancelled (the
// engine frees their slots at its next step) and ApiError 499 (code client_closed) is thrown.
Json run_generation(DecoderEntry& model, GenerationPlan plan, const std::atomic<bool>& abandon,
                    const std::function<bool()>& client_gone = {});

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
  // Tokens of the choices that have finished so far (all of them once next() returned false).
  UsageCounts usage() const { return usage_of_finished(); }

 private:
  struct ChoiceText {
    std::string full;  // chat with tools: the reply so far, and how much of it went out as content
    size_t sent = 0;
    std::vector<GeneratedToken> held_logprobs;  // chat with tools: those of the text held back
    size_t logprobs_sent = 0;                    // tokens whose log-probabilities went out
    size_t text_offset = 0;                      // completions: where the next token's text starts in the choice
  };
  struct Piece {  // what one engine callback passed: text and the log-probabilities of the tokens it completes
    std::string text;
    std::vector<GeneratedToken> logprobs;
  };
  struct Shared {  // what the engine callbacks write to (they hold it weakly: a finished stream ignores them)
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::vector<Piece>> pending;  // per choice: pieces not yet sent, each its own chunk as OpenAI's
    bool cancelled = false;
  };
  void finish_choice(size_t i, std::string& out);
  UsageCounts usage_of_finished() const;
  void append_text(size_t i, const std::string& text, std::vector<GeneratedToken> logprobs, std::string& out);
  // A content chunk of choice i carrying `logprobs` (when the choice asked for them), advancing what was sent.
  std::string text_event(size_t i, const std::string& text, std::vector<GeneratedToken> logprobs,
                         const char* finish_reason = nullptr);

  DecoderLease model_;
  GenerationPlan plan_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<Job>> jobs_;
  std::vector<bool> finished_;
  std::vector<GenerateResult> results_;
  std::vector<ChoiceText> replies_;
  bool started_ = false, ended_ = false;
};

}  // namespace hearth::server
