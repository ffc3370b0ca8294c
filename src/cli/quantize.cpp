// hearth quantize IN.gguf OUT.gguf TYPE [--recipe R] [--stats] [--stats-json FILE]: requantizes a GGUF model from
// F32/F16/BF16 (docs/toolchain.md). Tensors already in the type chosen for them are copied as they are; a tensor
// that would have to go from one quantized type to another is refused unless --allow-requantize.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/quantize_report.h"
#include "core/error.h"
#include "formats/gguf.h"

namespace hearth::cli {
namespace {

struct QuantizeOptions {
  std::string in, out, type;
  QuantizeFlags flags;
};

int run_quantize_command(const QuantizeOptions& o) {
  const QuantRecipe recipe = make_recipe(o.type, o.flags);  // a bad type or recipe fails before any reading
  std::error_code ec;
  if (std::filesystem::exists(o.out, ec) && std::filesystem::equivalent(o.in, o.out, ec))
    fail("{}: the output would replace the input", o.out);
  auto weights = load_gguf(o.in);
  const QuantPlanner planner(recipe, weights->tensors());
  QuantizeModelOptions options;
  options.keep_unquantized = true;  // norms and biases stay as the input has them, as llama-quantize leaves them
  run_quantize(*weights, weights->metadata(), planner, o.out, options, o.flags);
  return 0;
}

CommandRegistration reg({"quantize"}, "Requantize a GGUF model (F32/F16/BF16) to another type, with recipes",
                        [](CLI::App& app) {
                          auto o = std::make_shared<QuantizeOptions>();
                          app.add_option("input", o->in, "Input GGUF (F32, F16 or BF16 weights)")->required();
                          app.add_option("output", o->out, "Output GGUF (written atomically)")->required();
                          app.add_option("type", o->type, "Type: " + recipe_type_names())->required();
                          app.add_option("--recipe", o->flags.recipe,
                                         "Per-class types, e.g. attn=Q6_K,ffn=Q4_K,embd=Q8_0,output=Q6_K");
                          app.add_flag("--stats", o->flags.stats, "Print each tensor's type and error (RMSE, max)");
                          app.add_option("--stats-json", o->flags.stats_json, "Write the statistics as JSON ('-': stdout)");
                          app.add_option("-t,--threads", o->flags.threads, "Threads (default: physical cores)");
                          app.add_flag("--allow-requantize", o->flags.allow_requantize,
                                       "Quantize already-quantized tensors again (compounds their error)");
                          return [o] { return run_quantize_command(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
