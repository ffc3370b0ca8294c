#include "models/decoder.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "models/registry.h"

namespace hearth {

DType parse_cache_type(const std::string& name) {
  if (name == "f16") return DType::F16;
  if (name == "q8_0") return DType::Q8_0;
  fail("unknown cache type '{}' (f16 or q8_0)", name);
}

namespace {

// The key of a full block: a 64-bit hash of the previous block's key and this block's tokens, so it stands
// for every token from position 0 to the block's end. A hit is checked against the block's own tokens and its
// predecessor's key; two different prefixes share a key only by a 64-bit collision of both.
uint64_t block_key(uint64_t previous, std::span<const int32_t> tokens) {
  uint64_t h = previous ^ 0x9e3779b97f4a7c15ull;
  for (int32_t t : tokens) {
    h ^= uint32_t(t);
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h * 0xbf58476d1ce4e5b9ull;
}

}  // namespace

int64_t DecoderCache::bytes() const {
  return 2 * int64_t(k_.size()) * n_blocks() * block_size() * int64_t(row_bytes(options_.type, kv_dim_));
}

DecoderCache::DecoderCache(Backend& backend, const DecoderHParams& hp, const CacheOptions& options)
    : backend_(backend), options_(options), kv_dim_(hp.kv_dim()) {
  const CacheOptions& o = options_;
  if (o.n_ctx < 1 || o.n_seq < 1) fail("KV cache: n_ctx ({}) and n_seq ({}) must be positive", o.n_ctx, o.n_seq);
  if (o.block_size < 1 || o.block_size > 4096) fail("KV cache: block size {} outside 1..4096", o.block_size);
  if (o.capacity < 0) fail("KV cache: negative capacity {}", o.capacity);
  if (o.type != DType::F16 && o.type != DType::Q8_0)
    fail(ErrorKind::kUnsupported, "KV cache: storage type {} (f16 or q8_0)", dtype_name(o.type));
  if (o.type == DType::Q8_0 && hp.head_dim % kQK8_0 != 0)
    fail(ErrorKind::kUnsupported, "KV cache: q8_0 storage needs a head size that is a multiple of {}, this model's is {}",
         kQK8_0, hp.head_dim);
  const int64_t positions = o.capacity > 0 ? o.capacity : int64_t(o.n_ctx) * o.n_seq;
  const int64_t n_blocks = (positions + o.block_size - 1) / o.block_size;
  const int64_t rows = n_blocks * o.block_size;
  // Guard against a context size that would silently need absurd memory (e.g. a typo'd --ctx).
  const double bytes = 2.0 * double(row_bytes(o.type, hp.kv_dim())) * double(rows) * hp.n_layer;
  if (bytes > 64.0 * (1ull << 30))
    fail(ErrorKind::kResourceExhausted, "KV cache of {} positions would need {:.1f} GiB", rows, bytes / double(1ull << 30));
  blocks_.resize(size_t(n_blocks));
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(int(b));  // low blocks first: memory touched in order
  seqs_.resize(size_t(o.n_seq));
  for (int l = 0; l < hp.n_layer; ++l) {
    k_.push_back(backend.alloc_persistent(rows, hp.kv_dim(), o.type));
    v_.push_back(backend.alloc_persistent(rows, hp.kv_dim(), o.type));
  }
  workspace_ = backend.new_workspace();
}

DecoderCache::~DecoderCache() = default;

DecoderCache::Seq& DecoderCache::seq_state(int seq) {
  return const_cast<Seq&>(std::as_const(*this).seq_state(seq));
}

const DecoderCache::Seq& DecoderCache::seq_state(int seq) const {
  if (seq < 0 || seq >= options_.n_seq)
    fail("KV cache: sequence {} out of range (cache has {})", seq, options_.n_seq);
  return seqs_[size_t(seq)];
}

int DecoderCache::length(int seq) const { return int(seq_state(seq).tokens.size()); }

std::span<const int32_t> DecoderCache::tokens(int seq) const { return seq_state(seq).tokens; }

std::span<const int32_t> DecoderCache::block_table(int seq) const { return seq_state(seq).blocks; }

int DecoderCache::take_block() {
  int b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    HEARTH_ASSERT(!lru_.empty());
    b = lru_.begin()->second;
    lru_.erase(lru_.begin());
    prefix_.erase(blocks_[size_t(b)].key);
    blocks_[size_t(b)].cached = false;
    blocks_[size_t(b)].tokens.clear();
  }
  blocks_[size_t(b)].refs = 1;
  return b;
}

void DecoderCache::drop_block(int b) {
  Block& block = blocks_[size_t(b)];
  HEARTH_ASSERT(block.refs > 0);
  if (--block.refs > 0) return;
  if (block.cached) {
    block.last_use = ++clock_;
    lru_.insert({block.last_use, b});
  } else {
    free_.push_back(b);
  }
}

void DecoderCache::copy_rows(int from, int to, int rows) {
  const int64_t bs = options_.block_size;
  for (size_t l = 0; l < k_.size(); ++l)
    for (const auto* m : {&k_, &v_}) {
      const Act a = *(*m)[l];
      backend_.copy(a.slice_rows(to * bs, rows), a.slice_rows(from * bs, rows));
    }
}

int64_t DecoderCache::blocks_needed(int seq, int start, int count) const {
  const Seq& s = seq_state(seq);
  if (count <= 0) return 0;
  const int bs = options_.block_size;
  const int64_t first = start / bs, last = (int64_t(start) + count - 1) / bs;
  int64_t n = 0;
  for (int64_t b = first; b <= last; ++b)
    if (b >= int64_t(s.blocks.size()) || blocks_[size_t(s.blocks[size_t(b)])].refs > 1) ++n;
  return n;
}

void DecoderCache::reserve(int seq, int start, int count) {
  Seq& s = seq_state(seq);
  if (start < 0 || start > int(s.tokens.size()))
    fail("KV cache: start position {} of sequence {} is past its length {}", start, seq, s.tokens.size());
  if (int64_t(start) + count > options_.n_ctx)
    fail(ErrorKind::kResourceExhausted, "context full: sequence {} needs {} positions, the context holds {}", seq,
         int64_t(start) + count, options_.n_ctx);
  if (start < int(s.tokens.size())) truncate(seq, start);  // what was stored from start on is replaced
  const int64_t need = blocks_needed(seq, start, count);
  if (need > available_blocks())
    fail(ErrorKind::kResourceExhausted, "KV cache full: {} more blocks of {} positions needed, {} available", need,
         options_.block_size, available_blocks());
  if (count <= 0) return;
  const int bs = options_.block_size;
  const int64_t first = start / bs, last = (int64_t(start) + count - 1) / bs;
  for (int64_t b = first; b <= last; ++b) {
    if (b >= int64_t(s.blocks.size())) {
      s.blocks.push_back(take_block());
      continue;
    }
    const int old = s.blocks[size_t(b)];
    Block& block = blocks_[size_t(old)];
    if (block.refs > 1) {  // another sequence reads it: write into a copy of the rows that stay
      const int copy = take_block();
      copy_rows(old, copy, int(std::min<int64_t>(bs, start - b * bs)));
      drop_block(old);
      s.blocks[size_t(b)] = copy;
    } else if (block.cached) {  // its contents are about to change: out of the prefix table
      prefix_.erase(block.key);
      block.cached = false;
      block.tokens.clear();
    }
  }
  // Full-block keys from the first block written on no longer hold.
  s.keys.resize(std::min(s.keys.size(), size_t(first)));
}

void DecoderCache::commit(int seq, int start, std::span<const int32_t> tokens) {
  Seq& s = seq_state(seq);
  HEARTH_ASSERT(start <= int(s.tokens.size()));
  s.tokens.resize(size_t(start));
  s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
  HEARTH_ASSERT(s.blocks.size() * size_t(options_.block_size) >= s.tokens.size());
  const size_t bs = size_t(options_.block_size);
  s.keys.resize(std::min(s.keys.size(), size_t(start) / bs));
  while ((s.keys.size() + 1) * bs <= s.tokens.size()) {
    const size_t b = s.keys.size();
    const std::span<const int32_t> own(s.tokens.data() + b * bs, bs);
    const uint64_t key = block_key(b == 0 ? s.adapter_key : s.keys.back(), own);
    s.keys.push_back(key);
    Block& block = blocks_[size_t(s.blocks[b])];
    if (block.cached || prefix_.count(key)) continue;  // already entered, or another block holds the same
    block.cached = true;
    block.key = key;
    block.tokens.assign(own.begin(), own.end());
    prefix_.emplace(key, s.blocks[b]);
  }
}

void DecoderCache::truncate(int seq, int n) {
  Seq& s = seq_state(seq);
  if (n < 0 || n > int(s.tokens.size()))
    fail("KV cache: cannot truncate sequence {} of length {} to {}", seq, s.tokens.size(), n);
  const size_t bs = size_t(options_.block_size), keep = (size_t(n) + bs - 1) / bs;
  // The last blocks first, so that they are older in the LRU order than the prefix they extend.
  while (s.blocks.size() > keep) {
    drop_block(s.blocks.back());
    s.blocks.pop_back();
  }
  s.tokens.resize(size_t(n));
  s.keys.resize(std::min(s.keys.size(), size_t(n) / bs));
}

uint64_t DecoderCache::adapter_key(int seq) const { return seq_state(seq).adapter_key; }

void DecoderCache::bind_adapters(int seq, int start, uint64_t adapter_key) {
  Seq& s = seq_state(seq);
  if (start > 0 && s.adapter_key != adapter_key)
    fail("forward: sequence {} was computed with other LoRA adapters; start it over (position 0) to change them", seq);
  s.adapter_key = adapter_key;
}

int DecoderCache::attach_prefix(int seq, std::span<const int32_t> tokens, uint64_t adapter_key) {
  Seq& s = seq_state(seq);
  if (!s.tokens.empty()) fail("KV cache: attach_prefix needs an empty sequence, {} holds {}", seq, s.tokens.size());
  s.adapter_key = adapter_key;
  const size_t bs = size_t(options_.block_size);
  if (tokens.empty()) return 0;
  const size_t max_blocks = std::min((tokens.size() - 1) / bs, size_t(options_.n_ctx) / bs);
  uint64_t key = adapter_key;
  for (size_t b = 0; b < max_blocks; ++b) {
    const std::span<const int32_t> own = tokens.subspan(b * bs, bs);
    key = block_key(key, own);
    const auto hit = prefix_.find(key);
    if (hit == prefix_.end()) break;
    Block& block = blocks_[size_t(hit->second)];
    if (!std::equal(own.begin(), own.end(), block.tokens.begin(), block.tokens.end())) break;
    if (block.refs++ == 0) lru_.erase({block.last_use, hit->second});
    s.blocks.push_back(hit->second);
    s.keys.push_back(key);
  }
  s.tokens.assign(tokens.begin(), tokens.begin() + int64_t(s.blocks.size() * bs));
  return int(s.tokens.size());
}

std::vector<DecoderCache::RowRun> DecoderCache::row_runs(int seq, int start, int count) const {
  const Seq& s = seq_state(seq);
  const int64_t bs = options_.block_size;
  HEARTH_ASSERT(int64_t(start) + count <= int64_t(s.blocks.size()) * bs);
  std::vector<RowRun> runs;
  for (int64_t p = start; p < int64_t(start) + count;) {
    const int64_t b = p / bs, in_block = std::min(bs - p % bs, int64_t(start) + count - p);
    const int64_t row = int64_t(s.blocks[size_t(b)]) * bs + p % bs;
    if (!runs.empty() && runs.back().row + runs.back().count == row)
      runs.back().count += in_block;
    else
      runs.push_back({p, row, in_block});
    p += in_block;
  }
  return runs;
}

const std::vector<std::string>& decoder_architectures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& a : decoder_table()) v.emplace_back(a.name);
    return v;
  }();
  return names;
}

std::unique_ptr<DecoderModel> load_decoder(const Weights& weights, Backend& backend,
                                           const DecoderLoadOptions& options) {
  const std::string arch = weights.architecture();
  for (const auto& a : decoder_table())
    if (a.name == arch) return a.build(weights, backend, options);
  const auto& known = decoder_architectures();
  std::string names;
  for (const auto& n : known) names += (names.empty() ? "" : ", ") + n;
  for (const auto& e : encoder_architectures())
    if (e.name == arch)
      fail(ErrorKind::kUnsupported, "{}: '{}' is an encoder (embedding) model; text generation needs a decoder ({})", weights.source(), arch,
           names);
  if (is_decoder_architecture(arch))
    fail(ErrorKind::kUnsupported, "{}: decoder architecture '{}' is not supported yet (supported: {})", weights.source(), arch, names);
  fail(ErrorKind::kUnsupported, "{}: unknown architecture '{}' (decoders this build runs: {})", weights.source(), arch, names);
}

std::vector<float> DecoderModel::hidden_states(std::span<const DecoderInput>, DecoderCache&) const {
  fail(ErrorKind::kUnsupported, "this {} decoder cannot return hidden states (embeddings)", hparams().arch);
}

}  // namespace hearth
