// AVX-512 element-wise math. exp: range reduction to r in [-ln2/2, ln2/2], a degree-6 Taylor polynomial
// (relative error ~1e-7) and VSCALEFPS for the power of two. erf: Abramowitz & Stegun 7.1.26 (absolute error
// <= 1.5e-7), which is plenty for GELU, whose libm form differs from this by that much at most.
#if defined(__x86_64__) || defined(__i386__)  // x86 only: other targets never call these
#include <cmath>

#include "backends/cpu/kernels.h"
#include "backends/cpu/ops.h"
#include "backends/cpu/simd_avx512.h"

namespace hearth::cpu {
namespace {

using namespace avx512;

inline __m512 exp512(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.0f);
  const __mmask16 tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.7f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln2 split in two for an exact product
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(__mmask16(~tiny), _mm512_scalef_ps(p, n));
}

inline __m512 erf512(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), ax, _mm512_set1_ps(1.0f)));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  p = _mm512_mul_ps(p, t);
  const __m512 y = _mm512_fnmadd_ps(p, exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), ax), ax)), _mm512_set1_ps(1.0f));
  // Restore the sign of x.
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y),
                                             _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(int(0x80000000u)))));
}

void gelu_erf(int64_t n, float* x) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 e = erf512(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f)));
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
  }
}

// A row of up to 16 * NV values (an attention row of a short sentence) kept in registers: the same operations in
// the same order as the general loop below, without storing and reloading the row between passes (masked
// stores do not forward to loads, so each pass would wait for the previous one's stores).
template <int NV>
void softmax_in_registers(int64_t n, float* x, float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  __m512 v[NV];
  __mmask16 m[NV];
  __m512 mx = _mm512_set1_ps(-__builtin_inff());
#pragma GCC unroll 8
  for (int t = 0; t < NV; ++t) {
    m[t] = head_mask(n - 16 * t);
    v[t] = _mm512_mul_ps(_mm512_maskz_loadu_ps(m[t], x + 16 * t), s);
    mx = _mm512_mask_max_ps(mx, m[t], mx, v[t]);
  }
  const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  double sum = 0.0;
#pragma GCC unroll 8
  for (int t = 0; t < NV; ++t) {
    v[t] = _mm512_maskz_mov_ps(m[t], exp512(_mm512_sub_ps(v[t], vmax)));
    sum += double(_mm512_reduce_add_ps(v[t]));
  }
  const __m512 inv = _mm512_set1_ps(float(1.0 / sum));
#pragma GCC unroll 8
  for (int t = 0; t < NV; ++t) _mm512_mask_storeu_ps(x + 16 * t, m[t], _mm512_mul_ps(v[t], inv));
}

void softmax(int64_t n, float* x, float scale) {
  switch ((n + 15) / 16) {
    case 1: return softmax_in_registers<1>(n, x, scale);
    case 2: return softmax_in_registers<2>(n, x, scale);
    case 3: return softmax_in_registers<3>(n, x, scale);
    case 4: return softmax_in_registers<4>(n, x, scale);
    case 5: return softmax_in_registers<5>(n, x, scale);
    case 6: return softmax_in_registers<6>(n, x, scale);
    case 7: return softmax_in_registers<7>(n, x, scale);
    case 8: return softmax_in_registers<8>(n, x, scale);
    default: break;
  }
  const __m512 s = _mm512_set1_ps(scale);
  __m512 mx = _mm512_set1_ps(-__builtin_inff());
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), s);
    _mm512_mask_storeu_ps(x + i, m, v);
    mx = _mm512_mask_max_ps(mx, m, mx, v);
  }
  const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  double sum = 0.0;  // as ggml: float exponentials, partial sums added in double
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax)));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum += double(_mm512_reduce_add_ps(e));
  }
  const __m512 inv = _mm512_set1_ps(float(1.0 / sum));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
  }
}

void add(int64_t n, float* y, const float* x) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
  }
}

void add_with_bias(int64_t n, float* y, const float* x, const float* bias) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    const __m512 t = _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, bias + i));
    _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), t));
  }
}

void relu(int64_t n, float* x) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    // VMAXPS returns its second operand when either is NaN or both are zero, so max(x, +0) gives +0 for NaN and
    // -0 exactly as the scalar x > 0 ? x : 0 does.
    _mm512_mask_storeu_ps(x + i, m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_setzero_ps()));
  }
}

// Sixteen floats widened to double and added to two double accumulators.
inline void add_wide(__m512 v, __m512d& lo, __m512d& hi) {
  lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}
inline void add_squares_wide(__m512 v, __m512d& lo, __m512d& hi) {
  const __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), b = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
  // The product of two floats is exact in double, so the fused multiply-add rounds as the scalar add does.
  lo = _mm512_fmadd_pd(a, a, lo);
  hi = _mm512_fmadd_pd(b, b, hi);
}

// As layer_norm_scalar: sums in double (in lanes, so in another order), the rest in float with the same
// roundings (separate multiplies and add, no FMA), so rows agree unless a double sum differs in its last bits.
void layer_norm(int64_t n, const float* x, float* out, const float* gamma, const float* beta, float eps) {
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) add_wide(_mm512_maskz_loadu_ps(head_mask(n - i), x + i), lo, hi);
  const float mean = float(_mm512_reduce_add_pd(_mm512_add_pd(lo, hi)) / double(n));
  const __m512 vmean = _mm512_set1_ps(mean);
  lo = hi = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    const __m512 d = _mm512_maskz_mov_ps(m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmean));
    _mm512_mask_storeu_ps(out + i, m, d);
    add_squares_wide(d, lo, hi);
  }
  const float inv = 1.0f / std::sqrt(float(_mm512_reduce_add_pd(_mm512_add_pd(lo, hi)) / double(n)) + eps);
  const __m512 vinv = _mm512_set1_ps(inv);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = head_mask(n - i);
    __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, out + i), vinv);
    if (gamma) y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, gamma + i));
    if (beta) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, beta + i));
    _mm512_mask_storeu_ps(out + i, m, y);
  }
}

}  // namespace

const RowKernels& avx512_row_kernels() {
  static const RowKernels k{add, add_with_bias, relu, layer_norm};
  return k;
}

void init_avx512_math(KernelSet& ks) {
  ks.gelu_erf = gelu_erf;
  ks.softmax = softmax;
}

}  // namespace hearth::cpu
#endif
