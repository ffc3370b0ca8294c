// hearth models list: the default embedding model (and whether it is converted yet) and every model in the cache.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "formats/weights.h"
#include "runtime/default_model.h"

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
  return 0;
}

CommandRegistration reg({"models", "list"}, "List the default embedding model and the models in the cache",
                        [](CLI::App&) { return CommandAction(run_models_list); });

}  // namespace
}  // namespace hearth::cli
