// hearth embed: sentence embeddings as JSON Lines, one line per input text, in input order.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "cli/command.h"
#include "core/error.h"
#include "runtime/default_model.h"
#include "runtime/embedder.h"

namespace hearth::cli {
namespace {

struct EmbedCliOptions {
  std::string model;
  std::string pooling;
  bool no_normalize = false;
  std::string instruct;
  int threads = 0;
  std::vector<std::string> texts;
};

void append_floats(std::string& out, const float* v, size_t n) {
  out += '[';
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    // JSON has no NaN/Inf; a non-finite value can only come from a broken model file, so make it visible.
    if (std::isfinite(v[i])) fmt::format_to(std::back_inserter(out), "{}", v[i]);
    else out += "null";
  }
  out += ']';
}

int run_embed(const EmbedCliOptions& o) {
  std::vector<std::string> texts = read_texts(o.texts);
  if (texts.empty()) fail("no input: give texts as arguments or one per line on stdin");
  std::shared_ptr<const Weights> weights = Weights::open(o.model.empty() ? default_embedding_model() : o.model);
  std::shared_ptr<Backend> backend = shared_backend("auto", o.threads);
  EmbedderOptions opts;
  if (!o.pooling.empty()) opts.pooling = parse_pooling(o.pooling);
  if (o.no_normalize) opts.normalize = false;
  opts.instruction = o.instruct;
  // --pooling is also what lets a text generation model without a declared embedding pooling embed.
  Embedder embedder(weights, *backend, opts.pooling);
  const EmbedResult r = embedder.embed(texts, opts);

  const size_t dim = size_t(embedder.dim());
  const bool per_token = opts.pooling.value_or(embedder.model().default_options().pooling) == Pooling::kNone;
  std::string line;
  for (const auto& e : r.embeddings) {
    line.clear();
    if (!per_token) {
      append_floats(line, e.data(), e.size());
    } else {
      line += '[';
      for (size_t t = 0; t * dim < e.size(); ++t) {
        if (t) line += ',';
        append_floats(line, e.data() + t * dim, dim);
      }
      line += ']';
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  std::fflush(stdout);
  return 0;
}

CommandRegistration reg({"embed"}, "Embed texts (arguments, or one per line on stdin) as JSON Lines",
                        [](CLI::App& app) {
                          auto o = std::make_shared<EmbedCliOptions>();
                          app.add_option("-m,--model", o->model,
                                         "Embedding model: an encoder or a decoder embedder (GGUF file or model folder; "
                                         "default: USE lite)");
                          app.add_option("--pooling", o->pooling, "mean, cls, last or none (default: the model's)")
                              ->check(CLI::IsMember({"mean", "cls", "last", "none"}));
                          app.add_flag("--no-normalize", o->no_normalize, "Do not L2-normalize the embeddings");
                          app.add_option("--instruct", o->instruct,
                                         "The texts are queries for this task: embed \"Instruct: TASK\\nQuery:TEXT\" "
                                         "(instruction-following embedders such as Qwen3-Embedding)");
                          app.add_option("--threads", o->threads, "CPU threads (default: one per physical core)")
                              ->check(CLI::Range(0, 1024));
                          add_text_arguments(app, &o->texts, "Texts to embed (default: one per line of stdin)");
                          return [o] { return run_embed(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
