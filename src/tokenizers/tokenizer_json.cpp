#include "tokenizers/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "formats/metadata.h"
#include "tokenizers/bpe.h"
#include "tokenizers/pretokenizer.h"
#include "tokenizers/wordpiece.h"

namespace hearth {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Ids beyond this are a corrupt file, not a vocabulary (the largest real ones are ~260k); ids are also
// expected to be nearly dense, so a few entries cannot make the loader allocate millions of slots.
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxHoles = 1 << 16;

json read_json_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("{}: cannot open", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    fail("{}: invalid JSON: {}", p.string(), e.what());
  }
}

// Typed accessors that turn a malformed file into an Error naming the field, not a JSON exception.
const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}
std::string str_or(const json& obj, const char* key, std::string fallback) {
  const json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : fallback;
}
bool bool_or(const json& obj, const char* key, bool fallback) {
  const json* v = member(obj, key);
  return v && v->is_boolean() ? v->get<bool>() : fallback;
}

// "<s>" or {"content": "<s>", ...} in tokenizer_config.json; "" when absent.
std::string config_token(const json& config, const char* key) {
  const json* v = member(config, key);
  if (v == nullptr) return "";
  if (v->is_string()) return v->get<std::string>();
  return str_or(*v, "content", "");
}

// Literal text as a PCRE2 pattern.
std::string regex_quote(const std::string& s) { return "\\Q" + s + "\\E"; }

// The regex of Hugging Face's ByteLevel pre-tokenizer (use_regex = true): GPT-2's.
constexpr const char* kByteLevelRegex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Case-insensitive contractions as in Llama 3 / Qwen, rewritten with ASCII classes: PCRE2's (?i) would also
// fold U+017F into 's', which Hugging Face's transformers.js (the reference here) does not.
constexpr const char* kCaselessContractions = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
constexpr const char* kAsciiContractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

struct Translation {
  Metadata md;
  BpeOptions opt;
  bool spm_style = false;  // set by a Prepend/Replace("▁") normalizer or a Metaspace pre-tokenizer
  bool byte_level = false;
};

void read_normalizer(const json& n, Translation& t, const std::string& src) {
  if (n.is_null()) return;
  const std::string type = str_or(n, "type", "");
  if (type == "Sequence") {
    const json* list = member(n, "normalizers");
    if (!list || !list->is_array()) fail("{}: normalizer Sequence without a 'normalizers' list", src);
    for (const json& x : *list) read_normalizer(x, t, src);
  } else if (type == "NFC") {
    t.opt.nfc = true;
  } else if (type == "Prepend") {
    if (str_or(n, "prepend", "") != "\xE2\x96\x81") fail("{}: normalizer Prepend of anything but U+2581 is not supported", src);
    t.spm_style = true;
    t.opt.prepend_space = true;
  } else if (type == "Replace") {
    const json* pattern = member(n, "pattern");
    if (!pattern || str_or(*pattern, "String", "") != " " || str_or(n, "content", "") != "\xE2\x96\x81")
      fail("{}: normalizer Replace other than ' ' -> U+2581 is not supported", src);
    t.spm_style = true;
  } else {
    fail("{}: normalizer '{}' is not supported", src, type);
  }
}

void read_pre_tokenizer(const json& p, Translation& t, const std::string& src) {
  if (p.is_null()) return;
  const std::string type = str_or(p, "type", "");
  if (type == "Sequence") {
    const json* list = member(p, "pretokenizers");
    if (!list || !list->is_array()) fail("{}: pre_tokenizer Sequence without a 'pretokenizers' list", src);
    for (const json& x : *list) read_pre_tokenizer(x, t, src);
  } else if (type == "ByteLevel") {
    t.byte_level = true;
    t.opt.add_prefix_space = bool_or(p, "add_prefix_space", false);
    if (bool_or(p, "use_regex", true)) t.opt.pre_patterns.push_back(kByteLevelRegex);
  } else if (type == "Split") {
    const std::string behavior = str_or(p, "behavior", "");
    if (behavior != "Isolated" || bool_or(p, "invert", false))
      fail("{}: pre_tokenizer Split with behavior '{}'{} is not supported (only Isolated)", src, behavior,
           bool_or(p, "invert", false) ? " inverted" : "");
    const json* pattern = member(p, "pattern");
    if (pattern && member(*pattern, "Regex")) {
      std::string re = str_or(*pattern, "Regex", "");
      for (size_t pos; (pos = re.find(kCaselessContractions)) != std::string::npos;)
        re.replace(pos, std::string_view(kCaselessContractions).size(), kAsciiContractions);
      t.opt.pre_patterns.push_back(re);
    } else if (pattern && member(*pattern, "String")) {
      t.opt.pre_patterns.push_back(regex_quote(str_or(*pattern, "String", "")));
    } else {
      fail("{}: pre_tokenizer Split without a Regex or String pattern", src);
    }
  } else if (type == "Digits") {
    t.opt.pre_patterns.push_back(bool_or(p, "individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "Punctuation") {
    if (str_or(p, "behavior", "Isolated") != "Isolated")
      fail("{}: pre_tokenizer Punctuation with behavior '{}' is not supported", src, str_or(p, "behavior", ""));
    t.opt.pre_patterns.push_back(R"([\p{P}!-/:-@\[-`{-~])");
  } else if (type == "Metaspace") {
    if (str_or(p, "replacement", "\xE2\x96\x81") != "\xE2\x96\x81")
      fail("{}: pre_tokenizer Metaspace with a replacement other than U+2581 is not supported", src);
    if (bool_or(p, "split", false)) fail("{}: pre_tokenizer Metaspace with split = true is not supported", src);
    t.spm_style = true;
    const std::string scheme = str_or(p, "prepend_scheme", bool_or(p, "add_prefix_space", true) ? "always" : "never");
    t.opt.prepend_space = scheme != "never";
    t.opt.prepend_first_only = scheme == "first";
  } else {
    fail("{}: pre_tokenizer '{}' is not supported", src, type);
  }
}

// Ids a TemplateProcessing `single` template (or Bert/Roberta processor) puts before and after the text.
void read_post_processor(const json& p, Translation& t, bool& found, const std::string& src) {
  if (p.is_null()) return;
  const std::string type = str_or(p, "type", "");
  if (type == "Sequence") {
    const json* list = member(p, "processors");
    if (list && list->is_array())
      for (const json& x : *list) read_post_processor(x, t, found, src);
  } else if (type == "TemplateProcessing") {
    const json* single = member(p, "single");
    const json* specials = member(p, "special_tokens");
    if (!single || !single->is_array()) fail("{}: TemplateProcessing without a 'single' template", src);
    found = true;
    bool after = false;
    for (const json& item : *single) {
      if (member(item, "Sequence")) {
        after = true;
        continue;
      }
      const json* st = member(item, "SpecialToken");
      if (!st) fail("{}: TemplateProcessing item is neither Sequence nor SpecialToken", src);
      const std::string name = str_or(*st, "id", "");
      const json* entry = specials ? member(*specials, name.c_str()) : nullptr;
      const json* ids = entry ? member(*entry, "ids") : nullptr;
      if (!ids || !ids->is_array()) fail("{}: TemplateProcessing special token '{}' has no ids", src, name);
      for (const json& id : *ids) {
        if (!id.is_number_integer()) fail("{}: TemplateProcessing special token '{}' has a non-integer id", src, name);
        (after ? t.opt.suffix : t.opt.prefix).push_back(id.get<int32_t>());
      }
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    found = true;
    for (const char* key : {"cls", "sep"}) {
      const json* pair = member(p, key);
      if (!pair || !pair->is_array() || pair->size() != 2 || !(*pair)[1].is_number_integer())
        fail("{}: {} without a [token, id] '{}'", src, type, key);
      (std::string_view(key) == "cls" ? t.opt.prefix : t.opt.suffix).push_back((*pair)[1].get<int32_t>());
    }
  }
  // ByteLevel (offsets only) and other processors add no tokens.
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& dir) {
  const fs::path path = fs::path(dir) / "tokenizer.json";
  const std::string src = path.string();
  const json j = read_json_file(path);
  if (!j.is_object()) fail("{}: not a JSON object", src);
  json config = json::object();
  if (fs::exists(fs::path(dir) / "tokenizer_config.json")) {
    config = read_json_file(fs::path(dir) / "tokenizer_config.json");
    if (!config.is_object()) fail("{}/tokenizer_config.json: not a JSON object", dir);
  }

  const json* model = member(j, "model");
  if (!model || !model->is_object()) fail("{}: no 'model' section", src);
  const std::string model_type = str_or(*model, "type", "");
  if (model_type != "BPE" && model_type != "WordPiece")
    fail("{}: tokenizer model type '{}' is not supported (BPE and WordPiece are)", src, model_type);
  const json* vocab = member(*model, "vocab");
  if (!vocab || !vocab->is_object()) fail("{}: model '{}' has no 'vocab' object", src, model_type);

  // Tokens by id: the model's vocabulary, then added tokens (which may extend it).
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<bool> present;
  const json* added = member(j, "added_tokens");
  if (added && !added->is_array()) fail("{}: 'added_tokens' is not a list", src);
  const int64_t n_entries = int64_t(vocab->size()) + (added ? int64_t(added->size()) : 0);
  auto place = [&](int64_t id, const std::string& text, int32_t type) {
    if (id < 0 || id >= kMaxVocab || id >= n_entries + kMaxHoles)
      fail("{}: token '{}' has id {} (out of range for {} entries)", src, text, id, n_entries);
    if (size_t(id) >= tokens.size()) {
      tokens.resize(size_t(id) + 1);
      types.resize(size_t(id) + 1, 5);  // holes stay "unused"
      present.resize(size_t(id) + 1, false);
    }
    tokens[size_t(id)] = text;
    types[size_t(id)] = type;
    present[size_t(id)] = true;
  };
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer()) fail("{}: vocab entry '{}' has a non-integer id", src, it.key());
    place(it.value().get<int64_t>(), it.key(), 1);
  }
  if (added) {
    for (const json& a : *added) {
      const json* id = member(a, "id");
      if (!id || !id->is_number_integer() || !member(a, "content") || !(*member(a, "content")).is_string())
        fail("{}: an added token lacks an integer 'id' or a string 'content'", src);
      place(id->get<int64_t>(), str_or(a, "content", ""), bool_or(a, "special", false) ? 3 : 4);
    }
  }
  if (tokens.empty()) fail("{}: empty vocabulary", src);
  auto id_of = [&](const std::string& text) -> int32_t {
    if (text.empty()) return -1;
    for (size_t i = 0; i < tokens.size(); ++i)
      if (present[i] && tokens[i] == text) return int32_t(i);
    return -1;
  };

  Translation t;
  Metadata& md = t.md;
  std::string unk = str_or(*model, "unk_token", "");
  if (int32_t id = id_of(unk); id >= 0) {
    if (types[size_t(id)] == 1) types[size_t(id)] = 2;
    md.set_u32("tokenizer.ggml.unknown_token_id", uint32_t(id));
  }
  auto set_special = [&](const char* config_key, const char* meta_key) {
    if (int32_t id = id_of(config_token(config, config_key)); id >= 0) md.set_u32(meta_key, uint32_t(id));
  };
  set_special("bos_token", "tokenizer.ggml.bos_token_id");
  set_special("eos_token", "tokenizer.ggml.eos_token_id");
  set_special("pad_token", "tokenizer.ggml.padding_token_id");
  set_special("cls_token", "tokenizer.ggml.cls_token_id");
  set_special("sep_token", "tokenizer.ggml.seperator_token_id");
  set_special("mask_token", "tokenizer.ggml.mask_token_id");

  bool framed = false;
  read_post_processor(j.contains("post_processor") ? j["post_processor"] : json(), t, framed, src);

  std::unique_ptr<Tokenizer> tok;
  if (model_type == "WordPiece") {
    // BERT: the WordPiece tokenizer, with its vocabulary in llama.cpp's "▁word" / "piece" form. It frames
    // with [CLS] ... [SEP]: take them from the post-processor, else by BERT's names.
    auto frame_id = [&](const std::vector<int32_t>& ids, const char* name, const char* key) {
      int32_t id = ids.size() == 1 ? ids[0] : id_of(name);
      if (!md.has(key) && id >= 0) md.set_u32(key, uint32_t(id));
    };
    frame_id(t.opt.prefix, "[CLS]", "tokenizer.ggml.cls_token_id");
    frame_id(t.opt.suffix, "[SEP]", "tokenizer.ggml.seperator_token_id");
    frame_id({}, "[PAD]", "tokenizer.ggml.padding_token_id");
    frame_id({}, "[MASK]", "tokenizer.ggml.mask_token_id");
    const json* normalizer = member(j, "normalizer");
    bool lowercase = normalizer ? bool_or(*normalizer, "lowercase", true) : bool_or(config, "do_lower_case", true);
    md.set_string("tokenizer.ggml.model", "bert");
    md.set_bool(kWordPieceLowercaseKey, lowercase);
    for (size_t i = 0; i < tokens.size(); ++i)
      if (!present[i]) tokens[i] = "[unused_hole_" + std::to_string(i) + "]";
    md.set_strings("tokenizer.ggml.tokens", wordpiece_vocab_from_bert(tokens));
    md.set_i32s("tokenizer.ggml.token_type", types);
    tok = make_wordpiece_tokenizer(md, src);
  } else {
    if (const json* d = member(*model, "dropout"); d && d->is_number() && d->get<double>() != 0.0)
      fail("{}: BPE dropout is not supported", src);
    if (!str_or(*model, "continuing_subword_prefix", "").empty() || !str_or(*model, "end_of_word_suffix", "").empty())
      fail("{}: BPE with continuing_subword_prefix / end_of_word_suffix is not supported", src);
    const json* merges = member(*model, "merges");
    if (!merges || !merges->is_array()) fail("{}: BPE model without a 'merges' list", src);
    std::vector<std::string> merge_strings;
    merge_strings.reserve(merges->size());
    for (const json& m : *merges) {
      if (m.is_string()) {
        merge_strings.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        const std::string a = m[0].get<std::string>(), b = m[1].get<std::string>();
        // The "left right" form cannot hold a part with a space after its first byte.
        if (a.find(' ', 1) != std::string::npos || b.find(' ') != std::string::npos)
          fail("{}: merge ['{}', '{}'] contains a space (not supported)", src, a, b);
        merge_strings.push_back(a + " " + b);
      } else {
        fail("{}: a merge is neither \"a b\" nor [\"a\", \"b\"]", src);
      }
    }

    read_normalizer(j.contains("normalizer") ? j["normalizer"] : json(), t, src);
    read_pre_tokenizer(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json(), t, src);
    if (t.byte_level == t.spm_style)
      fail("{}: BPE needs either a ByteLevel pre-tokenizer or SentencePiece-style (U+2581) normalization", src);
    t.opt.byte_level = t.byte_level;
    if (t.spm_style && !t.opt.pre_patterns.empty())
      fail("{}: Split/Digits/Punctuation pre-tokenizers with SentencePiece-style BPE are not supported", src);
    t.opt.ignore_merges = bool_or(*model, "ignore_merges", false);
    t.opt.byte_fallback = bool_or(*model, "byte_fallback", false);
    t.opt.fuse_unk = bool_or(*model, "fuse_unk", false);
    t.opt.clean_spaces = bool_or(config, "clean_up_tokenization_spaces", false);
    if (t.opt.byte_fallback)
      for (size_t i = 0; i < tokens.size(); ++i)
        if (types[i] == 1 && tokens[i].size() == 6 && tokens[i].compare(0, 3, "<0x") == 0 && tokens[i][5] == '>')
          types[i] = 6;

    if (framed) {
      t.opt.framing_from_vocab = false;
    } else {
      md.set_bool("tokenizer.ggml.add_bos_token", bool_or(config, "add_bos_token", false));
      md.set_bool("tokenizer.ggml.add_eos_token", bool_or(config, "add_eos_token", false));
    }

    for (size_t i = 0; i < tokens.size(); ++i)
      if (!present[i]) tokens[i].clear();
    md.set_string("tokenizer.ggml.model", "gpt2");
    md.set_strings("tokenizer.ggml.tokens", std::move(tokens));
    md.set_i32s("tokenizer.ggml.token_type", types);
    md.set_strings("tokenizer.ggml.merges", std::move(merge_strings));
    tok = make_bpe_tokenizer(md, src, t.opt);
  }

  if (const json* n = member(config, "model_max_length"); n && n->is_number_integer()) {
    const int64_t v = n->get<int64_t>();
    if (v > 0 && v < (int64_t(1) << 30)) tok->set_max_tokens(int(v));
  }
  return tok;
}

}  // namespace hearth
