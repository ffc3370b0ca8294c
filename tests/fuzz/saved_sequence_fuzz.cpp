// libFuzzer target: arbitrary bytes as a saved-sequence file (formats/saved_sequence.h). The last 8 bytes are
// replaced by the right checksum first, so that the fuzzer gets past it to the header and the sizes; the shape
// expected is fixed (the seeds are files of that shape).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "formats/saved_sequence.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  if (bytes.size() >= 8) {
    const uint64_t sum = hearth::saved_sequence_checksum(bytes, bytes.size() - 8);
    std::memcpy(bytes.data() + bytes.size() - 8, &sum, 8);
  }
  const hearth::SequenceShape shape{1, 1, 4, 64};
  try {
    const hearth::SequenceImage p = hearth::parse_saved_sequence(bytes, shape, "fuzz.kv");
    // What a load would then write: every value read, the counts consistent with the shape.
    if (p.kv.size() != p.tokens.size() * 2 * 4 * 2) __builtin_trap();
    unsigned sum = 0;
    for (uint8_t v : p.kv) sum += v;
    for (int32_t t : p.tokens) sum += unsigned(t);
    (void)sum;
  } catch (const hearth::Error&) {
  }
  return 0;
}
