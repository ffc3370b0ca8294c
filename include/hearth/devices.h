// hearth's public API: the compute backends this build has and this machine can run.
#pragma once

#include <string>
#include <vector>

namespace hearth {
inline namespace v1 {

struct Device {
  std::string backend;  // the name ModelOptions::backend takes: "cpu", "cuda", "metal", "coreml"
  bool available = false;  // built into this hearth and usable on this machine
  std::string detail;      // the device and its kernels, or why it is unavailable
};

// Every backend hearth knows, in the order "auto" tries them.
std::vector<Device> list_devices();

}  // namespace v1
}  // namespace hearth
