// Attention as llama.cpp computes it without flash-attention: scores = K·q through the matmul kernels (so an
// F16 K rounds q to F16, as ggml's mul_mat does), softmax in F32 with a double sum, then softmax·V, where an F16
// V rounds the probabilities to F16 first. Work is split over (span, KV head, block of query rows).
// A paged cache's keys and values come in runs of consecutive rows (its blocks, merged where they are adjacent):
// scores are computed run by run (each score is one chain over the head dimension, wherever its key is), and
// softmax·V continues its chains from run to run, so the result is the same bits as with one contiguous run.
// Q8_0 keys are multiplied as Q8_0 weights (q quantized to Q8_0, as ggml's mul_mat does); Q8_0 values are
// dequantized run by run into F32 first.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/ops.h"
#include "core/fp16.h"
#include "core/thread_pool.h"

namespace hearth::cpu {
namespace {

// Query rows per work item: K is packed into panels once per item, so a short span (a sentence of 34 tokens)
// should be one item; 64 rows of scores over a 2048-token context are 512 KiB.
constexpr int64_t kQueryBlock = 64;

struct Item {
  int64_t span, head, q0, qn;  // head: the KV head
};

struct Run {
  int64_t first, row, count;  // kv positions first .. first+count-1 are rows row .. of k and v
};

// The span's kv positions as runs of consecutive rows.
void kv_runs(const AttentionSpan& sp, std::vector<Run>& runs) {
  runs.clear();
  if (!sp.kv_blocks) {
    runs.push_back({0, sp.kv_begin, sp.kv_count});
    return;
  }
  const int64_t bs = sp.kv_block_rows;
  for (int64_t j = 0; j < sp.kv_count; j += bs) {
    const int64_t row = int64_t(sp.kv_blocks[j / bs]) * bs, n = std::min(bs, sp.kv_count - j);
    if (!runs.empty() && runs.back().row + runs.back().count == row)
      runs.back().count += n;
    else
      runs.push_back({j, row, n});
  }
}

}  // namespace

void attention(ThreadPool& pool, const KernelSet& ks, Act out, Act q, Act k, Act v, int64_t q_stride,
               int64_t kv_stride, std::span<const AttentionSpan> spans, const AttentionParams& p) {
  const int64_t hd = p.head_dim;
  const int group = p.n_head / p.n_head_kv;
  const MatmulKernel& qk = ks.for_type(k.type);
  const WeightedSumFn weighted_sum = v.type == DType::F16 ? ks.weighted_sum_f16 : ks.weighted_sum_f32;
  const size_t k_row = row_bytes(k.type, kv_stride), v_row = row_bytes(v.type, kv_stride);
  const size_t q_act_row = row_bytes(qk.act_type, hd);

  // Items are (span, KV head, block of query rows): the query heads that share a KV head are multiplied by its
  // K in one tile call (rows ordered head by head), so an unpacked-K kernel that transposes K per call does it
  // once for the group. Each score is the kernel's one chain over the head dimension whatever the row count.
  std::vector<Item> items;
  for (size_t s = 0; s < spans.size(); ++s)
    for (int64_t h = 0; h < p.n_head_kv; ++h)
      for (int64_t q0 = 0; q0 < spans[s].q_count; q0 += kQueryBlock)
        items.push_back({int64_t(s), h, q0, std::min(kQueryBlock, spans[s].q_count - q0)});

  // Items take about a microsecond each: a shared counter would bounce between the cores on every claim.
  StealingRanges claims(int64_t(items.size()), pool.size());
  const auto* qdata = static_cast<const float*>(q.data);
  auto* odata = static_cast<float*>(out.data);
  auto job = [&](int ith) {
    thread_local std::vector<float> scores;
    thread_local std::vector<uint8_t> qbuf;
    thread_local std::vector<int64_t> visible, run_visible;
    thread_local std::vector<Run> runs;
    thread_local std::vector<float> vbuf;
    for (int64_t it; (it = claims.next(ith)) >= 0;) {
      const Item& item = items[size_t(it)];
      const AttentionSpan& sp = spans[size_t(item.span)];
      const int64_t kvh = item.head, rows = group * item.qn;
      const int64_t n_kv = sp.kv_count;
      scores.resize(size_t(rows * n_kv));
      // The group's query rows in K's activation format, head by head: row g * qn + i is query i of head
      // kvh * group + g.
      qbuf.resize(size_t(rows) * q_act_row);
      for (int64_t g = 0; g < group; ++g) {
        const float* q_first = qdata + (sp.q_begin + item.q0) * q_stride + (kvh * group + g) * hd;
        for (int64_t i = 0; i < item.qn; ++i)
          qk.quantize(q_first + i * q_stride, qbuf.data() + size_t(g * item.qn + i) * q_act_row, hd);
      }
      kv_runs(sp, runs);
      const uint8_t* kbase = static_cast<const uint8_t*>(k.data) + row_bytes(k.type, kvh * hd);
      for (const Run& r : runs)
        qk.tile(hd, kbase + size_t(r.row) * k_row, k_row, r.count, qbuf.data(), q_act_row, rows, scores.data() + r.first,
                n_kv);

      const uint8_t* vbase = static_cast<const uint8_t*>(v.data) + row_bytes(v.type, kvh * hd);
      visible.resize(size_t(item.qn));
      run_visible.resize(size_t(item.qn));
      for (int64_t i = 0; i < item.qn; ++i)  // causal: query i of the span sits at kv position n_kv - q_count + i
        visible[size_t(i)] = p.causal ? n_kv - sp.q_count + item.q0 + i + 1 : n_kv;
      for (int64_t g = 0; g < group; ++g) {
        float* sg = scores.data() + g * item.qn * n_kv;
        for (int64_t i = 0; i < item.qn; ++i) {
          float* row = sg + i * n_kv;
          ks.softmax(visible[size_t(i)], row, p.scale);
          if (v.type == DType::F16)
            for (int64_t j = 0; j < visible[size_t(i)]; ++j) row[j] = fp16_to_fp32(fp32_to_fp16(row[j]));
        }
        float* o = odata + (sp.q_begin + item.q0) * out.cols + (kvh * group + g) * hd;
        for (const Run& r : runs) {
          for (int64_t i = 0; i < item.qn; ++i)
            run_visible[size_t(i)] = std::clamp<int64_t>(visible[size_t(i)] - r.first, 0, r.count);
          if (run_visible[0] == 0 && run_visible[size_t(item.qn - 1)] == 0) break;  // past every row's last key
          const uint8_t* x = vbase + size_t(r.row) * v_row;
          size_t x_stride = v_row;
          if (v.type == DType::Q8_0) {  // this head's slice of each row, dequantized
            vbuf.resize(size_t(r.count * hd));
            for (int64_t j = 0; j < r.count; ++j) dequantize_row(DType::Q8_0, x + size_t(j) * v_row, &vbuf[size_t(j * hd)], hd);
            x = reinterpret_cast<const uint8_t*>(vbuf.data());
            x_stride = size_t(hd) * 4;
          }
          weighted_sum(item.qn, run_visible.data(), sg + r.first, n_kv, x, x_stride, hd, o, out.cols, r.first > 0);
        }
      }
    }
  };
  pool.run([&job](int ith, int) { job(ith); });  // one pointer: no std::function allocation
}

}  // namespace hearth::cpu
