#include "formats/quantize_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/quantize.h"
#include "core/thread_pool.h"
#include "formats/gguf.h"

namespace hearth {
namespace {

// Rows per work item: enough values that a chunk amortizes its dispatch, few enough to balance across threads.
int64_t rows_per_chunk(int64_t row_length) { return std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, row_length)); }

struct ErrorSums {
  double se = 0, sx = 0, max_abs = 0;
  int64_t non_finite = 0;  // NaN or infinite source values (the chunk is then not quantized)
};

// Converts `t` to `type` into `out`, accumulating the error of the written values against the source's.
ErrorSums convert_tensor(ThreadPool& pool, const WeightTensor& t, DType type, std::vector<uint8_t>& out) {
  const int64_t n = t.row_length(), rows = t.n_rows();
  const size_t src_row = row_bytes(t.type, n), dst_row = row_bytes(type, n);
  out.resize(dst_row * size_t(rows));
  const int64_t chunk = rows_per_chunk(n), n_chunks = (rows + chunk - 1) / chunk;
  std::vector<ErrorSums> sums(static_cast<size_t>(n_chunks));
  pool.parallel_for(n_chunks, [&](int64_t begin, int64_t end) {
    std::vector<float> x, back;
    for (int64_t c = begin; c < end; ++c) {
      const int64_t r0 = c * chunk, nr = std::min(chunk, rows - r0);
      x.resize(size_t(nr * n));
      back.resize(x.size());
      dequantize_row(t.type, t.data + size_t(r0) * src_row, x.data(), nr * n);
      ErrorSums& s = sums[size_t(c)];
      for (float v : x) s.non_finite += !std::isfinite(v);
      if (s.non_finite) continue;  // quantizers assume finite values; reported below
      const std::vector<uint8_t> q = quantize(type, x.data(), nr, n);
      std::memcpy(out.data() + size_t(r0) * dst_row, q.data(), q.size());
      dequantize_row(type, q.data(), back.data(), nr * n);
      for (size_t i = 0; i < x.size(); ++i) {
        const double e = double(back[i]) - double(x[i]);
        s.se += e * e;
        s.sx += double(x[i]) * double(x[i]);
        s.max_abs = std::max(s.max_abs, std::fabs(e));
      }
    }
  });
  ErrorSums total;
  for (const auto& s : sums) {
    total.non_finite += s.non_finite;
    total.se += s.se;
    total.sx += s.sx;
    total.max_abs = std::max(total.max_abs, s.max_abs);
  }
  return total;
}

}  // namespace

QuantizeModelResult quantize_model(const Weights& weights, Metadata metadata, const QuantPlanner& planner,
                                   const std::string& out_path, const QuantizeModelOptions& options) {
  ThreadPool pool(options.threads > 0 ? options.threads : default_thread_count());
  metadata.set_u32("general.file_type", planner.recipe().file_type);
  metadata.set_u32("general.quantization_version", 2);  // GGML_QNT_VERSION, which llama.cpp's writers add
  GgufWriter writer;
  writer.metadata() = std::move(metadata);
  QuantizeModelResult result;
  std::vector<std::vector<uint8_t>> storage;  // converted bytes, alive until the file is written
  storage.reserve(weights.tensors().size());
  double total_se = 0;
  int64_t quantized_elements = 0;
  const auto& tensors = weights.tensors();
  // Every tensor's plan is checked before any work, so a refusal comes at once and names the first offender.
  std::vector<TensorPlan> plans;
  plans.reserve(tensors.size());
  for (const WeightTensor& t : tensors) {
    TensorPlan plan = planner.plan(t, options.unquantized);
    if (!plan.quantized && options.keep_unquantized) plan.type = t.type;
    if (plan.type != t.type) {
      if (!can_dequantize(t.type))
        fail(ErrorKind::kUnsupported, "{}: tensor '{}' is {}, which hearth cannot read", weights.source(), t.name,
             dtype_name(t.type));
      if (traits(t.type).quantized && !options.allow_requantize)
        fail(ErrorKind::kUnsupported,
             "{}: tensor '{}' is already {}; converting it to {} would quantize twice and compound the error "
             "(start from the F32/F16/BF16 model, or pass --allow-requantize)",
             weights.source(), t.name, dtype_name(t.type), dtype_name(plan.type));
    }
    plans.push_back(std::move(plan));
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const WeightTensor& t = tensors[i];
    const TensorPlan& plan = plans[i];
    TensorQuantStats st;
    st.name = t.name;
    st.ne = t.ne;
    st.source_type = t.type;
    st.type = plan.type;
    st.note = plan.note;
    st.source_bytes = t.nbytes;
    if (plan.type == t.type) {
      // Same type: the bytes are copied, exactly.
      writer.add_tensor(t.name, t.type, t.ne, t.data, t.nbytes);
      st.bytes = t.nbytes;
    } else {
      storage.emplace_back();
      const ErrorSums e = convert_tensor(pool, t, plan.type, storage.back());
      if (e.non_finite)
        fail(ErrorKind::kCorruptData, "{}: tensor '{}' holds {} NaN or infinite values; it cannot be converted to {}",
             weights.source(), t.name, e.non_finite, dtype_name(plan.type));
      writer.add_tensor(t.name, plan.type, t.ne, storage.back().data(), storage.back().size());
      st.bytes = storage.back().size();
      const double n = double(t.n_elements());
      st.rmse = n > 0 ? std::sqrt(e.se / n) : 0;
      st.source_rms = n > 0 ? std::sqrt(e.sx / n) : 0;
      st.max_abs_error = e.max_abs;
      if (plan.quantized) {
        total_se += e.se;
        quantized_elements += t.n_elements();
      }
    }
    result.source_bytes += st.source_bytes;
    result.bytes += st.bytes;
    result.n_elements += t.n_elements();
    if (options.on_tensor) options.on_tensor(st, i, tensors.size());
    result.tensors.push_back(std::move(st));
  }
  result.rmse = quantized_elements > 0 ? std::sqrt(total_se / double(quantized_elements)) : 0;
  writer.write(out_path);
  return result;
}

}  // namespace hearth
