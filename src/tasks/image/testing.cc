#include "tasks/image/testing.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

// jpeglib.h needs <cstdio> before it.
// clang-format off
#include <jpeglib.h>
// clang-format on
#include <png.h>

namespace continuum::image::testing {

namespace {

std::string WritePng(const void* pixels, int w, int h, png_uint_32 format) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = format;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, pixels, 0, nullptr)) {
    std::fprintf(stderr, "EncodePng: %s\n", img.message);
    std::abort();
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&img, out.data(), &size, 0, pixels, 0, nullptr)) {
    std::fprintf(stderr, "EncodePng: %s\n", img.message);
    std::abort();
  }
  out.resize(size);
  return out;
}

}  // namespace

std::string EncodePng(const Image& img, bool alpha, uint8_t alpha_value) {
  if (!alpha) return WritePng(img.pixels.data(), img.width, img.height, PNG_FORMAT_RGB);
  std::vector<uint8_t> rgba(static_cast<size_t>(img.width) * img.height * 4);
  for (size_t i = 0; i < static_cast<size_t>(img.width) * img.height; ++i) {
    std::memcpy(&rgba[i * 4], &img.pixels[i * 3], 3);
    rgba[i * 4 + 3] = alpha_value;
  }
  return WritePng(rgba.data(), img.width, img.height, PNG_FORMAT_RGBA);
}

std::string EncodeGrayPng(const Image& img) {
  std::vector<uint8_t> g(static_cast<size_t>(img.width) * img.height);
  for (size_t i = 0; i < g.size(); ++i) g[i] = img.pixels[i * 3];
  return WritePng(g.data(), img.width, img.height, PNG_FORMAT_GRAY);
}

std::string EncodeJpeg(const Image& img, int quality, bool progressive, int exif_orientation) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);  // default: print and exit, fine for tests
  jpeg_create_compress(&c);
  unsigned char* mem = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &mem, &size);
  c.image_width = static_cast<JDIMENSION>(img.width);
  c.image_height = static_cast<JDIMENSION>(img.height);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  if (exif_orientation > 0) {
    // "Exif\0\0" + little-endian TIFF header + IFD0 with one entry: Orientation (SHORT).
    const unsigned char exif[] = {'E',
                                  'x',
                                  'i',
                                  'f',
                                  0,
                                  0,
                                  'I',
                                  'I',
                                  42,
                                  0,
                                  8,
                                  0,
                                  0,
                                  0,  // header, IFD at 8
                                  1,
                                  0,
                                  0x12,
                                  0x01,
                                  3,
                                  0,
                                  1,
                                  0,
                                  0,
                                  0,  // 1 entry, tag, SHORT, n=1
                                  static_cast<unsigned char>(exif_orientation),
                                  0,
                                  0,
                                  0,  // value
                                  0,
                                  0,
                                  0,
                                  0};  // next IFD
    jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof exif);
  }
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img.row(static_cast<int>(c.next_scanline)));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::string out(reinterpret_cast<char*>(mem), size);
  std::free(mem);
  return out;
}

Image Solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image img(w, h);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = r;
    img.pixels[i + 1] = g;
    img.pixels[i + 2] = b;
  }
  return img;
}

}  // namespace continuum::image::testing
