#include "api/internal.h"
#include "models/registry.h"

namespace hearth::inline v1 {

const char* to_string(ModelKind kind) { return kind == ModelKind::kDecoder ? "decoder" : "encoder"; }

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<Model> Model::open(const std::string& path, const ModelOptions& options) {
  if (options.threads < 0) throw Error("thread count must be >= 0", ErrorKind::kInvalidArgument);
  return translate_errors([&] {
    auto impl = std::make_unique<Impl>();
    ModelInfo& info = impl->info;
    info.path = path;
    std::shared_ptr<const Weights> weights = Weights::open(path);
    info.architecture = weights->architecture();
    if (is_decoder_architecture(info.architecture)) {
      impl->decoder = open_decoder(std::move(weights), options.threads, options.backend);
      const DecoderSession& d = *impl->decoder;
      info.kind = ModelKind::kDecoder;
      info.context_length = d.model->hparams().n_ctx_train;
      info.dim = d.model->hparams().n_embd;
    } else {
      impl->backend = shared_backend(options.backend, options.threads);
      impl->embedder = std::make_unique<Embedder>(std::move(weights), *impl->backend);
      info.kind = ModelKind::kEncoder;
      info.context_length = impl->embedder->model().max_tokens();
      info.dim = impl->embedder->dim();
    }
    info.tokenizer = impl->tokenizer().type_name();
    info.vocab_size = impl->tokenizer().n_vocab();
    return std::make_shared<Model>(std::move(impl));
  });
}

const ModelInfo& Model::info() const { return impl_->info; }

std::vector<int32_t> Model::tokenize(std::string_view text, bool add_special) const {
  return translate_errors([&] { return impl_->tokenizer().encode(text, add_special, /*parse_special=*/false); });
}

std::string Model::detokenize(const std::vector<int32_t>& ids) const {
  for (int32_t id : ids)
    if (id < 0 || id >= impl_->info.vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                      std::to_string(impl_->info.vocab_size - 1) + ")",
                  ErrorKind::kInvalidArgument);
  return translate_errors([&] { return impl_->tokenizer().decode(ids); });
}

std::vector<std::vector<float>> Model::embed(const std::vector<std::string>& texts) const {
  if (!impl_->embedder) {
    std::string encoders;
    for (const EncoderArchitecture& a : encoder_architectures()) (encoders += encoders.empty() ? "" : ", ") += a.name;
    throw Error(impl_->info.path + ": '" + impl_->info.architecture + "' is a decoder model; embeddings need an " +
                    "encoder (" + encoders + ")",
                ErrorKind::kUnsupported);
  }
  return translate_errors([&] { return impl_->embedder->embed(texts).embeddings; });
}

}  // namespace hearth::inline v1
