// save_sequence / load_sequence (decoder.h). Layout, little-endian:
//   "HEARTHKV" | u32 version | u32 header bytes | header (JSON) | i32 tokens[n] |
//   per layer: K rows [n x kv_dim] F16, V rows [n x kv_dim] F16 | u64 FNV-1a of everything before
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "core/fp16.h"
#include "models/decoder.h"

namespace hearth {
namespace {

constexpr char kMagic[8] = {'H', 'E', 'A', 'R', 'T', 'H', 'K', 'V'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxHeader = 1u << 26;

uint64_t fnv1a(const std::vector<uint8_t>& b, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

template <typename T>
void put(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

// Rows [begin, begin + n) of a cache matrix as F16 bytes.
void append_rows(Backend& be, Act m, int64_t begin, int64_t n, std::vector<uint8_t>& out) {
  if (n == 0) return;
  std::vector<float> rows(size_t(n * m.cols));
  be.read(m.slice_rows(begin, n), rows.data());
  for (float x : rows) put(out, fp32_to_fp16(x));
}

}  // namespace

void save_sequence(DecoderCache& cache, int seq, std::span<const int32_t> tokens, uint64_t model_fingerprint,
                   const std::string& note, const std::string& path) {
  const int n = int(tokens.size());
  if (n > cache.length(seq))
    fail("cannot save {} tokens: sequence {} holds only {} positions", n, seq, cache.length(seq));
  const nlohmann::json header = {{"model_fingerprint", fmt::format("{:016x}", model_fingerprint)},
                                 {"n_layer", cache.n_layer()},
                                 {"kv_dim", cache.kv_dim()},
                                 {"kv_type", "f16"},
                                 {"n_tokens", n},
                                 {"note", note}};
  const std::string h = header.dump();
  std::vector<uint8_t> out(kMagic, kMagic + sizeof kMagic);
  put(out, kVersion);
  put(out, uint32_t(h.size()));
  out.insert(out.end(), h.begin(), h.end());
  for (int32_t t : tokens) put(out, t);
  const int64_t first = int64_t(seq) * cache.n_ctx();
  for (int l = 0; l < cache.n_layer(); ++l) {
    append_rows(cache.backend(), cache.k(l), first, n, out);
    append_rows(cache.backend(), cache.v(l), first, n, out);
  }
  put(out, fnv1a(out, out.size()));

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(ErrorKind::kNotFound, "{}: cannot create: {}", tmp, std::strerror(errno));
    const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size() && std::fflush(f) == 0 &&
                    ::fsync(::fileno(f)) == 0;
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) {
      std::remove(tmp.c_str());
      fail(ErrorKind::kResourceExhausted, "{}: cannot write the saved sequence (disk full?)", path);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("{}: cannot replace: {}", path, std::strerror(errno));
  }
}

SavedSequence load_sequence(DecoderCache& cache, int seq, uint64_t model_fingerprint, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: no saved sequence there", path);
  const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto corrupt = [&](const char* what) { fail(ErrorKind::kCorruptData, "{}: not a usable saved sequence: {}", path, what); };
  size_t at = 0;
  auto take = [&](void* dst, size_t n) {
    if (b.size() - at < n) corrupt("the file is truncated");
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
  if (header_len > kMaxHeader || b.size() - at < header_len + 8) corrupt("the header is truncated");
  // The checksum first: nothing of a damaged file is interpreted further.
  uint64_t sum = 0;
  std::memcpy(&sum, b.data() + b.size() - 8, 8);
  if (sum != fnv1a(b, b.size() - 8)) corrupt("the checksum does not match");
  const nlohmann::json h =
      nlohmann::json::parse(b.begin() + long(at), b.begin() + long(at + header_len), nullptr, false);
  at += header_len;
  if (!h.is_object() || !h.contains("n_tokens") || !h["n_tokens"].is_number_integer()) corrupt("the header is malformed");
  if (h.value("model_fingerprint", "") != fmt::format("{:016x}", model_fingerprint))
    fail("{}: the sequence was saved with another model", path);
  if (h.value("n_layer", -1) != cache.n_layer() || h.value("kv_dim", int64_t(-1)) != cache.kv_dim() ||
      h.value("kv_type", "") != "f16")
    fail("{}: the sequence was saved from a cache of another shape", path);
  const int64_t n = h["n_tokens"].get<int64_t>();
  if (n < 0) corrupt("negative token count");
  if (n > cache.n_ctx())
    fail(ErrorKind::kResourceExhausted, "{}: {} saved tokens do not fit the context of {}", path, n, cache.n_ctx());
  const size_t row_bytes = size_t(cache.kv_dim()) * 2;
  if (b.size() - at != size_t(n) * 4 + size_t(cache.n_layer()) * 2 * size_t(n) * row_bytes + 8)
    corrupt("its size does not match its header");
  SavedSequence saved;
  saved.note = h.value("note", "");
  saved.tokens.resize(size_t(n));
  take(saved.tokens.data(), size_t(n) * 4);

  cache.clear(seq);
  Backend& be = cache.backend();
  Workspace& ws = cache.workspace();
  const int64_t first = int64_t(seq) * cache.n_ctx();
  std::vector<float> rows(size_t(n) * size_t(cache.kv_dim()));
  for (int l = 0; l < cache.n_layer(); ++l) {
    for (Act dst : {cache.k(l), cache.v(l)}) {
      if (n == 0) continue;
      for (float& x : rows) {
        uint16_t half;
        take(&half, 2);
        x = fp16_to_fp32(half);
      }
      ws.reset();
      Act staging = ws.act(n, cache.kv_dim());
      be.write(staging, rows.data());
      be.copy(dst.slice_rows(first, n), staging);  // F16 values convert back to F16 exactly
    }
  }
  ws.reset();
  cache.set_length(seq, int(n));
  return saved;
}

}  // namespace hearth
