#include "tasks/vad/segments.h"

#include <gtest/gtest.h>

namespace continuum::tasks::vad {
namespace {

// Probabilities from runs of (value, windows).
std::vector<float> Runs(std::initializer_list<std::pair<float, int>> runs) {
  std::vector<float> p;
  for (auto [v, n] : runs) p.insert(p.end(), n, v);
  return p;
}

std::vector<Segment> Segments(const std::vector<float>& probs, const SegmentParams& params = {},
                              int64_t length = -1) {
  if (length < 0) length = static_cast<int64_t>(probs.size()) * params.window;
  return ProbabilitiesToSegments(probs, length, params);
}

TEST(Segments, NoSpeech) {
  EXPECT_TRUE(Segments(Runs({{0.0f, 50}})).empty());
  EXPECT_TRUE(Segments({}).empty());
  EXPECT_TRUE(Segments(Runs({{0.49f, 50}})).empty());
}

TEST(Segments, OneBurstIsPadded) {
  // Speech in windows 10..29; silence long enough after it (100 ms = 1600 samples < 4 windows).
  auto s = Segments(Runs({{0.0f, 10}, {0.9f, 20}, {0.0f, 10}}));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], (Segment{10 * 512 - 480, 30 * 512 + 480}));
}

TEST(Segments, ShortBurstsAreDropped) {
  // 5 windows = 2560 samples, not more than 250 ms (4000 samples).
  EXPECT_TRUE(Segments(Runs({{0.0f, 10}, {0.9f, 5}, {0.0f, 10}})).empty());
  // 8 windows = 4096 samples: kept.
  EXPECT_EQ(Segments(Runs({{0.0f, 10}, {0.9f, 8}, {0.0f, 10}})).size(), 1u);
  SegmentParams p;
  p.min_speech_ms = 0;
  EXPECT_EQ(Segments(Runs({{0.0f, 10}, {0.9f, 1}, {0.0f, 10}}), p).size(), 1u);
}

TEST(Segments, Hysteresis) {
  // Between neg_threshold (0.35) and threshold (0.5): neither starts nor ends speech.
  auto s = Segments(Runs({{0.4f, 10}, {0.6f, 10}, {0.4f, 30}, {0.2f, 10}}));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], (Segment{10 * 512 - 480, 50 * 512 + 480}));
  SegmentParams p;
  p.neg_threshold = 0.45;  // now 0.4 ends it
  s = Segments(Runs({{0.4f, 10}, {0.6f, 10}, {0.4f, 30}, {0.2f, 10}}), p);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], (Segment{10 * 512 - 480, 20 * 512 + 480}));
}

TEST(Segments, ShortSilenceDoesNotSplit) {
  // Silence is measured from the start of its first window to the start of the current one:
  // with 4 silent windows the last starts 1536 samples in, short of 100 ms (1600): one segment.
  auto s = Segments(Runs({{0.0f, 5}, {0.9f, 10}, {0.0f, 4}, {0.9f, 10}, {0.0f, 10}}));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], (Segment{5 * 512 - 480, 29 * 512 + 480}));
  // 5 windows (2048 samples in): two segments, each padded by 30 ms.
  s = Segments(Runs({{0.0f, 5}, {0.9f, 10}, {0.0f, 5}, {0.9f, 10}, {0.0f, 10}}));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], (Segment{5 * 512 - 480, 15 * 512 + 480}));
  EXPECT_EQ(s[1], (Segment{20 * 512 - 480, 30 * 512 + 480}));
}

TEST(Segments, PaddingSplitsNarrowGaps) {
  SegmentParams p;
  p.speech_pad_ms = 100;  // 1600 samples: 2 × pad exceeds the 2560-sample gap
  auto s = Segments(Runs({{0.0f, 5}, {0.9f, 10}, {0.0f, 5}, {0.9f, 10}, {0.0f, 10}}), p);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], (Segment{5 * 512 - 1600, 15 * 512 + 1280}));
  EXPECT_EQ(s[1], (Segment{20 * 512 - 1280, 30 * 512 + 1600}));
}

TEST(Segments, PaddingIsClippedToTheAudio) {
  auto s = Segments(Runs({{0.9f, 10}, {0.0f, 10}}));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].start, 0);
  // Speech to the end of the audio, the last window partial: ends at the audio's end.
  const int64_t length = 19 * 512 + 100;
  s = Segments(Runs({{0.0f, 10}, {0.9f, 10}}), {}, length);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], (Segment{10 * 512 - 480, length}));
  // Speech at the end that is too short is dropped.
  EXPECT_TRUE(Segments(Runs({{0.0f, 10}, {0.9f, 3}})).empty());
}

TEST(Segments, SilenceAtTheEndThatIsTooShortKeepsTheSegmentOpen) {
  auto s = Segments(Runs({{0.0f, 10}, {0.9f, 10}, {0.0f, 2}}));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], (Segment{10 * 512 - 480, 22 * 512}));
}

TEST(Segments, MaxSpeechSplitsAtTheLastPauseThenHard) {
  SegmentParams p;
  p.max_speech_s = 1;      // 16000 - 512 - 960 = 14528 samples
  p.min_silence_ms = 500;  // the 5-window dip does not end speech, but is > 98 ms
  auto s = Segments(Runs({{0.0f, 2}, {0.9f, 20}, {0.0f, 5}, {0.9f, 53}, {0.0f, 20}}), p);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], (Segment{544, 11744}));    // split at the dip (raw 1024..11264)
  EXPECT_EQ(s[1], (Segment{13344, 28928}));  // raw 13824..28672: cut hard at max length
  EXPECT_EQ(s[2], (Segment{28928, 41440}));  // raw 29184..40960
}

TEST(Segments, EightKilohertzWindows) {
  SegmentParams p;
  p.sample_rate = 8000;
  p.window = 256;
  auto s = Segments(Runs({{0.0f, 10}, {0.9f, 20}, {0.0f, 10}}), p);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], (Segment{10 * 256 - 240, 30 * 256 + 240}));
}

}  // namespace
}  // namespace continuum::tasks::vad
