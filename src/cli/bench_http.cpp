// hearth bench http: `hearth serve` measured from outside, over loopback, the way a client sees it.
//
// It starts the server itself (this same program, `serve --port 0`) and measures, in one run:
//  - start to ready: from the fork to the first 200 from /health (weights mapped, nothing left to load);
//  - embeddings: one sentence per request from N concurrent clients, each on its own keep-alive connection
//    (and one client opening a fresh connection per request): requests/s and latency p50/p99. Beside it, the
//    engine's own batched throughput (the whole sentence file in one in-process embed call, before the server
//    starts), so the HTTP figure is a ratio measured on the same machine in the same minute;
//  - generation: N concurrent streamed /v1/completions (greedy, fixed length), tokens/s summed over the streams
//    and time to first token; beside it `hearth bench batch` on the same model with the same counts, run as a
//    child process before the server starts.
// The load generator is bounded: a fixed time per embedding level, one request per stream per generation level.
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "backends/registry.h"
#include "cli/bench_util.h"
#include "cli/command.h"
#include "core/error.h"
#include "runtime/embedder.h"
#include "server/model_set.h"

namespace hearth::cli {
namespace {

using Json = nlohmann::json;

struct Options {
  std::vector<std::string> models;
  int threads = 0, parallel = 16;
  std::string embed_id, chat_id, sentences;
  std::vector<int> clients{1, 8, 32}, streams{1, 4, 8, 16};
  int n_gen = 64;
  std::string prompt = "Once upon a time, in a small village by the sea, there lived";
  double seconds = 5;
  bool json = false;
};

std::string self_path() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

// The model path behind an id given to -m (ALIAS=PATH or PATH).
std::string path_of(const Options& o, const std::string& id) {
  for (const std::string& m : o.models) {
    const server::ModelSpec spec = server::parse_model_spec(m);
    if (spec.id == id) return spec.path;
  }
  fail("no -m model has the id '{}'", id);
}

// `hearth serve --port 0 …` as a child; stops it (SIGTERM, then SIGKILL) when destroyed.
class ServerChild {
 public:
  ServerChild(const Options& o) {
    int out[2];
    if (::pipe(out) != 0) fail("pipe: {}", std::strerror(errno));
    std::vector<std::string> args = {self_path(), "serve", "--port", "0", "--parallel", std::to_string(o.parallel),
                                     "--threads", std::to_string(o.threads), "--http-threads", "256"};
    for (const std::string& m : o.models) {
      args.push_back("-m");
      args.push_back(m);
    }
    Stopwatch clock;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      const int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string text;
    char buf[256];
    while (text.find('\n', text.find("listening on http://")) == std::string::npos) {
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) fail("hearth serve exited before it listened");
      text.append(buf, size_t(n));
    }
    ::close(out[0]);
    const size_t at = text.find("listening on http://") + 20;
    const std::string url = text.substr(at, text.find('\n', at) - at);
    port_ = std::stoi(url.substr(url.rfind(':') + 1));
    httplib::Client cli("127.0.0.1", port_);
    for (int i = 0; i < 2000; ++i) {
      auto r = cli.Get("/health");
      if (r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ready_ms_ = clock.ms();
  }
  ~ServerChild() {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }
  double ready_ms() const { return ready_ms_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  double ready_ms_ = 0;
};

struct EmbedLevel {
  int clients;
  bool fresh;  // a new connection per request
  double requests_per_s, p50_ms, p99_ms;
  int errors;
};

EmbedLevel embed_level(int port, const Options& o, const std::vector<std::string>& sentences, int clients, bool fresh) {
  std::mutex mu;
  std::vector<double> latencies;
  std::atomic<int> errors{0};
  std::atomic<size_t> next{0};
  Stopwatch wall;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      std::vector<double> mine;
      auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
      client->set_keep_alive(!fresh);
      client->set_tcp_nodelay(true);
      while (wall.seconds() < o.seconds) {
        if (fresh) {
          client = std::make_unique<httplib::Client>("127.0.0.1", port);
          client->set_tcp_nodelay(true);
        }
        const Json body = {{"model", o.embed_id}, {"input", sentences[next++ % sentences.size()]}};
        Stopwatch t;
        auto r = client->Post("/v1/embeddings", body.dump(), "application/json");
        if (!r || r->status != 200) {
          if (errors++ == 0)
            fmt::print(stderr, "hearth bench http: first failed request: {}\n",
                       r ? fmt::format("{} {}", r->status, r->body) : httplib::to_string(r.error()));
        } else {
          mine.push_back(t.ms());
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  for (auto& t : threads) t.join();
  const double elapsed = wall.seconds();
  return {clients, fresh, double(latencies.size()) / elapsed, percentile(latencies, 50), percentile(latencies, 99),
          errors.load()};
}

struct GenLevel {
  int streams;
  double tokens_per_s, ttft_p50_ms, ttft_max_ms, batch_tg_tokens_per_s;
  int prompt_tokens, errors;
};

GenLevel gen_level(int port, const Options& o, int streams) {
  std::mutex mu;
  std::vector<double> ttft;
  int tokens = 0, prompt_tokens = 0;
  std::atomic<int> errors{0};
  Stopwatch wall;
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s)
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(std::chrono::seconds(600));
      client.set_tcp_nodelay(true);
      const Json body = {{"model", o.chat_id}, {"prompt", o.prompt}, {"max_tokens", o.n_gen}, {"temperature", 0},
                         {"stream", true}, {"stream_options", {{"include_usage", true}}}};
      Stopwatch t;
      double first = -1;
      std::string buffer;
      Json usage;
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.set_header("Content-Type", "application/json");
      req.body = body.dump();
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        if (first < 0) first = t.ms();
        buffer.append(data, n);
        for (size_t eol; (eol = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, eol + 2)) {
          const std::string ev = buffer.substr(0, eol);
          if (ev.rfind("data: {", 0) != 0) continue;
          const Json j = Json::parse(ev.substr(6), nullptr, false);
          if (j.is_object() && j.contains("usage") && !j["usage"].is_null()) usage = j["usage"];
        }
        return true;
      };
      httplib::Response response;
      httplib::Error error = httplib::Error::Success;
      const bool sent = client.send(req, response, error);
      std::lock_guard<std::mutex> lock(mu);
      if (!sent || response.status != 200 || usage.is_null()) {
        ++errors;
        return;
      }
      ttft.push_back(first);
      tokens += usage["completion_tokens"].get<int>();
      prompt_tokens = usage["prompt_tokens"].get<int>();
    });
  for (auto& t : threads) t.join();
  const double elapsed = wall.seconds();
  return {streams, double(tokens) / elapsed, percentile(ttft, 50),
          ttft.empty() ? 0 : *std::max_element(ttft.begin(), ttft.end()), 0, prompt_tokens, errors.load()};
}

// The prompt's token count, from one short request.
int prompt_tokens(int port, const Options& o) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(std::chrono::seconds(600));
  const Json body = {{"model", o.chat_id}, {"prompt", o.prompt}, {"max_tokens", 1}, {"temperature", 0}};
  auto r = client.Post("/v1/completions", body.dump(), "application/json");
  if (!r || r->status != 200) fail("the warm-up completion failed: {}", r ? r->body : "no response");
  return Json::parse(r->body)["usage"]["prompt_tokens"].get<int>();
}

// `hearth bench batch` on the chat model (a child process, so nothing else runs beside it): tg tokens/s by count.
std::map<int, double> batch_reference(const Options& o, int n_prompt) {
  std::string counts;
  for (int s : o.streams) counts += (counts.empty() ? "" : ",") + std::to_string(s);
  const std::string cmd = fmt::format("'{}' bench batch -m '{}' --parallel {} -p {} -n {} -t {} --json", self_path(),
                                      path_of(o, o.chat_id), counts, n_prompt, o.n_gen, o.threads);
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    if (::pclose(p) != 0) fail("hearth bench batch failed: {}", out);
  }
  std::map<int, double> tg;
  for (const Json& m : Json::parse(out)) tg[m["parallel"].get<int>()] = m["tg_tokens_per_s"].get<double>();
  return tg;
}

int run_bench_http(const Options& o) {
  if (o.embed_id.empty() && o.chat_id.empty()) fail("give --embed ID and/or --chat ID (ids of the -m models)");
  Json report = Json::object();
  double engine_sentences_per_s = 0;
  std::vector<std::string> sentences;
  if (!o.embed_id.empty()) {
    std::string path = o.sentences;
    if (path.empty()) {
      const auto p = std::filesystem::path(HEARTH_SOURCE_DIR) / ".." / "shared" / "bench" / "sentences256.txt";
      if (std::filesystem::exists(p)) path = p.lexically_normal().string();
    }
    if (path.empty()) fail("no sentence file: give --sentences FILE (one sentence per line)");
    sentences = read_lines(path);
    Embedder embedder(Weights::open(path_of(o, o.embed_id)), *shared_backend("auto", o.threads));
    embedder.embed({sentences.front()});
    int passes = 0;
    Stopwatch t;
    do {
      embedder.embed(sentences);
      ++passes;
    } while (t.seconds() < o.seconds || passes < 2);
    engine_sentences_per_s = double(passes) * double(sentences.size()) / t.seconds();
  }
  int n_prompt = 0;
  std::map<int, double> batch_tg;
  if (!o.chat_id.empty()) {
    // The prompt's length comes from a short-lived server, so `bench batch` can run alone before the measured one.
    {
      const ServerChild probe(o);
      n_prompt = prompt_tokens(probe.port(), o);
    }
    batch_tg = batch_reference(o, n_prompt);
  }

  const ServerChild server(o);
  report["start_to_ready_ms"] = server.ready_ms();
  if (!o.json) fmt::print("server start to ready (health 200): {:.0f} ms\n", server.ready_ms());
  if (!o.embed_id.empty()) {
    embed_level(server.port(), o, sentences, 1, false);  // warm-up
    std::vector<EmbedLevel> levels;
    for (int c : o.clients) levels.push_back(embed_level(server.port(), o, sentences, c, false));
    levels.push_back(embed_level(server.port(), o, sentences, 1, true));
    Json list = Json::array();
    if (!o.json)
      fmt::print("\nembeddings, one sentence per request; engine alone (one batched call): {:.0f} sentences/s\n"
                 "{:>8} {:>11} {:>10} {:>9} {:>9} {:>9} {:>7}\n",
                 engine_sentences_per_s, "clients", "connection", "req/s", "p50 ms", "p99 ms", "engine%", "errors");
    for (const EmbedLevel& l : levels) {
      const double share = 100 * l.requests_per_s / engine_sentences_per_s;
      list.push_back({{"clients", l.clients}, {"connection", l.fresh ? "fresh" : "keep-alive"},
                      {"requests_per_s", l.requests_per_s}, {"p50_ms", l.p50_ms}, {"p99_ms", l.p99_ms},
                      {"engine_percent", share}, {"errors", l.errors}});
      if (!o.json)
        fmt::print("{:>8} {:>11} {:>10.1f} {:>9.2f} {:>9.2f} {:>8.0f}% {:>7}\n", l.clients,
                   l.fresh ? "fresh" : "keep-alive", l.requests_per_s, l.p50_ms, l.p99_ms, share, l.errors);
    }
    report["embeddings"] = {{"engine_sentences_per_s", engine_sentences_per_s}, {"levels", list}};
  }
  if (!o.chat_id.empty()) {
    (void)prompt_tokens(server.port(), o);  // warm-up
    Json list = Json::array();
    if (!o.json)
      fmt::print("\ngeneration, streamed /v1/completions, prompt {} tokens, {} generated (greedy)\n"
                 "{:>8} {:>10} {:>14} {:>10} {:>13} {:>13} {:>7}\n",
                 n_prompt, o.n_gen, "streams", "tokens/s", "bench batch tg", "ratio", "TTFT p50 ms", "TTFT max ms",
                 "errors");
    for (int s : o.streams) {
      GenLevel l = gen_level(server.port(), o, s);
      l.batch_tg_tokens_per_s = batch_tg[s];
      const double ratio = l.tokens_per_s / std::max(l.batch_tg_tokens_per_s, 1e-9);
      list.push_back({{"streams", s}, {"tokens_per_s", l.tokens_per_s}, {"bench_batch_tg_tokens_per_s", l.batch_tg_tokens_per_s},
                      {"ratio", ratio}, {"ttft_p50_ms", l.ttft_p50_ms}, {"ttft_max_ms", l.ttft_max_ms},
                      {"errors", l.errors}});
      if (!o.json)
        fmt::print("{:>8} {:>10.1f} {:>14.1f} {:>10.2f} {:>13.1f} {:>13.1f} {:>7}\n", s, l.tokens_per_s,
                   l.batch_tg_tokens_per_s, ratio, l.ttft_p50_ms, l.ttft_max_ms, l.errors);
    }
    report["generation"] = {{"prompt_tokens", n_prompt}, {"n_gen", o.n_gen}, {"levels", list}};
  }
  if (o.json) fmt::print("{}\n", report.dump());
  return 0;
}

CommandRegistration reg({"bench", "http"}, "Benchmark hearth serve over loopback HTTP (embeddings, streamed generation)",
                        [](CLI::App& app) {
                          auto o = std::make_shared<Options>();
                          app.add_option("-m,--model", o->models, "model for the server, as serve takes it (repeatable)")
                              ->required();
                          app.add_option("--embed", o->embed_id, "id of the embedding model to measure");
                          app.add_option("--chat", o->chat_id, "id of the text model to measure");
                          app.add_option("--sentences", o->sentences, "one sentence per line (default: ../shared/bench/sentences256.txt)");
                          app.add_option("--clients", o->clients, "concurrent embedding clients, e.g. 1,8,32")->delimiter(',')
                              ->capture_default_str();
                          app.add_option("--streams", o->streams, "concurrent generation streams, e.g. 1,4,8,16")->delimiter(',')
                              ->capture_default_str();
                          app.add_option("-n,--n-gen", o->n_gen, "tokens generated per stream")->capture_default_str()
                              ->check(CLI::Range(1, 4096));
                          app.add_option("--prompt", o->prompt, "prompt of every stream")->capture_default_str();
                          app.add_option("--parallel", o->parallel, "the server's engine slots per text model")
                              ->capture_default_str()->check(CLI::Range(1, 256));
                          app.add_option("-t,--threads", o->threads, "the server's threads (0 = one per physical core)");
                          app.add_option("--seconds", o->seconds, "time per embedding level")->capture_default_str();
                          app.add_flag("--json", o->json, "one JSON object instead of tables");
                          return [o] { return run_bench_http(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
