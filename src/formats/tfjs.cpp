#include "formats/tfjs.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace hearth {
namespace fs = std::filesystem;

namespace {

// Refuses absurd sizes before allocating: the largest TF.js models published are a few GB.
constexpr uintmax_t kMaxManifestBytes = 256ull << 20;
constexpr uintmax_t kMaxBlobBytes = 8ull << 30;

std::string read_bounded(const fs::path& path, uintmax_t limit, std::vector<uint8_t>* append_to = nullptr) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail(ErrorKind::kNotFound, "{}: missing or not a regular file", path.string());
  uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(errno_kind(ec.value()), "{}: cannot stat: {}", path.string(), ec.message());
  if (size > limit) fail(ErrorKind::kCorruptData, "{}: too large ({} bytes)", path.string(), size);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(errno_kind(errno), "{}: cannot open", path.string());
  std::string text;
  char* dst;
  if (append_to != nullptr) {
    if (append_to->size() + size > kMaxBlobBytes)
      fail(ErrorKind::kCorruptData, "{}: shards exceed {} bytes in total", path.string(), kMaxBlobBytes);
    size_t old = append_to->size();
    append_to->resize(old + size_t(size));
    dst = reinterpret_cast<char*>(append_to->data() + old);
  } else {
    text.resize(size_t(size));
    dst = text.data();
  }
  in.read(dst, std::streamsize(size));
  if (uintmax_t(in.gcount()) != size)
    fail(ErrorKind::kCorruptData, "{}: short read ({} of {} bytes)", path.string(), in.gcount(), size);
  return text;
}

// A shard path from the manifest must stay inside the model folder.
fs::path shard_path(const fs::path& dir, const std::string& rel, const std::string& source) {
  fs::path p(rel);
  if (rel.empty() || p.is_absolute()) fail(ErrorKind::kCorruptData, "{}: invalid shard path '{}'", source, rel);
  for (const auto& part : p)
    if (part == "..") fail(ErrorKind::kCorruptData, "{}: shard path '{}' leaves the model folder", source, rel);
  return dir / p;
}

}  // namespace

int64_t TfjsTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const TfjsTensor* TfjsWeights::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {
std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}
}  // namespace

std::vector<float> TfjsWeights::floats(const std::string& name, const std::vector<int64_t>& shape) const {
  const TfjsTensor* t = find(name);
  if (t == nullptr) fail(ErrorKind::kCorruptData, "{}: missing tensor '{}'", source, name);
  if (t->dtype != "float32")
    fail(ErrorKind::kCorruptData, "{}: tensor '{}' is {}, expected float32", source, name, t->dtype);
  if (t->shape != shape)
    fail(ErrorKind::kCorruptData, "{}: tensor '{}' has shape {}, expected {}", source, name, shape_str(t->shape),
         shape_str(shape));
  std::vector<float> v(size_t(t->n_elements()));
  std::memcpy(v.data(), blob.data() + t->offset, v.size() * sizeof(float));
  return v;
}

double TfjsWeights::scalar(const std::string& name) const {
  const TfjsTensor* t = find(name);
  if (t == nullptr) fail(ErrorKind::kCorruptData, "{}: missing tensor '{}'", source, name);
  if (t->n_elements() != 1)
    fail(ErrorKind::kCorruptData, "{}: tensor '{}' has shape {}, expected a scalar", source, name, shape_str(t->shape));
  if (t->dtype == "float32") {
    float f;
    std::memcpy(&f, blob.data() + t->offset, 4);
    return f;
  }
  int32_t i;
  std::memcpy(&i, blob.data() + t->offset, 4);
  return i;
}

TfjsWeights read_tfjs_weights(const std::string& dir) {
  const fs::path root(dir);
  const fs::path json_path = root / "model.json";
  TfjsWeights w;
  w.source = json_path.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_bounded(json_path, kMaxManifestBytes));
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kCorruptData, "{}: invalid JSON: {}", w.source, e.what());
  }
  if (!j.is_object() || !j.contains("weightsManifest") || !j["weightsManifest"].is_array())
    fail(ErrorKind::kCorruptData, "{}: no weightsManifest array (not a TF.js graph model)", w.source);

  for (const auto& group : j["weightsManifest"]) {
    if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() || !group.contains("weights") ||
        !group["weights"].is_array())
      fail(ErrorKind::kCorruptData, "{}: a weightsManifest group lacks 'paths' or 'weights'", w.source);
    const size_t group_start = w.blob.size();
    for (const auto& p : group["paths"]) {
      if (!p.is_string()) fail(ErrorKind::kCorruptData, "{}: a shard path is not a string", w.source);
      read_bounded(shard_path(root, p.get<std::string>(), w.source), kMaxBlobBytes, &w.blob);
    }
    size_t offset = group_start;
    for (const auto& entry : group["weights"]) {
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("shape") ||
          !entry["shape"].is_array() || !entry.contains("dtype") || !entry["dtype"].is_string())
        fail(ErrorKind::kCorruptData, "{}: a weight entry lacks name, shape or dtype", w.source);
      TfjsTensor t;
      t.name = entry["name"].get<std::string>();
      t.dtype = entry["dtype"].get<std::string>();
      if (entry.contains("quantization"))
        fail(ErrorKind::kUnsupported, "{}: tensor '{}' is quantized, which is not supported", w.source, t.name);
      if (t.dtype != "float32" && t.dtype != "int32")
        fail(ErrorKind::kUnsupported, "{}: tensor '{}' has unsupported dtype '{}'", w.source, t.name, t.dtype);
      if (entry["shape"].size() > 8)
        fail(ErrorKind::kCorruptData, "{}: tensor '{}' has too many dimensions", w.source, t.name);
      int64_t n = 1;
      for (const auto& d : entry["shape"]) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0)
          fail(ErrorKind::kCorruptData, "{}: tensor '{}' has an invalid dimension", w.source, t.name);
        int64_t v = d.get<int64_t>();
        if (v != 0 && n > int64_t(kMaxBlobBytes) / v)
          fail(ErrorKind::kCorruptData, "{}: tensor '{}' is too large", w.source, t.name);
        n *= v;
        t.shape.push_back(v);
      }
      if (w.find(t.name) != nullptr) fail(ErrorKind::kCorruptData, "{}: duplicate tensor '{}'", w.source, t.name);
      t.offset = offset;
      t.nbytes = size_t(n) * 4;
      if (t.nbytes > w.blob.size() - offset)
        fail(ErrorKind::kCorruptData,
             "{}: tensor '{}' runs past the end of its shards ({} bytes needed at offset {}, {} present)", w.source,
             t.name, t.nbytes, offset - group_start, w.blob.size() - group_start);
      offset += t.nbytes;
      w.tensors.push_back(std::move(t));
    }
    if (offset != w.blob.size())
      fail(ErrorKind::kCorruptData, "{}: shards hold {} bytes but the manifest describes {}", w.source,
           w.blob.size() - group_start, offset - group_start);
  }
  if (w.tensors.empty()) fail(ErrorKind::kCorruptData, "{}: the manifest lists no tensors", w.source);
  return w;
}

}  // namespace hearth
