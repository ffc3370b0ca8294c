// hearth validate: checks a model against a reference file (golden transcripts: logits, greedy continuations,
// embeddings), or records one from a model. The comparison itself is runtime/validation.h.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "cli/command.h"
#include "core/error.h"
#include "core/utf8.h"
#include "models/decoder_embedding.h"
#include "models/registry.h"
#include "runtime/embedder.h"
#include "runtime/session.h"
#include "runtime/validation.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model, reference, record, prompts;
  ValidationThresholds thresholds;
  RecordOptions record_options;
  bool json = false;
  int threads = 0;
};

// Exit status of a validation that ran and missed a threshold, apart from 1 (the command could not run).
constexpr int kValidationFailed = 2;

std::vector<std::string> read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: cannot open the prompts file", path);
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (!utf8_valid(line)) fail("{}: line {} is not valid UTF-8", path, prompts.size() + 1);
    prompts.push_back(line);
  }
  if (prompts.empty()) fail("{}: no prompts (one per line)", path);
  return prompts;
}

int record(const Options& o, std::shared_ptr<const Weights> weights) {
  const std::vector<std::string> prompts =
      o.prompts.empty() ? default_validation_prompts() : read_prompt_file(o.prompts);
  Reference ref;
  // A decoder that declares an embedding pooling is an embedding model (Qwen3-Embedding): its reference is vectors.
  if (is_decoder_architecture(weights->architecture()) && !declares_embedding_pooling(*weights)) {
    DecoderSession s = open_decoder(weights, o.threads);
    ref = record_decoder(*s.model, *s.tokenizer, prompts, o.record_options);
  } else {
    Embedder embedder(weights, *shared_backend("auto", o.threads));
    ref = record_embedder(embedder, prompts);
  }
  ref.model = o.model;
  write_reference(ref, o.record);
  std::fprintf(stderr, "recorded %zu %s from %s to %s\n", prompts.size(),
               ref.kind == Reference::Kind::kDecoder ? "prompts" : "sentences", o.model.c_str(), o.record.c_str());
  return 0;
}

int run_validate(const Options& o) {
  if (o.reference.empty() == o.record.empty()) fail("give either --reference REF.json or --record OUT.json");
  if (!o.prompts.empty() && o.record.empty()) fail("--prompts goes with --record (a reference holds its own prompts)");
  std::shared_ptr<const Weights> weights = Weights::open(o.model);
  if (!o.record.empty()) return record(o, weights);

  const Reference ref = read_reference(o.reference);
  ValidationReport report;
  if (ref.kind == Reference::Kind::kDecoder) {
    DecoderSession s = open_decoder(weights, o.threads);
    report = validate_decoder(*s.model, *s.tokenizer, ref, o.thresholds);
  } else {
    // The reference's pooling also lets a text generation model embed (a decoder validated as an embedder).
    Embedder embedder(weights, *shared_backend("auto", o.threads), parse_pooling(ref.pooling));
    report = validate_embedder(embedder, ref, o.thresholds);
  }
  if (o.json) {
    std::fputs(report_json(report).c_str(), stdout);
  } else {
    std::fputs(fmt::format("{} against {}{}\n", o.model, o.reference,
                           ref.producer.empty() ? "" : " (" + ref.producer + ")")
                   .c_str(),
               stdout);
    std::fputs(format_report(report).c_str(), stdout);
  }
  std::fflush(stdout);
  return report.passed() ? 0 : kValidationFailed;
}

CommandRegistration reg({"validate"},
                        "Check a model against a reference file (logits, greedy text, embeddings), or record one",
                        [](CLI::App& app) {
                          auto o = std::make_shared<Options>();
                          app.add_option("model", o->model, "model file (GGUF) or Hugging Face folder")->required();
                          app.add_option("--reference", o->reference,
                                         "reference to check against (hearth's or llama.cpp's *.decoder.json / "
                                         "*.embeddings.json)");
                          app.add_option("--record", o->record, "write a reference file from this model instead");
                          app.add_option("--prompts", o->prompts,
                                         "with --record: prompts (or sentences), one per line "
                                         "(default: a built-in set)");
                          app.add_option("--min-cosine", o->thresholds.min_cosine,
                                         "lowest cosine allowed at any position / sentence")
                              ->capture_default_str();
                          app.add_option("--min-top1", o->thresholds.min_top1,
                                         "lowest fraction of positions whose top-1 token agrees")
                              ->check(CLI::Range(0.0, 1.0))
                              ->capture_default_str();
                          app.add_option("--min-greedy", o->thresholds.min_greedy,
                                         "lowest fraction of greedy tokens matched before the first divergence")
                              ->check(CLI::Range(0.0, 1.0))
                              ->capture_default_str();
                          app.add_option("--top", o->record_options.top_k, "with --record: logits kept per position")
                              ->check(CLI::Range(2, 1 << 20))
                              ->capture_default_str();
                          app.add_option("--n-gen", o->record_options.n_gen,
                                         "with --record: greedy tokens per prompt")
                              ->check(CLI::Range(0, 4096))
                              ->capture_default_str();
                          app.add_flag("--json", o->json, "print the report as JSON");
                          app.add_option("-t,--threads", o->threads, "threads (0 = one per physical core)")
                              ->check(CLI::Range(0, 1024));
                          return [o] { return run_validate(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
