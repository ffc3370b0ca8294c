// The AVX-512 kernel set: every family that has AVX-512 kernels.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include "backends/cpu/kernels.h"
#include "core/cpu_features.h"

namespace hearth::cpu {

void init_avx512_kernels(KernelSet& ks) {
  ks.name = cpu_info().avx512_bf16 ? "avx512 (vnni, bf16)" : "avx512 (vnni)";
  init_avx512_float(ks);
  init_avx512_sparse(ks);
  init_avx512_q32(ks);
  init_avx512_kquant(ks);
  init_avx512_math(ks);
}

}  // namespace hearth::cpu
#endif
