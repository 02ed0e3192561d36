#include "tasks/ocr/db_postprocess.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace continuum::tasks::ocr {

namespace {

float Cross(PointF o, PointF a, PointF b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); }
float Dist(PointF a, PointF b) { return std::hypot(a.x - b.x, a.y - b.y); }

// Twice the signed area (positive for corners listed clockwise on screen, y pointing down).
float SignedArea2(const Quad& q) {
  float s = 0;
  for (size_t i = 0; i < 4; ++i) {
    const PointF a = q[i], b = q[(i + 1) % 4];
    s += a.x * b.y - b.x * a.y;
  }
  return s;
}

}  // namespace

std::vector<std::vector<PointF>> ComponentOutlines(const std::vector<uint8_t>& mask, int h, int w,
                                                   int max_components) {
  std::vector<std::vector<PointF>> out;
  std::vector<uint8_t> seen(mask.size(), 0);
  std::vector<int> stack;
  std::vector<std::pair<int, int>> pixels;  // (x, y) of the current component
  std::vector<int> row_min, row_max;
  for (int y0 = 0; y0 < h; ++y0) {
    for (int x0 = 0; x0 < w; ++x0) {
      const size_t start = static_cast<size_t>(y0) * w + x0;
      if (!mask[start] || seen[start]) continue;
      if (static_cast<int>(out.size()) >= max_components) return out;
      pixels.clear();
      stack.assign(1, static_cast<int>(start));
      seen[start] = 1;
      int ymin = y0, ymax = y0;
      while (!stack.empty()) {
        const int i = stack.back();
        stack.pop_back();
        const int x = i % w, y = i / w;
        pixels.emplace_back(x, y);
        ymax = std::max(ymax, y);
        for (int dy = -1; dy <= 1; ++dy) {
          const int ny = y + dy;
          if (ny < 0 || ny >= h) continue;
          for (int dx = -1; dx <= 1; ++dx) {
            const int nx = x + dx;
            if (nx < 0 || nx >= w) continue;
            const size_t j = static_cast<size_t>(ny) * w + nx;
            if (mask[j] && !seen[j]) {
              seen[j] = 1;
              stack.push_back(static_cast<int>(j));
            }
          }
        }
      }
      // Raster order: nothing above y0 belongs to this component.
      const int rows = ymax - ymin + 1;
      row_min.assign(static_cast<size_t>(rows), std::numeric_limits<int>::max());
      row_max.assign(static_cast<size_t>(rows), -1);
      for (auto [x, y] : pixels) {
        row_min[static_cast<size_t>(y - ymin)] = std::min(row_min[static_cast<size_t>(y - ymin)], x);
        row_max[static_cast<size_t>(y - ymin)] = std::max(row_max[static_cast<size_t>(y - ymin)], x);
      }
      std::vector<PointF> outline;
      for (int r = 0; r < rows; ++r) {
        if (row_max[static_cast<size_t>(r)] < 0) continue;
        const float fy = static_cast<float>(ymin + r);
        outline.push_back({static_cast<float>(row_min[static_cast<size_t>(r)]), fy});
        if (row_max[static_cast<size_t>(r)] != row_min[static_cast<size_t>(r)]) {
          outline.push_back({static_cast<float>(row_max[static_cast<size_t>(r)]), fy});
        }
      }
      out.push_back(std::move(outline));
    }
  }
  return out;
}

std::vector<PointF> ConvexHull(std::vector<PointF> p) {
  std::sort(p.begin(), p.end(), [](PointF a, PointF b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
  p.erase(std::unique(p.begin(), p.end(), [](PointF a, PointF b) { return a.x == b.x && a.y == b.y; }),
          p.end());
  if (p.size() < 3) return p;
  std::vector<PointF> hull(2 * p.size());
  size_t k = 0;
  for (size_t i = 0; i < p.size(); ++i) {  // lower chain
    while (k >= 2 && Cross(hull[k - 2], hull[k - 1], p[i]) <= 0) --k;
    hull[k++] = p[i];
  }
  for (size_t i = p.size() - 1, t = k + 1; i > 0; --i) {  // upper chain
    while (k >= t && Cross(hull[k - 2], hull[k - 1], p[i - 1]) <= 0) --k;
    hull[k++] = p[i - 1];
  }
  hull.resize(k - 1);
  return hull;
}

Quad MinAreaRect(const std::vector<PointF>& points, float* short_side) {
  const std::vector<PointF> hull = ConvexHull(points);
  Quad corners{};
  *short_side = 0;
  if (hull.empty()) return corners;
  if (hull.size() == 1) {
    corners.fill(hull[0]);
    return corners;
  }
  double best = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < hull.size(); ++i) {
    const PointF a = hull[i], b = hull[(i + 1) % hull.size()];
    const double len = std::hypot(b.x - a.x, b.y - a.y);
    if (len == 0) continue;
    const double ux = (b.x - a.x) / len, uy = (b.y - a.y) / len;  // along the edge
    const double vx = -uy, vy = ux;                               // across it
    double min_u = INFINITY, max_u = -INFINITY, min_v = INFINITY, max_v = -INFINITY;
    for (PointF p : hull) {
      const double pu = p.x * ux + p.y * uy, pv = p.x * vx + p.y * vy;
      min_u = std::min(min_u, pu);
      max_u = std::max(max_u, pu);
      min_v = std::min(min_v, pv);
      max_v = std::max(max_v, pv);
    }
    const double area = (max_u - min_u) * (max_v - min_v);
    if (area < best - 1e-9) {
      best = area;
      auto at = [&](double pu, double pv) {
        return PointF{static_cast<float>(pu * ux + pv * vx), static_cast<float>(pu * uy + pv * vy)};
      };
      corners = {at(min_u, min_v), at(max_u, min_v), at(max_u, max_v), at(min_u, max_v)};
      *short_side = static_cast<float>(std::min(max_u - min_u, max_v - min_v));
    }
  }
  // get_mini_boxes' order: sort by x; of the two left points the upper is first, the lower
  // last; of the two right points the upper is second, the lower third.
  std::array<PointF, 4> s = corners;
  std::stable_sort(s.begin(), s.end(), [](PointF a, PointF b) { return a.x < b.x; });
  const bool left_first_is_top = s[1].y > s[0].y;
  const bool right_first_is_top = s[3].y > s[2].y;
  return {left_first_is_top ? s[0] : s[1], right_first_is_top ? s[2] : s[3], right_first_is_top ? s[3] : s[2],
          left_first_is_top ? s[1] : s[0]};
}

float BoxScore(const float* prob, int h, int w, const Quad& q) {
  float fxmin = q[0].x, fxmax = q[0].x, fymin = q[0].y, fymax = q[0].y;
  for (const PointF& p : q) {
    fxmin = std::min(fxmin, p.x);
    fxmax = std::max(fxmax, p.x);
    fymin = std::min(fymin, p.y);
    fymax = std::max(fymax, p.y);
  }
  const int xmin = std::clamp(static_cast<int>(std::floor(fxmin)), 0, w - 1);
  const int xmax = std::clamp(static_cast<int>(std::ceil(fxmax)), 0, w - 1);
  const int ymin = std::clamp(static_cast<int>(std::floor(fymin)), 0, h - 1);
  const int ymax = std::clamp(static_cast<int>(std::ceil(fymax)), 0, h - 1);
  // As fillPoly: integer vertices, edge pixels included (within half a pixel of an edge).
  Quad iq;
  for (size_t i = 0; i < 4; ++i) iq[i] = {std::trunc(q[i].x), std::trunc(q[i].y)};
  const float sign = SignedArea2(iq) >= 0 ? 1.f : -1.f;
  const bool degenerate = std::abs(SignedArea2(iq)) < 1e-3f;
  double sum = 0;
  int64_t count = 0;
  for (int y = ymin; y <= ymax; ++y) {
    for (int x = xmin; x <= xmax; ++x) {
      bool inside = true;
      if (!degenerate) {
        const PointF p{static_cast<float>(x), static_cast<float>(y)};
        for (size_t i = 0; i < 4 && inside; ++i) {
          const PointF a = iq[i], b = iq[(i + 1) % 4];
          const float len = Dist(a, b);
          if (len == 0) continue;
          inside = sign * Cross(a, b, p) / len >= -0.5f;
        }
      }
      if (inside) {
        sum += prob[static_cast<size_t>(y) * w + x];
        ++count;
      }
    }
  }
  return count ? static_cast<float>(sum / static_cast<double>(count)) : 0.f;
}

Quad Unclip(const Quad& q, float ratio) {
  const float area2 = SignedArea2(q);
  float perimeter = 0;
  for (size_t i = 0; i < 4; ++i) perimeter += Dist(q[i], q[(i + 1) % 4]);
  if (perimeter <= 0 || area2 == 0) return q;
  const float d = std::abs(area2) / 2 * ratio / perimeter;
  const float sign = area2 > 0 ? 1.f : -1.f;
  // Each edge moved outward by d; new corners where neighbouring moved edges meet.
  std::array<PointF, 4> normal{}, dir{};
  for (size_t i = 0; i < 4; ++i) {
    const PointF a = q[i], b = q[(i + 1) % 4];
    const float len = Dist(a, b);
    dir[i] = len > 0 ? PointF{(b.x - a.x) / len, (b.y - a.y) / len} : PointF{0, 0};
    normal[i] = {sign * dir[i].y, -sign * dir[i].x};
  }
  Quad out;
  for (size_t i = 0; i < 4; ++i) {
    const size_t prev = (i + 3) % 4;
    // Line prev: q[i] + d*n_prev + t*dir_prev; line i: q[i] + d*n_i + s*dir_i.
    const PointF pa{q[i].x + d * normal[prev].x, q[i].y + d * normal[prev].y};
    const PointF pb{q[i].x + d * normal[i].x, q[i].y + d * normal[i].y};
    const float den = dir[prev].x * dir[i].y - dir[prev].y * dir[i].x;
    if (std::abs(den) < 1e-6f) {
      out[i] = {q[i].x + d * (normal[prev].x + normal[i].x), q[i].y + d * (normal[prev].y + normal[i].y)};
      continue;
    }
    const float t = ((pb.x - pa.x) * dir[i].y - (pb.y - pa.y) * dir[i].x) / den;
    out[i] = {pa.x + t * dir[prev].x, pa.y + t * dir[prev].y};
  }
  return out;
}

Quad OrderClockwise(const Quad& q) {
  size_t tl = 0, br = 0;
  for (size_t i = 1; i < 4; ++i) {
    if (q[i].x + q[i].y < q[tl].x + q[tl].y) tl = i;
    if (q[i].x + q[i].y > q[br].x + q[br].y) br = i;
  }
  if (tl == br) br = (tl + 2) % 4;  // all sums equal (degenerate)
  size_t rest[2], n = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (i != tl && i != br) rest[n++] = i;
  }
  const float d0 = q[rest[0]].y - q[rest[0]].x, d1 = q[rest[1]].y - q[rest[1]].x;
  const size_t tr = d0 <= d1 ? rest[0] : rest[1];
  const size_t bl = d0 <= d1 ? rest[1] : rest[0];
  return {q[tl], q[tr], q[br], q[bl]};
}

void SortReadingOrder(std::vector<TextBox>& boxes) {
  std::stable_sort(boxes.begin(), boxes.end(), [](const TextBox& a, const TextBox& b) {
    if (a.quad[0].y != b.quad[0].y) return a.quad[0].y < b.quad[0].y;
    return a.quad[0].x < b.quad[0].x;
  });
  for (size_t i = 0; i + 1 < boxes.size(); ++i) {
    for (size_t j = i + 1; j-- > 0;) {
      if (std::abs(boxes[j + 1].quad[0].y - boxes[j].quad[0].y) < 10 &&
          boxes[j + 1].quad[0].x < boxes[j].quad[0].x) {
        std::swap(boxes[j], boxes[j + 1]);
      } else {
        break;
      }
    }
  }
}

std::vector<TextBox> DbBoxes(const float* prob, int h, int w, int dest_w, int dest_h, const DbParams& p) {
  std::vector<TextBox> boxes;
  if (h <= 0 || w <= 0 || dest_w <= 0 || dest_h <= 0) return boxes;
  std::vector<uint8_t> mask(static_cast<size_t>(h) * w);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = prob[i] > p.thresh;
  const float sx = static_cast<float>(dest_w) / w, sy = static_cast<float>(dest_h) / h;
  for (const auto& outline : ComponentOutlines(mask, h, w, p.max_candidates)) {
    float side = 0;
    const Quad box = MinAreaRect(outline, &side);
    if (side < p.min_size) continue;
    const float score = BoxScore(prob, h, w, box);
    if (score < p.box_thresh) continue;
    const Quad grown = Unclip(box, p.unclip_ratio);
    Quad r = MinAreaRect(std::vector<PointF>(grown.begin(), grown.end()), &side);
    if (side < p.min_size + 2) continue;
    for (PointF& pt : r) {  // to the image, then clipped to its last pixel (filter_tag_det_res)
      pt.x = std::clamp(std::round(pt.x * sx), 0.f, static_cast<float>(dest_w));
      pt.y = std::clamp(std::round(pt.y * sy), 0.f, static_cast<float>(dest_h));
    }
    r = OrderClockwise(r);
    for (PointF& pt : r) {
      pt.x = std::trunc(std::min(pt.x, static_cast<float>(dest_w - 1)));
      pt.y = std::trunc(std::min(pt.y, static_cast<float>(dest_h - 1)));
    }
    if (static_cast<int>(Dist(r[0], r[1])) <= 3 || static_cast<int>(Dist(r[0], r[3])) <= 3) continue;
    boxes.push_back({r, score});
  }
  SortReadingOrder(boxes);
  return boxes;
}

}  // namespace continuum::tasks::ocr
