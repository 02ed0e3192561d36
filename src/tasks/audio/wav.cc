#include "tasks/audio/wav.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace continuum::tasks::audio {
namespace {

// WAVE_FORMAT_* tags.
enum : uint16_t {
  kTagPcm = 0x0001,
  kTagFloat = 0x0003,
  kTagAlaw = 0x0006,
  kTagMulaw = 0x0007,
  kTagExtensible = 0xFFFE
};
// KSDATAFORMAT_SUBTYPE_*: the format tag in the first two bytes, then this fixed tail.
constexpr unsigned char kGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                         0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

enum class Codec { kU8, kS16, kS24, kS32, kF32, kF64, kAlaw, kMulaw };

// The encodings decoded: format tag and bits per sample.
struct Encoding {
  uint16_t tag;
  int bits;
  SampleFormat format;
  Codec codec;
};
constexpr Encoding kEncodings[] = {
    {kTagPcm, 8, SampleFormat::kPcmInt, Codec::kU8},    {kTagPcm, 16, SampleFormat::kPcmInt, Codec::kS16},
    {kTagPcm, 24, SampleFormat::kPcmInt, Codec::kS24},  {kTagPcm, 32, SampleFormat::kPcmInt, Codec::kS32},
    {kTagFloat, 32, SampleFormat::kFloat, Codec::kF32}, {kTagFloat, 64, SampleFormat::kFloat, Codec::kF64},
    {kTagAlaw, 8, SampleFormat::kPcmInt, Codec::kAlaw}, {kTagMulaw, 8, SampleFormat::kPcmInt, Codec::kMulaw},
};

uint16_t U16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t U32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

std::string Hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", v);
  return buf;
}

struct Layout {
  WavInfo info;
  Codec codec = Codec::kS16;
  uint64_t data_offset = 0;
  uint64_t data_bytes = 0;
  int block_align = 0;
};

// The fmt chunk body (size >= 16, all of it inside the buffer).
Status ParseFmt(const unsigned char* p, uint32_t size, const WavLimits& limits, Layout* out) {
  uint16_t tag = U16(p);
  const int channels = U16(p + 2);
  const uint32_t rate = U32(p + 4);
  const int block_align = U16(p + 12);
  const int bits = U16(p + 14);
  WavInfo& info = out->info;
  if (tag == kTagExtensible) {
    if (size < 40 || U16(p + 16) < 22)
      return InvalidArgument("WAV: WAVE_FORMAT_EXTENSIBLE fmt chunk is too short");
    const int valid_bits = U16(p + 18);
    if (valid_bits > bits) {
      return InvalidArgument("WAV: valid bits per sample (" + std::to_string(valid_bits) +
                             ") exceed the container (" + std::to_string(bits) + ")");
    }
    if (std::memcmp(p + 26, kGuidTail, sizeof kGuidTail) != 0 || U16(p + 24) == kTagExtensible) {
      return InvalidArgument(
          "WAV: unsupported WAVE_FORMAT_EXTENSIBLE sub-format (supported: PCM, IEEE float)");
    }
    tag = U16(p + 24);
    info.extensible = true;
  }
  if (channels < 1) return InvalidArgument("WAV: zero channels");
  if (channels > limits.max_channels) {
    return InvalidArgument("WAV: " + std::to_string(channels) + " channels (at most " +
                           std::to_string(limits.max_channels) + " are accepted)");
  }
  if (rate < static_cast<uint32_t>(limits.min_sample_rate) ||
      rate > static_cast<uint32_t>(limits.max_sample_rate)) {
    return InvalidArgument("WAV: sample rate " + std::to_string(rate) + " Hz is outside the accepted " +
                           std::to_string(limits.min_sample_rate) + ".." +
                           std::to_string(limits.max_sample_rate) + " Hz");
  }
  const Encoding* encoding = nullptr;
  for (const Encoding& e : kEncodings) {
    if (e.tag == tag && e.bits == bits) encoding = &e;
  }
  if (encoding == nullptr) {
    switch (tag) {
      case kTagPcm:
        return InvalidArgument("WAV: " + std::to_string(bits) + "-bit PCM is not supported (8, 16, 24, 32)");
      case kTagFloat:
        return InvalidArgument("WAV: " + std::to_string(bits) + "-bit float is not supported (32, 64)");
      case kTagAlaw:
      case kTagMulaw: return InvalidArgument("WAV: G.711 audio must have 8 bits per sample");
      default:
        return InvalidArgument("WAV: unsupported encoding (format tag " + Hex16(tag) +
                               "); supported: PCM, IEEE float, A-law, mu-law");
    }
  }
  info.format = encoding->format;
  out->codec = encoding->codec;
  const int expected_align = channels * (bits / 8);
  if (block_align != expected_align) {
    return InvalidArgument("WAV: block_align " + std::to_string(block_align) + " does not match " +
                           std::to_string(channels) + " channels of " + std::to_string(bits) + " bits");
  }
  info.channels = channels;
  info.sample_rate = static_cast<int>(rate);
  info.bits_per_sample = bits;
  out->block_align = block_align;
  return Status::Ok();
}

StatusOr<Layout> ParseLayout(std::string_view bytes, const WavLimits& limits) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t size = bytes.size();
  if (size < 12) return InvalidArgument("not a WAV file: too short for a RIFF header");
  if (std::memcmp(b, "RF64", 4) == 0 || std::memcmp(b, "RIFX", 4) == 0) {
    return InvalidArgument("WAV: " + std::string(bytes.substr(0, 4)) +
                           " files are not supported (RIFF/WAVE only)");
  }
  if (std::memcmp(b, "RIFF", 4) != 0 || std::memcmp(b + 8, "WAVE", 4) != 0) {
    return InvalidArgument("unsupported audio: expected a RIFF/WAVE file (other containers are not decoded)");
  }
  const uint32_t riff_size = U32(b + 4);
  Layout layout;
  bool have_fmt = false, have_data = false;
  uint64_t pos = 12;
  // Each chunk advances by at least 8 bytes, so this ends after at most size/8 steps.
  while (pos + 8 <= size) {
    const unsigned char* id = b + pos;
    const uint64_t csize = U32(b + pos + 4);
    const uint64_t body = pos + 8;
    const uint64_t avail = size - body;
    if (std::memcmp(id, "fmt ", 4) == 0 && !have_fmt) {
      if (csize < 16)
        return InvalidArgument("WAV: fmt chunk is too short (" + std::to_string(csize) + " bytes)");
      if (csize > avail) return InvalidArgument("WAV: fmt chunk runs past the end of the file");
      RETURN_IF_ERROR(ParseFmt(b + body, static_cast<uint32_t>(csize), limits, &layout));
      have_fmt = true;
    } else if (std::memcmp(id, "data", 4) == 0 && !have_data) {
      have_data = true;
      layout.data_offset = body;
      // Streaming writers leave the size unknown (0xFFFFFFFF, or 0 with an unknown RIFF size):
      // the data then runs to the end. A size past the end is clamped (truncated file).
      const bool unknown =
          csize == 0xFFFFFFFFu || (csize == 0 && (riff_size == 0 || riff_size == 0xFFFFFFFFu));
      layout.data_bytes = unknown ? avail : std::min(csize, avail);
      if (unknown) break;
    }
    pos = body + csize + (csize & 1);  // chunks are padded to an even size
  }
  if (!have_fmt) return InvalidArgument("WAV: no fmt chunk");
  if (!have_data) return InvalidArgument("WAV: no data chunk");
  layout.info.frames = static_cast<int64_t>(layout.data_bytes / static_cast<uint64_t>(layout.block_align));
  const double seconds = layout.info.duration_seconds();
  if (seconds > limits.max_seconds) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "audio is %.1f s long; the limit is %g s", seconds, limits.max_seconds);
    return PayloadTooLarge(buf);
  }
  return layout;
}

float Alaw(uint8_t v) {
  v ^= 0x55;
  int t = (v & 0x0F) << 4;
  const int seg = (v & 0x70) >> 4;
  if (seg == 0)
    t += 8;
  else
    t = (t + 0x108) << (seg - 1);
  return static_cast<float>((v & 0x80) ? t : -t) / 32768.0f;
}

float Mulaw(uint8_t v) {
  v = static_cast<uint8_t>(~v);
  int t = ((v & 0x0F) << 3) + 0x84;
  t <<= (v & 0x70) >> 4;
  return static_cast<float>((v & 0x80) ? (0x84 - t) : (t - 0x84)) / 32768.0f;
}

// Sums the channels of every frame into `out` (sized to frames) and scales by 1/channels.
template <typename Read>
void Downmix(const unsigned char* p, int64_t frames, int channels, int width, float* out, Read read) {
  const float scale = 1.0f / static_cast<float>(channels);
  for (int64_t f = 0; f < frames; ++f) {
    float acc = 0;
    for (int c = 0; c < channels; ++c, p += width) acc += read(p);
    out[f] = std::clamp(acc * scale, -1.0f, 1.0f);
  }
}

float Finite(double v) { return std::isfinite(v) ? static_cast<float>(std::clamp(v, -1.0, 1.0)) : 0.0f; }

// An IEEE float sample (float or double, little-endian as the host): clamped, NaN and ∞ as 0.
template <class T>
float FloatSample(const unsigned char* s) {
  T v;
  std::memcpy(&v, s, sizeof v);
  return Finite(v);
}

}  // namespace

bool LooksLikeWav(std::string_view bytes) {
  return bytes.size() >= 12 && bytes.substr(0, 4) == "RIFF" && bytes.substr(8, 4) == "WAVE";
}

StatusOr<WavInfo> ParseWavHeader(std::string_view bytes, const WavLimits& limits) {
  ASSIGN_OR_RETURN(Layout layout, ParseLayout(bytes, limits));
  return layout.info;
}

StatusOr<MonoAudio> DecodeWav(std::string_view bytes, const WavLimits& limits) {
  ASSIGN_OR_RETURN(Layout layout, ParseLayout(bytes, limits));
  MonoAudio audio;
  audio.info = layout.info;
  audio.sample_rate = layout.info.sample_rate;
  const int64_t frames = layout.info.frames;
  const int ch = layout.info.channels;
  audio.samples.resize(static_cast<size_t>(frames));
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + layout.data_offset;
  float* out = audio.samples.data();
  switch (layout.codec) {
    case Codec::kU8:
      Downmix(p, frames, ch, 1, out,
              [](const unsigned char* s) { return (static_cast<float>(*s) - 128.0f) / 128.0f; });
      break;
    case Codec::kS16:
      Downmix(p, frames, ch, 2, out, [](const unsigned char* s) {
        return static_cast<float>(static_cast<int16_t>(U16(s))) / 32768.0f;
      });
      break;
    case Codec::kS24:
      Downmix(p, frames, ch, 3, out, [](const unsigned char* s) {
        const int32_t v =
            static_cast<int32_t>(static_cast<uint32_t>(s[0]) << 8 | static_cast<uint32_t>(s[1]) << 16 |
                                 static_cast<uint32_t>(s[2]) << 24);
        return static_cast<float>(v >> 8) / 8388608.0f;
      });
      break;
    case Codec::kS32:
      Downmix(p, frames, ch, 4, out, [](const unsigned char* s) {
        return static_cast<float>(static_cast<int32_t>(U32(s)) / 2147483648.0);
      });
      break;
    case Codec::kF32: Downmix(p, frames, ch, 4, out, FloatSample<float>); break;
    case Codec::kF64: Downmix(p, frames, ch, 8, out, FloatSample<double>); break;
    case Codec::kAlaw: Downmix(p, frames, ch, 1, out, [](const unsigned char* s) { return Alaw(*s); }); break;
    case Codec::kMulaw:
      Downmix(p, frames, ch, 1, out, [](const unsigned char* s) { return Mulaw(*s); });
      break;
  }
  return audio;
}

std::string EncodeWav(const std::vector<float>& interleaved, int channels, int sample_rate, bool float32) {
  const uint32_t width = float32 ? 4 : 2;
  const uint32_t data_bytes = static_cast<uint32_t>(interleaved.size() * width);
  std::string out;
  auto u16 = [&](uint32_t v) {
    out.push_back(static_cast<char>(v & 0xFF)), out.push_back(static_cast<char>(v >> 8));
  };
  auto u32 = [&](uint32_t v) { u16(v & 0xFFFF), u16(v >> 16); };
  out += "RIFF";
  u32(36 + data_bytes);
  out += "WAVEfmt ";
  u32(16);
  u16(float32 ? kTagFloat : kTagPcm);
  u16(static_cast<uint32_t>(channels));
  u32(static_cast<uint32_t>(sample_rate));
  u32(static_cast<uint32_t>(sample_rate) * channels * width);
  u16(channels * width);
  u16(width * 8);
  out += "data";
  u32(data_bytes);
  for (float s : interleaved) {
    if (float32) {
      uint32_t bits;
      std::memcpy(&bits, &s, 4);
      u32(bits);
    } else {
      const long v = std::lround(std::clamp(s, -1.0f, 1.0f) * 32767.0f);
      u16(static_cast<uint16_t>(static_cast<int16_t>(v)));
    }
  }
  return out;
}

}  // namespace continuum::tasks::audio
