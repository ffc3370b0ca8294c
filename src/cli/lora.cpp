// hearth lora merge BASE ADAPTER[:SCALE]... -o OUT [--type T]: bakes LoRA adapters into a base model's weights.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "core/quantize.h"
#include "formats/lora.h"

namespace hearth::cli {
namespace {

struct MergeOptions {
  std::string base, out, type;
  std::vector<std::string> adapters;
};

int run_merge(const MergeOptions& o) {
  LoraMergeOptions options;
  if (!o.type.empty()) {
    options.type = dtype_from_name(o.type);
    if (!options.type || !can_quantize(*options.type))
      fail("--type '{}': not a type hearth can write (e.g. f32, f16, q8_0, q4_0)", o.type);
  }
  const auto base = Weights::open(o.base);
  std::vector<LoraAdapter> adapters;
  std::vector<AppliedLora> applied;
  adapters.reserve(o.adapters.size());
  for (const std::string& text : o.adapters) {
    const LoraSpec spec = parse_lora_spec(text);
    adapters.push_back(load_lora_adapter(spec.path, *base));
    applied.push_back({&adapters.back(), spec.scale});
    fmt::print("{}: {} adapter, {} matrices, scale {}\n", spec.path, adapters.back().format,
               adapters.back().pairs.size(), spec.scale);
  }
  const LoraMergeReport report = merge_lora(*base, applied, o.out, options);
  for (const std::string& note : report.notes) fmt::print(stderr, "note: {}\n", note);
  std::error_code ec;
  const auto size = std::filesystem::file_size(o.out, ec);
  fmt::print("wrote {} ({:.1f} MB, {} merged tensors)\n", o.out, ec ? 0.0 : double(size) / 1e6, report.merged_tensors);
  return 0;
}

CommandRegistration reg({"lora", "merge"},
                        "Merge LoRA adapters (PEFT folders or GGUF adapters) into a GGUF model: W + scale * B * A",
                        [](CLI::App& app) {
                          auto o = std::make_shared<MergeOptions>();
                          app.add_option("base", o->base, "Base model (GGUF)")->required();
                          app.add_option("adapters", o->adapters,
                                         "Adapters, each FILE or FILE:SCALE (default scale 1), applied in order")
                              ->required();
                          app.add_option("-o,--output", o->out, "Output GGUF file")->required();
                          app.add_option("--type", o->type,
                                         "Type of the merged tensors (default: the base's where hearth can write "
                                         "it, else F16)");
                          return [o] { return run_merge(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
