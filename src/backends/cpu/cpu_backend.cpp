// The CPU backend: host memory, weights read in place from the mmap, ops run on a ThreadPool with the kernel
// set chosen for this CPU (kernels.h).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/ops.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/quantize.h"
#include "core/thread_pool.h"

namespace hearth {
namespace {

constexpr size_t kAlign = 64;

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, AlignedFree>;

AlignedBuffer aligned_bytes(size_t n, bool zero) {
  const size_t size = std::max<size_t>(kAlign, (n + kAlign - 1) / kAlign * kAlign);
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(kAlign, size));
  if (!p) fail(ErrorKind::kResourceExhausted, "out of memory allocating {} bytes", size);
  if (zero) std::memset(p, 0, size);
  return AlignedBuffer(p);
}

class CpuMatrix final : public Matrix {
 public:
  DType kernel_type = DType::F32;  // the type the kernels read (F32 when the source type had to be converted)
  const uint8_t* data = nullptr;
  size_t row_stride = 0;
  std::vector<float> converted;  // owned F32 copy for types without a dot kernel
  AlignedBuffer packed;          // weight panels for kernels with a packed layout (MatmulKernel::pack)
  size_t panel_bytes = 0;        // bytes per panel of w_block rows in `packed`
  bool batched = false;          // prepared for batched products (MatrixUse::kBatchedProduct)
  bool lookup = false;           // prepared as an embedding table (MatrixUse::kLookup)

  // Once packed, the kernels read only the panels, so the source pages in the model's mapping are dropped
  // from this process (else the weights count twice in RSS). Only pages of a read-only file mapping are dropped:
  // a later read (get_rows) faults them back in from the file. Anonymous or writable memory (weights converted or
  // copied at load, tests) would lose its contents and is left alone.
  static void release_source_pages(const uint8_t* p, size_t n) {
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + n) / page * page;
    if (begin >= end) return;
    std::FILE* maps = std::fopen("/proc/self/maps", "r");
    if (!maps) return;
    unsigned long lo = 0, hi = 0, offset = 0, inode = 0;
    char perms[8] = {}, dev[32] = {};
    bool file_backed_read_only = false;
    char line[4096];
    while (std::fgets(line, sizeof line, maps)) {
      if (std::sscanf(line, "%lx-%lx %7s %lx %31s %lu", &lo, &hi, perms, &offset, dev, &inode) != 6) continue;
      if (begin >= lo && end <= hi) {
        file_backed_read_only = inode != 0 && perms[1] != 'w';
        break;
      }
    }
    std::fclose(maps);
    if (file_backed_read_only) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
};

class CpuVector final : public Vector {
 public:
  std::vector<float> values;
};

class CpuWorkspace final : public Workspace {
 public:
  Act act(int64_t rows, int64_t cols, DType type) override {
    if (rows < 0 || cols < 0) fail("workspace: negative shape {}x{}", rows, cols);
    if (type != DType::F32 && type != DType::F16) fail("workspace: unsupported activation type {}", dtype_name(type));
    const size_t bytes = (row_bytes(type, cols) * size_t(rows) + kAlign - 1) / kAlign * kAlign;
    if (blocks_.empty() || used_ + bytes > capacity_) {
      // A new block; after reset() the blocks are merged into one large enough for the whole pass.
      const size_t cap = std::max<size_t>(bytes, size_t(16) << 20);
      blocks_.push_back(aligned_bytes(cap, false));
      capacity_ = cap;
      used_ = 0;
    }
    total_ += bytes;
    Act a{blocks_.back().get() + used_, rows, cols, type};
    used_ += bytes;
    return a;
  }

  void reset() override {
    if (blocks_.size() > 1) {
      const size_t want = total_;
      blocks_.clear();
      blocks_.push_back(aligned_bytes(want, false));
      capacity_ = want;
    }
    used_ = 0;
    total_ = 0;
  }

 private:
  std::vector<AlignedBuffer> blocks_;
  size_t capacity_ = 0, used_ = 0, total_ = 0;
};

const CpuMatrix& as_cpu(const Matrix& m) {
  const auto* c = dynamic_cast<const CpuMatrix*>(&m);
  if (!c) fail("matrix was not prepared by the CPU backend");
  return *c;
}
const CpuVector& as_cpu(const Vector& v) {
  const auto* c = dynamic_cast<const CpuVector*>(&v);
  if (!c) fail("vector was not prepared by the CPU backend");
  return *c;
}

void require_f32(const Act& a, const char* op, const char* what) {
  if (a.type != DType::F32) fail("{}: {} must be F32, got {}", op, what, dtype_name(a.type));
  if (a.rows < 0 || a.cols < 0 || (a.rows * a.cols > 0 && !a.data)) fail("{}: {} is not a valid activation", op, what);
}
void require_float_storage(const Act& a, const char* op, const char* what) {
  if (a.type != DType::F32 && a.type != DType::F16)
    fail("{}: {} must be F32 or F16, got {}", op, what, dtype_name(a.type));
  if (a.rows < 0 || a.cols < 0 || (a.rows * a.cols > 0 && !a.data)) fail("{}: {} is not a valid activation", op, what);
}
void require_same_shape(const Act& a, const Act& b, const char* op) {
  if (a.rows != b.rows || a.cols != b.cols)
    fail("{}: shape mismatch {}x{} vs {}x{}", op, a.rows, a.cols, b.rows, b.cols);
}

float* f32(const Act& a) { return static_cast<float*>(a.data); }

// Converts n values of F32/F16/BF16 storage to float.
void to_float(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(static_cast<const uint16_t*>(src)[i]);
      return;
    default:
      dequantize_row(t, src, dst, n);
  }
}
bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads)
      : pool_(n_threads > 0 ? n_threads : default_thread_count()),
        ks_(cpu::kernels()),
        rk_(cpu::row_kernels(cpu_info().kernel_level())) {
    const CpuInfo& cpu = cpu_info();
    info_.backend = "cpu";
    info_.name = cpu.model_name;
    info_.memory_bytes = cpu.memory_bytes;
    info_.compute_units = pool_.size();
    info_.features = cpu.feature_names();
    info_.kernels = ks_.name;
  }

  const DeviceInfo& device() const override { return info_; }
  int threads() const override { return pool_.size(); }

  // ---- memory ----
  std::unique_ptr<Workspace> new_workspace() override { return std::make_unique<CpuWorkspace>(); }

  std::shared_ptr<Act> alloc_persistent(int64_t rows, int64_t cols, DType type) override {
    if (rows < 0 || cols < 0) fail("alloc_persistent: negative shape {}x{}", rows, cols);
    if (type != DType::F32 && type != DType::F16 && type != DType::Q8_0)
      fail(ErrorKind::kUnsupported, "alloc_persistent: unsupported type {}", dtype_name(type));
    if (type == DType::Q8_0 && cols % kQK8_0 != 0) fail("alloc_persistent: q8_0 rows of {} values", cols);
    auto buf = std::make_shared<AlignedBuffer>(aligned_bytes(row_bytes(type, cols) * size_t(rows), true));
    auto* act = new Act{buf->get(), rows, cols, type};
    return std::shared_ptr<Act>(act, [buf](Act* a) { delete a; });
  }

  void write(Act dst, const float* host) override {
    require_f32(dst, "write", "destination");
    if (dst.rows * dst.cols > 0) std::memcpy(dst.data, host, size_t(dst.rows * dst.cols) * 4);
  }

  void read(Act src, float* host) override {
    require_float_storage(src, "read", "source");
    to_float(src.type, src.data, host, src.rows * src.cols);
  }

  void read_bytes(Act src, void* host) override {
    if (src.rows > 0) std::memcpy(host, src.data, row_bytes(src.type, src.cols) * size_t(src.rows));
  }
  void write_bytes(Act dst, const void* host) override {
    if (dst.rows > 0) std::memcpy(dst.data, host, row_bytes(dst.type, dst.cols) * size_t(dst.rows));
  }

  // ---- weights ----
  std::unique_ptr<Matrix> prepare_matrix(const WeightTensor& w, MatrixUse use) override {
    if (w.ne.empty() || w.ne.size() > 4)
      fail(ErrorKind::kCorruptData, "tensor '{}': expected a matrix, got {} dimensions", w.name, w.ne.size());
    for (size_t i = 2; i < w.ne.size(); ++i)
      if (w.ne[i] != 1)
        fail(ErrorKind::kCorruptData, "tensor '{}': expected a matrix, dimension {} is {}", w.name, i, w.ne[i]);
    const auto tr = dtype_traits(static_cast<uint32_t>(w.type));
    if (!tr) fail(ErrorKind::kUnsupported, "tensor '{}': unknown type id {}", w.name, static_cast<uint32_t>(w.type));
    auto m = std::make_unique<CpuMatrix>();
    m->cols = w.ne[0];
    m->rows = w.ne.size() > 1 ? w.ne[1] : 1;
    m->type = w.type;
    m->batched = use == MatrixUse::kBatchedProduct;
    m->lookup = use == MatrixUse::kLookup;
    if (m->cols <= 0 || m->rows <= 0)
      fail(ErrorKind::kCorruptData, "tensor '{}': empty matrix {}x{}", w.name, m->rows, m->cols);
    if (m->cols % tr->block_size != 0)
      fail(ErrorKind::kCorruptData, "tensor '{}': row length {} is not a multiple of the {} block size {}", w.name,
           m->cols, tr->name, tr->block_size);
    if (m->rows % tr->row_group != 0)
      fail(ErrorKind::kCorruptData, "tensor '{}': {} rows, not a multiple of the {} row group {}", w.name, m->rows,
           tr->name, tr->row_group);
    const size_t need = row_bytes(w.type, m->cols) * size_t(m->rows);
    if (!w.data || w.nbytes < need)
      fail(ErrorKind::kCorruptData, "tensor '{}': {} bytes of data for a {}x{} {} matrix that needs {}", w.name,
           w.nbytes, m->rows, m->cols, tr->name, need);
    if (const cpu::MatmulKernel& kern = ks_.for_type(w.type)) {
      m->kernel_type = w.type;
      m->data = w.data;
      m->row_stride = row_bytes(w.type, m->cols);
      // Embedding tables are read row by row (get_rows): they are packed only if they are ever multiplied (a tied
      // output projection), at their first product (see run_matmul).
      const bool pack = kern.pack && use != MatrixUse::kLookup &&
                        (use == MatrixUse::kBatchedProduct || !kern.pack_batched_only);
      if (pack) pack_matrix(*m, kern);
      return m;
    }
    if (!is_float_type(w.type) && !can_dequantize(w.type))
      fail(ErrorKind::kUnsupported, "tensor '{}': type {} is not supported by the CPU backend", w.name, tr->name);
    // No dot kernel for this type (e.g. Q2_K, Q3_K): multiply an F32 copy.
    m->converted.resize(size_t(m->rows * m->cols));
    const size_t src_row = row_bytes(w.type, m->cols);
    pool_.parallel_for(m->rows, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        to_float(w.type, w.data + size_t(r) * src_row, m->converted.data() + r * m->cols, m->cols);
    });
    m->kernel_type = DType::F32;
    m->data = reinterpret_cast<const uint8_t*>(m->converted.data());
    m->row_stride = size_t(m->cols) * 4;
    return m;
  }

  std::unique_ptr<Vector> prepare_vector(const WeightTensor& w) override {
    const int64_t n = w.n_elements();
    if (n < 0 || !is_float_type(w.type))
      fail(ErrorKind::kUnsupported, "tensor '{}': a vector must be F32, F16 or BF16, got {}", w.name,
           traits(w.type).name);
    if (!w.data || w.nbytes < row_bytes(w.type, n))
      fail(ErrorKind::kCorruptData, "tensor '{}': {} bytes of data for {} values", w.name, w.nbytes, n);
    auto v = std::make_unique<CpuVector>();
    v->size = n;
    v->values.resize(size_t(n));
    to_float(w.type, w.data, v->values.data(), n);
    return v;
  }

  std::unique_ptr<Vector> make_vector(std::span<const float> values) override {
    auto v = std::make_unique<CpuVector>();
    v->size = int64_t(values.size());
    v->values.assign(values.begin(), values.end());
    return v;
  }

  // Packed once, panel by panel in parallel; then the kernels read only the panels.
  void pack_matrix(CpuMatrix& m, const cpu::MatmulKernel& kern) {
    const int64_t pb = kern.w_block, n_panels = (m.rows + pb - 1) / pb;
    m.panel_bytes = kern.packed_bytes(m.cols, pb);
    m.packed = aligned_bytes(m.panel_bytes * size_t(n_panels), false);
    pool_.parallel_for(n_panels, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        kern.pack(m.cols, m.data + size_t(p * pb) * m.row_stride, m.row_stride, std::min(pb, m.rows - p * pb),
                  m.packed.get() + size_t(p) * m.panel_bytes);
    });
    CpuMatrix::release_source_pages(m.data, m.row_stride * size_t(m.rows));
  }

  // ---- ops ----
  void matmul(Act out, Act x, const Matrix& wm, const Vector* bias, Epilogue epilogue) override {
    const CpuMatrix& w = as_cpu(wm);
    require_f32(out, "matmul", "output");
    require_f32(x, "matmul", "input");
    if (x.cols != w.cols || out.rows != x.rows || out.cols != w.rows)
      fail("matmul: shapes do not fit: out {}x{} = x {}x{} · w({}x{})ᵀ", out.rows, out.cols, x.rows, x.cols, w.rows,
           w.cols);
    if (out.data == x.data && out.rows > 0) fail("matmul: output aliases the input");
    const CpuVector* b = bias ? &as_cpu(*bias) : nullptr;
    if (b && b->size != w.rows) fail("matmul: bias has {} values for {} outputs", b->size, w.rows);
    std::lock_guard<std::mutex> lock(mu_);
    // An embedding table multiplied (a tied output projection) is packed like the other matrices at its first
    // product: its GEMV is then the packed one, and the unpacked kernels give the same bits anyway.
    if (const cpu::MatmulKernel& kern = ks_.for_type(w.kernel_type);
        !w.packed && kern.pack && w.converted.empty() && w.lookup && !kern.pack_batched_only)
      pack_matrix(const_cast<CpuMatrix&>(w), kern);
    run_matmul(out, x, w, b, epilogue);
  }

  void get_rows(Act out, const Matrix& tm, std::span<const int32_t> ids) override {
    const CpuMatrix& t = as_cpu(tm);
    require_f32(out, "get_rows", "output");
    if (out.rows != int64_t(ids.size()) || out.cols != t.cols)
      fail("get_rows: output is {}x{}, expected {}x{}", out.rows, out.cols, ids.size(), t.cols);
    for (int32_t id : ids)
      if (id < 0 || id >= t.rows) fail("get_rows: id {} out of range [0, {})", id, t.rows);
    std::lock_guard<std::mutex> lock(mu_);
    pool_.parallel_for(int64_t(ids.size()), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        float* dst = f32(out) + i * out.cols;
        if (traits(t.kernel_type).row_group > 1)  // a row is decoded with its group (PAL4G16's table)
          dequantize_tensor_row(t.kernel_type, t.data, t.cols, ids[size_t(i)], dst);
        else
          to_float(t.kernel_type, t.data + size_t(ids[size_t(i)]) * t.row_stride, dst, out.cols);
      }
    });
  }

  void copy(Act dst, Act src) override {
    require_same_shape(dst, src, "copy");
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n = dst.rows * dst.cols;
    if (dst.type == DType::Q8_0 && src.type == DType::Q8_0) {
      std::memmove(dst.data, src.data, row_bytes(dst.type, dst.cols) * size_t(dst.rows));
      return;
    }
    if (dst.type == DType::Q8_0) {  // a quantized KV cache: each row as llama.cpp's q8_0 cache stores it
      require_f32(src, "copy", "source");
      const size_t out_row = row_bytes(DType::Q8_0, dst.cols);
      for (int64_t r = 0; r < dst.rows; ++r)
        quantize_row_q8_0(f32(src) + r * src.cols,
                          reinterpret_cast<BlockQ8_0*>(static_cast<uint8_t*>(dst.data) + size_t(r) * out_row), dst.cols);
      return;
    }
    require_float_storage(dst, "copy", "destination");
    require_float_storage(src, "copy", "source");
    if (dst.type == src.type) {
      std::memmove(dst.data, src.data, row_bytes(dst.type, n));
    } else if (dst.type == DType::F16) {
      for_elements(n, [&](int64_t b, int64_t e) { cpu::quantize_row_f16(f32(src) + b, static_cast<uint16_t*>(dst.data) + b, e - b); });
    } else {
      for_elements(n, [&](int64_t b, int64_t e) { to_float(DType::F16, static_cast<uint16_t*>(src.data) + b, f32(dst) + b, e - b); });
    }
  }

  void add(Act a, Act b) override {
    require_f32(a, "add", "a");
    require_f32(b, "add", "b");
    require_same_shape(a, b, "add");
    std::lock_guard<std::mutex> lock(mu_);
    for_elements(a.rows * a.cols, [&](int64_t s, int64_t e) { rk_.add(e - s, f32(a) + s, f32(b) + s); });
  }

  void add_vector(Act a, const Vector& vv) override {
    require_f32(a, "add_vector", "a");
    const CpuVector& v = as_cpu(vv);
    if (v.size != a.cols) fail("add_vector: vector has {} values for rows of {}", v.size, a.cols);
    std::lock_guard<std::mutex> lock(mu_);
    for_rows(a, [&](int64_t r) { rk_.add(a.cols, f32(a) + r * a.cols, v.values.data()); });
  }

  void scale(Act a, float s) override {
    require_f32(a, "scale", "a");
    std::lock_guard<std::mutex> lock(mu_);
    float* p = f32(a);
    for_elements(a.rows * a.cols, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] *= s;
    });
  }

  void layer_norm(Act out, Act x, const Vector* gamma, const Vector* beta, float eps) override {
    require_f32(x, "layer_norm", "x");
    require_f32(out, "layer_norm", "out");
    if (out.rows != x.rows || out.cols != x.cols)
      fail("layer_norm: out is {}x{}, x is {}x{}", out.rows, out.cols, x.rows, x.cols);
    const CpuVector* g = gamma ? &as_cpu(*gamma) : nullptr;
    const CpuVector* bt = beta ? &as_cpu(*beta) : nullptr;
    if ((g && g->size != x.cols) || (bt && bt->size != x.cols))
      fail("layer_norm: gamma/beta size does not match the row length {}", x.cols);
    std::lock_guard<std::mutex> lock(mu_);
    const float* gv = g ? g->values.data() : nullptr;
    const float* bv = bt ? bt->values.data() : nullptr;
    for_rows(x, [&](int64_t r) { rk_.layer_norm(x.cols, f32(x) + r * x.cols, f32(out) + r * x.cols, gv, bv, eps); });
  }

  void rms_norm(Act x, const Vector& weight, float eps) override {
    require_f32(x, "rms_norm", "x");
    const CpuVector& w = as_cpu(weight);
    if (w.size != x.cols) fail("rms_norm: weight has {} values for rows of {}", w.size, x.cols);
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n = x.cols;
    for_rows(x, [&](int64_t i) {
      float* r = f32(x) + i * n;
      double sum = 0.0;
      for (int64_t c = 0; c < n; ++c) sum += double(r[c]) * double(r[c]);
      const float inv = 1.0f / std::sqrt(float(sum / double(n)) + eps);
      for (int64_t c = 0; c < n; ++c) r[c] = (r[c] * inv) * w.values[size_t(c)];
    });
  }

  void gelu_erf(Act x) override {
    require_f32(x, "gelu_erf", "x");
    std::lock_guard<std::mutex> lock(mu_);
    float* p = f32(x);
    for_elements(x.rows * x.cols, [&](int64_t b, int64_t e) { ks_.gelu_erf(e - b, p + b); });
  }
  void relu(Act x) override {
    require_f32(x, "relu", "x");
    std::lock_guard<std::mutex> lock(mu_);
    for_elements(x.rows * x.cols, [&](int64_t b, int64_t e) { rk_.relu(e - b, f32(x) + b); });
  }
  void tanh(Act x) override {
    // About 20 ns a value: worth both cores from a few hundred values (USE lite's head: 512 per sentence).
    unary(x, "tanh", [](float v) { return std::tanh(v); }, kParallelMin / 32);
  }

  void swiglu(Act gate, Act up) override {
    require_f32(gate, "swiglu", "gate");
    require_f32(up, "swiglu", "up");
    require_same_shape(gate, up, "swiglu");
    std::lock_guard<std::mutex> lock(mu_);
    float* g = f32(gate);
    const float* u = f32(up);
    for_elements(gate.rows * gate.cols, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    });
  }

  void rope(Act x, std::span<const int32_t> positions, const RopeParams& p) override {
    require_f32(x, "rope", "x");
    if (p.n_head < 1 || p.head_dim < 1 || x.cols != int64_t(p.n_head) * p.head_dim)
      fail("rope: rows of {} do not hold {} heads of {}", x.cols, p.n_head, p.head_dim);
    if (p.n_rot < 0 || p.n_rot > p.head_dim || p.n_rot % 2 != 0)
      fail("rope: n_rot {} must be even and at most head_dim {}", p.n_rot, p.head_dim);
    if (int64_t(positions.size()) != x.rows) fail("rope: {} positions for {} tokens", positions.size(), x.rows);
    if (p.llama3_factor != 0.0f && (p.llama3_high_freq_factor == p.llama3_low_freq_factor ||
                                    p.llama3_low_freq_factor == 0.0f || p.llama3_original_context <= 0))
      fail("rope: invalid llama3 scaling parameters");
    std::lock_guard<std::mutex> lock(mu_);
    if (p.n_rot > 0) cpu::rope(pool_, x, positions, p);
  }

  void attention(Act out, Act q, Act k, Act v, std::span<const AttentionSpan> spans,
                 const AttentionParams& p) override {
    require_f32(out, "attention", "output");
    require_f32(q, "attention", "q");
    for (const Act* a : {&k, &v})
      if (a->type == DType::Q8_0) {
        if (p.head_dim % kQK8_0 != 0) fail("attention: q8_0 keys/values need a head size that is a multiple of 32");
      } else {
        require_float_storage(*a, "attention", a == &k ? "k" : "v");
      }
    check_heads(p, "attention");
    const int64_t qc = int64_t(p.n_head) * p.head_dim, kc = int64_t(p.n_head_kv) * p.head_dim;
    if (q.cols != qc || out.cols != qc || k.cols != kc || v.cols != kc || out.rows != q.rows || k.rows != v.rows)
      fail("attention: shapes q {}x{}, k {}x{}, v {}x{}, out {}x{} do not fit {} heads ({} kv) of {}", q.rows, q.cols,
           k.rows, k.cols, v.rows, v.cols, out.rows, out.cols, p.n_head, p.n_head_kv, p.head_dim);
    check_spans(spans, q.rows, k.rows, p);
    if (out.data == q.data && out.rows > 0) fail("attention: output aliases q");
    std::lock_guard<std::mutex> lock(mu_);
    cpu::attention(pool_, ks_, out, q, k, v, q.cols, k.cols, spans, p);
  }

  void attention_fused(Act out, Act qkv, std::span<const AttentionSpan> spans, const AttentionParams& p) override {
    require_f32(out, "attention_fused", "output");
    require_f32(qkv, "attention_fused", "qkv");
    check_heads(p, "attention_fused");
    const int64_t qc = int64_t(p.n_head) * p.head_dim, kc = int64_t(p.n_head_kv) * p.head_dim;
    if (qkv.cols != qc + 2 * kc || out.cols != qc || out.rows != qkv.rows)
      fail("attention_fused: shapes qkv {}x{}, out {}x{} do not fit {} heads ({} kv) of {}", qkv.rows, qkv.cols,
           out.rows, out.cols, p.n_head, p.n_head_kv, p.head_dim);
    check_spans(spans, qkv.rows, qkv.rows, p);
    if (out.data == qkv.data && out.rows > 0) fail("attention_fused: output aliases qkv");
    const Act q{f32(qkv), qkv.rows, qc, DType::F32}, k{f32(qkv) + qc, qkv.rows, kc, DType::F32},
        v{f32(qkv) + qc + kc, qkv.rows, kc, DType::F32};
    std::lock_guard<std::mutex> lock(mu_);
    cpu::attention(pool_, ks_, out, q, k, v, qkv.cols, qkv.cols, spans, p);
  }

 private:
  static void check_heads(const AttentionParams& p, const char* op) {
    if (p.n_head < 1 || p.n_head_kv < 1 || p.head_dim < 1 || p.n_head % p.n_head_kv != 0)
      fail("{}: invalid heads {} / kv heads {} / head dim {}", op, p.n_head, p.n_head_kv, p.head_dim);
  }

  static void check_spans(std::span<const AttentionSpan> spans, int64_t q_rows, int64_t kv_rows,
                          const AttentionParams& p) {
    for (const auto& s : spans) {
      if (s.kv_blocks) {  // every block the span reaches must lie inside k and v
        if (s.kv_block_rows <= 0) fail("attention: block table with blocks of {} rows", s.kv_block_rows);
        for (int64_t b = 0; b * s.kv_block_rows < s.kv_count; ++b)
          if (s.kv_blocks[b] < 0 || (int64_t(s.kv_blocks[b]) + 1) * s.kv_block_rows > kv_rows)
            fail("attention: block {} is outside kv ({} rows)", s.kv_blocks[b], kv_rows);
      }
      if (s.q_begin < 0 || s.q_count < 0 || s.q_begin + s.q_count > q_rows || s.kv_begin < 0 || s.kv_count < 0 ||
          (!s.kv_blocks && s.kv_begin + s.kv_count > kv_rows))
        fail("attention: span (q {}+{}, kv {}+{}) is outside q ({} rows) or kv ({} rows)", s.q_begin, s.q_count,
             s.kv_begin, s.kv_count, q_rows, kv_rows);
      if (s.q_count > 0 && (s.kv_count == 0 || (p.causal && s.kv_count < s.q_count)))
        fail("attention: span with {} queries has only {} keys", s.q_count, s.kv_count);
    }
  }

 public:

  void pool(Act out, Act x, std::span<const AttentionSpan> spans, Pooling how) override {
    require_f32(out, "pool", "output");
    require_f32(x, "pool", "x");
    if (out.rows != int64_t(spans.size()) || out.cols != x.cols)
      fail("pool: output is {}x{}, expected {}x{}", out.rows, out.cols, spans.size(), x.cols);
    if (how == Pooling::kNone) fail("pool: no pooling method given");
    for (const auto& s : spans)
      if (s.q_begin < 0 || s.q_count < 1 || s.q_begin + s.q_count > x.rows)
        fail("pool: span {}+{} is outside the {} rows", s.q_begin, s.q_count, x.rows);
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n = x.cols;
    auto pool_span = [&](size_t s) {
      float* o = f32(out) + int64_t(s) * n;
      const float* first = f32(x) + spans[s].q_begin * n;
      if (how == Pooling::kCls) {
        std::memcpy(o, first, size_t(n) * 4);
      } else if (how == Pooling::kLast) {
        std::memcpy(o, first + (spans[s].q_count - 1) * n, size_t(n) * 4);
      } else {
        std::fill(o, o + n, 0.0f);
        for (int64_t r = 0; r < spans[s].q_count; ++r)
          for (int64_t c = 0; c < n; ++c) o[c] += first[r * n + c];
        const float inv = 1.0f / float(spans[s].q_count);
        for (int64_t c = 0; c < n; ++c) o[c] *= inv;
      }
    };
    auto pool_spans = [&](int64_t b, int64_t e) {
      for (int64_t s = b; s < e; ++s) pool_span(size_t(s));
    };
    if (x.rows * x.cols < kParallelMin) pool_spans(0, int64_t(spans.size()));
    else pool_.parallel_for(int64_t(spans.size()), pool_spans);
  }

  void l2_normalize(Act x, float eps) override {
    require_f32(x, "l2_normalize", "x");
    std::lock_guard<std::mutex> lock(mu_);
    for_rows(x, [&](int64_t i) {
      float* r = f32(x) + i * x.cols;
      double sum = 0.0;
      for (int64_t c = 0; c < x.cols; ++c) sum += double(r[c]) * double(r[c]);
      const float inv = float(1.0 / std::max(std::sqrt(sum), double(eps)));
      for (int64_t c = 0; c < x.cols; ++c) r[c] *= inv;
    });
  }

 private:
  // Small ops run inline: waking the workers costs more than the work below this many values.
  static constexpr int64_t kParallelMin = 1 << 14;

  void for_elements(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t parallel_min = kParallelMin) {
    if (n < parallel_min) {
      if (n > 0) fn(0, n);
      return;
    }
    pool_.parallel_for(n, fn, std::min<int64_t>(1024, parallel_min));
  }

  void for_rows(const Act& a, const std::function<void(int64_t row)>& fn) {
    auto body = [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) fn(r);
    };
    if (a.rows * a.cols < kParallelMin) {
      body(0, a.rows);
      return;
    }
    pool_.parallel_for(a.rows, body);
  }

  template <typename F>
  void unary(Act x, const char* op, F f, int64_t parallel_min = kParallelMin) {
    require_f32(x, op, "x");
    std::lock_guard<std::mutex> lock(mu_);
    float* p = f32(x);
    for_elements(x.rows * x.cols, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = f(p[i]);
    }, parallel_min);
  }

  // Whether at least 3/4 of the values of x's first rows are exact zeros: then the sparse kernel is the faster
  // one (both give the same results, so the sample only decides speed).
  static bool mostly_zeros(Act x) {
    const int64_t n = std::min<int64_t>(x.rows, 8) * x.cols;
    const float* p = static_cast<const float*>(x.data);
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; ++i) zeros += p[i] == 0.0f;
    return 4 * zeros >= 3 * n;
  }

  void run_matmul(Act out, Act x, const CpuMatrix& w, const CpuVector* bias, Epilogue epilogue) {
    const cpu::MatmulKernel& kern = ks_.for_type(w.kernel_type);
    const int64_t n = x.rows, k = x.cols, m = w.rows;
    if (n == 0) return;
    // Activations in the weight type's activation format. Only copy_row_f32 means "use in place": the SIMD F16
    // kernels keep F32 storage but still need their activations rounded to F16 (round_row_f16_f32). Mostly-zero
    // F32 activations (after a ReLU) are listed for the sparse product instead.
    // Only for matrices prepared for batched products (encoders): whether it runs depends on the other rows of the
    // batch, and a decoder's rows must get the same bits whatever else is in the batch (the sparse product may
    // differ from the dense one in the sign of a zero).
    const bool sparse = w.packed && w.batched && kern.tile_packed_sparse && kern.quantize == cpu::copy_row_f32 &&
                        n >= cpu::kSparseMinRows && mostly_zeros(x);
    const cpu::QuantizeRowFn to_act = sparse ? kern.list_nonzeros : kern.quantize;
    const cpu::PackedTileFn tile_packed = sparse ? kern.tile_packed_sparse : kern.tile_packed;
    const bool convert = to_act != cpu::copy_row_f32;
    const void* a = x.data;
    size_t a_stride = size_t(k) * 4;
    if (convert) {
      a_stride = sparse ? cpu::sparse_row_bytes(k) : row_bytes(kern.act_type, k);
      if (act_buf_.size() < a_stride * size_t(n)) act_buf_.resize(a_stride * size_t(n));
      a = act_buf_.data();
    }
    // Tiles of (weight rows x activation rows); consecutive tiles share weight rows. Each thread takes its own
    // contiguous run of tiles and then helps the others from the far end (StealingRanges).
    // Few activation rows (decode, one short sentence): the weights stream from memory once, and one contiguous
    // range of them per thread streams fastest (llama-336m tg128 Q4_0 1.5x, Q8_0 1.2x, F16 1.15x faster than
    // 64-row chunks taken in turn; smaller tiles also repeat each kernel's per-call activation set-up). Many rows:
    // chunks of at most 256 weight rows, two or more per thread, so that a thread that falls behind is helped.
    // The number of weight chunks is a multiple of the thread count.
    const int nth = pool_.size();
    const bool streaming = n < 64;
    int64_t chunks = streaming ? nth : std::max<int64_t>(int64_t(nth) * 2, (m + 255) / 256);
    chunks = (chunks + nth - 1) / nth * nth;
    int64_t wb = std::max<int64_t>((m + chunks - 1) / chunks, 1);
    wb = (wb + kern.w_block - 1) / kern.w_block * kern.w_block;
    const int64_t ab = kern.a_block > 0 ? kern.a_block : n;
    const int64_t n_wb = (m + wb - 1) / wb, n_ab = (n + ab - 1) / ab;
    StealingRanges tiles(n_wb * n_ab, nth);
    std::atomic<int> next_part{0}, converted_parts{0};
    float* o = f32(out);
    // One dispatch for both steps: the threads convert the activation rows, one part per thread, wait until all
    // parts are converted, then take tiles. A second dispatch would cost more than the wait at batch 1. Parts
    // are claimed, not owned: a thread that is not running yet holds none, so nobody waits for it.
    auto job = [&](int ith, int) {
      if (convert) {
        uint8_t* dst = act_buf_.data();
        const int64_t per = (n + nth - 1) / nth;
        for (int64_t part; (part = next_part.fetch_add(1, std::memory_order_relaxed)) < nth;) {
          for (int64_t r = part * per; r < std::min(n, (part + 1) * per); ++r)
            to_act(f32(x) + r * k, dst + size_t(r) * a_stride, k);
          converted_parts.fetch_add(1, std::memory_order_acq_rel);
        }
        wait_until_at_least(converted_parts, nth);
      }
      for (int64_t t; (t = tiles.next(ith)) >= 0;) {
        const int64_t j0 = (t / n_ab) * wb, i0 = (t % n_ab) * ab;
        const int64_t nw = std::min(wb, m - j0), na = std::min(ab, n - i0);
        const uint8_t* ai = static_cast<const uint8_t*>(a) + size_t(i0) * a_stride;
        // The tile's values go to its place in out, or to this thread's scratch when they are added to out.
        float* v = o + i0 * m + j0;
        int64_t ldv = m;
        if (epilogue == Epilogue::kAccumulate) {
          thread_local std::vector<float> scratch;
          if (scratch.size() < size_t(na * nw)) scratch.resize(size_t(na * nw));
          v = scratch.data(), ldv = nw;
        }
        if (w.packed)  // j0 is a multiple of w_block (wb is), so it starts a panel
          tile_packed(k, w.packed.get() + size_t(j0 / kern.w_block) * w.panel_bytes,
                      w.data + size_t(j0) * w.row_stride, w.row_stride, nw, ai, a_stride, na, v, ldv);
        else
          kern.tile(k, w.data + size_t(j0) * w.row_stride, w.row_stride, nw, ai, a_stride, na, v, ldv);
        const float* b = bias ? bias->values.data() + j0 : nullptr;
        for (int64_t i = 0; i < na; ++i) {
          float* row = v + i * ldv;
          if (epilogue == Epilogue::kAccumulate) {
            float* dst = o + (i0 + i) * m + j0;
            if (b) rk_.add_with_bias(nw, dst, row, b);
            else rk_.add(nw, dst, row);
            continue;
          }
          if (b) rk_.add(nw, row, b);
          if (epilogue == Epilogue::kRelu) rk_.relu(nw, row);
          if (epilogue == Epilogue::kGeluErf) ks_.gelu_erf(nw, row);
        }
      }
    };
    pool_.run([&job](int ith, int nth_run) { job(ith, nth_run); });  // one pointer: no std::function allocation
  }

  ThreadPool pool_;
  const cpu::KernelSet& ks_;
  const cpu::RowKernels& rk_;
  DeviceInfo info_;
  std::mutex mu_;  // ops are serialized: they share act_buf_ and the pool
  std::vector<uint8_t> act_buf_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace hearth
