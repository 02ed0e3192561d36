// Property-style cases for what may be written on the wire: every byte value against each rule,
// and encode/split round trips over pseudo-random paths.
#include "http/validate.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace continuum::http {
namespace {

bool Control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Values are checked a word at a time: every byte, at every position of a value longer than
// two words, is judged as on its own.
TEST(Validate, FieldValueBytesAreJudgedAtEveryPosition) {
  for (int b = 0; b < 256; ++b) {
    const auto c = static_cast<unsigned char>(b);
    for (size_t at = 0; at < 21; ++at) {
      std::string v(21, 'v');
      v[at] = static_cast<char>(c);
      EXPECT_EQ(IsFieldValue(v), !Control(c) || c == '\t') << "byte " << b << " at " << at;
      std::string high(21, '\xff');  // obs-text on every side
      high[at] = static_cast<char>(c);
      EXPECT_EQ(IsFieldValue(high), !Control(c) || c == '\t')
          << "byte " << b << " at " << at << " in obs-text";
    }
  }
}

TEST(Validate, EveryControlByteIsRefusedInValuesTargetsAndNames) {
  for (int b = 0; b < 256; ++b) {
    const auto c = static_cast<unsigned char>(b);
    const std::string mid(1, static_cast<char>(c));
    SCOPED_TRACE("byte " + std::to_string(b));
    EXPECT_EQ(IsFieldValue("a" + mid + "b"), !Control(c) || c == '\t');
    EXPECT_EQ(IsRequestTarget("/a" + mid + "b"), !Control(c) && c != ' ');
    if (Control(c) || c == ' ' || c >= 0x80) {
      EXPECT_FALSE(IsToken("x" + mid + "y"));
    }
    const Status value = CheckHeader("X-Test", "v" + mid);
    EXPECT_EQ(value.ok(), !Control(c) || c == '\t');
    if (!value.ok()) {
      EXPECT_EQ(value.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(value.message().find("X-Test"), std::string::npos) << value.message();
      EXPECT_NE(value.message().find("at byte 1"), std::string::npos) << value.message();
    }
    const Status head = CheckRequestHead("GET", "/p" + mid, {});
    EXPECT_EQ(head.ok(), !Control(c) && c != ' ');
    if (!head.ok()) {
      EXPECT_NE(head.message().find("request target"), std::string::npos) << head.message();
    }
  }
}

TEST(Validate, TokensFollowRfc9110) {
  EXPECT_TRUE(IsToken("Content-Type"));
  EXPECT_TRUE(IsToken("x!#$%&'*+-.^_`|~9"));
  EXPECT_FALSE(IsToken(""));
  for (const char* bad : {"a b", "a:b", "a\"b", "a(b", "a,b", "a/b", "a;b", "a=b", "a{b", "a@b", "a[b"})
    EXPECT_FALSE(IsToken(bad)) << bad;
  const Status st = CheckHeader("X-Bad Name", "v");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not a token"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("at byte 5"), std::string::npos) << st.message();
  // A name holding CR LF is shown escaped, never raw.
  const Status crlf = CheckHeader("X\r\nInjected", "v");
  ASSERT_FALSE(crlf.ok());
  EXPECT_EQ(crlf.message().find('\r'), std::string::npos);
  EXPECT_NE(crlf.message().find("\\x0d"), std::string::npos) << crlf.message();
}

TEST(Validate, RequestHeadNamesTheFirstBadPart) {
  EXPECT_TRUE(CheckRequestHead("POST", "/v2/models/m/infer?x=%0d%0a", {{"x-a", "b\tc"}}).ok());
  EXPECT_NE(CheckRequestHead("PO ST", "/", {}).message().find("method"), std::string::npos);
  EXPECT_NE(CheckRequestHead("GET", "", {}).message().find("request target"), std::string::npos);
  EXPECT_NE(CheckRequestHead("GET", "/a\r\nX-Injected: yes", {}).message().find("0x0d at byte 2"),
            std::string::npos);
  const Status h = CheckRequestHead("GET", "/", {{"x-ok", "1"}, {"x-evil", "a\nX-Injected: yes"}});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.message().find("x-evil"), std::string::npos) << h.message();
}

// A path with any bytes but NUL, encoded, is a valid target that the server decodes back to it.
TEST(Validate, EncodedPathsRoundTripThroughTheServersDecoding) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> len(0, 40), byte(1, 255);
  for (int i = 0; i < 2000; ++i) {
    std::string path = "/";
    const int n = len(rng);
    for (int j = 0; j < n; ++j) path.push_back(static_cast<char>(byte(rng)));
    const std::string encoded = EncodePath(path);
    ASSERT_TRUE(IsRequestTarget(encoded)) << encoded;
    for (unsigned char c : encoded) ASSERT_TRUE(c >= 0x21 && c < 0x7f && c != '?' && c != '#') << encoded;
    std::string decoded, query;
    ASSERT_TRUE(SplitTarget(encoded, decoded, query)) << encoded;
    EXPECT_EQ(decoded, path);
    EXPECT_EQ(query, "");
  }
  EXPECT_EQ(EncodePath("/accounts/x\r\nX-Injected: yes/ai/run/@cf/m"),
            "/accounts/x%0D%0AX-Injected:%20yes/ai/run/@cf/m");
}

TEST(Validate, SplitTargetRefusesRawControlCharacters) {
  std::string path, query;
  EXPECT_TRUE(SplitTarget("/a%0d%0ab?q=%0a", path, query));
  EXPECT_EQ(path, "/a\r\nb");
  EXPECT_EQ(query, "q=%0a");
  for (const char* bad : {"/a\rb", "/a\nb", "/a b", "/a\x01", "/a\x7f", "/a?q=\n", "/a\tb"})
    EXPECT_FALSE(SplitTarget(bad, path, query)) << bad;
}

}  // namespace
}  // namespace continuum::http
