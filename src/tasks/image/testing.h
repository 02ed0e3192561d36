// Test helpers: encode an Image as PNG or JPEG in memory (to feed the decoders and the tasks).
#pragma once

#include <string>

#include "tasks/image/image.h"

namespace continuum::image::testing {

// 8-bit RGB PNG; with `alpha`, an RGBA PNG whose alpha is `alpha_value` everywhere.
std::string EncodePng(const Image& img, bool alpha = false, uint8_t alpha_value = 255);
// 8-bit grey PNG of the image's red channel.
std::string EncodeGrayPng(const Image& img);
// Baseline (or progressive) JPEG; `exif_orientation` 1..8 adds an EXIF APP1 segment.
std::string EncodeJpeg(const Image& img, int quality = 90, bool progressive = false,
                       int exif_orientation = 0);

// A w x h image filled with one colour.
Image Solid(int w, int h, uint8_t r, uint8_t g, uint8_t b);

}  // namespace continuum::image::testing
