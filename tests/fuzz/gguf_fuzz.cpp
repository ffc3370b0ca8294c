// libFuzzer target: parse arbitrary bytes as a GGUF image, then read every byte the parser claims is tensor
// data (ASan flags any read outside the input) and dequantize each tensor's first and last rows.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hearth::Weights w;
  try {
    hearth::read_gguf(data, size, "fuzz.gguf", w);
  } catch (const hearth::Error&) {
    return 0;
  }
  unsigned sum = 0;
  std::vector<float> row;
  for (const auto& t : w.tensors()) {
    for (size_t i = 0; i < t.nbytes; ++i) sum += t.data[i];
    const int64_t n = t.row_length();
    // Bounded so that a huge declared row in a tiny tensor cannot make the harness itself slow.
    // The first and last rows: a PAL4G16 row also reads its group's table from the rows around it.
    const bool decodable = hearth::can_dequantize(t.type) || t.type == hearth::DType::PAL4G16;
    if (decodable && t.nbytes > 0 && n > 0 && n <= (1 << 16) && hearth::row_bytes(t.type, n) <= t.nbytes) {
      row.resize(size_t(n));
      for (int64_t r : {int64_t(0), t.n_rows() - 1}) hearth::dequantize_tensor_row(t.type, t.data, n, r, row.data());
    }
  }
  (void)w.metadata().find_strings("tokenizer.ggml.tokens");
  return int(sum & 0);
}
