#include "backends/registry.h"

#include <map>
#include <mutex>

#include "core/error.h"

namespace hearth {

std::vector<BackendEntry> list_backends() {
  std::vector<BackendEntry> out;
  {
    auto cpu = make_cpu_backend(0);
    const DeviceInfo& d = cpu->device();
    out.push_back({"cpu", true, d.name + ", " + std::to_string(d.compute_units) + " threads, kernels: " + d.kernels});
  }
  // Not part of this build yet: reported as missing rather than silently absent.
  out.push_back({"cuda", false, "not built: hearth has no CUDA backend yet"});
  out.push_back({"metal", false, "not built: hearth has no Metal backend yet"});
  out.push_back({"coreml", false, "not built: hearth has no CoreML backend yet"});
  return out;
}

namespace {

// The backend a request stands for ("auto": the first available one of the fallback chain), once the request
// is checked.
std::string resolve_backend(const std::string& name, int n_threads) {
  if (n_threads < 0) fail("thread count must be >= 0, got {}", n_threads);
  if (name == "auto" || name == "cpu") return "cpu";
  for (const auto& e : list_backends())
    if (e.name == name) fail(ErrorKind::kUnsupported, "backend '{}' is unavailable: {}", name, e.detail);
  fail("unknown backend '{}' (known: cpu, cuda, metal, coreml)", name);
}

}  // namespace

std::unique_ptr<Backend> create_backend(const std::string& name, int n_threads) {
  resolve_backend(name, n_threads);  // fails for the backends this build lacks, which leaves the CPU so far
  return make_cpu_backend(n_threads);
}

std::shared_ptr<Backend> shared_backend(const std::string& name, int n_threads) {
  const std::string device = resolve_backend(name, n_threads);
  static std::mutex mutex;
  // Deliberately never destroyed: models and caches hold plain Backend& and may live in other static objects,
  // whose destruction order against this map nothing would fix.
  static auto* const backends = new std::map<std::string, std::shared_ptr<Backend>>();
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<Backend>& backend = (*backends)[device];
  if (!backend) {
    // Created under the lock, so that concurrent first callers all get this one instance.
    backend = create_backend(device, n_threads);
  } else if (n_threads > 0 && n_threads != backend->threads()) {
    fail("the {} backend of this process already runs {} threads; it cannot also run {} (one pool serves every "
         "model: ask for {} threads, or 0 for the backend as it is)",
         device, backend->threads(), n_threads, backend->threads());
  }
  return backend;
}

}  // namespace hearth
