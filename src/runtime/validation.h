// Checking a model (a converted or quantized copy) against a reference file (formats/reference_file.h), and
// recording such a file from a model: `hearth validate`.
//
// Decoders: each reference prompt's token ids are run teacher-forced in one forward pass with every position's
// logits, then greedily continued for as many tokens as the reference has. Per position, against the reference's
// top-K ids S (the model's own full row of logits z; the reference's listed logits r and logsumexp):
//   - cosine: the cosine of the logits over S after subtracting each vector's mean over S. Logits are defined up to
//     an additive constant (softmax ignores it), and over a few dozen ids of similar size the raw cosine is close
//     to 1 for unrelated vectors; centred, it measures whether the model ranks and spaces the likely tokens as the
//     reference does. (Over the full vocabulary this is the plain cosine of logits, whose mean is about 0.)
//   - max |Δ log p|: |(z_i − logsumexp(z)) − (r_i − lse_ref)| over S: the probabilities themselves, scale included,
//     which the centred cosine does not see.
//   - top-1: argmax z equals the reference's first id.
// Greedy: the model's own argmax tokens are fed back; the match is the number of tokens before the first one that
// differs from the reference's continuation.
// Encoders (and decoder embedders): each reference sentence's token ids are embedded alone (the reference's pooling
// and normalization), and compared by cosine.
//
// Latency is measured on the same fixed set, one sequence at a time: the teacher-forced forward per prompt, that
// time per prompt token, and each greedy step (decoders); each embedding (encoders). Reported, never gated.
#pragma once

#include <string>
#include <vector>

#include "models/decoder.h"
#include "runtime/embedder.h"
#include "formats/reference_file.h"
#include "tokenizers/tokenizer.h"

namespace hearth {

struct ValidationThresholds {
  double min_cosine = 0.99;  // the lowest per-position (or per-sentence) cosine allowed
  double min_top1 = 0.0;     // fraction of positions whose top-1 agrees (decoders)
  double min_greedy = 0.0;   // fraction of greedy tokens matched before the first divergence (decoders)
};

struct ValidationRow {
  std::string label;        // the prompt or sentence, shortened
  int n_tokens = 0;
  bool tokens_match = true; // this model's tokenizer gives the reference's ids for the text (informative)
  double cos_min = 1, cos_mean = 1;
  int top1 = 0, positions = 0;                 // decoders
  int greedy_match = 0, greedy_total = 0;      // decoders
  double max_logprob_diff = 0;                 // decoders
  double max_abs_diff = 0;                     // embeddings: the largest |component difference|
};

struct LatencyFigure {
  std::string name;  // "forward (ms)", "per prompt token (ms)", "decode step (ms)", "embedding (ms)"
  int samples = 0;
  double p50 = 0, p95 = 0, p99 = 0;
};

struct ValidationReport {
  Reference::Kind kind = Reference::Kind::kDecoder;
  std::vector<ValidationRow> rows;
  double cos_min = 1, cos_mean = 1;
  int top1 = 0, positions = 0, greedy_match = 0, greedy_total = 0, tokens_differ = 0;
  double max_logprob_diff = 0;
  std::vector<LatencyFigure> latency;
  std::vector<std::string> failures;  // one line per threshold missed; empty = PASS
  bool passed() const { return failures.empty(); }
};

// Throws Error (kInvalidArgument) when the reference does not fit the model: another vocabulary size, a token id
// out of range, an embedding of another dimension, or more tokens than the context.
ValidationReport validate_decoder(const DecoderModel& model, const Tokenizer& tokenizer, const Reference& ref,
                                  const ValidationThresholds& thresholds);
ValidationReport validate_embedder(const Embedder& embedder, const Reference& ref,
                                   const ValidationThresholds& thresholds);

struct RecordOptions {
  int top_k = 64;  // logits kept per position (see docs/validate.md for why 64)
  int n_gen = 24;  // greedy tokens per prompt
};
Reference record_decoder(const DecoderModel& model, const Tokenizer& tokenizer, const std::vector<std::string>& prompts,
                         const RecordOptions& options);
Reference record_embedder(const Embedder& embedder, const std::vector<std::string>& sentences);

// The set `--record` uses when no prompts are given: a few short texts of different kinds.
const std::vector<std::string>& default_validation_prompts();

// The report as a table (one row per prompt or sentence, the summary, latency, PASS/FAIL), and as JSON.
std::string format_report(const ValidationReport& report);
std::string report_json(const ValidationReport& report);

}  // namespace hearth
