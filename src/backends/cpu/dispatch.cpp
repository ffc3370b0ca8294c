// Chooses the kernel set once per process from the CPU's capabilities.
#include <map>
#include <memory>
#include <mutex>

#include "backends/cpu/kernels.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace hearth::cpu {
namespace {

KernelSet build(const std::string& level) {
  KernelSet ks;
  init_scalar_kernels(ks);
#if defined(__x86_64__)
  if (level == "avx2" || level == "avx512") init_avx2_kernels(ks);
#if !defined(HEARTH_NO_AVX512)
  if (level == "avx512") init_avx512_kernels(ks);
#endif
#elif defined(__aarch64__)
  if (level == "neon") init_neon_kernels(ks);
#endif
  return ks;
}

bool level_supported(const std::string& level) {
  const std::string best = cpu_info().kernel_level();
  if (level == "scalar") return true;
  if (level == "avx2") return best == "avx2" || best == "avx512";
  return level == best;
}

}  // namespace

const KernelSet& kernels_for_level(const std::string& level) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<KernelSet>> sets;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = sets[level];
  if (!slot) {
    if (!level_supported(level)) fail(ErrorKind::kUnsupported, "kernel level '{}' is not supported by this CPU", level);
    slot = std::make_unique<KernelSet>(build(level));
  }
  return *slot;
}

const KernelSet& kernels() {
  static const KernelSet& ks = kernels_for_level(cpu_info().kernel_level());
  return ks;
}

}  // namespace hearth::cpu
