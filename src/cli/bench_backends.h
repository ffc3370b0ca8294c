// hearth bench backends -m MODEL: the same model on every available backend and, on the CPU, every kernel level
// this CPU runs (HEARTH_CPU_LEVEL=avx512 / avx2 / scalar), side by side. Each run is `hearth bench gen` (decoders:
// prompt and generation tokens/s) or `hearth bench embed` (encoders: embeddings/s) in a child process, since the
// kernel level is chosen once per process. Also the last step of `hearth setup`.
#pragma once

#include <string>

namespace hearth::cli {

struct BackendBenchOptions {
  std::string model;
  int prompt_tokens = 64;   // decoders: pp batch
  int gen_tokens = 32;      // decoders: tokens generated one at a time
  double embed_seconds = 1; // encoders: measuring time per run
  int threads = 0;
};

// Prints the table on stdout; returns the number of runs that failed (each is reported in its row).
int bench_backends(const BackendBenchOptions& o);

}  // namespace hearth::cli
