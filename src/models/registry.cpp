#include "models/registry.h"

#include <algorithm>
#include <array>
#include <optional>

#include "core/error.h"
#include "models/bert.h"
#include "models/llama.h"
#include "models/use.h"

namespace hearth {

const std::vector<EncoderArchitecture>& encoder_architectures() {
  static const std::vector<EncoderArchitecture> table = {
      {"bert", load_bert},
      {"use", load_use},
  };
  return table;
}

const std::vector<DecoderArchitecture>& decoder_table() {
  // The llama family reads all three; its loader tells them apart by general.architecture.
  const auto llama_family = [](const Weights& w, Backend& b, const DecoderLoadOptions&) {
    return load_llama_family(w, b);
  };
  static const std::vector<DecoderArchitecture> table = {
      {"llama", llama_family},
      {"qwen2", llama_family},
      {"qwen3", llama_family},
  };
  return table;
}

bool is_decoder_architecture(std::string_view arch) {
  // llama.cpp's names for generative architectures that people are likely to point an embedding command at.
  static constexpr std::array<std::string_view, 24> kDecoders = {
      "llama",  "qwen2",   "qwen3",    "qwen2moe", "qwen3moe", "mistral", "mixtral",  "gemma",
      "gemma2", "gemma3",  "phi2",     "phi3",     "gpt2",     "gptneox", "falcon",   "mpt",
      "starcoder", "starcoder2", "stablelm", "deepseek", "deepseek2", "command-r", "olmo", "internlm2",
  };
  return std::find(kDecoders.begin(), kDecoders.end(), arch) != kDecoders.end();
}

namespace {

std::string encoder_names() {
  std::string names;
  for (const auto& a : encoder_architectures()) names += (names.empty() ? "" : ", ") + std::string(a.name);
  return names;
}

}  // namespace

bool is_cross_encoder(const Weights& weights) {
  const std::optional<std::string> arch = weights.metadata().find_string("general.architecture");
  return arch == "bert" && has_classification_head(weights);
}

std::unique_ptr<EncoderModel> load_encoder(const Weights& weights, Backend& backend) {
  const std::string arch = weights.architecture();
  for (const auto& a : encoder_architectures())
    if (a.name == arch) return a.build(weights, backend);
  if (is_decoder_architecture(arch))
    fail("{}: '{}' is a decoder model; embeddings need an encoder ({})", weights.source(), arch, encoder_names());
  fail(ErrorKind::kUnsupported, "{}: unknown architecture '{}' (encoders this build runs: {})", weights.source(), arch,
       encoder_names());
}

}  // namespace hearth
