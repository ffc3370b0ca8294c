#include "formats/saved_sequence.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstring>

#include "core/error.h"

namespace hearth {
namespace {

constexpr char kMagic[8] = {'H', 'E', 'A', 'R', 'T', 'H', 'K', 'V'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxHeader = 1u << 26;

template <typename T>
void put(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

std::string fingerprint_text(uint64_t f) { return fmt::format("{:016x}", f); }

// The header's name of a storage type, as llama.cpp's --cache-type-k spells it.
const char* kv_type_name(DType t) {
  switch (t) {
    case DType::F16: return "f16";
    case DType::Q8_0: return "q8_0";
    default: return nullptr;
  }
}

// Bytes of one layer's K (or V) rows for n tokens.
size_t kv_bytes(const SequenceShape& shape, size_t n) { return n * row_bytes(shape.kv_type, shape.kv_dim); }

}  // namespace

uint64_t saved_sequence_checksum(const std::vector<uint8_t>& b, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n && i < b.size(); ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

std::vector<uint8_t> serialize_saved_sequence(const SequenceShape& shape, const SequenceImage& image) {
  HEARTH_ASSERT(kv_type_name(shape.kv_type));
  if (image.kv.size() != size_t(shape.n_layer) * 2 * kv_bytes(shape, image.tokens.size()))
    fail("saved sequence: {} key/value bytes for {} tokens of {} layers x {}", image.kv.size(), image.tokens.size(),
         shape.n_layer, shape.kv_dim);
  const std::string h = nlohmann::json{{"model_fingerprint", fingerprint_text(shape.model_fingerprint)},
                                       {"n_layer", shape.n_layer},
                                       {"kv_dim", shape.kv_dim},
                                       {"kv_type", kv_type_name(shape.kv_type)},
                                       {"n_tokens", image.tokens.size()},
                                       {"note", image.note}}
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::vector<uint8_t> out(kMagic, kMagic + sizeof kMagic);
  put(out, kVersion);
  put(out, uint32_t(h.size()));
  out.insert(out.end(), h.begin(), h.end());
  for (int32_t t : image.tokens) put(out, t);
  out.insert(out.end(), image.kv.begin(), image.kv.end());
  put(out, saved_sequence_checksum(out, out.size()));
  return out;
}

SequenceImage parse_saved_sequence(const std::vector<uint8_t>& b, const SequenceShape& expected,
                                   const std::string& path) {
  auto corrupt = [&](const char* what) { fail(ErrorKind::kCorruptData, "{}: not a usable saved sequence: {}", path, what); };
  size_t at = 0;
  auto take = [&](void* dst, size_t n) {
    if (b.size() - at < n) corrupt("the file is truncated");
    if (n == 0) return;  // an empty sequence's vectors have no storage: memcpy must not see their null data()
    std::memcpy(dst, b.data() + at, n);
    at += n;
  };
  char magic[8];
  take(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) corrupt("it does not start with HEARTHKV");
  uint32_t version = 0, header_len = 0;
  take(&version, 4);
  if (version != kVersion)
    fail(ErrorKind::kCorruptData, "{}: saved-sequence format version {} is not supported (this build reads {})", path,
         version, kVersion);
  take(&header_len, 4);
  if (header_len > kMaxHeader || b.size() - at < size_t(header_len) + 8) corrupt("the header is truncated");
  // The checksum first: nothing of a damaged file is interpreted further.
  uint64_t sum = 0;
  std::memcpy(&sum, b.data() + b.size() - 8, 8);
  if (sum != saved_sequence_checksum(b, b.size() - 8)) corrupt("the checksum does not match");
  const nlohmann::json h =
      nlohmann::json::parse(b.begin() + long(at), b.begin() + long(at + header_len), nullptr, false);
  at += header_len;
  auto field = [&](const char* key) -> const nlohmann::json& {
    static const nlohmann::json missing;
    return h.is_object() && h.contains(key) ? h[key] : missing;
  };
  if (!field("n_tokens").is_number_integer() || !field("model_fingerprint").is_string() ||
      !field("n_layer").is_number_integer() || !field("kv_dim").is_number_integer() || !field("kv_type").is_string() ||
      !(field("note").is_string() || field("note").is_null()))
    corrupt("the header is malformed");
  if (field("model_fingerprint").get<std::string>() != fingerprint_text(expected.model_fingerprint))
    fail("{}: the sequence was saved with another model", path);
  if (field("n_layer").get<int64_t>() != expected.n_layer || field("kv_dim").get<int64_t>() != expected.kv_dim ||
      field("kv_type").get<std::string>() != kv_type_name(expected.kv_type))
    fail("{}: the sequence was saved from a cache of another shape or storage type ({}, {} layers x {}; this cache "
         "{}, {} x {})",
         path, field("kv_type").get<std::string>(), field("n_layer").get<int64_t>(), field("kv_dim").get<int64_t>(),
         kv_type_name(expected.kv_type), expected.n_layer, expected.kv_dim);
  const int64_t n = field("n_tokens").get<int64_t>();
  if (n < 0) corrupt("negative token count");
  if (n > expected.n_ctx)
    fail(ErrorKind::kResourceExhausted, "{}: {} saved tokens do not fit the context of {}", path, n, expected.n_ctx);
  const size_t layer_bytes = kv_bytes(expected, size_t(n));
  if (b.size() - at != size_t(n) * 4 + size_t(expected.n_layer) * 2 * layer_bytes + 8)
    corrupt("its size does not match its header");
  SequenceImage image;
  if (field("note").is_string()) image.note = field("note").get<std::string>();
  image.tokens.resize(size_t(n));
  take(image.tokens.data(), size_t(n) * 4);
  image.kv.resize(size_t(expected.n_layer) * 2 * layer_bytes);
  take(image.kv.data(), image.kv.size());
  return image;
}

}  // namespace hearth
