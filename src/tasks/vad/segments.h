// From per-window speech probabilities to speech segments, the way Silero VAD's reference
// `get_speech_timestamps` (snakers4/silero-vad, utils_vad.py, v5) does it:
//   - a segment starts at the first window with p >= threshold;
//   - it ends at the first window of a run with p < neg_threshold that lasts at least
//     min_silence (probabilities between the two thresholds keep the current state: hysteresis);
//   - segments of min_speech or shorter are dropped;
//   - a segment longer than max_speech is split at the last silence longer than 98 ms if there
//     was one, else cut hard;
//   - every segment is widened by speech_pad on both sides, or by half the gap where two
//     segments are closer than 2 × speech_pad.
// Positions are in samples at the model's rate; window i covers [i·window, (i+1)·window).
// Thread-safe: a pure function.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace continuum::tasks::vad {

struct SegmentParams {
  double threshold = 0.5;       // speech starts at p >= threshold
  double neg_threshold = 0.35;  // and ends after min_silence of p < neg_threshold
  double min_speech_ms = 250;   // segments this short or shorter are dropped
  double min_silence_ms = 100;  // the silence that ends a segment
  double speech_pad_ms = 30;    // added on both sides of each segment
  double max_speech_s = std::numeric_limits<double>::infinity();  // longer segments are split
  int sample_rate = 16000;                                        // of the samples the positions count
  int window = 512;                                               // samples per probability
};

struct Segment {
  int64_t start = 0;  // samples, inclusive
  int64_t end = 0;    // samples, exclusive
  bool operator==(const Segment&) const = default;
};

// `audio_length`: samples of audio the probabilities were computed over (the last window may be
// partial; segments never end past it).
std::vector<Segment> ProbabilitiesToSegments(std::span<const float> probs, int64_t audio_length,
                                             const SegmentParams& params);

}  // namespace continuum::tasks::vad
