// PAL4G16 panels (pal_panel.h) and the portable kernel, which defines the numerics the SIMD ones reproduce.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/pal_panel.h"
#include "core/fp16.h"

namespace hearth::cpu {

size_t pal_packed_bytes(int64_t k, int64_t nw) {
  return size_t((nw + kPalGroupRows - 1) / kPalGroupRows) * pal_panel_bytes(k);
}

void pal_pack(int64_t k, const void* w, size_t w_stride, int64_t nw, void* dst) {
  for (int64_t g = 0; g < nw / kPalGroupRows; ++g) {
    const auto* src = static_cast<const uint8_t*>(w) + size_t(g * kPalGroupRows) * w_stride;
    auto* panel = static_cast<uint8_t*>(dst) + size_t(g) * pal_panel_bytes(k);
    PalPanelHeader h{};
    float table[kPalEntries];
    pal_group_table(src, w_stride, table);
    float amax = 0.0f;
    for (float v : table) amax = std::max(amax, std::fabs(v));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int e = 0; e < kPalEntries; ++e) {
      const float q = std::round(table[e] * inv);
      h.table[e] = std::fabs(q) <= 127.0f ? int8_t(q) : 0;  // NaN / inf (a corrupt file) must not reach the cast
    }
    for (int r = 0; r < kPalGroupRows; ++r) {
      uint16_t scale;
      std::memcpy(&scale, src + size_t(r) * w_stride + 2, 2);
      h.factor[r] = fp16_to_fp32(scale) * (amax / 127.0f);
      std::memcpy(panel + sizeof(h) + size_t(r) * size_t(k / 2), src + size_t(r) * w_stride + kPalRowHeader,
                  size_t(k / 2));
    }
    std::memcpy(panel, &h, sizeof(h));
  }
}

namespace {

void pal_panels_scalar(int64_t k, const uint8_t* panels, int64_t nw, const void* a, size_t a_stride, int64_t na,
                       float* out, int64_t ldo) {
  const int64_t nb = k / kPalBlock;
  for (int64_t j = 0; j < nw; ++j) {
    const uint8_t* panel = panels + size_t(j / kPalGroupRows) * pal_panel_bytes(k);
    PalPanelHeader h;
    std::memcpy(&h, panel, sizeof(h));
    const uint8_t* idx = pal_panel_row(panel, k, j % kPalGroupRows);
    for (int64_t i = 0; i < na; ++i) {
      const auto* ab = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + size_t(i) * a_stride);
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* q = idx + b * (kPalBlock / 2);
        int32_t isum = 0;
        for (int c = 0; c < kPalBlock / 2; ++c)
          isum += h.table[q[c] & 0x0F] * ab[b].qs[c] + h.table[q[c] >> 4] * ab[b].qs[c + kPalBlock / 2];
        sum += float(isum) * fp16_to_fp32(ab[b].d);
      }
      out[i * ldo + j] = sum * h.factor[j % kPalGroupRows];
    }
  }
}

}  // namespace

void init_scalar_pal(KernelSet& ks) { ks.for_type(DType::PAL4G16) = pal_kernel<pal_panels_scalar>(quantize_row_q8_0); }

}  // namespace hearth::cpu
