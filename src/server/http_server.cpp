#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "server/api_error.h"
#include "server/embeddings.h"
#include "server/generation.h"
#include "server/rerank.h"
#include "server/request.h"
#include "server/responses.h"

namespace hearth::server {

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned diff = a.size() != b.size();
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0, y = i < b.size() ? b[i] : 0;
    diff |= unsigned(x ^ y);
  }
  return diff == 0;
}

namespace {

constexpr const char* kJson = "application/json";

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), kJson);
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& param = "",
                const std::string& code = "") {
  // A 429 says when to come back: the engine's queue drains within seconds.
  if (status == 429) res.set_header("Retry-After", "1");
  send_json(res, status, error_body(message, status, param, code));
}

// A client's X-Request-Id is echoed when it is a sane token; otherwise one is made up, so every response can be
// matched with the server's log.
std::string request_id(const httplib::Request& req) {
  const std::string given = req.get_header_value("X-Request-Id");
  const bool sane = !given.empty() && given.size() <= 128 &&
                    std::all_of(given.begin(), given.end(), [](unsigned char c) { return c > 32 && c < 127; });
  if (sane) return given;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("req_{:016x}", rng());
}

}  // namespace

struct HttpServer::Impl {
  const ModelSet& models;
  const ServerOptions options;
  httplib::Server http;
  std::atomic<bool> draining{false};
  std::atomic<bool> finished{false};  // run() has returned
  std::atomic<bool> abandon{false};   // the drain deadline passed: requests still running are cancelled
  std::mutex mu;
  std::condition_variable idle;
  int in_flight = 0;

  // Counts a request from routing until its response is written (a stream's guard lives in its provider).
  struct InFlight {
    Impl& impl;
    explicit InFlight(Impl& i) : impl(i) {
      std::lock_guard<std::mutex> lock(impl.mu);
      ++impl.in_flight;
    }
    ~InFlight() {
      std::lock_guard<std::mutex> lock(impl.mu);
      if (--impl.in_flight == 0) impl.idle.notify_all();
    }
  };
  using Guard = std::shared_ptr<InFlight>;
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, const Guard&)>;

  Impl(const ModelSet& m, ServerOptions o) : models(m), options(std::move(o)) {
    http.set_tcp_nodelay(true);  // SSE chunks are small and latency-bound: no Nagle delay
    http.set_payload_max_length(options.max_body_bytes);
    const size_t threads = size_t(std::max(1, options.http_threads));
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return pre_route(req, res);
    });
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) { on_error(req, res); });
    add_routes();
  }

  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Request-Id", request_id(req));
    if (draining.load()) {
      res.set_header("Connection", "close");
      send_error(res, 503, "the server is shutting down");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!options.api_key.empty() && (req.path.rfind("/v1/", 0) == 0 || req.path == "/rerank")) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const bool ok = auth.rfind(prefix, 0) == 0 && constant_time_equal(auth.substr(prefix.size()), options.api_key);
      if (!ok) {
        send_error(res, 401,
                   auth.empty() ? "missing API key: send Authorization: Bearer <key>" : "incorrect API key provided",
                   "", "invalid_api_key");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  // httplib's own error responses (no route, body over the limit, a malformed request) get OpenAI's shape too;
  // responses that already have a body are ours and stay as they are.
  void on_error(const httplib::Request& req, httplib::Response& res) {
    // Errors httplib raises before routing (413, a malformed request) have not been through pre_route.
    if (!res.has_header("X-Request-Id")) res.set_header("X-Request-Id", request_id(req));
    if (!res.body.empty() || res.is_chunked_content_provider_) return;
    std::string message;
    switch (res.status) {
      case 404: message = fmt::format("no such endpoint: {} {}", req.method, req.path); break;
      case 405: message = fmt::format("method {} is not allowed on {}", req.method, req.path); break;
      case 413: message = fmt::format("the request body is larger than {} bytes (--max-body-bytes)", options.max_body_bytes); break;
      default: message = fmt::format("HTTP error {}", res.status);
    }
    send_error(res, res.status, message);
  }

  // Every route: counted as in flight, errors answered in OpenAI's shape with the status of their kind.
  httplib::Server::Handler wrap(Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      auto guard = std::make_shared<InFlight>(*this);
      try {
        handler(req, res, guard);
      } catch (const ApiError& e) {
        send_error(res, e.status(), e.what(), e.param(), e.code());
      } catch (const Error& e) {
        send_error(res, http_status(e.kind()), e.what());
      } catch (const std::exception& e) {
        send_error(res, 500, fmt::format("internal error: {}", e.what()));
      }
    };
  }

  // Both generation endpoints: whole JSON, or an SSE stream whose provider holds the in-flight guard.
  void answer_generation(DecoderEntry& model, GenerationPlan plan, bool stream, httplib::Response& res,
                         const Guard& guard) {
    if (!stream) {
      send_json(res, 200, run_generation(model, std::move(plan), abandon));
      return;
    }
    // Submitting first means a refusal (busy, bad prompt) is still an ordinary error status.
    auto gen = std::make_shared<GenerationStream>(model, std::move(plan));
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [gen, guard](size_t, httplib::DataSink& sink) {
          std::string out;
          const bool more = gen->next(out, std::chrono::milliseconds(20));
          // A failed write means the client went away: returning false ends the response, and the releaser
          // below cancels the engine jobs.
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (!more) sink.done();
          return true;
        },
        [gen, guard](bool success) {
          if (!success) gen->cancel();
        });
  }

  void add_routes() {
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, {{"status", "ok"}});
    });
    http.Get("/v1/models", wrap([this](const httplib::Request&, httplib::Response& res, const Guard&) {
      Json data = Json::array();
      for (const auto& e : models.entries()) data.push_back(model_object(e->id, e->created));
      send_json(res, 200, {{"object", "list"}, {"data", data}});
    }));
    http.Get(R"(/v1/models/(.+))", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      const ModelEntry& e = models.find(req.matches[1]);
      send_json(res, 200, model_object(e.id, e.created));
    }));
    http.Post("/v1/chat/completions",
              wrap([this](const httplib::Request& req, httplib::Response& res, const Guard& guard) {
                const ChatRequest r = parse_chat_request(req.body);
                DecoderEntry& model = models.decoder(r.model);
                answer_generation(model, plan_chat(model, r, r.model), r.stream, res, guard);
              }));
    http.Post("/v1/completions", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard& guard) {
      const CompletionRequest r = parse_completion_request(req.body);
      DecoderEntry& model = models.decoder(r.model);
      answer_generation(model, plan_completion(model, r, r.model), r.stream, res, guard);
    }));
    http.Post("/v1/embeddings", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      const EmbeddingRequest r = parse_embedding_request(req.body);
      send_json(res, 200, run_embeddings(models.encoder(r.model), r, r.model));
    }));
    // Cohere's and Jina's path, and the bare one TEI and others serve.
    for (const char* path : {"/v1/rerank", "/rerank"})
      http.Post(path, wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
        const RerankRequest r = parse_rerank_request(req.body);
        send_json(res, 200, run_rerank(models.reranker(r.model), r, r.model));
      }));
  }
};

HttpServer::HttpServer(const ModelSet& models, ServerOptions options)
    : impl_(std::make_unique<Impl>(models, std::move(options))) {}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const ServerOptions& o = impl_->options;
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host)
                               : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port <= 0) fail("cannot listen on {}:{} (address in use, or not an address of this machine?)", o.host, o.port);
  return port;
}

void HttpServer::run() {
  impl_->http.listen_after_bind();
  impl_->finished = true;
}

void HttpServer::shutdown() {
  impl_->draining = true;
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    if (!impl_->idle.wait_for(lock, impl_->options.drain_timeout, [&] { return impl_->in_flight == 0; }))
      impl_->abandon = true;  // httplib's stop() ends streams, but joins handlers still waiting for their jobs
  }
  // httplib's stop() does nothing before its accept loop runs; a signal that arrives between bind() and run()
  // must still end it, so wait for the loop (or for run() to have failed and returned).
  while (!impl_->finished) {
    if (impl_->http.is_running()) {
      impl_->http.stop();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace hearth::server
