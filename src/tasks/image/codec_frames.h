// Internal to decode.cc / codec_frames.cc: the boundary between C++ and the C libraries.
//
// libpng and libjpeg report errors by longjmp. A longjmp that crosses a C++ frame holding
// objects with destructors is undefined behaviour, so each library runs inside one small
// C-style "frame" function (codec_frames.cc) whose locals are all trivially destructible and
// whose setjmp catches every error. The C++ side (DecodeTarget) owns the pixel memory; the
// frame calls its noexcept methods, which return before control goes back into the library,
// so no C++ frame is ever live when a longjmp happens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace continuum::image::internal {

// What the decoded buffer holds.
enum class Layout { kRgb, kRgba, kCmyk, kCmykInverted };

class DecodeTarget {
 public:
  explicit DecodeTarget(int64_t max_pixels) : max_pixels_(max_pixels) {}

  // The size from the header. False (status() says why) when empty or over the pixel limit.
  bool Accept(uint32_t width, uint32_t height, const char* format) noexcept;
  // A buffer for the accepted size with `channels` bytes per pixel (3 or 4); returns row
  // pointers into it, or null (status() set) when the memory cannot be had. For decoders that
  // revisit rows (interlaced PNG, JPEG).
  uint8_t** AllocateRows(int channels, Layout layout) noexcept;
  // Row by row instead: BeginRows sets the layout, each NextRow appends one row and returns it
  // (valid until the next call), or null (status() set) when the memory cannot be had. The
  // buffer grows with the rows actually decoded, so a truncated file that declares a huge size
  // costs what it holds, not what it claims.
  void BeginRows(int channels, Layout layout) noexcept;
  uint8_t* NextRow() noexcept;
  // The most pixel-buffer bytes held at once so far (what decoding cost in memory).
  size_t peak_bytes() const { return peak_bytes_; }
  void SetExifOrientation(int orientation) noexcept { orientation_ = orientation; }

  const Status& status() const { return status_; }
  int width() const { return width_; }
  int height() const { return height_; }
  int channels() const { return channels_; }
  Layout layout() const { return layout_; }
  int orientation() const { return orientation_; }
  std::vector<uint8_t>& buffer() { return buffer_; }

 private:
  int64_t max_pixels_;
  Status status_;
  int width_ = 0, height_ = 0, channels_ = 0;
  Layout layout_ = Layout::kRgb;
  int orientation_ = 1;
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t*> rows_;
  size_t peak_bytes_ = 0;
};

// Both return true on success. On failure either target->status() is set (a refusal of the
// C++ side) or `message` holds the library's description of the problem.
bool DecodePngFrame(const uint8_t* data, size_t size, DecodeTarget* target, char* message,
                    size_t message_size);
bool DecodeJpegFrame(const uint8_t* data, size_t size, int64_t max_memory, DecodeTarget* target,
                     char* message, size_t message_size);

// The orientation (1..8) in an EXIF APP1 payload ("Exif\0\0" + TIFF), or 0 when absent/invalid.
int ExifOrientation(const uint8_t* data, size_t size) noexcept;

}  // namespace continuum::image::internal
