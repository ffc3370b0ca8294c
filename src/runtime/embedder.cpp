#include "runtime/embedder.h"

#include <algorithm>
#include <exception>
#include <numeric>
#include <system_error>
#include <thread>

#include "core/error.h"
#include "models/decoder_embedding.h"
#include "models/registry.h"

namespace hearth {

Pooling parse_pooling(std::string_view name) {
  if (name == "mean") return Pooling::kMean;
  if (name == "cls") return Pooling::kCls;
  if (name == "last") return Pooling::kLast;
  if (name == "none") return Pooling::kNone;
  fail("unknown pooling '{}' (expected mean, cls, last or none)", name);
}

std::string_view pooling_name(Pooling p) {
  switch (p) {
    case Pooling::kMean: return "mean";
    case Pooling::kCls: return "cls";
    case Pooling::kLast: return "last";
    case Pooling::kNone: return "none";
  }
  return "?";
}

std::string instructed_query(std::string_view instruction, std::string_view query) {
  return fmt::format("Instruct: {}\nQuery:{}", instruction, query);
}

namespace {

// The pooling a decoder embeds with: the one its file declares for embeddings, else the caller's.
Pooling decoder_embedding_pooling(const Weights& weights, std::optional<Pooling> asked) {
  std::optional<Pooling> declared = declared_decoder_pooling(weights);
  if (declared == Pooling::kNone) declared.reset();  // llama.cpp's "none": not declared an embedding model
  if (declared) return *declared;
  if (asked) return *asked;
  fail(ErrorKind::kUnsupported,
       "{}: '{}' is a text generation model (decoder) whose metadata declares no embedding pooling ({}.pooling_type); "
       "to embed with it anyway, ask for a pooling (hearth embed --pooling last|mean; hearth serve --embedding)",
       weights.source(), weights.architecture(), weights.architecture());
}

}  // namespace

Embedder::Embedder(std::shared_ptr<const Weights> weights, Backend& backend, std::optional<Pooling> decoder_pooling)
    : weights_(std::move(weights)) {
  HEARTH_ASSERT(weights_ != nullptr);
  if (is_decoder_architecture(weights_->architecture())) {
    const Pooling pooling = decoder_embedding_pooling(*weights_, decoder_pooling);
    model_ = decoder_embedding(load_decoder(*weights_, backend), pooling);
    tokenizer_ = load_tokenizer(weights_->metadata(), weights_->source());
    threads_ = std::max(1, backend.threads());
    return;
  }
  // The encoder first: a file of an unknown architecture then fails naming it rather than with a tokenizer
  // complaint.
  model_ = load_encoder(*weights_, backend);
  // A cross-encoder's hidden states were trained to feed its classification head, not to be compared.
  if (model_->n_classes() > 0)
    fail(ErrorKind::kUnsupported,
         "{}: this model is a reranker (a cross-encoder with a classification head): it scores query-document pairs "
         "and has no sentence embeddings",
         weights_->source());
  tokenizer_ = load_tokenizer(weights_->metadata(), weights_->source());
  threads_ = std::max(1, backend.threads());
}

Embedder::Embedder(std::shared_ptr<const Weights> weights, const DecoderModel& decoder,
                   std::optional<Pooling> decoder_pooling)
    : weights_(std::move(weights)) {
  HEARTH_ASSERT(weights_ != nullptr);
  model_ = decoder_embedding(decoder, decoder_embedding_pooling(*weights_, decoder_pooling));
  tokenizer_ = load_tokenizer(weights_->metadata(), weights_->source());
  threads_ = std::max(1, decoder.backend().threads());
}

Embedder::~Embedder() = default;

std::vector<int32_t> Embedder::tokenize(std::string_view text, bool* truncated) const {
  // parse_special = false: user text that happens to spell "[SEP]" stays text.
  std::vector<int32_t> ids = tokenizer_->encode(text, /*add_special=*/true, /*parse_special=*/false);
  size_t limit = size_t(model_->max_tokens());
  if (tokenizer_->max_tokens() > 0) limit = std::min(limit, size_t(tokenizer_->max_tokens()));
  const bool cut = ids.size() > limit;
  if (truncated) *truncated = cut;
  if (!cut) return ids;
  const SpecialTokens& sp = tokenizer_->special();
  const int32_t last = ids.back();
  const bool closing = last >= 0 && (last == sp.sep || (sp.add_eos && last == sp.eos));
  if (closing && limit >= 2) {
    ids.resize(limit - 1);
    ids.push_back(last);
  } else {
    ids.resize(limit);
  }
  return ids;
}

EmbedResult Embedder::embed(const std::vector<std::string>& texts, const EmbedderOptions& options) const {
  const size_t n = texts.size();
  std::vector<std::vector<int32_t>> sequences(n);
  std::vector<char> truncated(n);  // not vector<bool>: threads write neighbouring entries
  auto tokenize_range = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      bool t = false;
      sequences[i] = options.instruction.empty() ? tokenize(texts[i], &t)
                                                 : tokenize(instructed_query(options.instruction, texts[i]), &t);
      truncated[i] = t;
    }
  };
  // A bulk call's texts are tokenized on the backend's thread count (tokenizers are thread-safe): on one thread,
  // 256 short sentences take a few milliseconds while the backend's other threads wait. Each thread takes a
  // contiguous slice; the error of the earliest failing slice is the one the serial loop would have thrown.
  constexpr size_t kTextsPerThread = 64;
  const size_t n_threads = std::min(size_t(threads_), n / kTextsPerThread);
  if (n_threads <= 1) {
    tokenize_range(0, n);
  } else {
    std::vector<std::exception_ptr> errors(n_threads);
    auto slice = [&](size_t t) {
      try {
        tokenize_range(t * n / n_threads, (t + 1) * n / n_threads);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    };
    std::vector<std::thread> helpers;
    for (size_t t = 1; t < n_threads; ++t) {
      try {
        helpers.emplace_back(slice, t);
      } catch (const std::system_error&) {  // no thread to be had (a process limit): this slice runs here
        slice(t);
      }
    }
    slice(0);
    for (std::thread& h : helpers) h.join();
    for (const std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);
  }
  EmbedResult r = embed_tokens(sequences, options);
  r.truncated.assign(truncated.begin(), truncated.end());
  return r;
}

EmbedResult Embedder::embed_tokens(const std::vector<std::vector<int32_t>>& sequences,
                                   const EmbedderOptions& options) const {
  EmbedOptions opts = model_->default_options();
  if (options.pooling) opts.pooling = *options.pooling;
  if (options.normalize) opts.normalize = *options.normalize;
  const auto supported = model_->supported_poolings();
  if (std::find(supported.begin(), supported.end(), opts.pooling) == supported.end())
    fail(ErrorKind::kUnsupported, "{}: pooling '{}' is not supported by this model", weights_->source(),
         pooling_name(opts.pooling));
  const int64_t budget = options.batch_tokens > 0 ? options.batch_tokens : kDefaultBatchTokens;

  EmbedResult r;
  r.embeddings.resize(sequences.size());
  r.n_tokens.resize(sequences.size());
  r.truncated.assign(sequences.size(), false);
  for (size_t i = 0; i < sequences.size(); ++i) {
    r.n_tokens[i] = int(sequences[i].size());
    r.total_tokens += int64_t(sequences[i].size());
  }

  // Shortest first, so each batch holds sentences of similar length and the last, partial batches are short.
  std::vector<size_t> order(sequences.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sequences[a].size() < sequences[b].size(); });

  std::vector<std::vector<int32_t>> batch;
  std::vector<size_t> members;
  int64_t batch_size = 0;
  auto flush = [&] {
    if (batch.empty()) return;
    auto out = model_->embed(batch, opts);
    HEARTH_ASSERT(out.size() == batch.size());
    for (size_t j = 0; j < members.size(); ++j) r.embeddings[members[j]] = std::move(out[j]);
    batch.clear();
    members.clear();
    batch_size = 0;
  };
  for (size_t i : order) {
    const int64_t n = int64_t(sequences[i].size());
    if (!batch.empty() && batch_size + n > budget) flush();
    batch.push_back(sequences[i]);
    members.push_back(i);
    batch_size += n;
  }
  flush();
  return r;
}

}  // namespace hearth
