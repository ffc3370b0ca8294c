// What `hearth convert` and `hearth quantize` share: the flags that choose types (--type, --recipe), the run with
// progress and Ctrl-C safety, and the per-tensor error report (--stats table, --stats-json).
#pragma once

#include <string>

#include "formats/quantize_model.h"

namespace hearth::cli {

struct QuantizeFlags {
  std::string recipe;       // --recipe class=TYPE,...
  int threads = 0;
  bool stats = false;       // --stats: the per-tensor table on stdout
  std::string stats_json;   // --stats-json FILE ("-" = stdout)
  bool allow_requantize = false;
};

// The recipe for `type` with --recipe's overrides; one Error line when either is invalid.
QuantRecipe make_recipe(const std::string& type, const QuantizeFlags& flags);

// Runs quantize_model with a progress line on stderr; a SIGINT or SIGTERM while it runs removes the partly written
// temporary file before the process exits, so OUT is never left half-written. Prints the summary line and the
// reports --stats / --stats-json ask for.
QuantizeModelResult run_quantize(const Weights& weights, Metadata metadata, const QuantPlanner& planner,
                                 const std::string& out_path, QuantizeModelOptions options, const QuantizeFlags& flags);

}  // namespace hearth::cli
