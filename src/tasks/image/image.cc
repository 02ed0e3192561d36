#include "tasks/image/image.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace continuum::image {

namespace {

// Source coordinate and weight for each destination index along one axis (OpenCV's
// INTER_LINEAR: centre-aligned, clamped at the borders).
struct Tap {
  int i0, i1;
  float w1;  // weight of i1; i0 gets 1 - w1
};

std::vector<Tap> Taps(int src, int dst) {
  std::vector<Tap> taps(static_cast<size_t>(dst));
  const double scale = static_cast<double>(src) / dst;
  for (int d = 0; d < dst; ++d) {
    double s = (d + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    int i0 = static_cast<int>(std::floor(s));
    float w1 = static_cast<float>(s - i0);
    if (i0 >= src - 1) {
      i0 = src - 1;
      w1 = 0;
    }
    taps[static_cast<size_t>(d)] = {i0, std::min(i0 + 1, src - 1), w1};
  }
  return taps;
}

inline uint8_t ToByte(float v) { return static_cast<uint8_t>(std::clamp(v + 0.5f, 0.f, 255.f)); }

// Generic remap for the eight orientations: output (x, y) reads the source at map(x, y).
template <typename Map>
Image Remap(const Image& src, int w, int h, Map map) {
  Image out(w, h);
  for (int y = 0; y < h; ++y) {
    uint8_t* o = out.row(y);
    for (int x = 0; x < w; ++x, o += 3) {
      auto [sx, sy] = map(x, y);
      const uint8_t* s = src.at(sx, sy);
      o[0] = s[0];
      o[1] = s[1];
      o[2] = s[2];
    }
  }
  return out;
}

}  // namespace

Image Resize(const Image& src, int w, int h) {
  assert(w >= 1 && h >= 1 && !src.empty());
  if (w == src.width && h == src.height) return src;
  const auto xs = Taps(src.width, w);
  const auto ys = Taps(src.height, h);
  Image out(w, h);
  std::vector<float> top(static_cast<size_t>(w) * 3), bottom(static_cast<size_t>(w) * 3);
  auto horizontal = [&](int sy, float* dst) {
    const uint8_t* r = src.row(sy);
    for (int x = 0; x < w; ++x) {
      const Tap& t = xs[static_cast<size_t>(x)];
      const uint8_t* a = r + static_cast<size_t>(t.i0) * 3;
      const uint8_t* b = r + static_cast<size_t>(t.i1) * 3;
      for (int c = 0; c < 3; ++c) dst[x * 3 + c] = a[c] + (b[c] - a[c]) * t.w1;
    }
  };
  int top_row = -1, bottom_row = -1;
  for (int y = 0; y < h; ++y) {
    const Tap& t = ys[static_cast<size_t>(y)];
    if (t.i0 == bottom_row && t.i0 != top_row) {  // moved down one source row: reuse it
      std::swap(top, bottom);
      std::swap(top_row, bottom_row);
    }
    if (t.i0 != top_row) {
      horizontal(t.i0, top.data());
      top_row = t.i0;
    }
    if (t.i1 != bottom_row) {
      horizontal(t.i1, bottom.data());
      bottom_row = t.i1;
    }
    uint8_t* o = out.row(y);
    for (int i = 0; i < w * 3; ++i) o[i] = ToByte(top[i] + (bottom[i] - top[i]) * t.w1);
  }
  return out;
}

Image Shrink(const Image& src, int factor) {
  assert(factor >= 1);
  if (factor == 1) return src;
  const int w = std::max(1, src.width / factor), h = std::max(1, src.height / factor);
  const int fx = std::min(factor, src.width), fy = std::min(factor, src.height);
  Image out(w, h);
  std::vector<uint32_t> acc(static_cast<size_t>(w) * 3);
  for (int y = 0; y < h; ++y) {
    std::fill(acc.begin(), acc.end(), 0u);
    for (int dy = 0; dy < fy; ++dy) {
      const uint8_t* r = src.row(y * fy + dy);
      for (int x = 0; x < w; ++x) {
        const uint8_t* p = r + static_cast<size_t>(x) * fx * 3;
        for (int dx = 0; dx < fx; ++dx, p += 3) {
          acc[static_cast<size_t>(x) * 3] += p[0];
          acc[static_cast<size_t>(x) * 3 + 1] += p[1];
          acc[static_cast<size_t>(x) * 3 + 2] += p[2];
        }
      }
    }
    const uint32_t n = static_cast<uint32_t>(fx * fy);
    uint8_t* o = out.row(y);
    for (size_t i = 0; i < acc.size(); ++i) o[i] = static_cast<uint8_t>((acc[i] + n / 2) / n);
  }
  return out;
}

Image ResizeAntialiased(const Image& src, int w, int h) {
  const int factor = std::max(1, std::min(src.width / (2 * w), src.height / (2 * h)));
  if (factor == 1) return Resize(src, w, h);
  return Resize(Shrink(src, factor), w, h);
}

Image Crop(const Image& src, int x, int y, int w, int h) {
  const int x0 = std::clamp(x, 0, src.width), y0 = std::clamp(y, 0, src.height);
  const int x1 = std::clamp(x + std::max(w, 0), x0, src.width);
  const int y1 = std::clamp(y + std::max(h, 0), y0, src.height);
  Image out(x1 - x0, y1 - y0);
  for (int r = y0; r < y1; ++r) {
    std::copy_n(src.at(x0, r), static_cast<size_t>(x1 - x0) * 3, out.row(r - y0));
  }
  return out;
}

Image Rotate90(const Image& src, bool clockwise) {
  const int w = src.height, h = src.width;
  if (clockwise) return Remap(src, w, h, [&](int x, int y) { return std::pair{y, src.height - 1 - x}; });
  return Remap(src, w, h, [&](int x, int y) { return std::pair{src.width - 1 - y, x}; });
}

Image Rotate180(const Image& src) {
  return Remap(src, src.width, src.height, [&](int x, int y) {
    return std::pair{src.width - 1 - x, src.height - 1 - y};
  });
}

Image ApplyExifOrientation(const Image& src, int orientation) {
  const int W = src.width, H = src.height;
  switch (orientation) {
    case 2: return Remap(src, W, H, [&](int x, int y) { return std::pair{W - 1 - x, y}; });  // mirror
    case 3: return Rotate180(src);
    case 4: return Remap(src, W, H, [&](int x, int y) { return std::pair{x, H - 1 - y}; });  // flip
    case 5: return Remap(src, H, W, [&](int x, int y) { return std::pair{y, x}; });          // transpose
    case 6: return Rotate90(src, true);
    case 7:
      return Remap(src, H, W, [&](int x, int y) { return std::pair{W - 1 - y, H - 1 - x}; });  // transverse
    case 8: return Rotate90(src, false);
    default: return src;
  }
}

namespace {

// OpenCV's cubic convolution weights for the four taps around a fractional offset t in [0, 1).
inline void CubicWeights(float t, float w[4]) {
  constexpr float A = -0.75f;
  w[0] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
  w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
  w[2] = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
  w[3] = 1.f - w[0] - w[1] - w[2];
}

void SampleBicubic(const Image& src, float px, float py, uint8_t* out) {
  const int ix = static_cast<int>(std::floor(px)), iy = static_cast<int>(std::floor(py));
  float wx[4], wy[4];
  CubicWeights(px - ix, wx);
  CubicWeights(py - iy, wy);
  int xs[4], ys[4];
  for (int k = 0; k < 4; ++k) {
    xs[k] = std::clamp(ix - 1 + k, 0, src.width - 1);
    ys[k] = std::clamp(iy - 1 + k, 0, src.height - 1);
  }
  float acc[3] = {0, 0, 0};
  for (int j = 0; j < 4; ++j) {
    const uint8_t* r = src.row(ys[j]);
    float racc[3] = {0, 0, 0};
    for (int k = 0; k < 4; ++k) {
      const uint8_t* p = r + static_cast<size_t>(xs[k]) * 3;
      racc[0] += wx[k] * p[0];
      racc[1] += wx[k] * p[1];
      racc[2] += wx[k] * p[2];
    }
    acc[0] += wy[j] * racc[0];
    acc[1] += wy[j] * racc[1];
    acc[2] += wy[j] * racc[2];
  }
  out[0] = ToByte(acc[0]);
  out[1] = ToByte(acc[1]);
  out[2] = ToByte(acc[2]);
}

}  // namespace

Image WarpQuad(const Image& src, const Quad& q, int w, int h, Interpolation interpolation) {
  assert(w >= 1 && h >= 1 && !src.empty());
  // Unit square -> quad (Heckbert's closed form), then u = x / w, v = y / h.
  const double x0 = q[0].x, y0 = q[0].y, x1 = q[1].x, y1 = q[1].y;
  const double x2 = q[2].x, y2 = q[2].y, x3 = q[3].x, y3 = q[3].y;
  const double sx = x0 - x1 + x2 - x3, sy = y0 - y1 + y2 - y3;
  const double dx1 = x1 - x2, dx2 = x3 - x2, dy1 = y1 - y2, dy2 = y3 - y2;
  double g = 0, hh = 0;
  const double den = dx1 * dy2 - dx2 * dy1;
  if ((sx != 0 || sy != 0) && std::abs(den) > 1e-9) {
    g = (sx * dy2 - dx2 * sy) / den;
    hh = (dx1 * sy - sx * dy1) / den;
  }
  const double a = x1 - x0 + g * x1, b = x3 - x0 + hh * x3, c = x0;
  const double d = y1 - y0 + g * y1, e = y3 - y0 + hh * y3, f = y0;

  Image out(w, h);
  const float max_x = static_cast<float>(src.width - 1), max_y = static_cast<float>(src.height - 1);
  for (int y = 0; y < h; ++y) {
    const double v = static_cast<double>(y) / h;
    uint8_t* o = out.row(y);
    for (int x = 0; x < w; ++x, o += 3) {
      const double u = static_cast<double>(x) / w;
      const double z = g * u + hh * v + 1;
      float px = static_cast<float>((a * u + b * v + c) / z);
      float py = static_cast<float>((d * u + e * v + f) / z);
      if (!std::isfinite(px)) px = 0;
      if (!std::isfinite(py)) py = 0;
      px = std::clamp(px, 0.f, max_x);
      py = std::clamp(py, 0.f, max_y);
      if (interpolation == Interpolation::kBicubic) {
        SampleBicubic(src, px, py, o);
        continue;
      }
      const int ix = static_cast<int>(px), iy = static_cast<int>(py);
      const int jx = std::min(ix + 1, src.width - 1), jy = std::min(iy + 1, src.height - 1);
      const float fx = px - ix, fy = py - iy;
      const uint8_t* p00 = src.at(ix, iy);
      const uint8_t* p10 = src.at(jx, iy);
      const uint8_t* p01 = src.at(ix, jy);
      const uint8_t* p11 = src.at(jx, jy);
      for (int ch = 0; ch < 3; ++ch) {
        const float t = p00[ch] + (p10[ch] - p00[ch]) * fx;
        const float b2 = p01[ch] + (p11[ch] - p01[ch]) * fx;
        o[ch] = ToByte(t + (b2 - t) * fy);
      }
    }
  }
  return out;
}

void WriteChw(const Image& src, const ChwNormalization& n, float* dst, int dst_h, int dst_w) {
  assert(src.width <= dst_w && src.height <= dst_h);
  const size_t plane = static_cast<size_t>(dst_h) * static_cast<size_t>(dst_w);
  for (int c = 0; c < 3; ++c) {
    const int sc = n.bgr ? 2 - c : c;
    // value = p * (scale / std) - mean / std: one multiply-add per element.
    const float mul = n.scale / n.std[static_cast<size_t>(c)];
    const float add = -n.mean[static_cast<size_t>(c)] / n.std[static_cast<size_t>(c)];
    float* plane_dst = dst + plane * static_cast<size_t>(c);
    for (int y = 0; y < src.height; ++y) {
      const uint8_t* s = src.row(y) + sc;
      float* o = plane_dst + static_cast<size_t>(y) * static_cast<size_t>(dst_w);
      for (int x = 0; x < src.width; ++x) o[x] = s[static_cast<size_t>(x) * 3] * mul + add;
    }
  }
}

std::vector<float> ToChw(const Image& src, const ChwNormalization& norm) {
  std::vector<float> out(static_cast<size_t>(src.width) * static_cast<size_t>(src.height) * 3);
  WriteChw(src, norm, out.data(), src.height, src.width);
  return out;
}

}  // namespace continuum::image
