// load_tokenizer: picks the algorithm a vocabulary asks for. GGUF metadata names it in tokenizer.ggml.model;
// a Hugging Face folder has tokenizer.json (loaded by tokenizer_json.h) or a BERT vocab.txt, which is
// translated here into the same tokenizer.ggml.* keys so that one code path builds every tokenizer.
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/metadata.h"
#include "formats/weights.h"
#include "tokenizers/spm.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/ugm.h"
#include "tokenizers/wordpiece.h"

#if __has_include("tokenizers/bpe.h")
#include "tokenizers/bpe.h"
#define HEARTH_HAVE_BPE 1
#endif
#if __has_include("tokenizers/unigram.h")
#include "tokenizers/unigram.h"
#define HEARTH_HAVE_USE_UNIGRAM 1
#endif
#if __has_include("tokenizers/tokenizer_json.h")
#include "tokenizers/tokenizer_json.h"
#define HEARTH_HAVE_TOKENIZER_JSON 1
#endif

namespace hearth {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail(errno_kind(errno), "{}: cannot open file", p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: read error", p.string());
  return ss.str();
}

nlohmann::json read_json(const fs::path& p) {
  try {
    return nlohmann::json::parse(read_file(p));
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kCorruptData, "{}: invalid JSON ({})", p.string(), e.what());
  }
}

// A special token named in tokenizer_config.json: a string, or an object holding "content".
std::string config_token(const nlohmann::json& config, const char* key, const char* fallback) {
  auto it = config.find(key);
  if (it != config.end()) {
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
      return (*it)["content"].get<std::string>();
  }
  return fallback;
}

// BERT vocab.txt (one token per line, id = line number) + optional tokenizer_config.json → WordPiece.
std::unique_ptr<Tokenizer> load_vocab_txt(const fs::path& dir) {
  const fs::path vocab_path = dir / "vocab.txt";
  const std::string source = vocab_path.string();
  std::vector<std::string> entries;
  {
    std::istringstream in(read_file(vocab_path));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      entries.push_back(std::move(line));
    }
  }
  if (entries.empty()) fail(ErrorKind::kCorruptData, "{}: empty vocabulary", source);

  nlohmann::json config = nlohmann::json::object();
  if (fs::exists(dir / "tokenizer_config.json")) config = read_json(dir / "tokenizer_config.json");
  if (!config.is_object())
    fail(ErrorKind::kCorruptData, "{}: tokenizer_config.json is not a JSON object", dir.string());
  bool lowercase = true;  // BertTokenizer's default
  if (auto it = config.find("do_lower_case"); it != config.end() && it->is_boolean()) lowercase = it->get<bool>();

  Metadata md;
  md.set_string("tokenizer.ggml.model", "bert");
  md.set_bool(kWordPieceLowercaseKey, lowercase);
  std::vector<int32_t> types(entries.size(), 1);
  auto special = [&](const char* config_key, const char* fallback, const char* meta_key) {
    const std::string text = config_token(config, config_key, fallback);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i] == text) {
        types[i] = 3;
        md.set_u32(meta_key, uint32_t(i));
        return;
      }
    }
  };
  special("unk_token", "[UNK]", "tokenizer.ggml.unknown_token_id");
  special("cls_token", "[CLS]", "tokenizer.ggml.cls_token_id");
  special("sep_token", "[SEP]", "tokenizer.ggml.seperator_token_id");
  special("pad_token", "[PAD]", "tokenizer.ggml.padding_token_id");
  special("mask_token", "[MASK]", "tokenizer.ggml.mask_token_id");
  if (!md.has("tokenizer.ggml.unknown_token_id"))
    fail(ErrorKind::kCorruptData, "{}: the vocabulary has no unknown token ('{}')", source,
         config_token(config, "unk_token", "[UNK]"));
  md.set_strings("tokenizer.ggml.tokens", wordpiece_vocab_from_bert(entries));
  md.set_i32s("tokenizer.ggml.token_type", types);
  auto tok = make_wordpiece_tokenizer(md, source);

  // The position table bounds the sequence; model_max_length is often a placeholder (1e30), so prefer config.json.
  int64_t max_len = 0;
  if (fs::exists(dir / "config.json")) {
    const nlohmann::json model_config = read_json(dir / "config.json");
    if (model_config.is_object() && model_config.contains("max_position_embeddings") &&
        model_config["max_position_embeddings"].is_number_integer())
      max_len = model_config["max_position_embeddings"].get<int64_t>();
  }
  if (max_len <= 0 && config.contains("model_max_length") && config["model_max_length"].is_number_integer())
    max_len = config["model_max_length"].get<int64_t>();
  if (max_len > 0 && max_len < (int64_t(1) << 30)) tok->set_max_tokens(int(max_len));
  return tok;
}

std::unique_ptr<Tokenizer> load_tokenizer_folder(const fs::path& dir) {
  if (fs::exists(dir / "tokenizer.json")) {
#ifdef HEARTH_HAVE_TOKENIZER_JSON
    return load_tokenizer_json(dir.string());
#else
    fail(ErrorKind::kUnsupported, "{}: tokenizer.json is not yet supported", dir.string());
#endif
  }
  if (fs::exists(dir / "vocab.txt")) return load_vocab_txt(dir);
  fail(ErrorKind::kNotFound, "{}: no tokenizer found (expected tokenizer.json or vocab.txt)", dir.string());
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const Metadata& md, const std::string& source) {
  const auto model = md.find_string("tokenizer.ggml.model");
  if (!model) {
    if (auto dir = md.find_string("general.source.hf_dir")) return load_tokenizer_folder(*dir);
    fail(ErrorKind::kNotFound, "{}: no tokenizer in this model (metadata key 'tokenizer.ggml.model' is missing)",
         source);
  }
  std::unique_ptr<Tokenizer> tok;
  if (*model == "bert") {
    tok = make_wordpiece_tokenizer(md, source);
  } else if (*model == "llama") {
    tok = make_spm_tokenizer(md, source);
  } else if (*model == "gpt2") {
#ifdef HEARTH_HAVE_BPE
    tok = make_bpe_tokenizer(md, source);
#else
    fail(ErrorKind::kUnsupported, "{}: tokenizer model 'gpt2' (byte-level BPE) is not yet supported", source);
#endif
  } else if (*model == "use-unigram") {
#ifdef HEARTH_HAVE_USE_UNIGRAM
    tok = make_use_unigram_tokenizer(md, source);
#else
    fail(ErrorKind::kUnsupported, "{}: tokenizer model 'use-unigram' is not yet supported", source);
#endif
  } else if (*model == "t5") {
    tok = make_ugm_tokenizer(md, source);
  } else {
    fail(ErrorKind::kUnsupported, "{}: unknown tokenizer model '{}'", source, *model);
  }
  if (auto arch = md.find_string("general.architecture")) {
    if (auto n = md.find_int(*arch + ".context_length"); n && *n > 0 && *n < (int64_t(1) << 30))
      tok->set_max_tokens(int(*n));
  }
  return tok;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) return load_tokenizer_folder(p);
  if (!fs::exists(p, ec)) fail(ErrorKind::kNotFound, "{}: no such file or folder", path);
  // The files of a Hugging Face tokenizer folder may be named directly.
  const std::string name = p.filename().string();
  if (name == "tokenizer.json" || name == "vocab.txt") return load_tokenizer_folder(p.parent_path());
  const auto weights = Weights::open(path);
  return load_tokenizer(weights->metadata(), path);
}

}  // namespace hearth
