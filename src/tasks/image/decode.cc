#include "tasks/image/decode.h"

#include <cstdio>
#include <cstring>

#include "tasks/image/codec_frames.h"

namespace continuum::image {

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// A name for formats we recognise but do not decode, so the error says what was sent.
std::string_view OtherFormatName(std::string_view b) {
  if (StartsWith(b, "GIF87a") || StartsWith(b, "GIF89a")) return "GIF";
  if (StartsWith(b, "RIFF") && b.size() >= 12 && b.substr(8, 4) == "WEBP") return "WebP";
  if (StartsWith(b, "BM")) return "BMP";
  if (StartsWith(b, std::string_view("II*\0", 4)) || StartsWith(b, std::string_view("MM\0*", 4)))
    return "TIFF";
  if (b.size() >= 12 && b.substr(4, 4) == "ftyp") {
    std::string_view brand = b.substr(8, 4);
    if (brand == "avif" || brand == "avis") return "AVIF";
    if (brand == "heic" || brand == "heix" || brand == "mif1" || brand == "msf1") return "HEIF";
  }
  if (StartsWith(b, std::string_view("\0\0\1\0", 4))) return "ICO";
  if (StartsWith(b, "<svg") || StartsWith(b, "<?xml")) return "SVG/XML";
  if (StartsWith(b, "{") || StartsWith(b, "[")) return "JSON text";
  return {};
}

std::string HexPrefix(std::string_view b) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size() && i < 8; ++i) {
    std::snprintf(buf, sizeof buf, "%s%02x", i ? " " : "", static_cast<unsigned char>(b[i]));
    s += buf;
  }
  return s;
}

// RGBA -> RGB over a white background, in place.
void CompositeOverWhite(std::vector<uint8_t>& buf, size_t pixels) {
  uint8_t* p = buf.data();
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* s = p + i * 4;
    uint8_t* d = p + i * 3;
    const unsigned a = s[3], inv = 255 - a;
    const uint8_t r = static_cast<uint8_t>((s[0] * a + 255 * inv + 127) / 255);
    const uint8_t g = static_cast<uint8_t>((s[1] * a + 255 * inv + 127) / 255);
    const uint8_t b = static_cast<uint8_t>((s[2] * a + 255 * inv + 127) / 255);
    d[0] = r;
    d[1] = g;
    d[2] = b;
  }
  buf.resize(pixels * 3);
}

// CMYK -> RGB in place. Adobe writes inverted CMYK (0 = full ink), which libjpeg passes through.
void CmykToRgb(std::vector<uint8_t>& buf, size_t pixels, bool inverted) {
  uint8_t* p = buf.data();
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* s = p + i * 4;
    unsigned c = s[0], m = s[1], y = s[2], k = s[3];
    if (!inverted) {
      c = 255 - c;
      m = 255 - m;
      y = 255 - y;
      k = 255 - k;
    }
    uint8_t* d = p + i * 3;
    d[0] = static_cast<uint8_t>((c * k + 127) / 255);
    d[1] = static_cast<uint8_t>((m * k + 127) / 255);
    d[2] = static_cast<uint8_t>((y * k + 127) / 255);
  }
  buf.resize(pixels * 3);
}

}  // namespace

ImageFormat DetectFormat(std::string_view b) {
  if (StartsWith(b, "\x89PNG\r\n\x1a\n")) return ImageFormat::kPng;
  if (b.size() >= 3 && static_cast<uint8_t>(b[0]) == 0xFF && static_cast<uint8_t>(b[1]) == 0xD8 &&
      static_cast<uint8_t>(b[2]) == 0xFF) {
    return ImageFormat::kJpeg;
  }
  return ImageFormat::kUnknown;
}

std::string_view FormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

StatusOr<Image> Decode(std::string_view bytes, const DecodeLimits& limits) {
  if (bytes.empty()) return InvalidArgument("image: no data (expected a PNG or JPEG file)");
  if (static_cast<int64_t>(bytes.size()) > limits.max_bytes) {
    return PayloadTooLarge("image: " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                           std::to_string(limits.max_bytes) + " bytes");
  }
  const ImageFormat format = DetectFormat(bytes);
  if (format == ImageFormat::kUnknown) {
    std::string_view other = OtherFormatName(bytes);
    if (!other.empty())
      return InvalidArgument("image: " + std::string(other) + " is not supported (send PNG or JPEG)");
    return InvalidArgument("image: not a PNG or JPEG file (it starts with " + HexPrefix(bytes) + ")");
  }

  internal::DecodeTarget target(limits.max_pixels);
  char message[256] = {0};
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  bool ok;
  if (format == ImageFormat::kPng) {
    ok = internal::DecodePngFrame(data, bytes.size(), &target, message, sizeof message);
  } else {
    // libjpeg's own working memory (progressive coefficient buffers, ~2 bytes per pixel and
    // component) is capped in proportion to the pixel limit.
    const int64_t max_memory = limits.max_pixels * 8 + (64 << 20);
    ok = internal::DecodeJpegFrame(data, bytes.size(), max_memory, &target, message, sizeof message);
  }
  const std::string name(FormatName(format));
  if (!ok) {
    if (!target.status().ok()) return target.status();
    return InvalidArgument(name + ": corrupt or truncated file: " + message);
  }

  Image img;
  img.width = target.width();
  img.height = target.height();
  const size_t pixels = static_cast<size_t>(img.width) * static_cast<size_t>(img.height);
  std::vector<uint8_t>& buf = target.buffer();
  switch (target.layout()) {
    case internal::Layout::kRgb: break;
    case internal::Layout::kRgba: CompositeOverWhite(buf, pixels); break;
    case internal::Layout::kCmyk: CmykToRgb(buf, pixels, false); break;
    case internal::Layout::kCmykInverted: CmykToRgb(buf, pixels, true); break;
  }
  img.pixels = std::move(buf);
  if (target.orientation() > 1) img = ApplyExifOrientation(img, target.orientation());
  return img;
}

}  // namespace continuum::image
