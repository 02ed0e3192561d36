#include "tasks/ocr/strip.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace continuum::tasks::ocr {

namespace {

// The box as the strip reads it (turned when tall) and the strip's width.
std::pair<Quad, int> StripGeometry(Quad q, int height, int max_width) {
  auto dist = [](PointF a, PointF b) { return std::hypot(a.x - b.x, a.y - b.y); };
  int cw = std::max(1, static_cast<int>(std::max(dist(q[0], q[1]), dist(q[2], q[3]))));
  int ch = std::max(1, static_cast<int>(std::max(dist(q[0], q[3]), dist(q[1], q[2]))));
  if (ch >= 1.5 * cw) {
    q = {q[1], q[2], q[3], q[0]};
    std::swap(cw, ch);
  }
  const int w = std::clamp(static_cast<int>(std::ceil(static_cast<double>(height) * cw / ch)), 1, max_width);
  return {q, w};
}

}  // namespace

int StripWidth(const Quad& q, int height, int max_width) {
  return StripGeometry(q, height, max_width).second;
}

image::Image CropStrip(const image::Image& img, Quad q, int height, int max_width) {
  const auto [box, w] = StripGeometry(q, height, max_width);
  return image::WarpQuad(img, box, w, height, image::Interpolation::kBicubic);
}

}  // namespace continuum::tasks::ocr
