// hearth serve: an OpenAI-compatible HTTP server over one or more models (docs/server.md).
//
// Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by one waiting thread, so the
// engines' and httplib's threads are never interrupted and the work runs in ordinary code: a stop drains, then
// stops; SIGHUP reads the configuration again and applies it.
//
// The configuration file mirrors the flags (server/config_file.h): its keys become "--key=value" arguments parsed
// after the command line's own by the same option definitions (add_serve_options), skipping the keys the command
// line set. A reload repeats exactly that with the command line kept from the start.
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "cli/command.h"
#include "core/error.h"
#include "server/auth.h"
#include "server/config_file.h"
#include "server/context_service.h"
#include "server/http_server.h"
#include "server/model_set.h"

namespace hearth::cli {
namespace {

struct ServeOptions {
  std::vector<std::string> models;
  std::string models_dir, config, draft, admin_key, memory_budget = "0", log_format = "json";
  std::vector<std::string> api_keys, api_key_files, cors_origins, matryoshka;
  bool quiet = false, embedding = false;
  double rate_limit = 0, rate_burst = 0;
  int read_timeout = 15, keep_alive = 5;
  std::vector<std::string> stack;  // ROLE=NAME
  std::vector<std::string> lora;   // [NAME=]FILE[:SCALE]
  std::string host = "127.0.0.1";
  int port = 8080, threads = 0, parallel = 4, ctx = 0, max_queued = 64, drain_seconds = 30, http_threads = 0;
  int draft_max = 4, budget_wait = 30;
  int64_t idle_ttl = 0;
  size_t max_body_bytes = 8u << 20;
  std::vector<server::ModelSpec> model_tables;  // [[model]] tables of the configuration file
  std::vector<std::string> indexes;  // --index: served and kept current
  std::string context, data_dir;     // --context: injected into chat by default
  int context_k = 6;
};

void add_serve_options(CLI::App& app, ServeOptions& o) {
  app.add_option("-m,--model", o.models,
                 "model file or folder, or ALIAS=PATH (repeatable; id: file name without extension); loaded at start");
  app.add_option("--models-dir", o.models_dir, "folder of models (*.gguf, Hugging Face folders) loaded on first use");
  app.add_option("--config", o.config, "TOML configuration file: its keys are these flags' long names (the command "
                                       "line wins), plus [[model]] and [stack]; SIGHUP reloads it (default, when no "
                                       "model is given: the one `hearth setup` wrote, if any: " +
                                       server::default_config_path() + ")");
  app.add_option("--host", o.host, "address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "port (0: any free port, printed when ready)")->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("-t,--threads", o.threads, "CPU threads of the backend (0 = one per physical core)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--parallel", o.parallel, "sequences each text model runs at once (engine slots)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--ctx", o.ctx, "context per sequence (default: the model's, at most 4096)")->check(CLI::Range(0, 1 << 20));
  app.add_option("--max-queued", o.max_queued, "requests waiting per text model; more are refused with 429")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--draft", o.draft, "draft model (ID or PATH, same vocabulary) for speculative decoding of text models");
  app.add_option("--draft-max", o.draft_max, "tokens the draft guesses per step")->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--idle-ttl", o.idle_ttl, "seconds a model may stay unused before it is unloaded (0: never)")
      ->capture_default_str()->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  app.add_option("--memory-budget", o.memory_budget,
                 "bytes of weights + KV cache the loaded models may hold (e.g. 8G, 512M; 0: no limit); least recently "
                 "used idle models are unloaded to make room")->capture_default_str();
  app.add_flag("--embedding", o.embedding,
               "text models also serve /v1/embeddings from the same loaded weights (pooling: the file's, else the last "
               "token's); a file that declares mean or last pooling (Qwen3-Embedding) always does");
  app.add_option("--budget-wait", o.budget_wait,
                 "seconds a model's load waits for models in use to finish when they hold the memory budget, then 503")
      ->capture_default_str()->check(CLI::Range(0, 3600));
  app.add_option("--lora", o.lora,
                 "run-time LoRA adapter of the text models, [NAME=]FILE[:SCALE] (repeatable): without NAME= applied to "
                 "every request that names none, with NAME= only to requests that ask (\"lora\" field)");
  app.add_option("--stack", o.stack, "ROLE=MODEL: the model a role names (chat, embed, rerank, draft; repeatable)");
  app.add_option("--api-key", o.api_keys, "require Authorization: Bearer KEY on /v1/*, /metrics and /admin/* (repeatable)");
  app.add_option("--api-key-file", o.api_key_files,
                 "file of API keys, one per line ('#' comments, blank lines ignored; repeatable, adds to --api-key)");
  app.add_option("--admin-key", o.admin_key,
                 "the only key /admin/* accepts (also accepted on every other route; alone, it guards only /admin/*)");
  app.add_option("--rate-limit", o.rate_limit, "requests per minute per key (per client address without keys); 0: none")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--rate-burst", o.rate_burst, "requests a key may make at once before --rate-limit applies (default: the rate)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--cors-origin", o.cors_origins, "allow browser requests from ORIGIN (scheme://host[:port], or '*'; repeatable)");
  app.add_option("--log-format", o.log_format, "access log on stderr: json, text or off")->capture_default_str()
      ->check(CLI::IsMember({"json", "text", "off"}));
  app.add_flag("--quiet", o.quiet, "no access log");
  app.add_option("--read-timeout", o.read_timeout, "seconds a request (headers and body) may take to arrive")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  app.add_option("--keep-alive", o.keep_alive, "seconds an idle connection stays open between requests")
      ->capture_default_str()->check(CLI::Range(0, 3600));
  app.add_option("--matryoshka", o.matryoshka,
                 "embedding model id trained for truncated (Matryoshka) embeddings: /v1/embeddings accepts "
                 "dimensions for it (repeatable)");
  app.add_option("--max-body-bytes", o.max_body_bytes, "largest request body (larger: 413)")->capture_default_str();
  app.add_option("--http-threads", o.http_threads, "connections served at once (default: max(16, 4 x slots))")
      ->check(CLI::Range(0, 4096));
  app.add_option("--index", o.indexes,
                 "serve this index (hearth index add): /v1/context/search, and a watcher keeps it current (repeatable)");
  app.add_option("--context", o.context,
                 "inject this index's best excerpts into every chat request (implies --index; a request's "
                 "\"context\": false turns it off)");
  app.add_option("--context-k", o.context_k, "excerpts injected per chat request")->capture_default_str()
      ->check(CLI::Range(1, 50));
  app.add_option("--data-dir", o.data_dir, "folder of the indexes (default: $HEARTH_DATA_DIR, $XDG_DATA_HOME/hearth)");
  app.add_option("--drain-seconds", o.drain_seconds, "on SIGTERM/SIGINT, how long requests in flight may finish")
      ->capture_default_str()->check(CLI::Range(0, 3600));
}

// The arguments the command line gave, rebuilt from what CLI11 parsed: "--name=value" per value.
std::vector<std::string> given_arguments(const CLI::App& app) {
  std::vector<std::string> args;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0 || opt->get_lnames().empty() || opt->get_lnames()[0] == "help") continue;
    for (const std::string& r : opt->results()) args.push_back("--" + opt->get_lnames()[0] + "=" + r);
  }
  return args;
}

std::string argument_name(const std::string& arg) { return arg.substr(2, arg.find('=') - 2); }

void parse_into(CLI::App& app, const std::vector<std::string>& args, const std::string& source) {
  for (CLI::Option* opt : app.get_options()) opt->allow_extra_args(false);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    fail("{}: {}", source, e.what());
  }
}

// The options of the command line and, with --config, of the file for the flags the command line left out.
ServeOptions resolve_options(const std::vector<std::string>& cli_args) {
  ServeOptions given;
  {
    CLI::App app;
    add_serve_options(app, given);
    parse_into(app, cli_args, "command line");
  }
  // With no model and no file named, the configuration `hearth setup` wrote, if there is one.
  if (given.config.empty() && given.models.empty() && given.models_dir.empty()) {
    std::error_code ec;
    if (const std::string path = server::default_config_path(); std::filesystem::is_regular_file(path, ec))
      given.config = path;
  }
  if (given.config.empty()) return given;
  ServeOptions o;
  CLI::App app;
  add_serve_options(app, o);
  const server::ConfigFile file = server::read_config_file(given.config, [&](const std::string& key) {
    return key != "help" && app.get_option_no_throw("--" + key) != nullptr;
  });
  std::set<std::string> on_command_line;
  for (const std::string& a : cli_args) on_command_line.insert(argument_name(a));
  std::vector<std::string> args = cli_args;
  for (const std::string& a : file.args)
    if (!on_command_line.count(argument_name(a))) args.push_back(a);
  parse_into(app, args, given.config);
  o.config = given.config;
  o.model_tables = file.models;
  return o;
}

std::vector<server::ModelSpec> model_specs(const ServeOptions& o) {
  std::vector<server::ModelSpec> specs;
  for (const std::string& m : o.models) specs.push_back(server::parse_model_spec(m));
  specs.insert(specs.end(), o.model_tables.begin(), o.model_tables.end());
  return specs;
}

server::ModelSetOptions model_set_options(const ServeOptions& o) {
  server::ModelSetOptions mo;
  mo.threads = o.threads;
  mo.parallel = o.parallel;
  mo.context = o.ctx;
  mo.max_queued = o.max_queued;
  mo.idle_ttl = o.idle_ttl;
  mo.memory_budget = server::parse_byte_size(o.memory_budget);
  mo.budget_wait_seconds = o.budget_wait;
  mo.draft = o.draft;
  mo.draft_max = o.draft_max;
  mo.lora = o.lora;
  mo.models_dir = o.models_dir;
  mo.embedding = o.embedding;
  for (const std::string& s : o.stack) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) fail("--stack '{}': expected ROLE=MODEL", s);
    mo.stack[s.substr(0, eq)] = s.substr(eq + 1);
  }
  // Tests only: makes every model load slowly, so that a test sees the server listening before it is ready.
  if (const char* delay = std::getenv("HEARTH_TEST_LOAD_DELAY_MS")) {
    const int ms = std::atoi(delay);
    mo.before_load = [ms](const std::string&) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  }
  return mo;
}

server::ServerOptions server_options(const ServeOptions& o, size_t n_models) {
  server::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_keys = o.api_keys;
  for (const std::string& f : o.api_key_files)  // read again on every reload, so a changed key file takes effect
    for (std::string& k : server::read_key_file(f)) so.api_keys.push_back(std::move(k));
  so.admin_key = o.admin_key;
  so.rate_limit = o.rate_limit;
  so.rate_burst = o.rate_burst;
  so.cors_origins = o.cors_origins;
  so.matryoshka = o.matryoshka;
  so.log_format = o.quiet ? server::LogFormat::kOff : server::parse_log_format(o.log_format);
  so.read_timeout = std::chrono::seconds(o.read_timeout);
  so.keep_alive_timeout = std::chrono::seconds(o.keep_alive);
  so.max_body_bytes = o.max_body_bytes;
  // A streaming request holds an HTTP thread until it ends: room for every engine slot of every model, and more
  // for the requests queued behind them and quick calls (health, models) beside them.
  so.http_threads = o.http_threads > 0 ? o.http_threads
                                       : std::clamp(4 * o.parallel * int(n_models), 16, 1024);
  so.drain_timeout = std::chrono::seconds(o.drain_seconds);
  return so;
}

// SIGHUP: the configuration file (and the models folder) read again. A bad one changes nothing.
void reload(const std::vector<std::string>& cli_args, const ServeOptions& started, server::ModelSet& models,
            server::HttpServer& http) {
  try {
    const ServeOptions o = resolve_options(cli_args);
    const server::ModelSetOptions mo = model_set_options(o);  // checks the budget and the stack first
    models.reconfigure(model_specs(o), mo);
    http.reload(server_options(o, models.list().size()));
    std::vector<std::string> later;
    if (o.host != started.host) later.push_back("host");
    if (o.port != started.port) later.push_back("port");
    if (o.threads != started.threads) later.push_back("threads");
    if (o.http_threads != started.http_threads) later.push_back("http-threads");
    if (o.max_body_bytes != started.max_body_bytes) later.push_back("max-body-bytes");
    if (o.read_timeout != started.read_timeout) later.push_back("read-timeout");
    if (o.keep_alive != started.keep_alive) later.push_back("keep-alive");
    if (o.log_format != started.log_format || o.quiet != started.quiet) later.push_back("log-format");
    std::string note;
    for (const std::string& k : later) note += (note.empty() ? "; " : ", ") + k;
    fmt::print(stderr, "hearth: configuration reloaded ({} models){}\n", models.list().size(),
               note.empty() ? "" : note + ": unchanged until a restart");
    http.admin_state().record_reload(true);
  } catch (const std::exception& e) {
    fmt::print(stderr, "hearth: configuration reload failed, keeping the old one: {}\n", e.what());
    http.admin_state().record_reload(false, e.what());
  }
  std::fflush(stderr);
}

int run_serve(const std::vector<std::string>& cli_args) {
  // Before any thread exists, so every thread inherits the mask. SIGPIPE: a client that went away is a failed
  // write, not the end of the server.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const ServeOptions o = resolve_options(cli_args);
  if (!o.config.empty()) fmt::print(stderr, "hearth: configuration {}\n", o.config);
  // Registering checks ids, names, paths and the stack: a bad model list fails here, before listening.
  server::ModelSet models(model_specs(o), model_set_options(o));
  std::unique_ptr<server::ContextService> context;
  if (!o.indexes.empty() || !o.context.empty()) {
    server::ContextServiceOptions co;
    co.indexes = o.indexes;
    if (!o.context.empty()) co.indexes.push_back(o.context);
    co.inject = o.context;
    co.data_dir = o.data_dir;
    co.k = o.context_k;
    co.threads = o.threads;
    context = std::make_unique<server::ContextService>(co);
    for (const std::string& name : context->names()) fmt::print(stderr, "hearth: index '{}'{}\n", name,
                                                               name == o.context ? " (injected into chat)" : "");
  }
  server::HttpServer http(models, server_options(o, models.list().size()), context.get());
  http.admin_state().set_config_path(o.config);
  const int port = http.bind();

  std::atomic<int> exit_code{0};
  std::atomic<bool> stopping{false};
  std::thread waiter([&] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        if (!stopping) reload(cli_args, o, models, http);
        continue;
      }
      if (!stopping.exchange(true))
        fmt::print(stderr, "hearth: {} received, finishing requests in flight (at most {} s)\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM", o.drain_seconds);
      http.shutdown();
      return;
    }
  });
  // The models given with -m (and [[model]] tables) load while the socket already listens: /health says 503
  // until they have, and requests for them wait for their load.
  std::thread loader([&] {
    try {
      models.preload();
      fmt::print(stderr, "hearth: ready\n");
    } catch (const std::exception& e) {
      fmt::print(stderr, "hearth: error: {}\n", e.what());
      exit_code = 1;
      stopping = true;
      http.shutdown();
    }
  });
  for (const server::ModelInfo& m : models.list())
    fmt::print(stderr, "hearth: model '{}' ({}{})\n", m.id, m.path, m.preload ? "" : ", loaded on first use");
  // The one line on stdout, once the socket accepts connections: scripts and tests wait for it.
  fmt::print("hearth: listening on http://{}:{}\n", o.host, port);
  std::fflush(stdout);
  http.run();
  loader.join();
  // run() also returns if listening failed or a model failed to load; the waiter still needs its signal to end.
  if (waiter.joinable()) {
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }
  return exit_code;
}

CommandRegistration reg({"serve"}, "Serve models over an OpenAI-compatible HTTP API", [](CLI::App& app) {
  // The options parsed here are only checked: the run parses the given arguments again with the configuration
  // file's (resolve_options), as a reload does. They must outlive the parse, hence the capture.
  auto checked = std::make_shared<ServeOptions>();
  add_serve_options(app, *checked);
  CLI::App* self = &app;
  return [self, checked] { return run_serve(given_arguments(*self)); };
});

}  // namespace
}  // namespace hearth::cli
