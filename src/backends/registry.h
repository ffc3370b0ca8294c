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

// Creates a private backend ("auto" = first available in the fallback chain) with its own thread pool. Error if
// unavailable, saying why. Only for callers that need a backend of their own (tests comparing kernel sets,
// benchmarks that try several thread counts in one process); everything that loads a model for use takes
// shared_backend(), so that two models never compete with two pools for the same cores.
std::unique_ptr<Backend> create_backend(const std::string& name = "auto", int n_threads = 0);

// The one backend of this device in this process, created on first use; thread-safe ("auto" and the name it
// resolves to give the same backend). It is never destroyed before the process exits, so a model, KV cache or
// embedder that holds a plain Backend& can never outlive it; the shared_ptr only says that it is shared.
//
// n_threads = 0 takes the backend as it is (creating it with one thread per physical core). An explicit count
// must match the backend's: a later caller asking for a different one gets Error (kInvalidArgument) naming both
// counts, rather than silently running with threads it did not ask for, since one pool serves every model.
std::shared_ptr<Backend> shared_backend(const std::string& name = "auto", int n_threads = 0);

}  // namespace hearth
