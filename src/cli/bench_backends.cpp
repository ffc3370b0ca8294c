#include "cli/bench_backends.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "backends/registry.h"
#include "cli/command.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "formats/weights.h"
#include "models/registry.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The kernel levels to compare: this CPU's, and each lower one x86 can be forced down to.
std::vector<std::string> cpu_levels() {
  const std::string native = cpu_info().kernel_level();
  if (native == "avx512") return {"avx512", "avx2", "scalar"};
  if (native == "avx2") return {"avx2", "scalar"};
  return {native};
}

struct RunResult {
  nlohmann::json json;  // the child's JSON line, or null
  std::string error;    // its last output line when it failed
};

RunResult run_child(const std::string& command) {
  RunResult r;
  std::string out;
  if (FILE* p = ::popen((command + " 2>&1").c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int status = ::pclose(p);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    // The JSON is the last line that parses; anything before it is the child's log.
    size_t end = out.size();
    while (end > 0) {
      const size_t start = out.rfind('\n', end - 1) == std::string::npos ? 0 : out.rfind('\n', end - 1) + 1;
      const std::string line = out.substr(start, end - start);
      if (!line.empty()) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (ok && j.is_object()) {
          r.json = std::move(j);
          return r;
        }
        if (r.error.empty()) r.error = line;
      }
      if (start == 0) break;
      end = start - 1;
    }
    if (r.error.empty()) r.error = ok ? "no result" : "failed";
  } else {
    r.error = "cannot start hearth";
  }
  return r;
}

}  // namespace

int bench_backends(const BackendBenchOptions& o) {
  const auto weights = Weights::open(o.model);
  const bool decoder = is_decoder_architecture(weights->architecture());
  std::error_code ec;
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) fail("cannot find the hearth program (/proc/self/exe): {}", ec.message());
  // Encoders embed a few fixed sentences, from a file of our own (bench embed reads one).
  std::string sentences;
  if (!decoder) {
    sentences = (fs::temp_directory_path() / fmt::format("hearth_bench_sentences_{}.txt", ::getpid())).string();
    std::ofstream f(sentences);
    for (const char* s : {"The quick brown fox jumps over the lazy dog.", "Local inference keeps data on the machine.",
                          "How many tokens per second does this backend run?", "Embeddings map text to vectors."})
      f << s << "\n";
  }
  const std::string threads = o.threads > 0 ? fmt::format(" --threads {}", o.threads) : "";
  fmt::print("model: {} ({}, {})\n", o.model, weights->architecture(), decoder ? "text generation" : "embeddings");
  if (decoder)
    fmt::print("{:<8} {:<8} {:>16} {:>16}\n", "backend", "kernels", "prompt tok/s",
               "gen tok/s");
  else
    fmt::print("{:<8} {:<8} {:>16} {:>16}\n", "backend", "kernels", "embeddings/s", "tokens/s");
  int failed = 0;
  for (const BackendEntry& b : list_backends()) {
    if (!b.available) {
      fmt::print("{:<8} {:<8} {}\n", b.name, "-", b.detail);
      continue;
    }
    // Only the CPU has kernel levels; another backend runs once (the fallback chain picks it first).
    const std::vector<std::string> levels = b.name == "cpu" ? cpu_levels() : std::vector<std::string>{""};
    for (const std::string& level : levels) {
      std::string command = level.empty() ? "" : "HEARTH_CPU_LEVEL=" + level + " ";
      command += shell_quote(self) + (decoder ? fmt::format(" bench gen -m {} -p {} -n {} -r 1 --json{}",
                                                            shell_quote(o.model), o.prompt_tokens, o.gen_tokens, threads)
                                              : fmt::format(" bench embed -m {} --sentences {} --seconds {} --json{}",
                                                            shell_quote(o.model), shell_quote(sentences),
                                                            o.embed_seconds, threads));
      const RunResult r = run_child(command);
      const std::string kernels = level.empty() ? "-" : level;
      if (r.json.is_null()) {
        ++failed;
        fmt::print("{:<8} {:<8} failed: {}\n", b.name, kernels, r.error.substr(0, 160));
      } else if (decoder) {
        fmt::print("{:<8} {:<8} {:>16.1f} {:>16.1f}\n", b.name, kernels, r.json.value("pp_tokens_per_s", 0.0),
                   r.json.value("tg_tokens_per_s", 0.0));
      } else {
        fmt::print("{:<8} {:<8} {:>16.1f} {:>16.1f}\n", b.name, kernels, r.json.value("sentences_per_s", 0.0),
                   r.json.value("tokens_per_s", 0.0));
      }
      std::fflush(stdout);
    }
  }
  if (!sentences.empty()) fs::remove(sentences, ec);
  return failed;
}

namespace {

CommandRegistration reg({"bench", "backends"},
                        "The same model on every available backend and CPU kernel level, side by side",
                        [](CLI::App& app) {
                          auto o = std::make_shared<BackendBenchOptions>();
                          app.add_option("-m,--model", o->model, "model (GGUF file, folder or OWNER/REPO:QUANT)")
                              ->required();
                          app.add_option("-p,--n-prompt", o->prompt_tokens, "decoders: prompt tokens in the pp batch")
                              ->capture_default_str();
                          app.add_option("-n,--n-gen", o->gen_tokens, "decoders: tokens generated one at a time")
                              ->capture_default_str();
                          app.add_option("--seconds", o->embed_seconds, "encoders: measuring time per run")
                              ->capture_default_str();
                          app.add_option("-t,--threads", o->threads, "threads (0 = one per physical core)");
                          return [o] { return bench_backends(*o) == 0 ? 0 : 1; };
                        });

}  // namespace
}  // namespace hearth::cli
