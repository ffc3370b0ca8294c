#include "formats/weights.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <variant>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "hub/hub_cache.h"

namespace hearth {

std::unique_ptr<Weights> Weights::open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    // Not a path, but a model pulled from the Hugging Face Hub ("OWNER/REPO:Q4_K_M"): its file in the hub cache.
    if (err == ENOENT)
      if (const auto ref = hub::parse_hub_ref(path)) return open(hub::resolve_cached(*ref));
    fail(errno_kind(err), "{}: cannot open: {}", path, std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) return load_hf_folder(path);
  // FIFOs and devices could block or never end; only regular files can be models.
  if (!S_ISREG(st.st_mode)) fail("{}: not a GGUF file or model folder", path);
  // Sniff the magic with a small read rather than mapping: the file may be anything.
  unsigned char magic[4] = {};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) fail(errno_kind(errno), "{}: cannot open: {}", path, std::strerror(errno));
  const size_t n = std::fread(magic, 1, sizeof magic, f);
  std::fclose(f);
  if (is_gguf(magic, n)) return load_gguf(path);
  fail(ErrorKind::kUnsupported, "{}: not a GGUF file or model folder", path);
}

int64_t WeightTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::string Weights::architecture() const {
  auto arch = metadata_.find_string("general.architecture");
  if (!arch) fail(ErrorKind::kCorruptData, "{}: missing metadata key 'general.architecture'", source_);
  return *arch;
}

const WeightTensor* Weights::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const WeightTensor& Weights::get(const std::string& name) const {
  const WeightTensor* t = find(name);
  if (t == nullptr) fail(ErrorKind::kCorruptData, "{}: missing tensor '{}'", source_, name);
  return *t;
}

namespace {
std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}
}  // namespace

const WeightTensor& Weights::get(const std::string& name, const std::vector<int64_t>& expected_ne) const {
  const WeightTensor& t = get(name);
  // Trailing 1-sized dimensions are insignificant.
  auto trim = [](std::vector<int64_t> v) {
    while (v.size() > 1 && v.back() == 1) v.pop_back();
    return v;
  };
  if (trim(t.ne) != trim(expected_ne))
    fail(ErrorKind::kCorruptData, "{}: tensor '{}' has shape {}, expected {}", source_, name, shape_str(t.ne),
         shape_str(expected_ne));
  return t;
}

const uint8_t* Weights::own_bytes(const void* bytes, size_t n) {
  void* p = std::aligned_alloc(64, (n + 63) / 64 * 64 + 64);
  if (p == nullptr) fail(ErrorKind::kResourceExhausted, "{}: out of memory ({} bytes)", source_, n);
  if (n) std::memcpy(p, bytes, n);
  storage_.emplace_back(p, [](const void* q) { std::free(const_cast<void*>(q)); });
  return static_cast<const uint8_t*>(p);
}

void Weights::add_tensor(WeightTensor t) {
  // A file may leave data at an address its type may not be read from (GGUF's general.alignment 1, 2 or 4 is a
  // valid power of two; safetensors' offsets are any byte): such a tensor is copied once into aligned memory
  // instead of being used in place. A type needs the alignment an array of its blocks gives each block: the
  // largest power of two dividing its size, at most 8 (the widest scalar in any layout).
  const auto traits = dtype_traits(uint32_t(t.type));
  const size_t type_size = traits ? traits->type_size : 1;
  const uintptr_t needed = std::min<uintptr_t>(8, type_size & (~type_size + 1));
  if (t.nbytes != 0 && t.data != nullptr && reinterpret_cast<uintptr_t>(t.data) % needed != 0)
    t.data = own_bytes(t.data, t.nbytes);
  tensors_.push_back(std::move(t));
}

namespace {

// FNV-1a, 64 bits.
struct Fnv {
  uint64_t h = 0xcbf29ce484222325ull;
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  }
  template <typename T>
  void value(const T& v) { bytes(&v, sizeof v); }
  void text(const std::string& s) {
    value(s.size());
    bytes(s.data(), s.size());
  }
};

}  // namespace

uint64_t Weights::fingerprint() const {
  Fnv f;
  for (const auto& [key, v] : metadata_.entries()) {
    f.text(key);
    f.value(v.value.index());
    std::visit([&](const auto& x) {
      using T = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<T, std::string>) {
        f.text(x);
      } else if constexpr (std::is_same_v<T, MetaArray>) {
        f.value(x.ints.size() + x.floats.size() + x.strings.size() + x.arrays.size());
      } else {
        f.value(x);
      }
    }, v.value);
  }
  constexpr size_t kSample = 256;
  for (const WeightTensor& t : tensors_) {
    f.text(t.name);
    f.value(t.type);
    for (int64_t n : t.ne) f.value(n);
    f.bytes(t.data, std::min(kSample, t.nbytes));
    if (t.nbytes > kSample) f.bytes(t.data + t.nbytes - kSample, kSample);
  }
  return f.h;
}

}  // namespace hearth
