// AVX2 + FMA + F16C kernels.
#include <immintrin.h>

#include "backends/cpu/kernels.h"

namespace hearth::cpu {

void init_avx2_kernels(KernelSet& ks) { ks.name = "avx2 (fma, f16c)"; }

}  // namespace hearth::cpu
