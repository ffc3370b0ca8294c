#include "models/decoder.h"

#include "core/error.h"
#include "models/registry.h"

namespace hearth {

DecoderCache::DecoderCache(Backend& backend, const DecoderHParams& hp, int n_ctx, int n_seq)
    : backend_(backend), n_ctx_(n_ctx), n_seq_(n_seq), kv_dim_(hp.kv_dim()) {
  if (n_ctx < 1 || n_seq < 1) fail("KV cache: n_ctx ({}) and n_seq ({}) must be positive", n_ctx, n_seq);
  const int64_t rows = int64_t(n_ctx) * n_seq;
  // Guard against a context size that would silently need absurd memory (e.g. a typo'd --ctx).
  const double bytes = 2.0 * double(rows) * hp.kv_dim() * hp.n_layer * 2;
  if (bytes > 64.0 * (1ull << 30)) fail("KV cache of {} positions x {} sequences would need {:.1f} GiB", n_ctx, n_seq,
                                        bytes / double(1ull << 30));
  length_.assign(size_t(n_seq), 0);
  for (int l = 0; l < hp.n_layer; ++l) {
    k_.push_back(backend.alloc_persistent(rows, hp.kv_dim(), DType::F16));
    v_.push_back(backend.alloc_persistent(rows, hp.kv_dim(), DType::F16));
  }
  workspace_ = backend.new_workspace();
}

int DecoderCache::length(int seq) const {
  if (seq < 0 || seq >= n_seq_) fail("KV cache: sequence {} out of range (cache has {})", seq, n_seq_);
  return length_[size_t(seq)];
}

void DecoderCache::truncate(int seq, int n) {
  if (n < 0 || n > length(seq)) fail("KV cache: cannot truncate sequence {} of length {} to {}", seq, length(seq), n);
  length_[size_t(seq)] = n;
}

void DecoderCache::set_length(int seq, int n) {
  if (n < 0 || n > n_ctx_) fail("KV cache: length {} outside the context of {}", n, n_ctx_);
  (void)length(seq);
  length_[size_t(seq)] = n;
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
      fail("{}: '{}' is an encoder (embedding) model; text generation needs a decoder ({})", weights.source(), arch,
           names);
  if (is_decoder_architecture(arch))
    fail("{}: decoder architecture '{}' is not supported yet (supported: {})", weights.source(), arch, names);
  fail("{}: unknown architecture '{}' (decoders this build runs: {})", weights.source(), arch, names);
}

}  // namespace hearth
