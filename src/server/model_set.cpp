#include "server/model_set.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "backends/registry.h"
#include "models/registry.h"
#include "server/api_error.h"

namespace hearth::server {

ModelSpec parse_model_spec(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq != std::string::npos && eq > 0 && arg.find('/') > eq) return {arg.substr(0, eq), arg.substr(eq + 1)};
  std::filesystem::path p(arg);
  if (!p.has_filename()) p = p.parent_path();  // a model folder given as "dir/"
  return {p.stem().string(), arg};
}

ModelSet::ModelSet(const std::vector<ModelSpec>& specs, const ModelSetOptions& o) {
  if (specs.empty()) fail("no model: give at least one -m PATH");
  for (const ModelSpec& spec : specs) {
    if (spec.id.empty() || spec.path.empty()) fail("model '{}={}': the id and the path must not be empty", spec.id, spec.path);
    for (const auto& e : entries_)
      if (e->id == spec.id) fail("two models have the id '{}': give one an alias (-m ALIAS=PATH)", spec.id);
    auto entry = std::make_unique<ModelEntry>();
    entry->id = spec.id;
    entry->created = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    std::shared_ptr<const Weights> weights = Weights::open(spec.path);
    if (is_decoder_architecture(weights->architecture())) {
      auto d = std::make_unique<DecoderEntry>();
      d->session = open_decoder(std::move(weights), o.threads);
      d->template_source = chat_template_from_metadata(d->session.weights->metadata(), false, spec.path);
      d->chat_template = std::make_unique<ChatTemplate>(d->template_source.source, d->template_source.bos_token,
                                                        d->template_source.eos_token);
      EngineOptions eo;
      eo.slots = o.parallel;
      eo.context = d->session.context_size(o.context);
      eo.max_queued = o.max_queued;
      eo.step_tokens = std::max(eo.step_tokens, eo.slots);
      d->engine = std::make_unique<Engine>(*d->session.model, *d->session.tokenizer, eo);
      entry->decoder = std::move(d);
    } else if (is_cross_encoder(*weights)) {
      auto r = std::make_unique<RerankerEntry>();
      r->weights = weights;
      r->reranker = std::make_unique<Reranker>(weights, *shared_backend("auto", o.threads));
      entry->reranker = std::move(r);
    } else {
      auto e = std::make_unique<EncoderEntry>();
      e->weights = weights;
      e->embedder = std::make_unique<Embedder>(weights, *shared_backend("auto", o.threads));
      e->batcher = std::make_unique<EmbedBatcher>(*e->embedder);
      entry->encoder = std::move(e);
    }
    entries_.push_back(std::move(entry));
  }
}

ModelSet::~ModelSet() = default;

namespace {

ApiError reranker_cannot(const std::string& id, const char* what) {
  return ApiError(400,
                  fmt::format("the model '{}' is a reranker (cross-encoder): it cannot {}; it scores documents "
                              "against a query at /v1/rerank",
                              id, what),
                  "model", "model_not_supported", ErrorKind::kUnsupported);
}

}  // namespace

ModelEntry& ModelSet::find(const std::string& id) const {
  for (const auto& e : entries_)
    if (e->id == id) return *e;
  throw ApiError(404, fmt::format("the model '{}' does not exist (GET /v1/models lists the loaded ones)", id), "model",
                 "model_not_found", ErrorKind::kNotFound);
}

DecoderEntry& ModelSet::decoder(const std::string& id) const {
  ModelEntry& e = find(id);
  if (e.reranker) throw reranker_cannot(id, "generate text");
  if (!e.decoder)
    throw ApiError(400, fmt::format("the model '{}' is an embedding model (encoder): it cannot generate text", id),
                   "model", "model_not_supported", ErrorKind::kUnsupported);
  return *e.decoder;
}

EncoderEntry& ModelSet::encoder(const std::string& id) const {
  ModelEntry& e = find(id);
  if (e.reranker) throw reranker_cannot(id, "embed texts");
  if (!e.encoder)
    throw ApiError(400, fmt::format("the model '{}' is a text generation model (decoder): it has no embeddings", id),
                   "model", "model_not_supported", ErrorKind::kUnsupported);
  return *e.encoder;
}

RerankerEntry& ModelSet::reranker(const std::string& id) const {
  ModelEntry& e = find(id);
  if (!e.reranker)
    throw ApiError(400,
                   fmt::format("the model '{}' is {}: it cannot rerank; /v1/rerank needs a cross-encoder (an encoder "
                               "with a classification head, such as bge-reranker or ms-marco-MiniLM)",
                               id, e.decoder ? "a text generation model (decoder)" : "an embedding model (encoder)"),
                   "model", "model_not_supported", ErrorKind::kUnsupported);
  return *e.reranker;
}

}  // namespace hearth::server
