// hearth devices: what this machine offers and which kernels hearth selected.
#include <fmt/format.h>

#include "backends/registry.h"
#include "cli/command.h"
#include "cli/devices.h"
#include "core/cpu_features.h"

namespace hearth::cli {

void print_devices() {
  const CpuInfo& cpu = cpu_info();
  fmt::print("CPU: {} ({}), {} physical cores, {} logical CPUs, {:.1f} GiB memory\n", cpu.model_name, cpu.arch,
             cpu.physical_cores, cpu.logical_cpus, double(cpu.memory_bytes) / (1024.0 * 1024 * 1024));
  std::string features;
  for (const auto& f : cpu.feature_names()) features += (features.empty() ? "" : " ") + f;
  fmt::print("  instruction sets: {}\n", features.empty() ? "(none beyond the baseline)" : features);
  fmt::print("Backends:\n");
  for (const auto& b : list_backends()) {
    fmt::print("  {:<8} {}  {}\n", b.name, b.available ? "available  " : "unavailable", b.detail);
  }
}

namespace {

int run_devices() {
  print_devices();
  return 0;
}

CommandRegistration reg({"devices"}, "List the compute devices and the kernels hearth selected",
                        [](CLI::App&) { return CommandAction(run_devices); });

}  // namespace
}  // namespace hearth::cli
