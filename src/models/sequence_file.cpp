// save_sequence / load_sequence (decoder.h): the cache's rows to and from formats/saved_sequence.h's file.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "core/fp16.h"
#include "formats/saved_sequence.h"
#include "models/decoder.h"

namespace hearth {

void save_sequence(DecoderCache& cache, int seq, std::span<const int32_t> tokens, uint64_t model_fingerprint,
                   const std::string& note, const std::string& path) {
  const int64_t n = int64_t(tokens.size());
  if (n > cache.length(seq))
    fail("cannot save {} tokens: sequence {} holds only {} positions", n, seq, cache.length(seq));
  SequenceImage image;
  image.tokens.assign(tokens.begin(), tokens.end());
  image.note = note;
  const int64_t first = int64_t(seq) * cache.n_ctx();
  std::vector<float> rows(size_t(n * cache.kv_dim()));
  for (int l = 0; l < cache.n_layer() && n > 0; ++l) {
    for (Act m : {cache.k(l), cache.v(l)}) {
      cache.backend().read(m.slice_rows(first, n), rows.data());
      for (float x : rows) image.kv.push_back(fp32_to_fp16(x));  // the stored F16 values, exactly
    }
  }
  const std::vector<uint8_t> bytes =
      serialize_saved_sequence({model_fingerprint, cache.n_layer(), cache.kv_dim(), cache.n_ctx()}, image);
  // A temporary file renamed over the old one: a crash mid-write leaves the old file whole.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(ErrorKind::kNotFound, "{}: cannot create: {}", tmp, std::strerror(errno));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0 &&
                       ::fsync(::fileno(f)) == 0;
  if (std::fclose(f) != 0 || !written) {
    std::remove(tmp.c_str());
    fail(ErrorKind::kResourceExhausted, "{}: cannot write the saved sequence (disk full?)", path);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("{}: cannot replace: {}", path, std::strerror(errno));
  }
}

SavedSequence load_sequence(DecoderCache& cache, int seq, uint64_t model_fingerprint, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: no saved sequence there", path);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  (void)cache.length(seq);  // the slot exists
  SequenceImage image =
      parse_saved_sequence(bytes, {model_fingerprint, cache.n_layer(), cache.kv_dim(), cache.n_ctx()}, path);

  // Everything is checked: from here on nothing fails.
  cache.clear(seq);
  const int64_t n = int64_t(image.tokens.size());
  const int64_t first = int64_t(seq) * cache.n_ctx();
  std::vector<float> rows(size_t(n * cache.kv_dim()));
  size_t at = 0;
  Workspace& ws = cache.workspace();
  for (int l = 0; l < cache.n_layer() && n > 0; ++l) {
    for (Act dst : {cache.k(l), cache.v(l)}) {
      for (float& x : rows) x = fp16_to_fp32(image.kv[at++]);
      ws.reset();
      const Act staging = ws.act(n, cache.kv_dim());
      cache.backend().write(staging, rows.data());
      cache.backend().copy(dst.slice_rows(first, n), staging);  // F16 values convert back to F16 exactly
    }
  }
  ws.reset();
  cache.set_length(seq, int(n));
  return {std::move(image.tokens), std::move(image.note)};
}

}  // namespace hearth
