// Hugging Face model folders → Weights in GGUF vocabulary (see safetensors.h for the conventions).
// The key and tensor-name mappings follow llama.cpp's convert_hf_to_gguf.py, so a folder loads into exactly
// the names, keys and (for llama) q/k row order that converting it to GGUF would produce.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "formats/safetensors_internal.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

enum class Family { Bert, Llama };

struct ArchInfo {
  std::string arch;  // GGUF general.architecture
  Family family;
  bool roberta = false;     // XLM-RoBERTa: "roberta." prefix, positions offset by padding_idx + 1
  bool classifier = false;  // *ForSequenceClassification: a cross-encoder's head
};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ArchInfo detect_arch(const json& config, const std::string& source) {
  std::string name;
  if (auto a = config.find("architectures"); a != config.end() && a->is_array() && !a->empty() && (*a)[0].is_string())
    name = (*a)[0].get<std::string>();
  std::string model_type;
  if (auto m = config.find("model_type"); m != config.end() && m->is_string()) model_type = m->get<std::string>();
  const bool classifier = ends_with(name, "ForSequenceClassification");
  if (name.rfind("Bert", 0) == 0 || model_type == "bert") return {"bert", Family::Bert, false, classifier};
  // llama.cpp writes XLM-RoBERTa as "bert" too (positions shifted, see map_name's caller).
  if (name.rfind("XLMRoberta", 0) == 0 || model_type == "xlm-roberta")
    return {"bert", Family::Bert, true, classifier};
  if (name == "LlamaForCausalLM" || name == "MistralForCausalLM" || model_type == "llama" || model_type == "mistral")
    return {"llama", Family::Llama};
  if (name == "Qwen2ForCausalLM" || model_type == "qwen2") return {"qwen2", Family::Llama};
  if (name == "Qwen3ForCausalLM" || model_type == "qwen3") return {"qwen3", Family::Llama};
  fail(ErrorKind::kUnsupported,
       "{}: unsupported architecture '{}' (model_type '{}'); supported: BERT, XLM-RoBERTa (models and "
       "ForSequenceClassification cross-encoders), Llama, Mistral, Qwen2, Qwen3",
       source, name, model_type);
}

// Typed access to config.json values with errors naming the key.
class Config {
 public:
  Config(const json& j, std::string source) : j_(j), source_(std::move(source)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int64_t positive_int(const char* key) const {
    if (!has(key)) fail(ErrorKind::kCorruptData, "{}: missing key '{}'", source_, key);
    const json& v = j_.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (int64_t(1) << 31))
      fail(ErrorKind::kCorruptData, "{}: key '{}' must be a positive integer, got {}", source_, key, v.dump());
    return v.get<int64_t>();
  }
  int64_t positive_int(const char* key, int64_t fallback) const { return has(key) ? positive_int(key) : fallback; }

  double positive_number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
      fail(ErrorKind::kCorruptData, "{}: key '{}' must be a positive number, got {}", source_, key, v.dump());
    return v.get<double>();
  }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_.at(key).is_boolean()) fail(ErrorKind::kCorruptData, "{}: key '{}' must be true or false", source_, key);
    return j_.at(key).get<bool>();
  }

  const json& raw() const { return j_; }
  const std::string& source() const { return source_; }

 private:
  const json& j_;
  std::string source_;
};

json read_json_file(const fs::path& path) {
  return parse_json_checked(read_file(path.string()), path.string());
}

// sentence-transformers keeps the pooling mode in <pooling module>/config.json, the module listed in modules.json.
std::optional<uint32_t> pooling_type(const fs::path& dir) {
  fs::path pooling_dir = dir / "1_Pooling";
  if (fs::exists(dir / "modules.json")) {
    const json modules = read_json_file(dir / "modules.json");
    if (modules.is_array())
      for (const auto& m : modules)
        if (m.is_object() && m.value("type", "").find("Pooling") != std::string::npos && m.contains("path") &&
            m["path"].is_string()) {
          const std::string p = m["path"].get<std::string>();
          if (p.empty() || p.find("..") != std::string::npos || p.front() == '/')
            fail(ErrorKind::kCorruptData, "{}: unsafe pooling module path '{}'", (dir / "modules.json").string(), p);
          pooling_dir = dir / p;
        }
  }
  const fs::path cfg = pooling_dir / "config.json";
  if (!fs::exists(cfg)) return std::nullopt;
  const json j = read_json_file(cfg);
  if (!j.is_object()) fail(ErrorKind::kCorruptData, "{}: expected a JSON object", cfg.string());
  auto on = [&](const char* k) { return j.contains(k) && j[k].is_boolean() && j[k].get<bool>(); };
  // llama.cpp's enum llama_pooling_type: NONE = 0, MEAN = 1, CLS = 2, LAST = 3.
  if (on("pooling_mode_mean_tokens")) return 1u;
  if (on("pooling_mode_cls_token")) return 2u;
  if (on("pooling_mode_lasttoken")) return 3u;
  for (const char* k : {"pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens"})
    if (on(k))
      fail(ErrorKind::kUnsupported, "{}: pooling mode '{}' is not supported (mean, cls and last token are)",
           cfg.string(), k);
  return std::nullopt;
}

// XLM-RoBERTa's position ids start at padding_idx + 1: the rows the table holds before them are never used.
int64_t position_offset(const Config& c, const ArchInfo& arch) {
  if (!arch.roberta) return 0;
  if (!c.has("pad_token_id")) return 2;  // XLMRobertaConfig's default pad_token_id is 1
  const json& v = c.raw().at("pad_token_id");
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1024)
    fail(ErrorKind::kCorruptData, "{}: key 'pad_token_id' must be a small non-negative integer, got {}", c.source(),
         v.dump());
  return v.get<int64_t>() + 1;
}

void map_bert_config(const Config& c, const fs::path& dir, const ArchInfo& arch, Metadata& m) {
  m.set_u32("bert.block_count", uint32_t(c.positive_int("num_hidden_layers")));
  m.set_u32("bert.embedding_length", uint32_t(c.positive_int("hidden_size")));
  m.set_u32("bert.feed_forward_length", uint32_t(c.positive_int("intermediate_size")));
  m.set_u32("bert.attention.head_count", uint32_t(c.positive_int("num_attention_heads")));
  m.set_f32("bert.attention.layer_norm_epsilon", float(c.positive_number("layer_norm_eps", 1e-12)));
  // As llama.cpp's converter does, the positions an XLM-RoBERTa offset skips are taken off the context.
  const int64_t positions = c.positive_int("max_position_embeddings"), offset = position_offset(c, arch);
  if (positions <= offset)
    fail(ErrorKind::kCorruptData, "{}: max_position_embeddings {} leaves no position after the offset {}", c.source(),
         positions, offset);
  m.set_u32("bert.context_length", uint32_t(positions - offset));
  m.set_bool("bert.attention.causal", false);
  m.set_u32("tokenizer.ggml.token_type_count", uint32_t(c.positive_int("type_vocab_size", 2)));
  if (c.has("vocab_size")) m.set_u32("bert.vocab_size", uint32_t(c.positive_int("vocab_size")));
  if (arch.classifier) {
    m.set_u32("bert.pooling_type", 4);  // rank: the classification head scores the first token
    if (const json* labels = c.raw().contains("id2label") ? &c.raw().at("id2label") : nullptr;
        labels && labels->is_object()) {
      std::vector<std::string> names(labels->size());
      for (const auto& [key, value] : labels->items()) {
        size_t i = names.size();
        try {
          i = std::stoul(key);
        } catch (const std::exception&) {
        }
        if (i < names.size() && value.is_string()) names[i] = value.get<std::string>();
      }
      m.set_strings("bert.classifier.output_labels", names);
    }
  } else if (auto p = pooling_type(dir)) {
    m.set_u32("bert.pooling_type", *p);
  }
}

void map_llama_config(const Config& c, const std::string& arch, Metadata& m) {
  const int64_t heads = c.positive_int("num_attention_heads");
  const int64_t hidden = c.positive_int("hidden_size");
  m.set_u32(arch + ".block_count", uint32_t(c.positive_int("num_hidden_layers")));
  m.set_u32(arch + ".embedding_length", uint32_t(hidden));
  m.set_u32(arch + ".feed_forward_length", uint32_t(c.positive_int("intermediate_size")));
  m.set_u32(arch + ".attention.head_count", uint32_t(heads));
  m.set_u32(arch + ".attention.head_count_kv", uint32_t(c.positive_int("num_key_value_heads", heads)));
  m.set_f32(arch + ".rope.freq_base", float(c.positive_number("rope_theta", 10000.0)));
  m.set_f32(arch + ".attention.layer_norm_rms_epsilon", float(c.positive_number("rms_norm_eps", 1e-6)));
  m.set_u32(arch + ".context_length", uint32_t(c.positive_int("max_position_embeddings")));
  if (c.has("vocab_size")) m.set_u32(arch + ".vocab_size", uint32_t(c.positive_int("vocab_size")));
  // Qwen3 (and some Llama variants) set head_dim independently of hidden_size / heads.
  const int64_t head_dim = c.positive_int("head_dim", hidden / heads);
  if (c.has("head_dim")) {
    m.set_u32(arch + ".attention.key_length", uint32_t(head_dim));
    m.set_u32(arch + ".attention.value_length", uint32_t(head_dim));
  }
  m.set_u32(arch + ".rope.dimension_count", uint32_t(head_dim));

  if (!c.has("rope_scaling")) return;
  const json& rs = c.raw().at("rope_scaling");
  if (!rs.is_object()) fail(ErrorKind::kCorruptData, "{}: 'rope_scaling' must be an object", c.source());
  std::string type = rs.value("rope_type", rs.value("type", std::string()));
  const Config r(rs, c.source() + " rope_scaling");
  if (type == "linear" || type == "yarn") {
    m.set_string(arch + ".rope.scaling.type", type);
    m.set_f32(arch + ".rope.scaling.factor", float(r.positive_number("factor", 1.0)));
    if (r.has("original_max_position_embeddings"))
      m.set_u32(arch + ".rope.scaling.original_context_length",
                uint32_t(r.positive_int("original_max_position_embeddings")));
  } else if (type == "llama3" || type == "default" || type.empty()) {
    // llama3 scaling is carried as the rope_freqs.weight tensor (see llama3_rope_factors), as in GGUF files.
  } else {
    fail(ErrorKind::kUnsupported, "{}: unsupported rope_scaling type '{}'", c.source(), type);
  }
}

// Llama 3.1 frequency scaling, as llama.cpp's converter computes it: per rotary pair, a divisor of the
// frequency: 1 for high frequencies, `factor` for low ones, and a smooth blend in between.
std::vector<float> llama3_rope_factors(const Config& c) {
  const json& rs = c.raw().at("rope_scaling");
  const Config r(rs, c.source() + " rope_scaling");
  const double base = c.positive_number("rope_theta", 10000.0);
  const int64_t dim = c.positive_int("head_dim", c.positive_int("hidden_size") / c.positive_int("num_attention_heads"));
  const double factor = r.positive_number("factor", 8.0);
  const double low = r.positive_number("low_freq_factor", 1.0);
  const double high = r.positive_number("high_freq_factor", 4.0);
  const double old_ctx = double(r.positive_int("original_max_position_embeddings", 8192));
  if (high <= low)
    fail(ErrorKind::kCorruptData, "{}: rope_scaling high_freq_factor must exceed low_freq_factor", c.source());
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  std::vector<float> out;
  for (int64_t i = 0; i < dim; i += 2) {
    const float freq = 1.0f / std::pow(float(base), float(i) / float(dim));
    const double wavelen = 2 * M_PI / double(freq);
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(float(factor));
    } else {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      out.push_back(float(1.0 / ((1 - smooth) / factor + smooth)));
    }
  }
  return out;
}

// HF name → GGUF name, or "" for tensors with no GGUF counterpart (position ids, poolers, MLM heads, cached
// rotary frequencies). `layer` receives the block index for per-layer tensors, else -1.
struct NameRule {
  const char* hf;
  const char* gguf;
};

constexpr NameRule kBertGlobal[] = {
    {"embeddings.word_embeddings", "token_embd"},
    {"embeddings.position_embeddings", "position_embd"},
    {"embeddings.token_type_embeddings", "token_types"},
    {"embeddings.LayerNorm", "token_embd_norm"},
};
constexpr NameRule kBertLayer[] = {
    {"attention.self.query", "attn_q"},          {"attention.self.key", "attn_k"},
    {"attention.self.value", "attn_v"},          {"attention.output.dense", "attn_output"},
    {"attention.output.LayerNorm", "attn_output_norm"}, {"intermediate.dense", "ffn_up"},
    {"output.dense", "ffn_down"},                {"output.LayerNorm", "layer_output_norm"},
};
// A cross-encoder's head (llama.cpp's cls / cls.output). BERT's pooler is the dense layer of its head: pooled =
// tanh(pooler(h_cls)), logits = classifier(pooled), the shape of RoBERTa's classifier.dense + tanh + out_proj.
constexpr NameRule kBertClassifier[] = {
    {"pooler.dense", "cls"},
    {"classifier", "cls.output"},
};
constexpr NameRule kRobertaClassifier[] = {
    {"classifier.dense", "cls"},
    {"classifier.out_proj", "cls.output"},
};
constexpr NameRule kLlamaGlobal[] = {
    {"model.embed_tokens", "token_embd"},
    {"model.norm", "output_norm"},
    {"lm_head", "output"},
};
constexpr NameRule kLlamaLayer[] = {
    {"input_layernorm", "attn_norm"},   {"post_attention_layernorm", "ffn_norm"},
    {"self_attn.q_proj", "attn_q"},     {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},     {"self_attn.o_proj", "attn_output"},
    {"self_attn.q_norm", "attn_q_norm"}, {"self_attn.k_norm", "attn_k_norm"},
    {"mlp.gate_proj", "ffn_gate"},      {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
};

template <size_t N>
std::string apply_rules(const NameRule (&rules)[N], std::string_view stem) {
  for (const auto& r : rules)
    if (stem == r.hf) return r.gguf;
  return "";
}

std::string map_name(const ArchInfo& arch, std::string name, int64_t& layer) {
  const Family family = arch.family;
  layer = -1;
  // Old TF-converted BERT checkpoints name LayerNorm parameters gamma/beta.
  std::string suffix;
  for (auto [from, to] : {std::pair{".weight", ".weight"}, {".bias", ".bias"}, {".gamma", ".weight"}, {".beta", ".bias"}}) {
    const std::string f(from);
    if (name.size() > f.size() && name.compare(name.size() - f.size(), f.size(), f) == 0) {
      name.resize(name.size() - f.size());
      suffix = to;
      break;
    }
  }
  if (suffix.empty()) return "";
  const bool bert = family == Family::Bert;
  if (bert && name.rfind("bert.", 0) == 0) name = name.substr(5);
  if (arch.roberta && name.rfind("roberta.", 0) == 0) name = name.substr(8);
  if (arch.classifier) {
    const std::string g = arch.roberta ? apply_rules(kRobertaClassifier, name) : apply_rules(kBertClassifier, name);
    if (!g.empty()) return g + suffix;
  }
  const std::string layer_prefix = bert ? "encoder.layer." : "model.layers.";
  if (name.rfind(layer_prefix, 0) == 0) {
    const std::string rest = name.substr(layer_prefix.size());
    const size_t dot = rest.find('.');
    if (dot == std::string::npos || dot == 0 || dot > 6) return "";
    for (size_t i = 0; i < dot; ++i)
      if (rest[i] < '0' || rest[i] > '9') return "";
    layer = std::stoll(rest.substr(0, dot));
    const std::string g = bert ? apply_rules(kBertLayer, rest.substr(dot + 1)) : apply_rules(kLlamaLayer, rest.substr(dot + 1));
    return g.empty() ? "" : "blk." + std::to_string(layer) + "." + g + suffix;
  }
  const std::string g = bert ? apply_rules(kBertGlobal, name) : apply_rules(kLlamaGlobal, name);
  return g.empty() ? "" : g + suffix;
}

WeightTensor permute_rope_rows(Weights& w, const WeightTensor& t, int64_t n_head) {
  const int64_t rows = t.ne.size() == 1 ? t.ne[0] : (t.ne.size() == 2 ? t.ne[1] : -1);
  if (rows <= 0 || rows % (2 * n_head) != 0)
    fail(ErrorKind::kCorruptData, "{}: tensor '{}' with shape [{}] cannot be split into {} rotary heads", w.source(),
         t.name, fmt::join(t.ne, ", "), n_head);
  std::vector<uint8_t> buf(t.nbytes);
  hearth::permute_rope_rows(t.data, buf.data(), rows, t.nbytes / size_t(rows), n_head);
  WeightTensor out = t;
  out.data = w.own_bytes(buf.data(), buf.size());
  return out;
}

// Safe shard file name from an index: a plain file name inside the folder.
void check_shard_name(const std::string& name, const std::string& index_path) {
  if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos || name == "." ||
      name == "..")
    fail(ErrorKind::kCorruptData, "{}: unsafe shard file name '{}'", index_path, name);
}

}  // namespace

// llama.cpp's converter reorders each head's q/k rows from HF's half-split rotary layout to interleaved pairs:
// GGUF row h*hd + 2i + j  ←  HF row h*hd + j*hd/2 + i.
void permute_rope_rows(const uint8_t* src, uint8_t* dst, int64_t rows, size_t row_bytes, int64_t n_head) {
  HEARTH_ASSERT(n_head > 0 && rows % (2 * n_head) == 0);
  const int64_t hd = rows / n_head;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < hd / 2; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::memcpy(dst + size_t(h * hd + 2 * i + j) * row_bytes, src + size_t(h * hd + j * (hd / 2) + i) * row_bytes,
                    row_bytes);
}

std::string llama_family_gguf_name(const std::string& hf_name) {
  int64_t layer = -1;
  return map_name(ArchInfo{"llama", Family::Llama}, hf_name, layer);
}

std::unique_ptr<Weights> load_hf_folder(const std::string& dir_path) {
  const fs::path dir = fs::absolute(dir_path);
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path)) fail(ErrorKind::kNotFound, "{}: not a model folder: config.json is missing", dir_path);
  const json config_json = read_json_file(config_path);
  if (!config_json.is_object()) fail(ErrorKind::kCorruptData, "{}: expected a JSON object", config_path.string());
  const Config config(config_json, config_path.string());
  const ArchInfo arch = detect_arch(config_json, config_path.string());

  auto w = std::make_unique<Weights>();
  w->set_source(dir_path);
  Metadata& meta = w->mutable_metadata();
  meta.set_string("general.architecture", arch.arch);
  meta.set_string("general.name", dir.filename().string());
  meta.set_string("general.source.hf_dir", dir.string());
  if (arch.family == Family::Bert) map_bert_config(config, dir, arch, meta);
  else map_llama_config(config, arch.arch, meta);
  const int64_t n_layers = meta.get_int(arch.arch + ".block_count");

  // Shards: either one model.safetensors, or the files named by the index.
  std::vector<std::string> files;
  std::map<std::string, std::string> expected;  // tensor name -> shard, from the index
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::exists(dir / "model.safetensors")) {
    files.push_back("model.safetensors");
  } else if (fs::exists(index_path)) {
    const json index = read_json_file(index_path);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      fail(ErrorKind::kCorruptData, "{}: missing \"weight_map\" object", index_path.string());
    std::set<std::string> shard_set;
    for (const auto& [name, file] : index["weight_map"].items()) {
      if (!file.is_string())
        fail(ErrorKind::kCorruptData, "{}: weight_map entry '{}' is not a file name", index_path.string(), name);
      check_shard_name(file.get<std::string>(), index_path.string());
      expected[name] = file.get<std::string>();
      if (shard_set.insert(file.get<std::string>()).second) files.push_back(file.get<std::string>());
    }
    if (files.empty()) fail(ErrorKind::kCorruptData, "{}: weight_map is empty", index_path.string());
  } else {
    fail(ErrorKind::kCorruptData, "{}: no model.safetensors or model.safetensors.index.json", dir_path);
  }

  const int64_t pos_offset = arch.family == Family::Bert ? position_offset(config, arch) : 0;
  std::set<std::string> seen_hf, seen_gguf;
  size_t skipped = 0;
  const bool permute = arch.arch == "llama";
  const int64_t n_head = meta.find_int("llama.attention.head_count").value_or(0);
  for (const auto& file : files) {
    const std::string path = (dir / file).string();
    auto map = std::make_shared<MappedFile>(path);
    w->keep_alive(map);
    for (const auto& e : read_safetensors(map->data(), map->size(), path)) {
      if (!seen_hf.insert(e.name).second)
        fail(ErrorKind::kCorruptData, "{}: tensor '{}' appears in more than one shard", path, e.name);
      if (!expected.empty()) {
        auto it = expected.find(e.name);
        if (it != expected.end() && it->second != file)
          fail(ErrorKind::kCorruptData, "{}: tensor '{}' is listed in shard '{}' by the index", path, e.name,
               it->second);
      }
      int64_t layer = -1;
      std::string gguf = map_name(arch, e.name, layer);
      if (gguf.empty()) {
        log::debug("{}: skipping tensor '{}' (no GGUF counterpart)", path, e.name);
        ++skipped;
        continue;
      }
      if (layer >= n_layers)
        fail(ErrorKind::kCorruptData, "{}: tensor '{}' is for layer {}, but the model has {} layers", path, e.name,
             layer, n_layers);
      if (!seen_gguf.insert(gguf).second)
        fail(ErrorKind::kCorruptData, "{}: tensor '{}' maps to '{}' twice", path, e.name, gguf);
      WeightTensor t = to_weight_tensor(e, path, gguf);
      if (gguf == "position_embd.weight" && pos_offset > 0) {
        // Rows before padding_idx + 1 are never used: drop them, as llama.cpp's converter does.
        if (t.ne.size() != 2 || t.ne[1] <= pos_offset)
          fail(ErrorKind::kCorruptData, "{}: tensor '{}' has too few rows for the position offset {}", path, e.name,
               pos_offset);
        const size_t skip = row_bytes(t.type, t.ne[0]) * size_t(pos_offset);
        t.data += skip;
        t.nbytes -= skip;
        t.ne[1] -= pos_offset;
      }
      if (permute && layer >= 0 && (gguf.find(".attn_q.") != std::string::npos || gguf.find(".attn_k.") != std::string::npos)) {
        const bool is_k = gguf.find(".attn_k.") != std::string::npos;
        t = permute_rope_rows(*w, t, is_k ? meta.get_int("llama.attention.head_count_kv") : n_head);
      }
      w->add_tensor(std::move(t));
    }
  }
  for (const auto& [name, file] : expected)
    if (!seen_hf.count(name))
      fail(ErrorKind::kCorruptData, "{}: tensor '{}' listed in the index is missing from '{}'", index_path.string(),
           name, file);
  if (skipped) log::info("{}: {} tensors without a GGUF counterpart were skipped", dir_path, skipped);

  if (arch.family == Family::Llama) {
    if (!config.boolean("tie_word_embeddings", false) && w->find("output.weight") == nullptr)
      fail(ErrorKind::kCorruptData, "{}: lm_head.weight is missing and tie_word_embeddings is not set", dir_path);
    if (config.has("rope_scaling") && config.raw()["rope_scaling"].is_object() &&
        config.raw()["rope_scaling"].value("rope_type", config.raw()["rope_scaling"].value("type", std::string())) == "llama3") {
      const std::vector<float> f = llama3_rope_factors(config);
      WeightTensor t;
      t.name = "rope_freqs.weight";
      t.type = DType::F32;
      t.ne = {int64_t(f.size())};
      t.nbytes = f.size() * sizeof(float);
      t.data = w->own_bytes(f.data(), t.nbytes);
      w->add_tensor(std::move(t));
    }
  }
  return w;
}

}  // namespace hearth
