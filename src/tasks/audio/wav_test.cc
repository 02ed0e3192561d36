#include "tasks/audio/wav.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace continuum::tasks::audio {
namespace {

void Put16(std::string& s, uint32_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
void Put32(std::string& s, uint32_t v) {
  Put16(s, v & 0xFFFF);
  Put16(s, v >> 16);
}

std::string Chunk(std::string_view id, std::string_view body, bool pad = true) {
  std::string s(id);
  Put32(s, static_cast<uint32_t>(body.size()));
  s += body;
  if (pad && body.size() % 2) s.push_back('\0');
  return s;
}

std::string Fmt(uint16_t tag, uint16_t channels, uint32_t rate, uint16_t bits, int block_align = -1) {
  std::string s;
  Put16(s, tag);
  Put16(s, channels);
  Put32(s, rate);
  const uint32_t align = block_align >= 0 ? static_cast<uint32_t>(block_align) : channels * (bits / 8u);
  Put32(s, rate * align);
  Put16(s, align);
  Put16(s, bits);
  return s;
}

// WAVE_FORMAT_EXTENSIBLE fmt body with the given sub-format tag.
std::string FmtExt(uint16_t subtag, uint16_t channels, uint32_t rate, uint16_t bits, uint16_t valid_bits) {
  std::string s = Fmt(0xFFFE, channels, rate, bits);
  Put16(s, 22);
  Put16(s, valid_bits);
  Put32(s, 0x3);  // channel mask
  Put16(s, subtag);
  const unsigned char tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                  0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
  s.append(reinterpret_cast<const char*>(tail), sizeof tail);
  return s;
}

std::string Riff(std::string_view chunks, uint32_t riff_size = 0xABCD) {
  std::string s = "RIFF";
  Put32(s, riff_size == 0xABCD ? static_cast<uint32_t>(4 + chunks.size()) : riff_size);
  s += "WAVE";
  s += chunks;
  return s;
}

std::string S16(std::initializer_list<int> v) {
  std::string s;
  for (int x : v) Put16(s, static_cast<uint16_t>(static_cast<int16_t>(x)));
  return s;
}

TEST(Wav, RoundTrip16BitMono) {
  std::vector<float> x = {0.0f, 0.5f, -0.5f, 1.0f, -1.0f, 0.25f};
  auto a = DecodeWav(EncodeWav(x, 1, 16000));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->sample_rate, 16000);
  EXPECT_EQ(a->info.channels, 1);
  EXPECT_EQ(a->info.bits_per_sample, 16);
  ASSERT_EQ(a->samples.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(a->samples[i], x[i], 1.0 / 32767);
}

TEST(Wav, StereoIsAveraged) {
  std::vector<float> x = {0.5f, 0.1f, -1.0f, 1.0f};  // two frames
  auto a = DecodeWav(EncodeWav(x, 2, 8000));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->samples.size(), 2u);
  EXPECT_NEAR(a->samples[0], 0.3f, 1e-4);
  EXPECT_NEAR(a->samples[1], 0.0f, 1e-4);
  EXPECT_DOUBLE_EQ(a->info.duration_seconds(), 2.0 / 8000);
}

TEST(Wav, FloatNonFiniteAndOutOfRange) {
  std::vector<float> x = {0.25f, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity(), 3.0f, -7.0f};
  auto a = DecodeWav(EncodeWav(x, 1, 22050, /*float32=*/true));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->info.format, SampleFormat::kFloat);
  EXPECT_EQ(a->samples, (std::vector<float>{0.25f, 0.0f, 0.0f, 1.0f, -1.0f}));
}

TEST(Wav, Pcm8Unsigned) {
  auto a = DecodeWav(Riff(Chunk("fmt ", Fmt(1, 1, 8000, 8)) + Chunk("data", std::string("\x80\x00\xff", 3))));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->samples.size(), 3u);  // odd data chunk: the pad byte is not a sample
  EXPECT_FLOAT_EQ(a->samples[0], 0.0f);
  EXPECT_FLOAT_EQ(a->samples[1], -1.0f);
  EXPECT_NEAR(a->samples[2], 127.0 / 128, 1e-6);
}

TEST(Wav, Pcm24And32) {
  std::string d24 = std::string("\x00\x00\x40", 3) + std::string("\x00\x00\xC0", 3);  // +0.5, -0.5
  auto a = DecodeWav(Riff(Chunk("fmt ", Fmt(1, 1, 48000, 24)) + Chunk("data", d24)));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples, (std::vector<float>{0.5f, -0.5f}));
  std::string d32;
  Put32(d32, 0x40000000u);
  Put32(d32, 0x80000000u);
  a = DecodeWav(Riff(Chunk("fmt ", Fmt(1, 1, 48000, 32)) + Chunk("data", d32)));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples, (std::vector<float>{0.5f, -1.0f}));
}

TEST(Wav, Float64) {
  std::string d;
  for (double v : {0.125, -0.75}) {
    char b[8];
    std::memcpy(b, &v, 8);
    d.append(b, 8);
  }
  auto a = DecodeWav(Riff(Chunk("fmt ", Fmt(3, 1, 16000, 64)) + Chunk("data", d)));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples, (std::vector<float>{0.125f, -0.75f}));
}

TEST(Wav, Extensible24In32AndFloat) {
  std::string d;
  Put32(d, 0x40000000u);  // 24 valid bits, left-aligned in a 32-bit container
  Put32(d, 0x20000000u);
  auto a = DecodeWav(Riff(Chunk("fmt ", FmtExt(1, 2, 96000, 32, 24)) + Chunk("data", d)));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(a->info.extensible);
  EXPECT_EQ(a->samples, (std::vector<float>{0.375f}));
  std::string f;
  float v = 0.5f;
  f.append(reinterpret_cast<const char*>(&v), 4);
  a = DecodeWav(Riff(Chunk("fmt ", FmtExt(3, 1, 44100, 32, 32)) + Chunk("data", f)));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples, (std::vector<float>{0.5f}));
  // Another sub-format GUID (e.g. the extensible tag itself) is refused.
  auto bad = DecodeWav(Riff(Chunk("fmt ", FmtExt(0xFFFE, 1, 44100, 32, 32)) + Chunk("data", f)));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  // Valid bits wider than the container.
  bad = DecodeWav(Riff(Chunk("fmt ", FmtExt(1, 1, 44100, 16, 24)) + Chunk("data", f)));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Wav, G711) {
  // A-law 0xD5 and mu-law 0xFF are the codes for (near) zero; 0x80 / 0x00 the extremes.
  auto a = DecodeWav(Riff(Chunk("fmt ", Fmt(6, 1, 8000, 8)) + Chunk("data", std::string("\xD5\xAA", 2))));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_NEAR(a->samples[0], 0.0f, 1e-3);
  EXPECT_NEAR(a->samples[1], 32256.0 / 32768, 1e-6);
  a = DecodeWav(Riff(Chunk("fmt ", Fmt(7, 1, 8000, 8)) + Chunk("data", std::string("\xFF\x00", 2))));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FLOAT_EQ(a->samples[0], 0.0f);
  EXPECT_NEAR(a->samples[1], -32124.0 / 32768, 1e-6);
}

TEST(Wav, ChunksInAnyOrderWithOddPadding) {
  std::string data = Chunk("data", S16({1000, -1000}));
  std::string wav = Riff(Chunk("LIST", "abc") + data + Chunk("fmt ", Fmt(1, 1, 16000, 16)));
  auto a = DecodeWav(wav);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples.size(), 2u);
  EXPECT_NEAR(a->samples[0], 1000.0 / 32768, 1e-6);
}

TEST(Wav, DataSizePastTheEndIsClamped) {
  std::string data = "data";
  Put32(data, 1'000'000'000u);
  data += S16({1, 2, 3});
  data.push_back('\x07');  // a partial frame is dropped
  auto a = DecodeWav(Riff(Chunk("fmt ", Fmt(1, 1, 16000, 16)) + data));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples.size(), 3u);
}

TEST(Wav, StreamingSizes) {
  std::string data = "data";
  Put32(data, 0xFFFFFFFFu);
  data += S16({5, 6});
  auto a = DecodeWav(Riff(Chunk("fmt ", Fmt(1, 1, 16000, 16)) + data, 0xFFFFFFFFu));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples.size(), 2u);
  data = "data";
  Put32(data, 0);
  data += S16({5, 6, 7});
  a = DecodeWav(Riff(Chunk("fmt ", Fmt(1, 1, 16000, 16)) + data, 0));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples.size(), 3u);
  // A declared empty data chunk in a well-formed file is empty audio.
  a = DecodeWav(Riff(Chunk("fmt ", Fmt(1, 1, 16000, 16)) + Chunk("data", "") + Chunk("LIST", "xxxx")));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->samples.size(), 0u);
}

TEST(Wav, DurationLimitIsCheckedFromTheHeader) {
  std::vector<float> x(2 * 8000, 0.1f);
  const std::string wav = EncodeWav(x, 1, 8000);
  WavLimits limits;
  limits.max_seconds = 1.5;
  auto a = DecodeWav(wav, limits);
  EXPECT_EQ(a.status().code(), StatusCode::kPayloadTooLarge);
  EXPECT_NE(a.status().message().find("2.0 s"), std::string::npos) << a.status().message();
  auto h = ParseWavHeader(wav);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->frames, 16000);
}

struct BadCase {
  const char* name;
  std::string bytes;
  const char* message_part;
};

TEST(Wav, HostileHeaders) {
  const std::string data = Chunk("data", S16({1, 2}));
  std::vector<BadCase> cases = {
      {"empty", "", "too short"},
      {"not riff", std::string(64, 'x'), "RIFF/WAVE"},
      {"rf64", "RF64" + std::string(60, '\0'), "RF64"},
      {"no fmt", Riff(data), "no fmt"},
      {"no data", Riff(Chunk("fmt ", Fmt(1, 1, 16000, 16))), "no data"},
      {"short fmt", Riff(Chunk("fmt ", Fmt(1, 1, 16000, 16).substr(0, 12)) + data), "too short"},
      {"fmt past end", Riff("fmt " + std::string("\x40\x00\x00\x00", 4) + Fmt(1, 1, 16000, 16)),
       "past the end"},
      {"zero channels", Riff(Chunk("fmt ", Fmt(1, 0, 16000, 16, 2)) + data), "zero channels"},
      {"many channels", Riff(Chunk("fmt ", Fmt(1, 65535, 16000, 16)) + data), "65535 channels"},
      {"rate 0", Riff(Chunk("fmt ", Fmt(1, 1, 0, 16)) + data), "sample rate 0"},
      {"rate huge", Riff(Chunk("fmt ", Fmt(1, 1, 4'000'000'000u, 16)) + data), "sample rate"},
      {"12-bit", Riff(Chunk("fmt ", Fmt(1, 1, 16000, 12, 2)) + data), "12-bit"},
      {"float 16", Riff(Chunk("fmt ", Fmt(3, 1, 16000, 16)) + data), "float"},
      {"mp3", Riff(Chunk("fmt ", Fmt(0x55, 1, 16000, 16)) + data), "0x0055"},
      {"block align", Riff(Chunk("fmt ", Fmt(1, 2, 16000, 16, 3)) + data), "block_align"},
      {"zero block align", Riff(Chunk("fmt ", Fmt(1, 1, 16000, 0, 0)) + data), "0-bit"},
  };
  for (const auto& c : cases) {
    auto a = DecodeWav(c.bytes);
    ASSERT_FALSE(a.ok()) << c.name;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(a.status().message().find(c.message_part), std::string::npos)
        << c.name << ": " << a.status().message();
  }
}

TEST(Wav, ManyChannelsWithinTheLimit) {
  std::vector<float> x(64 * 3, 0.5f);
  auto a = DecodeWav(EncodeWav(x, 64, 16000));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->samples.size(), 3u);
  EXPECT_NEAR(a->samples[1], 0.5f, 1e-4);
}

TEST(Wav, Sniff) {
  EXPECT_TRUE(LooksLikeWav(EncodeWav({0.0f}, 1, 16000)));
  EXPECT_FALSE(LooksLikeWav("OggS"));
}

}  // namespace
}  // namespace continuum::tasks::audio
