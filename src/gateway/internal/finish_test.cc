#include "gateway/internal/finish.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "telemetry/metrics.h"

namespace continuum::gateway::internal {
namespace {

using namespace std::chrono_literals;

// Records the answer times observed; nothing else is asked at the finish.
class AnswerLog : public NodeReports {
 public:
  TimePoint Now() const override { return {}; }
  void ReportQueueDepth(std::string_view, double) override { ADD_FAILURE(); }
  void ReportOutstanding(std::string_view, std::optional<TimePoint>, double) override { ADD_FAILURE(); }
  void ReportSuccess(std::string_view) override { ADD_FAILURE(); }
  void ReportFailure(std::string_view) override { ADD_FAILURE(); }
  void ObserveCompute(std::string_view, std::string_view, double) override { ADD_FAILURE(); }
  void ObserveTransfer(std::string_view, uint64_t, double, bool) override { ADD_FAILURE(); }
  void ObserveAnswer(std::string_view node, double elapsed_ms, double p95_ms) override {
    answers.push_back(std::string(node) + " " + std::to_string(static_cast<int>(elapsed_ms)) + " " +
                      std::to_string(static_cast<int>(p95_ms)));
  }
  double EstimatedRttMs(std::string_view) const override { return 0; }
  double EstimatedBandwidthMbps(std::string_view) const override { return 0; }
  std::vector<std::string> answers;
};

router::Topology Nodes() {
  router::Topology t;
  for (auto [name, tier] :
       {std::pair{"edge-eu", router::Tier::kEdge}, std::pair{"cloud-eu", router::Tier::kCloud}}) {
    router::Node n;
    n.name = name;
    n.url = std::string("http://") + name;
    n.tier = tier;
    t.nodes.push_back(n);
  }
  return t;
}

const std::string* Header(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return &v;
  return nullptr;
}

struct FinishTest : ::testing::Test {
  Finish MakeFinish() {
    Finish f{.reports = &reports,
             .topology = std::make_shared<const router::Topology>(topology),
             .log = &log,
             .metrics = &metrics,
             .record = {},
             .reason = "fastest within target",
             .residency = "eu",
             .planned = 2,
             .choice = "edge-eu",
             .choice_p95_ms = 40,
             .sent = kSent};
    f.record.request_id = "g-1";
    f.record.model = "m";
    return f;
  }
  const std::chrono::steady_clock::time_point kSent = std::chrono::steady_clock::time_point(100s);
  AnswerLog reports;
  router::Topology topology = Nodes();
  router::DecisionLog log;
  telemetry::Registry registry;
  GatewayMetrics metrics{registry, topology};
};

TEST_F(FinishTest, AFallbacksAnswerIsForwardedWithItsRoutingHeadersCountedAndLogged) {
  Outcome o;
  o.served = true;
  o.node = "cloud-eu";
  o.step = 1;
  o.response.status = 201;
  o.response.body = "{\"ok\":1}";
  o.response.headers = {{"content-type", "application/x"},  {"x-continuum-node", "forged"},
                        {"connection", "close, x-private"}, {"x-private", "1"},
                        {"x-continuum-compute-ms", "3"},    {"keep-alive", "timeout=5"}};
  http::Response r = MakeFinish()(std::move(o), kSent + 250ms);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"ok\":1}");
  EXPECT_EQ(r.content_type, "application/x");
  EXPECT_EQ(r.headers, (std::vector<std::pair<std::string, std::string>>{
                           {"x-continuum-compute-ms", "3"},
                           {"X-Continuum-Tier", "cloud"},
                           {"X-Continuum-Node", "cloud-eu"},
                           {"X-Continuum-Fallback-Step", "1"},
                           {"X-Continuum-Reason", "fastest within target"}}));
  EXPECT_EQ(reports.answers, (std::vector<std::string>{"edge-eu 250 40"}));  // against the choice's p95
  const GatewayMetrics::PerNode* n = metrics.Find("cloud-eu");
  EXPECT_EQ(n->fallback->value(), 1u);
  EXPECT_EQ(n->first->value() + n->hedge->value() + metrics.failures->value() + metrics.hedge_won->value(),
            0u);
  EXPECT_EQ(n->duration->Snap().count, 1u);
  EXPECT_DOUBLE_EQ(n->duration->Snap().sum, 0.25);
  const std::string line = log.contents();
  EXPECT_NE(line.find("\"request_id\":\"g-1\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"choice\":\"cloud-eu\",\"fallback_step\":1,\"outcome\":\"ok\""), std::string::npos)
      << line;
}

TEST_F(FinishTest, AHedgeThatWinsIsCountedAsWon) {
  Outcome o;
  o.served = true;
  o.node = "edge-eu";
  o.step = -1;
  o.response.status = 200;
  http::Response r = MakeFinish()(std::move(o), kSent + 5ms);
  EXPECT_EQ(*Header(r, "X-Continuum-Fallback-Step"), "hedge");
  EXPECT_EQ(*Header(r, "X-Continuum-Tier"), "edge");
  EXPECT_EQ(r.content_type, "");  // the node sent none
  EXPECT_EQ(metrics.Find("edge-eu")->hedge->value(), 1u);
  EXPECT_EQ(metrics.hedge_won->value(), 1u);
  EXPECT_NE(log.contents().find("\"fallback_step\":-1,\"outcome\":\"ok\""), std::string::npos);
}

TEST_F(FinishTest, WhenNoCandidateServedTheAnswerIsTheGatewaysOwnAndNamesEachFailure) {
  Outcome o;
  o.node = "cloud-eu";
  o.step = 1;
  o.error = DeadlineExceeded("deadline");
  o.attempts = {Attempt{"edge-eu", 0, Unavailable("connect 10.0.0.7:8000: Connection refused")},
                Attempt{"cloud-eu", 1, DeadlineExceeded("timed out")}};
  http::Response r = MakeFinish()(std::move(o), kSent + 3s);
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            "{\"error\":\"deadline exceeded: no node of residency class 'eu' could serve the request: 2 of 2 "
            "candidates tried: edge-eu: connect 10.0.0.7:8000: Connection refused; cloud-eu: timed out\"}");
  for (const char* h : {"X-Continuum-Tier", "X-Continuum-Node", "X-Continuum-Fallback-Step"})
    EXPECT_EQ(*Header(r, h), "none") << h;
  EXPECT_EQ(*Header(r, "X-Continuum-Reason"), "fastest within target");
  EXPECT_TRUE(reports.answers.empty());
  EXPECT_EQ(metrics.failures->value(), 1u);
  EXPECT_EQ(metrics.Find("cloud-eu")->duration->Snap().count, 0u);
  EXPECT_NE(log.contents().find("\"choice\":\"cloud-eu\",\"fallback_step\":1,\"outcome\":\"failed\""),
            std::string::npos);
  // Each node's failure, with its reason, in the log and by reason in the metrics.
  EXPECT_NE(log.contents().find(
                R"("failures":[{"node":"edge-eu","error":"connect 10.0.0.7:8000: Connection refused"},)"
                R"({"node":"cloud-eu","error":"timed out"}])"),
            std::string::npos)
      << log.contents();
  EXPECT_EQ(metrics.Find("edge-eu")->failed_connect->value(), 1u);
  EXPECT_EQ(metrics.Find("cloud-eu")->failed_timeout->value(), 1u);
}

TEST_F(FinishTest, ATlsFailureIsLoggedWithItsReasonAndCountedAsTls) {
  Outcome o;
  o.served = true;
  o.node = "cloud-eu";
  o.step = 1;
  o.response.status = 200;
  const std::string why =
      "TLS handshake with 10.0.0.7:8443 failed: certificate verify failed: certificate has expired";
  o.attempts = {Attempt{"edge-eu", 0, Unavailable(why)}, Attempt{"cloud-eu", 1, Status(), 200}};
  http::Response r = MakeFinish()(std::move(o), kSent + 5ms);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(log.contents().find(R"("outcome":"ok","failures":[{"node":"edge-eu","error":")" + why + "\"}]"),
            std::string::npos)
      << log.contents();
  EXPECT_EQ(metrics.Find("edge-eu")->failed_tls->value(), 1u);
  EXPECT_EQ(
      metrics.Find("edge-eu")->failed_connect->value() + metrics.Find("cloud-eu")->failed_error->value(), 0u);
}

TEST_F(FinishTest, WithoutMetricsOrLogTheAnswerIsTheSame) {
  Finish f = MakeFinish();
  f.metrics = nullptr;
  f.log = nullptr;
  Outcome o;
  o.served = true;
  o.node = "not-in-topology";
  o.response.status = 200;
  http::Response r = f(std::move(o), kSent);
  EXPECT_EQ(*Header(r, "X-Continuum-Node"), "not-in-topology");
  EXPECT_EQ(*Header(r, "X-Continuum-Tier"), "none");
  EXPECT_EQ(*Header(r, "X-Continuum-Fallback-Step"), "0");
  EXPECT_EQ(log.contents(), "");
}

TEST(NoNodeServedTest, CountsTheCandidatesTriedAndCutsEachReason) {
  Outcome o;
  o.error = Unavailable("all failed");
  EXPECT_EQ(NoNodeServed(o, std::nullopt, 1),
            "no node could serve the request: 0 of 1 candidate tried (the deadline passed first)");
  o.attempts = {Attempt{"a", 0, Unavailable(std::string(300, 'x'))}, Attempt{"a", -1, Unavailable("reset")}};
  EXPECT_EQ(NoNodeServed(o, std::nullopt, 0), "no node could serve the request: 1 of 1 candidate tried: a: " +
                                                  std::string(160, 'x') + "...; a (hedge): reset");
  o.error = InvalidArgument("header 'x-a': control character");  // not a node's fault: kept as is
  EXPECT_EQ(NoNodeServed(o, "eu", 3), "header 'x-a': control character");
}

TEST(LogRefusalTest, NoCandidateOrTheRoutersReason) {
  router::DecisionLog log;
  router::Request rr;
  rr.model = "m";
  rr.version = 2;
  LogRefusal(&log, "g-7", TimePoint{}, rr, Unavailable("no candidate"));
  LogRefusal(&log, "g-8", TimePoint{}, rr, InvalidArgument("unknown residency class 'mars'"));
  LogRefusal(nullptr, "g-9", TimePoint{}, rr, Unavailable("no candidate"));
  const std::string c = log.contents();
  EXPECT_NE(c.find("\"request_id\":\"g-7\""), std::string::npos) << c;
  EXPECT_NE(c.find("\"outcome\":\"no_candidate\""), std::string::npos) << c;
  EXPECT_NE(c.find("\"outcome\":\"unknown residency class 'mars'\""), std::string::npos) << c;
  EXPECT_EQ(c.find("g-9"), std::string::npos);
  EXPECT_TRUE(router::VerifyDecisionLog(c).ok());
}

}  // namespace
}  // namespace continuum::gateway::internal
