// The CPU kernel table: one set of function pointers per instruction-set level, chosen once when a backend is
// created. The scalar set defines the numerics (it is the reference the tests compare against); the SIMD sets
// override entries with kernels that must give the same integer sums and differ only in float summation order.
//
// A matmul with weight type W runs in two steps, exactly as llama.cpp does it:
//   1. each activation row is converted to W's activation format (F32, F16, BF16, Q8_0, Q8_1 or Q8_K): `quantize`;
//   2. dot products of weight rows with converted activation rows: `tile`.
// Internal to src/backends/cpu; nothing here is part of the Backend interface.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include "core/dtype.h"

namespace hearth::cpu {

// Converts n floats (one activation row) to the activation format; n is a multiple of its block size.
using QuantizeRowFn = void (*)(const float* x, void* y, int64_t n);

// out[i * ldo + j] = dot(activation row i, weight row j) for i < na, j < nw. Rows are k values long;
// w_stride / a_stride are the byte distances between consecutive rows.
using DotTileFn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride,
                           int64_t na, float* out, int64_t ldo);

// Optional packed weight layout (opt-in per kernel entry): the weight matrix is repacked once, when it is
// prepared, into panels of w_block rows. pack writes nw rows (nw padded up to whole panels) to dst, which holds
// packed_bytes(k, nw) bytes, 64-byte aligned. tile_packed is tile for weights whose panels start at `packed`
// (the panel of weight row 0 of this call); w / w_stride still point at the source rows, but after packing the
// driver drops the source pages from memory (they fault back in from the file if read), so tile_packed must
// read only the panels.
using PackedBytesFn = size_t (*)(int64_t k, int64_t nw);
using PackFn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t nw, void* dst);
using PackedTileFn = void (*)(int64_t k, const void* packed, const void* w, size_t w_stride, int64_t nw,
                              const void* a, size_t a_stride, int64_t na, float* out, int64_t ldo);

constexpr int64_t kSparseMinRows = 4;
// An activation row of k values as the sparse product reads it (list_nonzeros): the count of nonzero values (int32,
// then padding to 64 bytes), their positions (int32) and their values (float), each with room for k + 16.
inline size_t sparse_row_bytes(int64_t k) { return 64 + size_t(k + 16) * 8; }
// A listed activation row in that format, for reading or (list_nonzeros) writing.
struct NonZeros {
  int32_t* at;
  float* value;
  int32_t* count;
  NonZeros(void* row, int64_t k)
      : at(reinterpret_cast<int32_t*>(static_cast<uint8_t*>(row) + 64)), value(reinterpret_cast<float*>(at + k + 16)),
        count(static_cast<int32_t*>(row)) {}
  NonZeros(const void* row, int64_t k) : NonZeros(const_cast<void*>(row), k) {}
};

struct MatmulKernel {
  DType act_type = DType::F32;  // the activation format the weight type multiplies with
  QuantizeRowFn quantize = nullptr;  // copy_row_f32: activations are used in place, never converted
  DotTileFn tile = nullptr;
  // Weight rows handled per tile call; the driver hands out weight rows in multiples of this.
  int64_t w_block = 1;
  // Activation rows per tile call (0 = all): kernels that repack weight panels want every row at once so
  // that each panel is repacked once.
  int64_t a_block = 64;
  // Packed layout (all three set, or none): see PackFn.
  PackedBytesFn packed_bytes = nullptr;
  PackFn pack = nullptr;
  PackedTileFn tile_packed = nullptr;
  // Pack only matrices prepared for batched products (Backend::MatrixUse::kBatchedProduct), for a kernel whose
  // few-row path is faster on the source rows than on panels. No kernel sets it now: decoders' matrices are packed
  // so that token generation runs the GEMM's micro-kernel (batch invariance, docs/decoder.md).
  bool pack_batched_only = false;
  // Optional product for activations that are mostly exact zeros (after a ReLU): list_nonzeros converts a row to
  // the sparse_row_bytes format, and tile_packed_sparse multiplies listed rows by the packed panels, skipping the
  // zero terms. Same results as tile_packed for at least kSparseMinRows activation rows (a zero term changes no
  // F32 sum; at most the sign of a zero output differs); fewer rows take the dense kernel. Whether it runs depends
  // on the batch, so the driver uses it only for matrices prepared for batched products (encoders).
  QuantizeRowFn list_nonzeros = nullptr;
  PackedTileFn tile_packed_sparse = nullptr;
  explicit operator bool() const { return tile != nullptr; }
};

// softmax · V for n_q query rows: row i of out (out + i * out_stride, n values) gets, for c < n, the sum over
// j < visible[i] of p[i * p_stride + j] * x_j[c], where row x_j starts at x + j * x_stride bytes and is stored as
// F16 or F32. Each output is one F32 chain in order of j, so how many rows a kernel takes at once (sharing the
// loads of x) never changes a result. With `accumulate` the chains start from the values in out instead of 0:
// a sum over rows split into runs (a paged KV cache's blocks), run after run, equals the sum in one call.
using WeightedSumFn = void (*)(int64_t n_q, const int64_t* visible, const float* p, int64_t p_stride, const void* x,
                               size_t x_stride, int64_t n, float* out, int64_t out_stride, bool accumulate);

// In place, n values: x = gelu(x) (erf form); x = softmax(scale * x).
using RowFn = void (*)(int64_t n, float* x);
using SoftmaxFn = void (*)(int64_t n, float* x, float scale);

struct KernelSet {
  std::string name;                       // e.g. "avx512 (vnni, bf16)"
  // Indexed by DType id (all GGUF ids hearth knows are < 32); hearth's own PAL4G16 takes the last slot.
  std::array<MatmulKernel, 33> matmul{};
  WeightedSumFn weighted_sum_f32 = nullptr, weighted_sum_f16 = nullptr;
  RowFn gelu_erf = nullptr;
  SoftmaxFn softmax = nullptr;

  static size_t slot(DType t) { return t == DType::PAL4G16 ? 32 : static_cast<uint32_t>(t) & 31; }
  const MatmulKernel& for_type(DType t) const { return matmul[slot(t)]; }
  MatmulKernel& for_type(DType t) { return matmul[slot(t)]; }
};

// Growable 64-byte-aligned scratch memory; kernels keep one per thread (thread_local) for repacked panels.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p_); }
  template <typename T>
  T* get(size_t count) {
    const size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
    if (bytes > cap_) {
      std::free(p_);
      p_ = std::aligned_alloc(64, bytes);
      if (!p_) throw std::bad_alloc();
      cap_ = bytes;
    }
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

// Fills `ks` with the portable kernels (every supported type).
void init_scalar_kernels(KernelSet& ks);
// Override entries with SIMD kernels; call only when the CPU has the ISA (see cpu_info().kernel_level()).
void init_avx2_kernels(KernelSet& ks);
// The K-quant family init_avx2_kernels installs (matmul_kquant_avx2.cpp).
void init_avx2_kquant(KernelSet& ks);
// The sparse F32 product init_avx2_kernels adds to its F32 entry (matmul_sparse_avx2.cpp).
void init_avx2_sparse(KernelSet& ks);
void init_avx512_kernels(KernelSet& ks);
// The families init_avx512_kernels installs (one file each).
void init_avx512_q32(KernelSet& ks);
void init_avx512_float(KernelSet& ks);
void init_avx512_kquant(KernelSet& ks);
void init_avx512_sparse(KernelSet& ks);  // after init_avx512_float: adds to its F32 entry
void init_avx512_math(KernelSet& ks);
// The AVX-512 BF16 entry: VDPBF16PS on BF16 activations when `dot_instructions` (the CPU has AVX512_BF16), else
// BF16 weights widened to F32 times BF16-rounded activations. init_avx512_float installs the one this CPU can run;
// the tests install the widening one too, so that it is checked on machines that have the instructions.
void init_avx512_bf16(KernelSet& ks, bool dot_instructions);
// Portable element-wise math (math_scalar.cpp).
void gelu_erf_scalar(int64_t n, float* x);
void softmax_scalar(int64_t n, float* x, float scale);
void init_neon_kernels(KernelSet& ks);
// PAL4G16 against Q8_0 activations: the portable entry (matmul_pal.cpp, every level starts from it) and the AVX2 one
// (matmul_pal_avx2.cpp; the AVX-512 level keeps it).
void init_scalar_pal(KernelSet& ks);
void init_avx2_pal(KernelSet& ks);

// The kernel set for this machine (honours HEARTH_CPU_LEVEL), built once.
const KernelSet& kernels();
// The kernel set of a given level ("scalar", "avx2", "avx512"); the CPU must support it. For tests and benchmarks.
const KernelSet& kernels_for_level(const std::string& level);

// ---- Reference activation quantizers (llama.cpp's numerics; SIMD versions must be bit-identical). ----
void quantize_row_f16(const float* x, void* y, int64_t n);
void quantize_row_q8_0(const float* x, void* y, int64_t n);
void quantize_row_q8_1(const float* x, void* y, int64_t n);
void quantize_row_q8_K(const float* x, void* y, int64_t n);
void copy_row_f32(const float* x, void* y, int64_t n);
// F16-rounded values kept as F32: the activation format of SIMD F16 kernels (the same values as F16 storage).
void round_row_f16_f32(const float* x, void* y, int64_t n);
// BF16 activations (fp32_to_bf16: nearest even, NaN stays NaN, denormals kept), stored as BF16 or, for kernels
// that widen BF16 weights to F32, as the same values in F32.
void quantize_row_bf16(const float* x, void* y, int64_t n);
void round_row_bf16_f32(const float* x, void* y, int64_t n);

// Unpacked form of one 32-value block of Q4_0/Q4_1/Q5_0/Q5_1/Q8_0: signed values, scale and offset, so
// value i = d * q[i] + m. Shared by the scalar kernels and the tests.
struct Unpacked32 {
  int8_t q[32];
  float d, m;
};
void unpack_block32(DType t, const void* block, Unpacked32& out);

// Unpacked form of one 256-value K-quant block: value i = d * scale[i/16] * q[i] - dmin * min[i/16].
struct UnpackedK {
  int8_t q[256];
  int32_t scale[16], min[16];
  float d, dmin;
};
void unpack_block_k(DType t, const void* block, UnpackedK& out);

// AVX-512 versions of quantize_row_q8_0 / quantize_row_q8_1, bit-identical to them (quantize_avx512.cpp).
void quantize_row_q8_0_avx512(const float* x, void* y, int64_t n);
void quantize_row_q8_1_avx512(const float* x, void* y, int64_t n);

}  // namespace hearth::cpu

namespace hearth::cpu {
// AVX-512 version of quantize_row_q8_K, bit-identical (quantize_q8k_avx512.cpp; x86 only).
void quantize_row_q8_K_avx512(const float* x, void* y, int64_t n);
}  // namespace hearth::cpu
