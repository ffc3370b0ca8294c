// Writes a model's tensors to a GGUF file in the types a QuantPlanner chooses, converting each from its stored
// type (F32, F16, BF16; a quantized tensor only when it keeps its type, or with allow_requantize), in parallel
// over rows, measuring each tensor's error against its source. The file is written atomically (GgufWriter):
// on any error nothing appears under the output name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "formats/metadata.h"
#include "formats/quant_recipe.h"
#include "formats/weights.h"

namespace hearth {

struct TensorQuantStats {
  std::string name;
  std::vector<int64_t> ne;
  DType source_type, type;
  std::string note;         // a fallback's reason, else ""
  double rmse = 0;          // of the written values against the source's (0 when copied)
  double max_abs_error = 0;
  double source_rms = 0;    // RMS of the source values, to read rmse relative to the weights' scale
  uint64_t source_bytes = 0, bytes = 0;
};

struct QuantizeModelOptions {
  int threads = 0;                      // 0: default_thread_count()
  DType unquantized = DType::F32;       // for norms, biases, 1-D tensors; keep_unquantized: their own type instead
  bool keep_unquantized = false;
  bool allow_requantize = false;        // dequantize quantized sources and quantize them again
  // Called after each tensor (for progress output), from the calling thread.
  std::function<void(const TensorQuantStats&, size_t index, size_t count)> on_tensor;
};

struct QuantizeModelResult {
  std::vector<TensorQuantStats> tensors;
  uint64_t source_bytes = 0, bytes = 0;
  int64_t n_elements = 0;
  double rmse = 0;  // over all quantized elements
};

// Writes `weights`' tensors with `metadata` (general.file_type and general.quantization_version are set from the
// planner's recipe) to `out_path`. Throws Error naming the tensor when its type cannot be converted.
QuantizeModelResult quantize_model(const Weights& weights, Metadata metadata, const QuantPlanner& planner,
                                   const std::string& out_path, const QuantizeModelOptions& options);

}  // namespace hearth
