// PAL4G16 weights as the CPU kernels read them: each 16-row group is repacked once, when its matrix is prepared,
// into a panel that holds the group's table as int8 (t8 = round(127 * entry / max |entry|)), each row's F32 factor
// (its F16 scale times max |entry| / 127) and the 16 rows' index bytes, row after row, as stored. A product is then,
// per weight row and activation row, the exact integer sum over each 32-value block of t8[index] * q (the
// activation's Q8_0 quants) times the block's activation scale, summed in F32, times the row's factor.
// Internal to src/backends/cpu.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backends/cpu/kernels.h"
#include "core/palettize.h"

namespace hearth::cpu {

struct PalPanelHeader {
  int8_t table[kPalEntries];
  uint8_t pad[48];  // the factors start a cache line
  float factor[kPalGroupRows];
};
static_assert(sizeof(PalPanelHeader) == 128);

inline size_t pal_panel_bytes(int64_t k) { return sizeof(PalPanelHeader) + size_t(k / 2) * kPalGroupRows; }
inline const uint8_t* pal_panel_row(const uint8_t* panel, int64_t k, int64_t r) {
  return panel + sizeof(PalPanelHeader) + size_t(r) * size_t(k / 2);
}

size_t pal_packed_bytes(int64_t k, int64_t nw);
// nw source rows (a multiple of 16, starting a group) to nw / 16 panels.
void pal_pack(int64_t k, const void* w, size_t w_stride, int64_t nw, void* dst);

// nw weight rows (whole panels, back to back from `panels`) times na Q8_0 activation rows.
using PalPanelsFn = void (*)(int64_t k, const uint8_t* panels, int64_t nw, const void* a, size_t a_stride, int64_t na,
                             float* out, int64_t ldo);

// The MatmulKernel entry of a level: packed at load; source rows (an embedding table before its first product) are
// packed group by group into scratch per call, so both paths give the same bits.
template <PalPanelsFn Panels>
void pal_tile_unpacked(int64_t k, const void* w, size_t w_stride, int64_t nw, const void* a, size_t a_stride,
                       int64_t na, float* out, int64_t ldo) {
  thread_local Scratch scratch;
  uint8_t* panel = scratch.get<uint8_t>(pal_panel_bytes(k));
  for (int64_t j0 = 0; j0 < nw; j0 += kPalGroupRows) {
    pal_pack(k, static_cast<const uint8_t*>(w) + size_t(j0) * w_stride, w_stride, kPalGroupRows, panel);
    Panels(k, panel, kPalGroupRows, a, a_stride, na, out + j0, ldo);
  }
}
template <PalPanelsFn Panels>
void pal_tile_packed(int64_t k, const void* packed, const void*, size_t, int64_t nw, const void* a, size_t a_stride,
                     int64_t na, float* out, int64_t ldo) {
  Panels(k, static_cast<const uint8_t*>(packed), nw, a, a_stride, na, out, ldo);
}
template <PalPanelsFn Panels>
MatmulKernel pal_kernel(QuantizeRowFn quantize_q8_0) {
  return MatmulKernel{DType::Q8_0,      quantize_q8_0,    pal_tile_unpacked<Panels>, kPalGroupRows, 64,
                      pal_packed_bytes, pal_pack,         pal_tile_packed<Panels>};
}

}  // namespace hearth::cpu
