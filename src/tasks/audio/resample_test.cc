#include "tasks/audio/resample.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace continuum::tasks::audio {
namespace {

std::vector<float> Sine(double freq, int rate, double seconds, double amplitude = 0.5) {
  std::vector<float> x(static_cast<size_t>(seconds * rate));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * freq * i / rate));
  return x;
}

// Largest deviation from the ideal sine at the output rate, away from the edges.
double MaxErrorVsIdeal(const std::vector<float>& y, double freq, int rate, double amplitude = 0.5) {
  double worst = 0;
  for (size_t i = y.size() / 10; i < y.size() * 9 / 10; ++i) {
    worst = std::max(worst, std::abs(y[i] - amplitude * std::sin(2 * std::numbers::pi * freq * i / rate)));
  }
  return worst;
}

double RmsMiddle(const std::vector<float>& y) {
  double s = 0;
  size_t n = 0;
  for (size_t i = y.size() / 10; i < y.size() * 9 / 10; ++i, ++n) s += double(y[i]) * y[i];
  return std::sqrt(s / n);
}

TEST(Resample, Lengths) {
  EXPECT_EQ(Resampler(44100, 16000).OutputLength(44100), 16000);
  EXPECT_EQ(Resampler(44100, 16000).OutputLength(1), 1);
  EXPECT_EQ(Resampler(8000, 16000).OutputLength(3), 6);
  EXPECT_EQ(Resampler(22050, 16000).OutputLength(0), 0);
  EXPECT_EQ(Resample(std::vector<float>(7, 1.0f), 16000, 16000).size(), 7u);
}

TEST(Resample, DcHasUnitGain) {
  for (int rate : {8000, 11025, 22050, 44100, 48000, 44099}) {
    std::vector<float> x(rate / 2, 0.5f);
    auto y = Resample(x, rate, 16000);
    ASSERT_GT(y.size(), 100u);
    for (size_t i = y.size() / 4; i < y.size() * 3 / 4; ++i)
      ASSERT_NEAR(y[i], 0.5f, 1e-4) << rate << " at " << i;
  }
}

TEST(Resample, PassbandToneIsPreservedInPhase) {
  for (int rate : {8000, 22050, 44100, 48000, 96000, 44099}) {
    auto y = Resample(Sine(1000, rate, 0.5), rate, 16000);
    EXPECT_LT(MaxErrorVsIdeal(y, 1000, 16000), 2e-3) << rate;
  }
  // Near the top of the passband as well (3 kHz from 8 kHz: the upsampler must not image).
  EXPECT_LT(MaxErrorVsIdeal(Resample(Sine(3000, 8000, 0.5), 8000, 16000), 3000, 16000), 5e-3);
  EXPECT_LT(MaxErrorVsIdeal(Resample(Sine(6000, 44100, 0.5), 44100, 16000), 6000, 16000), 6e-3);
}

TEST(Resample, ContentAboveTheNewNyquistDoesNotAlias) {
  // 9, 11 and 15 kHz would fold to 7, 5 and 1 kHz at 16 kHz; the filter must remove them.
  for (int rate : {44100, 48000, 44099}) {
    for (double f : {9000.0, 11000.0, 15000.0}) {
      auto y = Resample(Sine(f, rate, 0.5), rate, 16000);
      const double rms = RmsMiddle(y);
      const double db = 20 * std::log10(rms / (0.5 / std::sqrt(2.0)) + 1e-12);
      EXPECT_LT(db, -70) << rate << " Hz input, " << f << " Hz tone: " << db << " dB";
    }
  }
}

TEST(Resample, TableSize) {
  Resampler exact(44100, 16000);
  EXPECT_EQ(exact.phases(), 160);
  EXPECT_EQ(exact.taps() % 8, 0);
  Resampler inexact(44099, 16000);  // 16 000 phases would not fit: interpolated rows
  EXPECT_LT(inexact.phases(), 16000);
  EXPECT_LE(static_cast<int64_t>(inexact.phases() + 1) * inexact.taps(), (1 << 20) + inexact.taps());
}

TEST(Resample, CacheReturnsTheSameDesign) {
  EXPECT_EQ(Resampler::Get(22050, 16000).get(), Resampler::Get(22050, 16000).get());
}

}  // namespace
}  // namespace continuum::tasks::audio
