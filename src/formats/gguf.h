// GGUF (v2, v3) reader and writer.
//
// Reading never copies tensor data: tensors point into a read-only memory map that the returned Weights keeps
// alive. Every count, length and offset in the file is validated against the bytes actually present before it is
// used or allocated for, so a hostile or truncated file produces one hearth::Error of the form
//   "<path>: <fault> (tensor 'x' / key 'y' / offset N)"
// and never an out-of-bounds read. v1 files (32-bit counts) and big-endian files are refused with a clear message.
//
// Metadata value mapping (see metadata.h): unsigned scalars are stored as uint64_t, signed ones as int64_t,
// F32/F64 as double, so reading then writing a file reproduces the same value types and bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/metadata.h"
#include "formats/weights.h"

namespace hearth {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr size_t kGgufDefaultAlignment = 32;

// True when the buffer starts with the GGUF magic.
bool is_gguf(const uint8_t* data, size_t size);

// Layout facts of a parsed file, for `hearth inspect` and tests.
struct GgufInfo {
  uint32_t version = 0;
  size_t alignment = kGgufDefaultAlignment;
  size_t data_offset = 0;  // start of the tensor data section
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
};

// Parses a GGUF image of `size` bytes at `data` into `out` (metadata and tensors; tensor data points into
// `data`, which must outlive `out`). `source` names the image in errors. Throws Error on any fault.
GgufInfo read_gguf(const uint8_t* data, size_t size, const std::string& source, Weights& out);

// Maps the file and parses it; the returned Weights keeps the map alive.
std::unique_ptr<Weights> load_gguf(const std::string& path, GgufInfo* info = nullptr);

// Builds a GGUF v3 file. Tensor bytes are NOT copied: they must stay valid until write()/serialize() returns.
//   GgufWriter w;
//   w.metadata().set_string("general.architecture", "llama");
//   w.add_tensor("token_embd.weight", DType::F16, {128, 32000}, ptr, nbytes);
//   w.write("model.gguf");
// Alignment is `general.alignment` when the metadata holds it (must be a u32 power of two), else 32.
class GgufWriter {
 public:
  Metadata& metadata() { return metadata_; }
  const Metadata& metadata() const { return metadata_; }

  // Throws Error on a duplicate name, more than 4 dims, negative dims, a row length that is not a multiple
  // of the type's block size, or nbytes not matching the shape.
  void add_tensor(std::string name, DType type, std::vector<int64_t> ne, const void* data, size_t nbytes);
  size_t n_tensors() const { return tensors_.size(); }

  // Writes atomically (temporary file beside the target, fsync, rename), streaming tensor data, so a
  // crash never leaves a truncated file under the final name.
  void write(const std::string& path) const;
  // The whole file in memory (tests, fuzz seeds, small files).
  std::string serialize() const;

 private:
  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    const void* data;
    size_t nbytes;
  };
  size_t alignment() const;
  // The header, KV section and tensor infos, padded to the alignment; offsets[i] is tensor i's data offset.
  std::string header(std::vector<uint64_t>& offsets) const;

  Metadata metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace hearth
