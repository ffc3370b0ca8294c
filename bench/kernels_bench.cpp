// Kernel micro-benchmarks through the Backend interface (the CPU backend with its default thread count).
//   GEMV/<type>: one activation row against a weight matrix far larger than the caches: weight GB/s.
//   GEMM/<type>/<n>/<k>/<m>: n activation rows: GFLOP/s (2*n*k*m per call).
//   Attention: decode (1 query vs long F16 kv) and encoder (many short spans).
// Run: build-*/bin/hearth_microbench [--benchmark_filter=GEMV]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

#include "../tests/backends/backend_test_util.h"
#include "backends/backend.h"

namespace hearth {
namespace {

// HEARTH_BENCH_THREADS picks the thread count (default: one per core). Rates are per CPU second of the calling
// thread (which also computes, then spins while it waits), so a busy shared machine distorts them less than
// wall time would.
Backend& backend() {
  static auto be = make_cpu_backend(std::getenv("HEARTH_BENCH_THREADS") ? std::atoi(std::getenv("HEARTH_BENCH_THREADS")) : 0);
  return *be;
}

struct Weights {
  std::vector<uint8_t> bytes;
  std::unique_ptr<Matrix> m;
};

Weights& weights(DType t, int64_t rows, int64_t cols) {
  static std::map<std::tuple<int, int64_t, int64_t>, Weights> cache;
  auto key = std::make_tuple(int(t), rows, cols);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::mt19937 rng(uint32_t(rows * 31 + cols));
  Weights& w = cache[key];
  w.bytes = test::random_weight_bytes(t, rows, cols, rng);
  w.m = backend().prepare_matrix(test::make_tensor("w", t, rows, cols, w.bytes));
  return w;
}

void run_matmul(benchmark::State& state, DType t, int64_t n, int64_t k, int64_t m) {
  Backend& be = backend();
  Weights& w = weights(t, m, k);
  auto ws = be.new_workspace();
  std::mt19937 rng(1);
  auto x = test::random_floats(rng, size_t(n * k));
  Act xa = ws->act(n, k), out = ws->act(n, m);
  be.write(xa, x.data());
  for (auto _ : state) {
    be.matmul(out, xa, *w.m);
    benchmark::ClobberMemory();
  }
  if (n == 1) {
    state.counters["GB/s"] = benchmark::Counter(double(w.bytes.size()) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n * k * m) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// GEMV: ~256 MiB of weights (about 6x the L3 of a large CPU), rows of 4096.
void BM_GEMV(benchmark::State& state, DType t) {
  const int64_t k = 4096;
  const int64_t m = int64_t((size_t(256) << 20) / row_bytes(t, k));
  run_matmul(state, t, 1, k, m);
}

void BM_GEMM(benchmark::State& state, DType t) {
  if (state.range(1) % traits(t).block_size != 0) {
    state.SkipWithError("row length is not a multiple of the block size");
    return;
  }
  run_matmul(state, t, state.range(0), state.range(1), state.range(2));
}

#define HEARTH_TYPES(X) X(F32) X(F16) X(BF16) X(Q8_0) X(Q4_0) X(Q4_1) X(Q5_0) X(Q5_1) X(Q4_K) X(Q5_K) X(Q6_K)
#define HEARTH_GEMV(T) BENCHMARK_CAPTURE(BM_GEMV, T, DType::T)->Unit(benchmark::kMillisecond);
HEARTH_TYPES(HEARTH_GEMV)
// 336M llama prompt processing (pp512: FFN up/gate 1024->2816, down 2816->1024) and MiniLM (BERT: 384->1536,
// 1536->384, 384->384 with 8 sentences of 32 tokens, and one sentence of 32); USE lite (F32 only, 512 tokens: 256->768, 512->1536,
// 1536->512).
#define HEARTH_GEMM(T)                                                                          \
  BENCHMARK_CAPTURE(BM_GEMM, T, DType::T)                                                       \
      ->Args({512, 1024, 2816})->Args({512, 2816, 1024})->Args({256, 384, 1536})->Args({256, 1536, 384}) \
      ->Args({256, 384, 384})->Args({32, 384, 1536})->Args({32, 1536, 384})->Args({32, 384, 384})->Unit(benchmark::kMillisecond);
HEARTH_TYPES(HEARTH_GEMM)
BENCHMARK_CAPTURE(BM_GEMM, F32_use, DType::F32)
    ->Args({512, 256, 768})->Args({512, 512, 1536})->Args({512, 1536, 512})->Unit(benchmark::kMillisecond);

void BM_Attention(benchmark::State& state) {
  // range: 0 = decode (1 query, 1024 kv, F16, GQA 16/8 heads of 64); 1 = encoder (8 spans of 32, 12 heads of 32)
  Backend& be = backend();
  auto ws = be.new_workspace();
  const bool decode = state.range(0) == 0;
  AttentionParams p;
  p.n_head = decode ? 16 : 12;
  p.n_head_kv = decode ? 8 : 12;
  p.head_dim = decode ? 64 : 32;
  p.causal = decode;
  p.scale = 1.0f / std::sqrt(float(p.head_dim));
  const int64_t nq = decode ? 1 : 256, nkv = decode ? 1024 : 256;
  std::vector<AttentionSpan> spans;
  if (decode) spans.push_back({0, 1, 0, nkv});
  else for (int s = 0; s < 8; ++s) spans.push_back({s * 32, 32, s * 32, 32});
  std::mt19937 rng(2);
  auto q = test::random_floats(rng, size_t(nq * p.n_head * p.head_dim));
  auto kv = test::random_floats(rng, size_t(nkv * p.n_head_kv * p.head_dim));
  Act qa = ws->act(nq, p.n_head * p.head_dim), out = ws->act(nq, p.n_head * p.head_dim);
  Act k32 = ws->act(nkv, p.n_head_kv * p.head_dim);
  be.write(qa, q.data());
  be.write(k32, kv.data());
  Act k = k32, v = k32;
  if (decode) {
    k = ws->act(nkv, p.n_head_kv * p.head_dim, DType::F16);
    be.copy(k, k32);
    v = k;
  }
  for (auto _ : state) {
    be.attention(out, qa, k, v, spans, p);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Attention)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hearth
