#include "tasks/image/decode.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tasks/image/codec_frames.h"
#include "tasks/image/testing.h"

namespace continuum::image {
namespace {

using testing::EncodeGrayPng;
using testing::EncodeJpeg;
using testing::EncodePng;
using testing::Solid;

Image Pattern(int w, int h) {
  Image img(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.at(x, y);
      p[0] = static_cast<uint8_t>(x * 7);
      p[1] = static_cast<uint8_t>(y * 13);
      p[2] = static_cast<uint8_t>((x ^ y) * 3);
    }
  }
  return img;
}

// A smooth picture (JPEG's strength), for lossy comparisons.
Image Smooth(int w, int h) {
  Image img(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.at(x, y);
      p[0] = static_cast<uint8_t>(255 * x / w);
      p[1] = static_cast<uint8_t>(255 * y / h);
      p[2] = 128;
    }
  }
  return img;
}

double MeanAbsDiff(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return sum / static_cast<double>(a.pixels.size());
}

uint32_t Crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

void PutBe32(std::string& s, size_t at, uint32_t v) {
  s[at] = static_cast<char>(v >> 24);
  s[at + 1] = static_cast<char>(v >> 16);
  s[at + 2] = static_cast<char>(v >> 8);
  s[at + 3] = static_cast<char>(v);
}

// Rewrites the IHDR size of a PNG (with a valid CRC, so only the size is wrong).
std::string WithPngSize(std::string png, uint32_t w, uint32_t h) {
  PutBe32(png, 16, w);
  PutBe32(png, 20, h);
  PutBe32(png, 29, Crc32(reinterpret_cast<const uint8_t*>(png.data()) + 12, 17));
  return png;
}

TEST(DecodeTest, DetectsFormatsByMagic) {
  EXPECT_EQ(DetectFormat(EncodePng(Solid(2, 2, 1, 2, 3))), ImageFormat::kPng);
  EXPECT_EQ(DetectFormat(EncodeJpeg(Solid(2, 2, 1, 2, 3))), ImageFormat::kJpeg);
  EXPECT_EQ(DetectFormat("GIF89a"), ImageFormat::kUnknown);
  EXPECT_EQ(DetectFormat(""), ImageFormat::kUnknown);
  EXPECT_EQ(DetectFormat("\xff\xd8"), ImageFormat::kUnknown);
}

TEST(DecodeTest, PngRgbRoundTripsExactly) {
  Image src = Pattern(33, 17);
  auto img = Decode(EncodePng(src), {});
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->width, 33);
  EXPECT_EQ(img->height, 17);
  EXPECT_EQ(img->pixels, src.pixels);
}

TEST(DecodeTest, PngAlphaIsCompositedOverWhite) {
  Image src = Solid(4, 4, 0, 0, 0);
  auto clear = Decode(EncodePng(src, true, 0), {});
  ASSERT_TRUE(clear.ok());
  EXPECT_EQ(clear->pixels, Solid(4, 4, 255, 255, 255).pixels);
  auto half = Decode(EncodePng(src, true, 128), {});
  ASSERT_TRUE(half.ok());
  EXPECT_NEAR(half->pixels[0], 127, 1);
  auto opaque = Decode(EncodePng(Pattern(5, 5), true, 255), {});
  ASSERT_TRUE(opaque.ok());
  EXPECT_EQ(opaque->pixels, Pattern(5, 5).pixels);
}

TEST(DecodeTest, GrayPngExpandsToRgb) {
  Image src = Pattern(9, 9);
  auto img = Decode(EncodeGrayPng(src), {});
  ASSERT_TRUE(img.ok());
  for (size_t i = 0; i < img->pixels.size(); i += 3) {
    ASSERT_EQ(img->pixels[i], src.pixels[i]);
    ASSERT_EQ(img->pixels[i + 1], src.pixels[i]);
    ASSERT_EQ(img->pixels[i + 2], src.pixels[i]);
  }
}

TEST(DecodeTest, JpegBaselineAndProgressive) {
  Image src = Smooth(64, 48);
  for (bool progressive : {false, true}) {
    auto img = Decode(EncodeJpeg(src, 95, progressive), {});
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    EXPECT_EQ(img->width, 64);
    EXPECT_EQ(img->height, 48);
    EXPECT_LT(MeanAbsDiff(*img, src), 3.0) << progressive;
  }
}

TEST(DecodeTest, JpegExifOrientationIsApplied) {
  // Stored sideways with orientation 6 ("turn clockwise to view").
  Image upright = Smooth(40, 24);
  Image stored = Rotate90(upright, false);
  auto img = Decode(EncodeJpeg(stored, 95, false, 6), {});
  ASSERT_TRUE(img.ok());
  ASSERT_EQ(img->width, 40);
  ASSERT_EQ(img->height, 24);
  EXPECT_LT(MeanAbsDiff(*img, upright), 3.0);
}

TEST(DecodeTest, ExifParserIsBounded) {
  const uint8_t good[] = {'E', 'x', 'i',  'f',  0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
                          0,   1,   0x01, 0x12, 0, 3, 0,   0,   0, 1,  0, 3, 0, 0};
  EXPECT_EQ(internal::ExifOrientation(good, sizeof good), 3);
  for (size_t n = 0; n < sizeof good; ++n) EXPECT_EQ(internal::ExifOrientation(good, n), 0) << n;
  uint8_t bad_ifd[sizeof good];
  std::copy(std::begin(good), std::end(good), bad_ifd);
  bad_ifd[13] = 0xF0;  // IFD offset beyond the data
  EXPECT_EQ(internal::ExifOrientation(bad_ifd, sizeof bad_ifd), 0);
}

TEST(DecodeTest, TruncatedFilesAreErrors) {
  const std::string png = EncodePng(Pattern(64, 64));
  const std::string jpeg = EncodeJpeg(Smooth(64, 64));
  struct Case {
    const std::string& file;
    std::string format;  // named by the error
    std::vector<size_t> cuts;
  };
  for (const Case& c : {Case{png, "PNG", {7, 30, png.size() / 2, png.size() - 13}},
                        Case{jpeg, "JPEG", {3, 100, jpeg.size() / 2, jpeg.size() - 2}}}) {
    for (size_t cut : c.cuts) {
      auto r = Decode(std::string_view(c.file).substr(0, cut), {});
      ASSERT_FALSE(r.ok()) << c.format << " cut at " << cut;
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find(c.format), std::string::npos) << r.status().message();
    }
    auto half = Decode(std::string_view(c.file).substr(0, c.file.size() / 2), {});
    EXPECT_NE(half.status().message().find("truncated"), std::string::npos) << half.status().message();
  }
}

TEST(DecodeTest, CorruptDataIsAnError) {
  std::string png = EncodePng(Pattern(32, 32));
  std::string bad = png;
  bad[bad.size() / 2] ^= 0x55;  // inside IDAT: the CRC no longer matches
  auto r = Decode(bad, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("PNG: corrupt"), std::string::npos) << r.status().message();
}

TEST(DecodeTest, SizeLimitsComeFromTheHeaderBeforeDecoding) {
  std::string png = EncodePng(Solid(20, 20, 9, 9, 9));
  auto r = Decode(png, {.max_pixels = 399, .max_bytes = 1 << 20});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPayloadTooLarge);
  EXPECT_NE(r.status().message().find("20x20"), std::string::npos) << r.status().message();
  EXPECT_TRUE(Decode(png, {.max_pixels = 400, .max_bytes = 1 << 20}).ok());

  // A tiny file that claims to be huge is refused before any pixel buffer exists.
  auto huge = Decode(WithPngSize(png, 1'000'000, 1'000'000), {});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kPayloadTooLarge) << huge.status().message();
  auto empty = Decode(WithPngSize(png, 0, 20), {});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);

  std::string jpeg = EncodeJpeg(Solid(16, 16, 1, 2, 3));
  size_t sof = jpeg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = jpeg[sof + 7] = '\x75';  // 30000 x 30000
  jpeg[sof + 6] = jpeg[sof + 8] = '\x30';
  auto big = Decode(jpeg, {});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kPayloadTooLarge) << big.status().message();

  auto bytes = Decode(png, {.max_pixels = 1 << 20, .max_bytes = 10});
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), StatusCode::kPayloadTooLarge);
}

// Noise compresses poorly, so a cut through the file is a cut through the rows.
Image Noise(int w, int h) {
  Image img(w, h);
  uint32_t x = 12345;
  for (auto& p : img.pixels) {
    x = x * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(x >> 24);
  }
  return img;
}

TEST(DecodeTest, TruncatedPngWithAHugeSizeFailsBeforeAnyPixelBuffer) {
  // 6300 x 6300 (within the default pixel limit) declared by a 20 x 20 file: the data cannot
  // possibly hold the image, so nothing is allocated for it.
  const std::string png = WithPngSize(EncodePng(Solid(20, 20, 9, 9, 9)), 6300, 6300);
  auto r = Decode(png, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("truncated: 6300x6300 pixels need at least"), std::string::npos)
      << r.status().message();
  internal::DecodeTarget target(DecodeLimits{}.max_pixels);
  char message[256];
  EXPECT_FALSE(internal::DecodePngFrame(reinterpret_cast<const uint8_t*>(png.data()), png.size(), &target,
                                        message, sizeof message));
  EXPECT_EQ(target.peak_bytes(), 0u);
}

TEST(DecodeTest, TruncatedPngCostsTheRowsItHolds) {
  const Image src = Noise(600, 600);
  const std::string png = EncodePng(src);
  const size_t full = src.pixels.size();
  {
    internal::DecodeTarget target(DecodeLimits{}.max_pixels);
    char message[256];
    ASSERT_TRUE(internal::DecodePngFrame(reinterpret_cast<const uint8_t*>(png.data()), png.size(), &target,
                                         message, sizeof message))
        << message;
    EXPECT_EQ(target.buffer(), src.pixels);
    EXPECT_EQ(target.peak_bytes(), full);  // growth never goes past the declared size
  }
  // A quarter of the file decodes about a quarter of the rows; the buffer follows them.
  const std::string_view cut = std::string_view(png).substr(0, png.size() / 4);
  internal::DecodeTarget target(DecodeLimits{}.max_pixels);
  char message[256];
  EXPECT_FALSE(internal::DecodePngFrame(reinterpret_cast<const uint8_t*>(cut.data()), cut.size(), &target,
                                        message, sizeof message));
  EXPECT_NE(std::string(message).find("truncated"), std::string::npos) << message;
  EXPECT_GT(target.peak_bytes(), 0u);
  EXPECT_LE(target.peak_bytes(), full * 3 / 5);
  auto r = Decode(cut, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(DecodeTest, UnsupportedFormatsAreNamed) {
  auto gif = Decode("GIF89a\x01\x00\x01\x00", {});
  ASSERT_FALSE(gif.ok());
  EXPECT_EQ(gif.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(gif.status().message(), "image: GIF is not supported (send PNG or JPEG)");
  auto webp = Decode(std::string_view("RIFF\x10\0\0\0WEBPVP8 ", 16), {});
  EXPECT_NE(webp.status().message().find("WebP"), std::string::npos);
  auto junk = Decode("hello world", {});
  EXPECT_EQ(junk.status().message(),
            "image: not a PNG or JPEG file (it starts with 68 65 6c 6c 6f 20 77 6f)");
  auto none = Decode("", {});
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::image
