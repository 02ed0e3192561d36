// libFuzzer target for the image decoders (PNG via libpng, JPEG via libjpeg-turbo).
// The input is the encoded file. Decoding runs under small limits (the fuzzer's memory limit
// must catch a decoder that allocates past them), and every image that decodes is checked and
// pushed through the pre-processing operations the vision tasks use.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_check.h"
#include "tasks/image/decode.h"
#include "tasks/image/image.h"

namespace {

using namespace continuum;

using continuum::fuzz::Check;

constexpr int64_t kMaxPixels = 4'000'000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto img = image::Decode(bytes, {.max_pixels = kMaxPixels, .max_bytes = 4 << 20});
  if (!img.ok()) {
    const StatusCode c = img.status().code();
    Check(c == StatusCode::kInvalidArgument || c == StatusCode::kPayloadTooLarge, "error code");
    Check(!img.status().message().empty(), "error message");
    return 0;
  }
  const image::Image& im = *img;
  Check(im.width > 0 && im.height > 0, "positive size");
  Check(static_cast<int64_t>(im.width) * im.height <= kMaxPixels, "pixel limit");
  Check(im.pixels.size() == static_cast<size_t>(im.width) * im.height * 3, "buffer size");

  // The operations a task applies next, at sizes derived from the input.
  const int w = 1 + static_cast<int>(size % 64), h = 1 + static_cast<int>((size / 64) % 64);
  image::Image small = image::Resize(im, w, h);
  Check(small.width == w && small.height == h, "resize size");
  image::Quad q = {image::PointF{0, 0}, image::PointF{static_cast<float>(im.width), 1},
                   image::PointF{static_cast<float>(im.width) - 1, static_cast<float>(im.height)},
                   image::PointF{1, static_cast<float>(im.height) - 1}};
  image::Image warped = image::WarpQuad(im, q, w, h);
  Check(warped.pixels.size() == static_cast<size_t>(w) * h * 3, "warp size");
  auto chw = image::ToChw(small, {});
  Check(chw.size() == static_cast<size_t>(w) * h * 3, "chw size");
  image::Image turned = image::Rotate90(small, (size & 1) != 0);
  Check(turned.width == h && turned.height == w, "rotate size");
  return 0;
}
