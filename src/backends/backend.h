// The backend interface: what a model may ask of the hardware.
//
// A Backend owns device memory and runs the kernels. Models are written only against this header: they hold
// weights as prepared Matrix / Vector objects and activations as Act views into backend memory, and call the
// ops below. They never touch SIMD intrinsics, threads or device APIs, so a CUDA/Metal/CoreML backend can be
// added without changing a line of models/.
//
// Numerics (matching llama.cpp so that parity tests can be tight): matmul with F16 weights rounds activations to
// F16, with BF16 weights to BF16 (nearest even; the AVX-512 BF16 dot instruction also treats denormals as zero);
// with Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 weights it quantizes activations to Q8_0 blocks; with K-quant weights to Q8_K
// blocks; F32 weights use F32 activations. Accumulation is always F32.
//
// Thread-safety: a Backend may be shared by many model instances; each op call is synchronous and uses the
// backend's own threads. Calls from several threads at once are allowed and serialized internally.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/weights.h"

namespace hearth {

struct DeviceInfo {
  std::string backend;               // "cpu", later "cuda", "metal", "coreml"
  std::string name;                  // e.g. "AMD EPYC"
  int64_t memory_bytes = 0;
  int compute_units = 0;             // CPU: threads used
  std::vector<std::string> features; // e.g. "avx512-vnni"
  std::string kernels;               // which kernel set was selected, e.g. "avx512 (vnni, bf16)"
};

// A 2-D row-major activation matrix living in backend memory. Non-owning; valid while its Workspace (or
// the cache that holds it) lives and is not reset. `type` is F32 except for KV-cache storage (F16/F32).
struct Act {
  void* data = nullptr;
  int64_t rows = 0, cols = 0;
  DType type = DType::F32;

  // Rows [begin, begin + count) of this matrix.
  Act slice_rows(int64_t begin, int64_t count) const;
  // The same memory seen as (rows * cols / new_cols) x new_cols, e.g. [tokens, heads*head_dim] as
  // [tokens*heads, head_dim].
  Act reshape(int64_t new_cols) const;
};

// A weight matrix (rows x cols = out_features x in_features; GGUF ne = {cols, rows}) prepared for matmul.
// The backend may repack or convert it; the source Weights must outlive it (it may point into the mmap).
class Matrix {
 public:
  virtual ~Matrix() = default;
  int64_t rows = 0, cols = 0;
  DType type = DType::F32;  // the source type
};

// A small float vector (bias, norm weight) prepared for the backend, stored as F32.
class Vector {
 public:
  virtual ~Vector() = default;
  int64_t size = 0;
};

// Scratch memory for one forward pass: act() is a bump allocation, reset() frees everything at once.
class Workspace {
 public:
  virtual ~Workspace() = default;
  virtual Act act(int64_t rows, int64_t cols, DType type = DType::F32) = 0;
  virtual void reset() = 0;
};

enum class Pooling { kNone, kMean, kCls, kLast };
enum class RopeMode { kNormal, kNeox };  // llama.cpp: NORM rotates pairs (2i, 2i+1); NEOX rotates (i, i+d/2)

// One attention problem inside a batch: query rows [q_begin, q_begin+q_count) attend to key/value rows
// [kv_begin, kv_begin+kv_count). With causal masking, query i (0-based within the span) sees keys
// j < kv_count - q_count + i + 1 (the queries are the last q_count positions of the kv range).
// With a block table (a paged KV cache), key/value position j is row (j % kv_block_rows) of block
// kv_blocks[j / kv_block_rows], that is row kv_blocks[j / kv_block_rows] * kv_block_rows + j % kv_block_rows of k
// and v, and kv_begin is unused. Results do not depend on where the blocks are.
struct AttentionSpan {
  int64_t q_begin = 0, q_count = 0;
  int64_t kv_begin = 0, kv_count = 0;
  const int32_t* kv_blocks = nullptr;
  int64_t kv_block_rows = 0;
};

struct AttentionParams {
  int n_head = 1, n_head_kv = 1, head_dim = 0;
  float scale = 1.0f;  // applied to q·k
  bool causal = false;
};

struct RopeParams {
  int n_head = 1, head_dim = 0, n_rot = 0;  // rotate the first n_rot dims of each head
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;             // linear scaling (1 / factor)
  RopeMode mode = RopeMode::kNormal;
  // llama3-style frequency scaling; factor 0 disables it.
  float llama3_factor = 0.0f, llama3_low_freq_factor = 1.0f, llama3_high_freq_factor = 4.0f;
  int llama3_original_context = 8192;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const DeviceInfo& device() const = 0;
  virtual int threads() const = 0;

  // ---- memory ----
  virtual std::unique_ptr<Workspace> new_workspace() = 0;
  // Persistent zero-initialized storage (KV cache). Released when the returned object dies.
  virtual std::shared_ptr<Act> alloc_persistent(int64_t rows, int64_t cols, DType type) = 0;
  virtual void write(Act dst, const float* host) = 0;  // dst must be F32, host holds rows*cols floats
  virtual void read(Act src, float* host) = 0;         // src converted to F32 on the way out
  // The stored bytes as they are (row_bytes(type, cols) per row), any type: KV cache rows to and from a file.
  virtual void read_bytes(Act src, void* host) = 0;
  virtual void write_bytes(Act dst, const void* host) = 0;

  // ---- weights ----
  // How a model will use a matrix, so that the backend can lay it out for that use.
  enum class MatrixUse {
    kProduct,         // matmul, often by one or a few activation rows (a decoder generating tokens)
    kBatchedProduct,  // matmul, mostly by many activation rows at once (an encoder's sentences)
    kLookup,          // rows read by get_rows (an embedding table); a tied output projection multiplies it as is
  };
  virtual std::unique_ptr<Matrix> prepare_matrix(const WeightTensor& w, MatrixUse use = MatrixUse::kProduct) = 0;
  virtual std::unique_ptr<Vector> prepare_vector(const WeightTensor& w) = 0;
  virtual std::unique_ptr<Vector> make_vector(std::span<const float> values) = 0;

  // ---- ops (out may alias an input only where stated) ----
  // v[n, w.rows] = x[n, w.cols] · wᵀ (+ bias), then the epilogue writes v to out. out must not alias x. A fused
  // epilogue gives exactly the values of the separate ops (matmul, then relu / gelu_erf / add), but touches each
  // output while it is still in the cache of the thread that computed it.
  enum class Epilogue {
    kStore,       // out = v
    kRelu,        // out = max(v, 0), as relu()
    kGeluErf,     // out = gelu_erf(v), as gelu_erf()
    kAccumulate,  // out += v, as add(out, v): a residual connection
  };
  virtual void matmul(Act out, Act x, const Matrix& w, const Vector* bias = nullptr,
                      Epilogue epilogue = Epilogue::kStore) = 0;
  // out[i] = row ids[i] of table, dequantized (embedding lookup).
  virtual void get_rows(Act out, const Matrix& table, std::span<const int32_t> ids) = 0;
  // Same shape; converts F32 to F16 or Q8_0 (quantizing each row, as a KV cache stores them), F16 to F32, or
  // copies rows of the same type.
  virtual void copy(Act dst, Act src) = 0;
  virtual void add(Act a, Act b) = 0;                 // a += b (same shape)
  virtual void add_vector(Act a, const Vector& v) = 0;  // a[i, :] += v for every row
  virtual void scale(Act a, float s) = 0;
  // out = per-row layer norm of x (same shape; out may be x).
  virtual void layer_norm(Act out, Act x, const Vector* gamma, const Vector* beta, float eps) = 0;
  virtual void rms_norm(Act x, const Vector& weight, float eps) = 0;                       // per row, in place
  virtual void gelu_erf(Act x) = 0;
  virtual void relu(Act x) = 0;
  virtual void tanh(Act x) = 0;
  virtual void swiglu(Act gate, Act up) = 0;  // gate = silu(gate) * up
  // Rotary embedding in place on x = [tokens, n_head * head_dim]; positions[t] is token t's position.
  virtual void rope(Act x, std::span<const int32_t> positions, const RopeParams& p) = 0;
  // out[q rows, n_head*head_dim] = softmax(scale · q·kᵀ + mask) · v for each span. k, v may be F16, F32 or Q8_0
  // (then head_dim must be a multiple of 32).
  virtual void attention(Act out, Act q, Act k, Act v, std::span<const AttentionSpan> spans,
                         const AttentionParams& p) = 0;
  // attention() on the output of a fused QKV projection (a matmul by the q, k and v weights' rows stacked): each
  // row of qkv (F32) holds the token's q (n_head * head_dim values), then its k and v (n_head_kv * head_dim each).
  virtual void attention_fused(Act out, Act qkv, std::span<const AttentionSpan> spans,
                               const AttentionParams& p) = 0;
  // out[s, :] = pooling of rows [begin_s, begin_s + count_s) of x; spans use q_begin/q_count.
  virtual void pool(Act out, Act x, std::span<const AttentionSpan> spans, Pooling how) = 0;
  virtual void l2_normalize(Act x, float eps = 1e-12f) = 0;  // per row, in place
};

// The CPU backend with `n_threads` threads (0 = one per physical core). Always available.
std::unique_ptr<Backend> make_cpu_backend(int n_threads = 0);

}  // namespace hearth
