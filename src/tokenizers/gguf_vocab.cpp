#include "tokenizers/gguf_vocab.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizers/pretokenizer.h"
#include "tokenizers/wordpiece.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// gguf-py's TokenType (the same numbers as SentencePiece's piece types).
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

std::string read_all(const fs::path& p) { return read_file(p.string()); }

json read_json_object(const fs::path& p) {
  json j;
  try {
    j = json::parse(read_all(p));
  } catch (const json::exception& e) {
    fail(ErrorKind::kCorruptData, "{}: invalid JSON ({})", p.string(), e.what());
  }
  if (!j.is_object()) fail(ErrorKind::kCorruptData, "{}: expected a JSON object", p.string());
  return j;
}

json optional_json(const fs::path& p) { return fs::exists(p) ? read_json_object(p) : json::object(); }

// A special token named in tokenizer_config.json: a string, or an object holding "content".
std::optional<std::string> config_token(const json& config, const std::string& key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return std::nullopt;
}

// convert_hf_to_gguf's does_token_look_special.
bool looks_special(const std::string& t) {
  return (t.rfind("<|", 0) == 0 && t.size() >= 4 && t.compare(t.size() - 2, 2, "|>") == 0) || t == "<eos>" ||
         t == "<bos>" || t == "<start_of_turn>" || t == "<end_of_turn>";
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<float> scores;  // SentencePiece only
};

// Special-token ids, add_bos/add_eos and the chat template, as gguf-py's SpecialVocab finds them: each token named
// in tokenizer_config.json (else the `defaults` given), else config.json's <type>_token_id.
void add_special_vocab(Metadata& md, const Vocab& v, const json& tokenizer_config, const json& config,
                       const std::map<std::string, std::string>& defaults) {
  std::unordered_map<std::string, int64_t> ids;
  for (size_t i = v.tokens.size(); i-- > 0;) ids[v.tokens[i]] = int64_t(i);  // the first occurrence wins
  static const std::pair<const char*, const char*> kSpecials[] = {
      {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
      {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
      {"pad", "tokenizer.ggml.padding_token_id"}, {"cls", "tokenizer.ggml.cls_token_id"},
      {"mask", "tokenizer.ggml.mask_token_id"},
  };
  for (const auto& [type, key] : kSpecials) {
    std::optional<std::string> text = config_token(tokenizer_config, std::string(type) + "_token");
    if (!text)
      if (auto d = defaults.find(type); d != defaults.end()) text = d->second;
    int64_t id = -1;
    if (text)
      if (auto it = ids.find(*text); it != ids.end()) id = it->second;
    if (id < 0) {
      auto it = config.find(std::string(type) + "_token_id");
      if (it != config.end() && it->is_number_integer()) id = it->get<int64_t>();
    }
    if (id >= 0 && id < int64_t(v.tokens.size())) md.set_u32(key, uint32_t(id));
  }
  for (const char* type : {"bos", "eos"}) {
    auto it = tokenizer_config.find(fmt::format("add_{}_token", type));
    if (it != tokenizer_config.end() && it->is_boolean())
      md.set_bool(fmt::format("tokenizer.ggml.add_{}_token", type), it->get<bool>());
  }
  if (auto it = tokenizer_config.find("chat_template"); it != tokenizer_config.end()) {
    if (it->is_string()) {
      md.set_string("tokenizer.chat_template", it->get<std::string>());
    } else if (it->is_array()) {
      // Named templates: "default" is the chat template, the others tokenizer.chat_template.<name>.
      std::vector<std::string> names;
      for (const auto& t : *it) {
        if (!t.is_object() || !t.contains("name") || !t.contains("template") || !t["name"].is_string() ||
            !t["template"].is_string())
          continue;
        const std::string name = t["name"].get<std::string>();
        md.set_string(name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name,
                      t["template"].get<std::string>());
        if (name != "default") names.push_back(name);
      }
      if (!names.empty()) md.set_strings("tokenizer.chat_templates", names);
    }
  }
}

void set_vocab(Metadata& md, const Vocab& v) {
  md.set_strings("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) md.set_f32s("tokenizer.ggml.scores", v.scores);
  md.set_i32s("tokenizer.ggml.token_type", v.types);
}

// tokenizer.json's model.vocab (token -> id) and added_tokens, in id order; ids nothing names become "[PAD<id>]"
// (unused), as convert_hf_to_gguf's get_vocab_base pads them.
Vocab vocab_from_tokenizer_json(const json& tj, int64_t n_vocab, const std::string& source) {
  const json& model = tj.at("model");
  if (!model.contains("vocab") || !model["vocab"].is_object())
    fail(ErrorKind::kCorruptData, "{}: model.vocab must be an object of token -> id", source);
  std::map<int64_t, std::pair<std::string, int32_t>> by_id;
  for (const auto& [token, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t(1) << 24))
      fail(ErrorKind::kCorruptData, "{}: token '{}' has an invalid id", source, token);
    by_id[id.get<int64_t>()] = {token, kNormal};
  }
  if (auto it = tj.find("added_tokens"); it != tj.end() && it->is_array())
    for (const auto& a : *it) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        fail(ErrorKind::kCorruptData, "{}: malformed entry in added_tokens", source);
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0 || id >= (int64_t(1) << 24)) fail(ErrorKind::kCorruptData, "{}: added token id {} out of range", source, id);
      const std::string content = a["content"].get<std::string>();
      const bool special = a.value("special", false) || looks_special(content);
      by_id[id] = {content, special ? kControl : kUserDefined};
    }
  const int64_t n = std::max(n_vocab, by_id.empty() ? 0 : by_id.rbegin()->first + 1);
  Vocab v;
  v.tokens.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      v.tokens.push_back(fmt::format("[PAD{}]", i));
      v.types.push_back(kUnused);
    } else {
      v.tokens.push_back(it->second.first);
      v.types.push_back(it->second.second);
    }
  }
  return v;
}

const std::map<std::string, std::string> kBertDefaults = {
    {"unk", "[UNK]"}, {"cls", "[CLS]"}, {"sep", "[SEP]"}, {"pad", "[PAD]"}, {"mask", "[MASK]"}};

// BERT: llama.cpp keeps WordPiece vocabularies in "phantom space" form (a word start marked with U+2581, "##"
// continuations bare); the special tokens a BertTokenizer declares are control tokens.
Metadata bert_vocab(const fs::path& dir, const json* tokenizer_json, const json& tokenizer_config, const json& config,
                    int64_t n_vocab) {
  Vocab v;
  if (tokenizer_json) {
    v = vocab_from_tokenizer_json(*tokenizer_json, n_vocab, (dir / "tokenizer.json").string());
  } else {
    std::istringstream in(read_all(dir / "vocab.txt"));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      v.tokens.push_back(std::move(line));
    }
    v.types.assign(v.tokens.size(), kNormal);
    for (const auto& [type, fallback] : kBertDefaults) {
      const std::string text = config_token(tokenizer_config, type + "_token").value_or(fallback);
      for (size_t i = 0; i < v.tokens.size(); ++i)
        if (v.tokens[i] == text) {
          v.types[i] = kControl;
          break;
        }
    }
  }
  if (v.tokens.empty()) fail(ErrorKind::kCorruptData, "{}: empty vocabulary", dir.string());
  Metadata md;
  md.set_string("tokenizer.ggml.model", "bert");
  md.set_string("tokenizer.ggml.pre", "default");
  add_special_vocab(md, v, tokenizer_config, config, kBertDefaults);  // before the phantom-space rewrite
  v.tokens = wordpiece_vocab_from_bert(v.tokens);
  set_vocab(md, v);
  return md;
}

// ---- SentencePiece's tokenizer.model: a protobuf ModelProto, of which only the pieces are needed ----

class ProtoReader {
 public:
  ProtoReader(const uint8_t* p, size_t n, const std::string& source) : p_(p), end_(p + n), source_(source) {}
  bool done() const { return p_ >= end_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) fail(ErrorKind::kCorruptData, "{}: truncated protobuf varint", source_);
      const uint8_t b = *p_++;
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(ErrorKind::kCorruptData, "{}: protobuf varint too long", source_);
  }
  // A field's tag; its wire type in `wire`.
  uint32_t tag(int& wire) {
    const uint64_t t = varint();
    wire = int(t & 7);
    return uint32_t(t >> 3);
  }
  std::pair<const uint8_t*, size_t> bytes() {
    const uint64_t n = varint();
    if (n > uint64_t(end_ - p_)) fail(ErrorKind::kCorruptData, "{}: protobuf field runs past the end", source_);
    const uint8_t* start = p_;
    p_ += n;
    return {start, size_t(n)};
  }
  float f32() {
    if (end_ - p_ < 4) fail(ErrorKind::kCorruptData, "{}: truncated protobuf float", source_);
    float f;
    std::memcpy(&f, p_, 4);
    p_ += 4;
    return f;
  }
  void skip(int wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: bytes(); return;
      case 5: advance(4); return;
      default: fail(ErrorKind::kCorruptData, "{}: unsupported protobuf wire type {}", source_, wire);
    }
  }

 private:
  void advance(size_t n) {
    if (size_t(end_ - p_) < n) fail(ErrorKind::kCorruptData, "{}: truncated protobuf field", source_);
    p_ += n;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  const std::string& source_;
};

// NormalizerSpec fields llama.cpp's "t5" vocabularies carry (protobuf defaults: both flags true).
struct SentencePieceNormalizer {
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
};

SentencePieceNormalizer read_normalizer_spec(const uint8_t* p, size_t n, const std::string& source) {
  SentencePieceNormalizer out;
  ProtoReader spec(p, n, source);
  while (!spec.done()) {
    int wire = 0;
    const uint32_t field = spec.tag(wire);
    if (field == 2 && wire == 2) {
      const auto [s, len] = spec.bytes();
      out.precompiled_charsmap.assign(reinterpret_cast<const char*>(s), len);
    } else if ((field == 3 || field == 4) && wire == 0) {
      (field == 3 ? out.add_dummy_prefix : out.remove_extra_whitespaces) = spec.varint() != 0;
    } else {
      spec.skip(wire);
    }
  }
  return out;
}

Vocab read_sentencepiece_model(const fs::path& path, SentencePieceNormalizer* normalizer = nullptr) {
  const std::string data = read_all(path);
  const std::string source = path.string();
  ProtoReader model(reinterpret_cast<const uint8_t*>(data.data()), data.size(), source);
  Vocab v;
  while (!model.done()) {
    int wire = 0;
    const uint32_t field = model.tag(wire);
    if (field == 3 && wire == 2 && normalizer) {  // 3: normalizer_spec
      const auto [p, n] = model.bytes();
      *normalizer = read_normalizer_spec(p, n, source);
      continue;
    }
    if (field != 1 || wire != 2) {  // 1: repeated SentencePiece pieces
      model.skip(wire);
      continue;
    }
    const auto [p, n] = model.bytes();
    ProtoReader piece(p, n, source);
    std::string text;
    float score = 0.0f;
    int type = 1;  // NORMAL
    while (!piece.done()) {
      int w = 0;
      const uint32_t f = piece.tag(w);
      if (f == 1 && w == 2) {
        const auto [s, len] = piece.bytes();
        text.assign(reinterpret_cast<const char*>(s), len);
      } else if (f == 2 && w == 5) {
        score = piece.f32();
      } else if (f == 3 && w == 0) {
        type = int(piece.varint());
      } else {
        piece.skip(w);
      }
    }
    // convert_hf_to_gguf maps unknown, control, unused and byte pieces; everything else (user-defined too) is
    // normal.
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type == 2 ? kUnknown : type == 3 ? kControl : type == 5 ? kUnused : type == 6 ? kByte : kNormal);
  }
  if (v.tokens.empty()) fail(ErrorKind::kCorruptData, "{}: no pieces in this SentencePiece model", source);
  return v;
}

Metadata sentencepiece_vocab(const fs::path& dir, const json& tokenizer_config, const json& config, int64_t n_vocab) {
  Vocab v = read_sentencepiece_model(dir / "tokenizer.model");
  // Tokens that tokenizer_config.json adds or redefines (added_tokens_decoder), as convert_hf_to_gguf applies them.
  if (auto it = tokenizer_config.find("added_tokens_decoder"); it != tokenizer_config.end() && it->is_object())
    for (const auto& [key, entry] : it->items()) {
      size_t id = 0;
      try {
        id = std::stoul(key);
      } catch (const std::exception&) {
        continue;
      }
      if (id >= v.tokens.size() || !entry.is_object() || !entry.contains("content") || !entry["content"].is_string() ||
          v.types[id] == kUnused)
        continue;
      std::string content = entry["content"].get<std::string>();
      if (entry.value("special", false) || looks_special(content)) {
        v.types[id] = kControl;
      } else {
        for (size_t p = content.find("\xE2\x96\x81"); p != std::string::npos; p = content.find("\xE2\x96\x81", p))
          content.replace(p, 3, " ");
        v.types[id] = kUserDefined;
      }
      v.scores[id] = -1000.0f;
      v.tokens[id] = std::move(content);
    }
  for (int64_t i = 1; int64_t(v.tokens.size()) < n_vocab; ++i) {
    v.tokens.push_back(fmt::format("[PAD{}]", i));
    v.scores.push_back(-1000.0f);
    v.types.push_back(kUnused);
  }
  Metadata md;
  md.set_string("tokenizer.ggml.model", "llama");
  md.set_string("tokenizer.ggml.pre", "default");
  set_vocab(md, v);
  add_special_vocab(md, v, tokenizer_config, config, {});
  return md;
}

// XLM-RoBERTa: a unigram sentencepiece.bpe.model whose ids Hugging Face shifts by fairseq's offset. llama.cpp's
// converter lays the pieces into a table of vocab_size "[PADn]" entries (unused, score -10000), then puts <s>,
// <pad>, </s>, <unk> in front of pieces 3.. (dropping the table's last entry), and writes the normalizer's
// charsmap and flags for its "t5" tokenizer.
Metadata xlm_roberta_vocab(const fs::path& dir, const json& tokenizer_config, const json& config, int64_t n_vocab) {
  SentencePieceNormalizer normalizer;
  const Vocab sp = read_sentencepiece_model(dir / "sentencepiece.bpe.model", &normalizer);
  const size_t n = std::max(size_t(std::max<int64_t>(n_vocab, 0)), sp.tokens.size());
  Vocab table;
  for (size_t i = 0; i < n; ++i) table.tokens.push_back(fmt::format("[PAD{}]", i));
  table.scores.assign(n, -10000.0f);
  table.types.assign(n, kUnused);
  std::copy(sp.tokens.begin(), sp.tokens.end(), table.tokens.begin());
  std::copy(sp.scores.begin(), sp.scores.end(), table.scores.begin());
  std::copy(sp.types.begin(), sp.types.end(), table.types.begin());
  if (n < 4) fail(ErrorKind::kCorruptData, "{}: too few pieces for XLM-RoBERTa", dir.string());
  Vocab v;
  v.tokens = {"<s>", "<pad>", "</s>", "<unk>"};
  v.scores = {0.0f, 0.0f, 0.0f, 0.0f};
  v.types = {kControl, kControl, kControl, kUnknown};
  v.tokens.insert(v.tokens.end(), table.tokens.begin() + 3, table.tokens.end() - 1);
  v.scores.insert(v.scores.end(), table.scores.begin() + 3, table.scores.end() - 1);
  v.types.insert(v.types.end(), table.types.begin() + 3, table.types.end() - 1);
  Metadata md;
  md.set_string("tokenizer.ggml.model", "t5");
  md.set_string("tokenizer.ggml.pre", "default");
  set_vocab(md, v);
  md.set_bool("tokenizer.ggml.add_space_prefix", normalizer.add_dummy_prefix);
  md.set_bool("tokenizer.ggml.remove_extra_whitespaces", normalizer.remove_extra_whitespaces);
  if (!normalizer.precompiled_charsmap.empty()) {
    MetaArray bytes;
    bytes.elem = MetaType::U8;
    for (unsigned char c : normalizer.precompiled_charsmap) bytes.ints.push_back(c);
    md.set("tokenizer.ggml.precompiled_charsmap", MetaValue{MetaType::Array, std::move(bytes)});
  }
  add_special_vocab(md, v, tokenizer_config, config, {});
  return md;
}

// Byte-level BPE: llama.cpp picks its pre-tokenizer regexes by name; recognise the common layouts.
std::string bpe_pre_name(const json& tj, const std::string& arch, const std::string& source) {
  const json* pre = tj.contains("pre_tokenizer") ? &tj["pre_tokenizer"] : nullptr;
  if (pre && pre->is_object() && pre->value("type", "") == "ByteLevel" && pre->value("use_regex", true))
    return "gpt-2";  // GPT-2's own regex inside ByteLevel
  if (arch == "qwen2" || arch == "qwen3") return "qwen2";
  if (arch == "llama") return "llama-bpe";
  fail(ErrorKind::kUnsupported,
       "{}: cannot tell which of llama.cpp's pre-tokenizers this byte-level BPE uses; name it with --tokenizer-pre "
       "(e.g. gpt-2, llama-bpe, qwen2, deepseek-coder)",
       source);
}

Metadata bpe_vocab(const fs::path& dir, const json& tj, const json& tokenizer_config, const json& config,
                   const VocabExportOptions& o) {
  const std::string source = (dir / "tokenizer.json").string();
  Vocab v = vocab_from_tokenizer_json(tj, o.n_vocab, source);
  std::vector<std::string> merges;
  if (auto it = tj["model"].find("merges"); it != tj["model"].end() && it->is_array())
    for (const auto& m : *it) {
      if (m.is_string()) merges.push_back(m.get<std::string>());
      else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      else fail(ErrorKind::kCorruptData, "{}: malformed entry in model.merges", source);
    }
  const std::string pre = o.pre.empty() ? bpe_pre_name(tj, o.arch, source) : o.pre;
  PreTokenizer::gguf(pre);  // an unknown name is an Error here, not in whatever loads the file
  Metadata md;
  md.set_string("tokenizer.ggml.model", "gpt2");
  md.set_string("tokenizer.ggml.pre", pre);
  set_vocab(md, v);
  md.set_strings("tokenizer.ggml.merges", merges);
  add_special_vocab(md, v, tokenizer_config, config, {});
  return md;
}

}  // namespace

Metadata hf_tokenizer_gguf_metadata(const std::string& dir_path, const VocabExportOptions& o) {
  const fs::path dir(dir_path);
  const json tokenizer_config = optional_json(dir / "tokenizer_config.json");
  const json config = optional_json(dir / "config.json");
  const bool bert = o.arch == "bert";
  if (fs::exists(dir / "sentencepiece.bpe.model")) return xlm_roberta_vocab(dir, tokenizer_config, config, o.n_vocab);
  if (!bert && fs::exists(dir / "tokenizer.model")) return sentencepiece_vocab(dir, tokenizer_config, config, o.n_vocab);
  if (fs::exists(dir / "tokenizer.json")) {
    const json tj = read_json_object(dir / "tokenizer.json");
    const std::string source = (dir / "tokenizer.json").string();
    if (!tj.contains("model") || !tj["model"].is_object())
      fail(ErrorKind::kCorruptData, "{}: missing the \"model\" object", source);
    const std::string type = tj["model"].value("type", "");
    if (type == "WordPiece") return bert_vocab(dir, &tj, tokenizer_config, config, o.n_vocab);
    if (type == "BPE") {
      if (tj["model"].value("byte_fallback", false))
        fail(ErrorKind::kUnsupported,
             "{}: a SentencePiece-style BPE (byte_fallback) needs its tokenizer.model for the piece scores llama.cpp "
             "uses; the folder has none",
             source);
      return bpe_vocab(dir, tj, tokenizer_config, config, o);
    }
    fail(ErrorKind::kUnsupported, "{}: converting a '{}' tokenizer is not supported yet (WordPiece, BPE and "
                                  "SentencePiece tokenizer.model are)",
         source, type);
  }
  if (fs::exists(dir / "vocab.txt")) return bert_vocab(dir, nullptr, tokenizer_config, config, o.n_vocab);
  fail(ErrorKind::kNotFound, "{}: no tokenizer found (expected tokenizer.json, tokenizer.model or vocab.txt)", dir_path);
}

}  // namespace hearth
