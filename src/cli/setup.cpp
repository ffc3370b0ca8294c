// hearth setup [--yes] [--config PATH] [--no-bench]: the first-run wizard. It shows the devices, recommends from
// the catalogue shipped with hearth (data/catalogue.json, compiled in; $HEARTH_CATALOGUE names another file) the
// chat, embedding and reranking models that fit this machine's memory, asks (one line per question on stdin; Enter
// takes the recommendation), pulls the chosen ones from the Hugging Face Hub with progress, writes the
// configuration `hearth serve` reads ([[model]] tables naming the pulled models by their Hub names, and the
// [stack] roles; serve reads it from the default path when given no model, else with --config), then benchmarks
// the chat model on every backend and CPU kernel level (a few seconds).
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/bench_backends.h"
#include "cli/command.h"
#include "cli/devices.h"
#include "cli/pull_progress.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "hub/hub_ref.h"
#include "server/config_file.h"

namespace hearth::cli {

extern const char* const kBuiltinCatalogue;

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Options {
  bool yes = false;
  bool no_bench = false;
  std::string config;
};

struct Entry {
  std::string id, role, repo, quant, description;
  double size_mb = 0, min_memory_gb = 0;
  std::string name() const { return quant.empty() ? repo : repo + ":" + quant; }
};

struct Role {
  const char* name;
  const char* what;
};
constexpr Role kRoles[] = {{"chat", "chat model (text generation)"},
                           {"embed", "embedding model (search, the context engine)"},
                           {"rerank", "reranking model (cross-encoder)"}};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

std::vector<Entry> load_catalogue() {
  std::string text = kBuiltinCatalogue, source = "the built-in catalogue (data/catalogue.json)";
  if (const std::string path = env("HEARTH_CATALOGUE"); !path.empty()) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(ErrorKind::kNotFound, "{}: cannot read the catalogue ($HEARTH_CATALOGUE)", path);
    text.assign(std::istreambuf_iterator<char>(f), {});
    source = path;
  }
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("models") || !j["models"].is_array())
    fail(ErrorKind::kCorruptData, "{}: not a catalogue (a JSON object with a \"models\" array)", source);
  std::vector<Entry> out;
  for (size_t i = 0; i < j["models"].size(); ++i) {
    const Json& m = j["models"][i];
    auto text_of = [&](const char* key, bool required) {
      if (m.is_object() && m.contains(key) && m[key].is_string()) return m[key].get<std::string>();
      if (required) fail(ErrorKind::kCorruptData, "{}: models[{}]: missing string '{}'", source, i, key);
      return std::string();
    };
    auto number_of = [&](const char* key) {
      if (!m.contains(key) || !m[key].is_number() || m[key].get<double>() < 0)
        fail(ErrorKind::kCorruptData, "{}: models[{}]: '{}' must be a number >= 0", source, i, key);
      return m[key].get<double>();
    };
    Entry e{text_of("id", true), text_of("role", true), text_of("repo", true), text_of("quant", false),
            text_of("description", false), number_of("size_mb"), number_of("min_memory_gb")};
    if (e.role != "chat" && e.role != "embed" && e.role != "rerank")
      fail(ErrorKind::kCorruptData, "{}: models[{}]: role '{}' is none of chat, embed, rerank", source, i, e.role);
    if (!hub::parse_hub_ref(e.name()))
      fail(ErrorKind::kCorruptData, "{}: models[{}]: '{}' is not a Hub name (OWNER/REPO[:QUANT])", source, i, e.name());
    out.push_back(std::move(e));
  }
  return out;
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// One answer from stdin ("" at the end of input, which takes the default).
std::string ask(const std::string& question) {
  fmt::print("{}", question);
  std::fflush(stdout);
  std::string line;
  if (!std::getline(std::cin, line)) {
    fmt::print("\n");
    return "";
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// The role's choice: the first candidate (best first, all fitting) unless the user picks another or skips.
std::optional<Entry> choose(const Role& role, const std::vector<Entry>& candidates, bool interactive) {
  if (candidates.empty()) {
    fmt::print("No {} in the catalogue fits this machine's memory.\n", role.what);
    return std::nullopt;
  }
  if (!interactive) {
    fmt::print("{}: {} ({}, {:.0f} MB)\n", role.name, candidates[0].id, candidates[0].name(), candidates[0].size_mb);
    return candidates[0];
  }
  fmt::print("\nChoose the {}:\n", role.what);
  for (size_t i = 0; i < candidates.size(); ++i)
    fmt::print("  {}) {:<24} {:<48} {:>6.0f} MB  {}{}\n", i + 1, candidates[i].id, candidates[i].name(),
               candidates[i].size_mb, candidates[i].description, i == 0 ? "  [recommended]" : "");
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::string a = ask(fmt::format("{} [1-{}, Enter = 1, s = skip]: ", role.name, candidates.size()));
    if (a.empty()) return candidates[0];
    if (a == "s" || a == "skip" || a == "n") return std::nullopt;
    const int n = std::atoi(a.c_str());
    if (n >= 1 && size_t(n) <= candidates.size()) return candidates[size_t(n - 1)];
    fmt::print("'{}' is not one of 1-{} or s.\n", a, candidates.size());
  }
  fail("no valid answer for the {} after 5 tries", role.what);
}

void write_config(const std::string& path, const std::vector<std::pair<std::string, Entry>>& chosen) {
  std::string text = fmt::format("# Written by `hearth setup` for this machine ({}, {:.1f} GiB). Start the server with\n"
                                 "#   hearth serve --config {}\n# Models are named by their Hugging Face Hub names "
                                 "(pulled into the hub cache; docs/models.md).\n",
                                 cpu_info().model_name, double(cpu_info().memory_bytes) / (1 << 30), path);
  for (const auto& [role, e] : chosen)
    text += fmt::format("\n[[model]]\nid = {}\npath = {}\n", toml_string(e.id), toml_string(e.name()));
  text += "\n[stack]\n";
  for (const auto& [role, e] : chosen) text += fmt::format("{} = {}\n", role, toml_string(e.id));
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (fs::exists(path, ec)) {
    fs::rename(path, path + ".bak");
    fmt::print("The previous configuration is kept as {}.bak\n", path);
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f) fail(ErrorKind::kResourceExhausted, "{}: cannot write the configuration", tmp);
  }
  fs::rename(tmp, path);
}

int run_setup(const Options& o) {
  const bool interactive = !o.yes;
  const std::string config = o.config.empty() ? server::default_config_path() : o.config;
  fmt::print("hearth setup: this machine\n");
  print_devices();
  const double memory_gb = double(cpu_info().memory_bytes) / double(1 << 30);
  const std::vector<Entry> catalogue = load_catalogue();

  std::vector<std::pair<std::string, Entry>> chosen;  // role -> model
  fmt::print("\nModels that fit {:.1f} GiB of memory{}:\n", memory_gb, interactive ? "" : " (--yes: the recommended)");
  for (const Role& role : kRoles) {
    std::vector<Entry> candidates;
    for (const Entry& e : catalogue)
      if (e.role == role.name && e.min_memory_gb <= memory_gb) candidates.push_back(e);
    if (auto e = choose(role, candidates, interactive)) chosen.emplace_back(role.name, *e);
  }
  if (chosen.empty()) {
    fmt::print("Nothing chosen: nothing pulled, no configuration written.\n");
    return 0;
  }
  double total_mb = 0;
  for (const auto& [role, e] : chosen) total_mb += e.size_mb;
  fmt::print("\nTo pull: {} model{} (about {:.0f} MB); configuration: {}\n", chosen.size(), chosen.size() == 1 ? "" : "s",
             total_mb, config);
  if (interactive) {
    const std::string a = ask("Proceed? [Y/n]: ");
    if (a == "n" || a == "N" || a == "no") {
      fmt::print("Nothing done.\n");
      return 0;
    }
  }
  std::fflush(stdout);
  for (const auto& [role, e] : chosen) {
    fmt::print("Pulling {} ({})\n", e.name(), role);
    std::fflush(stdout);
    pull_with_progress(*hub::parse_hub_ref(e.name()), "main");
  }
  write_config(config, chosen);
  fmt::print("Configuration written: {}\n", config);
  if (!o.no_bench) {
    const Entry& bench_model = chosen.front().second;  // the chat model when one was chosen
    fmt::print("\nBenchmark of {} on each backend (a few seconds):\n", bench_model.id);
    std::fflush(stdout);
    BackendBenchOptions b;
    b.model = bench_model.name();
    b.prompt_tokens = 32;
    b.gen_tokens = 16;
    b.embed_seconds = 0.5;
    if (bench_backends(b) > 0) fmt::print("(a run failed: see its row; `hearth bench backends -m {}` runs it again)\n", b.model);
  }
  if (config == server::default_config_path())
    fmt::print("\nDone. Start the server with:\n  hearth serve\n(with no model given it reads {})\n", config);
  else
    fmt::print("\nDone. Start the server with:\n  hearth serve --config {}\n", config);
  return 0;
}

CommandRegistration reg({"setup"}, "First-run wizard: detect devices, pull recommended models, write the server's config",
                        [](CLI::App& app) {
                          auto o = std::make_shared<Options>();
                          app.add_flag("-y,--yes", o->yes, "take the recommendations without asking");
                          app.add_option("--config", o->config,
                                         "configuration file to write (default: $XDG_CONFIG_HOME/hearth/serve.toml, "
                                         "~/.config/hearth/serve.toml)");
                          app.add_flag("--no-bench", o->no_bench, "skip the benchmark");
                          return [o] { return run_setup(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
