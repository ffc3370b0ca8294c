// hearth serve: an OpenAI-compatible HTTP server over one or more models (docs/server.md).
//
// Signals: SIGINT and SIGTERM are blocked in every thread and taken by one waiting thread, so the engines'
// and httplib's threads are never interrupted and the shutdown runs in ordinary code (drain, then stop).
#include <fmt/format.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "cli/command.h"
#include "core/error.h"
#include "server/http_server.h"
#include "server/model_set.h"

namespace hearth::cli {
namespace {

struct ServeOptions {
  std::vector<std::string> models;
  std::string host = "127.0.0.1";
  int port = 8080, threads = 0, parallel = 4, ctx = 0, max_queued = 64, drain_seconds = 30, http_threads = 0;
  std::string api_key;
  size_t max_body_bytes = 8u << 20;
};

int run_serve(const ServeOptions& o) {
  // Before any thread exists, so every thread inherits the mask. SIGPIPE: a client that went away is a failed
  // write, not the end of the server.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<server::ModelSpec> specs;
  for (const std::string& m : o.models) specs.push_back(server::parse_model_spec(m));
  server::ModelSetOptions mo;
  mo.threads = o.threads;
  mo.parallel = o.parallel;
  mo.context = o.ctx;
  mo.max_queued = o.max_queued;
  const server::ModelSet models(specs, mo);

  server::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_key = o.api_key;
  so.max_body_bytes = o.max_body_bytes;
  // A streaming request holds an HTTP thread until it ends: room for every engine slot of every model, and more
  // for the requests queued behind them and quick calls (health, models) beside them.
  so.http_threads = o.http_threads > 0 ? o.http_threads : std::max(16, 4 * o.parallel * int(specs.size()));
  so.drain_timeout = std::chrono::seconds(o.drain_seconds);
  server::HttpServer http(models, so);
  const int port = http.bind();

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    fmt::print(stderr, "hearth: {} received, finishing requests in flight (at most {} s)\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", o.drain_seconds);
    http.shutdown();
  });
  for (const auto& e : models.entries())
    fmt::print(stderr, "hearth: model '{}' ({})\n", e->id,
               e->decoder ? "text generation" : e->reranker ? "reranking: a cross-encoder" : "embeddings");
  // The one line on stdout, once the socket accepts connections: scripts and tests wait for it.
  fmt::print("hearth: listening on http://{}:{}\n", o.host, port);
  std::fflush(stdout);
  http.run();
  // run() also returns if listening failed; the waiter still needs its signal to end.
  if (waiter.joinable()) {
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }
  return 0;
}

CommandRegistration reg({"serve"}, "Serve models over an OpenAI-compatible HTTP API", [](CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  app.add_option("-m,--model", o->models, "model file or folder, or ALIAS=PATH (repeatable; id: file name without extension)")
      ->required();
  app.add_option("--host", o->host, "address to listen on")->capture_default_str();
  app.add_option("--port", o->port, "port (0: any free port, printed when ready)")->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("-t,--threads", o->threads, "CPU threads of the backend (0 = one per physical core)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--parallel", o->parallel, "sequences each text model runs at once (engine slots)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--ctx", o->ctx, "context per sequence (default: the model's, at most 4096)")->check(CLI::Range(0, 1 << 20));
  app.add_option("--max-queued", o->max_queued, "requests waiting per text model; more are refused with 429")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--api-key", o->api_key, "require Authorization: Bearer KEY on /v1/ endpoints and /rerank");
  app.add_option("--max-body-bytes", o->max_body_bytes, "largest request body (larger: 413)")->capture_default_str();
  app.add_option("--http-threads", o->http_threads, "connections served at once (default: max(16, 4 x slots))")
      ->check(CLI::Range(0, 4096));
  app.add_option("--drain-seconds", o->drain_seconds, "on SIGTERM/SIGINT, how long requests in flight may finish")
      ->capture_default_str()->check(CLI::Range(0, 3600));
  return [o] { return run_serve(*o); };
});

}  // namespace
}  // namespace hearth::cli
