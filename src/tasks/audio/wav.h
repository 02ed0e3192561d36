// WAV (RIFF/WAVE) decoding from memory, for the audio tasks.
//
// Accepted: PCM integer 8 (unsigned), 16, 24 and 32 bits; IEEE float 32 and 64 bits; the same
// inside WAVE_FORMAT_EXTENSIBLE (valid bits narrower than the container are fine: samples are
// scaled by the container width). Any channel count up to WavLimits::max_channels; channels are
// averaged into one mono float signal in [-1, 1] (non-finite float samples become 0).
//
// Hostile input: every offset is checked against the buffer; chunk sizes past the end are clamped
// (a "data" chunk whose size is 0 or 0xFFFFFFFF, as streaming writers leave it, reads to the end
// of the buffer), odd chunks are padded to even, fmt may come after data, the RIFF size is not
// trusted. The duration is checked against WavLimits::max_seconds from the header, before any
// sample buffer is allocated; the decoded buffer is at most 4 bytes per input frame.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::tasks::audio {

struct WavLimits {
  double max_seconds = 600;    // longer audio: kPayloadTooLarge
  int max_channels = 256;      // more: kInvalidArgument
  int min_sample_rate = 1000;  // outside [min, max]: kInvalidArgument
  int max_sample_rate = 384000;
};

enum class SampleFormat { kPcmInt, kFloat };

struct WavInfo {
  SampleFormat format = SampleFormat::kPcmInt;
  bool extensible = false;  // WAVE_FORMAT_EXTENSIBLE
  int channels = 0;
  int sample_rate = 0;
  int bits_per_sample = 0;  // container width: 8, 16, 24, 32 or 64
  int64_t frames = 0;       // samples per channel
  double duration_seconds() const { return sample_rate > 0 ? static_cast<double>(frames) / sample_rate : 0; }
};

// Mono audio at its own sample rate.
struct MonoAudio {
  std::vector<float> samples;
  int sample_rate = 0;
  WavInfo info;  // what the file held
};

// True when `bytes` starts like a RIFF/WAVE file (a cheap sniff, not a validation).
bool LooksLikeWav(std::string_view bytes);

// Reads the header only: format, channels, rate, frame count (checked against the limits).
StatusOr<WavInfo> ParseWavHeader(std::string_view bytes, const WavLimits& limits = {});

// Decodes and downmixes to mono. Errors: kInvalidArgument (not a WAV, malformed, unsupported
// encoding), kPayloadTooLarge (longer than limits.max_seconds).
StatusOr<MonoAudio> DecodeWav(std::string_view bytes, const WavLimits& limits = {});

// Writes a canonical 16-bit PCM or 32-bit float WAV (for tests, fuzz seeds and tools).
std::string EncodeWav(const std::vector<float>& interleaved, int channels, int sample_rate,
                      bool float32 = false);

}  // namespace continuum::tasks::audio
