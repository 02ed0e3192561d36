// The gateway's https:// nodes: their TLS settings (defaults and a node's own "tls" block), and a
// node whose certificate fails verification, which fails like any node that cannot be reached:
// the request falls back, the node is ejected, and the reason is in the decision log and metrics.
#include "gateway/upstream_tls.h"

#include <gtest/gtest.h>

#include <future>
#include <string>

#include "gateway/gateway.h"
#include "router/decision_log.h"
#include "router/router.h"
#include "telemetry/metrics.h"
#include "tls/test_server.h"

namespace continuum::gateway {
namespace {

using tls::testing::Pem;
using tls::testing::TlsServer;

std::string NodeJson(const std::string& name, const std::string& url, const std::string& extra = "") {
  return R"({"name":")" + name + R"(","url":")" + url + R"(",)" + extra +
         R"("tier":"edge","models":[{"name":"m","versions":[1],"compute_ms":1}]})";
}

router::Topology Parse(const std::string& nodes, const std::string& links = "") {
  auto t = router::ParseTopology(R"({"schema_version":1,"nodes":[)" + nodes + "]" +
                                 (links.empty() ? "" : R"(,"links":[)" + links + "]") + "}");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : router::Topology{};
}

TEST(UpstreamTls, DefaultsAndANodesOwnSettings) {
  const std::string own = R"("tls":{"ca":")" + Pem("ca") + R"("},)";
  auto up = MakeUpstreamTls(Parse(NodeJson("a", "https://a:1") + "," + NodeJson("b", "https://b:1", own) +
                                  "," + NodeJson("c", "http://c:1")),
                            {.ca_file = Pem("other-ca")});
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  ASSERT_NE(up->defaults, nullptr);
  EXPECT_EQ(up->defaults->options().ca_file, Pem("other-ca"));
  ASSERT_EQ(up->by_url.size(), 1u);
  EXPECT_EQ(up->by_url.at("https://b:1")->options().ca_file, Pem("ca"));

  auto plain = MakeUpstreamTls(Parse(NodeJson("c", "http://c:1")), {.ca_file = "/nonexistent.pem"});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();  // no https node: the defaults are not loaded
  EXPECT_EQ(plain->defaults, nullptr);
}

TEST(UpstreamTls, BadFilesNameTheNodeOrTheDefaults) {
  auto bad_default = MakeUpstreamTls(Parse(NodeJson("a", "https://a:1")), {.ca_file = "/nonexistent.pem"});
  EXPECT_EQ(bad_default.status().message(), "upstream TLS: CA file /nonexistent.pem: cannot be read");
  auto bad_node = MakeUpstreamTls(
      Parse(NodeJson("a", "https://a:1", R"("tls":{"cert":"/no/cert.pem","key":"/no/key.pem"},)")), {});
  EXPECT_EQ(bad_node.status().message(), "node a: tls: client certificate file /no/cert.pem: cannot be read");
  auto clash = MakeUpstreamTls(Parse(NodeJson("a", "https://a:1", R"("tls":{"server_name":"x"},)") + "," +
                                     NodeJson("b", "https://a:1", R"("tls":{"server_name":"y"},)")),
                               {.ca_file = Pem("ca")});
  EXPECT_EQ(clash.status().message(), "node b: url https://a:1 is also node a's, with other tls settings");
}

http::Response Infer(Gateway& gw) {
  http::Request r;
  r.method = "POST";
  r.path = "/v2/models/m/infer";
  r.body = "{}";
  std::promise<http::Response> p;
  gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
  return p.get_future().get();
}

TEST(UpstreamTls, ANodeWhoseCertificateFailsIsEjectedWithTheReasonOnRecord) {
  TlsServer expired({.leaf = "expired"});
  TlsServer good({.leaf = "wrong-host"});  // reached through its own "tls" block's server_name
  const router::Topology topology =
      Parse(NodeJson("expired", expired.Url()) + "," +
                NodeJson("good", good.Url(), R"("tls":{"server_name":"other.example"},)"),
            R"({"from":"gateway","to":"expired","rtt_ms":1,"bandwidth_mbps":1000},)"
            R"({"from":"gateway","to":"good","rtt_ms":30,"bandwidth_mbps":1000})");
  auto up = MakeUpstreamTls(topology, {.ca_file = Pem("ca")});
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  router::RouterOptions ro;
  ro.eject_after_failures = 2;
  router::Router router(topology, ro);
  router::DecisionLog log;
  telemetry::Registry registry;
  GatewayOptions o;
  o.metrics = &registry;
  o.probe_period = std::chrono::milliseconds(0);
  o.upstream_tls = up->defaults;
  o.upstream_tls_by_url = up->by_url;
  Gateway gw(&router, &log, o);
  for (int i = 0; i < 2; ++i) {  // the choice fails verification, the fallback answers
    http::Response r = Infer(gw);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "anonymous");
  }
  EXPECT_TRUE(router.IsEjected("expired"));
  EXPECT_EQ(expired.handshakes(), 0);  // nothing was ever sent to it
  http::Response after = Infer(gw);
  EXPECT_EQ(after.status, 200);
  const std::string why = "TLS handshake with " + expired.Url().substr(8) +
                          " failed: certificate verify failed: certificate has expired";
  const std::string contents = log.contents();
  size_t first = contents.find(R"("failures":[{"node":"expired","error":")" + why + "\"}]");
  ASSERT_NE(first, std::string::npos) << contents;
  EXPECT_NE(contents.find(R"("failures")", first + 1), std::string::npos) << contents;  // the second request
  EXPECT_EQ(contents.rfind(R"("failures")"), contents.find(R"("failures")", first + 1))
      << "the third request went to the good node only";
  const std::string metrics = registry.Render();
  for (const std::string sample :
       {R"(continuum_gateway_attempt_failures_total{node="expired",reason="tls"} 2)",
        R"(continuum_gateway_attempt_failures_total{node="good",reason="tls"} 0)",
        R"(continuum_gateway_answers_total{node="good",tier="edge",step="fallback"} 2)",
        R"(continuum_gateway_answers_total{node="good",tier="edge",step="first"} 1)"}) {
    EXPECT_NE(metrics.find(sample), std::string::npos) << sample << " missing in\n" << metrics;
  }
}

}  // namespace
}  // namespace continuum::gateway
