// The operations side of the server without a socket: the Prometheus registry and its text format, SHA-256 and
// API keys, the rate limiter, CORS decisions, access log lines, and the request checks against hostile bodies
// (deep nesting, invalid UTF-8) and the priority field.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <thread>

#include "prometheus_text.h"
#include "server/access_log.h"
#include "server/api_error.h"
#include "server/auth.h"
#include "server/cors.h"
#include "server/metrics.h"
#include "server/request.h"

namespace hearth::server {
namespace {

using test::parse_prometheus_text;

TEST(Metrics, TextFormatAsPrometheusDocumentsIt) {
  Registry r;
  Counter& c = r.counter("demo_requests_total", "Requests.\nSecond line with a \\ backslash.", {"path", "code"});
  Gauge& g = r.gauge("demo_temperature", "A gauge without labels.");
  Histogram& h = r.histogram("demo_latency_seconds", "Latency.", {"path"}, {0.1, 0.5, 1});
  c.add({"/a", "200"});
  c.add({"/a", "200"}, 2);
  c.add({"quote\"back\\slash\nnewline", "500"});
  g.set({}, -3.5);
  h.observe({"/a"}, 0.05);
  h.observe({"/a"}, 0.1);  // on a bound: counted in that bucket (le means <=)
  h.observe({"/a"}, 0.7);
  h.observe({"/a"}, 9);
  const std::string text = r.render();
  EXPECT_NE(text.find("# HELP demo_requests_total Requests.\\nSecond line with a \\\\ backslash.\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE demo_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("demo_requests_total{path=\"/a\",code=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("demo_requests_total{path=\"quote\\\"back\\\\slash\\nnewline\",code=\"500\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE demo_temperature gauge\ndemo_temperature -3.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("demo_latency_seconds_bucket{path=\"/a\",le=\"0.1\"} 2\n"
                      "demo_latency_seconds_bucket{path=\"/a\",le=\"0.5\"} 2\n"
                      "demo_latency_seconds_bucket{path=\"/a\",le=\"1\"} 3\n"
                      "demo_latency_seconds_bucket{path=\"/a\",le=\"+Inf\"} 4\n"
                      "demo_latency_seconds_sum{path=\"/a\"} 9.85\n"
                      "demo_latency_seconds_count{path=\"/a\"} 4\n"),
            std::string::npos)
      << text;
  const auto parsed = parse_prometheus_text(text);
  EXPECT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.sum("demo_requests_total", {{"path", "quote\"back\\slash\nnewline"}}), 1);
  EXPECT_EQ(parsed.types.at("demo_latency_seconds"), "histogram");
  EXPECT_EQ(format_sample_value(INFINITY), "+Inf");
  EXPECT_EQ(format_sample_value(NAN), "NaN");
  EXPECT_EQ(format_sample_value(1e-5), "1e-05");
}

TEST(Metrics, MisuseIsAnError) {
  Registry r;
  Counter& c = r.counter("x_total", "x", {"a"});
  EXPECT_THROW(c.add({"1", "2"}), Error);  // wrong number of label values
  EXPECT_THROW(c.add({"1"}, -1), Error);   // counters only go up
  EXPECT_THROW(r.counter("x_total", "again"), Error);
  EXPECT_THROW(r.histogram("h", "h", {}, {1, 1}), Error);
  EXPECT_THROW(r.histogram("h2", "h", {"le"}, {1}), Error);
}

TEST(Metrics, ConcurrentUpdatesAndCollectors) {
  Registry r;
  Counter& c = r.counter("n_total", "n", {"t"});
  Gauge& g = r.gauge("collected", "set at scrape time");
  int scrapes = 0;
  r.add_collector([&] { g.set({}, ++scrapes); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) c.add({std::to_string(t % 2)});
    });
  for (int i = 0; i < 10; ++i) EXPECT_EQ(parse_prometheus_text(r.render()).error, "");
  for (auto& t : threads) t.join();
  const auto p = parse_prometheus_text(r.render());
  EXPECT_EQ(p.sum("n_total"), 4000);
  EXPECT_EQ(p.sum("collected"), 11);
  EXPECT_GT(resident_memory_bytes(), 1 << 20);
}

TEST(Keys, KeyFileAndRing) {
  const std::string path = ::testing::TempDir() + "/hearth_keys.txt";
  {
    std::ofstream f(path);
    f << "# team keys\n\n  alpha-key-1  \nbeta-key-2\r\n   # indented comment\n";
  }
  const std::vector<std::string> keys = read_key_file(path);
  EXPECT_EQ(keys, (std::vector<std::string>{"alpha-key-1", "beta-key-2"}));
  {
    std::ofstream f(path);
    f << "# nothing but comments\n\n";
  }
  EXPECT_THROW(read_key_file(path), Error);
  EXPECT_THROW(read_key_file(path + ".missing"), Error);
  std::remove(path.c_str());

  const KeyRing ring({"alpha-key-1", "beta-key-2"}, "admin-key");
  EXPECT_TRUE(ring.enabled());
  const KeyRing::Match a = ring.check("alpha-key-1"), b = ring.check("beta-key-2"), adm = ring.check("admin-key");
  EXPECT_TRUE(a.ok && b.ok && adm.ok);
  EXPECT_FALSE(a.admin || b.admin);
  EXPECT_TRUE(adm.admin);
  EXPECT_EQ(a.id, key_id("alpha-key-1"));
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.id.size(), 12u);  // key_ + 8 hex digits
  EXPECT_EQ(a.id.find("alpha"), std::string::npos);
  EXPECT_FALSE(ring.check("alpha-key-").ok);
  EXPECT_FALSE(ring.check("alpha-key-12").ok);
  EXPECT_FALSE(ring.check("").ok);
  EXPECT_FALSE(KeyRing({}, "").enabled());
  EXPECT_THROW(KeyRing({""}, ""), Error);
}

TEST(RateLimit, TokenBucketPerCaller) {
  using namespace std::chrono;
  RateLimiter limiter(60, 2);  // one per second, two at once
  const auto t0 = steady_clock::now();
  int retry = 0;
  EXPECT_TRUE(limiter.take("a", t0, &retry));
  EXPECT_TRUE(limiter.take("a", t0, &retry));
  EXPECT_FALSE(limiter.take("a", t0, &retry));
  EXPECT_EQ(retry, 1);
  EXPECT_TRUE(limiter.take("b", t0, &retry));  // another caller has its own bucket
  EXPECT_FALSE(limiter.take("a", t0 + milliseconds(500), &retry));
  EXPECT_EQ(retry, 1);
  EXPECT_TRUE(limiter.take("a", t0 + milliseconds(1001), &retry));
  EXPECT_FALSE(limiter.take("a", t0 + milliseconds(1001), &retry));

  RateLimiter slow(6, 1);  // one per 10 s
  EXPECT_TRUE(slow.take("k", t0, &retry));
  EXPECT_FALSE(slow.take("k", t0 + seconds(3), &retry));
  EXPECT_EQ(retry, 7);  // the bucket holds 0.3: 7 s until it holds one
  EXPECT_TRUE(RateLimiter(0, 0).take("x", t0, &retry));  // no limit
  // Many callers: the ones whose buckets refilled are forgotten, the limit still holds for the active one.
  RateLimiter many(60, 1);
  for (int i = 0; i < 10000; ++i) many.take("caller" + std::to_string(i), t0 + seconds(i), &retry);
  EXPECT_FALSE(many.take("caller9999", t0 + seconds(9999), &retry));
}

TEST(Cors, OffUnlessConfigured) {
  const CorsPolicy off({});
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.response_headers("https://a.example").empty());

  const CorsPolicy some({"https://a.example", "http://localhost:3000/"});
  EXPECT_TRUE(some.allows("https://a.example"));
  EXPECT_TRUE(some.allows("http://localhost:3000"));
  EXPECT_FALSE(some.allows("https://evil.example"));
  const HeaderList h = some.response_headers("https://a.example");
  EXPECT_NE(std::find(h.begin(), h.end(), std::make_pair(std::string("Access-Control-Allow-Origin"), std::string("https://a.example"))), h.end());
  EXPECT_NE(std::find(h.begin(), h.end(), std::make_pair(std::string("Vary"), std::string("Origin"))), h.end());
  const HeaderList denied = some.response_headers("https://evil.example");
  EXPECT_EQ(denied.size(), 1u);  // Vary only
  const HeaderList pre = some.preflight_headers("https://a.example", "authorization, content-type, x-stainless-os");
  auto value = [](const HeaderList& l, const std::string& k) {
    for (const auto& [a, b] : l)
      if (a == k) return b;
    return std::string();
  };
  EXPECT_EQ(value(pre, "Access-Control-Allow-Headers"), "authorization, content-type, x-stainless-os");
  EXPECT_NE(value(pre, "Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_EQ(value(pre, "Access-Control-Max-Age"), "600");
  // A requested header list that is not a list of names is not echoed.
  EXPECT_EQ(value(some.preflight_headers("https://a.example", "x\r\nSet-Cookie: a=b"), "Access-Control-Allow-Headers"),
            "Authorization, Content-Type, X-Request-Id, X-Priority");

  const CorsPolicy any({"*"});
  EXPECT_TRUE(any.allows("https://whoever.example"));
  EXPECT_EQ(value(any.response_headers("https://whoever.example"), "Access-Control-Allow-Origin"), "*");
  EXPECT_THROW(CorsPolicy({"https://a.example/path"}), Error);
  EXPECT_THROW(CorsPolicy({"a.example"}), Error);
}

TEST(AccessLog, JsonAndTextLines) {
  AccessRecord r;
  r.request_id = "req-1";
  r.method = "POST";
  r.path = "/v1/chat/completions\xff";
  r.status = 200;
  r.duration_ms = 12.34567;
  r.model = "m";
  r.tokens_in = 10;
  r.tokens_out = 5;
  r.ttft_ms = 3.5;
  r.client = "127.0.0.1";
  r.key = "key_0123abcd";
  r.priority = "background";
  const auto when = std::chrono::system_clock::time_point(std::chrono::milliseconds(1767225600123));  // 2026-01-01
  const std::string line = format_access_record(r, LogFormat::kJson, when);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(j["request_id"], "req-1");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["duration_ms"], 12.346);
  EXPECT_EQ(j["tokens_in"], 10);
  EXPECT_EQ(j["tokens_out"], 5);
  EXPECT_EQ(j["key"], "key_0123abcd");
  EXPECT_EQ(j["priority"], "background");
  EXPECT_EQ(j["path"], "/v1/chat/completions\xef\xbf\xbd");  // not UTF-8: replaced, the line still parses
  r.path = "/a b";
  const std::string text = format_access_record(r, LogFormat::kText, when);
  EXPECT_EQ(text, "2026-01-01T00:00:00.123Z req-1 POST /a_b 200 12.3ms model=m in=10 out=5 ttft=3.5ms "
                  "priority=background client=127.0.0.1 key=key_0123abcd\n");
  EXPECT_EQ(format_access_record(r, LogFormat::kOff, when), "");
  EXPECT_THROW(parse_log_format("xml"), Error);
}

std::pair<int, std::string> error_of(std::string_view body) {
  try {
    parse_chat_request(body);
  } catch (const ApiError& e) {
    return {e.status(), e.param()};
  }
  return {0, ""};
}

TEST(HostileBodies, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}],"x":)" + deep + "}";
  EXPECT_EQ(error_of(body).first, 400);
  try {
    parse_chat_request(body);
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("deeper than 512"), std::string::npos) << e.what();
  }
  // Within the limit, an unknown field nested deeply is still ignored.
  const std::string ok = std::string(500, '[') + std::string(500, ']');
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"x":)" + ok + "}").first, 0);
  // Brackets inside strings are text.
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"user","content":")" + std::string(2000, '[') + R"("}]})").first, 0);
  // Embeddings and completions go through the same check.
  EXPECT_THROW(parse_embedding_request(R"({"model":"m","input":)" + deep + "}"), ApiError);
  EXPECT_THROW(parse_completion_request(R"({"model":"m","prompt":)" + deep + "}"), ApiError);
}

TEST(HostileBodies, InvalidUtf8NamesTheField) {
  auto with_content = [](const std::string& content) {
    return R"({"model":"m","messages":[{"role":"system","content":"ok"},{"role":"user","content":")" + content + R"("}]})";
  };
  EXPECT_EQ(error_of(with_content("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")).first, 0);  // é € 😀
  EXPECT_EQ(error_of(with_content("a\xff")), std::make_pair(400, std::string("messages[1].content")));
  EXPECT_EQ(error_of(with_content("\xc0\xaf")).second, "messages[1].content");      // overlong '/'
  EXPECT_EQ(error_of(with_content("\xed\xa0\x80")).second, "messages[1].content");  // a surrogate
  EXPECT_EQ(error_of(with_content("\xf4\x90\x80\x80")).second, "messages[1].content");  // past U+10FFFF
  EXPECT_EQ(error_of(with_content("\xe2\x82")).second, "messages[1].content");      // cut short
  EXPECT_EQ(error_of("{\"model\":\"m\xfe\",\"messages\":[]}").second, "model");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":")" "\x80" R"("}]}]})").second,
            "messages[0].content[0].text");
  try {
    parse_chat_request(with_content("a\xff"));
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("messages[1].content is not valid UTF-8"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), "invalid_encoding");
  }
  // Escaped text is checked by the parser: a lone surrogate escape is invalid JSON.
  EXPECT_EQ(error_of(with_content("\\ud800")).first, 400);
  // Syntax errors say where.
  try {
    parse_chat_request("{\"model\": }");
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON: parse error at line 1, column 11"), std::string::npos) << e.what();
  }
}

TEST(Priority, FieldAndHeader) {
  const std::string base = R"("model":"m","messages":[{"role":"user","content":"hi"}])";
  EXPECT_EQ(parse_chat_request("{" + base + "}").priority, RequestPriority::kUnset);
  EXPECT_EQ(parse_chat_request("{" + base + R"(,"priority":"background"})").priority, RequestPriority::kBackground);
  EXPECT_EQ(parse_chat_request("{" + base + R"(,"priority":"interactive"})").priority, RequestPriority::kInteractive);
  EXPECT_EQ(parse_chat_request("{" + base + R"(,"priority":null})").priority, RequestPriority::kUnset);
  EXPECT_EQ(error_of("{" + base + R"(,"priority":"urgent"})").second, "priority");
  EXPECT_EQ(error_of("{" + base + R"(,"priority":1})").second, "priority");
  EXPECT_EQ(parse_completion_request(R"({"model":"m","prompt":"x","priority":"background"})").priority,
            RequestPriority::kBackground);
  EXPECT_EQ(parse_embedding_request(R"({"model":"m","input":"x","priority":"background"})").priority,
            RequestPriority::kBackground);

  EXPECT_EQ(parse_priority_header(""), RequestPriority::kUnset);
  EXPECT_EQ(parse_priority_header("background"), RequestPriority::kBackground);
  EXPECT_THROW(parse_priority_header("low"), ApiError);
  EXPECT_EQ(effective_priority(RequestPriority::kUnset, RequestPriority::kUnset), RequestPriority::kInteractive);
  EXPECT_EQ(effective_priority(RequestPriority::kBackground, RequestPriority::kUnset), RequestPriority::kBackground);
  EXPECT_EQ(effective_priority(RequestPriority::kUnset, RequestPriority::kBackground), RequestPriority::kBackground);
  EXPECT_EQ(effective_priority(RequestPriority::kBackground, RequestPriority::kBackground), RequestPriority::kBackground);
  EXPECT_THROW(effective_priority(RequestPriority::kInteractive, RequestPriority::kBackground), ApiError);
}

}  // namespace
}  // namespace hearth::server
