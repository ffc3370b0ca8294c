// save_sequence / load_sequence (decoder.h): the cache's rows to and from formats/saved_sequence.h's file.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "formats/saved_sequence.h"
#include "models/decoder.h"

namespace hearth {
namespace {

SequenceShape shape_of(const DecoderCache& cache, uint64_t model_fingerprint) {
  return {model_fingerprint, cache.n_layer(), cache.kv_dim(), cache.n_ctx(), cache.type()};
}

}  // namespace

void save_sequence(DecoderCache& cache, int seq, std::span<const int32_t> tokens, uint64_t model_fingerprint,
                   const std::string& note, const std::string& path) {
  const int64_t n = int64_t(tokens.size());
  if (n > cache.length(seq))
    fail("cannot save {} tokens: sequence {} holds only {} positions", n, seq, cache.length(seq));
  if (!std::equal(tokens.begin(), tokens.end(), cache.tokens(seq).begin()))
    fail("cannot save: the tokens given are not what sequence {} holds", seq);
  SequenceImage image;
  image.tokens.assign(tokens.begin(), tokens.end());
  image.note = note;
  // Each layer's K rows, then its V rows, in position order: the block runs gathered, stored bytes as they are.
  const size_t row = row_bytes(cache.type(), cache.kv_dim());
  const auto runs = cache.row_runs(seq, 0, int(n));
  for (int l = 0; l < cache.n_layer() && n > 0; ++l)
    for (Act m : {cache.k(l), cache.v(l)})
      for (const DecoderCache::RowRun& r : runs) {
        const size_t at = image.kv.size();
        image.kv.resize(at + size_t(r.count) * row);
        cache.backend().read_bytes(m.slice_rows(r.row, r.count), image.kv.data() + at);
      }
  const std::vector<uint8_t> bytes =
      serialize_saved_sequence(shape_of(cache, model_fingerprint), image);
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
    fail(errno_kind(errno), "{}: cannot replace: {}", path, std::strerror(errno));
  }
}

SavedSequence load_sequence(DecoderCache& cache, int seq, uint64_t model_fingerprint, const std::string& path,
                            uint64_t adapter_key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: no saved sequence there", path);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  (void)cache.length(seq);  // the slot exists
  SequenceImage image =
      parse_saved_sequence(bytes, shape_of(cache, model_fingerprint), path);

  const int64_t n = int64_t(image.tokens.size());
  if (cache.blocks_needed(seq, 0, int(n)) > cache.available_blocks())
    fail(ErrorKind::kResourceExhausted, "{}: the KV cache has no room for {} saved positions", path, n);
  cache.reserve(seq, 0, int(n));
  cache.bind_adapters(seq, 0, adapter_key);
  // Everything is checked: from here on nothing fails.
  const size_t row = row_bytes(cache.type(), cache.kv_dim());
  const auto runs = cache.row_runs(seq, 0, int(n));
  size_t at = 0;
  for (int l = 0; l < cache.n_layer() && n > 0; ++l)
    for (Act dst : {cache.k(l), cache.v(l)})
      for (const DecoderCache::RowRun& r : runs) {
        cache.backend().write_bytes(dst.slice_rows(r.row, r.count), image.kv.data() + at);
        at += size_t(r.count) * row;
      }
  cache.commit(seq, 0, image.tokens);
  return {std::move(image.tokens), std::move(image.note)};
}

}  // namespace hearth
