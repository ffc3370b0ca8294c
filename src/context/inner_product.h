// The inner product of two float vectors, the vector index's similarity (its vectors are unit length, so it is
// their cosine). Chosen once for the CPU: AVX2 + FMA where the CPU has them, portable code elsewhere.
#pragma once

#include <cstddef>

namespace hearth::context {

using InnerProductFn = float (*)(const float* a, const float* b, size_t n);

// The best implementation for this CPU (cpu_info()); thread-safe.
InnerProductFn inner_product_kernel();

float inner_product_generic(const float* a, const float* b, size_t n);
#if defined(__x86_64__) || defined(__i386__)
float inner_product_avx2(const float* a, const float* b, size_t n);  // only where cpu_info() has AVX2 and FMA
#endif

}  // namespace hearth::context
