// hearth tokenize: prints the token ids of each text, one JSON array per line.
#include <fmt/format.h>

#include "cli/command.h"
#include "tokenizers/tokenizer.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model;
  bool add_special = false;
  bool parse_special = false;
  std::vector<std::string> texts;
};

int run_tokenize(const Options& opts) {
  const auto tok = load_tokenizer(opts.model);
  for (const std::string& text : read_texts(opts.texts)) {
    const std::vector<int32_t> ids = tok->encode(text, opts.add_special, opts.parse_special);
    fmt::print("[{}]\n", fmt::join(ids, ","));
  }
  return 0;
}

CommandRegistration reg({"tokenize"}, "Print the token ids of texts (arguments, or else each line of stdin)",
                        [](CLI::App& app) {
                          auto opts = std::make_shared<Options>();
                          app.add_option("-m,--model", opts->model,
                                         "GGUF model or vocabulary, or a tokenizer folder (tokenizer.json / vocab.txt)")
                              ->required();
                          app.add_flag("--special", opts->add_special,
                                       "Add the model's special tokens ([CLS] ... [SEP], BOS, ...)");
                          app.add_flag("--parse-special", opts->parse_special,
                                       "Read special-token texts in the input (e.g. \"<s>\") as those tokens");
                          add_text_arguments(app, &opts->texts, "Texts to tokenize (default: each line of stdin)");
                          return [opts] { return run_tokenize(*opts); };
                        });

}  // namespace
}  // namespace hearth::cli
