// Decoding of request images (PNG via libpng, JPEG via libjpeg-turbo) from memory into 8-bit
// RGB. The format comes from the magic bytes, never from a name or a content type.
//
// Hostile input is the normal case here: sizes are checked against the limits from the header
// before any pixel buffer exists, truncated or corrupt data is an error (not a half-grey
// picture), and no input crashes, leaks or allocates beyond the limits (fuzz/image_decode_fuzz.cc).
// A PNG whose data is too short to inflate to its declared size (deflate expands at most
// 1032:1) is refused before any pixel buffer exists, and a non-interlaced PNG's buffer grows
// with the rows actually decoded: a truncated file costs the memory of what it holds, not of
// what its header claims.
//
//   - Alpha (PNG alpha channel or tRNS) is composited over white: text drawn on a transparent
//     background stays readable.
//   - 16-bit PNG samples are reduced to 8 bits; palettes and greys are expanded to RGB.
//   - A JPEG's EXIF orientation (APP1) is applied, so phone photos come out upright.
//   - CMYK/YCCK JPEGs are converted to RGB.
//
// Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "tasks/image/image.h"

namespace continuum::image {

enum class ImageFormat { kUnknown, kPng, kJpeg };

ImageFormat DetectFormat(std::string_view bytes);
std::string_view FormatName(ImageFormat format);

struct DecodeLimits {
  int64_t max_pixels = 40'000'000;  // width × height
  int64_t max_bytes = 32 << 20;     // encoded size
};

// Errors: kInvalidArgument for empty data, unsupported formats and broken files (the message
// names the format and the problem: "PNG: truncated ...", "JPEG: corrupt data ..."),
// kPayloadTooLarge when the encoded size or the pixel count exceeds `limits`.
StatusOr<Image> Decode(std::string_view bytes, const DecodeLimits& limits);

}  // namespace continuum::image
