// libFuzzer target for the WAV decoder and the resampler (src/tasks/audio).
// The input is the file itself. Invariants: the header parse and the full decode agree; a decoded
// file has exactly `frames` mono samples, all finite and within [-1, 1], and no more samples than
// the input has bytes (memory stays proportional to the input); resampling it to 16 kHz gives
// the documented length and finite samples no larger than the filter's L1 norm allows (< 2.3).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_check.h"
#include "tasks/audio/resample.h"
#include "tasks/audio/wav.h"

namespace {

using namespace continuum;
using namespace continuum::tasks::audio;

using continuum::fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  WavLimits limits;
  limits.max_seconds = 60;
  auto header = ParseWavHeader(bytes, limits);
  auto audio = DecodeWav(bytes, limits);
  Check(header.ok() == audio.ok(), "header parse and decode agree");
  if (!audio.ok()) {
    Check(!audio.status().message().empty(), "errors have a message");
    Check(audio.status().code() == StatusCode::kInvalidArgument ||
              audio.status().code() == StatusCode::kPayloadTooLarge,
          "errors are InvalidArgument or PayloadTooLarge");
    return 0;
  }
  Check(header->frames == audio->info.frames, "same frame count");
  Check(static_cast<int64_t>(audio->samples.size()) == audio->info.frames, "one sample per frame");
  Check(audio->samples.size() <= size, "no more samples than input bytes");
  Check(audio->info.duration_seconds() <= limits.max_seconds, "duration within the limit");
  for (float v : audio->samples) Check(std::isfinite(v) && v >= -1.0f && v <= 1.0f, "samples in [-1, 1]");
  if (audio->samples.size() <= (1u << 16)) {
    auto resampler = Resampler::Get(audio->sample_rate, 16000);
    std::vector<float> out;
    resampler->Process(audio->samples, &out);
    Check(static_cast<int64_t>(out.size()) ==
              resampler->OutputLength(static_cast<int64_t>(audio->samples.size())),
          "resampled length");
    for (float v : out)
      Check(std::isfinite(v) && std::abs(v) <= 2.5f, "resampled samples finite and bounded");
  }
  return 0;
}
