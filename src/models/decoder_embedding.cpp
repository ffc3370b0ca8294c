#include "models/decoder_embedding.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hearth {

std::optional<Pooling> declared_decoder_pooling(const Weights& weights) {
  const std::string key = weights.architecture() + ".pooling_type";
  const std::optional<int64_t> type = weights.metadata().find_int(key);
  if (!type) return std::nullopt;
  switch (*type) {
    case 0: return Pooling::kNone;
    case 1: return Pooling::kMean;
    case 3: return Pooling::kLast;
    case 2:
    case 4:
      fail(ErrorKind::kUnsupported, "{}: {} = {} ({}) is not supported for a decoder: its causal attention gives the "
           "first token no view of the text (mean = 1 and last = 3 are)", weights.source(), key, *type,
           *type == 2 ? "cls" : "rank");
    default:
      fail(ErrorKind::kCorruptData, "{}: {} = {} is not a pooling type (0 none, 1 mean, 2 cls, 3 last, 4 rank)",
           weights.source(), key, *type);
  }
}

bool declares_embedding_pooling(const Weights& weights) {
  const std::optional<int64_t> type = weights.metadata().find_int(weights.architecture() + ".pooling_type");
  return type == 1 || type == 3;
}

namespace {

// Longest text one pass embeds: the model's training context, capped so that one text's activations and KV cache
// stay bounded (a 32k-token pass of a 0.6B model needs several GB of attention scratch).
constexpr int kMaxEmbedTokens = 8192;

class DecoderEmbedding final : public EncoderModel {
 public:
  DecoderEmbedding(const DecoderModel& decoder, std::unique_ptr<DecoderModel> owned, Pooling pooling)
      : owned_(std::move(owned)), decoder_(decoder), pooling_(pooling) {
    if (pooling != Pooling::kMean && pooling != Pooling::kLast && pooling != Pooling::kNone)
      fail(ErrorKind::kUnsupported, "a decoder embeds with mean or last-token pooling, not '{}'",
           pooling == Pooling::kCls ? "cls" : "?");
  }

  int dim() const override { return decoder_.hparams().n_embd; }
  int max_tokens() const override {
    const int trained = decoder_.hparams().n_ctx_train;
    return trained > 0 ? std::min(trained, kMaxEmbedTokens) : kMaxEmbedTokens;
  }
  EmbedOptions default_options() const override { return {pooling_, true}; }
  std::vector<Pooling> supported_poolings() const override { return {Pooling::kMean, Pooling::kLast, Pooling::kNone}; }

  std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& sequences,
                                        const EmbedOptions& options) const override {
    if (sequences.empty()) return {};
    // One sequence id per text in one forward pass: the causal attention of each reads only its own cache blocks,
    // and each row's hidden state is the same bits whatever else runs in the pass (docs/decoder.md).
    CacheOptions co;
    co.n_seq = int(sequences.size());
    co.n_ctx = 1;
    for (size_t i = 0; i < sequences.size(); ++i) {
      if (sequences[i].empty()) fail("text {} gives no tokens to embed", i + 1);
      co.n_ctx = std::max(co.n_ctx, int(sequences[i].size()));
      co.capacity += (int64_t(sequences[i].size()) + co.block_size - 1) / co.block_size * co.block_size;
    }
    auto cache = decoder_.new_cache(co);
    const bool every_row = options.pooling != Pooling::kLast;
    std::vector<DecoderInput> inputs(sequences.size());
    for (size_t i = 0; i < sequences.size(); ++i) {
      inputs[i].seq = int(i);
      inputs[i].tokens = sequences[i];
      inputs[i].all_logits = every_row;
    }
    const std::vector<float> hidden = decoder_.hidden_states(inputs, *cache);
    const size_t E = size_t(dim());

    std::vector<std::vector<float>> out(sequences.size());
    size_t row = 0;
    for (size_t i = 0; i < sequences.size(); ++i) {
      const size_t rows = every_row ? sequences[i].size() : 1;
      const float* h = hidden.data() + row * E;
      row += rows;
      if (options.pooling == Pooling::kNone) {
        out[i].assign(h, h + rows * E);
        if (options.normalize)
          for (size_t r = 0; r < rows; ++r) normalize(out[i].data() + r * E, E);
        continue;
      }
      std::vector<double> sum(E, 0.0);
      for (size_t r = 0; r < rows; ++r)
        for (size_t d = 0; d < E; ++d) sum[d] += h[r * E + d];
      out[i].resize(E);
      for (size_t d = 0; d < E; ++d) out[i][d] = float(sum[d] / double(rows));
      if (options.normalize) normalize(out[i].data(), E);
    }
    HEARTH_ASSERT(row * E == hidden.size());
    return out;
  }

 private:
  static void normalize(float* v, size_t n) {
    double ss = 0;
    for (size_t d = 0; d < n; ++d) ss += double(v[d]) * v[d];
    const double scale = 1.0 / std::max(std::sqrt(ss), 1e-12);
    for (size_t d = 0; d < n; ++d) v[d] = float(v[d] * scale);
  }

  std::unique_ptr<DecoderModel> owned_;  // null when the caller owns the decoder
  const DecoderModel& decoder_;
  Pooling pooling_;
};

}  // namespace

std::unique_ptr<EncoderModel> decoder_embedding(const DecoderModel& decoder, Pooling pooling) {
  return std::make_unique<DecoderEmbedding>(decoder, nullptr, pooling);
}

std::unique_ptr<EncoderModel> decoder_embedding(std::unique_ptr<DecoderModel> decoder, Pooling pooling) {
  HEARTH_ASSERT(decoder != nullptr);
  const DecoderModel& ref = *decoder;
  return std::make_unique<DecoderEmbedding>(ref, std::move(decoder), pooling);
}

}  // namespace hearth
