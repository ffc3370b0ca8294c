// The cost of grammar-constrained decoding per generated token on the llama-spm vocabulary (32000 tokens):
// mask (the trie walk, or a cached result) + accept, with a pseudo-random allowed token chosen each step, from
// a fresh constraint every 128 tokens (so the memoized transitions start cold as in a new request).
//   GrammarMask/bounded_string: a string of 300-600 characters (each position a new grammar state: no cache)
//   GrammarMask/nested: tests/grammar/schemas/25_nested.json (unbounded strings: cached states recur)
// Run: build/bin/hearth_microbench --benchmark_filter=GrammarMask
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/mapped_file.h"
#include "grammar/json_schema.h"
#include "grammar/token_constraint.h"

namespace hearth {
namespace {

std::filesystem::path source_root() { return std::filesystem::path(__FILE__).parent_path().parent_path(); }

std::string shared_dir() {
  if (const char* env = std::getenv("HEARTH_SHARED_DIR")) return env;
  return (source_root().parent_path() / "shared").string();
}

void mask_tokens(benchmark::State& state, const std::string& schema_file) {
  static const auto tok = load_tokenizer(shared_dir() + "/golden/tokenizer/ggml-vocab-llama-spm.gguf");
  static const auto trie = std::make_shared<const grammar::VocabularyTrie>(*tok);
  const auto g = grammar::compile_json_schema(read_file((source_root() / schema_file).string()));
  std::vector<float> logits(size_t(tok->n_vocab()));
  std::mt19937_64 rng(1);
  auto c = std::make_unique<grammar::TokenConstraint>(g, trie);
  int n = 0;
  for (auto _ : state) {
    if (n == 128 || c->complete()) {
      state.PauseTiming();
      c = std::make_unique<grammar::TokenConstraint>(g, trie);
      n = 0;
      state.ResumeTiming();
    }
    std::fill(logits.begin(), logits.end(), 0.0f);
    const size_t allowed = c->mask(logits, false);
    size_t pick = size_t(rng() % allowed);
    int32_t id = 0;
    for (size_t i = 0; i < logits.size(); ++i)
      if (!std::isinf(logits[i]) && pick-- == 0) {
        id = int32_t(i);
        break;
      }
    c->accept(id);
    ++n;
  }
}

BENCHMARK_CAPTURE(mask_tokens, bounded_string, std::string("bench/schemas/bounded_string.json"))
    ->Name("GrammarMask/bounded_string")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(mask_tokens, nested, std::string("tests/grammar/schemas/25_nested.json"))
    ->Name("GrammarMask/nested")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hearth
