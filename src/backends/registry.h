// The backend registry: which backends this build knows, which this machine can run, and the fallback chain
// used to pick one (CUDA, Metal, CoreML where built and present, then the CPU, which is always there).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace hearth {

struct BackendEntry {
  std::string name;    // "cpu", "cuda", "metal", "coreml"
  bool available;      // usable on this machine with this build
  std::string detail;  // device and kernels, or why it is unavailable
};

std::vector<BackendEntry> list_backends();

// Creates the named backend ("auto" = first available in the fallback chain). Error if unavailable, saying why.
std::unique_ptr<Backend> create_backend(const std::string& name = "auto", int n_threads = 0);

}  // namespace hearth
