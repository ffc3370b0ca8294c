#include "server/model_spec.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "hub/hub_ref.h"

namespace hearth::server {

namespace fs = std::filesystem;

ModelSpec parse_model_spec(const std::string& arg) {
  ModelSpec spec;
  const size_t eq = arg.find('=');
  if (eq != std::string::npos && eq > 0 && arg.find('/') > eq) {
    spec.id = arg.substr(0, eq);
    spec.path = arg.substr(eq + 1);
    return spec;
  }
  spec.path = arg;
  // A Hugging Face Hub name ("OWNER/REPO:Q4_K_M", resolved in the hub cache when the set is planned) is its own id:
  // a file stem would cut it at the first '.' of the repo's name.
  std::error_code ec;
  if (hub::parse_hub_ref(arg) && !fs::exists(arg, ec)) {
    spec.id = arg;
    return spec;
  }
  fs::path p(arg);
  if (!p.has_filename()) p = p.parent_path();  // a model folder given as "dir/"
  spec.id = p.stem().string();
  return spec;
}

std::vector<ModelSpec> scan_models_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::kNotFound, "models folder '{}': not a folder", dir);
  std::vector<ModelSpec> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code e2;
    ModelSpec spec;
    spec.preload = false;
    if (it->is_regular_file(e2) && p.extension() == ".gguf") {
      spec.id = p.stem().string();
    } else if (it->is_directory(e2) && fs::is_regular_file(p / "config.json", e2)) {
      spec.id = name;
    } else {
      continue;
    }
    spec.path = p.string();
    out.push_back(std::move(spec));
  }
  if (ec) fail(errno_kind(ec.value()), "models folder '{}': {}", dir, ec.message());
  std::sort(out.begin(), out.end(), [](const ModelSpec& a, const ModelSpec& b) { return a.id < b.id; });
  return out;
}

}  // namespace hearth::server
