#include "server/http_server.h"

#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "server/admin.h"
#include "server/context_service.h"
#include "server/api_error.h"
#include "server/auth.h"
#include "server/cors.h"
#include "server/embeddings.h"
#include "server/generation.h"
#include "server/metrics.h"
#include "server/rerank.h"
#include "server/request.h"
#include "server/responses.h"
#include "server/web_ui.h"

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

using Clock = std::chrono::steady_clock;
constexpr const char* kJson = "application/json";

// ---- What the metrics read from the models ----

// The one place that knows how ModelSet holds its engines: the metrics see a model through this view only, so a
// ModelSet that loads lazily or leases its models changes this function and nothing else.
struct ModelView {
  const std::string& id;
  const Engine* engine = nullptr;         // text generation
  const EmbedBatcher* batcher = nullptr;  // embeddings
};

void for_each_loaded_model(const ModelSet& models, const std::function<void(const ModelView&)>& fn) {
  models.for_each_loaded([&](const std::string& id, const DecoderEntry* d, const EncoderEntry* e) {
    fn({id, d ? d->engine.get() : nullptr, e ? e->batcher.get() : nullptr});
  });
}

// ---- The metrics of the server ----

const std::vector<double> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

std::vector<double> size_buckets() {  // 1, 2, 4, ..., 4096: EngineStats' step size buckets
  std::vector<double> b;
  for (int i = 0; i + 1 < EngineStats::kSizeBuckets; ++i) b.push_back(double(uint64_t(1) << i));
  return b;
}

struct ServerMetrics {
  Registry registry;
  Counter& requests = registry.counter("hearth_http_requests_total", "HTTP requests answered, by endpoint, model and status.",
                                       {"endpoint", "model", "status"});
  Histogram& request_seconds = registry.histogram(
      "hearth_http_request_duration_seconds",
      "Time from a request's headers to the end of its response (a stream's last event), by endpoint, model and status.",
      {"endpoint", "model", "status"}, kLatencyBuckets);
  Gauge& in_flight = registry.gauge("hearth_http_requests_in_flight", "Requests being answered now.");
  Counter& rate_limited = registry.counter("hearth_rate_limited_total",
                                           "Requests refused by the per-key rate limit (429, code rate_limit_exceeded).");
  Histogram& ttft = registry.histogram("hearth_time_to_first_token_seconds",
                                       "Time from a generation request's headers to its first piece of text, by model.",
                                       {"model"}, kLatencyBuckets);
  Counter& prompt_tokens = registry.counter("hearth_tokens_prompt_total", "Prompt tokens of answered requests, by model.", {"model"});
  Counter& generated_tokens = registry.counter("hearth_tokens_generated_total",
                                               "Tokens generated for answered requests, by model.", {"model"});
  Gauge& queue_depth = registry.gauge(
      "hearth_queue_depth", "Work waiting, by model: requests waiting for an engine slot (text), texts waiting for a batch (embeddings).",
      {"model"});
  Gauge& slots_in_use = registry.gauge("hearth_slots_in_use", "Engine slots holding a sequence, by model.", {"model"});
  Gauge& slots = registry.gauge("hearth_slots", "Engine slots, by model.", {"model"});
  Histogram& batch_tokens = registry.histogram("hearth_batch_tokens", "Tokens run per engine step (decode and prompt), by model.",
                                               {"model"}, size_buckets());
  Histogram& batch_sequences = registry.histogram("hearth_batch_sequences", "Sequences batched per engine step, by model.",
                                                  {"model"}, size_buckets());
  Counter& steps = registry.counter("hearth_engine_steps_total", "Engine steps (forward passes), by model.", {"model"});
  Counter& step_seconds = registry.counter("hearth_engine_step_seconds_total", "Time spent in engine steps, by model.", {"model"});
  Counter& engine_tokens = registry.counter(
      "hearth_engine_tokens_total",
      "Tokens the engine handled, by model and kind: decode (generated), prompt (run), cached (prompt tokens found in the cache).",
      {"model", "kind"});
  Counter& preemptions = registry.counter("hearth_engine_preemptions_total", "Sequences preempted, by model.", {"model"});
  Counter& embed_texts = registry.counter("hearth_embedding_texts_total", "Texts embedded through the batcher, by model.", {"model"});
  Counter& embed_batches = registry.counter("hearth_embedding_batches_total", "Embedding batches run, by model.", {"model"});
  Gauge& models_loaded = registry.gauge("hearth_models_loaded", "Models loaded.");
  Gauge& rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.");

  // Scrape time: what the models and the process say now.
  void collect(const ModelSet& models, int requests_in_flight) {
    queue_depth.clear();
    slots_in_use.clear();
    slots.clear();
    int loaded = 0;
    for_each_loaded_model(models, [&](const ModelView& m) {
      ++loaded;
      if (m.engine) {
        const EngineStats s = m.engine->stats();
        queue_depth.set({m.id}, double(s.queued));
        slots_in_use.set({m.id}, double(s.running));
        slots.set({m.id}, m.engine->options().slots);
        batch_tokens.set({m.id}, {s.step_tokens.begin(), s.step_tokens.end()}, double(s.decode_tokens + s.prompt_tokens));
        batch_sequences.set({m.id}, {s.step_sequences.begin(), s.step_sequences.end()}, double(s.batched_sequences));
        steps.set({m.id}, double(s.steps));
        step_seconds.set({m.id}, s.step_seconds);
        engine_tokens.set({m.id, "decode"}, double(s.decode_tokens));
        engine_tokens.set({m.id, "prompt"}, double(s.prompt_tokens));
        engine_tokens.set({m.id, "cached"}, double(s.cached_prompt_tokens));
        preemptions.set({m.id}, double(s.preemptions));
      }
      if (m.batcher) {
        const EmbedBatcherStats s = m.batcher->stats();
        queue_depth.set({m.id}, double(s.queued_texts));
        embed_texts.set({m.id}, double(s.texts));
        embed_batches.set({m.id}, double(s.batches));
      }
    });
    models_loaded.set({}, loaded);
    rss.set({}, double(resident_memory_bytes()));
    in_flight.set({}, requests_in_flight);
  }
};

// The endpoint label of a path: the route, never the raw path (ids and junk paths would make label sets
// without bound).
std::string endpoint_label(const std::string& path) {
  for (const char* p : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/rerank", "/v1/models",
                        "/health", "/metrics"})
    if (path == p) return p;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  if (path.rfind("/admin/", 0) == 0) return "/admin/*";
  return "other";
}

const char* priority_name(RequestPriority p) {
  return p == RequestPriority::kBackground ? "background" : "interactive";
}

// ---- Per connection and per request state ----

// Every step of a request (pre-routing, the handler, a stream's provider, the logger) runs on the thread that
// serves its connection, one request after the other: thread-local state is the current request's.
struct Exchange {
  int sock = -1;
  bool close_after = false;  // answer, then close the connection
  bool drain = false;        // ... after reading what is left of a request body that was not read
  bool routed = false;       // pre-routing saw it
  bool logged = false;
  Clock::time_point start;   // when its headers had arrived
  std::string request_id, endpoint, method, path, model, key, priority, client;
  std::shared_ptr<GenerationProgress> progress;
  int tokens_in = -1, tokens_out = -1;
};
thread_local Exchange tl_exchange;
thread_local Clock::time_point tl_accepted{};  // when the current connection was accepted (set by the pool)

// httplib's pool, noting when each connection was accepted: a connection that waited in the queue has used that
// time from its read deadline.
class AcceptTimedPool : public httplib::ThreadPool {
 public:
  explicit AcceptTimedPool(size_t n) : ThreadPool(n) {}
  void enqueue(std::function<void()> fn) override {
    ThreadPool::enqueue([fn = std::move(fn), at = Clock::now()] {
      tl_accepted = at;
      fn();
    });
  }
};

int poll_one(int sock, short events, int timeout_ms, short* revents) {
  pollfd p{sock, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  *revents = r > 0 ? p.revents : 0;
  return r;
}

// The peer closed the connection (or it broke). A request's body has been read by then, so what is left to read
// is a pipelined request at most, never an end of file from a client still waiting.
bool peer_closed(int sock) {
  short ev = 0;
  return poll_one(sock, POLLRDHUP, 0, &ev) > 0 && (ev & (POLLRDHUP | POLLHUP | POLLERR));
}

int ms_until(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return int(std::clamp<int64_t>(ms, 0, 1 << 30));
}

// httplib's Stream over a connection, with a read deadline: a read that would have to wait past it fails (bytes
// already there are still read), however the client trickles them. Writes wait at most the write timeout.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int sock, std::chrono::milliseconds write_timeout) : sock_(sock), write_timeout_(write_timeout) {}
  void set_deadline(Clock::time_point t) { deadline_ = t; }
  bool buffered() const { return off_ < len_; }

  bool is_readable() const override {
    short ev = 0;
    return buffered() || (poll_one(sock_, POLLIN, ms_until(deadline_), &ev) > 0 && (ev & POLLIN));
  }
  bool is_writable() const override {
    short ev = 0;
    return poll_one(sock_, POLLOUT | POLLRDHUP, int(write_timeout_.count()), &ev) > 0 && (ev & POLLOUT) &&
           !(ev & (POLLRDHUP | POLLHUP | POLLERR));
  }
  ssize_t read(char* ptr, size_t size) override {
    if (buffered()) return take(ptr, size);
    if (!is_readable()) return -1;
    if (size >= sizeof buf_) return recv_some(ptr, size);
    const ssize_t n = recv_some(buf_, sizeof buf_);
    if (n <= 0) return n;
    off_ = 0;
    len_ = size_t(n);
    return take(ptr, size);
  }
  ssize_t write(const char* ptr, size_t size) override {
    short ev = 0;
    if (poll_one(sock_, POLLOUT, int(write_timeout_.count()), &ev) <= 0 || !(ev & POLLOUT)) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  ssize_t take(char* ptr, size_t size) {
    const size_t n = std::min(size, len_ - off_);
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return ssize_t(n);
  }
  ssize_t recv_some(char* ptr, size_t size) {
    ssize_t n;
    do {
      n = ::recv(sock_, ptr, size, 0);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : n;
  }
  void address(bool peer, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int r = peer ? ::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len)
                       : ::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len);
    if (r != 0) return;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                      NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      return;
    ip = host;
    port = std::atoi(serv);
  }

  const int sock_;
  const std::chrono::milliseconds write_timeout_;
  Clock::time_point deadline_ = Clock::time_point::max();
  char buf_[4096];
  size_t off_ = 0, len_ = 0;
};

// httplib's server with our connection loop: read deadlines per request, keep-alive bounds, closing after an
// answer that left a body unread (with a short drain so that the client still reads the answer), and the
// request's thread-local state.
class Server : public httplib::Server {
 public:
  Clock::duration read_timeout = std::chrono::seconds(15);
  Clock::duration keep_alive_timeout = std::chrono::seconds(5);
  size_t keep_alive_max = 100;
  std::chrono::milliseconds write_timeout{std::chrono::seconds(5)};
  std::function<void()> on_unlogged;  // a request that reached the routes but whose response never got written

 private:
  // Waits for a request's first byte until `limit` (and past it, for bytes already there); false when the
  // connection closed, nothing came, or the server stops.
  bool wait_for_request(int sock, Clock::time_point limit) {
    for (;;) {
      short ev = 0;
      const int wait = std::min(ms_until(limit), 100);
      if (poll_one(sock, POLLIN, wait, &ev) > 0) return (ev & POLLIN) != 0;
      if (svr_sock_ == INVALID_SOCKET || Clock::now() >= limit) return false;
    }
  }

  // After an answer that left a request body unread, closing at once would reset the connection and could
  // destroy the answer before the client reads it: stop sending, and read (and drop) what still comes for at most
  // two seconds.
  static void drain_and_close(int sock) {
    ::shutdown(sock, SHUT_WR);
    const Clock::time_point limit = Clock::now() + std::chrono::seconds(2);
    static thread_local char sink[65536];
    for (;;) {
      short ev = 0;
      if (poll_one(sock, POLLIN, ms_until(limit), &ev) <= 0) break;
      if (::recv(sock, sink, sizeof sink, 0) <= 0) break;
    }
  }

  bool process_and_close_socket(socket_t sock) override {
    const Clock::time_point accepted = tl_accepted == Clock::time_point{} ? Clock::now() : tl_accepted;
    tl_accepted = {};
    ConnectionStream strm(sock, write_timeout);
    bool ret = false, close_after = false, drain = false;
    for (size_t left = keep_alive_max; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
      const bool first = left == keep_alive_max;
      // The first request must arrive within the read timeout of the accept; later ones may wait for the
      // keep-alive timeout and then get the read timeout.
      const Clock::time_point wait_limit = first ? accepted + read_timeout : Clock::now() + keep_alive_timeout;
      if (!strm.buffered() && !wait_for_request(sock, wait_limit)) break;
      strm.set_deadline(first ? accepted + read_timeout : Clock::now() + read_timeout);
      tl_exchange = Exchange{};
      tl_exchange.sock = sock;
      tl_exchange.start = Clock::now();
      bool closed = false;
      ret = process_request(strm, left == 1, closed, [](httplib::Request&) { tl_exchange.start = Clock::now(); });
      if (tl_exchange.routed && !tl_exchange.logged && on_unlogged) on_unlogged();
      close_after = tl_exchange.close_after;
      drain = tl_exchange.drain;
      tl_exchange = Exchange{};
      if (!ret || closed || close_after) break;
    }
    if (drain) drain_and_close(sock);
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ret;
  }
};

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), kJson);
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& param = "",
                const std::string& code = "") {
  // A 429 says when to come back: the engine's queue drains within seconds (a rate limit sets its own).
  if (status == 429 && !res.has_header("Retry-After")) res.set_header("Retry-After", "1");
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

// A body follows the headers (and is still unread when pre-routing answers).
bool has_body(const httplib::Request& req) {
  return req.has_header("Transfer-Encoding") || std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > 0;
}

bool needs_key(const std::string& path) {
  return path.rfind("/v1/", 0) == 0 || path.rfind("/admin/", 0) == 0 || path == "/metrics" || path == "/rerank";
}

}  // namespace

struct HttpServer::Impl {
  ModelSet& models;
  ContextService* context;  // null: no indexes served
  const ServerOptions options;  // as started; what reload() may change is in the Policy
  // What SIGHUP may change (reload()): keys, rate limit, CORS, the drain timeout, the Matryoshka models. Swapped
  // whole; a request keeps the one it started with.
  struct Policy {
    explicit Policy(const ServerOptions& o)
        : options(o), keys(o.api_keys, o.admin_key), limiter(o.rate_limit, o.rate_burst), cors(o.cors_origins) {}
    const ServerOptions options;
    const KeyRing keys;
    RateLimiter limiter;  // its buckets start full again after a reload
    const CorsPolicy cors;
  };
  mutable std::mutex policy_mu;
  std::shared_ptr<Policy> policy;
  AccessLog access_log;
  ServerMetrics metrics;
  AdminState admin;
  Server http;
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

  int listen_fd = -1;  // the listening socket, once bound

  Impl(ModelSet& m, ServerOptions o, ContextService* c)
      : models(m),
        context(c),
        options(std::move(o)),
        policy(std::make_shared<Policy>(options)),
        access_log(options.log_format) {
    http.set_tcp_nodelay(true);  // SSE chunks are small and latency-bound: no Nagle delay
    http.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd = int(sock);
    });
    http.set_payload_max_length(options.max_body_bytes);
    http.read_timeout = options.read_timeout;
    http.keep_alive_timeout = options.keep_alive_timeout;
    http.keep_alive_max = std::max<size_t>(1, options.keep_alive_max_requests);
    // httplib announces these in its Keep-Alive header; the connection loop above applies them.
    http.set_keep_alive_max_count(http.keep_alive_max);
    http.set_keep_alive_timeout(std::max<time_t>(1, options.keep_alive_timeout.count()));
    const size_t threads = size_t(std::max(1, options.http_threads));
    http.new_task_queue = [threads] { return new AcceptTimedPool(threads); };
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return pre_route(req, res);
    });
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) { on_error(req, res); });
    // A client that asks before sending its body (Expect: 100-continue, as curl does for large bodies) hears at
    // once that it is too large, and sends nothing.
    http.set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) <= options.max_body_bytes)
        return 100;
      res.status = 413;  // httplib says Connection: close itself here
      tl_exchange.close_after = true;
      tl_exchange.drain = true;
      return 413;
    });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) { on_answered(req, res); });
    http.on_unlogged = [this] { log_exchange(499); };
    metrics.registry.add_collector([this] {
      int n;
      {
        std::lock_guard<std::mutex> lock(mu);
        n = in_flight;
      }
      metrics.collect(models, n);
    });
    add_routes();
  }

  std::shared_ptr<Policy> current() const {
    std::lock_guard<std::mutex> lock(policy_mu);
    return policy;
  }

  // Answered here, before the body is read: the rest of the connection is not worth reading.
  httplib::Server::HandlerResponse refuse(const httplib::Request& req, httplib::Response& res, int status,
                                          const std::string& message, const std::string& code = "") {
    // Closing after the answer keeps an unread body from being taken for the next request.
    if (has_body(req) || status == 503) {
      res.set_header("Connection", "close");
      tl_exchange.close_after = true;
      tl_exchange.drain = has_body(req);
    }
    send_error(res, status, message, "", code);
    return httplib::Server::HandlerResponse::Handled;
  }

  // Headers every response gets: its request id, and CORS when configured.
  void decorate(const httplib::Request& req, httplib::Response& res) {
    if (tl_exchange.request_id.empty()) tl_exchange.request_id = request_id(req);
    if (!res.has_header("X-Request-Id")) res.set_header("X-Request-Id", tl_exchange.request_id);
    const CorsPolicy& cors = current()->cors;
    if (cors.enabled() && !res.has_header("Vary") && !res.has_header("Access-Control-Allow-Origin"))
      for (const auto& [k, v] : cors.response_headers(req.get_header_value("Origin"))) res.set_header(k, v);
  }

  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    Exchange& x = tl_exchange;
    x.routed = true;
    x.method = req.method;
    x.path = req.path;
    x.endpoint = endpoint_label(req.path);
    x.client = req.remote_addr;
    const std::shared_ptr<Policy> p = current();
    const CorsPolicy& cors = p->cors;
    const KeyRing& keys = p->keys;
    const std::string origin = req.get_header_value("Origin");
    // A browser's preflight: answered before the key check (browsers send no credentials with it).
    if (cors.enabled() && req.method == "OPTIONS" && req.has_header("Access-Control-Request-Method")) {
      x.request_id = request_id(req);
      res.set_header("X-Request-Id", x.request_id);
      if (!cors.allows(origin)) {
        for (const auto& [k, v] : cors.response_headers(origin)) res.set_header(k, v);
        return refuse(req, res, 403, fmt::format("the origin '{}' is not allowed (--cors-origin)", origin.substr(0, 200)),
                      "origin_not_allowed");
      }
      for (const auto& [k, v] : cors.preflight_headers(origin, req.get_header_value("Access-Control-Request-Headers")))
        res.set_header(k, v);
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    decorate(req, res);
    if (draining.load()) return refuse(req, res, 503, "the server is shutting down");
    // /admin/* needs a key when any is set; the other routes when an API key is (an admin key alone guards only
    // the admin routes).
    const bool admin_route = req.path.rfind("/admin/", 0) == 0;
    if (admin_route ? keys.enabled() : keys.has_api_keys() && needs_key(req.path)) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const KeyRing::Match m = keys.check(auth.rfind(prefix, 0) == 0 ? std::string_view(auth).substr(prefix.size())
                                                                     : std::string_view());
      if (!m.ok) {
        res.set_header("WWW-Authenticate", "Bearer");
        return refuse(req, res, 401,
                      auth.empty() ? "missing API key: send Authorization: Bearer <key>" : "incorrect API key provided",
                      "invalid_api_key");
      }
      x.key = m.id;
      if (admin_route && keys.has_admin_key() && !m.admin)
        return refuse(req, res, 403, "this route needs the admin key (--admin-key)", "admin_key_required");
    }
    // A body announced larger than the limit is refused before it is read (httplib would read it all first).
    if (const std::string cl = req.get_header_value("Content-Length");
        !cl.empty() && std::strtoull(cl.c_str(), nullptr, 10) > options.max_body_bytes)
      return refuse(req, res, 413, fmt::format("the request body is larger than {} bytes (--max-body-bytes)", options.max_body_bytes));
    if (p->limiter.enabled() && req.path.rfind("/v1/", 0) == 0) {
      int retry_after = 1;
      if (!p->limiter.take(x.key.empty() ? "address " + req.remote_addr : x.key, Clock::now(), &retry_after)) {
        metrics.rate_limited.add({});
        res.set_header("Retry-After", std::to_string(retry_after));
        return refuse(req, res, 429,
                      fmt::format("rate limit reached: {} requests per minute per {} (--rate-limit); retry in {} s",
                                  p->options.rate_limit, keys.has_api_keys() ? "key" : "client address", retry_after),
                      "rate_limit_exceeded");
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  // httplib's own error responses (no route, body over the limit, a malformed request) get OpenAI's shape too;
  // responses that already have a body are ours and stay as they are.
  void on_error(const httplib::Request& req, httplib::Response& res) {
    // Errors httplib raises before routing (413, a malformed request) have not been through pre_route.
    decorate(req, res);
    if (!res.body.empty() || res.is_chunked_content_provider_) return;
    std::string message;
    switch (res.status) {
      case 404: message = fmt::format("no such endpoint: {} {}", req.method, req.path.substr(0, 200)); break;
      case 405: message = fmt::format("method {} is not allowed on {}", req.method, req.path.substr(0, 200)); break;
      case 413: message = fmt::format("the request body is larger than {} bytes (--max-body-bytes)", options.max_body_bytes); break;
      case 414: message = "the request line is too long"; break;
      case 400: message = "malformed HTTP request (request line, headers, or a body that did not arrive in time)"; break;
      default: message = fmt::format("HTTP error {}", res.status);
    }
    if (res.status == 413 || res.status == 400) {
      res.set_header("Connection", "close");
      tl_exchange.close_after = true;
    }
    send_error(res, res.status, message);
  }

  // The metrics and the access log line of the request just answered.
  void on_answered(const httplib::Request& req, const httplib::Response& res) {
    if (tl_exchange.method.empty()) {  // refused before routing (malformed, too large)
      tl_exchange.method = req.method;
      tl_exchange.path = req.path;
      tl_exchange.endpoint = endpoint_label(req.path);
      tl_exchange.client = req.remote_addr;
    }
    // A stream whose client went away before its end: logged as nginx does, 499 (client closed request).
    log_exchange(res.is_chunked_content_provider_ && !res.content_provider_success_ ? 499 : res.status);
  }

  void log_exchange(int status) {
    Exchange& x = tl_exchange;
    x.logged = true;
    const Clock::time_point now = Clock::now();
    const double seconds = std::chrono::duration<double>(now - x.start).count();
    const std::string code = std::to_string(status);
    if (x.endpoint.empty()) x.endpoint = "other";
    metrics.requests.add({x.endpoint, x.model, code});
    metrics.request_seconds.observe({x.endpoint, x.model, code}, seconds);
    double ttft = -1;
    // Tokens count for requests that ran (answered, or cut short by their client), not for refused ones.
    if (x.progress && (status < 400 || status == 499)) {
      x.tokens_in = x.progress->prompt_tokens;
      x.tokens_out = x.progress->completion_tokens;
      if (const int64_t first = x.progress->first_text_ns.load(); first != 0) {
        ttft = std::max(0.0, double(first - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                x.start.time_since_epoch()).count()) * 1e-9);
        metrics.ttft.observe({x.model}, ttft);
      }
    }
    if (!x.model.empty()) {
      if (x.tokens_in > 0) metrics.prompt_tokens.add({x.model}, x.tokens_in);
      if (x.tokens_out > 0) metrics.generated_tokens.add({x.model}, x.tokens_out);
    }
    if (!access_log.enabled()) return;
    AccessRecord r;
    r.request_id = x.request_id;
    r.method = x.method;
    r.path = x.path.substr(0, 512);
    r.status = status;
    r.duration_ms = seconds * 1000;
    r.ttft_ms = ttft < 0 ? -1 : ttft * 1000;
    r.model = x.model;
    r.tokens_in = x.tokens_in;
    r.tokens_out = x.tokens_out;
    r.client = x.client;
    r.key = x.key;
    r.priority = x.priority;
    access_log.write(r);
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

  RequestPriority priority_of(const httplib::Request& req, RequestPriority field) {
    const RequestPriority p = effective_priority(parse_priority_header(req.get_header_value("X-Priority")), field);
    tl_exchange.priority = priority_name(p);
    return p;
  }

  // Both generation endpoints: whole JSON, or an SSE stream whose provider holds the in-flight guard.
  // The lease on the model is held until the answer is written (a stream's, by the stream).
  void answer_generation(const DecoderLease& model, GenerationPlan plan, bool stream, httplib::Response& res,
                         const Guard& guard) {
    tl_exchange.progress = plan.progress;
    if (!stream) {
      // The client may leave while its request runs: the connection is checked every 20 ms, and the jobs
      // cancelled (their slots freed at the engine's next step) when it has closed.
      const int sock = tl_exchange.sock;
      send_json(res, 200, run_generation(*model, std::move(plan), abandon, [sock] { return sock >= 0 && peer_closed(sock); }));
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
          // A failed write means the client went away (httplib also checks the connection before each call):
          // returning false ends the response, and the releaser below cancels the engine jobs.
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (!more) sink.done();
          return true;
        },
        [gen, guard](bool success) {
          if (!success) gen->cancel();
        });
  }

  // Both generation endpoints once their body is parsed: the model's lease, the plan, the priority, the answer.
  // `prepare(model, request)` may rewrite the request once the model is known and returns the response's
  // context_sources (null for none).
  template <class Request, class Plan, class Prepare>
  void serve_generation(const httplib::Request& req, httplib::Response& res, const Guard& guard, Request r,
                        Plan plan_of, Prepare prepare) {
    const RequestPriority priority = priority_of(req, r.priority);
    const DecoderLease model = models.decoder(r.model);
    tl_exchange.model = model->id;
    Json sources = prepare(*model, r);
    GenerationPlan plan = plan_of(*model, r, model->id);
    plan.header.context_sources = std::move(sources);
    plan.priority = engine_priority(priority);
    answer_generation(model, std::move(plan), r.stream, res, guard);
  }

  void add_routes() {
    // 503 until the models given with -m are loaded (the socket listens while they load).
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      if (models.ready()) send_json(res, 200, {{"status", "ok"}});
      else send_json(res, 503, {{"status", "loading"}});
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_content(metrics.registry.render(), kPrometheusContentType);
    });
    http.Get("/v1/models", wrap([this](const httplib::Request&, httplib::Response& res, const Guard&) {
      send_json(res, 200, models_list_json(models));
    }));
    http.Get(R"(/v1/models/(.+))", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      send_json(res, 200, model_json(models.info(req.matches[1])));
    }));
    http.Post("/v1/chat/completions",
              wrap([this](const httplib::Request& req, httplib::Response& res, const Guard& guard) {
                serve_generation(req, res, guard, parse_chat_request(req.body), plan_chat,
                                 [this](const DecoderEntry& model, ChatRequest& r) -> Json {
                                   if (!context) {
                                     if (r.context.given && r.context.enabled) no_context();
                                     return nullptr;
                                   }
                                   return context->inject(r, *model.session.tokenizer,
                                                          model.engine->options().context);
                                 });
              }));
    http.Post("/v1/completions", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard& guard) {
      serve_generation(req, res, guard, parse_completion_request(req.body), plan_completion,
                       [](const DecoderEntry&, CompletionRequest&) -> Json { return nullptr; });
    }));
    http.Post("/v1/embeddings", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      EmbeddingRequest r = parse_embedding_request(req.body);
      r.priority = priority_of(req, r.priority);
      const EncoderLease model = models.encoder(r.model);
      tl_exchange.model = model->id;
      const auto p = current();
      const bool matryoshka =
          std::find(p->options.matryoshka.begin(), p->options.matryoshka.end(), model->id) != p->options.matryoshka.end();
      const Json body = run_embeddings(*model, r, model->id, matryoshka);
      tl_exchange.tokens_in = body["usage"]["prompt_tokens"].get<int>();
      send_json(res, 200, body);
    }));
    http.Post("/v1/context/search", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      if (!context) no_context();
      send_json(res, 200, context->search(parse_json_body(req.body), models));
    }));
    add_admin_routes();
    add_web_ui_routes(http);
  }

  [[noreturn]] static void no_context() {
    throw ApiError(404, "this server serves no index: start it with --index NAME (see `hearth index add`)", "context",
                   "no_index", ErrorKind::kNotFound);
  }

  // ---- /admin/* (docs/server.md, "Admin API"); pre_route has checked the key ----

  int in_flight_now() {
    std::lock_guard<std::mutex> lock(mu);
    return in_flight;
  }

  void add_admin_routes() {
    http.Get("/admin/status", wrap([this](const httplib::Request&, httplib::Response& res, const Guard&) {
      send_json(res, 200, admin_status(models, admin, in_flight_now()));
    }));
    http.Get("/admin/index/status", wrap([this](const httplib::Request&, httplib::Response& res, const Guard&) {
      if (!context) no_context();
      send_json(res, 200, context->status());
    }));
    http.Post("/admin/index/add", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      if (!context) no_context();
      send_json(res, 202, context->add(parse_json_body(req.body)));
    }));
    http.Post("/admin/index/rm", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      if (!context) no_context();
      send_json(res, 200, context->remove(parse_json_body(req.body)));
    }));
    http.Get("/admin/models", wrap([this](const httplib::Request&, httplib::Response& res, const Guard&) {
      send_json(res, 200, admin_models(models));
    }));
    http.Post("/admin/models/load", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      send_json(res, 200, admin_load(models, req.body));
    }));
    http.Post("/admin/models/unload", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
      send_json(res, 200, admin_unload(models, req.body));
    }));
    // The pull runs in the stream's first call, writing its events as they come; a client that leaves (a failed
    // write) or a drain deadline that passes cancels it.
    http.Post("/admin/models/pull", wrap([this](const httplib::Request& req, httplib::Response& res, const Guard& guard) {
      auto request = std::make_shared<PullRequest>(parse_pull_request(req.body));
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider("text/event-stream", [this, request, guard](size_t, httplib::DataSink& sink) {
        admin_pull(*request, [&](const std::string& event) { return !abandon && sink.write(event.data(), event.size()); });
        sink.done();
        return true;
      });
    }));
    // Cohere's and Jina's path, and the bare one TEI and others serve.
    for (const char* path : {"/v1/rerank", "/rerank"})
      http.Post(path, wrap([this](const httplib::Request& req, httplib::Response& res, const Guard&) {
        const RerankRequest r = parse_rerank_request(req.body);
        const RerankerLease model = models.reranker(r.model);
        tl_exchange.model = model->id;
        const Json body = run_rerank(*model, r, model->id);
        tl_exchange.tokens_in = body["usage"]["prompt_tokens"].get<int>();
        send_json(res, 200, body);
      }));
  }
};

HttpServer::HttpServer(ModelSet& models, ServerOptions options, ContextService* context)
    : impl_(std::make_unique<Impl>(models, std::move(options), context)) {}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const ServerOptions& o = impl_->options;
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host)
                               : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port <= 0) fail("cannot listen on {}:{} (address in use, or not an address of this machine?)", o.host, o.port);
  // Debian's httplib is compiled with a listen backlog of 5: a burst of new connections (32 clients starting at
  // once) overflows it and the dropped SYNs come back a second later. listen() again raises it.
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  return port;
}

void HttpServer::run() {
  impl_->http.listen_after_bind();
  impl_->finished = true;
}

std::string HttpServer::metrics_text() const { return impl_->metrics.registry.render(); }

void HttpServer::shutdown() {
  impl_->draining = true;
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    if (!impl_->idle.wait_for(lock, impl_->current()->options.drain_timeout, [&] { return impl_->in_flight == 0; }))
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

namespace hearth::server {

void HttpServer::reload(const ServerOptions& options) {
  ServerOptions next = impl_->options;  // what only a restart changes stays
  next.api_keys = options.api_keys;
  next.admin_key = options.admin_key;
  next.rate_limit = options.rate_limit;
  next.rate_burst = options.rate_burst;
  next.cors_origins = options.cors_origins;
  next.matryoshka = options.matryoshka;
  next.drain_timeout = options.drain_timeout;
  auto policy = std::make_shared<Impl::Policy>(next);  // throws, keeping the old one, for options that cannot work
  std::lock_guard<std::mutex> lock(impl_->policy_mu);
  impl_->policy = std::move(policy);
}

AdminState& HttpServer::admin_state() { return impl_->admin; }

}  // namespace hearth::server
