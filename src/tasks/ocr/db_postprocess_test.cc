#include "tasks/ocr/db_postprocess.h"

#include <gtest/gtest.h>

#include <cmath>

namespace continuum::tasks::ocr {
namespace {

struct Map {
  int h, w;
  std::vector<float> p;
  Map(int h_, int w_) : h(h_), w(w_), p(static_cast<size_t>(h_) * w_, 0.f) {}
  void Fill(int x0, int y0, int x1, int y1, float v) {  // inclusive
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) p[static_cast<size_t>(y) * w + x] = v;
    }
  }
};

float Side(PointF a, PointF b) { return std::hypot(a.x - b.x, a.y - b.y); }

TEST(DbPostprocessTest, UnclipGrowsARectangleByAreaTimesRatioOverPerimeter) {
  Quad q = {PointF{0, 0}, PointF{10, 0}, PointF{10, 4}, PointF{0, 4}};
  const float d = 40.f * 1.5f / 28.f;
  Quad u = Unclip(q, 1.5f);
  EXPECT_NEAR(u[0].x, -d, 1e-4);
  EXPECT_NEAR(u[0].y, -d, 1e-4);
  EXPECT_NEAR(u[1].x, 10 + d, 1e-4);
  EXPECT_NEAR(u[1].y, -d, 1e-4);
  EXPECT_NEAR(u[2].x, 10 + d, 1e-4);
  EXPECT_NEAR(u[2].y, 4 + d, 1e-4);
  EXPECT_NEAR(u[3].x, -d, 1e-4);
  EXPECT_NEAR(u[3].y, 4 + d, 1e-4);
  // Counter-clockwise input grows outward too.
  Quad ccw = {q[0], q[3], q[2], q[1]};
  Quad v = Unclip(ccw, 1.5f);
  EXPECT_NEAR(v[0].x, -d, 1e-4);
  EXPECT_NEAR(v[2].x, 10 + d, 1e-4);
  // A rotated rectangle keeps its shape: each side grows by 2d.
  const float c = std::cos(0.5f), s = std::sin(0.5f);
  Quad r;
  for (size_t i = 0; i < 4; ++i) r[i] = {q[i].x * c - q[i].y * s + 50, q[i].x * s + q[i].y * c + 20};
  Quad ru = Unclip(r, 1.5f);
  EXPECT_NEAR(Side(ru[0], ru[1]), 10 + 2 * d, 1e-3);
  EXPECT_NEAR(Side(ru[1], ru[2]), 4 + 2 * d, 1e-3);
  // Degenerate input is returned as is.
  Quad line = {PointF{0, 0}, PointF{5, 0}, PointF{5, 0}, PointF{0, 0}};
  EXPECT_EQ(Unclip(line, 1.5f)[1].x, 5);
}

TEST(DbPostprocessTest, MinAreaRectOfARotatedRectangle) {
  std::vector<PointF> pts;
  const float c = std::cos(0.3f), s = std::sin(0.3f);
  for (int i = 0; i <= 40; ++i) {
    for (int j = 0; j <= 10; ++j) pts.push_back({i * c - j * s + 100, i * s + j * c + 50});
  }
  float side = 0;
  Quad q = MinAreaRect(pts, &side);
  EXPECT_NEAR(side, 10, 1e-3);
  EXPECT_NEAR(Side(q[0], q[1]), 40, 1e-3);
  EXPECT_NEAR(Side(q[1], q[2]), 10, 1e-3);
  // get_mini_boxes order: top-left, top-right, bottom-right, bottom-left.
  EXPECT_LT(q[0].x, q[1].x);
  EXPECT_LT(q[1].y, q[2].y);
  EXPECT_LT(q[3].x, q[2].x);
  // Few points.
  EXPECT_EQ(MinAreaRect({}, &side)[0].x, 0);
  EXPECT_EQ(side, 0);
  MinAreaRect({PointF{3, 3}}, &side);
  EXPECT_EQ(side, 0);
  MinAreaRect({PointF{0, 0}, PointF{9, 0}}, &side);
  EXPECT_EQ(side, 0);
}

TEST(DbPostprocessTest, ConvexHullDropsInteriorAndCollinearPoints) {
  std::vector<PointF> pts = {{0, 0}, {2, 0}, {4, 0}, {4, 4}, {0, 4}, {2, 2}, {1, 3}, {0, 2}, {0, 0}};
  auto hull = ConvexHull(pts);
  EXPECT_EQ(hull.size(), 4u);
}

TEST(DbPostprocessTest, ComponentsAreEightConnectedAndCapped) {
  // Three blobs; two of them touch diagonally (one component).
  std::vector<uint8_t> mask(10 * 10, 0);
  auto set = [&](int x, int y) { mask[static_cast<size_t>(y) * 10 + x] = 1; };
  set(1, 1);
  set(2, 2);  // diagonal neighbour of (1,1)
  set(7, 1);
  set(7, 2);
  set(4, 8);
  EXPECT_EQ(ComponentOutlines(mask, 10, 10, 100).size(), 3u);
  EXPECT_EQ(ComponentOutlines(mask, 10, 10, 2).size(), 2u);
  auto outlines = ComponentOutlines(mask, 10, 10, 100);
  EXPECT_EQ(outlines[0].size(), 2u);  // (1,1) and (2,2): one point per row
}

TEST(DbPostprocessTest, BoxScoreIsTheMeanInsideTheQuad) {
  Map m(20, 20);
  m.Fill(5, 5, 14, 9, 0.8f);
  Quad inside = {PointF{5, 5}, PointF{14, 5}, PointF{14, 9}, PointF{5, 9}};
  EXPECT_NEAR(BoxScore(m.p.data(), m.h, m.w, inside), 0.8f, 1e-5);
  Quad twice = {PointF{5, 5}, PointF{14, 5}, PointF{14, 14}, PointF{5, 14}};
  EXPECT_NEAR(BoxScore(m.p.data(), m.h, m.w, twice), 0.4f, 0.01);
  Quad outside = {PointF{-50, -50}, PointF{-40, -50}, PointF{-40, -40}, PointF{-50, -40}};
  EXPECT_GE(BoxScore(m.p.data(), m.h, m.w, outside), 0.f);  // clamped, no crash
}

TEST(DbPostprocessTest, OrderClockwiseFromAnyCornerOrder) {
  Quad q = {PointF{10, 20}, PointF{0, 0}, PointF{0, 20}, PointF{10, 0}};
  Quad o = OrderClockwise(q);
  EXPECT_EQ(o[0].x, 0);
  EXPECT_EQ(o[0].y, 0);
  EXPECT_EQ(o[1].x, 10);
  EXPECT_EQ(o[1].y, 0);
  EXPECT_EQ(o[2].x, 10);
  EXPECT_EQ(o[2].y, 20);
  EXPECT_EQ(o[3].x, 0);
  EXPECT_EQ(o[3].y, 20);
}

TEST(DbPostprocessTest, ReadingOrder) {
  auto box = [](float x, float y) {
    return TextBox{Quad{PointF{x, y}, PointF{x + 20, y}, PointF{x + 20, y + 8}, PointF{x, y + 8}}, 1.f};
  };
  std::vector<TextBox> boxes = {box(50, 100), box(300, 10), box(10, 105), box(5, 200), box(100, 40)};
  SortReadingOrder(boxes);
  std::vector<std::pair<float, float>> got;
  for (const auto& b : boxes) got.emplace_back(b.quad[0].x, b.quad[0].y);
  // (10,105) is on the same line as (50,100) (tops within 10 px) and further left.
  std::vector<std::pair<float, float>> want = {{300, 10}, {100, 40}, {10, 105}, {50, 100}, {5, 200}};
  EXPECT_EQ(got, want);
}

TEST(DbPostprocessTest, BoxesFromASyntheticProbabilityMap) {
  Map m(64, 128);
  m.Fill(10, 8, 49, 19, 0.9f);     // a line of text
  m.Fill(60, 40, 119, 51, 0.95f);  // another, lower
  m.Fill(5, 40, 40, 50, 0.5f);     // above thresh but below box_thresh: dropped
  m.Fill(100, 2, 101, 3, 0.99f);   // too small: dropped
  auto boxes = DbBoxes(m.p.data(), m.h, m.w, m.w, m.h, DbParams{});
  ASSERT_EQ(boxes.size(), 2u);
  // Component extents 39 x 11 (pixel centres), grown by 39*11*1.5/100 = 6.435 on each side.
  const TextBox& a = boxes[0];
  EXPECT_NEAR(a.score, 0.9f, 1e-4);
  EXPECT_NEAR(a.quad[0].x, 10 - 6.435, 1.01);
  EXPECT_NEAR(a.quad[0].y, 8 - 6.435, 1.01);
  EXPECT_NEAR(a.quad[2].x, 49 + 6.435, 1.01);
  EXPECT_NEAR(a.quad[2].y, 19 + 6.435, 1.01);
  EXPECT_NEAR(boxes[1].quad[0].y, 40 - 59.0 * 11 * 1.5 / 140, 1.01);

  // Scaled to an image twice as large, clipped to its last pixel.
  auto big = DbBoxes(m.p.data(), m.h, m.w, 2 * m.w, 2 * m.h, DbParams{});
  ASSERT_EQ(big.size(), 2u);
  EXPECT_NEAR(big[0].quad[2].x, 2 * (49 + 6.435), 2.01);
  for (const auto& b : big) {
    for (const PointF& p : b.quad) {
      EXPECT_GE(p.x, 0);
      EXPECT_LE(p.x, 2 * m.w - 1);
      EXPECT_GE(p.y, 0);
      EXPECT_LE(p.y, 2 * m.h - 1);
    }
  }
  // A lower box threshold keeps the faint region.
  DbParams loose;
  loose.box_thresh = 0.4f;
  EXPECT_EQ(DbBoxes(m.p.data(), m.h, m.w, m.w, m.h, loose).size(), 3u);
}

TEST(DbPostprocessTest, EmptyAndFullMaps) {
  Map empty(32, 32);
  EXPECT_TRUE(DbBoxes(empty.p.data(), 32, 32, 32, 32, {}).empty());
  Map full(32, 32);
  full.Fill(0, 0, 31, 31, 1.f);
  auto boxes = DbBoxes(full.p.data(), 32, 32, 32, 32, {});
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_EQ(boxes[0].quad[0].x, 0);
  EXPECT_EQ(boxes[0].quad[2].x, 31);
  EXPECT_TRUE(DbBoxes(nullptr, 0, 0, 10, 10, {}).empty());
}

}  // namespace
}  // namespace continuum::tasks::ocr
