// Weights that the CPU backend packs into panels (float types always; Q-block types for batched products): after
// packing, the source pages of a read-only file mapping are dropped from the process, and the matrix still
// multiplies and serves get_rows as before.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend_test_util.h"
#include "backends/backend.h"
#include "backends/cpu/kernels.h"
#include "core/fp16.h"
#include "core/mapped_file.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using test::make_tensor;
using test::random_floats;
using test::random_weight_bytes;
using test::weight_row;

// Resident kB of the mapping that starts at `start` (from /proc/self/smaps), or -1 if it is not found.
long resident_kb(const void* start) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_mapping = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      in_mapping = lo == reinterpret_cast<unsigned long>(start);
      continue;
    }
    long kb = 0;
    if (in_mapping && std::sscanf(line.c_str(), "Rss: %ld kB", &kb) == 1) return kb;
  }
  return -1;
}

class PackedFromFile : public ::testing::TestWithParam<DType> {};

TEST_P(PackedFromFile, SourcePagesAreDroppedAndTheMatrixStillWorks) {
  const DType t = GetParam();
  const int64_t rows = 80, cols = 1024;  // 160-320 KiB: many whole pages
  std::mt19937 rng(7);
  const auto bytes = random_weight_bytes(t, rows, cols, rng);
  const fs::path path = fs::temp_directory_path() / ("hearth-packed-" + std::to_string(getpid()) + ".bin");
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  MappedFile file(path.string());
  fs::remove(path);
  ASSERT_EQ(file.size(), bytes.size());
  unsigned sum = 0;
  for (size_t i = 0; i < file.size(); i += 512) sum += file.data()[i];  // every page resident
  EXPECT_GE(resident_kb(file.data()), long(bytes.size() / 1024)) << sum;

  auto be = make_cpu_backend(2);
  WeightTensor mapped = make_tensor("blk.0.ffn_up.weight", t, rows, cols, bytes);
  mapped.data = file.data();
  const auto use = Backend::MatrixUse::kBatchedProduct;
  auto from_file = be->prepare_matrix(mapped, use);
  auto from_heap = be->prepare_matrix(make_tensor("blk.0.ffn_up.weight", t, rows, cols, bytes), use);
  if (cpu::kernels().for_type(t).pack) {
    EXPECT_LE(resident_kb(file.data()), 8);
  }

  auto ws = be->new_workspace();
  for (int64_t n : {1, 3, 20}) {
    const auto x = random_floats(rng, size_t(n * cols));
    Act xa = ws->act(n, cols), a = ws->act(n, rows), b = ws->act(n, rows);
    be->write(xa, x.data());
    be->matmul(a, xa, *from_file);
    be->matmul(b, xa, *from_heap);
    std::vector<float> got(size_t(n * rows)), want(size_t(n * rows));
    be->read(a, got.data());
    be->read(b, want.data());
    EXPECT_EQ(got, want) << "n=" << n;
  }
  const std::vector<int32_t> ids = {79, 0, 41};
  Act out = ws->act(3, cols);
  be->get_rows(out, *from_file, ids);
  std::vector<float> got(size_t(3 * cols));
  be->read(out, got.data());
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto row = weight_row(t, bytes, cols, ids[i]);
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(got[i * size_t(cols) + size_t(c)], row[size_t(c)]) << "id " << ids[i];
  }
}

// Row lengths that are not multiples of the 16-lane blocks the panels are transposed in (for block types: odd
// numbers of blocks), through the packed kernel (pack + tile_packed) and the unpacked tile, against a
// double-precision reference on the activations as the kernel's quantize stores them.
TEST_P(PackedFromFile, OddRowLengthsMatchADoubleReference) {
  const DType t = GetParam();
  const cpu::MatmulKernel& kern = cpu::kernels().for_type(t);
  std::mt19937 rng(11);
  for (int64_t blocks : {1, 7, 17, 33, 65}) {
    const int64_t k = blocks * traits(t).block_size;
    const int64_t m = 37;
    const auto bytes = random_weight_bytes(t, m, k, rng);
    const size_t w_stride = row_bytes(t, k), a_stride = row_bytes(kern.act_type, k);
    std::unique_ptr<uint8_t, decltype(&std::free)> panels(nullptr, &std::free);
    if (kern.pack) {
      panels.reset(static_cast<uint8_t*>(std::aligned_alloc(64, (kern.packed_bytes(k, m) + 63) / 64 * 64)));
      kern.pack(k, bytes.data(), w_stride, m, panels.get());
    }
    for (int64_t n : {2, 20}) {
      SCOPED_TRACE("k=" + std::to_string(k) + " n=" + std::to_string(n));
      const auto x = random_floats(rng, size_t(n * k));
      std::vector<uint8_t> act(a_stride * size_t(n));
      for (int64_t i = 0; i < n; ++i) kern.quantize(x.data() + i * k, act.data() + size_t(i) * a_stride, k);
      std::vector<float> from_tile(size_t(n * m)), from_panels(size_t(n * m));
      kern.tile(k, bytes.data(), w_stride, m, act.data(), a_stride, n, from_tile.data(), m);
      if (panels) {
        kern.tile_packed(k, panels.get(), bytes.data(), w_stride, m, act.data(), a_stride, n, from_panels.data(), m);
      }
      for (int64_t i = 0; i < n; ++i) {
        const auto ai = weight_row(kern.act_type, act, k, i);  // as the kernel sees it
        for (int64_t j = 0; j < m; ++j) {
          const auto w = weight_row(t, bytes, k, j);
          double ref = 0.0, mag = 0.0;
          for (int64_t c = 0; c < k; ++c) {
            const double a = ai[size_t(c)];
            ref += double(w[size_t(c)]) * a;
            mag += std::fabs(double(w[size_t(c)]) * a);
          }
          ASSERT_NEAR(from_tile[size_t(i * m + j)], ref, 2e-5 * mag + 1e-30) << "row " << i << " col " << j;
          if (panels) {
            ASSERT_NEAR(from_panels[size_t(i * m + j)], ref, 2e-5 * mag + 1e-30) << "row " << i << " col " << j;
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PackedTypes, PackedFromFile,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace hearth
