#include "tasks/vad/segments.h"

#include <algorithm>
#include <cmath>

namespace continuum::tasks::vad {

std::vector<Segment> ProbabilitiesToSegments(std::span<const float> probs, int64_t audio_length,
                                             const SegmentParams& p) {
  const int64_t window = p.window;
  const double sr = p.sample_rate;
  // The reference keeps these as floats and compares with them directly.
  const double min_speech = sr * p.min_speech_ms / 1000;
  const double min_silence = sr * p.min_silence_ms / 1000;
  const double pad = sr * p.speech_pad_ms / 1000;
  const double max_speech = sr * p.max_speech_s - static_cast<double>(window) - 2 * pad;
  const double min_silence_at_max_speech = sr * 98 / 1000;

  std::vector<Segment> speeches;
  bool triggered = false;
  bool have_current = false;
  Segment current;
  // 0 doubles as "unset" for these three, as in the reference.
  int64_t temp_end = 0, prev_end = 0, next_start = 0;

  for (size_t i = 0; i < probs.size(); ++i) {
    const int64_t at = window * static_cast<int64_t>(i);
    const double prob = probs[i];
    if (prob >= p.threshold && temp_end) {
      temp_end = 0;
      if (next_start < prev_end) next_start = at;
    }
    if (prob >= p.threshold && !triggered) {
      triggered = true;
      current = {at, 0};
      have_current = true;
      continue;
    }
    if (triggered && static_cast<double>(at - current.start) > max_speech) {
      if (prev_end) {
        current.end = prev_end;
        speeches.push_back(current);
        have_current = false;
        if (next_start < prev_end) {  // the silence before it still holds: not speech yet
          triggered = false;
        } else {
          current = {next_start, 0};
          have_current = true;
        }
        prev_end = next_start = temp_end = 0;
      } else {
        current.end = at;
        speeches.push_back(current);
        have_current = false;
        prev_end = next_start = temp_end = 0;
        triggered = false;
        continue;
      }
    }
    if (prob < p.neg_threshold && triggered) {
      if (!temp_end) temp_end = at;
      if (static_cast<double>(at - temp_end) > min_silence_at_max_speech) prev_end = temp_end;
      if (static_cast<double>(at - temp_end) < min_silence) continue;
      current.end = temp_end;
      if (static_cast<double>(current.end - current.start) > min_speech) speeches.push_back(current);
      have_current = false;
      prev_end = next_start = temp_end = 0;
      triggered = false;
    }
  }
  if (have_current && static_cast<double>(audio_length - current.start) > min_speech) {
    current.end = audio_length;
    speeches.push_back(current);
  }

  auto floor_int = [](double v) { return static_cast<int64_t>(std::floor(v)); };
  for (size_t i = 0; i < speeches.size(); ++i) {
    Segment& s = speeches[i];
    if (i == 0) s.start = floor_int(std::max(0.0, static_cast<double>(s.start) - pad));
    if (i + 1 < speeches.size()) {
      Segment& next = speeches[i + 1];
      const int64_t silence = next.start - s.end;
      if (static_cast<double>(silence) < 2 * pad) {
        const int64_t half = silence >= 0 ? silence / 2 : -((-silence + 1) / 2);  // floor division
        s.end += half;
        next.start = std::max<int64_t>(0, next.start - half);
      } else {
        s.end = floor_int(std::min(static_cast<double>(audio_length), static_cast<double>(s.end) + pad));
        next.start = floor_int(std::max(0.0, static_cast<double>(next.start) - pad));
      }
    } else {
      s.end = floor_int(std::min(static_cast<double>(audio_length), static_cast<double>(s.end) + pad));
    }
  }
  return speeches;
}

}  // namespace continuum::tasks::vad
