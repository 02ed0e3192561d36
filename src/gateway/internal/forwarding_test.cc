#include "gateway/internal/forwarding.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace continuum::gateway::internal {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

http::Request Post(std::string target, Headers headers) {
  http::Request r;
  r.method = "POST";
  r.target = std::move(target);
  r.path = "/v2/models/m/infer";
  r.headers = std::move(headers);
  r.body = "{}";
  return r;
}

TEST(UpstreamHeadTest, OnlyEndToEndHeadersGoUpstreamWithTheContentType) {
  auto up =
      UpstreamHead(Post("/v2/models/m/infer?x=1#frag", {{"connection", "Keep-Alive, X-Secret ,\tx-other"},
                                                        {"x-secret", "s"},
                                                        {"x-other", "o"},
                                                        {"keep-alive", "timeout=5"},
                                                        {"te", "trailers"},
                                                        {"proxy-authorization", "Basic abc"},
                                                        {"host", "gateway"},
                                                        {"content-length", "2"},
                                                        {"content-type", "application/json"},
                                                        {"x-continuum-policy", "hedge=on"},
                                                        {"authorization", "Bearer k"}}));
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->method, "POST");
  EXPECT_EQ(up->target, "/v2/models/m/infer?x=1");  // the fragment never goes on the wire
  EXPECT_EQ(up->headers, (Headers{{"x-continuum-policy", "hedge=on"},
                                  {"authorization", "Bearer k"},
                                  {"content-type", "application/json"}}));
  EXPECT_TRUE(up->body.empty());  // the caller moves the body in
}

TEST(UpstreamHeadTest, AHeadThatCannotBeWrittenIsRefusedNamingTheHeader) {
  auto up = UpstreamHead(Post("/v2/models/m/infer", {{"x-note", std::string("a\rb")}}));
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(up.status().message().find("x-note"), std::string::npos) << up.status().message();
}

TEST(UpstreamTargetTest, TheClientsEncodedTargetElseThePathEncodedAgain) {
  http::Request r = Post("/v2/models/a%0d%0ab/infer", {});
  EXPECT_EQ(UpstreamTarget(r), "/v2/models/a%0d%0ab/infer");  // still six harmless characters
  r.target.clear();                                           // made in-process
  r.path = "/v2/models/a\r\nb/infer";
  r.query = "q=1";
  const std::string t = UpstreamTarget(r);
  EXPECT_EQ(t.find_first_of("\r\n"), std::string::npos) << t;
  EXPECT_EQ(t.substr(t.size() - 4), "?q=1");
  r.target = "http://gateway/v2/models/x/infer";  // absolute-form: the path again
  EXPECT_EQ(UpstreamTarget(r).substr(0, 11), "/v2/models/");
}

TEST(ConnectionOptionsTest, ListsTheNamedHeadersLowerCasedWithoutBlanks) {
  EXPECT_EQ(ConnectionOptions({{"connection", " Upgrade ,, X-A"}, {"x-b", "1"}, {"connection", "x-C"}}),
            (std::vector<std::string>{"upgrade", "x-a", "x-c"}));
  EXPECT_TRUE(ConnectionOptions({{"x-connection", "x-a"}}).empty());
  EXPECT_FALSE(Forwarded("x-a", {"x-a"}));
  EXPECT_TRUE(Forwarded("x-b", {"x-a"}));
  for (const char* h : {"transfer-encoding", "upgrade", "proxy-connection", "trailer", "proxy-authenticate",
                        "expect", "server", "date"})
    EXPECT_TRUE(HopByHop(h)) << h;
}

TEST(ForwardedAnswerTest, TheNodesStatusBodyAndEndToEndHeadersWithoutItsRoutingHeaders) {
  http::ClientResponse a;
  a.status = 429;
  a.body = "slow down";
  a.headers = {{"content-type", "text/plain"},
               {"retry-after", "1"},
               {"x-continuum-tier", "forged"},
               {"x-continuum-reason", "forged"},
               {"x-continuum-run-ms", "2.5"},
               {"connection", "x-hop"},
               {"x-hop", "1"},
               {"transfer-encoding", "chunked"}};
  http::Response r = ForwardedAnswer(std::move(a));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, "slow down");
  EXPECT_EQ(r.content_type, "text/plain");
  EXPECT_EQ(r.headers, (Headers{{"retry-after", "1"}, {"x-continuum-run-ms", "2.5"}}));
}

TEST(AnswerTest, RoutingHeadersAndErrorsArePrintable) {
  Tags tags;
  tags.node = "n\r\nx";
  tags.reason = std::string(300, 'r');
  http::Response r = LocalAnswer(503, ErrorJson("bad \x01 byte"), tags);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "{\"error\":\"bad ? byte\"}");
  EXPECT_EQ(r.headers, (Headers{{"X-Continuum-Tier", "none"},
                                {"X-Continuum-Node", "n??x"},
                                {"X-Continuum-Fallback-Step", "none"},
                                {"X-Continuum-Reason", std::string(200, 'r')}}));
  EXPECT_EQ(ErrorJson(std::string(5000, 'e')).size(), std::string("{\"error\":\"\"}").size() + 4096);
}

}  // namespace
}  // namespace continuum::gateway::internal
