// AVX-512 kernels (F, BW, VL, DQ, VNNI).
#include <immintrin.h>

#include "backends/cpu/kernels.h"

namespace hearth::cpu {

void init_avx512_kernels(KernelSet& ks) { ks.name = "avx512 (vnni)"; }

}  // namespace hearth::cpu
