// The HTTP side of `hearth serve`: routes, API-key check, request ids, body limit, and a graceful stop.
// httplib stays inside http_server.cpp; everything it calls (request parsing, generation, embeddings, response
// shapes) is plain C++ that the tests and the fuzzer drive without a socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "server/admin.h"
#include "server/model_set.h"

namespace hearth::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (bind() says which)
  std::string api_key;                   // non-empty: /v1/* needs "Authorization: Bearer <key>"
  std::string admin_key;                 // /admin/* needs it when set; else the API key when set; else open
  size_t max_body_bytes = 8u << 20;      // larger bodies get 413
  int http_threads = 16;                 // connections served at once (a streaming request holds one)
  std::chrono::seconds drain_timeout{30};  // shutdown(): how long in-flight requests may still run
};

class HttpServer {
 public:
  HttpServer(ModelSet& models, ServerOptions options);
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

  // Any thread (SIGHUP): the keys and the drain timeout take effect for the next request; requests in flight and
  // open connections go on. host, port, http_threads and max_body_bytes stay as the server started.
  void reload(const ServerOptions& options);
  // The process's state the admin API reports (uptime, configuration reloads).
  AdminState& admin_state();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Equal strings in time that depends only on their lengths, not on where they differ (API keys).
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace hearth::server
