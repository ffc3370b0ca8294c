// libFuzzer target: parse arbitrary bytes as a safetensors image and read every tensor byte it reports
// (ASan flags any read outside the input).
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    unsigned sum = 0;
    for (const auto& e : hearth::read_safetensors(data, size, "fuzz.safetensors"))
      for (size_t i = 0; i < e.nbytes; ++i) sum += e.data[i];
    return int(sum & 0);
  } catch (const hearth::Error&) {
    return 0;
  }
}
