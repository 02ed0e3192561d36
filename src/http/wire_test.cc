#include "http/internal/wire.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace continuum::http::internal {
namespace {

// `target` parses into `want_path` and, when one is given, `want_query`.
void ExpectParsed(std::string_view target, std::string_view want_path,
                  std::optional<std::string_view> want_query = std::nullopt) {
  SCOPED_TRACE(std::string(target));
  std::string path, query;
  ASSERT_TRUE(ParseTarget(target, path, query));
  EXPECT_EQ(path, want_path);
  if (want_query) {
    EXPECT_EQ(query, *want_query);
  }
}

TEST(WireTest, ParseOriginForm) {
  ExpectParsed("/v2/models/a%20b/infer?x=1&y=%20", "/v2/models/a b/infer", "x=1&y=%20");
  ExpectParsed("/plain", "/plain", "");
  ExpectParsed("/a+b?", "/a+b", "");
}

TEST(WireTest, ParseAbsoluteFormAndAsterisk) {
  ExpectParsed("http://example.com:8000/v2/health/ready?verbose", "/v2/health/ready", "verbose");
  ExpectParsed("http://example.com", "/");
  ExpectParsed("*", "*");
}

TEST(WireTest, RejectsBadTargets) {
  std::string path, query;
  EXPECT_FALSE(ParseTarget("", path, query));
  EXPECT_FALSE(ParseTarget("relative/path", path, query));
  EXPECT_FALSE(ParseTarget("/bad%zz", path, query));
  EXPECT_FALSE(ParseTarget("/truncated%2", path, query));
  EXPECT_FALSE(ParseTarget("/truncated%", path, query));
  EXPECT_FALSE(ParseTarget("/nul%00byte", path, query));
  // Raw control characters and spaces never make a target, whatever the parser in front let by.
  EXPECT_FALSE(ParseTarget("/a\r\nX-Injected: yes", path, query));
  EXPECT_FALSE(ParseTarget("/a\x01", path, query));
  EXPECT_FALSE(ParseTarget("/a\x7f", path, query));
  EXPECT_FALSE(ParseTarget("/a?q=a b", path, query));
  EXPECT_FALSE(ParseTarget("http://h/a\tb", path, query));
}

// Every C0 control but HTAB, and DEL, keeps a handler's header (and content type) off the wire.
TEST(WireTest, ResponseHeadSkipsValuesWithAnyControlCharacter) {
  for (int b = 0; b < 0x80; ++b) {
    const char c = static_cast<char>(b);
    const bool control = b < 0x20 || b == 0x7f;
    std::vector<std::pair<std::string, std::string>> extra = {{"X-Value", std::string("a") + c + "b"}};
    ResponseHead head;
    head.status = 200;
    const std::string type = std::string("text/plain") + c;
    head.content_type = type;
    head.extra = &extra;
    std::string out;
    AppendResponseHead(out, head);
    SCOPED_TRACE("byte " + std::to_string(b));
    EXPECT_EQ(out.find("X-Value") != std::string::npos, !control || c == '\t') << out;
    EXPECT_EQ(out.find("Content-Type") != std::string::npos, !control || c == '\t') << out;
    // Whatever was skipped, the head is CRLF-delimited lines only, ending in an empty one.
    size_t lines = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == '\n') {
        ASSERT_GT(i, 0u);
        ASSERT_EQ(out[i - 1], '\r');
        ++lines;
      } else if (out[i] == '\r') {
        ASSERT_LT(i + 1, out.size());
        ASSERT_EQ(out[i + 1], '\n');
      }
    }
    EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
  }
}

TEST(WireTest, PercentDecode) {
  std::string out;
  ASSERT_TRUE(PercentDecode("%41%62c%2F%2f", out));
  EXPECT_EQ(out, "Abc//");
}

TEST(WireTest, ResponseHead) {
  std::vector<std::pair<std::string, std::string>> extra = {
      {"X-Model", "resnet"},
      {"Content-Length", "999"},       // server-controlled: skipped
      {"X-Evil", "a\r\nInjected: 1"},  // CRLF: skipped
      {"Bad Name", "v"},               // not a token: skipped
  };
  ResponseHead head;
  head.status = 404;
  head.content_type = "application/json";
  head.extra = &extra;
  head.content_length = 12;
  head.connection = ConnectionHeader::kClose;
  std::string out;
  AppendResponseHead(out, head);
  EXPECT_EQ(out.rfind("HTTP/1.1 404 Not Found\r\nServer: continuum\r\nDate: ", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nContent-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nContent-Length: 12\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nX-Model: resnet\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nConnection: close\r\n\r\n"), std::string::npos);
  EXPECT_EQ(out.find("999"), std::string::npos);
  EXPECT_EQ(out.find("Injected"), std::string::npos);
  EXPECT_EQ(out.find("Bad Name"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(WireTest, NoContentLengthFor204) {
  ResponseHead head;
  head.status = 204;
  std::string out;
  AppendResponseHead(out, head);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);
  EXPECT_EQ(out.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u);
}

TEST(WireTest, UnknownStatusStillWellFormed) {
  ResponseHead head;
  head.status = 587;
  std::string out;
  AppendResponseHead(out, head);
  EXPECT_EQ(out.rfind("HTTP/1.1 587 Unknown\r\n", 0), 0u) << out;
}

TEST(WireTest, ConnectionCloseRequest) {
  EXPECT_TRUE(ExtraHeadersRequestClose({{"Connection", "Close"}}));
  EXPECT_FALSE(ExtraHeadersRequestClose({{"Connection", "keep-alive"}}));
}

TEST(WireTest, JsonErrorEscapes) { EXPECT_EQ(JsonError("bad \"x\"\n"), R"({"error":"bad \"x\"\u000a"})"); }

}  // namespace
}  // namespace continuum::http::internal
