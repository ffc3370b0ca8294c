#include "core/cpu_features.h"

#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace hearth {
namespace {

std::string read_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown CPU";
}

int count_physical_cores(int logical) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return logical;
  std::set<std::pair<std::string, std::string>> cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream core_f(base + "core_id"), pkg_f(base + "physical_package_id");
    std::string core, pkg;
    if (!(core_f >> core) || !(pkg_f >> pkg)) return logical;
    cores.emplace(pkg, core);
  }
  return cores.empty() ? logical : static_cast<int>(cores.size());
}

#if defined(__x86_64__) || defined(__i386__)
bool os_saves_zmm() {
  unsigned a, b, c, d;
  __cpuid(1, a, b, c, d);
  if (!(c & bit_OSXSAVE)) return false;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xE6) == 0xE6;
}
bool os_saves_ymm() {
  unsigned a, b, c, d;
  __cpuid(1, a, b, c, d);
  if (!(c & bit_OSXSAVE)) return false;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0x6) == 0x6;
}
#endif

CpuInfo detect() {
  CpuInfo info;
  info.model_name = read_model_name();
  cpu_set_t set;
  CPU_ZERO(&set);
  info.logical_cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  info.physical_cores = count_physical_cores(info.logical_cpus);
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) info.memory_bytes = int64_t(pages) * page;
#if defined(__x86_64__) || defined(__i386__)
  info.arch = "x86_64";
  unsigned a, b, c, d;
  __cpuid(1, a, b, c, d);
  info.sse42 = c & bit_SSE4_2;
  const bool ymm = os_saves_ymm(), zmm = os_saves_zmm();
  info.avx = ymm && (c & bit_AVX);
  info.fma = ymm && (c & bit_FMA);
  info.f16c = ymm && (c & bit_F16C);
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    info.avx2 = ymm && (b & bit_AVX2);
    info.avx512f = zmm && (b & bit_AVX512F);
    info.avx512dq = zmm && (b & bit_AVX512DQ);
    info.avx512bw = zmm && (b & bit_AVX512BW);
    info.avx512vl = zmm && (b & bit_AVX512VL);
    info.avx512_vbmi = zmm && (c & bit_AVX512VBMI);
    info.avx512_vnni = zmm && (c & bit_AVX512VNNI);
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
    info.avx_vnni = ymm && (a & (1u << 4));
    info.avx512_bf16 = zmm && (a & (1u << 5));
  }
#elif defined(__aarch64__)
  info.arch = "aarch64";
  info.neon = true;
#if defined(__linux__)
  info.arm_dotprod = getauxval(AT_HWCAP) & HWCAP_ASIMDDP;
#endif
#else
  info.arch = "other";
#endif
  // Let tests and benchmarks force a lower level to exercise every kernel on one machine; a build without the
  // AVX-512 kernels (-DHEARTH_AVX512=OFF) is capped at AVX2.
  const char* cap = std::getenv("HEARTH_CPU_LEVEL");
#if defined(HEARTH_NO_AVX512)
  if (cap == nullptr || std::string(cap) != "scalar") cap = "avx2";
#endif
  if (cap != nullptr) {
    std::string level = cap;
    if (level == "avx2" || level == "scalar") {
      info.avx512f = info.avx512bw = info.avx512vl = info.avx512dq = false;
      info.avx512_vnni = info.avx512_bf16 = info.avx512_vbmi = false;
    }
    if (level == "scalar") info.avx2 = info.fma = info.f16c = info.avx_vnni = false;
  }
  return info;
}

}  // namespace

std::string CpuInfo::kernel_level() const {
  if (avx512f && avx512bw && avx512vl && avx512dq && avx512_vnni && fma && f16c) return "avx512";
  if (avx2 && fma && f16c) return "avx2";
  if (neon) return "neon";
  return "scalar";
}

std::vector<std::string> CpuInfo::feature_names() const {
  std::vector<std::string> out;
  auto add = [&](bool on, const char* name) {
    if (on) out.emplace_back(name);
  };
  add(sse42, "sse4.2");
  add(avx, "avx");
  add(avx2, "avx2");
  add(fma, "fma");
  add(f16c, "f16c");
  add(avx_vnni, "avx-vnni");
  add(avx512f, "avx512f");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512dq, "avx512dq");
  add(avx512_vnni, "avx512-vnni");
  add(avx512_bf16, "avx512-bf16");
  add(avx512_vbmi, "avx512-vbmi");
  add(neon, "neon");
  add(arm_dotprod, "dotprod");
  return out;
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

}  // namespace hearth
