// hearth run: complete a prompt with a decoder model, streaming the text to stdout as it is generated.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "cli/command.h"
#include "cli/generation_flags.h"
#include "core/error.h"
#include "core/utf8.h"
#include "runtime/session.h"

namespace hearth::cli {
namespace {

struct Options : GenerationFlags {
  std::string prompt;
  bool echo = false;
};

void print_stats(const GenerateResult& r) {
  fmt::print(stderr, "prompt: {} tokens in {:.3f} s ({:.1f} tokens/s); generated: {} tokens in {:.3f} s ({:.1f} tokens/s); {}\n",
             r.evaluated_prompt_tokens(), r.prompt_seconds, r.evaluated_prompt_tokens() / std::max(r.prompt_seconds, 1e-9),
             r.tokens.size(), r.generate_seconds, double(r.tokens.size()) / std::max(r.generate_seconds, 1e-9),
             to_string(r.finish_reason));
}

int run_run(const Options& o) {
  if (!utf8_valid(o.prompt)) fail("the prompt is not valid UTF-8");
  const GenerateOptions g = o.options();
  DecoderSession s = open_decoder(o.model, o.threads);
  const std::vector<int32_t> ids = s.tokenizer->encode(o.prompt, /*add_special=*/true, /*parse_special=*/false);
  auto cache = s.model->new_cache(s.context_size(o.ctx), 1);
  Generator gen(*s.model, *s.tokenizer, *cache);
  if (o.echo) {
    fmt::print("{}", o.prompt);
    std::fflush(stdout);
  }
  GenerateResult r = gen.generate(ids, g, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  fmt::print("\n");
  std::fflush(stdout);
  if (o.stats) print_stats(r);
  return 0;
}

CommandRegistration reg({"run"}, "Generate text from a prompt with a decoder model", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  o->add_to(app);
  app.add_option("-p,--prompt", o->prompt, "prompt text (BOS added as the vocabulary says)");
  app.add_flag("--echo", o->echo, "print the prompt before the generated text");
  return [o] { return run_run(*o); };
});

}  // namespace
}  // namespace hearth::cli
