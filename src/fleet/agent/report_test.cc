#include "fleet/agent/report.h"

#include <gtest/gtest.h>

#include <limits>

#include "fleet/agent/hub_client.h"

namespace continuum::fleet {
namespace {

TEST(ReportTest, BodyAsTheProtocolWritesIt) {
  NodeReport r;
  r.address = "http://10.0.0.5:8000";
  r.properties_json = R"([{"name":"tier","type":"string","value":"edge"}])";
  r.sequence = 41;
  r.state = "error";
  r.message = "1 model(s) failed";
  ModelReport m;
  m.name = "add_sub";
  m.digest = "sha256:" + std::string(64, 'a');
  m.versions = {1};
  m.ready = true;
  m.since_ms = 1765000000000;
  m.success = 120;
  m.failure = 3;
  m.duration_buckets = {{0.001, 10}, {0.005, 100}, {std::numeric_limits<double>::infinity(), 123}};
  r.models = {m};
  EXPECT_EQ(NodeReportJson(r),
            R"({"schema_version":1,"address":"http://10.0.0.5:8000",)"
            R"("properties":[{"name":"tier","type":"string","value":"edge"}],"sequence":41,"state":"error",)"
            R"("message":"1 model(s) failed","models":[{"name":"add_sub","digest":"sha256:)" +
                std::string(64, 'a') +
                R"(","versions":[1],"ready":true,"error":"","since_ms":1765000000000,"success":120,)"
                R"("failure":3,"duration_buckets":[[0.001,10],[0.005,100],["+Inf",123]]}]})");
  r.properties_json.clear();
  r.models.clear();
  EXPECT_NE(NodeReportJson(r).find(R"("properties":[],)"), std::string::npos);
}

TEST(ReportTest, AnswerParsed) {
  EXPECT_EQ(*ParseReportAnswer(R"({"sequence": 7})"), 7);
  EXPECT_EQ(*ParseReportAnswer(R"({"sequence": 0, "later": true})"), 0);
  EXPECT_FALSE(ParseReportAnswer(R"({"sequence": -1})").ok());
  EXPECT_FALSE(ParseReportAnswer(R"({})").ok());
  EXPECT_FALSE(ParseReportAnswer("not json").ok());
}

TEST(ReportTest, BytesCountedAsHttpFramesThem) {
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/api/v1/nodes/n/desired-state?after=1&wait_s=300";
  req.headers = {{"Authorization", "Bearer t"}};
  const std::string wire =
      "GET /api/v1/nodes/n/desired-state?after=1&wait_s=300 HTTP/1.1\r\n"
      "Host: hub:8080\r\n"
      "Authorization: Bearer t\r\n"
      "\r\n";
  EXPECT_EQ(HubClient::RequestBytes("hub:8080", req), wire.size());
  req.method = "POST";
  req.body = "{}";
  EXPECT_EQ(HubClient::RequestBytes("hub:8080", req), wire.size() +
                                                          std::string("Content-Length: 2\r\n").size() + 2 +
                                                          1);  // POST is one letter longer than GET
  http::ClientResponse resp;
  resp.status = 304;
  resp.headers = {{"content-length", "0"}};
  EXPECT_EQ(HubClient::ResponseBytes(resp),
            std::string("HTTP/1.1 304 OK\r\ncontent-length: 0\r\n\r\n").size());
}

TEST(ReportTest, HubErrorMessage) {
  http::ClientResponse r;
  r.status = 401;
  r.body = R"({"error": "bad token"})";
  EXPECT_EQ(HubError(r), "HTTP 401: bad token");
  r.body = "plain";
  EXPECT_EQ(HubError(r), "HTTP 401: plain");
}

}  // namespace
}  // namespace continuum::fleet
