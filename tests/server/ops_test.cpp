// `hearth serve` operations end to end, on the real program with stories260K (text) and bert-dev (embeddings):
// /metrics parsed and its counters moving, API keys from a key file with an admin key, the per-key rate limit
// and its recovery, CORS on and off, X-Request-Id and the JSON access log, priorities (a background flood does
// not raise an interactive request's time to first token past a stated bound), a non-streamed request cancelled
// when its client leaves, slowloris clients, a 100 MB body, deep nesting and invalid UTF-8. Every wait is
// bounded and every server is stopped (ServerProcess). Skipped without ../shared.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include "prometheus_text.h"
#include "server/auth.h"
#include "server_process.h"

namespace hearth::test {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string stories() { return shared_dir() + "/models/stories260K.gguf"; }
std::string bert() { return shared_dir() + "/golden/models/bert-dev.f16.gguf"; }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Reply {
  int status = 0;
  std::string body;
  httplib::Headers headers;
  Json json() const { return Json::parse(body, nullptr, false); }
  std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has_cors_header() const {
    for (const auto& [k, v] : headers)
      if (k.rfind("Access-Control-", 0) == 0) return true;
    return false;
  }
};

Reply call(const ServerProcess& s, const std::string& method, const std::string& path, const std::string& body = "",
           const httplib::Headers& headers = {}, int timeout_s = 60) {
  httplib::Client cli(s.host(), s.port());
  cli.set_read_timeout(std::chrono::seconds(timeout_s));
  cli.set_write_timeout(std::chrono::seconds(timeout_s));
  cli.set_connection_timeout(std::chrono::seconds(10));
  httplib::Result r = method == "GET"       ? cli.Get(path, headers)
                      : method == "OPTIONS" ? cli.Options(path, headers)
                                            : cli.Post(path, headers, body, "application/json");
  if (!r) return {};
  return {r->status, r->body, r->headers};
}

Reply post(const ServerProcess& s, const std::string& path, const Json& body, const httplib::Headers& headers = {}) {
  return call(s, "POST", path, body.dump(), headers);
}

httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

PromText scrape(const ServerProcess& s, const httplib::Headers& headers = {}) {
  const Reply r = call(s, "GET", "/metrics", "", headers);
  PromText p = parse_prometheus_text(r.body);
  if (r.status != 200 && p.error.empty()) p.error = "GET /metrics answered " + std::to_string(r.status);
  return p;
}

Json chat(int max_tokens, uint64_t seed = 1, bool stream = false) {
  Json b = {{"model", "stories260K"},
            {"messages", {{{"role", "user"}, {"content", "Tell me a story about a cat."}}}},
            {"seed", seed},
            {"stream", stream}};
  if (max_tokens > 0) b["max_tokens"] = max_tokens;
  return b;
}

// Polls until `ready` or the deadline; whether it became ready.
bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds limit,
                std::chrono::milliseconds every = std::chrono::milliseconds(10)) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(every);
  }
  return ready();
}

// A raw TCP connection to the server (for clients that misbehave).
int connect_raw(const ServerProcess& s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(s.port()));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The server closed this connection (recv sees the end, or an error), waiting at most `wait_ms`.
bool closed_by_server(int fd, int wait_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, wait_ms) <= 0) return false;
  char buf[4096];
  for (;;) {  // a response (e.g. 400) may come before the end
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

// The access log lines (JSON) of a server's stderr file.
std::vector<Json> json_lines(const std::string& path) {
  std::vector<Json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') out.push_back(Json::parse(line, nullptr, false));
  return out;
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/hearth_ops_" + std::to_string(::getpid()) + "_" + name;
}

class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override { HEARTH_REQUIRE_SHARED(); }
};

TEST_F(OpsTest, MetricsParseAndCountersMove) {
  ServerProcess s({"-m", stories(), "-m", "bert=" + bert(), "--parallel", "2", "--threads", "2", "--quiet"});
  ASSERT_TRUE(s.ready());
  const Reply raw = call(s, "GET", "/metrics");
  ASSERT_EQ(raw.status, 200);
  EXPECT_EQ(raw.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const PromText before = parse_prometheus_text(raw.body);
  ASSERT_EQ(before.error, "") << raw.body;
  const std::map<std::string, std::string> expected_types = {
      {"hearth_http_requests_total", "counter"},       {"hearth_http_request_duration_seconds", "histogram"},
      {"hearth_time_to_first_token_seconds", "histogram"}, {"hearth_tokens_prompt_total", "counter"},
      {"hearth_tokens_generated_total", "counter"},    {"hearth_queue_depth", "gauge"},
      {"hearth_slots_in_use", "gauge"},                {"hearth_batch_tokens", "histogram"},
      {"hearth_batch_sequences", "histogram"},         {"hearth_models_loaded", "gauge"},
      {"process_resident_memory_bytes", "gauge"},      {"hearth_http_requests_in_flight", "gauge"},
      {"hearth_engine_steps_total", "counter"},        {"hearth_rate_limited_total", "counter"}};
  for (const auto& [name, type] : expected_types) {
    ASSERT_TRUE(before.types.count(name)) << name;
    EXPECT_EQ(before.types.at(name), type) << name;
    EXPECT_FALSE(before.help.at(name).empty()) << name;
  }
  EXPECT_EQ(before.sum("hearth_models_loaded"), 2);
  EXPECT_GT(before.sum("process_resident_memory_bytes"), 1 << 20);
  EXPECT_EQ(before.sum("hearth_slots", {{"model", "stories260K"}}), 2);
  EXPECT_TRUE(before.has("hearth_queue_depth"));

  // Two chats (whole and streamed), an embedding, an unknown model.
  const Reply whole = post(s, "/v1/chat/completions", chat(8, 3));
  ASSERT_EQ(whole.status, 200) << whole.body;
  Json sb = chat(8, 4, true);
  sb["stream_options"] = {{"include_usage", true}};
  const Reply streamed = post(s, "/v1/chat/completions", sb);
  ASSERT_EQ(streamed.status, 200);
  Json su;  // the usage chunk: the last event before [DONE]
  for (size_t at = 0; (at = streamed.body.find("data: {", at)) != std::string::npos; ++at) {
    const Json e = Json::parse(streamed.body.substr(at + 6, streamed.body.find('\n', at) - at - 6), nullptr, false);
    if (e.is_object() && e.contains("usage") && e["usage"].is_object()) su = e["usage"];
  }
  ASSERT_TRUE(su.is_object()) << streamed.body;
  ASSERT_EQ(post(s, "/v1/embeddings", {{"model", "bert"}, {"input", {"the cat sat"}}}).status, 200);
  Json missing = chat(8);
  missing["model"] = "no-such-model";
  ASSERT_EQ(post(s, "/v1/chat/completions", missing).status, 404);

  // A request is counted once its response is written, by its connection's thread: any of them may still be on
  // its way into the counters when its client has read it, so wait for all four.
  PromText after;
  const std::map<std::string, std::string> chat_done = {{"endpoint", "/v1/chat/completions"}, {"status", "200"}};
  const std::map<std::string, std::string> embed_done = {{"endpoint", "/v1/embeddings"}, {"status", "200"}};
  EXPECT_TRUE(wait_until([&] {
    after = scrape(s);
    return after.sum("hearth_http_requests_total", {{"status", "404"}}) == 1 &&
           after.sum("hearth_http_requests_total", chat_done) - before.sum("hearth_http_requests_total", chat_done) == 2 &&
           after.sum("hearth_http_requests_total", embed_done) - before.sum("hearth_http_requests_total", embed_done) == 1;
  }, std::chrono::seconds(5)));
  ASSERT_EQ(after.error, "");
  auto delta = [&](const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return after.sum(name, labels) - before.sum(name, labels);
  };
  const std::map<std::string, std::string> chat_ok = {{"endpoint", "/v1/chat/completions"}, {"model", "stories260K"}, {"status", "200"}};
  EXPECT_EQ(delta("hearth_http_requests_total", chat_ok), 2);
  EXPECT_EQ(delta("hearth_http_request_duration_seconds_count", chat_ok), 2);
  EXPECT_GT(delta("hearth_http_request_duration_seconds_sum", chat_ok), 0);
  EXPECT_EQ(delta("hearth_http_requests_total", {{"endpoint", "/v1/embeddings"}, {"model", "bert"}, {"status", "200"}}), 1);
  // An unknown model is not a label value (any string would make a new series): its 404 counts with model "".
  EXPECT_EQ(delta("hearth_http_requests_total", {{"endpoint", "/v1/chat/completions"}, {"model", ""}, {"status", "404"}}), 1);
  EXPECT_EQ(delta("hearth_http_requests_total", {{"model", "no-such-model"}}), 0);
  EXPECT_GE(delta("hearth_http_requests_total", {{"endpoint", "/metrics"}}), 1);  // the first scrape (at least)
  const Json wu = whole.json()["usage"];
  EXPECT_EQ(delta("hearth_tokens_prompt_total", {{"model", "stories260K"}}),
            wu["prompt_tokens"].get<int>() + su["prompt_tokens"].get<int>());
  EXPECT_EQ(delta("hearth_tokens_generated_total", {{"model", "stories260K"}}),
            wu["completion_tokens"].get<int>() + su["completion_tokens"].get<int>());
  EXPECT_EQ(delta("hearth_time_to_first_token_seconds_count", {{"model", "stories260K"}}), 2);
  EXPECT_GT(delta("hearth_engine_steps_total", {{"model", "stories260K"}}), 8);
  EXPECT_EQ(after.sum("hearth_batch_tokens_count", {{"model", "stories260K"}}),
            after.sum("hearth_engine_steps_total", {{"model", "stories260K"}}));
  EXPECT_EQ(after.sum("hearth_batch_sequences_sum", {{"model", "stories260K"}}),
            after.sum("hearth_engine_steps_total", {{"model", "stories260K"}}));  // one sequence per step here
  EXPECT_EQ(delta("hearth_embedding_texts_total", {{"model", "bert"}}), 1);
  EXPECT_EQ(after.sum("hearth_slots_in_use"), 0);
  EXPECT_EQ(after.sum("hearth_http_requests_in_flight"), 0);
  EXPECT_EQ(s.stop(), 0);
}

TEST_F(OpsTest, KeyFileSeveralKeysAndAdminKey) {
  const std::string file = temp_path("keys");
  {
    std::ofstream f(file);
    f << "# production keys\nkey-one-AAAA\n\n  key-two-BBBB  \n# key-retired-CCCC\n";
  }
  ServerProcess s({"-m", stories(), "--api-key-file", file, "--api-key", "key-three-DDDD", "--admin-key", "admin-EEEE", "--quiet"});
  ASSERT_TRUE(s.ready());
  for (const char* k : {"key-one-AAAA", "key-two-BBBB", "key-three-DDDD", "admin-EEEE"})
    EXPECT_EQ(call(s, "GET", "/v1/models", "", bearer(k)).status, 200) << k;
  const Reply none = call(s, "GET", "/v1/models");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(none.json()["error"]["code"], "invalid_api_key");
  for (const char* k : {"key-retired-CCCC", "key-one-AAA", "key-one-AAAAA", "# production keys", ""})
    EXPECT_EQ(call(s, "GET", "/v1/models", "", bearer(k)).status, 401) << k;
  // A refused request with a body is answered without reading it, and the connection is closed.
  const Reply refused = post(s, "/v1/chat/completions", chat(4), bearer("wrong"));
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.header("Connection"), "close");
  EXPECT_EQ(call(s, "GET", "/health").status, 200);
  EXPECT_EQ(call(s, "GET", "/metrics").status, 401);
  EXPECT_EQ(scrape(s, bearer("key-two-BBBB")).error, "");
  // /admin/*: only the admin key.
  EXPECT_EQ(call(s, "GET", "/admin/models").status, 401);
  const Reply not_admin = call(s, "GET", "/admin/models", "", bearer("key-one-AAAA"));
  EXPECT_EQ(not_admin.status, 403);
  EXPECT_EQ(not_admin.json()["error"]["code"], "admin_key_required");
  EXPECT_EQ(call(s, "GET", "/admin/models", "", bearer("admin-EEEE")).status, 200);
  EXPECT_EQ(s.stop(), 0);

  // Without --admin-key, /admin/* takes the API keys.
  ServerProcess t({"-m", stories(), "--api-key", "only", "--quiet"});
  ASSERT_TRUE(t.ready());
  EXPECT_EQ(call(t, "GET", "/admin/models", "", bearer("only")).status, 200);
  EXPECT_EQ(call(t, "GET", "/admin/models", "", bearer("other")).status, 401);
  EXPECT_EQ(t.stop(), 0);

  // A key file without keys is an error before listening.
  {
    std::ofstream f(file);
    f << "# nothing\n";
  }
  ServerProcess bad({"-m", stories(), "--api-key-file", file}, std::chrono::seconds(30));
  EXPECT_FALSE(bad.ready());
  std::remove(file.c_str());
}

TEST_F(OpsTest, RateLimitPerKeyThenRecovery) {
  ServerProcess s({"-m", stories(), "--api-key", "key-a", "--api-key", "key-b", "--rate-limit", "60", "--rate-burst", "2", "--quiet"});
  ASSERT_TRUE(s.ready());
  EXPECT_EQ(call(s, "GET", "/v1/models", "", bearer("key-a")).status, 200);
  EXPECT_EQ(call(s, "GET", "/v1/models", "", bearer("key-a")).status, 200);
  const Reply limited = call(s, "GET", "/v1/models", "", bearer("key-a"));
  const auto limited_at = Clock::now();
  ASSERT_EQ(limited.status, 429);
  EXPECT_EQ(limited.header("Retry-After"), "1");  // one request a second refills in at most a second
  EXPECT_EQ(limited.json()["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(limited.json()["error"]["type"], "rate_limit_error");
  EXPECT_EQ(call(s, "GET", "/v1/models", "", bearer("key-b")).status, 200);  // another key, another bucket
  for (int i = 0; i < 5; ++i) EXPECT_EQ(call(s, "GET", "/health").status, 200);  // outside /v1: not limited
  // Recovery after Retry-After.
  std::this_thread::sleep_until(limited_at + std::chrono::milliseconds(1100));
  EXPECT_EQ(call(s, "GET", "/v1/models", "", bearer("key-a")).status, 200);
  EXPECT_EQ(scrape(s, bearer("key-b")).sum("hearth_rate_limited_total"), 1);
  EXPECT_EQ(s.stop(), 0);

  // Without keys: per client address.
  ServerProcess open({"-m", stories(), "--rate-limit", "6", "--rate-burst", "1", "--quiet"});
  ASSERT_TRUE(open.ready());
  EXPECT_EQ(call(open, "GET", "/v1/models").status, 200);
  const Reply again = call(open, "GET", "/v1/models");
  EXPECT_EQ(again.status, 429);
  EXPECT_EQ(again.header("Retry-After"), "10");
  EXPECT_NE(again.json()["error"]["message"].get<std::string>().find("client address"), std::string::npos);
  EXPECT_EQ(open.stop(), 0);
}

TEST_F(OpsTest, CorsOffByDefaultAndPreflight) {
  const httplib::Headers preflight = {{"Origin", "https://app.example"},
                                      {"Access-Control-Request-Method", "POST"},
                                      {"Access-Control-Request-Headers", "authorization, content-type, x-stainless-os"}};
  {
    ServerProcess s({"-m", stories(), "--quiet"});
    ASSERT_TRUE(s.ready());
    const Reply r = call(s, "GET", "/v1/models", "", {{"Origin", "https://app.example"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.has_cors_header());
    EXPECT_EQ(r.header("Vary"), "");
    const Reply p = call(s, "OPTIONS", "/v1/chat/completions", "", preflight);
    EXPECT_NE(p.status, 204);
    EXPECT_FALSE(p.has_cors_header());
    EXPECT_EQ(s.stop(), 0);
  }
  ServerProcess s({"-m", stories(), "--cors-origin", "https://app.example", "--cors-origin", "http://localhost:5173",
                   "--api-key", "k", "--quiet"});
  ASSERT_TRUE(s.ready());
  const Reply p = call(s, "OPTIONS", "/v1/chat/completions", "", preflight);  // no key: browsers send none
  EXPECT_EQ(p.status, 204);
  EXPECT_EQ(p.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(p.header("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_EQ(p.header("Access-Control-Allow-Headers"), "authorization, content-type, x-stainless-os");
  EXPECT_EQ(p.header("Access-Control-Max-Age"), "600");
  EXPECT_EQ(p.header("Vary"), "Origin");
  httplib::Headers evil = preflight;
  evil.erase("Origin");
  evil.emplace("Origin", "https://evil.example");
  const Reply denied = call(s, "OPTIONS", "/v1/chat/completions", "", evil);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.header("Access-Control-Allow-Origin"), "");
  httplib::Headers actual = bearer("k");
  actual.emplace("Origin", "http://localhost:5173");
  const Reply r = call(s, "GET", "/v1/models", "", actual);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "http://localhost:5173");
  EXPECT_EQ(r.header("Vary"), "Origin");
  EXPECT_NE(r.header("Access-Control-Expose-Headers").find("X-Request-Id"), std::string::npos);
  // Errors carry the headers too, so that browser code can read them.
  const Reply unauthorized = call(s, "GET", "/v1/models", "", {{"Origin", "https://app.example"}});
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_EQ(unauthorized.header("Access-Control-Allow-Origin"), "https://app.example");
  const Reply other = call(s, "GET", "/health", "", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(other.header("Access-Control-Allow-Origin"), "");
  EXPECT_EQ(s.stop(), 0);

  ServerProcess any({"-m", stories(), "--cors-origin", "*", "--quiet"});
  ASSERT_TRUE(any.ready());
  EXPECT_EQ(call(any, "GET", "/health", "", {{"Origin", "https://whoever.example"}}).header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(any.stop(), 0);
}

TEST_F(OpsTest, RequestIdEchoAndJsonAccessLog) {
  const std::string log = temp_path("access.log");
  const std::string key = "sekrit-4f9a-KEY";
  {
    ServerProcess s({"-m", stories(), "--api-key", key}, std::chrono::seconds(120), log);
    ASSERT_TRUE(s.ready());
    httplib::Headers h = bearer(key);
    h.emplace("X-Request-Id", "ops-req-1");
    h.emplace("X-Priority", "background");
    const Reply r = post(s, "/v1/chat/completions", chat(6, 7), h);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Request-Id"), "ops-req-1");
    const Reply made = call(s, "GET", "/health");
    EXPECT_TRUE(std::regex_match(made.header("X-Request-Id"), std::regex("req_[0-9a-f]{16}"))) << made.header("X-Request-Id");
    EXPECT_EQ(call(s, "GET", "/v1/models", "", {{"X-Request-Id", "ops-req-2"}}).header("X-Request-Id"), "ops-req-2");
    // An unusable id (spaces) is replaced.
    EXPECT_NE(call(s, "GET", "/health", "", {{"X-Request-Id", "a b"}}).header("X-Request-Id"), "a b");
    EXPECT_EQ(s.stop(), 0);
  }
  const std::vector<Json> lines = json_lines(log);
  Json chat_line, refused_line;
  for (const Json& j : lines) {
    ASSERT_FALSE(j.is_discarded());
    for (const char* f : {"time", "request_id", "method", "path", "status", "duration_ms", "client", "key"})
      EXPECT_TRUE(j.contains(f)) << f << " in " << j.dump();
    if (j["request_id"] == "ops-req-1") chat_line = j;
    if (j["request_id"] == "ops-req-2") refused_line = j;
  }
  ASSERT_FALSE(chat_line.is_null()) << "no access log line for ops-req-1";
  EXPECT_EQ(chat_line["method"], "POST");
  EXPECT_EQ(chat_line["path"], "/v1/chat/completions");
  EXPECT_EQ(chat_line["status"], 200);
  EXPECT_GE(chat_line["duration_ms"].get<double>(), 0);
  EXPECT_EQ(chat_line["model"], "stories260K");
  EXPECT_GT(chat_line["tokens_in"].get<int>(), 0);
  EXPECT_EQ(chat_line["tokens_out"], 6);
  EXPECT_GE(chat_line["ttft_ms"].get<double>(), 0);
  EXPECT_EQ(chat_line["priority"], "background");
  EXPECT_EQ(chat_line["client"], "127.0.0.1");
  EXPECT_EQ(chat_line["key"], server::key_id(key));
  EXPECT_TRUE(std::regex_match(chat_line["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  ASSERT_FALSE(refused_line.is_null());
  EXPECT_EQ(refused_line["status"], 401);
  EXPECT_TRUE(refused_line["key"].is_null());
  // The key itself never reaches the log.
  std::ifstream in(log);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find(key), std::string::npos);

  // Text lines, and none with --quiet.
  {
    ServerProcess s({"-m", stories(), "--log-format", "text"}, std::chrono::seconds(120), log);
    ASSERT_TRUE(s.ready());
    call(s, "GET", "/health", "", {{"X-Request-Id", "ops-text-1"}});
    EXPECT_EQ(s.stop(), 0);
    std::ifstream t(log);
    const std::string text((std::istreambuf_iterator<char>(t)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find(" ops-text-1 GET /health 200 "), std::string::npos) << text;
  }
  {
    ServerProcess s({"-m", stories(), "--quiet"}, std::chrono::seconds(120), log);
    ASSERT_TRUE(s.ready());
    call(s, "GET", "/health", "", {{"X-Request-Id", "ops-quiet-1"}});
    EXPECT_EQ(s.stop(), 0);
    EXPECT_TRUE(json_lines(log).empty());
  }
  std::remove(log.c_str());
}

// Seconds from sending a streamed request to its first generated text (the role chunk that opens a chat stream
// comes before any token and does not count); < 0 when none came.
double time_to_first_text(const ServerProcess& s, const Json& body, const httplib::Headers& headers = {}) {
  httplib::Client cli(s.host(), s.port());
  cli.set_read_timeout(std::chrono::seconds(60));
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.headers = headers;
  req.set_header("Content-Type", "application/json");
  const auto start = Clock::now();
  double first = -1;
  std::string seen;
  const std::regex text(R"("content":"[^"])");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    seen.append(data, n);
    if (first < 0 && std::regex_search(seen, text)) first = seconds_since(start);
    return true;
  };
  httplib::Response res;
  httplib::Error err;
  cli.send(req, res, err);
  return first;
}

// A flood of background streams, more than the slots, and an interactive request beside it. Its time to first
// text may exceed the same request's on an idle server by at most what the scheduler allows: it arrives during
// at most one step, is admitted at the next step boundary by preempting a background sequence (no slot is free),
// and its prefill runs in the next step beside the background sequences' decode tokens. So the bound is
//   idle time to first text + 2 steps (the mean step under the flood) + 250 ms,
// the 250 ms for the HTTP threads of the flood competing for the CPU on a small machine (they stream a token
// event each step). A background request sent at the same moment waits for the queue ahead of it instead.
TEST_F(OpsTest, BackgroundFloodKeepsInteractiveTimeToFirstTokenBounded) {
  ServerProcess s({"-m", stories(), "--parallel", "2", "--threads", "2", "--http-threads", "64", "--quiet"});
  ASSERT_TRUE(s.ready());
  const Json probe = chat(4, 11, true);
  double idle = 0;
  for (int i = 0; i < 3; ++i) {
    const double t = time_to_first_text(s, probe);
    ASSERT_GE(t, 0);
    idle = std::max(idle, t);
  }

  constexpr int kFlood = 24;
  std::atomic<bool> stop{false};
  std::vector<std::thread> flood;
  for (int i = 0; i < kFlood; ++i)
    flood.emplace_back([&, i] {
      httplib::Client cli(s.host(), s.port());
      cli.set_read_timeout(std::chrono::seconds(60));
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/chat/completions";
      Json b = chat(0, 100 + uint64_t(i), true);  // until the context is full
      if (i % 2) b["priority"] = "background";     // the field, or the header
      else req.set_header("X-Priority", "background");
      req.body = b.dump();
      req.set_header("Content-Type", "application/json");
      req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return !stop.load(); };
      httplib::Response res;
      httplib::Error err;
      cli.send(req, res, err);
    });
  PromText m;
  const bool flooded = wait_until(
      [&] {
        m = scrape(s);
        return m.sum("hearth_slots_in_use", {{"model", "stories260K"}}) == 2 &&
               m.sum("hearth_queue_depth", {{"model", "stories260K"}}) >= kFlood / 2;
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(flooded) << "the flood never filled the queue";
  const double steps0 = m.sum("hearth_engine_steps_total"), seconds0 = m.sum("hearth_engine_step_seconds_total");
  const double preempted0 = m.sum("hearth_engine_preemptions_total");

  // A background request sent now waits behind the flood's queue (it runs once the flood is stopped below).
  Json background_probe = probe;
  background_probe["priority"] = "background";
  auto background_ttft = std::async(std::launch::async, [&] { return time_to_first_text(s, background_probe); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<double> interactive;
  for (int i = 0; i < 3; ++i) interactive.push_back(time_to_first_text(s, probe));
  const double interactive_done = *std::max_element(interactive.begin(), interactive.end());
  m = scrape(s);
  const bool still_flooded = m.sum("hearth_queue_depth", {{"model", "stories260K"}}) > 0;
  const double steps = m.sum("hearth_engine_steps_total") - steps0;
  const double step = steps > 0 ? (m.sum("hearth_engine_step_seconds_total") - seconds0) / steps : 0;
  const double preempted = m.sum("hearth_engine_preemptions_total") - preempted0;
  stop = true;
  for (auto& t : flood) t.join();
  const double background = background_ttft.get();

  const double bound = idle + 2 * step + 0.25;
  std::printf("time to first text: idle %.1f ms; interactive under a flood of %d background streams %.1f / %.1f / "
              "%.1f ms (bound %.1f ms, mean step %.3f ms); a background request sent before them %.1f ms (it waits "
              "behind the flood until the flood is stopped); preemptions %.0f\n",
              idle * 1e3, kFlood, interactive[0] * 1e3, interactive[1] * 1e3, interactive[2] * 1e3, bound * 1e3,
              step * 1e3, background * 1e3, preempted);
  EXPECT_TRUE(still_flooded) << "the flood drained before the probes ended: the test proves nothing";
  for (double t : interactive) {
    EXPECT_GE(t, 0);
    EXPECT_LE(t, bound);
  }
  // Every interactive probe found both slots held by background sequences: it got one by preemption.
  EXPECT_GE(preempted, 1);
  // The background request, sent before them, was still waiting when they had their first text.
  EXPECT_GT(background, interactive_done + 0.05);
  EXPECT_EQ(s.stop(), 0);
}

// A non-streamed request whose client leaves is cancelled: its sequences are freed at the engine's next step
// after the server notices (it looks every 20 ms), and the engine goes idle.
TEST_F(OpsTest, NonStreamedRequestIsCancelledWhenTheClientLeaves) {
  ServerProcess s({"-m", stories(), "--parallel", "2", "--threads", "2", "--quiet"});
  ASSERT_TRUE(s.ready());
  Json body = chat(0, 5);  // until the context is full ...
  body["n"] = 64;          // ... 64 times, two at a time: seconds of work
  const std::string text = body.dump();
  const int fd = connect_raw(s);
  ASSERT_GE(fd, 0);
  const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text;
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
  PromText m;
  ASSERT_TRUE(wait_until([&] {
    m = scrape(s);
    return m.sum("hearth_slots_in_use", {{"model", "stories260K"}}) == 2;
  }, std::chrono::seconds(20)));
  const double decoded_before = m.sum("hearth_engine_tokens_total", {{"kind", "decode"}});
  ::close(fd);
  const auto closed_at = Clock::now();
  const bool freed = wait_until([&] {
    m = scrape(s);
    return m.sum("hearth_slots_in_use", {{"model", "stories260K"}}) == 0 && m.sum("hearth_queue_depth", {{"model", "stories260K"}}) == 0;
  }, std::chrono::seconds(10), std::chrono::milliseconds(5));
  const double freed_after = seconds_since(closed_at);
  ASSERT_TRUE(freed) << "the sequences still run 10 s after the client left";
  // 20 ms to notice, one step to stop, and the scrape itself: well under a second.
  EXPECT_LT(freed_after, 1.0);
  // The engine is idle: no step runs any more.
  const double steps = m.sum("hearth_engine_steps_total");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  m = scrape(s);
  EXPECT_EQ(m.sum("hearth_engine_steps_total"), steps);
  EXPECT_LT(m.sum("hearth_engine_tokens_total", {{"kind", "decode"}}) - decoded_before, 64 * 400);
  std::printf("freed %.1f ms after the client closed\n", freed_after * 1e3);
  // Counted as 499 (client closed request).
  EXPECT_TRUE(wait_until([&] { return scrape(s).sum("hearth_http_requests_total", {{"status", "499"}}) == 1; },
                         std::chrono::seconds(5)));
  EXPECT_EQ(post(s, "/v1/chat/completions", chat(4)).status, 200);
  EXPECT_EQ(s.stop(), 0);
}

// Clients that send their headers a byte a second hold a connection thread each; with more of them than
// threads, another client is still served once their read deadline (--read-timeout) has cut them off.
TEST_F(OpsTest, SlowlorisClientsDoNotStallOthers) {
  ServerProcess s({"-m", stories(), "--http-threads", "2", "--read-timeout", "2", "--quiet"});
  ASSERT_TRUE(s.ready());
  constexpr int kSlow = 6;
  std::vector<int> fds;
  for (int i = 0; i < kSlow; ++i) {
    fds.push_back(connect_raw(s));
    ASSERT_GE(fds.back(), 0);
  }
  std::vector<std::atomic<double>> closed_after(kSlow);
  const auto start = Clock::now();
  std::vector<std::thread> slow;
  for (int i = 0; i < kSlow; ++i)
    slow.emplace_back([&, i] {
      closed_after[i] = -1;
      const std::string trickle = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(100, 'a');
      for (size_t k = 0; k < trickle.size() && seconds_since(start) < 10; ++k) {
        if (::send(fds[i], &trickle[k], 1, MSG_NOSIGNAL) != 1 || closed_by_server(fds[i], 1000)) {
          closed_after[i] = seconds_since(start);
          return;
        }
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto asked = Clock::now();
  const Reply health = call(s, "GET", "/health", "", {}, 30);
  const double waited = seconds_since(asked);
  for (auto& t : slow) t.join();
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(health.status, 200);
  // Queued behind connections that hold both threads until their deadline: at most the read timeout.
  EXPECT_LT(waited, 2 + 1.5);
  for (int i = 0; i < kSlow; ++i) {
    EXPECT_GE(closed_after[i].load(), 0) << "slow connection " << i << " was never closed";
    EXPECT_LT(closed_after[i].load(), 2 + 1.5) << "slow connection " << i;
  }
  std::printf("a normal request waited %.2f s behind %d slowloris connections on 2 threads\n", waited, kSlow);
  EXPECT_EQ(s.stop(), 0);
}

TEST_F(OpsTest, HundredMegabyteBodyIs413WithoutBeingRead) {
  ServerProcess s({"-m", stories(), "--quiet"});
  ASSERT_TRUE(s.ready());
  const double rss0 = scrape(s).sum("process_resident_memory_bytes");
  const std::string big(100u << 20, 'x');
  const auto start = Clock::now();
  const Reply r = call(s, "POST", "/v1/chat/completions", big, {}, 30);
  const double took = seconds_since(start);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("--max-body-bytes"), std::string::npos) << r.body;
  EXPECT_LT(took, 10);
  const double rss1 = scrape(s).sum("process_resident_memory_bytes");
  EXPECT_LT(rss1 - rss0, 32.0 * (1 << 20)) << "the server's memory grew by " << (rss1 - rss0) / (1 << 20) << " MiB";
  // Headers alone are enough for the answer: it comes before the body is sent.
  const int fd = connect_raw(s);
  ASSERT_GE(fd, 0);
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: 104857600\r\n\r\n";
  ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[256] = {};
  ::recv(fd, buf, sizeof buf - 1, 0);
  EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 413", 0), 0u) << buf;
  ::close(fd);
  EXPECT_EQ(post(s, "/v1/chat/completions", chat(4)).status, 200);
  EXPECT_EQ(s.stop(), 0);
}

TEST_F(OpsTest, DeepNestingAndInvalidUtf8AreClearErrors) {
  ServerProcess s({"-m", stories(), "--quiet"});
  ASSERT_TRUE(s.ready());
  const std::string deep = R"({"model":"stories260K","messages":)" + std::string(200000, '[') + std::string(200000, ']') + "}";
  const Reply d = call(s, "POST", "/v1/chat/completions", deep);
  EXPECT_EQ(d.status, 400);
  EXPECT_NE(d.json()["error"]["message"].get<std::string>().find("deeper than 512 levels"), std::string::npos) << d.body;
  const std::string bad = R"({"model":"stories260K","messages":[{"role":"user","content":"caf)" "\xe9" R"("}]})";
  const Reply u = call(s, "POST", "/v1/chat/completions", bad);
  EXPECT_EQ(u.status, 400);
  EXPECT_EQ(u.json()["error"]["param"], "messages[0].content");
  EXPECT_EQ(u.json()["error"]["code"], "invalid_encoding");
  const Reply e = call(s, "POST", "/v1/embeddings", R"({"model":"stories260K","input":[")" "\xff" R"("]})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.json()["error"]["param"], "input[0]");
  EXPECT_EQ(call(s, "POST", "/v1/chat/completions", chat(2).dump(), {{"X-Priority", "urgent"}}).json()["error"]["param"],
            "X-Priority");
  EXPECT_EQ(post(s, "/v1/chat/completions", chat(4)).status, 200);
  EXPECT_EQ(s.stop(), 0);
}

// The official openai npm client meets the rate limit (its RateLimitError, its retry honouring Retry-After),
// request ids and priorities (tests/server/openai_ops.mjs). Skipped without the npm packages.
TEST_F(OpsTest, OpenAIClientSeesRateLimitAndRequestIds) {
  HEARTH_REQUIRE_NODE();
  if (!std::filesystem::exists(node_dir() + "/node_modules/openai")) GTEST_SKIP() << "the openai npm package is absent (make deps)";
  ServerProcess s({"-m", stories(), "--api-key", "js-key", "--rate-limit", "60", "--rate-burst", "1", "--quiet"});
  ASSERT_TRUE(s.ready());
  const std::string cmd = "timeout 120 node '" + source_dir() + "/tests/server/openai_ops.mjs' '" + s.base_url() +
                          "/v1' '" + node_dir() + "' stories260K js-key 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("checks passed"), std::string::npos) << out;
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace hearth::test
