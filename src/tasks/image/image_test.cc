#include "tasks/image/image.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tasks/image/testing.h"

namespace continuum::image {
namespace {

// Pixel (x, y) = (x, y, x + y): every pixel tells where it came from.
Image Coordinates(int w, int h) {
  Image img(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.at(x, y);
      p[0] = static_cast<uint8_t>(x);
      p[1] = static_cast<uint8_t>(y);
      p[2] = static_cast<uint8_t>(x + y);
    }
  }
  return img;
}

// Pixel (x, y) of `img` holds the coordinates (from_x, from_y) of the Coordinates image it was
// cut or turned from.
void ExpectFrom(const Image& img, int x, int y, int from_x, int from_y) {
  EXPECT_EQ(img.at(x, y)[0], from_x) << "pixel (" << x << ", " << y << ")";
  EXPECT_EQ(img.at(x, y)[1], from_y) << "pixel (" << x << ", " << y << ")";
}

TEST(ImageTest, ResizeMatchesOpenCvLinearAlignment) {
  Image src(2, 1);
  src.at(0, 0)[0] = 0;
  src.at(1, 0)[0] = 100;
  Image up = Resize(src, 4, 1);
  EXPECT_EQ(up.at(0, 0)[0], 0);
  EXPECT_EQ(up.at(1, 0)[0], 25);
  EXPECT_EQ(up.at(2, 0)[0], 75);
  EXPECT_EQ(up.at(3, 0)[0], 100);

  Image four(4, 4);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) four.at(x, y)[1] = static_cast<uint8_t>(10 * x + 100 * (y / 2));
  }
  Image down = Resize(four, 2, 2);
  EXPECT_EQ(down.at(0, 0)[1], 5);  // mean of 0 and 10
  EXPECT_EQ(down.at(1, 0)[1], 25);
  EXPECT_EQ(down.at(0, 1)[1], 105);
}

TEST(ImageTest, ResizeKeepsSolidColoursAndSizes) {
  Image src = testing::Solid(37, 11, 200, 30, 7);
  for (auto [w, h] : {std::pair{1, 1}, {100, 3}, {5, 80}, {37, 11}}) {
    Image r = Resize(src, w, h);
    ASSERT_EQ(r.width, w);
    ASSERT_EQ(r.height, h);
    for (size_t i = 0; i < r.pixels.size(); i += 3) {
      ASSERT_EQ(r.pixels[i], 200);
      ASSERT_EQ(r.pixels[i + 1], 30);
      ASSERT_EQ(r.pixels[i + 2], 7);
    }
  }
}

TEST(ImageTest, ResizeVerticalGradientIsMonotonic) {
  Image src(1, 50);
  for (int y = 0; y < 50; ++y) src.at(0, y)[0] = static_cast<uint8_t>(y * 5);
  Image r = Resize(src, 3, 173);
  for (int y = 1; y < r.height; ++y) EXPECT_GE(r.at(1, y)[0], r.at(1, y - 1)[0]);
}

TEST(ImageTest, ShrinkAveragesBlocks) {
  Image src(5, 4);  // a checkerboard of 0 and 200: every 2x2 block averages to 100
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 5; ++x) src.at(x, y)[0] = ((x + y) % 2) ? 200 : 0;
  }
  Image s = Shrink(src, 2);
  ASSERT_EQ(s.width, 2);
  ASSERT_EQ(s.height, 2);
  for (size_t i = 0; i < s.pixels.size(); i += 3) EXPECT_EQ(s.pixels[i], 100);
  EXPECT_EQ(Shrink(src, 1).pixels, src.pixels);
  EXPECT_EQ(Shrink(src, 9).width, 1);  // never empty
  // A fine checkerboard shrunk 8x comes out grey, not black or white as plain bilinear may.
  Image fine(64, 64);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) fine.at(x, y)[1] = ((x + y) % 2) ? 255 : 0;
  }
  Image aa = ResizeAntialiased(fine, 8, 8);
  ASSERT_EQ(aa.width, 8);
  for (size_t i = 1; i < aa.pixels.size(); i += 3) EXPECT_NEAR(aa.pixels[i], 128, 2);
}

TEST(ImageTest, CropClipsToTheImage) {
  Image src = Coordinates(10, 8);
  Image c = Crop(src, 2, 3, 4, 2);
  ASSERT_EQ(c.width, 4);
  ASSERT_EQ(c.height, 2);
  ExpectFrom(c, 0, 0, 2, 3);
  ExpectFrom(c, 3, 1, 5, 4);
  Image clipped = Crop(src, 8, -2, 5, 4);
  EXPECT_EQ(clipped.width, 2);
  EXPECT_EQ(clipped.height, 2);
  ExpectFrom(clipped, 0, 0, 8, 0);
  EXPECT_TRUE(Crop(src, 20, 20, 5, 5).empty());
  EXPECT_TRUE(Crop(src, 2, 2, -1, 3).empty());
}

TEST(ImageTest, QuarterTurns) {
  Image src = Coordinates(3, 2);
  Image cw = Rotate90(src, true);
  ASSERT_EQ(cw.width, 2);
  ASSERT_EQ(cw.height, 3);
  // The source's top-left corner ends top-right, its bottom-left top-left.
  ExpectFrom(cw, 1, 0, 0, 0);
  ExpectFrom(cw, 0, 0, 0, 1);
  Image ccw = Rotate90(src, false);
  ExpectFrom(ccw, 0, 2, 0, 0);  // top-left -> bottom-left
  EXPECT_EQ(Rotate90(cw, false).pixels, src.pixels);
  Image half = Rotate180(src);
  ExpectFrom(half, 0, 0, 2, 1);
  EXPECT_EQ(Rotate180(half).pixels, src.pixels);
}

TEST(ImageTest, ExifOrientations) {
  Image up = Coordinates(4, 3);
  // Stored = the inverse transform of upright; applying the orientation gives upright back.
  const int inverse[9] = {0, 1, 2, 3, 4, 5, 8, 7, 6};
  for (int o = 1; o <= 8; ++o) {
    Image stored = ApplyExifOrientation(up, inverse[o]);
    Image back = ApplyExifOrientation(stored, o);
    ASSERT_EQ(back.width, 4) << o;
    ASSERT_EQ(back.pixels, up.pixels) << "orientation " << o;
  }
  Image mirrored = ApplyExifOrientation(up, 2);
  EXPECT_EQ(mirrored.at(0, 0)[0], 3);
  Image transposed = ApplyExifOrientation(up, 5);
  ASSERT_EQ(transposed.width, 3);
  ExpectFrom(transposed, 2, 1, 1, 2);
  Image transverse = ApplyExifOrientation(up, 7);
  ExpectFrom(transverse, 0, 0, 3, 2);
  EXPECT_EQ(ApplyExifOrientation(up, 6).pixels, Rotate90(up, true).pixels);
  EXPECT_EQ(ApplyExifOrientation(up, 0).pixels, up.pixels);
}

TEST(ImageTest, WarpQuadOfAnAxisAlignedBoxIsACrop) {
  Image src = Coordinates(40, 20);
  Quad q = {PointF{10, 5}, PointF{30, 5}, PointF{30, 15}, PointF{10, 15}};
  Image w = WarpQuad(src, q, 20, 10);
  EXPECT_EQ(w.pixels, Crop(src, 10, 5, 20, 10).pixels);
}

TEST(ImageTest, WarpQuadRotatedOrderTurnsTheCrop) {
  // Listing the corners from the top-right makes the strip read top-to-bottom: the crop is
  // turned a quarter counter-clockwise.
  Image src = Coordinates(40, 20);
  Quad q = {PointF{30, 5}, PointF{30, 15}, PointF{10, 15}, PointF{10, 5}};
  Image w = WarpQuad(src, q, 10, 20);
  ASSERT_EQ(w.width, 10);
  ASSERT_EQ(w.height, 20);
  ExpectFrom(w, 0, 0, 30, 5);     // (0, 0) samples quad[0] = (30, 5)
  EXPECT_EQ(w.at(5, 0)[1], 10);   // along quad[0] -> quad[1]: y grows
  EXPECT_EQ(w.at(0, 10)[0], 20);  // along quad[0] -> quad[3]: x shrinks
}

TEST(ImageTest, WarpQuadPerspectiveMapsCornersAndEdges) {
  Image src = Coordinates(200, 200);
  Quad q = {PointF{20, 30}, PointF{180, 10}, PointF{170, 150}, PointF{40, 120}};
  Image w = WarpQuad(src, q, 64, 32);
  EXPECT_NEAR(w.at(0, 0)[0], 20, 1);
  EXPECT_NEAR(w.at(0, 0)[1], 30, 1);
  // The top edge stays on the line quad[0] -> quad[1] (perspective keeps lines straight).
  for (int x = 0; x < 64; x += 7) {
    const float px = w.at(x, 0)[0], py = w.at(x, 0)[1];
    const float t = (px - 20.f) / 160.f;
    EXPECT_NEAR(py, 30.f - 20.f * t, 1.0f) << x;
  }
  // Degenerate quads do not crash and stay inside the image.
  Quad point = {PointF{5, 5}, PointF{5, 5}, PointF{5, 5}, PointF{5, 5}};
  Image p = WarpQuad(src, point, 3, 3);
  EXPECT_EQ(p.at(2, 2)[0], 5);
  Quad far = {PointF{-1e9f, 1e9f}, PointF{1e30f, -1e30f}, PointF{0, 0}, PointF{NAN, 3}};
  EXPECT_EQ(WarpQuad(src, far, 4, 4).width, 4);
}

TEST(ImageTest, BicubicWarp) {
  Image src = Coordinates(40, 20);
  Quad q = {PointF{10, 5}, PointF{30, 5}, PointF{30, 15}, PointF{10, 15}};
  // At whole-pixel positions the cubic kernel is exact: the same crop as bilinear.
  EXPECT_EQ(WarpQuad(src, q, 20, 10, Interpolation::kBicubic).pixels, Crop(src, 10, 5, 20, 10).pixels);
  // A solid colour stays solid (the kernel sums to one), borders included.
  Image solid = testing::Solid(7, 5, 10, 200, 90);
  Quad wide = {PointF{-3, -2}, PointF{9, 0}, PointF{8, 7}, PointF{0, 6}};
  Image w = WarpQuad(solid, wide, 33, 17, Interpolation::kBicubic);
  for (size_t i = 0; i < w.pixels.size(); i += 3) {
    ASSERT_EQ(w.pixels[i], 10);
    ASSERT_EQ(w.pixels[i + 1], 200);
    ASSERT_EQ(w.pixels[i + 2], 90);
  }
  // Upscaling an edge overshoots a little (sharper than bilinear) but stays in range.
  Image edge(2, 1);
  edge.at(1, 0)[0] = 255;
  Image up = WarpQuad(edge, Quad{PointF{0, 0}, PointF{2, 0}, PointF{2, 1}, PointF{0, 1}}, 16, 1,
                      Interpolation::kBicubic);
  for (int x = 1; x < 16; ++x) EXPECT_GE(up.at(x, 0)[0], up.at(x - 1, 0)[0]);
}

TEST(ImageTest, ChwNormalization) {
  Image src = testing::Solid(2, 1, 255, 0, 51);
  ChwNormalization n;
  n.mean = {0.5f, 0.5f, 0.5f};
  n.std = {0.5f, 0.5f, 0.5f};
  auto v = ToChw(src, n);
  ASSERT_EQ(v.size(), 6u);
  EXPECT_FLOAT_EQ(v[0], 1.f);      // R plane
  EXPECT_FLOAT_EQ(v[2], -1.f);     // G plane
  EXPECT_NEAR(v[4], -0.6f, 1e-6);  // B plane
  n.bgr = true;
  v = ToChw(src, n);
  EXPECT_NEAR(v[0], -0.6f, 1e-6);  // B first
  EXPECT_FLOAT_EQ(v[4], 1.f);

  // Into a padded buffer: the padding is left alone.
  std::vector<float> padded(3 * 2 * 4, 9.f);
  WriteChw(src, n, padded.data(), 2, 4);
  EXPECT_NEAR(padded[0], -0.6f, 1e-6);
  EXPECT_EQ(padded[2], 9.f);
  EXPECT_EQ(padded[4], 9.f);         // second row
  EXPECT_FLOAT_EQ(padded[16], 1.f);  // R plane (third), first pixel
}

}  // namespace
}  // namespace continuum::image
