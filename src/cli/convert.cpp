// hearth convert SOURCE -o OUT.gguf: writes a GGUF file llama.cpp reads from
//   - a Hugging Face model folder (config.json + safetensors + tokenizer files): llama, mistral, qwen2, qwen3,
//     BERT and BERT / XLM-RoBERTa cross-encoders, in --type (default F16) with --recipe overrides;
//   - the Universal Sentence Encoder lite TF.js package (model.json, shards, vocab.json). `hearth convert
//     tfjs-use DIR` still names that kind explicitly.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/quantize_report.h"
#include "core/error.h"
#include "formats/tfjs.h"
#include "formats/weights.h"
#include "tokenizers/gguf_vocab.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;

struct ConvertOptions {
  std::vector<std::string> args;  // SOURCE, or the kind then SOURCE
  std::string out, type = "F16", tokenizer_pre;
  QuantizeFlags flags;
};

int run_convert_use(const std::string& dir, const std::string& out) {
  if (!fs::is_directory(dir)) fail("{}: not a folder (expected the package's dist/ folder)", dir);
  convert_tfjs_use(dir, out);
  std::error_code ec;
  const auto size = fs::file_size(out, ec);
  fmt::print("wrote {} ({:.1f} MB, architecture use)\n", out, ec ? 0.0 : double(size) / 1e6);
  return 0;
}

// The metadata llama.cpp's converter writes: the folder's hyper-parameters as the loader mapped them, less what
// only hearth uses, plus the tokenizer.
Metadata converted_metadata(const Weights& w, const std::string& dir, const ConvertOptions& o) {
  Metadata md;
  const std::string arch = w.architecture();
  for (const auto& [key, value] : w.metadata().entries()) {
    if (key == "general.source.hf_dir") continue;
    // convert_hf_to_gguf writes <arch>.vocab_size for llama only.
    if (key == arch + ".vocab_size" && arch != "llama") continue;
    md.set(key, value);
  }
  VocabExportOptions vo;
  vo.arch = arch;
  vo.pre = o.tokenizer_pre;
  if (auto n = w.metadata().find_int(arch + ".vocab_size")) vo.n_vocab = *n;
  else if (const WeightTensor* e = w.find("token_embd.weight"); e && e->ne.size() == 2) vo.n_vocab = e->ne[1];
  const Metadata tokenizer = hf_tokenizer_gguf_metadata(dir, vo);
  for (const auto& [key, value] : tokenizer.entries()) md.set(key, value);
  return md;
}

int run_convert_hf(const std::string& dir, const ConvertOptions& o) {
  const QuantRecipe recipe = make_recipe(o.type, o.flags);  // a bad type or recipe fails before any reading
  auto weights = Weights::open(dir);
  const Metadata md = converted_metadata(*weights, dir, o);
  const QuantPlanner planner(recipe, weights->tensors());
  QuantizeModelOptions options;
  options.unquantized = DType::F32;  // norms, biases, position and token-type tables, as convert_hf_to_gguf writes
  // Safetensors hold floats; quantized GGUF sources are for `hearth quantize`.
  run_quantize(*weights, md, planner, o.out, options, o.flags);
  return 0;
}

int run_convert(const ConvertOptions& o) {
  make_recipe(o.type, o.flags);  // a bad --type or --recipe is reported first, whatever the source
  if (o.args.size() == 2) {
    if (o.args[0] == "tfjs-use") return run_convert_use(o.args[1], o.out);
    if (o.args[0] == "hf") return run_convert_hf(o.args[1], o);
    fail("unknown kind '{}' (hf, tfjs-use), or one source too many", o.args[0]);
  }
  if (o.args.size() != 1) fail("expected one source folder");
  const fs::path src(o.args[0]);
  if (!fs::is_directory(src)) fail(ErrorKind::kNotFound, "{}: not a folder (a Hugging Face model folder or a TF.js package)", o.args[0]);
  if (fs::exists(src / "config.json")) return run_convert_hf(o.args[0], o);
  if (fs::exists(src / "model.json")) return run_convert_use(o.args[0], o.out);
  fail(ErrorKind::kNotFound,
       "{}: neither a Hugging Face model folder (config.json) nor a TF.js package (model.json)", o.args[0]);
}

CommandRegistration reg(
    {"convert"}, "Convert a Hugging Face model folder (or the USE-lite TF.js package) to GGUF", [](CLI::App& app) {
      auto o = std::make_shared<ConvertOptions>();
      app.add_option("source", o->args, "Model folder; or 'tfjs-use DIR' / 'hf DIR' to name its kind")
          ->required()
          ->expected(1, 2);
      app.add_option("-o,--output", o->out, "Output GGUF file (written atomically)")->required();
      app.add_option("--type", o->type, "Type: " + recipe_type_names() + " (default F16)");
      app.add_option("--recipe", o->flags.recipe, "Per-class types, e.g. attn=Q6_K,ffn=Q4_K,embd=Q8_0,output=Q6_K");
      app.add_option("--tokenizer-pre", o->tokenizer_pre,
                     "llama.cpp pre-tokenizer name for a byte-level BPE (tokenizer.ggml.pre), when not recognised");
      app.add_flag("--stats", o->flags.stats, "Print each tensor's type and error (RMSE, max)");
      app.add_option("--stats-json", o->flags.stats_json, "Write the statistics as JSON ('-': stdout)");
      app.add_option("-t,--threads", o->flags.threads, "Threads (default: physical cores)");
      return [o] { return run_convert(*o); };
    });

}  // namespace
}  // namespace hearth::cli
