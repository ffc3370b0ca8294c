#include "runtime/session.h"

#include <algorithm>
#include <utility>

#include "backends/registry.h"
#include "core/error.h"

namespace hearth {

int DecoderSession::context_size(int requested, int cap) const {
  if (requested < 0) fail("context size must be positive");
  if (requested > 0) return requested;
  return std::max(1, std::min(model->hparams().n_ctx_train, cap));
}

DecoderSession open_decoder(const std::string& path, int threads, const std::string& backend) {
  shared_backend(backend, threads);  // first: a bad backend or thread count fails before any loading
  return open_decoder(Weights::open(path), threads, backend);
}

DecoderSession open_decoder(std::shared_ptr<const Weights> weights, int threads, const std::string& backend) {
  const std::string path = weights->source();
  DecoderSession s;
  s.backend = shared_backend(backend, threads);
  s.weights = std::move(weights);
  s.model = load_decoder(*s.weights, *s.backend);
  s.tokenizer = load_tokenizer(s.weights->metadata(), s.weights->source());
  if (s.tokenizer->n_vocab() > s.model->hparams().n_vocab)
    fail(ErrorKind::kCorruptData, "{}: the tokenizer has {} tokens but the model only {}", path, s.tokenizer->n_vocab(),
         s.model->hparams().n_vocab);
  return s;
}

}  // namespace hearth
