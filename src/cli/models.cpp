// hearth models list: the default embedding model (and whether it is converted yet), every model in hearth's cache
// and every model in the Hugging Face hub cache (`hearth pull`'s, and huggingface_hub's own downloads).
// hearth models rm OWNER/REPO[:FILE_OR_QUANT]: removes a model from the hub cache.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "formats/weights.h"
#include "hub/hub_cache.h"
#include "runtime/default_model.h"
#include "server/admin.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;

// "arch, dim N" from a model file's metadata, or the reason it cannot be read.
std::string describe(const std::string& path) {
  try {
    auto w = Weights::open(path);
    const std::string arch = w->architecture();
    auto dim = w->metadata().find_int(arch + ".embedding_length");
    return fmt::format("{}, dim {}", arch, dim ? std::to_string(*dim) : "?");
  } catch (const Error& e) {
    return fmt::format("unreadable: {}", e.what());
  }
}

// The hub cache: one line per GGUF file or safetensors folder, named as `-m` and `hearth pull` take it.
void list_hub_cache() {
  const std::string dir = hub::hub_cache_dir();
  const std::vector<hub::CachedModel> models = hub::list_cached_models(dir);
  fmt::print("Hugging Face hub cache {}:{}\n", dir, models.empty() ? " none" : "");
  if (models.empty()) return;
  fmt::print("  {:<52} {:>10}  {:<11} {:<12} {:<8} {}\n", "NAME", "SIZE", "TYPE", "ARCH", "QUANT", "REVISION");
  for (const hub::CachedModel& m : models) {
    const std::string quant = m.gguf ? hub::gguf_quant(m.file) : "";
    const std::string name = m.gguf ? m.repo + ":" + (quant.empty() ? m.file : quant) : m.repo;
    std::string arch = "?", file_quant = quant;
    if (m.complete) {
      const server::Json info = server::model_file_json(m.path);
      if (info.contains("architecture")) arch = info["architecture"].get<std::string>();
      if (info.contains("file_type") && info["file_type"].is_string()) file_quant = info["file_type"].get<std::string>();
    }
    std::string revision = m.commit.substr(0, 12);
    for (const std::string& r : m.refs) revision = r + " (" + m.commit.substr(0, 12) + ")";
    fmt::print("  {:<52} {:>7.1f} MB  {:<11} {:<12} {:<8} {}{}\n", name, double(m.size_bytes) / 1e6,
               m.gguf ? "gguf" : "safetensors", arch, file_quant.empty() ? "-" : file_quant, revision,
               m.complete ? "" : "  INCOMPLETE (pull again)");
    fmt::print("      {}\n", m.path);
  }
}

int run_models_list() {
  const DefaultModelInfo def = default_embedding_model_info();
  fmt::print("Default embedding model:\n");
  fmt::print("  {}  {}\n", def.name, def.path);
  if (def.cached) {
    fmt::print("    status: cached ({})\n", describe(def.path));
  } else if (!def.package_dir.empty()) {
    fmt::print("    status: not yet converted (dim 512; converted on first use from {})\n", def.package_dir);
  } else {
    fmt::print("    status: not yet converted, and its npm package was not found (run `make deps`)\n");
  }

  const std::string dir = model_cache_dir();
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file(ec) && e.path().extension() == ".gguf") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  fmt::print("Models in {}:{}\n", dir, files.empty() ? " none" : "");
  for (const auto& f : files) {
    const auto size = fs::file_size(f, ec);
    fmt::print("  {:<28} {:>8.1f} MB  {}\n", f.filename().string(), ec ? 0.0 : double(size) / 1e6,
               describe(f.string()));
  }
  list_hub_cache();
  return 0;
}

CommandRegistration reg({"models", "list"},
                        "List the default embedding model and the models in hearth's and the Hugging Face hub cache",
                        [](CLI::App&) { return CommandAction(run_models_list); });

int run_models_rm(const std::string& name) {
  const auto ref = hub::parse_hub_ref(name);
  if (!ref) fail("'{}' is not a Hugging Face model name: expected OWNER/REPO or OWNER/REPO:QUANT", name);
  const hub::RemoveResult r = hub::remove_cached(*ref);
  fmt::print("removed {}: {} file{}, {} blob{} ({:.1f} MB freed)\n", ref->text(), r.links, r.links == 1 ? "" : "s",
             r.blobs, r.blobs == 1 ? "" : "s", double(r.bytes_freed) / 1e6);
  return 0;
}

CommandRegistration reg_rm({"models", "rm"}, "Remove a model pulled from the Hugging Face Hub from the hub cache",
                           [](CLI::App& app) {
                             auto name = std::make_shared<std::string>();
                             app.add_option("model", *name, "OWNER/REPO (all of it) or OWNER/REPO:QUANT / OWNER/REPO:FILE")
                                 ->required();
                             return [name] { return run_models_rm(*name); };
                           });

}  // namespace
}  // namespace hearth::cli
