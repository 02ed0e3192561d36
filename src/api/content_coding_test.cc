#include "api/content_coding.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <utility>

namespace continuum::v2 {
namespace {

// What Python's gzip.compress / zlib.compress (Triton's client) send, made with zlib itself.
std::string Compress(const std::string& s, int window_bits, int level = Z_DEFAULT_COMPRESSION) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, s.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = static_cast<uInt>(s.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
std::string Gzip(const std::string& s) { return Compress(s, MAX_WBITS + 16); }
std::string Zlib(const std::string& s) { return Compress(s, MAX_WBITS); }

std::string Sample(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += R"({"name":"INPUT0","data":[)" + std::to_string(i) + "]}";
  s.resize(n);
  return s;
}

TEST(ContentCodingTest, ParsesContentEncoding) {
  const std::pair<const char*, ContentCoding> known[] = {{"gzip", ContentCoding::kGzip},
                                                         {" GZip ", ContentCoding::kGzip},
                                                         {"x-gzip", ContentCoding::kGzip},
                                                         {"deflate", ContentCoding::kDeflate},
                                                         {"identity", ContentCoding::kIdentity}};
  for (const auto& [value, coding] : known) {
    auto parsed = ParseContentEncoding(value);
    ASSERT_TRUE(parsed.ok()) << value;
    EXPECT_EQ(*parsed, coding) << value;
  }
  auto br = ParseContentEncoding("br");
  ASSERT_FALSE(br.ok());
  EXPECT_EQ(br.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(br.status().message(),
            "header Content-Encoding: 'br' is not supported (gzip, deflate or identity)");
  EXPECT_FALSE(ParseContentEncoding("gzip, deflate").ok());  // stacked codings are not taken
}

TEST(ContentCodingTest, InflatesGzipAndZlib) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{300000}}) {
    std::string plain = Sample(n);
    auto g = DecodeBody(Gzip(plain), ContentCoding::kGzip, n);
    ASSERT_TRUE(g.ok()) << g.status().message();
    EXPECT_EQ(*g, plain);
    auto z = DecodeBody(Zlib(plain), ContentCoding::kDeflate, n);
    ASSERT_TRUE(z.ok()) << z.status().message();
    EXPECT_EQ(*z, plain);
  }
}

TEST(ContentCodingTest, ConcatenatedGzipMembers) {
  auto r = DecodeBody(Gzip("abc") + Gzip("def"), ContentCoding::kGzip, 100);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "abcdef");
}

TEST(ContentCodingTest, InflatedSizeIsLimited) {
  // A small body that inflates far beyond the limit is refused while inflating.
  std::string plain(8 << 20, 'a');
  std::string bomb = Gzip(plain);
  ASSERT_LT(bomb.size(), size_t{64} << 10);
  auto r = DecodeBody(bomb, ContentCoding::kGzip, 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPayloadTooLarge);
  EXPECT_EQ(r.status().message(),
            "request body (Content-Encoding: gzip): inflates to more than 1048576 bytes");
  // Exactly at the limit is fine; one byte more is not.
  EXPECT_TRUE(DecodeBody(Zlib(Sample(5000)), ContentCoding::kDeflate, 5000).ok());
  EXPECT_EQ(DecodeBody(Zlib(Sample(5001)), ContentCoding::kDeflate, 5000).status().code(),
            StatusCode::kPayloadTooLarge);
}

TEST(ContentCodingTest, CorruptTruncatedAndTrailingDataAreInvalid) {
  std::string g = Gzip(Sample(4000));
  auto truncated = DecodeBody(g.substr(0, g.size() / 2), ContentCoding::kGzip, 1 << 20);
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(truncated.status().message(),
            "request body (Content-Encoding: gzip): the compressed stream is truncated");
  auto plain = DecodeBody("{\"inputs\":[]}", ContentCoding::kGzip, 1 << 20);
  EXPECT_EQ(plain.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(plain.status().message().rfind("request body (Content-Encoding: gzip): not valid gzip data", 0),
            0u)
      << plain.status().message();
  // gzip sent as deflate (the zlib wrapper is expected) is named as such.
  auto wrong = DecodeBody(g, ContentCoding::kDeflate, 1 << 20);
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  auto trailing = DecodeBody(Zlib("abc") + "xyz", ContentCoding::kDeflate, 100);
  EXPECT_EQ(trailing.status().message(),
            "request body (Content-Encoding: deflate): bytes after the end of the stream");
}

TEST(ContentCodingTest, NegotiatesTheResponseCoding) {
  EXPECT_EQ(NegotiateCoding("gzip"), ContentCoding::kGzip);
  EXPECT_EQ(NegotiateCoding("deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(NegotiateCoding("deflate, gzip"), ContentCoding::kDeflate);  // ties: the first listed
  EXPECT_EQ(NegotiateCoding("deflate;q=0.5, gzip"), ContentCoding::kGzip);
  EXPECT_EQ(NegotiateCoding("gzip;q=0, deflate;q=0.1"), ContentCoding::kDeflate);
  EXPECT_EQ(NegotiateCoding("gzip;q=0"), ContentCoding::kIdentity);
  EXPECT_EQ(NegotiateCoding("br, identity"), ContentCoding::kIdentity);
  EXPECT_EQ(NegotiateCoding("*"), ContentCoding::kGzip);
  EXPECT_EQ(NegotiateCoding("gzip;q=bad"), ContentCoding::kIdentity);
  EXPECT_EQ(NegotiateCoding(""), ContentCoding::kIdentity);
}

TEST(ContentCodingTest, EncodesWhatClientsInflate) {
  std::string plain = Sample(200000);
  for (ContentCoding c : {ContentCoding::kGzip, ContentCoding::kDeflate}) {
    auto enc = EncodeBody(plain, c);
    ASSERT_TRUE(enc.ok());
    EXPECT_LT(enc->size(), plain.size());
    auto back = DecodeBody(*enc, c, plain.size());
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, plain);
  }
  auto empty = EncodeBody("", ContentCoding::kGzip);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*DecodeBody(*empty, ContentCoding::kGzip, 0), "");
}

}  // namespace
}  // namespace continuum::v2
