#include "backends/registry.h"

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

std::unique_ptr<Backend> create_backend(const std::string& name, int n_threads) {
  if (name == "auto" || name == "cpu") return make_cpu_backend(n_threads);
  for (const auto& e : list_backends())
    if (e.name == name) fail("backend '{}' is unavailable: {}", name, e.detail);
  fail("unknown backend '{}' (known: cpu, cuda, metal, coreml)", name);
}

}  // namespace hearth
