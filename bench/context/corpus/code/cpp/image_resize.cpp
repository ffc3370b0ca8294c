// Downscaling of decoded RGB images for thumbnails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3, row-major
};

// Largest size with the same aspect ratio that fits in a box of max_side x max_side; never upscales.
static void fit_within(int w, int h, int max_side, int* out_w, int* out_h) {
  if (w <= max_side && h <= max_side) {
    *out_w = w;
    *out_h = h;
    return;
  }
  const double scale = double(max_side) / double(std::max(w, h));
  *out_w = std::max(1, int(std::lround(w * scale)));
  *out_h = std::max(1, int(std::lround(h * scale)));
}

// Box filter: each output pixel is the mean of the source pixels it covers. For reductions by more than two
// this is both faster than bilinear sampling and free of the aliasing bilinear shows on fine patterns.
Image downscale_box(const Image& src, int max_side) {
  Image dst;
  fit_within(src.width, src.height, max_side, &dst.width, &dst.height);
  dst.rgb.resize(size_t(dst.width) * dst.height * 3);
  const double sx = double(src.width) / dst.width, sy = double(src.height) / dst.height;
  for (int y = 0; y < dst.height; ++y) {
    const int y0 = int(y * sy), y1 = std::max(y0 + 1, int((y + 1) * sy));
    for (int x = 0; x < dst.width; ++x) {
      const int x0 = int(x * sx), x1 = std::max(x0 + 1, int((x + 1) * sx));
      uint32_t sum[3] = {0, 0, 0};
      for (int yy = y0; yy < y1; ++yy)
        for (int xx = x0; xx < x1; ++xx)
          for (int c = 0; c < 3; ++c) sum[c] += src.rgb[(size_t(yy) * src.width + xx) * 3 + c];
      const uint32_t n = uint32_t((y1 - y0) * (x1 - x0));
      for (int c = 0; c < 3; ++c) dst.rgb[(size_t(y) * dst.width + x) * 3 + c] = uint8_t((sum[c] + n / 2) / n);
    }
  }
  return dst;
}

// Bilinear interpolation, for small reductions and for enlarging a crop.
Image resize_bilinear(const Image& src, int out_w, int out_h) {
  Image dst{out_w, out_h, std::vector<uint8_t>(size_t(out_w) * out_h * 3)};
  for (int y = 0; y < out_h; ++y) {
    const double fy = (y + 0.5) * src.height / out_h - 0.5;
    const int y0 = std::clamp(int(std::floor(fy)), 0, src.height - 1);
    const int y1 = std::min(y0 + 1, src.height - 1);
    const double wy = std::clamp(fy - y0, 0.0, 1.0);
    for (int x = 0; x < out_w; ++x) {
      const double fx = (x + 0.5) * src.width / out_w - 0.5;
      const int x0 = std::clamp(int(std::floor(fx)), 0, src.width - 1);
      const int x1 = std::min(x0 + 1, src.width - 1);
      const double wx = std::clamp(fx - x0, 0.0, 1.0);
      for (int c = 0; c < 3; ++c) {
        auto px = [&](int xx, int yy) { return double(src.rgb[(size_t(yy) * src.width + xx) * 3 + c]); };
        const double top = px(x0, y0) * (1 - wx) + px(x1, y0) * wx;
        const double bottom = px(x0, y1) * (1 - wx) + px(x1, y1) * wx;
        dst.rgb[(size_t(y) * out_w + x) * 3 + c] = uint8_t(std::lround(top * (1 - wy) + bottom * wy));
      }
    }
  }
  return dst;
}
