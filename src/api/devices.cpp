#include "api/internal.h"

namespace hearth::inline v1 {

std::vector<Device> list_devices() {
  return translate_errors([] {
    std::vector<Device> out;
    for (const BackendEntry& b : list_backends()) out.push_back({b.name, b.available, b.detail});
    return out;
  });
}

}  // namespace hearth::inline v1
