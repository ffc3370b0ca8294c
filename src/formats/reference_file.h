// Reference ("golden") files: what a model should output, for checking a converted or quantized copy against it.
// A file format like the others in this layer (it needs nothing of models), so every test layer can read them.
// One schema, llama.cpp's, as its tools wrote the goldens in ../shared/golden/dev (README.md there):
//   - decoders (`*.decoder.json`): per prompt the token ids, at every position the top-K next-token logits with
//     the logsumexp over the whole vocabulary, and the greedy continuation;
//   - encoders (`*.embeddings.json`): per sentence the token ids and the pooled (normalized) embedding.
// `hearth validate --record` writes the same schema, so its files and llama.cpp's are read by one reader
// (the parity tests read the goldens through it too).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hearth {

// The next-token distribution after one position, summarized as llama.cpp's goldens do: the K highest logits
// (descending, ties to the lower id) and the logsumexp over the full vocabulary, so that log p(id) = logit − lse
// for every listed id.
struct LogitsSummary {
  std::vector<std::pair<int32_t, float>> top;
  double logsumexp = 0;
};

// Top-`k` of one row of `n_vocab` logits and its logsumexp (in double from the floats, as the goldens compute it).
LogitsSummary summarize_logits(const float* row, int n_vocab, int k);

struct DecoderPromptReference {
  std::string prompt;
  std::vector<int32_t> token_ids;           // what the model ran (framing tokens included)
  std::vector<LogitsSummary> positions;     // one per token: the distribution of the token after it
  std::vector<int32_t> greedy_ids;          // argmax continuation after the prompt (may be empty)
  std::vector<double> greedy_top2_margin;   // top1 − top2 logit at each greedy step (empty if unknown)
};

struct EmbeddingReference {
  std::string sentence;
  std::vector<int32_t> token_ids;
  std::vector<float> embedding;
};

struct Reference {
  enum class Kind { kDecoder, kEmbeddings };
  Kind kind = Kind::kDecoder;
  std::string model;         // the file it was made from, as recorded
  std::string architecture;  // "" when not recorded
  std::string producer;      // what wrote it: "llama.cpp <commit>" or "hearth validate --record"
  int n_vocab = 0;           // decoders; 0 when not recorded
  std::vector<DecoderPromptReference> prompts;
  std::string pooling = "mean";   // embeddings: "mean", "cls", "last"
  bool normalized = true;         // embeddings: L2-normalized
  std::vector<EmbeddingReference> sentences;
};

// Reads a reference file. Throws Error: kNotFound (no file), kCorruptData naming the file and the first fault
// (not JSON, neither schema, a missing or mistyped field, inconsistent lengths).
Reference read_reference(const std::string& path);
// Writes it in the same schema (floats with %.9g, which round-trips float32).
void write_reference(const Reference& ref, const std::string& path);

}  // namespace hearth
