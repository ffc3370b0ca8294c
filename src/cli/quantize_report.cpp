#include "cli/quantize_report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/progress_line.h"
#include "core/error.h"

namespace hearth::cli {
namespace {

// GgufWriter writes <out>.tmp.<pid> and renames it into place; this is that name, kept where a signal handler
// can reach it without allocating.
char g_temp_path[4096];

extern "C" void remove_temp_and_exit(int sig) {
  if (g_temp_path[0]) ::unlink(g_temp_path);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

class TempFileGuard {
 public:
  explicit TempFileGuard(const std::string& out_path) {
    const std::string tmp = out_path + ".tmp." + std::to_string(::getpid());
    if (tmp.size() < sizeof g_temp_path) std::memcpy(g_temp_path, tmp.c_str(), tmp.size() + 1);
    old_int_ = std::signal(SIGINT, remove_temp_and_exit);
    old_term_ = std::signal(SIGTERM, remove_temp_and_exit);
  }
  ~TempFileGuard() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
    g_temp_path[0] = '\0';
  }
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

std::string shape_text(const std::vector<int64_t>& ne) {
  std::string s;
  for (int64_t d : ne) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s;
}

void print_table(const QuantizeModelResult& r) {
  fmt::print("{:<36} {:>16} {:>6} {:>6} {:>11} {:>9} {:>11}\n", "tensor", "shape", "from", "to", "rmse", "rel", "max_err");
  for (const auto& t : r.tensors) {
    const bool converted = t.type != t.source_type;
    fmt::print("{:<36} {:>16} {:>6} {:>6} {:>11} {:>9} {:>11}{}\n", t.name, shape_text(t.ne), dtype_name(t.source_type),
               dtype_name(t.type), converted ? fmt::format("{:.3e}", t.rmse) : "copied",
               converted && t.source_rms > 0 ? fmt::format("{:.3e}", t.rmse / t.source_rms) : "-",
               converted ? fmt::format("{:.3e}", t.max_abs_error) : "-", t.note.empty() ? "" : "  (" + t.note + ")");
  }
  fmt::print("total: {} tensors, {:.1f} MB -> {:.1f} MB, rmse of the quantized tensors {:.3e}\n", r.tensors.size(),
             double(r.source_bytes) / 1e6, double(r.bytes) / 1e6, r.rmse);
}

void write_json(const QuantizeModelResult& r, double seconds, const std::string& path) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : r.tensors)
    tensors.push_back({{"name", t.name},
                       {"shape", t.ne},
                       {"source_type", std::string(dtype_name(t.source_type))},
                       {"type", std::string(dtype_name(t.type))},
                       {"copied", t.type == t.source_type},
                       {"rmse", t.rmse},
                       {"max_abs_error", t.max_abs_error},
                       {"source_rms", t.source_rms},
                       {"source_bytes", t.source_bytes},
                       {"bytes", t.bytes},
                       {"note", t.note}});
  const nlohmann::json j = {{"tensors", tensors},
                            {"total",
                             {{"tensors", r.tensors.size()},
                              {"elements", r.n_elements},
                              {"source_bytes", r.source_bytes},
                              {"bytes", r.bytes},
                              {"rmse", r.rmse},
                              {"seconds", seconds}}}};
  if (path == "-") {
    fmt::print("{}\n", j.dump(1));
    return;
  }
  std::ofstream out(path);
  out << j.dump(1) << "\n";
  if (!out) fail(ErrorKind::kInvalidArgument, "{}: cannot write the --stats-json file", path);
}

}  // namespace

QuantRecipe make_recipe(const std::string& type, const QuantizeFlags& flags) {
  QuantRecipe recipe = recipe_for_type(type);
  if (!flags.recipe.empty()) add_recipe_overrides(recipe, flags.recipe);
  return recipe;
}

QuantizeModelResult run_quantize(const Weights& weights, Metadata metadata, const QuantPlanner& planner,
                                 const std::string& out_path, QuantizeModelOptions options, const QuantizeFlags& flags) {
  options.threads = flags.threads;
  options.allow_requantize = flags.allow_requantize;
  ProgressLine progress;
  const auto start = std::chrono::steady_clock::now();
  uint64_t done_bytes = 0, total_bytes = 0;
  for (const auto& t : weights.tensors()) total_bytes += t.nbytes;
  options.on_tensor = [&](const TensorQuantStats& st, size_t index, size_t count) {
    done_bytes += st.source_bytes;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = secs > 0 ? double(done_bytes) / 1e6 / secs : 0;
    progress.update("quantizing", double(done_bytes) / 1e6, double(total_bytes) / 1e6, "MB", rate,
                    rate > 0 ? double(total_bytes - done_bytes) / 1e6 / rate : -1,
                    fmt::format("tensor {}/{}", index + 1, count));
  };
  QuantizeModelResult result;
  {
    TempFileGuard guard(out_path);
    result = quantize_model(weights, std::move(metadata), planner, out_path, options);
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (flags.stats) print_table(result);
  if (!flags.stats_json.empty()) write_json(result, seconds, flags.stats_json);
  std::fflush(stdout);
  fmt::print(stderr, "wrote {} ({}, {:.1f} MB from {:.1f} MB in {:.1f} s)\n", out_path, planner.recipe().type_name,
             double(result.bytes) / 1e6, double(result.source_bytes) / 1e6, seconds);
  return result;
}

}  // namespace hearth::cli
