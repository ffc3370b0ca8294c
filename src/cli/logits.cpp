// hearth logits: teacher-forced next-token logits at every prompt position, as JSON in the schema of the
// llama.cpp goldens (../shared/golden/dev/*.decoder.json), so results can be diffed against llama.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "cli/command.h"
#include "core/error.h"
#include "core/utf8.h"
#include "runtime/generator.h"
#include "formats/reference_file.h"
#include "runtime/session.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model, prompt;
  int top = 20, ctx = 0, threads = 0, batch = 512;
};

int run_logits(const Options& o) {
  if (!utf8_valid(o.prompt)) fail("the prompt is not valid UTF-8");
  if (o.top < 1) fail("--top must be positive");
  DecoderSession s = open_decoder(o.model, o.threads);
  const std::vector<int32_t> ids = s.tokenizer->encode(o.prompt, /*add_special=*/true, /*parse_special=*/false);
  if (ids.empty()) fail("the prompt gives no tokens (this vocabulary adds no BOS token)");
  const int n_ctx = std::max(s.context_size(o.ctx), int(ids.size()));
  auto cache = s.model->new_cache(n_ctx, 1);
  const std::vector<float> logits = prefill(*s.model, *cache, 0, ids, 0, o.batch, /*all_logits=*/true);
  const size_t n_vocab = size_t(s.model->hparams().n_vocab);

  std::string out = "{\"token_ids\":[";
  for (size_t i = 0; i < ids.size(); ++i) out += fmt::format("{}{}", i ? "," : "", ids[i]);
  out += "],\"positions\":[";
  for (size_t p = 0; p < ids.size(); ++p) {
    const LogitsSummary s = summarize_logits(logits.data() + p * n_vocab, int(n_vocab), o.top);
    out += p ? ",{\"top\":[" : "{\"top\":[";
    for (size_t i = 0; i < s.top.size(); ++i) out += fmt::format("{}[{},{:.9g}]", i ? "," : "", s.top[i].first, s.top[i].second);
    out += fmt::format("],\"logsumexp\":{:.9g}}}", s.logsumexp);
  }
  out += "]}\n";
  fmt::print("{}", out);
  return 0;
}

CommandRegistration reg({"logits"}, "Print next-token logits at every prompt position (JSON)", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("-m,--model", o->model, "model file (GGUF) or Hugging Face folder")->required();
  app.add_option("-p,--prompt", o->prompt, "prompt text (BOS added as the vocabulary says)")->required();
  app.add_option("--top", o->top, "how many of the highest logits to print per position")->capture_default_str();
  app.add_option("--ctx", o->ctx, "context size (default: the model's, at most 4096)");
  app.add_option("-t,--threads", o->threads, "threads (0 = one per physical core)");
  app.add_option("-b,--batch", o->batch, "prompt tokens per forward pass")->capture_default_str();
  return [o] { return run_logits(*o); };
});

}  // namespace
}  // namespace hearth::cli
