// hearth pull OWNER/REPO[:FILE_OR_QUANT] [--revision REV]: a model from the Hugging Face Hub into the hub cache
// (docs/models.md), with a progress line on stderr; the path to open is printed on stdout.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/pull_progress.h"
#include "core/error.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model;
  std::string revision = "main";
};

int run_pull(const Options& o) {
  const auto ref = hub::parse_hub_ref(o.model);
  if (!ref) fail("'{}' is not a Hugging Face model name: expected OWNER/REPO or OWNER/REPO:QUANT", o.model);
  fmt::print("{}\n", pull_with_progress(*ref, o.revision).path);
  return 0;
}

CommandRegistration reg({"pull"}, "Download a model from the Hugging Face Hub (GGUF by quant, or a safetensors folder)",
                        [](CLI::App& app) {
                          auto o = std::make_shared<Options>();
                          app.add_option("model", o->model, "OWNER/REPO, OWNER/REPO:QUANT (e.g. :Q4_K_M) or OWNER/REPO:FILE")
                              ->required();
                          app.add_option("--revision", o->revision, "Branch, tag or commit")->capture_default_str();
                          return [o] { return run_pull(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
