// CPU implementations of the larger ops, called by the CPU backend after it has validated shapes.
// Internal to src/backends/cpu.
#pragma once

#include <span>
#include <string>

#include "backends/backend.h"
#include "backends/cpu/kernels.h"
#include "core/thread_pool.h"

namespace hearth::cpu {

// See Backend::attention. Inputs are validated by the caller. q_stride / kv_stride are the distances between
// consecutive rows of q and of k / v in elements (q.cols and k.cols for separate activations; the fused row
// width when q, k and v are column ranges of one fused QKV activation).
void attention(ThreadPool& pool, const KernelSet& ks, Act out, Act q, Act k, Act v, int64_t q_stride,
               int64_t kv_stride, std::span<const AttentionSpan> spans, const AttentionParams& p);

// Row kernels of the backend's small ops. They run once per row of every small op, which at batch 1 is most of
// the driver's own time, so they have SIMD versions. The scalar set defines the numerics; layer_norm's SIMD
// version sums in double as the scalar one does, in a different order.
struct RowKernels {
  void (*add)(int64_t n, float* y, const float* x) = nullptr;  // y += x
  // y += (x + bias): a matmul tile and its bias added to the residual in one pass, rounded as two adds.
  void (*add_with_bias)(int64_t n, float* y, const float* x, const float* bias) = nullptr;
  void (*relu)(int64_t n, float* x) = nullptr;  // x = max(x, 0)
  // y = (x - mean) / sqrt(var + eps) * gamma + beta; gamma / beta may be null (1 / 0); y may be x.
  void (*layer_norm)(int64_t n, const float* x, float* y, const float* gamma, const float* beta, float eps) = nullptr;
};
// The row kernels of a kernel level ("scalar", "avx2", "avx512", "neon"); levels without their own use scalar.
const RowKernels& row_kernels(const std::string& level);

// See Backend::rope. Inputs are validated by the caller.
void rope(ThreadPool& pool, Act x, std::span<const int32_t> positions, const RopeParams& p);

// Per-pair frequency divisors of llama3-style rope scaling (llama.cpp's rope_freqs tensor), n_rot / 2 values.
std::vector<float> llama3_freq_factors(const RopeParams& p);

}  // namespace hearth::cpu
