// The server's request parser against Beast's request_parser on the same bytes, fed whole and in
// pieces: the same outcome (error or not, header and message complete), and for a parsed request
// the same method, target, version, fields (names lower-cased), body and keep-alive.
#include "http/internal/request_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace continuum::http::internal {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::uint32_t kHeaderLimit = 1024;
constexpr std::uint64_t kBodyLimit = 64;

// Feeds `input` in pieces of at most `step` bytes (growing the window on need_more, as the
// connection's buffer does); returns the error that stopped it, or none.
template <class Parser>
boost::beast::error_code Feed(Parser& parser, std::string_view input, size_t step) {
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  boost::beast::error_code ec;
  size_t used = 0;
  size_t avail = std::min(step, input.size());
  while (!parser.is_done()) {
    const size_t n = parser.put(boost::asio::buffer(input.data() + used, avail - used), ec);
    used += n;
    if (ec == bhttp::error::need_more || (!ec && n == 0)) {
      if (avail == input.size()) return bhttp::error::need_more;
      avail = std::min(avail + step, input.size());
      ec = {};
      continue;
    }
    if (ec) return ec;
  }
  return ec;
}

std::string Lower(boost::beast::string_view s) {
  std::string out(s.data(), s.size());
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

void ExpectSameAsBeast(std::string_view input, size_t step) {
  SCOPED_TRACE("step " + std::to_string(step) + ": " + std::string(input));
  bhttp::request_parser<bhttp::string_body> beast;
  RequestParser ours;
  const auto beast_ec = Feed(beast, input, step);
  const auto our_ec = Feed(ours, input, step);
  ASSERT_EQ(our_ec, beast_ec) << our_ec.message() << " vs " << beast_ec.message();
  ASSERT_EQ(ours.is_header_done(), beast.is_header_done());
  ASSERT_EQ(ours.is_done(), beast.is_done());
  if (!beast.is_header_done()) return;
  const auto& msg = beast.get();
  const Request& req = ours.request();
  EXPECT_EQ(ours.method(), msg.method());
  EXPECT_EQ(req.method, std::string_view(msg.method_string().data(), msg.method_string().size()));
  EXPECT_EQ(req.target, std::string_view(msg.target().data(), msg.target().size()));
  EXPECT_EQ(ours.version(), static_cast<int>(msg.version()));
  EXPECT_EQ(ours.keep_alive(), msg.keep_alive());
  EXPECT_EQ(ours.chunked(), beast.chunked());
  EXPECT_TRUE(ours.content_length() == beast.content_length());
  EXPECT_EQ(ours.has_transfer_encoding(), msg.find(bhttp::field::transfer_encoding) != msg.end());
  const auto expect = msg.find(bhttp::field::expect);
  ASSERT_EQ(ours.expect() != nullptr, expect != msg.end());
  if (expect != msg.end()) {
    EXPECT_EQ(*ours.expect(), std::string(expect->value()));
  }
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& f : msg) fields.emplace_back(Lower(f.name_string()), std::string(f.value()));
  // Beast files a repeated name after its earlier fields, the parser keeps the wire order: the
  // same values in the same order per name (RFC 9110 5.3: only that order carries meaning).
  auto ours_by_name = req.headers;
  const auto by_name = [](const auto& a, const auto& b) { return a.first < b.first; };
  std::stable_sort(ours_by_name.begin(), ours_by_name.end(), by_name);
  std::stable_sort(fields.begin(), fields.end(), by_name);
  EXPECT_EQ(ours_by_name, fields);
  if (beast.is_done()) {
    EXPECT_EQ(req.body, msg.body());
  }
}

void ExpectSameAsBeast(std::string_view input) {
  for (size_t step : {input.size(), size_t{1}, size_t{3}, size_t{17}}) ExpectSameAsBeast(input, step);
}

TEST(RequestParserTest, FieldsInWireOrder) {
  RequestParser parser;
  ASSERT_FALSE(Feed(parser, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\na: 3\r\n\r\n", 64));
  ASSERT_TRUE(parser.is_done());
  const std::vector<std::pair<std::string, std::string>> want{{"a", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_EQ(parser.request().headers, want);
}

TEST(RequestParserTest, RequestsWithBodies) {
  ExpectSameAsBeast(
      "POST /v2/models/m/infer?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
      "Content-Length: 11\r\nX-Mixed-CASE:  spaced value \r\n\r\n{\"a\": [1]}\n");
  ExpectSameAsBeast(
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\n"
      "Trailer-Field: x\r\n\r\n");
  ExpectSameAsBeast("PUT /empty HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ExpectSameAsBeast("GET /no-body HTTP/1.1\r\n\r\n");
}

TEST(RequestParserTest, FieldsInOrderWithRepeatsAndEmptyValues) {
  ExpectSameAsBeast(
      "GET / HTTP/1.1\r\nA: 1\r\nb: 2\r\nA: 3\r\nEmpty:\r\nX-Long-Header-Name-Past-SSO: v\r\n\r\n");
  ExpectSameAsBeast("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n");  // a method Beast has no verb for
  ExpectSameAsBeast("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(RequestParserTest, KeepAliveReadsTheFirstConnectionField) {
  ExpectSameAsBeast("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  ExpectSameAsBeast("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n");
  ExpectSameAsBeast("GET / HTTP/1.1\r\nConnection: foo\r\nConnection: close\r\n\r\n");
  ExpectSameAsBeast("GET / HTTP/1.0\r\n\r\n");
  ExpectSameAsBeast("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  ExpectSameAsBeast("GET / HTTP/1.0\r\nConnection: upgrade\r\nConnection: keep-alive\r\n\r\n");
}

TEST(RequestParserTest, ExpectAndTransferEncodingAsTheConnectionReadsThem) {
  ExpectSameAsBeast(
      "POST / HTTP/1.1\r\nExpect: 100-continue\r\nExpect: other\r\nContent-Length: 2\r\n\r\nab");
  ExpectSameAsBeast("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
  ExpectSameAsBeast("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
}

TEST(RequestParserTest, ErrorsAndLimitsAsBeast) {
  ExpectSameAsBeast("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n");
  ExpectSameAsBeast("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
  ExpectSameAsBeast("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  ExpectSameAsBeast("POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n" + std::string(65, 'b'));  // body limit
  ExpectSameAsBeast("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + std::string(65, 'c') +
                    "\r\n0\r\n\r\n");
  ExpectSameAsBeast("GET / HTTP/1.1\r\nBig: " + std::string(kHeaderLimit, 'v') + "\r\n\r\n");  // header limit
  ExpectSameAsBeast("GET / HTTP/1.1\r\nHost: a\r\n");                                          // incomplete
  ExpectSameAsBeast("GET /\x01 HTTP/1.1\r\n\r\n");
  ExpectSameAsBeast("GET / HTTP/2.0\r\n\r\n");
  ExpectSameAsBeast("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
}

}  // namespace
}  // namespace continuum::http::internal
