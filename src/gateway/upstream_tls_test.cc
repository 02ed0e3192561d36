// The gateway's https:// nodes: their TLS settings (defaults and a node's own "tls" block), and a
// node whose certificate fails verification, which fails like any node that cannot be reached:
// the request falls back, the node is ejected, and the reason is in the decision log and metrics.
#include "gateway/upstream_tls.h"

#include <gtest/gtest.h>

#include <future>
#include <string>

#include "gateway/gateway.h"
#include "gateway/test_node.h"
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

// A topology that changes (the hub's): a node added later is reached with the defaults' settings
// (here the test CA, which the system store does not hold) or its own "tls" block; unchanged
// settings keep their context; a node whose files fail to load leaves the topology as it was.
TEST(UpstreamTls, NodesAddedLaterGetTheirSettings) {
  TlsServer fresh({.leaf = "server"});
  TlsServer own({.leaf = "wrong-host"});
  TestNode plain(Answer(200, "plain"));
  router::Router router(Parse(NodeJson("plain", plain.url),
                              R"({"from":"gateway","to":"plain","rtt_ms":40,"bandwidth_mbps":1000})"));
  router::DecisionLog log;
  telemetry::Registry registry;
  GatewayOptions o;
  o.metrics = &registry;
  o.probe_period = std::chrono::milliseconds(0);
  o.upstream_tls_options = {.ca_file = Pem("ca")};
  Gateway gw(&router, &log, o);
  EXPECT_EQ(Infer(gw).body, "plain");
  const std::string link = R"(,{"from":"gateway","to":"https","rtt_ms":1,"bandwidth_mbps":1000})";
  const std::string plain_link = R"({"from":"gateway","to":"plain","rtt_ms":40,"bandwidth_mbps":1000})";

  // Without a "tls" block: the defaults (a request that failed verification would fall back to "plain").
  ASSERT_TRUE(gw.SetTopology(Parse(NodeJson("plain", plain.url) + "," + NodeJson("https", fresh.Url()),
                                   plain_link + link))
                  .ok());
  http::Response r = Infer(gw);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "anonymous");

  // Moved to a server whose certificate names another host: its own block says which.
  ASSERT_TRUE(
      gw.SetTopology(Parse(NodeJson("plain", plain.url) + "," +
                               NodeJson("https", own.Url(), R"("tls":{"server_name":"other.example"},)"),
                           plain_link + link))
          .ok());
  r = Infer(gw);
  EXPECT_EQ(r.body, "anonymous");
  EXPECT_FALSE(router.IsEjected("https"));

  // A node whose files cannot be loaded: refused, and the topology in use stays.
  Status st = gw.SetTopology(Parse(NodeJson("bad", "https://127.0.0.1:1", R"("tls":{"ca":"/no/ca.pem"},)")));
  EXPECT_EQ(st.message(), "node bad: tls: CA file /no/ca.pem: cannot be read");
  EXPECT_EQ(router.topology()->nodes.size(), 2u);
  EXPECT_EQ(Infer(gw).body, "anonymous");
  EXPECT_GE(fresh.handshakes(), 1);
  const std::string metrics = registry.Render();
  for (const char* sample :
       {"continuum_gateway_topology_updates_total 2", "continuum_gateway_topology_nodes 2",
        R"(continuum_gateway_answers_total{node="https",tier="edge",step="first"} 3)"}) {
    EXPECT_NE(metrics.find(sample), std::string::npos) << sample << " missing in\n" << metrics;
  }
}

TEST(UpstreamTls, UpdateKeepsTheContextsOfUnchangedSettings) {
  const std::string own = R"("tls":{"ca":")" + Pem("ca") + R"("},)";
  auto first = MakeUpstreamTls(Parse(NodeJson("a", "https://a:1") + "," + NodeJson("b", "https://b:1", own)),
                               {.ca_file = Pem("ca")});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string other = R"("tls":{"ca":")" + Pem("ca") + R"(","server_name":"b2"},)";
  auto next = UpdateUpstreamTls(*first,
                                Parse(NodeJson("a", "https://a:1") + "," + NodeJson("b", "https://b:1", own) +
                                      "," + NodeJson("c", "https://c:1", other)),
                                {.ca_file = Pem("ca")});
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->defaults, first->defaults);
  EXPECT_EQ(next->by_url.at("https://b:1"), first->by_url.at("https://b:1"));
  EXPECT_EQ(next->by_url.at("https://c:1")->options().server_name, "b2");
  EXPECT_EQ(next->For("https://a:1"), first->defaults);
  EXPECT_EQ(next->For("http://a:1"), nullptr);
  // b's block changed: a new context; c gone: dropped.
  auto last = UpdateUpstreamTls(*next, Parse(NodeJson("b", "https://b:1", other)), {.ca_file = Pem("ca")});
  ASSERT_TRUE(last.ok());
  EXPECT_NE(last->by_url.at("https://b:1"), next->by_url.at("https://b:1"));
  EXPECT_EQ(last->by_url.count("https://c:1"), 0u);
}

}  // namespace
}  // namespace continuum::gateway
