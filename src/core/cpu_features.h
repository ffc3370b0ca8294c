// What the host CPU offers, detected once at start (cpuid on x86-64, hwcaps on arm64).
// Kernels are chosen from this at run time so that one binary runs on any x86-64.
#pragma once

#include <string>
#include <vector>

namespace hearth {

struct CpuInfo {
  std::string model_name;
  std::string arch;      // "x86_64", "aarch64", ...
  int logical_cpus = 1;  // usable by this process (affinity mask)
  int physical_cores = 1;
  bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_vbmi = false, avx_vnni = false;
  bool neon = false, arm_dotprod = false;
  int64_t memory_bytes = 0;

  // The instruction-set level the kernels use: "avx512" (F, BW, VL, DQ, VNNI), "avx2" (AVX2 + FMA + F16C), "scalar".
  std::string kernel_level() const;
  std::vector<std::string> feature_names() const;
};

// Detected once, thread-safe. HEARTH_CPU_LEVEL=avx2|scalar caps the kernel level (for tests and comparisons).
const CpuInfo& cpu_info();

}  // namespace hearth
