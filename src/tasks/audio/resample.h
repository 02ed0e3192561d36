// Sample-rate conversion for the audio tasks (models want 16 kHz; files come at any rate).
//
// The filter: a Kaiser-windowed sinc low-pass applied in polyphase form at the exact rational
// ratio to/from (reduced by their gcd).
//   cutoff     0.91 × min(from, to) / 2   (7.28 kHz for 16 kHz output)
//   length     32 zero crossings of the sinc on each side (2 × ceil(32 / (2 · cutoff / from))
//              input taps: 72 from 8 kHz, 194 from 44.1 kHz, 212 from 48 kHz)
//   window     Kaiser, beta 8.6: about -86 dB side lobes
// Measured response going to 16 kHz (from 22.05, 44.1 or 48 kHz): flat (±0.01 dB) to 6.5 kHz,
// -0.8 dB at 7 kHz, -6.7 dB at 7.3 kHz, -24 dB at 7.6 kHz, -90 dB or less from 8.4 kHz up; so
// what would alias (content above 8 kHz) is gone except a sliver just above 8 kHz that folds
// onto 7.6..8 kHz. Every phase is normalised to unit DC gain. Cost: ~0.6 ms per second of
// 44.1 kHz audio on one core.
// Samples beyond the signal are zero (no padded copy of the input is made); the output has
// ceil(n · to / from) samples, and output sample k sits at input time k · from / to (no delay).
// Output magnitude is bounded by the filter's L1 norm (< 2.3 × the input's peak).
//
// The phase table has one row per distinct phase (to / gcd rows) when that fits in 4 MB; for
// unusual rate pairs (e.g. 44 099 Hz → 16 kHz, 16 000 phases) it keeps fewer rows and
// interpolates linearly between neighbouring rows.
//
// Thread-safety: a Resampler is immutable; Get() caches designs behind a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace continuum::tasks::audio {

class Resampler {
 public:
  static constexpr double kRolloff = 0.91;
  static constexpr int kZeroCrossings = 32;
  static constexpr double kKaiserBeta = 8.6;

  // Rates must be positive. Designs are cached (a few recent rate pairs).
  static std::shared_ptr<const Resampler> Get(int from_rate, int to_rate);
  Resampler(int from_rate, int to_rate);

  int from_rate() const { return from_; }
  int to_rate() const { return to_; }
  int taps() const { return taps_; }
  int phases() const { return phases_; }
  int64_t OutputLength(int64_t input_length) const;
  // Resamples a whole signal into `out` (resized to OutputLength).
  void Process(std::span<const float> in, std::vector<float>* out) const;

 private:
  int from_, to_;
  int64_t up_, down_;  // to / gcd, from / gcd
  int half_ = 0;       // taps on each side of the centre, in input samples
  int taps_ = 0;       // per phase, padded to a multiple of 8
  int phases_ = 0;     // rows of the table (== up_ when exact)
  bool exact_ = true;
  std::vector<float> table_;  // (phases_ + 1) rows × taps_
};

// Convenience: resampled copy (a plain copy when the rates are equal).
std::vector<float> Resample(std::span<const float> in, int from_rate, int to_rate);

}  // namespace continuum::tasks::audio
