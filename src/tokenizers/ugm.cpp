#include "tokenizers/ugm.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <vector>

#include "core/error.h"
#include "tokenizers/hf/pipeline.h"

namespace hearth {
namespace {

using nlohmann::json;

constexpr const char* kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's escaped space

// llama.cpp's token types (SentencePiece's piece types).
enum TokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

std::string base64(const std::vector<int64_t>& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = uint8_t(bytes[i]), b1 = i + 1 < bytes.size() ? uint8_t(bytes[i + 1]) : 0,
                   b2 = i + 2 < bytes.size() ? uint8_t(bytes[i + 2]) : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

json replace(const char* kind, const char* pattern, const char* content) {
  return {{"type", "Replace"}, {"pattern", {{kind, pattern}}}, {"content", content}};
}

}  // namespace

std::unique_ptr<Tokenizer> make_ugm_tokenizer(const Metadata& md, const std::string& source) {
  const std::vector<std::string>* tokens = md.find_strings("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty())
    fail(ErrorKind::kCorruptData, "{}: tokenizer model 't5' without tokenizer.ggml.tokens", source);
  const int64_t n = int64_t(tokens->size());
  const std::optional<std::vector<double>> scores = md.find_floats("tokenizer.ggml.scores");
  if (!scores || int64_t(scores->size()) != n)
    fail(ErrorKind::kCorruptData, "{}: a unigram vocabulary needs tokenizer.ggml.scores, one per token ({})", source,
         n);
  std::vector<int64_t> types = md.find_ints("tokenizer.ggml.token_type").value_or(std::vector<int64_t>());
  if (types.empty()) types.assign(size_t(n), kNormal);
  if (int64_t(types.size()) != n)
    fail(ErrorKind::kCorruptData, "{}: tokenizer.ggml.token_type has {} entries for {} tokens", source, types.size(),
         n);

  // Special token ids; the defaults are llama.cpp's for a "t5" vocabulary.
  auto id_of = [&](const char* key, int64_t fallback) -> int32_t {
    const std::optional<int64_t> v = md.find_int(std::string("tokenizer.ggml.") + key);
    if (!v) return fallback >= 0 && fallback < n ? int32_t(fallback) : -1;
    if (*v == -1) return -1;
    if (*v < 0 || *v >= n)
      fail(ErrorKind::kCorruptData, "{}: tokenizer.ggml.{} = {} is outside the vocabulary (0..{})", source, key, *v,
           n - 1);
    return int32_t(*v);
  };
  int32_t unk = id_of("unknown_token_id", -1);
  if (unk < 0)
    for (int64_t i = 0; i < n; ++i)
      if (types[size_t(i)] == kUnknown) {
        unk = int32_t(i);
        break;
      }
  if (unk < 0 && !md.has("tokenizer.ggml.unknown_token_id")) unk = n > 2 ? 2 : -1;
  const int32_t bos = id_of("bos_token_id", -1), eos = id_of("eos_token_id", 1), sep = id_of("seperator_token_id", -1),
                pad = id_of("padding_token_id", 0), cls = id_of("cls_token_id", -1), mask = id_of("mask_token_id", -1);
  const bool add_bos = md.find_bool("tokenizer.ggml.add_bos_token").value_or(false);
  const bool add_eos = md.find_bool("tokenizer.ggml.add_eos_token").value_or(true);
  const bool add_space_prefix = md.find_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  const bool remove_extra_whitespaces = md.find_bool("tokenizer.ggml.remove_extra_whitespaces").value_or(true);

  json vocab = json::array();
  json added = json::array();
  bool byte_fallback = false;
  for (int64_t i = 0; i < n; ++i) {
    const std::string& piece = (*tokens)[size_t(i)];
    vocab.push_back(json::array({piece, (*scores)[size_t(i)]}));
    const int64_t type = types[size_t(i)];
    if (type == kControl || type == kUnknown || type == kUserDefined)
      added.push_back({{"id", i},
                       {"content", piece},
                       {"special", type != kUserDefined},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false}});
    byte_fallback |= type == kByte;
  }
  json model = {{"type", "Unigram"}, {"vocab", std::move(vocab)}, {"byte_fallback", byte_fallback}};
  model["unk_id"] = unk >= 0 ? json(unk) : json(nullptr);

  json normalizers = json::array();
  if (const std::optional<std::vector<int64_t>> charsmap = md.find_ints("tokenizer.ggml.precompiled_charsmap");
      charsmap && !charsmap->empty())
    normalizers.push_back({{"type", "Precompiled"}, {"precompiled_charsmap", base64(*charsmap)}});
  if (remove_extra_whitespaces) {
    // llama.cpp drops the spaces at both ends, merges runs, and starts every word with "▁" (the first one too,
    // whatever add_space_prefix says).
    normalizers.push_back(replace("Regex", "^ +| +$", ""));
    normalizers.push_back(replace("Regex", " {2,}", " "));
    normalizers.push_back(replace("String", " ", kSpace));
    normalizers.push_back({{"type", "Prepend"}, {"prepend", kSpace}});
  } else {
    normalizers.push_back(replace("String", " ", kSpace));
    if (add_space_prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", kSpace}});
  }

  // Framing. The special_tokens entries are named by id.
  json specials = json::object();
  auto special = [&](int32_t id) {
    const std::string name = fmt::format("<{}>", id);
    specials[name] = {{"id", name}, {"ids", {id}}, {"tokens", {(*tokens)[size_t(id)]}}};
    return json{{"SpecialToken", {{"id", name}, {"type_id", 0}}}};
  };
  auto sequence = [](const char* which) { return json{{"Sequence", {{"id", which}, {"type_id", 0}}}}; };
  json single = json::array();
  if (add_bos && bos >= 0) single.push_back(special(bos));
  single.push_back(sequence("A"));
  if (add_eos && eos >= 0) single.push_back(special(eos));
  json post = {{"type", "TemplateProcessing"}, {"single", single}};
  if (add_bos && add_eos && bos >= 0 && eos >= 0) {
    json pair = json::array({special(bos), sequence("A"), special(eos), special(sep >= 0 ? sep : eos), sequence("B"),
                             special(eos)});
    post["pair"] = std::move(pair);
  }
  post["special_tokens"] = std::move(specials);

  const json tokenizer = {
      {"model", std::move(model)},
      {"added_tokens", std::move(added)},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", std::move(normalizers)}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", std::move(post)},
      {"decoder",
       {{"type", "Metaspace"},
        {"replacement", kSpace},
        {"prepend_scheme", add_space_prefix || remove_extra_whitespaces ? "always" : "never"},
        {"split", true}}},
  };
  json config = json::object();
  for (const auto& [key, id] : {std::pair{"bos_token", bos}, {"eos_token", eos}, {"unk_token", unk},
                                {"sep_token", sep}, {"pad_token", pad}, {"cls_token", cls}, {"mask_token", mask}})
    if (id >= 0) config[key] = (*tokens)[size_t(id)];
  return hf::make_tokenizer(tokenizer, config, source);
}

}  // namespace hearth
