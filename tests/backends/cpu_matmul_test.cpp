// Matmul kernels of every weight type and every kernel level this CPU supports, against a double-precision
// reference built from core's dequantize_row (weights) and the dequantized activation blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend_test_util.h"
#include "backends/cpu/kernels.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace hearth {
namespace {

using test::random_floats;
using test::random_weight_bytes;
using test::weight_row;

using test::supported_levels;

// Where the AVX-512 set multiplies BF16 with VDPBF16PS, the same set with the widening BF16 kernel that CPUs
// without AVX512_BF16 run is checked too, under this name.
constexpr const char* kAvx512WidenedBF16 = "avx512_widened_bf16";

std::vector<std::string> kernel_sets() {
  std::vector<std::string> out = supported_levels();
  if (cpu_info().kernel_level() == "avx512" && cpu_info().avx512_bf16) out.push_back(kAvx512WidenedBF16);
  return out;
}

const cpu::KernelSet& kernel_set(const std::string& name) {
#if defined(__x86_64__)
  if (name == kAvx512WidenedBF16) {
    static const cpu::KernelSet widened = [] {
      cpu::KernelSet ks = cpu::kernels_for_level("avx512");
      cpu::init_avx512_bf16(ks, false);
      return ks;
    }();
    return widened;
  }
#endif
  return cpu::kernels_for_level(name);
}

// Activation row (in the kernel's activation format) back to floats, plus per-block data the reference needs.
std::vector<double> act_values(DType at, const uint8_t* p, int64_t k) {
  std::vector<double> v(static_cast<size_t>(k));
  switch (at) {
    case DType::F32:
      for (int64_t i = 0; i < k; ++i) v[size_t(i)] = reinterpret_cast<const float*>(p)[i];
      break;
    case DType::F16:
      for (int64_t i = 0; i < k; ++i) v[size_t(i)] = fp16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]);
      break;
    case DType::BF16:
      for (int64_t i = 0; i < k; ++i) v[size_t(i)] = bf16_to_fp32(reinterpret_cast<const uint16_t*>(p)[i]);
      break;
    case DType::Q8_0:
      for (int64_t b = 0; b < k / 32; ++b) {
        const auto& blk = reinterpret_cast<const BlockQ8_0*>(p)[b];
        for (int i = 0; i < 32; ++i) v[size_t(b * 32 + i)] = double(fp16_to_fp32(blk.d)) * blk.qs[i];
      }
      break;
    case DType::Q8_1:
      for (int64_t b = 0; b < k / 32; ++b) {
        const auto& blk = reinterpret_cast<const BlockQ8_1*>(p)[b];
        for (int i = 0; i < 32; ++i) v[size_t(b * 32 + i)] = double(fp16_to_fp32(blk.d)) * blk.qs[i];
      }
      break;
    case DType::Q8_K:
      for (int64_t b = 0; b < k / 256; ++b) {
        const auto& blk = reinterpret_cast<const BlockQ8_K*>(p)[b];
        for (int i = 0; i < 256; ++i) v[size_t(b * 256 + i)] = double(blk.d) * blk.qs[i];
      }
      break;
    default:
      ADD_FAILURE() << "unexpected activation type";
  }
  return v;
}

// ggml's Q4_1/Q5_1 dot uses the F16-rounded block sum s = fp16(d * sum(q)) for the offset term instead of the
// exact d * sum(q); this is that correction, so the reference can stay exact.
double offset_correction(DType wt, const uint8_t* wrow, const uint8_t* arow, int64_t k) {
  if (wt != DType::Q4_1 && wt != DType::Q5_1) return 0.0;
  double c = 0.0;
  const size_t wbs = traits(wt).type_size;
  for (int64_t b = 0; b < k / 32; ++b) {
    uint16_t m;
    std::memcpy(&m, wrow + size_t(b) * wbs + 2, 2);
    const auto& a = reinterpret_cast<const BlockQ8_1*>(arow)[b];
    int sum = 0;
    for (int i = 0; i < 32; ++i) sum += a.qs[i];
    c += double(fp16_to_fp32(m)) * (double(fp16_to_fp32(a.s)) - double(fp16_to_fp32(a.d)) * sum);
  }
  return c;
}

struct Shape {
  int64_t n, k, m;
};

class MatmulKernels : public ::testing::TestWithParam<std::string> {};

const DType kKernelTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                              DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST_P(MatmulKernels, EveryTypeMatchesReference) {
  const cpu::KernelSet& ks = kernel_set(GetParam());
  const cpu::KernelSet& ref_ks = cpu::kernels_for_level("scalar");
  std::mt19937 rng(1234);
  for (DType wt : kKernelTypes) {
    const cpu::MatmulKernel& kern = ks.for_type(wt);
    ASSERT_TRUE(kern) << dtype_name(wt);
    const int64_t bs = std::max<int64_t>(traits(wt).block_size, 32);
    const Shape shapes[] = {{1, bs, 1}, {1, 2 * bs, 7}, {3, 3 * bs, 33}, {17, bs, 5}, {5, 2 * bs, 64}, {9, bs, 130}};
    for (const Shape& s : shapes) {
      SCOPED_TRACE(std::string(dtype_name(wt)) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
                   " m=" + std::to_string(s.m));
      auto wbytes = random_weight_bytes(wt, s.m, s.k, rng);
      auto x = random_floats(rng, size_t(s.n * s.k));
      x[0] = 0.0f;
      const cpu::MatmulKernel& ref = ref_ks.for_type(wt);
      const size_t a_stride = row_bytes(kern.act_type, s.k), ref_stride = row_bytes(ref.act_type, s.k);
      std::vector<uint8_t> act(a_stride * size_t(s.n)), act_ref(ref_stride * size_t(s.n));
      for (int64_t i = 0; i < s.n; ++i) {
        kern.quantize(x.data() + i * s.k, act.data() + size_t(i) * a_stride, s.k);
        ref.quantize(x.data() + i * s.k, act_ref.data() + size_t(i) * ref_stride, s.k);
        // SIMD levels may store activations differently (F16-rounded values as F32) but never change them.
        ASSERT_EQ(act_values(kern.act_type, act.data() + size_t(i) * a_stride, s.k),
                  act_values(ref.act_type, act_ref.data() + size_t(i) * ref_stride, s.k));
      }
      if (kern.act_type == ref.act_type) {
        ASSERT_EQ(act, act_ref);  // and quantized blocks are bit-identical
      }
      // Padding rows/cols around the tile check that the kernel honours ldo and writes nothing else.
      const int64_t ldo = s.m + 3;
      std::vector<float> out(size_t(s.n * ldo), -777.0f);
      const size_t w_stride = row_bytes(wt, s.k);
      for (int64_t j0 = 0; j0 < s.m; j0 += kern.w_block * 4) {
        const int64_t nw = std::min(kern.w_block * 4, s.m - j0);
        kern.tile(s.k, wbytes.data() + size_t(j0) * w_stride, w_stride, nw, act.data(), a_stride, s.n,
                  out.data() + j0, ldo);
      }
      for (int64_t j = 0; j < s.m; ++j) {
        const auto w = weight_row(wt, wbytes, s.k, j);
        for (int64_t i = 0; i < s.n; ++i) {
          const auto a = act_values(kern.act_type, act.data() + size_t(i) * a_stride, s.k);
          double ref = 0.0, mag = 0.0;
          for (int64_t c = 0; c < s.k; ++c) {
            ref += double(w[size_t(c)]) * a[size_t(c)];
            mag += std::fabs(double(w[size_t(c)]) * a[size_t(c)]);
          }
          ref += offset_correction(wt, wbytes.data() + size_t(j) * w_stride, act.data() + size_t(i) * a_stride, s.k);
          const double tol = (traits(wt).quantized ? 4e-6 : 2e-5) * mag + 1e-30;
          ASSERT_NEAR(out[size_t(i * ldo + j)], ref, tol) << "row " << i << " col " << j;
        }
      }
      for (int64_t i = 0; i < s.n; ++i)
        for (int64_t j = s.m; j < ldo; ++j) ASSERT_EQ(out[size_t(i * ldo + j)], -777.0f);
    }
  }
}

// Kernels with a packed weight layout (packed once at prepare time) give bit-identical results to their unpacked
// tile, for partial panels, odd k (whole blocks for block types) and both the GEMV (< 4 rows) and GEMM paths
// (a kernel packing for batched products only could sum a GEMV's floats in another order; none does so far).
TEST_P(MatmulKernels, PackedLayoutMatchesUnpackedTile) {
  const cpu::KernelSet& ks = kernel_set(GetParam());
  std::mt19937 rng(99);
  for (DType wt : kKernelTypes) {
    const cpu::MatmulKernel& kern = ks.for_type(wt);
    if (!kern.pack) continue;
    ASSERT_TRUE(kern.packed_bytes && kern.tile_packed) << dtype_name(wt);
    const Shape shapes[] = {{1, 7, 5}, {3, 33, 17}, {4, 1, 16}, {5, 17, 33}, {13, 40, 16}, {27, 65, 50}};
    for (const Shape& s : shapes) {
      const int64_t k = s.k * traits(wt).block_size;
      SCOPED_TRACE(std::string(dtype_name(wt)) + " n=" + std::to_string(s.n) + " k=" + std::to_string(k) +
                   " m=" + std::to_string(s.m));
      auto wbytes = random_weight_bytes(wt, s.m, k, rng);
      auto x = random_floats(rng, size_t(s.n * k));
      const size_t a_stride = row_bytes(kern.act_type, k), w_stride = row_bytes(wt, k);
      std::vector<uint8_t> act(a_stride * size_t(s.n));
      for (int64_t i = 0; i < s.n; ++i) kern.quantize(x.data() + i * k, act.data() + size_t(i) * a_stride, k);
      const int64_t pb = kern.w_block, n_panels = (s.m + pb - 1) / pb;
      const size_t panel_bytes = kern.packed_bytes(k, pb);
      ASSERT_EQ(kern.packed_bytes(k, s.m), panel_bytes * size_t(n_panels));
      auto* packed = static_cast<uint8_t*>(std::aligned_alloc(64, (panel_bytes * size_t(n_panels) + 63) / 64 * 64));
      ASSERT_NE(packed, nullptr);
      for (int64_t p = 0; p < n_panels; ++p)
        kern.pack(k, wbytes.data() + size_t(p * pb) * w_stride, w_stride, std::min(pb, s.m - p * pb),
                  packed + size_t(p) * panel_bytes);
      const int64_t ldo = s.m + 3;
      std::vector<float> out(size_t(s.n * ldo), -777.0f), want(size_t(s.n * ldo), -777.0f);
      kern.tile(k, wbytes.data(), w_stride, s.m, act.data(), a_stride, s.n, want.data(), ldo);
      // In two calls, the second starting at a later panel, as the driver hands them out.
      const int64_t split = std::min(s.m, pb);
      kern.tile_packed(k, packed, wbytes.data(), w_stride, split, act.data(), a_stride, s.n, out.data(), ldo);
      if (split < s.m)
        kern.tile_packed(k, packed + panel_bytes, wbytes.data() + size_t(split) * w_stride, w_stride, s.m - split,
                         act.data(), a_stride, s.n, out.data() + split, ldo);
      std::free(packed);
      if (kern.pack_batched_only && s.n < 4) {
        float scale = 0.0f;
        for (float v : want) scale = std::max(scale, std::fabs(v));
        for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5f * scale) << "at " << i;
      } else {
        for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], want[i]) << "at " << i;
      }
    }
  }
}

// Batch invariance (docs/decoder.md): an activation row's outputs are the same bits whatever the number of rows
// multiplied with it (1 to 3 rows take the GEMV paths, 4 or more the GEMM ones), its place among them, the number of
// weight rows of the call and where the call starts (as the driver hands out ranges of weight rows to threads),
// for the unpacked tile and the packed one, every weight type.
TEST_P(MatmulKernels, RowOutputsDoNotDependOnTheOtherRows) {
  const cpu::KernelSet& ks = kernel_set(GetParam());
  std::mt19937 rng(2024);
  for (DType wt : kKernelTypes) {
    const cpu::MatmulKernel& kern = ks.for_type(wt);
    // Two K-quant super-blocks, eight 32-value blocks, 16 float lanes twice; 300 weight rows: several panels and
    // panel groups, the last ones partial.
    const int64_t k = std::max<int64_t>(2 * traits(wt).block_size, 256), m = 300, n = 29;
    SCOPED_TRACE(std::string(dtype_name(wt)));
    auto wbytes = random_weight_bytes(wt, m, k, rng);
    auto x = random_floats(rng, size_t(n * k));
    const size_t a_stride = row_bytes(kern.act_type, k), w_stride = row_bytes(wt, k);
    std::vector<uint8_t> act(a_stride * size_t(n));
    for (int64_t i = 0; i < n; ++i) kern.quantize(x.data() + i * k, act.data() + size_t(i) * a_stride, k);
    uint8_t* packed = nullptr;
    size_t panel_bytes = 0;
    if (kern.pack) {
      const int64_t pb = kern.w_block, n_panels = (m + pb - 1) / pb;
      panel_bytes = kern.packed_bytes(k, pb);
      packed = static_cast<uint8_t*>(std::aligned_alloc(64, (panel_bytes * size_t(n_panels) + 63) / 64 * 64));
      for (int64_t p = 0; p < n_panels; ++p)
        kern.pack(k, wbytes.data() + size_t(p * pb) * w_stride, w_stride, std::min(pb, m - p * pb),
                  packed + size_t(p) * panel_bytes);
    }
    // Rows [i0, i0 + na) times weight rows [j0, j0 + nw) (j0 a multiple of w_block), unpacked or packed.
    auto run = [&](bool use_packed, int64_t i0, int64_t na, int64_t j0, int64_t nw) {
      std::vector<float> out(size_t(na * nw));
      const uint8_t* a = act.data() + size_t(i0) * a_stride;
      if (use_packed)
        kern.tile_packed(k, packed + size_t(j0 / kern.w_block) * panel_bytes, wbytes.data() + size_t(j0) * w_stride,
                         w_stride, nw, a, a_stride, na, out.data(), nw);
      else
        kern.tile(k, wbytes.data() + size_t(j0) * w_stride, w_stride, nw, a, a_stride, na, out.data(), nw);
      return out;
    };
    for (bool use_packed : {false, true}) {
      if (use_packed && !packed) continue;
      // Each row alone against all weight rows: the reference.
      std::vector<std::vector<float>> alone;
      for (int64_t i = 0; i < n; ++i) alone.push_back(run(use_packed, i, 1, 0, m));
      for (int64_t na : {2, 3, 4, 5, 12, 13, 25, 29}) {
        for (int64_t i0 : {int64_t(0), n - na}) {
          const auto got = run(use_packed, i0, na, 0, m);
          for (int64_t i = 0; i < na; ++i)
            ASSERT_EQ(0, std::memcmp(got.data() + i * m, alone[size_t(i0 + i)].data(), size_t(m) * 4))
                << (use_packed ? "packed" : "unpacked") << ": row " << i0 + i << " of " << na << " rows from " << i0;
        }
      }
      // Weight rows in two calls split at a panel boundary, as two threads would take them.
      const int64_t split = m / 2 / kern.w_block * kern.w_block;
      ASSERT_GT(split, 0);
      for (int64_t na : {1, 3, 7}) {
        const auto lo = run(use_packed, 0, na, 0, split), hi = run(use_packed, 0, na, split, m - split);
        for (int64_t i = 0; i < na; ++i) {
          ASSERT_EQ(0, std::memcmp(lo.data() + i * split, alone[size_t(i)].data(), size_t(split) * 4)) << "split, row " << i;
          ASSERT_EQ(0, std::memcmp(hi.data() + i * (m - split), alone[size_t(i)].data() + split, size_t(m - split) * 4))
              << "split, row " << i;
        }
      }
    }
    std::free(packed);
  }
}

// The kernel for mostly-zero activations (after a ReLU) gives the dense packed kernel's outputs exactly, for row
// counts around its 4-row steps and output counts around its 4-panel groups (partial last panel included).
TEST_P(MatmulKernels, SparseActivationsMatchTheDensePackedKernel) {
  const cpu::KernelSet& ks = kernel_set(GetParam());
  const cpu::MatmulKernel& kern = ks.for_type(DType::F32);
  if (!kern.tile_packed_sparse) GTEST_SKIP() << "no sparse kernel at this level";
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (int64_t n : {cpu::kSparseMinRows, int64_t(5), int64_t(9), int64_t(14)}) {
    for (int64_t k : {16, 33, 200}) {
      for (int64_t m : {5, 16, 70, 130}) {
        SCOPED_TRACE("n=" + std::to_string(n) + " k=" + std::to_string(k) + " m=" + std::to_string(m));
        auto x = random_floats(rng, size_t(n * k));
        for (float& v : x) {
          const float u = unit(rng);
          if (u < 0.85f) v = 0.0f;
          else if (u < 0.9f) v = -0.0f;
        }
        const auto wbytes = random_weight_bytes(DType::F32, m, k, rng);
        auto* packed = static_cast<uint8_t*>(std::aligned_alloc(64, (kern.packed_bytes(k, m) + 63) / 64 * 64));
        ASSERT_NE(packed, nullptr);
        kern.pack(k, wbytes.data(), size_t(k) * 4, m, packed);
        std::vector<float> dense(size_t(n * m)), sparse(size_t(n * m), -777.0f);
        kern.tile_packed(k, packed, wbytes.data(), size_t(k) * 4, m, x.data(), size_t(k) * 4, n, dense.data(), m);
        const size_t listed_stride = cpu::sparse_row_bytes(k);
        std::vector<uint8_t> listed(listed_stride * size_t(n));
        for (int64_t i = 0; i < n; ++i)
          kern.list_nonzeros(x.data() + i * k, listed.data() + size_t(i) * listed_stride, k);
        kern.tile_packed_sparse(k, packed, wbytes.data(), size_t(k) * 4, m, listed.data(), listed_stride, n,
                                sparse.data(), m);
        std::free(packed);
        for (size_t i = 0; i < dense.size(); ++i) ASSERT_EQ(sparse[i], dense[i]) << "at " << i;
      }
    }
  }
}

// Outputs (n x m) of a kernel through its unpacked tile and, where it packs, through pack + tile_packed.
struct KernelOutputs {
  std::vector<float> tile, packed;
};
KernelOutputs run_kernel(const cpu::MatmulKernel& kern, DType wt, const std::vector<uint8_t>& wbytes, int64_t m,
                         int64_t k, const std::vector<float>& x, int64_t n) {
  const size_t a_stride = row_bytes(kern.act_type, k), w_stride = row_bytes(wt, k);
  std::vector<uint8_t> act(a_stride * size_t(n));
  for (int64_t i = 0; i < n; ++i) kern.quantize(x.data() + i * k, act.data() + size_t(i) * a_stride, k);
  KernelOutputs out;
  out.tile.assign(size_t(n * m), -777.0f);
  kern.tile(k, wbytes.data(), w_stride, m, act.data(), a_stride, n, out.tile.data(), m);
  if (kern.pack) {
    const int64_t pb = kern.w_block, n_panels = (m + pb - 1) / pb;
    const size_t panel_bytes = kern.packed_bytes(k, pb);
    std::unique_ptr<uint8_t, decltype(&std::free)> packed(
        static_cast<uint8_t*>(std::aligned_alloc(64, (panel_bytes * size_t(n_panels) + 63) / 64 * 64)), &std::free);
    for (int64_t p = 0; p < n_panels; ++p)
      kern.pack(k, wbytes.data() + size_t(p * pb) * w_stride, w_stride, std::min(pb, m - p * pb),
                packed.get() + size_t(p) * panel_bytes);
    out.packed.assign(size_t(n * m), -777.0f);
    kern.tile_packed(k, packed.get(), wbytes.data(), w_stride, m, act.data(), a_stride, n, out.packed.data(), m);
  }
  return out;
}

std::vector<uint8_t> bf16_bytes(const std::vector<float>& values) {
  std::vector<uint8_t> bytes(2 * values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t h = fp32_to_bf16(values[i]);
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  }
  return bytes;
}

// BF16 weights multiply BF16-rounded activations (llama.cpp's numerics) at every level, on every path (GEMV and
// GEMM, packed and unpacked, odd k). With weights of 1, activations 1 + 2^-10 round to 1 and the ties 1 + 2^-8 and
// 1 + 3 * 2^-8 to their even neighbours 1 and 1 + 2^-6, so each output is an exact sum that unrounded activations
// miss by k * 2^-10 or more.
TEST_P(MatmulKernels, BF16MatmulRoundsActivationsToBF16) {
  const cpu::MatmulKernel& kern = kernel_set(GetParam()).for_type(DType::BF16);
  const float inputs[3] = {1.0f + std::ldexp(1.0f, -10), 1.0f + std::ldexp(1.0f, -8), 1.0f + 3 * std::ldexp(1.0f, -8)};
  const float rounded[3] = {1.0f, 1.0f, 1.0f + std::ldexp(1.0f, -6)};
  for (int64_t k : {45, 256}) {
    const int64_t m = 20;  // one full panel of 16 and a partial one
    const auto ones = bf16_bytes(std::vector<float>(size_t(m * k), 1.0f));
    for (int64_t n : {1, 3, 13}) {
      SCOPED_TRACE("k=" + std::to_string(k) + " n=" + std::to_string(n));
      std::vector<float> x(size_t(n * k)), want(size_t(n), 0.0f);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < k; ++c) {
          x[size_t(i * k + c)] = inputs[(i + c) % 3];
          want[size_t(i)] += rounded[(i + c) % 3];
        }
      const KernelOutputs out = run_kernel(kern, DType::BF16, ones, m, k, x, n);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
          ASSERT_EQ(out.tile[size_t(i * m + j)], want[size_t(i)]) << "tile, row " << i << " col " << j;
          if (kern.pack) {
            ASSERT_EQ(out.packed[size_t(i * m + j)], want[size_t(i)]) << "packed, row " << i << " col " << j;
          }
        }
    }
  }
}

// The BF16 activation format of every level holds exactly fp32_to_bf16 of the input (nearest even, NaN stays a
// NaN, overflow to inf, denormals rounded, not flushed), whether stored as BF16 or as the same values in F32.
TEST_P(MatmulKernels, BF16ActivationsAreFp32ToBf16) {
  EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);       // tie: to the even 1
  EXPECT_EQ(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);   // tie: to the even 1 + 2^-6
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x7f800001u)), 0x7fc0);        // a NaN with only low payload bits
  EXPECT_EQ(fp32_to_bf16(fp32_from_bits(0x00018000u)), 0x0002);        // denormal tie: to the even 2
  const cpu::MatmulKernel& kern = kernel_set(GetParam()).for_type(DType::BF16);
  std::mt19937 rng(21);
  std::vector<float> x = random_floats(rng, 71);  // a partial vector at the end
  const float specials[] = {0.0f, -0.0f, 1.0f + std::ldexp(1.0f, -8), -(1.0f + 3 * std::ldexp(1.0f, -8)),
                            std::numeric_limits<float>::max(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), fp32_from_bits(0xff800001u),
                            fp32_from_bits(0x00018000u), -std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::min() * 0.999f, 3.0e38f};
  for (size_t i = 0; i < std::size(specials); ++i) x[i * 5 + 3] = specials[i];
  std::vector<uint8_t> act(row_bytes(kern.act_type, int64_t(x.size())));
  kern.quantize(x.data(), act.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t bits;
    if (kern.act_type == DType::BF16) {
      bits = reinterpret_cast<const uint16_t*>(act.data())[i];
    } else {
      ASSERT_EQ(kern.act_type, DType::F32);
      bits = fp32_to_bits(reinterpret_cast<const float*>(act.data())[i]);
      ASSERT_EQ(bits & 0xffff, 0u) << "at " << i;
      bits >>= 16;
    }
    ASSERT_EQ(bits, fp32_to_bf16(x[i])) << "at " << i << ": " << x[i];
  }
}

// VDPBF16PS treats denormal inputs as zero and flushes denormal products and sums to zero (matmul_float_avx512.cpp);
// the other kernels keep them. Every level must match the exact sum up to the summation order plus what that
// flushing can lose: |w * a| of each term with a denormal factor or a denormal product, and 2^-126 per addition.
TEST_P(MatmulKernels, BF16DenormalsLoseAtMostTheirOwnSize) {
  const cpu::MatmulKernel& kern = kernel_set(GetParam()).for_type(DType::BF16);
  const float tiny = std::numeric_limits<float>::min();  // 2^-126
  std::mt19937 rng(5);
  const int64_t k = 37, m = 19, n = 5;
  std::vector<float> w = random_floats(rng, size_t(m * k)), x = random_floats(rng, size_t(n * k));
  std::uniform_int_distribution<int> pick(0, 5);
  for (auto* v : {&w, &x})
    for (float& f : *v) {
      const int p = pick(rng);
      if (p == 0) f *= tiny / 4;  // denormal
      if (p == 1) f *= 1e-20f;    // products of two of these are denormal
    }
  for (int64_t c = 0; c < k; ++c) x[size_t(4 * k + c)] *= tiny / 8;  // a row whose every term is flushed
  const auto wbytes = bf16_bytes(w);
  const KernelOutputs out = run_kernel(kern, DType::BF16, wbytes, m, k, x, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double ref = 0, mag = 0, flushable = double(k) * tiny;
      for (int64_t c = 0; c < k; ++c) {
        const double wv = bf16_to_fp32(fp32_to_bf16(w[size_t(j * k + c)]));
        const double av = bf16_to_fp32(fp32_to_bf16(x[size_t(i * k + c)]));
        ref += wv * av;
        mag += std::fabs(wv * av);
        if (std::fabs(wv) < tiny || std::fabs(av) < tiny || std::fabs(wv * av) < tiny) flushable += std::fabs(wv * av);
      }
      ASSERT_NEAR(out.tile[size_t(i * m + j)], ref, 2e-5 * mag + flushable) << "tile, row " << i << " col " << j;
      if (kern.pack) {
        ASSERT_EQ(out.packed[size_t(i * m + j)], out.tile[size_t(i * m + j)]) << i << "," << j;
      }
    }
}

TEST_P(MatmulKernels, WeightedSumMatchesReference) {
  const cpu::KernelSet& ks = kernel_set(GetParam());
  std::mt19937 rng(7);
  for (int64_t rows : {1, 3, 40}) {
    for (int64_t n : {1, 5, 16, 33, 64, 128, 129, 300}) {
      const int64_t stride = n + 7;  // rows are views into a wider matrix
      auto x = random_floats(rng, size_t(rows * stride));
      std::vector<uint16_t> xh(x.size());
      for (size_t i = 0; i < x.size(); ++i) xh[i] = fp32_to_fp16(x[i]);
      // 11 query rows, more than any kernel takes at once, with the visible counts of causal attention (each row
      // one more than the last, ending at rows) and of a row that sees everything.
      const int64_t n_q = 11, p_stride = rows + 2, out_stride = n + 3;
      std::vector<int64_t> visible(static_cast<size_t>(n_q));
      for (int64_t i = 0; i < n_q; ++i) visible[size_t(i)] = i == 3 ? rows : std::max<int64_t>(1, rows - (n_q - 1 - i));
      auto p = random_floats(rng, size_t(n_q * p_stride));
      std::vector<float> o32(size_t(n_q * out_stride), -5.0f), o16(o32);
      ks.weighted_sum_f32(n_q, visible.data(), p.data(), p_stride, x.data(), size_t(stride) * 4, n, o32.data(),
                          out_stride, false);
      ks.weighted_sum_f16(n_q, visible.data(), p.data(), p_stride, xh.data(), size_t(stride) * 2, n, o16.data(),
                          out_stride, false);
      for (int64_t i = 0; i < n_q; ++i) {
        for (int64_t c = 0; c < n; ++c) {
          double r32 = 0, r16 = 0;
          for (int64_t j = 0; j < visible[size_t(i)]; ++j) {
            r32 += double(p[size_t(i * p_stride + j)]) * x[size_t(j * stride + c)];
            r16 += double(p[size_t(i * p_stride + j)]) * fp16_to_fp32(xh[size_t(j * stride + c)]);
          }
          ASSERT_NEAR(o32[size_t(i * out_stride + c)], r32, 1e-5 * double(rows)) << "row " << i << " col " << c;
          ASSERT_NEAR(o16[size_t(i * out_stride + c)], r16, 1e-5 * double(rows)) << "row " << i << " col " << c;
        }
        // The row alone gives the same bits: the rows a kernel takes together never change a result.
        std::vector<float> alone(static_cast<size_t>(n));
        ks.weighted_sum_f32(1, &visible[size_t(i)], p.data() + i * p_stride, p_stride, x.data(), size_t(stride) * 4,
                            n, alone.data(), n, false);
        for (int64_t c = 0; c < n; ++c) ASSERT_EQ(alone[size_t(c)], o32[size_t(i * out_stride + c)]) << i << "," << c;
        // Split into runs of rows (a paged cache's blocks), the later ones accumulating: the same bits again.
        std::vector<float> runs32(static_cast<size_t>(n)), runs16(static_cast<size_t>(n)), one16(static_cast<size_t>(n));
        ks.weighted_sum_f16(1, &visible[size_t(i)], p.data() + i * p_stride, p_stride, xh.data(), size_t(stride) * 2,
                            n, one16.data(), n, false);
        for (int64_t j0 = 0, run = 1; j0 < visible[size_t(i)]; j0 += run, run = run * 2 + 1) {
          const int64_t vis = std::min(run, visible[size_t(i)] - j0);
          ks.weighted_sum_f32(1, &vis, p.data() + i * p_stride + j0, p_stride, x.data() + j0 * stride,
                              size_t(stride) * 4, n, runs32.data(), n, j0 > 0);
          ks.weighted_sum_f16(1, &vis, p.data() + i * p_stride + j0, p_stride, xh.data() + j0 * stride,
                              size_t(stride) * 2, n, runs16.data(), n, j0 > 0);
        }
        for (int64_t c = 0; c < n; ++c) {
          ASSERT_EQ(runs32[size_t(c)], alone[size_t(c)]) << "runs " << i << "," << c;
          ASSERT_EQ(runs16[size_t(c)], one16[size_t(c)]) << "runs " << i << "," << c;
        }
        for (int64_t c = n; c < out_stride; ++c) {  // nothing written past n
          ASSERT_EQ(o32[size_t(i * out_stride + c)], -5.0f);
          ASSERT_EQ(o16[size_t(i * out_stride + c)], -5.0f);
        }
      }
    }
  }
}

TEST_P(MatmulKernels, GeluAndSoftmaxMatchReference) {
  const cpu::KernelSet& ks = kernel_set(GetParam());
  std::mt19937 rng(11);
  // Up to 128 values the AVX-512 softmax keeps the row in registers; longer rows take three passes in memory.
  for (int64_t n : {1, 7, 16, 33, 100, 128, 129, 1000}) {
    auto x = random_floats(rng, size_t(n), 3.0f);
    x[0] = n > 1 ? -12.0f : 0.0f;  // far tails
    if (n > 2) x[1] = 9.5f;
    auto g = x;
    ks.gelu_erf(n, g.data());
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[size_t(i)];
      EXPECT_NEAR(g[size_t(i)], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-6 * (1 + std::fabs(v)));
    }
    auto sm = x;
    ks.softmax(n, sm.data(), 0.7f);
    double mx = -1e300, sum = 0;
    for (float v : x) mx = std::max(mx, 0.7 * v);
    for (float v : x) sum += std::exp(0.7 * v - mx);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(sm[size_t(i)], std::exp(0.7 * x[size_t(i)] - mx) / sum, 2e-7 + 1e-6 * sm[size_t(i)]);
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, MatmulKernels, ::testing::ValuesIn(kernel_sets()),
                         [](const auto& info) { return info.param; });

// ---- activation quantizers: llama.cpp's rules, checked value by value ----

TEST(ActivationQuant, Q8_0RoundsHalfToEvenWithInverseOf127OverMax) {
  std::vector<float> x(64, 0.0f);
  x[0] = 127.0f;  // amax 127: id = 1 exactly, so x * id keeps the ties below
  x[1] = 2.5f, x[2] = 3.5f, x[3] = -2.5f, x[4] = -0.5f, x[5] = 0.5f, x[6] = 126.5f;
  // second block all zero: d = 0, q = 0
  BlockQ8_0 b[2];
  cpu::quantize_row_q8_0(x.data(), b, 64);
  EXPECT_EQ(fp16_to_fp32(b[0].d), fp16_to_fp32(fp32_to_fp16(1.0f)));
  EXPECT_EQ(b[0].qs[0], 127);
  EXPECT_EQ(b[0].qs[1], 2);
  EXPECT_EQ(b[0].qs[2], 4);
  EXPECT_EQ(b[0].qs[3], -2);
  EXPECT_EQ(b[0].qs[4], 0);
  EXPECT_EQ(b[0].qs[5], 0);
  EXPECT_EQ(b[0].qs[6], 126);
  EXPECT_EQ(b[1].d, 0);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(b[1].qs[i], 0);
}

TEST(ActivationQuant, Q8_0MatchesDefinitionOnRandomData) {
  std::mt19937 rng(3);
  auto x = random_floats(rng, 32 * 40, 3.0f);
  std::vector<BlockQ8_0> b(40);
  cpu::quantize_row_q8_0(x.data(), b.data(), int64_t(x.size()));
  for (int blk = 0; blk < 40; ++blk) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[size_t(blk * 32 + i)]));
    EXPECT_EQ(b[size_t(blk)].d, fp32_to_fp16(amax / 127.0f));
    for (int i = 0; i < 32; ++i)
      EXPECT_EQ(b[size_t(blk)].qs[i], int(std::nearbyint(x[size_t(blk * 32 + i)] * (127.0f / amax))));
  }
}

TEST(ActivationQuant, Q8_1StoresRoundedScaledSum) {
  std::mt19937 rng(4);
  auto x = random_floats(rng, 96);
  BlockQ8_1 b[3];
  BlockQ8_0 r[3];
  cpu::quantize_row_q8_1(x.data(), b, 96);
  cpu::quantize_row_q8_0(x.data(), r, 96);
  for (int blk = 0; blk < 3; ++blk) {
    EXPECT_EQ(b[blk].d, r[blk].d);
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      EXPECT_EQ(b[blk].qs[i], r[blk].qs[i]);
      sum += b[blk].qs[i];
    }
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[size_t(blk * 32 + i)]));
    EXPECT_EQ(b[blk].s, fp32_to_fp16(amax / 127.0f * float(sum)));
  }
}

TEST(ActivationQuant, Q8_KMapsSignedMaxToMinus127) {
  std::mt19937 rng(5);
  for (float sign : {1.0f, -1.0f}) {
    auto x = random_floats(rng, 512);
    for (auto& v : x) v = std::clamp(v, -3.0f, 3.0f);
    x[17] = 5.0f * sign;  // the value of largest magnitude in block 0
    std::vector<BlockQ8_K> b(2);
    cpu::quantize_row_q8_K(x.data(), b.data(), 512);
    EXPECT_EQ(b[0].qs[17], -127);
    EXPECT_FLOAT_EQ(b[0].d, 1.0f / (-127.0f / x[17]));
    for (int blk = 0; blk < 2; ++blk) {
      float max = 0, amax = 0;
      for (int i = 0; i < 256; ++i) {
        float v = x[size_t(blk * 256 + i)];
        if (std::fabs(v) > amax) amax = std::fabs(v), max = v;
      }
      const float iscale = -127.0f / max;
      for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) {
          const int q = std::min(127, int(std::nearbyint(iscale * x[size_t(blk * 256 + g * 16 + i)])));
          EXPECT_EQ(b[size_t(blk)].qs[g * 16 + i], q);
          sum += q;
        }
        EXPECT_EQ(b[size_t(blk)].bsums[g], sum);
      }
    }
  }
  std::vector<float> zeros(256, 0.0f);
  BlockQ8_K z;
  cpu::quantize_row_q8_K(zeros.data(), &z, 256);
  EXPECT_EQ(z.d, 0.0f);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(z.bsums[i], 0);
}

}  // namespace
}  // namespace hearth
