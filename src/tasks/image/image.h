// 8-bit RGB images for the vision tasks: the decoded form of a request's PNG/JPEG (decode.h),
// and the geometric operations the pre-processing of OCR and classification needs (resize,
// crop, rotate, perspective crop of a quadrilateral) plus the conversion to CHW float tensors.
//
// Everything here is a pure function of its arguments (thread-safe). Sizes are ints: decoded
// images are bounded by TaskLimits::max_image_pixels long before an int overflows.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace continuum::image {

// Interleaved RGB, row-major, 3 bytes per pixel, no row padding.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * static_cast<size_t>(h) * 3) {}
  bool empty() const { return width <= 0 || height <= 0; }
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * static_cast<size_t>(width) * 3; }
  const uint8_t* row(int y) const {
    return pixels.data() + static_cast<size_t>(y) * static_cast<size_t>(width) * 3;
  }
  uint8_t* at(int x, int y) { return row(y) + static_cast<size_t>(x) * 3; }
  const uint8_t* at(int x, int y) const { return row(y) + static_cast<size_t>(x) * 3; }
};

struct PointF {
  float x = 0;
  float y = 0;
};
// Four corners, clockwise from the top-left one (as text boxes are given).
using Quad = std::array<PointF, 4>;

// Bilinear resize with pixel centres aligned the way OpenCV's INTER_LINEAR aligns them (so
// models trained on cv2.resize input see the same pixels). w, h >= 1.
Image Resize(const Image& src, int w, int h);

// Box-filter shrink by an integer factor (each output pixel the mean of a factor × factor block;
// a partial block at the right or bottom edge is dropped). Used before a bilinear resize that
// would otherwise skip pixels (downscaling by more than 2 aliases). factor >= 1.
Image Shrink(const Image& src, int factor);

// Resize that averages when it shrinks a lot: Shrink by the largest integer factor that keeps
// the image at least twice the target size, then Resize.
Image ResizeAntialiased(const Image& src, int w, int h);

// The rectangle [x, x+w) × [y, y+h), clipped to the image (may come back smaller, or empty).
Image Crop(const Image& src, int x, int y, int w, int h);

// Quarter turns. Rotate90(src, true) turns clockwise.
Image Rotate90(const Image& src, bool clockwise);
Image Rotate180(const Image& src);

// Applies an EXIF orientation (1..8; other values return a copy) so the image reads upright.
Image ApplyExifOrientation(const Image& src, int orientation);

enum class Interpolation { kBilinear, kBicubic };

// Perspective crop: samples `quad` of `src` into a w × h image, mapping quad[0] to (0,0),
// quad[1] to (w,0), quad[2] to (w,h) and quad[3] to (0,h) (the mapping of OpenCV's
// getPerspectiveTransform + warpPerspective as PaddleOCR uses them). Borders replicated;
// bicubic uses OpenCV's kernel (a = -0.75). A parallelogram quad makes it an affine crop.
// w, h >= 1.
Image WarpQuad(const Image& src, const Quad& quad, int w, int h,
               Interpolation interpolation = Interpolation::kBilinear);

// How pixels become floats: value = (pixel * scale - mean[c]) / std[c], for output channel c,
// taken from the image's R, G, B (or B, G, R when bgr).
struct ChwNormalization {
  std::array<float, 3> mean = {0.f, 0.f, 0.f};
  std::array<float, 3> std = {1.f, 1.f, 1.f};
  float scale = 1.f / 255.f;
  bool bgr = false;
};

// Writes `src` into the top-left corner of a planar [3, dst_h, dst_w] float buffer; the rest
// of the buffer is left as it is (callers pre-fill the padding). Requires src.width <= dst_w
// and src.height <= dst_h.
void WriteChw(const Image& src, const ChwNormalization& norm, float* dst, int dst_h, int dst_w);

// The whole image as a [3, h, w] float vector.
std::vector<float> ToChw(const Image& src, const ChwNormalization& norm);

}  // namespace continuum::image
