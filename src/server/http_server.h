// The HTTP side of `hearth serve`: routes, API keys and rate limits, CORS, request ids, body limit, metrics,
// access logs, connection handling (read deadlines against slow clients, cancellation when a client goes away),
// and a graceful stop. httplib stays inside http_server.cpp; everything it calls (request parsing, generation,
// embeddings, response shapes, keys, metrics, log lines) is plain C++ that the tests and the fuzzer drive
// without a socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "server/access_log.h"
#include "server/admin.h"
#include "server/model_set.h"

namespace hearth::server {

class ContextService;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (bind() says which)
  // Non-empty: /v1/*, /metrics and /admin/* need "Authorization: Bearer <key>" with one of them (--api-key,
  // --api-key-file).
  std::vector<std::string> api_keys;
  std::string admin_key;                 // non-empty: the only key /admin/* accepts (it is accepted elsewhere too)
  double rate_limit = 0;                 // requests per minute per key (per client address without keys); 0: none
  double rate_burst = 0;                 // requests at once before the limit applies (0: rate_limit)
  std::vector<std::string> cors_origins;  // empty: no CORS headers at all; "*": any origin
  LogFormat log_format = LogFormat::kJson;  // the access log on stderr (kOff: none)
  size_t max_body_bytes = 8u << 20;      // larger bodies get 413
  int http_threads = 16;                 // connections served at once (a streaming request holds one)
  // A request (line, headers and body) must arrive within this; for a connection's first request it counts from
  // the accept. A client slower than that (slowloris) is cut off, so it holds a thread at most this long.
  std::chrono::seconds read_timeout{15};
  std::chrono::seconds keep_alive_timeout{5};  // an idle connection between requests is closed after this
  size_t keep_alive_max_requests = 100;  // requests per connection
  std::chrono::seconds drain_timeout{30};  // shutdown(): how long in-flight requests may still run
  std::vector<std::string> matryoshka;   // model ids trained for truncated embeddings (/v1/embeddings dimensions)
};

class HttpServer {
 public:
  // Error (kInvalidArgument) for options that cannot work (an empty key, a CORS origin with a path). `context`
  // (the indexes of --index, optional) must outlive the server; without it the context routes answer 404.
  HttpServer(ModelSet& models, ServerOptions options, ContextService* context = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port. Error (kInvalidArgument) when the address cannot be bound.
  int bind();
  // Serves until shutdown(); call after bind().
  void run();
  // Any thread: new requests get 503 at once, requests in flight (streams included) may finish until the drain
  // timeout, then the listener stops and run() returns. (httplib ends open streams when it stops, so the drain
  // must come first.)
  void shutdown();

  // GET /metrics' body (Prometheus text format 0.0.4).
  std::string metrics_text() const;
  // Any thread (SIGHUP): the keys and the drain timeout take effect for the next request; requests in flight and
  // open connections go on. host, port, http_threads and max_body_bytes stay as the server started.
  void reload(const ServerOptions& options);
  // The process's state the admin API reports (uptime, configuration reloads).
  AdminState& admin_state();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Equal strings in time that depends only on their lengths, not on where they differ.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace hearth::server
