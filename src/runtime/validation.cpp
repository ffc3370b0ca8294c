#include "runtime/validation.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/utf8.h"
#include "runtime/generator.h"

namespace hearth {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Nearest-rank percentiles: every figure is a time that was actually measured.
LatencyFigure percentiles(std::string name, std::vector<double> samples) {
  LatencyFigure f;
  f.name = std::move(name);
  f.samples = int(samples.size());
  if (samples.empty()) return f;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    const size_t rank = size_t(std::ceil(q * double(samples.size())));
    return samples[std::clamp(rank, size_t(1), samples.size()) - 1];
  };
  f.p50 = at(0.50);
  f.p95 = at(0.95);
  f.p99 = at(0.99);
  return f;
}

std::string shorten(const std::string& text, size_t limit = 28) {
  std::string s;
  for (char c : text) s += c == '\n' ? ' ' : c;
  if (s.size() <= limit) return s;
  size_t cut = limit - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return s.substr(0, cut) + "...";
}

int32_t argmax(const float* row, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i)
    if (row[i] > row[best]) best = i;
  return best;
}

double logsumexp(const float* row, int n) {
  double mx = row[0], sum = 0;
  for (int i = 1; i < n; ++i) mx = std::max(mx, double(row[i]));
  for (int i = 0; i < n; ++i) sum += std::exp(double(row[i]) - mx);
  return mx + std::log(sum);
}

// Cosine of two vectors after centring each on its own mean (see validation.h). Two constant vectors agree (1);
// a constant one against a varying one does not (0).
double centred_cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= double(a.size());
  mb /= double(b.size());
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) * (a[i] - ma);
    bb += (b[i] - mb) * (b[i] - mb);
  }
  if (aa == 0 || bb == 0) return aa == bb ? 1.0 : 0.0;
  return ab / std::sqrt(aa * bb);
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  if (aa == 0 || bb == 0) return aa == bb ? 1.0 : 0.0;
  return ab / std::sqrt(aa * bb);
}

void check_ids(std::span<const int32_t> ids, int n_vocab, const std::string& what) {
  for (int32_t id : ids)
    if (id < 0 || id >= n_vocab)
      fail("the reference's {} holds token id {}, outside this model's vocabulary of {}: it was recorded from "
           "another model",
           what, id, n_vocab);
}

void apply_thresholds(ValidationReport& r, const ValidationThresholds& t) {
  const char* unit = r.kind == Reference::Kind::kDecoder ? "position" : "sentence";
  if (!(r.cos_min >= t.min_cosine))
    r.failures.push_back(fmt::format("lowest {} cosine {:.6f} is below {}", unit, r.cos_min, t.min_cosine));
  if (r.kind != Reference::Kind::kDecoder) return;
  const double top1 = r.positions ? double(r.top1) / r.positions : 1.0;
  if (top1 < t.min_top1)
    r.failures.push_back(fmt::format("top-1 agreement {:.1f}% is below {:.1f}%", 100 * top1, 100 * t.min_top1));
  const double greedy = r.greedy_total ? double(r.greedy_match) / r.greedy_total : 1.0;
  if (greedy < t.min_greedy)
    r.failures.push_back(
        fmt::format("greedy continuations match {:.1f}% of tokens, below {:.1f}%", 100 * greedy, 100 * t.min_greedy));
}

}  // namespace

ValidationReport validate_decoder(const DecoderModel& model, const Tokenizer& tokenizer, const Reference& ref,
                                  const ValidationThresholds& thresholds) {
  if (ref.kind != Reference::Kind::kDecoder)
    fail("the reference holds embeddings, and this model is validated as a decoder (next-token logits)");
  const int n_vocab = model.hparams().n_vocab;
  if (ref.n_vocab != 0 && ref.n_vocab != n_vocab)
    fail("the reference was recorded from a model with a vocabulary of {} tokens; this one has {}", ref.n_vocab,
         n_vocab);
  int n_ctx = 1;
  for (size_t i = 0; i < ref.prompts.size(); ++i) {
    const DecoderPromptReference& p = ref.prompts[i];
    check_ids(p.token_ids, n_vocab, fmt::format("prompt {}", i));
    check_ids(p.greedy_ids, n_vocab, fmt::format("greedy continuation of prompt {}", i));
    for (const LogitsSummary& s : p.positions)
      for (const auto& [id, logit] : s.top) check_ids(std::span<const int32_t>(&id, 1), n_vocab, "top logits");
    n_ctx = std::max(n_ctx, int(p.token_ids.size() + p.greedy_ids.size()) + 1);
  }
  auto cache = model.new_cache(n_ctx, 1);

  ValidationReport report;
  report.kind = Reference::Kind::kDecoder;
  std::vector<double> forward_ms, token_ms, step_ms;
  double cos_sum = 0;
  std::vector<double> a, b;
  for (const DecoderPromptReference& p : ref.prompts) {
    ValidationRow row;
    row.label = p.prompt.empty() ? "(BOS only)" : shorten(p.prompt);
    row.n_tokens = int(p.token_ids.size());
    if (utf8_valid(p.prompt))
      row.tokens_match = tokenizer.encode(p.prompt, /*add_special=*/true, /*parse_special=*/false) == p.token_ids;

    cache->clear(0);
    const auto t0 = Clock::now();
    const std::vector<float> logits =
        prefill(model, *cache, 0, p.token_ids, 0, /*batch_size=*/512, /*all_logits=*/true);
    forward_ms.push_back(ms_since(t0));
    token_ms.push_back(forward_ms.back() / double(p.token_ids.size()));

    double prompt_cos_sum = 0;
    row.cos_min = 1;
    for (size_t k = 0; k < p.positions.size(); ++k) {
      const float* z = logits.data() + k * size_t(n_vocab);
      const LogitsSummary& s = p.positions[k];
      const double lse = logsumexp(z, n_vocab);
      a.clear();
      b.clear();
      for (const auto& [id, logit] : s.top) {
        a.push_back(logit);
        b.push_back(z[id]);
        row.max_logprob_diff =
            std::max(row.max_logprob_diff, std::fabs((double(z[id]) - lse) - (double(logit) - s.logsumexp)));
      }
      const double c = centred_cosine(a, b);
      row.cos_min = std::min(row.cos_min, c);
      prompt_cos_sum += c;
      row.top1 += argmax(z, n_vocab) == s.top[0].first;
      ++row.positions;
    }
    row.cos_mean = prompt_cos_sum / double(row.positions);
    cos_sum += prompt_cos_sum;

    // The model's own greedy tokens, fed back; every step is timed, the match counts up to the first difference.
    std::vector<float> last(logits.end() - n_vocab, logits.end());
    bool diverged = false;
    for (size_t step = 0; step < p.greedy_ids.size(); ++step) {
      const int32_t id = argmax(last.data(), n_vocab);
      diverged = diverged || id != p.greedy_ids[step];
      if (!diverged) ++row.greedy_match;
      ++row.greedy_total;
      if (step + 1 == p.greedy_ids.size()) break;
      DecoderInput in;
      in.tokens = std::span<const int32_t>(&id, 1);
      in.start = cache->length(0);
      const auto t1 = Clock::now();
      last = model.forward(std::span<const DecoderInput>(&in, 1), *cache);
      step_ms.push_back(ms_since(t1));
    }

    report.cos_min = std::min(report.cos_min, row.cos_min);
    report.top1 += row.top1;
    report.positions += row.positions;
    report.greedy_match += row.greedy_match;
    report.greedy_total += row.greedy_total;
    report.max_logprob_diff = std::max(report.max_logprob_diff, row.max_logprob_diff);
    report.tokens_differ += !row.tokens_match;
    report.rows.push_back(std::move(row));
  }
  report.cos_mean = cos_sum / double(std::max(1, report.positions));
  report.latency = {percentiles("forward, whole prompt (ms)", forward_ms),
                    percentiles("per prompt token (ms)", token_ms), percentiles("decode step (ms)", step_ms)};
  apply_thresholds(report, thresholds);
  return report;
}

namespace {

EmbedderOptions reference_pooling(const Reference& ref) {
  EmbedderOptions o;
  o.pooling = parse_pooling(ref.pooling);
  o.normalize = ref.normalized;
  return o;
}

}  // namespace

ValidationReport validate_embedder(const Embedder& embedder, const Reference& ref,
                                   const ValidationThresholds& thresholds) {
  if (ref.kind != Reference::Kind::kEmbeddings)
    fail("the reference holds next-token logits (a decoder's), and this model is validated as an embedder");
  const EmbedderOptions options = reference_pooling(ref);
  const int n_vocab = embedder.tokenizer().n_vocab();
  ValidationReport report;
  report.kind = Reference::Kind::kEmbeddings;
  std::vector<double> embed_ms;
  double cos_sum = 0;
  for (size_t i = 0; i < ref.sentences.size(); ++i) {
    const EmbeddingReference& s = ref.sentences[i];
    check_ids(s.token_ids, n_vocab, fmt::format("sentence {}", i));
    if (int(s.embedding.size()) != embedder.dim())
      fail("the reference's embeddings have {} dimensions; this model's have {}", s.embedding.size(), embedder.dim());
    ValidationRow row;
    row.label = shorten(s.sentence);
    row.n_tokens = int(s.token_ids.size());
    if (utf8_valid(s.sentence)) row.tokens_match = embedder.tokenize(s.sentence) == s.token_ids;
    const auto t0 = Clock::now();
    const EmbedResult r = embedder.embed_tokens({s.token_ids}, options);
    embed_ms.push_back(ms_since(t0));
    const std::vector<float>& v = r.embeddings[0];
    row.cos_min = row.cos_mean = cosine(v, s.embedding);
    for (size_t d = 0; d < v.size(); ++d)
      row.max_abs_diff = std::max(row.max_abs_diff, double(std::fabs(v[d] - s.embedding[d])));
    report.cos_min = std::min(report.cos_min, row.cos_min);
    cos_sum += row.cos_min;
    report.tokens_differ += !row.tokens_match;
    report.rows.push_back(std::move(row));
  }
  report.cos_mean = cos_sum / double(ref.sentences.size());
  report.latency = {percentiles("embedding, one sentence (ms)", embed_ms)};
  apply_thresholds(report, thresholds);
  return report;
}

Reference record_decoder(const DecoderModel& model, const Tokenizer& tokenizer, const std::vector<std::string>& prompts,
                         const RecordOptions& options) {
  if (prompts.empty()) fail("no prompts to record");
  if (options.top_k < 2) fail("--top must be at least 2 (the cosine compares the spread of the top logits)");
  if (options.n_gen < 0) fail("--n-gen must not be negative");
  const int n_vocab = model.hparams().n_vocab;
  Reference ref;
  ref.kind = Reference::Kind::kDecoder;
  ref.architecture = model.hparams().arch;
  ref.n_vocab = n_vocab;
  ref.producer = "hearth validate --record";
  std::vector<std::vector<int32_t>> ids;
  int n_ctx = 1;
  for (size_t i = 0; i < prompts.size(); ++i) {
    ids.push_back(tokenizer.encode(prompts[i], /*add_special=*/true, /*parse_special=*/false));
    if (ids.back().empty()) fail("prompt {} gives no tokens (this vocabulary adds no BOS token)", i + 1);
    n_ctx = std::max(n_ctx, int(ids.back().size()) + options.n_gen + 1);
  }
  auto cache = model.new_cache(n_ctx, 1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    DecoderPromptReference p;
    p.prompt = prompts[i];
    p.token_ids = ids[i];
    cache->clear(0);
    const std::vector<float> logits = prefill(model, *cache, 0, p.token_ids, 0, 512, /*all_logits=*/true);
    for (size_t k = 0; k < p.token_ids.size(); ++k)
      p.positions.push_back(summarize_logits(logits.data() + k * size_t(n_vocab), n_vocab, options.top_k));
    std::vector<float> last(logits.end() - n_vocab, logits.end());
    for (int step = 0; step < options.n_gen; ++step) {
      const LogitsSummary s = summarize_logits(last.data(), n_vocab, 2);
      p.greedy_ids.push_back(s.top[0].first);
      p.greedy_top2_margin.push_back(double(s.top[0].second) - double(s.top[1].second));
      if (step + 1 == options.n_gen) break;
      DecoderInput in;
      in.tokens = std::span<const int32_t>(&p.greedy_ids.back(), 1);
      in.start = cache->length(0);
      last = model.forward(std::span<const DecoderInput>(&in, 1), *cache);
    }
    ref.prompts.push_back(std::move(p));
  }
  return ref;
}

Reference record_embedder(const Embedder& embedder, const std::vector<std::string>& sentences) {
  if (sentences.empty()) fail("no sentences to record");
  Reference ref;
  ref.kind = Reference::Kind::kEmbeddings;
  ref.architecture = embedder.weights().architecture();
  ref.producer = "hearth validate --record";
  const EmbedOptions defaults = embedder.model().default_options();
  if (defaults.pooling == Pooling::kNone)
    fail("this model's pooling is 'none' (one vector per token); a reference holds one vector per sentence");
  ref.pooling = std::string(pooling_name(defaults.pooling));
  ref.normalized = defaults.normalize;
  const EmbedResult r = embedder.embed(sentences);
  for (size_t i = 0; i < sentences.size(); ++i)
    ref.sentences.push_back({sentences[i], embedder.tokenize(sentences[i]), r.embeddings[i]});
  return ref;
}

const std::vector<std::string>& default_validation_prompts() {
  static const std::vector<std::string> prompts = {
      "The capital of France is",
      "Once upon a time, in a small village by the sea,",
      "def fibonacci(n):\n    if n < 2:\n        return n\n",
      "Q: What is 17 times 23?\nA:",
      "The quick brown fox jumps over the lazy dog.",
      "In 1969, the first humans landed on the Moon. The mission was called",
      "Translate to French: I would like a cup of coffee, please.",
      "A list of prime numbers: 2, 3, 5, 7, 11,",
  };
  return prompts;
}

std::string format_report(const ValidationReport& r) {
  std::string out;
  const bool decoder = r.kind == Reference::Kind::kDecoder;
  if (decoder) {
    out += fmt::format("{:<30} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10}\n", "prompt", "tokens", "cos min", "cos mean",
                       "top-1", "greedy", "max|dlogp|");
    for (const ValidationRow& row : r.rows)
      out += fmt::format("{:<30} {:>6} {:>9.6f} {:>9.6f} {:>9} {:>9} {:>10.4f}{}\n", row.label, row.n_tokens,
                         row.cos_min, row.cos_mean, fmt::format("{}/{}", row.top1, row.positions),
                         fmt::format("{}/{}", row.greedy_match, row.greedy_total), row.max_logprob_diff,
                         row.tokens_match ? "" : "  (tokenizer differs)");
    out += fmt::format(
        "summary: {} prompts, {} positions: cosine min {:.6f} mean {:.6f}; top-1 {}/{} ({:.1f}%); greedy {}/{} tokens "
        "before divergence; max |d log p| {:.4f}\n",
        r.rows.size(), r.positions, r.cos_min, r.cos_mean, r.top1, r.positions,
        r.positions ? 100.0 * r.top1 / r.positions : 100.0, r.greedy_match, r.greedy_total, r.max_logprob_diff);
  } else {
    out += fmt::format("{:<30} {:>6} {:>10} {:>12}\n", "sentence", "tokens", "cosine", "max|diff|");
    for (const ValidationRow& row : r.rows)
      out += fmt::format("{:<30} {:>6} {:>10.7f} {:>12.3e}{}\n", row.label, row.n_tokens, row.cos_min, row.max_abs_diff,
                         row.tokens_match ? "" : "  (tokenizer differs)");
    out += fmt::format("summary: {} sentences: cosine min {:.7f} mean {:.7f}\n", r.rows.size(), r.cos_min, r.cos_mean);
  }
  if (r.tokens_differ > 0)
    out += fmt::format("note: for {} texts this model's tokenizer gives other ids than the reference's; the "
                       "reference's ids were run\n",
                       r.tokens_differ);
  for (const LatencyFigure& f : r.latency)
    out += fmt::format("latency {:<30} p50 {:8.3f}  p95 {:8.3f}  p99 {:8.3f}  ({} samples)\n", f.name, f.p50, f.p95,
                       f.p99, f.samples);
  for (const std::string& f : r.failures) out += "FAIL: " + f + "\n";
  out += r.passed() ? "PASS\n" : "FAIL\n";
  return out;
}

namespace {

// The decoder figures, which a row (one prompt) and the report (all of them) both hold under the same names.
template <typename Figures>
void put_decoder_figures(nlohmann::ordered_json& j, const Figures& f) {
  j["cosine_min"] = f.cos_min;
  j["cosine_mean"] = f.cos_mean;
  j["top1"] = f.top1;
  j["positions"] = f.positions;
  j["greedy_match"] = f.greedy_match;
  j["greedy_total"] = f.greedy_total;
  j["max_logprob_diff"] = f.max_logprob_diff;
}

}  // namespace

std::string report_json(const ValidationReport& r) {
  nlohmann::ordered_json j;
  const bool decoder = r.kind == Reference::Kind::kDecoder;
  j["kind"] = decoder ? "decoder" : "embeddings";
  j["passed"] = r.passed();
  j["failures"] = r.failures;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const ValidationRow& row : r.rows) {
    nlohmann::ordered_json x;
    x["text"] = row.label;
    x["tokens"] = row.n_tokens;
    x["tokens_match"] = row.tokens_match;
    if (decoder) {
      put_decoder_figures(x, row);
    } else {
      x["cosine"] = row.cos_min;
      x["max_abs_diff"] = row.max_abs_diff;
    }
    rows.push_back(std::move(x));
  }
  j["rows"] = std::move(rows);
  if (decoder) {
    put_decoder_figures(j, r);
  } else {
    j["cosine_min"] = r.cos_min;
    j["cosine_mean"] = r.cos_mean;
  }
  nlohmann::ordered_json lat = nlohmann::ordered_json::array();
  for (const LatencyFigure& f : r.latency)
    lat.push_back({{"name", f.name}, {"samples", f.samples}, {"p50_ms", f.p50}, {"p95_ms", f.p95}, {"p99_ms", f.p99}});
  j["latency"] = std::move(lat);
  return j.dump(1) + "\n";
}

}  // namespace hearth
