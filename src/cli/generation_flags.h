// The sampling / generation flags shared by `hearth run` and `hearth chat` (llama.cpp's names and defaults).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"
#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
#include "models/decoder.h"
#include "models/lora.h"
#include "runtime/session.h"
#include "runtime/generator.h"

namespace hearth::cli {

// The grammar of --grammar FILE (GBNF), --json-schema FILE or --json (any JSON object); null for none.
// Error if more than one is given.
inline std::shared_ptr<const grammar::Grammar> load_grammar(const std::string& gbnf_file, const std::string& schema_file,
                                                            bool any_json) {
  if (int(!gbnf_file.empty()) + int(!schema_file.empty()) + int(any_json) > 1)
    fail("--grammar, --json-schema and --json exclude each other");
  try {
    if (!gbnf_file.empty()) return grammar::parse_gbnf(read_file(gbnf_file));
    if (!schema_file.empty()) return grammar::compile_json_schema(read_file(schema_file));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", gbnf_file.empty() ? schema_file : gbnf_file, e.what()), e.kind());
  }
  if (any_json) return grammar::json_object_grammar();
  return nullptr;
}

struct GenerationFlags {
  std::string model;
  int n = 128, ctx = 0, threads = 0, top_k = 40, last_n = 64, batch = 512;
  float temp = 0.8f, top_p = 0.95f, min_p = 0.05f, repeat_penalty = 1.0f, presence = 0.0f, frequency = 0.0f;
  int64_t seed = -1;
  std::vector<std::string> stop;
  std::string cache_type = "f16";
  bool ignore_eos = false, stats = false;
  std::string grammar_file, json_schema_file;
  bool json = false;
  std::vector<std::string> lora;

  void add_to(CLI::App& app) {
    app.add_option("-m,--model", model, "model file (GGUF) or Hugging Face folder")->required();
    app.add_option("-n,--n-predict", n, "tokens to generate per reply (-1: until the context is full)")
        ->capture_default_str();
    app.add_option("--temp", temp, "temperature (0 = greedy)")->capture_default_str();
    app.add_option("--seed", seed, "random seed (default: random)");
    app.add_option("--top-k", top_k, "top-k (0 = off)")->capture_default_str();
    app.add_option("--top-p", top_p, "top-p (1 = off)")->capture_default_str();
    app.add_option("--min-p", min_p, "min-p (0 = off)")->capture_default_str();
    app.add_option("--repeat-penalty", repeat_penalty, "repetition penalty (1 = off)")->capture_default_str();
    app.add_option("--presence-penalty", presence, "presence penalty")->capture_default_str();
    app.add_option("--frequency-penalty", frequency, "frequency penalty")->capture_default_str();
    app.add_option("--repeat-last-n", last_n, "tokens the penalties look back at (-1 = all)")->capture_default_str();
    app.add_option("--stop", stop, "stop string (repeatable)");
    app.add_flag("--ignore-eos", ignore_eos, "keep generating after an end-of-generation token");
    app.add_flag("--stats", stats, "print timings to stderr");
    app.add_option("--ctx", ctx, "context size (default: the model's, at most 4096)");
    app.add_option("-t,--threads", threads, "threads (0 = one per physical core)");
    app.add_option("-b,--batch", batch, "prompt tokens per forward pass")->capture_default_str();
    app.add_option("--grammar", grammar_file, "constrain the output to this GBNF grammar (docs/structured_output.md)");
    app.add_option("--json-schema", json_schema_file, "constrain the output to JSON valid under this JSON schema file");
    app.add_flag("--json", json, "constrain the output to a JSON object");
    app.add_option("--lora", lora, "LoRA adapter applied at run time, FILE[:SCALE] (PEFT folder or GGUF; repeatable)");
    app.add_option("--cache-type", cache_type, "KV cache storage: f16, or q8_0 (half the memory, see docs/decoder.md)")
        ->capture_default_str();
  }

  // The adapters of --lora, prepared for the session's model (null when none).
  std::shared_ptr<const LoraStack> lora_stack(const DecoderSession& s) const {
    return load_lora_stack(lora, *s.weights, *s.model);
  }

  // One sequence's cache of `context` positions, as the flags ask.
  CacheOptions cache_options(int context) const {
    CacheOptions c;
    c.n_ctx = context;
    c.type = parse_cache_type(cache_type);
    return c;
  }

  GenerateOptions options() const {
    GenerateOptions g;
    g.max_tokens = n;
    g.stop = stop;
    g.stop_at_eog = !ignore_eos;
    g.batch_size = batch;
    g.sampling.temperature = temp;
    g.sampling.top_k = top_k;
    g.sampling.top_p = top_p;
    g.sampling.min_p = min_p;
    g.sampling.repeat_penalty = repeat_penalty;
    g.sampling.presence_penalty = presence;
    g.sampling.frequency_penalty = frequency;
    g.sampling.penalty_last_n = last_n;
    g.sampling.seed = seed >= 0 ? uint64_t(seed) : std::random_device{}();
    g.grammar = load_grammar(grammar_file, json_schema_file, json);
    return g;
  }
};

}  // namespace hearth::cli
