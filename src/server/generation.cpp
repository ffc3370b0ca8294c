#include "server/generation.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <random>
#include <utility>

#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
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

// OpenAI's tool call ids are "call_" and 24 letters or digits; Mistral's templates insist on exactly 9.
std::string tool_call_id(ToolCallSyntax syntax) {
  static const char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const bool mistral = syntax == ToolCallSyntax::kMistral;
  std::string id = mistral ? "" : "call_";
  for (int i = 0; i < (mistral ? 9 : 24); ++i) id += kAlnum[rng() % (sizeof kAlnum - 1)];
  return id;
}

std::vector<ToolCallResult> tool_call_results(ToolCallSyntax syntax, std::vector<ParsedToolCall> calls) {
  std::vector<ToolCallResult> out;
  for (ParsedToolCall& c : calls) out.push_back({tool_call_id(syntax), std::move(c.name), std::move(c.arguments)});
  return out;
}

// The grammar a request asks for (grammar, response_format, or a required/named tool call), compiled; null for
// none. Its faults are the client's: 400 naming the field.
std::shared_ptr<const grammar::Grammar> request_grammar(const GenerationRequest& r, const std::string& tool_gbnf) {
  const char* param = !r.grammar.empty() ? "grammar" : !tool_gbnf.empty() ? "tools" : "response_format";
  grammar::JsonGrammarOptions bounds;
  bounds.max_string_length = r.json_max_string_length;
  bounds.max_items = r.json_max_items;
  try {
    if (!r.grammar.empty()) return grammar::parse_gbnf(r.grammar);
    if (!r.json_schema.empty()) return grammar::compile_json_schema(r.json_schema, bounds);
    if (r.json_object) return grammar::json_object_grammar(bounds);
    if (!tool_gbnf.empty()) return grammar::parse_gbnf(tool_gbnf);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), param, e.kind() == ErrorKind::kUnsupported ? "unsupported" : "invalid_value");
  }
  return nullptr;
}

// OpenAI's sampling is temperature + nucleus only (no top-k, min-p or repetition penalty), and its penalties
// look at everything generated so far.
GenerateOptions base_options(const GenerationRequest& r) {
  GenerateOptions g;
  g.max_tokens = r.max_tokens.value_or(-1);
  g.stop = r.stop;
  g.top_logprobs = r.top_logprobs;
  g.logit_bias = r.logit_bias;
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
                 std::vector<int32_t> prompt, int prompt_index, const std::string& echo,
                 std::shared_ptr<const grammar::Grammar> grammar, std::optional<ToolCallSyntax> tool_syntax = {}) {
  const int context = model.engine->options().context;
  if (int64_t(prompt.size()) >= context)
    throw ApiError(400,
                   fmt::format("the prompt is {} tokens; this model's context holds {} (prompt and output together)",
                               prompt.size(), context),
                   plan.endpoint == Endpoint::kChat ? "messages" : "prompt", "context_length_exceeded",
                   ErrorKind::kResourceExhausted);
  const int n_vocab = model.session.tokenizer->n_vocab();
  for (const auto& [id, bias] : r.logit_bias)
    if (id >= n_vocab)
      throw ApiError(400, fmt::format("logit_bias: token id {} is outside this model's vocabulary of {}", id, n_vocab),
                     "logit_bias", "invalid_value");
  GenerateOptions g = base_options(r);
  g.grammar = std::move(grammar);
  const uint64_t seed = base_seed(r);
  plan.progress->prompt_tokens += int(prompt.size());  // known now, for requests that end before their usage
  for (int j = 0; j < r.n; ++j) {
    ChoicePlan c;
    c.index = int(plan.choices.size());
    c.prompt_index = prompt_index;
    c.prompt = prompt;
    c.options = g;
    c.options.sampling.seed = seed + uint64_t(j);
    c.echo = echo;
    c.tool_syntax = tool_syntax;
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

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The engine's text callback of one choice: notes the plan's first text, then `on_text`.
std::shared_ptr<Job> submit(Engine& engine, const GenerationPlan& plan, const ChoicePlan& c, TextCallback on_text) {
  EngineRequest req;
  req.prompt = c.prompt;
  req.options = c.options;
  req.priority = plan.priority;
  req.on_text = [progress = plan.progress, on_text = std::move(on_text)](std::string_view text,
                                                                         std::span<const GeneratedToken> logprobs) {
    if (progress->first_text_ns.load(std::memory_order_relaxed) == 0) {
      int64_t none = 0;
      progress->first_text_ns.compare_exchange_strong(none, steady_ns());
    }
    return on_text(text, logprobs);
  };
  return engine.submit(std::move(req));
}

void note_usage(GenerationProgress& p, const UsageCounts& u) {
  p.prompt_tokens = u.prompt_tokens;
  p.completion_tokens = u.completion_tokens;
}

void cancel_all(const std::vector<std::shared_ptr<Job>>& jobs) {
  for (const auto& j : jobs) j->cancel();
}

}  // namespace

GenerationPlan plan_chat(const DecoderEntry& model, const ChatRequest& r, const std::string& model_id) {
  GenerationPlan plan;
  plan.endpoint = Endpoint::kChat;
  plan.header = {response_id("chatcmpl"), unix_now(), model_id, nullptr};
  plan.include_usage = r.include_usage;
  nlohmann::ordered_json messages = r.messages;
  std::optional<nlohmann::ordered_json> tools;
  std::optional<ToolCallSyntax> syntax;
  std::string tool_gbnf;
  if (r.tool_choice != ToolChoice::kNone) {
    const ToolCallFormat format = detect_tool_call_format(model.template_source.source);
    syntax = format.syntax;
    if (format.template_renders_tools) tools = r.tools;
    else messages = with_tools_system_prompt(messages, r.tools);
    if (r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed) {
      std::vector<ToolFunction> functions;
      for (const auto& t : r.tools) {
        const auto& f = t["function"];
        if (r.tool_choice == ToolChoice::kNamed && f["name"] != r.tool_choice_name) continue;
        functions.push_back({f["name"].get<std::string>(), f.value("parameters", nlohmann::ordered_json())});
      }
      try {
        tool_gbnf = tool_call_gbnf(format.syntax, functions, r.parallel_tool_calls && r.tool_choice == ToolChoice::kRequired);
      } catch (const Error& e) {
        throw ApiError(400, e.what(), "tools", e.kind() == ErrorKind::kUnsupported ? "unsupported" : "invalid_value");
      }
    }
  }
  const std::string prompt = model.chat_template->render(messages, tools, /*add_generation_prompt=*/true);
  add_choices(plan, r, model, tokenize_chat_prompt(*model.session.tokenizer, prompt, model.template_source.bos_token),
              0, "", request_grammar(r, tool_gbnf), syntax);
  return plan;
}

GenerationPlan plan_completion(const DecoderEntry& model, const CompletionRequest& r, const std::string& model_id) {
  GenerationPlan plan;
  plan.endpoint = Endpoint::kCompletion;
  plan.header = {response_id("cmpl"), unix_now(), model_id, nullptr};
  plan.include_usage = r.include_usage;
  const auto grammar = request_grammar(r, "");
  for (size_t p = 0; p < r.prompts.size(); ++p) {
    // As `hearth run`: the text is text; special-token strings in it are not turned into control tokens.
    std::vector<int32_t> ids = model.session.tokenizer->encode(r.prompts[p], /*add_special=*/true, /*parse_special=*/false);
    add_choices(plan, r, model, std::move(ids), int(p), r.echo ? r.prompts[p] : std::string(), grammar);
  }
  return plan;
}

Json run_generation(DecoderEntry& model, GenerationPlan plan, const std::atomic<bool>& abandon,
                    const std::function<bool()>& client_gone) {
  std::vector<std::shared_ptr<Job>> jobs;
  std::vector<GenerateResult> results;
  try {
    for (const ChoicePlan& c : plan.choices)
      jobs.push_back(submit(*model.engine, plan, c, [&abandon](std::string_view, std::span<const GeneratedToken>) { return !abandon.load(); }));
    for (const auto& j : jobs) {
      while (!j->wait_for(std::chrono::milliseconds(20))) {
        if (!client_gone || !client_gone()) continue;
        cancel_all(jobs);
        // What ran is still counted: a cancelled job ends at the engine's next step with what it generated.
        std::vector<GenerateResult> partial;
        for (const auto& k : jobs) {
          if (!k->wait_for(std::chrono::milliseconds(500))) continue;
          try {
            partial.push_back(k->wait());
          } catch (const Error&) {
          }
        }
        if (partial.size() == jobs.size()) note_usage(*plan.progress, usage_of(plan, partial));
        throw ApiError(499, "the client closed the connection before the response was ready", "", "client_closed",
                       ErrorKind::kCancelled);
      }
      results.push_back(j->wait());
    }
  } catch (...) {
    cancel_all(jobs);
    throw;
  }
  note_usage(*plan.progress, usage_of(plan, results));
  std::vector<ChoiceResult> choices;
  for (size_t i = 0; i < results.size(); ++i) {
    const ChoicePlan& c = plan.choices[i];
    GenerateResult& r = results[i];
    ChoiceResult choice{c.index, c.echo + r.text, r.finish_reason, c.options.top_logprobs >= 0, std::move(r.logprobs),
                        c.echo.size(), {}};
    if (c.tool_syntax) {
      ParsedToolOutput parsed = parse_tool_calls(*c.tool_syntax, choice.text);
      choice.text = std::move(parsed.content);
      choice.tool_calls = tool_call_results(*c.tool_syntax, std::move(parsed.calls));
    }
    choices.push_back(std::move(choice));
  }
  return completion_response(plan.endpoint, plan.header, choices, usage_of(plan, results), *model.session.tokenizer);
}

GenerationStream::GenerationStream(DecoderLease model, GenerationPlan plan)
    : model_(std::move(model)), plan_(std::move(plan)), shared_(std::make_shared<Shared>()) {
  const size_t n = plan_.choices.size();
  shared_->pending.resize(n);
  finished_.assign(n, false);
  results_.resize(n);
  replies_.resize(n);
  for (size_t i = 0; i < n; ++i) replies_[i].text_offset = plan_.choices[i].echo.size();
  try {
    for (size_t i = 0; i < n; ++i) {
      std::weak_ptr<Shared> weak = shared_;
      jobs_.push_back(submit(*model_->engine, plan_, plan_.choices[i], [weak, i](std::string_view text, std::span<const GeneratedToken> logprobs) {
        const auto s = weak.lock();
        if (!s) return false;
        std::lock_guard<std::mutex> lock(s->mu);
        if (s->cancelled) return false;
        s->pending[i].push_back({std::string(text), {logprobs.begin(), logprobs.end()}});
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

UsageCounts GenerationStream::usage_of_finished() const {
  std::vector<GenerateResult> done;
  GenerationPlan finished;
  for (size_t i = 0; i < results_.size(); ++i)
    if (finished_[i]) {
      done.push_back(results_[i]);
      finished.choices.push_back(plan_.choices[i]);
    }
  return usage_of(finished, done);
}

void GenerationStream::cancel() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->cancelled = true;
  }
  cancel_all(jobs_);
}

std::string GenerationStream::text_event(size_t i, const std::string& text, std::vector<GeneratedToken> logprobs,
                                         const char* finish_reason) {
  const ChoicePlan& c = plan_.choices[i];
  ChoiceText& reply = replies_[i];
  Json lp = nullptr;
  if (c.options.top_logprobs >= 0 && !logprobs.empty()) {
    const Tokenizer& tok = *model_->session.tokenizer;
    reply.logprobs_sent += logprobs.size();
    const size_t offset = reply.text_offset;
    for (const GeneratedToken& t : logprobs) reply.text_offset += tok.token_to_piece(t.chosen.id).size();
    lp = choice_logprobs(plan_.endpoint, {c.index, {}, FinishReason::kNone, true, std::move(logprobs), offset, {}}, tok);
  }
  if (plan_.endpoint == Endpoint::kCompletion) return sse_event(completion_chunk(plan_.header, c.index, text, finish_reason, lp));
  return sse_event(chat_chunk(plan_.header, c.index, text.empty() ? Json::object() : Json{{"content", text}},
                              finish_reason, lp));
}

void GenerationStream::append_text(size_t i, const std::string& text, std::vector<GeneratedToken> logprobs,
                                   std::string& out) {
  if (text.empty()) return;
  const ChoicePlan& c = plan_.choices[i];
  if (!c.tool_syntax) {
    out += text_event(i, text, std::move(logprobs));
    return;
  }
  // With tools, only what cannot be the start of a call goes out now, with the log-probabilities held so far.
  ChoiceText& reply = replies_[i];
  reply.full += text;
  reply.held_logprobs.insert(reply.held_logprobs.end(), std::make_move_iterator(logprobs.begin()),
                             std::make_move_iterator(logprobs.end()));
  const size_t safe = content_safe_prefix(*c.tool_syntax, reply.full);
  if (safe > reply.sent) {
    out += text_event(i, reply.full.substr(reply.sent, safe - reply.sent), std::exchange(reply.held_logprobs, {}));
    reply.sent = safe;
  }
}

void GenerationStream::finish_choice(size_t i, std::string& out) {
  results_[i] = jobs_[i]->wait();  // done: returns at once, or throws the job's error
  const ChoicePlan& c = plan_.choices[i];
  const char* reason = to_string(results_[i].finish_reason);
  if (c.tool_syntax) {  // what was held back: the rest of the content, or the calls
    ChoiceText& reply = replies_[i];
    ParsedToolOutput parsed = parse_tool_calls(*c.tool_syntax, reply.full);
    const std::string& content = parsed.calls.empty() ? reply.full : parsed.content;
    if (content.size() > reply.sent) out += text_event(i, content.substr(reply.sent), {});
    if (!parsed.calls.empty()) {
      for (const Json& delta : tool_call_deltas(tool_call_results(*c.tool_syntax, std::move(parsed.calls))))
        out += sse_event(chat_chunk(plan_.header, c.index, delta, nullptr));
      reason = "tool_calls";
    }
  }
  // The last chunk carries the log-probabilities not sent yet: tokens whose text was held back (a tool call) or
  // never became text (an end-of-generation token, a stop string).
  const std::vector<GeneratedToken>& all = results_[i].logprobs;
  const size_t sent = std::min(replies_[i].logprobs_sent, all.size());
  out += text_event(i, "", std::vector<GeneratedToken>(all.begin() + std::ptrdiff_t(sent), all.end()), reason);
  finished_[i] = true;
}

bool GenerationStream::next(std::string& out, std::chrono::milliseconds wait) {
  if (ended_) return false;
  if (!started_) {  // the opening events: the assistant role (chat) or the echoed prompt (completions)
    started_ = true;
    for (const ChoicePlan& c : plan_.choices) {
      if (plan_.endpoint == Endpoint::kChat) {
        Json chunk = chat_chunk(plan_.header, c.index, {{"role", "assistant"}, {"content", ""}}, nullptr);
        if (!plan_.header.context_sources.is_null()) chunk["context_sources"] = plan_.header.context_sources;
        out += sse_event(chunk);
      }
      else if (!c.echo.empty())
        out += sse_event(completion_chunk(plan_.header, c.index, c.echo, nullptr));
    }
    return true;
  }
  const size_t n = jobs_.size();
  std::vector<std::vector<Piece>> pieces(n);
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
    for (size_t i = 0; i < n; ++i) pieces[i].swap(shared_->pending[i]);
  }
  try {
    for (size_t i = 0; i < n; ++i) {
      for (Piece& piece : pieces[i]) append_text(i, piece.text, std::move(piece.logprobs), out);
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
  note_usage(*plan_.progress, usage_of_finished());
  if (!ended_ && plan_.include_usage) out += sse_event(usage_chunk(plan_.endpoint, plan_.header, usage_of(plan_, results_)));
  out += kSseDone;
  ended_ = true;
  return false;
}

}  // namespace hearth::server
