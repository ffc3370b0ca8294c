// Tokenizer encode throughput on ../shared/bench/sentences256.txt (the sentences of the peer figures):
//   Tokenize/wordpiece: bert-bge vocabulary, [CLS] … [SEP]; Tokenize/spm: llama-spm vocabulary, BOS;
//   Tokenize/*_joined: the 256 sentences as one text (long-input scaling).
// Reads ../shared beside the checkout, or $HEARTH_SHARED_DIR. Run: build-*/bin/hearth_microbench --benchmark_filter=Tokenize
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace hearth {
namespace {

std::string shared_dir() {
  if (const char* env = std::getenv("HEARTH_SHARED_DIR")) return env;
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared").string();
}

std::vector<std::string> sentences() {
  std::vector<std::string> out;
  std::ifstream in(shared_dir() + "/bench/sentences256.txt");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

void Tokenize(benchmark::State& state, const char* vocab, bool joined) {
  const std::string path = shared_dir() + "/golden/tokenizer/ggml-vocab-" + vocab + ".gguf";
  std::vector<std::string> texts = sentences();
  if (texts.empty() || !std::filesystem::exists(path)) {
    state.SkipWithError("../shared (bench sentences, vocabularies) not found");
    return;
  }
  if (joined) {
    std::string all;
    for (const auto& t : texts) all += t + " ";
    texts = {all};
  }
  const auto tok = load_tokenizer(path);
  size_t bytes = 0, tokens = 0;
  for (auto _ : state) {
    for (const auto& t : texts) {
      const auto ids = tok->encode(t, true);
      tokens += ids.size();
      bytes += t.size();
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.SetBytesProcessed(int64_t(bytes));
  state.counters["tokens/s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(Tokenize, wordpiece, "bert-bge", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Tokenize, spm, "llama-spm", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Tokenize, wordpiece_joined, "bert-bge", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Tokenize, spm_joined, "llama-spm", true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hearth
