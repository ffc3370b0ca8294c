#include "context/inner_product.h"

#include "core/cpu_features.h"

namespace hearth::context {

float inner_product_generic(const float* a, const float* b, size_t n) {
  // Eight independent sums: the compiler keeps them in vector registers, and the additions do not wait on each
  // other as one running sum would.
  float sum[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t j = 0; j < 8; ++j) sum[j] += a[i + j] * b[i + j];
  float total = ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

InnerProductFn inner_product_kernel() {
  static const InnerProductFn chosen = [] {
#if defined(__x86_64__) || defined(__i386__)
    const CpuInfo& cpu = cpu_info();
    if (cpu.avx2 && cpu.fma && cpu.kernel_level() != "scalar") return &inner_product_avx2;
#endif
    return &inner_product_generic;
  }();
  return chosen;
}

}  // namespace hearth::context
