// The C-style frames around libpng and libjpeg (see codec_frames.h for the rules): every local
// between setjmp and the library calls is a trivially destructible C object or pointer, and the
// library state lives in a struct the frame only touches through pointers.
#include "tasks/image/codec_frames.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <type_traits>

// jpeglib.h needs <cstdio> before it, and jerror.h needs jpeglib.h.
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <png.h>

namespace continuum::image::internal {

// ---- DecodeTarget (C++ side, called from inside the frames) ------------------------------------

bool DecodeTarget::Accept(uint32_t width, uint32_t height, const char* format) noexcept {
  if (width == 0 || height == 0) {
    status_ = InvalidArgument(std::string(format) + ": the header gives an empty image (" +
                              std::to_string(width) + "x" + std::to_string(height) + ")");
    return false;
  }
  const uint64_t pixels = static_cast<uint64_t>(width) * height;
  if (pixels > static_cast<uint64_t>(max_pixels_) || width > (1u << 30) || height > (1u << 30)) {
    status_ = PayloadTooLarge(std::string(format) + ": image of " + std::to_string(width) + "x" +
                              std::to_string(height) + " = " + std::to_string(pixels) +
                              " pixels exceeds the limit of " + std::to_string(max_pixels_) + " pixels");
    return false;
  }
  width_ = static_cast<int>(width);
  height_ = static_cast<int>(height);
  return true;
}

uint8_t** DecodeTarget::AllocateRows(int channels, Layout layout) noexcept {
  try {
    const size_t stride = static_cast<size_t>(width_) * static_cast<size_t>(channels);
    buffer_.assign(stride * static_cast<size_t>(height_), 0);
    peak_bytes_ = std::max(peak_bytes_, buffer_.capacity());
    rows_.resize(static_cast<size_t>(height_));
    for (int y = 0; y < height_; ++y)
      rows_[static_cast<size_t>(y)] = buffer_.data() + stride * static_cast<size_t>(y);
  } catch (const std::bad_alloc&) {
    status_ = ResourceExhausted("image: out of memory for " + std::to_string(width_) + "x" +
                                std::to_string(height_) + " pixels");
    return nullptr;
  }
  channels_ = channels;
  layout_ = layout;
  return rows_.data();
}

void DecodeTarget::BeginRows(int channels, Layout layout) noexcept {
  buffer_.clear();
  channels_ = channels;
  layout_ = layout;
}

uint8_t* DecodeTarget::NextRow() noexcept {
  const size_t stride = static_cast<size_t>(width_) * static_cast<size_t>(channels_);
  const size_t total = stride * static_cast<size_t>(height_);
  if (buffer_.size() + stride > total) {
    status_ = Internal("image: more rows than the header declares");
    return nullptr;
  }
  try {
    if (buffer_.size() + stride > buffer_.capacity()) {
      // Geometric growth (amortized copies), never past the declared size.
      buffer_.reserve(std::min(total, std::max(buffer_.capacity() * 2, stride * 64)));
      peak_bytes_ = std::max(peak_bytes_, buffer_.capacity());
    }
    buffer_.resize(buffer_.size() + stride);
  } catch (const std::bad_alloc&) {
    status_ = ResourceExhausted("image: out of memory for " + std::to_string(width_) + "x" +
                                std::to_string(height_) + " pixels");
    return nullptr;
  }
  return buffer_.data() + buffer_.size() - stride;
}

int ExifOrientation(const uint8_t* d, size_t n) noexcept {
  if (n < 6 + 8 || std::memcmp(d, "Exif\0\0", 6) != 0) return 0;
  d += 6;
  n -= 6;
  bool le;
  if (d[0] == 'I' && d[1] == 'I') {
    le = true;
  } else if (d[0] == 'M' && d[1] == 'M') {
    le = false;
  } else {
    return 0;
  }
  auto u16 = [&](size_t at) -> uint32_t {
    return le ? (d[at] | (d[at + 1] << 8)) : ((d[at] << 8) | d[at + 1]);
  };
  auto u32 = [&](size_t at) -> uint32_t {
    return le ? (u16(at) | (u16(at + 2) << 16)) : ((u16(at) << 16) | u16(at + 2));
  };
  if (u16(2) != 42) return 0;
  const uint32_t ifd = u32(4);
  if (ifd > n || n - ifd < 2) return 0;
  const uint32_t count = u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = static_cast<size_t>(ifd) + 2 + static_cast<size_t>(i) * 12;
    if (e + 12 > n) return 0;
    if (u16(e) == 0x0112 && u16(e + 2) == 3 /* SHORT */) {
      const uint32_t v = u16(e + 8);
      return v >= 1 && v <= 8 ? static_cast<int>(v) : 0;
    }
  }
  return 0;
}

// ---- PNG ----------------------------------------------------------------------------------------

namespace {

// Deflate's largest expansion: a 258-byte match in two one-bit codes.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct PngState {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char* message;
  size_t message_size;
};
static_assert(std::is_trivially_destructible_v<PngState>);

void PngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* s = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > s->size - s->pos) png_error(png, "truncated: the data ends before the image does");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

[[noreturn]] void PngError(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(s->message, s->message_size, "%s", msg);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}

}  // namespace

bool DecodePngFrame(const uint8_t* data, size_t size, DecodeTarget* target, char* message,
                    size_t message_size) {
  PngState state{data, size, 0, message, message_size};
  std::snprintf(message, message_size, "out of memory");
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, PngError, PngWarning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return false;
  }
  // `png` and `info` are not modified after this point, so they are valid after a longjmp.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &state, PngRead);
  png_set_user_limits(png, 1u << 30, 1u << 30);  // the pixel limit is DecodeTarget's
  // Every ancillary chunk but tRNS is skipped unread (text, ICC profiles, ... mean nothing here),
  // so no chunk's declared length turns into an allocation: libpng 1.6 allocates a tEXt
  // chunk's full declared length before reading it.
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_set_chunk_cache_max(png, 128);
  png_set_chunk_malloc_max(png, 8u << 20);
  png_read_info(png, info);

  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  if (!target->Accept(width, height, "PNG")) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  // The pixel data inflates to height × (1 + row bytes) at least (interlacing only adds filter
  // bytes), and deflate expands by at most kMaxDeflateRatio: data shorter than that cannot hold
  // the declared image, so a truncated file is refused before any pixel buffer exists.
  const uint64_t raw =
      static_cast<uint64_t>(height) * (1 + static_cast<uint64_t>(png_get_rowbytes(png, info)));
  const uint64_t needed = raw / kMaxDeflateRatio;
  if (needed > size - state.pos) {
    std::snprintf(message, message_size,
                  "truncated: %ux%u pixels need at least %llu bytes of compressed data, the file "
                  "has %llu left",
                  static_cast<unsigned>(width), static_cast<unsigned>(height),
                  static_cast<unsigned long long>(needed), static_cast<unsigned long long>(size - state.pos));
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  const bool has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  const bool alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || has_trns;
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (has_trns) png_set_tRNS_to_alpha(png);
  if (bit_depth == 16) png_set_strip_16(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const int channels = alpha ? 4 : 3;
  if (png_get_channels(png, info) != channels ||
      png_get_rowbytes(png, info) != static_cast<size_t>(width) * channels) {
    png_error(png, "unexpected pixel layout after conversion");
  }
  const Layout layout = alpha ? Layout::kRgba : Layout::kRgb;
  if (interlace == PNG_INTERLACE_NONE) {
    // Row by row: memory grows with the rows the data really holds.
    target->BeginRows(channels, layout);
    for (png_uint_32 y = 0; y < height; ++y) {
      png_bytep row = target->NextRow();
      if (row == nullptr) {
        png_destroy_read_struct(&png, &info, nullptr);
        return false;
      }
      png_read_row(png, row, nullptr);
    }
  } else {
    // Adam7 passes revisit every row: the whole buffer is needed from the start.
    png_bytepp rows = target->AllocateRows(channels, layout);
    if (rows == nullptr) {
      png_destroy_read_struct(&png, &info, nullptr);
      return false;
    }
    png_read_image(png, rows);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// ---- JPEG ---------------------------------------------------------------------------------------

namespace {

constexpr int kMaxJpegScans = 500;  // progressive files with endless scans are a CPU bomb

struct JpegState {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  jpeg_progress_mgr progress;
  jmp_buf jump;
  char* message;
  size_t message_size;
};
static_assert(std::is_trivially_destructible_v<JpegState>);

JpegState* StateOf(j_common_ptr c) {
  // `err` is the first thing the library sees; the state is found from it.
  return reinterpret_cast<JpegState*>(reinterpret_cast<char*>(c->err) - offsetof(JpegState, err));
}

[[noreturn]] void JpegErrorExit(j_common_ptr c) {
  JpegState* s = StateOf(c);
  char buffer[JMSG_LENGTH_MAX];
  (*c->err->format_message)(c, buffer);
  std::snprintf(s->message, s->message_size, "%s", buffer);
  std::longjmp(s->jump, 1);
}

// Warnings (level -1) that mean the data is damaged end the decode; benign ones are ignored.
void JpegEmitMessage(j_common_ptr c, int level) {
  if (level >= 0) return;  // trace messages
  const int code = c->err->msg_code;
  if (code == JWRN_JPEG_EOF) {
    JpegState* s = StateOf(c);
    std::snprintf(s->message, s->message_size, "truncated: the data ends before the image does");
    std::longjmp(s->jump, 1);
  }
  if (code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_MUST_RESYNC ||
      code == JWRN_NOT_SEQUENTIAL || code == JWRN_BOGUS_PROGRESSION || code == JWRN_ARITH_BAD_CODE) {
    JpegErrorExit(c);
  }
  c->err->num_warnings++;
}

void JpegProgress(j_common_ptr c) {
  if (!c->is_decompressor) return;
  if (reinterpret_cast<j_decompress_ptr>(c)->input_scan_number > kMaxJpegScans) {
    JpegState* s = StateOf(c);
    std::snprintf(s->message, s->message_size, "more than %d scans", kMaxJpegScans);
    std::longjmp(s->jump, 1);
  }
}

// The frame proper. Everything it touches lives in *s (owned by the caller), so nothing it
// modifies after setjmp is an automatic variable of this function.
bool RunJpeg(JpegState* s, const uint8_t* data, size_t size, int64_t max_memory, DecodeTarget* target) {
  s->cinfo.err = jpeg_std_error(&s->err);
  s->err.error_exit = JpegErrorExit;
  s->err.emit_message = JpegEmitMessage;
  s->cinfo.mem = nullptr;  // jpeg_destroy_decompress is a no-op until creation succeeded
  if (setjmp(s->jump)) {
    jpeg_destroy_decompress(&s->cinfo);
    return false;
  }
  jpeg_create_decompress(&s->cinfo);
  s->cinfo.mem->max_memory_to_use = static_cast<long>(max_memory);
  s->progress.progress_monitor = JpegProgress;
  s->cinfo.progress = &s->progress;
  jpeg_mem_src(&s->cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&s->cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&s->cinfo, TRUE);
  if (!target->Accept(s->cinfo.image_width, s->cinfo.image_height, "JPEG")) {
    jpeg_destroy_decompress(&s->cinfo);
    return false;
  }
  Layout layout = Layout::kRgb;
  if (s->cinfo.jpeg_color_space == JCS_CMYK || s->cinfo.jpeg_color_space == JCS_YCCK) {
    s->cinfo.out_color_space = JCS_CMYK;
    layout = s->cinfo.saw_Adobe_marker ? Layout::kCmykInverted : Layout::kCmyk;
  } else {
    s->cinfo.out_color_space = JCS_RGB;
  }
  for (jpeg_saved_marker_ptr m = s->cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1) {
      if (int o = ExifOrientation(m->data, m->data_length); o != 0) {
        target->SetExifOrientation(o);
        break;
      }
    }
  }
  jpeg_start_decompress(&s->cinfo);
  const int channels = s->cinfo.output_components;
  if ((channels != 3 && channels != 4) || s->cinfo.output_width != static_cast<JDIMENSION>(target->width()) ||
      s->cinfo.output_height != static_cast<JDIMENSION>(target->height())) {
    std::snprintf(s->message, s->message_size, "unexpected output layout");
    jpeg_destroy_decompress(&s->cinfo);
    return false;
  }
  uint8_t** rows = target->AllocateRows(channels, layout);
  if (rows == nullptr) {
    jpeg_destroy_decompress(&s->cinfo);
    return false;
  }
  while (s->cinfo.output_scanline < s->cinfo.output_height) {
    JSAMPROW row = rows[s->cinfo.output_scanline];
    if (jpeg_read_scanlines(&s->cinfo, &row, 1) != 1) break;
  }
  jpeg_destroy_decompress(&s->cinfo);
  return true;
}

}  // namespace

bool DecodeJpegFrame(const uint8_t* data, size_t size, int64_t max_memory, DecodeTarget* target,
                     char* message, size_t message_size) {
  // Heap-allocated: jpeg_decompress_struct is large, and the state must outlive the frame's
  // setjmp. Plain new/delete of a trivially destructible struct, outside the frame.
  auto* state = new (std::nothrow) JpegState();
  if (state == nullptr) {
    std::snprintf(message, message_size, "out of memory");
    return false;
  }
  state->message = message;
  state->message_size = message_size;
  const bool ok = RunJpeg(state, data, size, max_memory, target);
  delete state;
  return ok;
}

}  // namespace continuum::image::internal
