// IEEE half and bfloat16 <-> float conversions, bit-exact (round-to-nearest-even), usable in any TU.
#pragma once

#include <cstdint>
#include <cstring>

namespace hearth {

inline float fp32_from_bits(uint32_t w) {
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}
inline uint32_t fp32_to_bits(float f) {
  uint32_t w;
  std::memcpy(&w, &f, 4);
  return w;
}

inline float fp16_to_fp32(uint16_t h) {
  // Exact: every half is representable as a float.
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return fp32_from_bits(sign | 0x7f800000u | (mant << 13));  // inf / nan
  if (exp == 0) {
    if (mant == 0) return fp32_from_bits(sign);
    // Subnormal: normalize.
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while ((mant & 0x400) == 0);
    mant &= 0x3ff;
    return fp32_from_bits(sign | (uint32_t(127 - 15 - e) << 23) | (mant << 13));
  }
  return fp32_from_bits(sign | ((exp + (127 - 15)) << 23) | (mant << 13));
}

inline uint16_t fp32_to_fp16(float f) {
  // Round to nearest even, with overflow to inf, as the F16C instruction does.
  const uint32_t x = fp32_to_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t abs = x & 0x7fffffff;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00 | ((abs >> 13) & 0x3ff));  // nan
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00);                          // overflow -> inf
  if (abs < 0x38800000u) {                                                           // subnormal or zero
    // Add the magic 0.5 to let the FPU do the rounding of the shifted mantissa.
    const float magic = fp32_from_bits(0x3f000000u);  // 0.5
    float v = fp32_from_bits(abs) + magic;
    return uint16_t(sign | (fp32_to_bits(v) - fp32_to_bits(magic)));
  }
  uint32_t mant_odd = (abs >> 13) & 1;
  uint32_t rounded = abs + 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
  return uint16_t(sign | (rounded >> 13));
}

inline float bf16_to_fp32(uint16_t h) { return fp32_from_bits(uint32_t(h) << 16); }

inline uint16_t fp32_to_bf16(float f) {
  uint32_t x = fp32_to_bits(f);
  if ((x & 0x7fffffff) > 0x7f800000u) return uint16_t((x >> 16) | 64);  // quiet nan
  return uint16_t((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

}  // namespace hearth
