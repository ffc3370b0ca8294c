#include "formats/reference_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>

#include "core/error.h"

namespace hearth {

using nlohmann::json;

LogitsSummary summarize_logits(const float* row, int n_vocab, int k) {
  HEARTH_ASSERT(n_vocab > 0 && k > 0);
  std::vector<int32_t> order(static_cast<size_t>(n_vocab));
  std::iota(order.begin(), order.end(), 0);
  const size_t kk = std::min(size_t(k), size_t(n_vocab));
  std::partial_sort(order.begin(), order.begin() + ptrdiff_t(kk), order.end(),
                    [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  LogitsSummary s;
  for (size_t i = 0; i < kk; ++i) s.top.emplace_back(order[i], row[order[i]]);
  const double mx = row[order[0]];
  double sum = 0;
  for (int i = 0; i < n_vocab; ++i) sum += std::exp(double(row[i]) - mx);
  s.logsumexp = mx + std::log(sum);
  return s;
}

namespace {

// Field access that names the path of what is missing or mistyped (nlohmann's own messages do not).
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void bad(const std::string& where, const std::string& what) const {
    fail(ErrorKind::kCorruptData, "{}: {}: {}", path_, where, what);
  }
  const json& field(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) bad(where, "expected an object");
    auto it = obj.find(key);
    if (it == obj.end()) bad(where, fmt::format("missing field '{}'", key));
    return *it;
  }
  template <typename T>
  T get(const json& v, const std::string& where) const {
    try {
      return v.get<T>();
    } catch (const json::exception&) {
      bad(where, fmt::format("unexpected value {}", v.dump().substr(0, 60)));
    }
  }
  template <typename T>
  T get(const json& obj, const char* key, const std::string& where) const {
    return get<T>(field(obj, key, where), where + "." + key);
  }

 private:
  std::string path_;
};

std::vector<LogitsSummary> read_positions(const Reader& r, const json& list, const std::string& where) {
  if (!list.is_array()) r.bad(where, "expected an array");
  std::vector<LogitsSummary> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", where, i);
    LogitsSummary s;
    const json& top = r.field(list[i], "top", at);
    if (!top.is_array() || top.empty()) r.bad(at + ".top", "expected a non-empty array of [id, logit]");
    for (const json& pair : top) {
      if (!pair.is_array() || pair.size() != 2) r.bad(at + ".top", "expected [id, logit] pairs");
      s.top.emplace_back(r.get<int32_t>(pair[0], at + ".top"), r.get<float>(pair[1], at + ".top"));
    }
    s.logsumexp = r.get<double>(list[i], "logsumexp", at);
    out.push_back(std::move(s));
  }
  return out;
}

Reference read_decoder(const Reader& r, const json& j) {
  Reference ref;
  ref.kind = Reference::Kind::kDecoder;
  const json& prompts = r.field(j, "prompts", "top level");
  if (!prompts.is_array() || prompts.empty()) r.bad("prompts", "expected a non-empty array");
  if (j.contains("n_vocab")) ref.n_vocab = r.get<int>(j, "n_vocab", "top level");
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string at = fmt::format("prompts[{}]", i);
    const json& p = prompts[i];
    DecoderPromptReference d;
    if (p.is_object() && p.contains("prompt")) d.prompt = r.get<std::string>(p, "prompt", at);
    d.token_ids = r.get<std::vector<int32_t>>(p, "token_ids", at);
    d.positions = read_positions(r, r.field(p, "positions", at), at + ".positions");
    if (d.token_ids.empty()) r.bad(at + ".token_ids", "no tokens");
    if (d.positions.size() != d.token_ids.size())
      r.bad(at, fmt::format("{} positions for {} tokens", d.positions.size(), d.token_ids.size()));
    if (p.contains("greedy_ids")) d.greedy_ids = r.get<std::vector<int32_t>>(p, "greedy_ids", at);
    if (p.contains("greedy_top2_margin")) {
      d.greedy_top2_margin = r.get<std::vector<double>>(p, "greedy_top2_margin", at);
      if (d.greedy_top2_margin.size() != d.greedy_ids.size())
        r.bad(at, fmt::format("{} greedy margins for {} greedy ids", d.greedy_top2_margin.size(), d.greedy_ids.size()));
    }
    ref.prompts.push_back(std::move(d));
  }
  return ref;
}

Reference read_embeddings(const Reader& r, const json& j) {
  Reference ref;
  ref.kind = Reference::Kind::kEmbeddings;
  const auto sentences = r.get<std::vector<std::string>>(j, "sentences", "top level");
  const auto ids = r.get<std::vector<std::vector<int32_t>>>(j, "token_ids", "top level");
  const auto vectors = r.get<std::vector<std::vector<float>>>(j, "embeddings", "top level");
  if (sentences.empty()) r.bad("sentences", "no sentences");
  if (ids.size() != sentences.size() || vectors.size() != sentences.size())
    r.bad("top level", fmt::format("{} sentences, {} token id lists and {} embeddings", sentences.size(), ids.size(),
                                   vectors.size()));
  for (size_t i = 0; i < vectors.size(); ++i)
    if (vectors[i].empty() || vectors[i].size() != vectors[0].size())
      r.bad(fmt::format("embeddings[{}]", i),
            fmt::format("{} values, expected {}", vectors[i].size(), vectors[0].size()));
  if (j.contains("pooling")) ref.pooling = r.get<std::string>(j, "pooling", "top level");
  if (j.contains("normalize")) ref.normalized = r.get<std::string>(j, "normalize", "top level") == "l2";
  for (size_t i = 0; i < sentences.size(); ++i) ref.sentences.push_back({sentences[i], ids[i], vectors[i]});
  return ref;
}

}  // namespace

Reference read_reference(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(errno_kind(errno), "{}: cannot open the reference file: {}", path, std::strerror(errno));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::kCorruptData, "{}: not a JSON reference file (byte {}: {})", path, e.byte,
         std::string(e.what()).substr(std::string(e.what()).rfind(':') + 1));
  }
  const Reader r(path);
  if (!j.is_object()) r.bad("top level", "expected an object");
  Reference ref;
  if (j.contains("prompts")) ref = read_decoder(r, j);
  else if (j.contains("embeddings")) ref = read_embeddings(r, j);
  else r.bad("top level", "neither a decoder reference ('prompts') nor an embeddings reference ('embeddings')");
  if (j.contains("model") && j["model"].is_string()) ref.model = j["model"].get<std::string>();
  if (j.contains("architecture") && j["architecture"].is_string())
    ref.architecture = j["architecture"].get<std::string>();
  if (j.contains("llama_cpp_commit") && j["llama_cpp_commit"].is_string())
    ref.producer = "llama.cpp " + j["llama_cpp_commit"].get<std::string>();
  else if (j.contains("producer") && j["producer"].is_string())
    ref.producer = j["producer"].get<std::string>();
  return ref;
}

namespace {

void append_float(std::string& out, double v) {
  // JSON has no NaN or infinity; a model that produces them fails validation anyway, so keep the file parseable.
  if (std::isfinite(v)) fmt::format_to(std::back_inserter(out), "{:.9g}", v);
  else out += "null";
}

template <typename T>
void append_list(std::string& out, const std::vector<T>& values) {
  out += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if constexpr (std::is_floating_point_v<T>) append_float(out, values[i]);
    else fmt::format_to(std::back_inserter(out), "{}", values[i]);
  }
  out += ']';
}

}  // namespace

void write_reference(const Reference& ref, const std::string& path) {
  // Written by hand rather than through nlohmann::json so that floats keep %.9g (float32 round trip) and the
  // file stays one line per prompt position, as the goldens are diffed by people.
  std::string out = "{\n";
  out += fmt::format("\"model\": {},\n", json(ref.model).dump());
  if (!ref.architecture.empty()) out += fmt::format("\"architecture\": {},\n", json(ref.architecture).dump());
  out += fmt::format("\"producer\": {},\n", json(ref.producer).dump());
  if (ref.kind == Reference::Kind::kDecoder) {
    out += fmt::format("\"n_vocab\": {},\n\"prompts\": [\n", ref.n_vocab);
    for (size_t i = 0; i < ref.prompts.size(); ++i) {
      const DecoderPromptReference& p = ref.prompts[i];
      out += fmt::format("{{\"prompt\": {},\n \"token_ids\": ", json(p.prompt).dump());
      append_list(out, p.token_ids);
      out += ",\n \"positions\": [\n";
      for (size_t k = 0; k < p.positions.size(); ++k) {
        out += "  {\"top\": [";
        for (size_t t = 0; t < p.positions[k].top.size(); ++t) {
          out += fmt::format("{}[{},", t ? "," : "", p.positions[k].top[t].first);
          append_float(out, p.positions[k].top[t].second);
          out += ']';
        }
        out += "], \"logsumexp\": ";
        append_float(out, p.positions[k].logsumexp);
        out += k + 1 < p.positions.size() ? "},\n" : "}\n";
      }
      out += " ],\n \"greedy_ids\": ";
      append_list(out, p.greedy_ids);
      out += ",\n \"greedy_top2_margin\": ";
      append_list(out, p.greedy_top2_margin);
      out += i + 1 < ref.prompts.size() ? "},\n" : "}\n";
    }
    out += "]\n}\n";
  } else {
    out += fmt::format("\"pooling\": {},\n\"normalize\": {},\n", json(ref.pooling).dump(),
                       ref.normalized ? "\"l2\"" : "\"none\"");
    std::string sentences, ids, vectors;
    for (size_t i = 0; i < ref.sentences.size(); ++i) {
      const char* sep = i + 1 < ref.sentences.size() ? ",\n  " : "";
      sentences += json(ref.sentences[i].sentence).dump() + sep;
      append_list(ids, ref.sentences[i].token_ids);
      ids += sep;
      append_list(vectors, ref.sentences[i].embedding);
      vectors += sep;
    }
    out += fmt::format("\"sentences\": [\n  {}],\n\"token_ids\": [\n  {}],\n\"embeddings\": [\n  {}]\n}}\n", sentences,
                       ids, vectors);
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail(errno_kind(errno), "{}: cannot write the reference file: {}", path, std::strerror(errno));
  f << out;
  f.flush();
  if (!f) fail(ErrorKind::kResourceExhausted, "{}: writing the reference file failed", path);
}

}  // namespace hearth
