// CPU implementations of the larger ops, called by the CPU backend after it has validated shapes.
// Internal to src/backends/cpu.
#pragma once

#include <span>

#include "backends/backend.h"
#include "backends/cpu/kernels.h"
#include "core/thread_pool.h"

namespace hearth::cpu {

// See Backend::attention. Inputs are validated by the caller.
void attention(ThreadPool& pool, const KernelSet& ks, Act out, Act q, Act k, Act v,
               std::span<const AttentionSpan> spans, const AttentionParams& p);

// See Backend::rope. Inputs are validated by the caller.
void rope(ThreadPool& pool, Act x, std::span<const int32_t> positions, const RopeParams& p);

// Per-pair frequency divisors of llama3-style rope scaling (llama.cpp's rope_freqs tensor), n_rot / 2 values.
std::vector<float> llama3_freq_factors(const RopeParams& p);

}  // namespace hearth::cpu
