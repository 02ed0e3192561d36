#include "gateway/gateway.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/dispatcher.h"
#include "gateway/test_dispatch.h"
#include "gateway/test_node.h"
#include "http/client.h"
#include "http/io_loop.h"
#include "http/message.h"
#include "router/router.h"

namespace continuum::gateway {
namespace {

using namespace std::chrono_literals;

// A raw TCP listener that sends garbage (not HTTP) to every connection.
struct GarbageNode {
  GarbageNode() : acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    thread = std::thread([this] {
      for (;;) {
        boost::asio::ip::tcp::socket s(io);
        boost::system::error_code ec;
        acceptor.accept(s, ec);
        if (ec || stop) return;
        char buf[4096];
        s.read_some(boost::asio::buffer(buf), ec);
        boost::asio::write(s, boost::asio::buffer(std::string("SMTP READY\r\nnonsense\r\n\r\n")), ec);
        s.close(ec);
      }
    });
  }
  ~GarbageNode() {
    stop = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket s(io);
    s.connect(acceptor.local_endpoint(), ec);
    thread.join();
  }
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor;
  std::atomic<bool> stop{false};
  std::thread thread;
  std::string url;
};

TEST(Dispatcher, FallsBackOnFailureAnd5xx) {
  std::atomic<int> hits503{0}, hits_ok{0};
  TestNode bad(Answer(503, "{\"error\":\"busy\"}", &hits503));
  TestNode good(Answer(200, "ok", &hits_ok));
  http::Client c;
  // chain: a closed port, then a 503, then a good node
  auto r =
      DispatchSync(&c, MakePlan({{"dead", "http://127.0.0.1:1"}, {"busy", bad.url}, {"good", good.url}}));
  ExpectServed(r, "good", 2, "ok");
  EXPECT_EQ(r.failures, (std::vector<std::string>{"dead", "busy"}));
  EXPECT_EQ(hits503.load(), 1);
}

TEST(Dispatcher, GarbageIsAFailure) {
  GarbageNode garbage;
  TestNode good(Answer(200, "ok"));
  http::Client c;
  auto r = DispatchSync(&c, MakePlan({{"garbage", garbage.url}, {"good", good.url}}));
  ExpectServed(r, "good", 1);
  EXPECT_EQ(r.failures, (std::vector<std::string>{"garbage"}));
}

TEST(Dispatcher, HangHitsTheDeadline) {
  TestNode hang([](http::Request&&, http::Responder w) {
    std::thread([w] { std::this_thread::sleep_for(3s); }).detach();  // w never called in time
  });
  http::Client c;
  auto r = DispatchSync(&c, MakePlan({{"hang", hang.url}}, nullptr, 300ms));
  EXPECT_FALSE(r.outcome.served);
  EXPECT_EQ(r.outcome.error.code(), StatusCode::kDeadlineExceeded) << r.outcome.error.ToString();
  EXPECT_EQ(r.failures, (std::vector<std::string>{"hang"}));
  EXPECT_GE(r.elapsed_ms, 250);
  EXPECT_LT(r.elapsed_ms, 2000);
}

TEST(Dispatcher, ClientErrorIsNotRetried) {
  std::atomic<int> second{0};
  TestNode first(Answer(400, "{\"error\":\"bad input\"}"));
  TestNode other(Answer(200, "ok", &second));
  http::Client c;
  auto r = DispatchSync(&c, MakePlan({{"first", first.url}, {"other", other.url}}));
  ASSERT_TRUE(r.outcome.served);
  EXPECT_EQ(r.outcome.response.status, 400);
  EXPECT_EQ(r.outcome.response.body, "{\"error\":\"bad input\"}");
  EXPECT_EQ(r.outcome.step, 0);
  EXPECT_TRUE(r.failures.empty());
  EXPECT_EQ(second.load(), 0);
}

TEST(Dispatcher, AllFailIsUnavailable) {
  TestNode bad(Answer(500, "x"));
  http::Client c;
  auto r = DispatchSync(&c, MakePlan({{"a", "http://127.0.0.1:1"}, {"b", bad.url}}));
  EXPECT_FALSE(r.outcome.served);
  EXPECT_EQ(r.outcome.error.code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.failures.size(), 2u);
}

TEST(Dispatcher, HedgeWinsWhenTheFirstIsSlow) {
  TestNode slow(Slow(2000ms, "slow"));
  TestNode fast(Answer(200, "fast"));
  http::Client c;
  auto r = DispatchSync(&c, Hedged(MakePlan({{"slow", slow.url}}), Target{"fast", fast.url}, 50ms));
  ExpectServed(r, "fast", -1, "fast");
  EXPECT_LT(r.elapsed_ms, 1500);
  EXPECT_TRUE(r.failures.empty());  // the cancelled loser is not reported as a failure
}

TEST(Dispatcher, NoHedgeWhenTheFirstIsQuick) {
  std::atomic<int> hedge_hits{0};
  TestNode quick(Answer(200, "quick"));
  TestNode hedge(Answer(200, "hedge", &hedge_hits));
  http::Client c;
  auto r = DispatchSync(&c, Hedged(MakePlan({{"quick", quick.url}}), Target{"hedge", hedge.url}, 500ms));
  ASSERT_TRUE(r.outcome.served);
  EXPECT_EQ(r.outcome.node, "quick");
  // That no hedge is ever sent can only be seen by waiting past its delay (500 ms) for one.
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(hedge_hits.load(), 0);
}

std::string HeaderOf(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "<missing>";
}

TEST(Gateway, MatchesRoutes) {
  auto a = MatchRoute("/v2/models/add_sub/infer");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->model, "add_sub");
  EXPECT_EQ(a->version, 0);
  auto b = MatchRoute("/v2/models/add_sub/versions/3/infer");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->version, 3);
  EXPECT_EQ(MatchRoute("/ai/run/ocr")->model, "ocr");
  EXPECT_EQ(MatchRoute("/ai/run/@cf/paddle/pp-ocrv4")->model, "@cf/paddle/pp-ocrv4");
  EXPECT_EQ(MatchRoute("/accounts/acme/ai/run/@cf/baai/bge")->model, "@cf/baai/bge");
  EXPECT_FALSE(MatchRoute("/accounts//ai/run/x").ok());
  EXPECT_FALSE(MatchRoute("/accounts/acme").ok());
  EXPECT_FALSE(MatchRoute("/ai/run/@cf/").ok());
  EXPECT_FALSE(MatchRoute("/ai/run/a//b").ok());
  EXPECT_FALSE(MatchRoute("/v2/models/add_sub/versions/x/infer").ok());
  EXPECT_FALSE(MatchRoute("/v2/models/add_sub").ok());
  EXPECT_FALSE(MatchRoute("/metrics").ok());
}

TEST(Gateway, PolicyFromBodyAndHeader) {
  http::Request r;
  r.body = R"({"inputs":[],"parameters":{"residency":"eu","objective":"cheapest","other":1}})";
  auto p = RequestPolicy(r, true);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->residency, "eu");
  r.headers.emplace_back("x-continuum-policy", "residency=us");
  p = RequestPolicy(r, true);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->residency, "us");  // the header wins
  EXPECT_EQ(p->objective, router::Objective::kCheapest);
  r.headers.clear();
  r.body = R"({"parameters":{"objective":"slowest"}})";
  p = RequestPolicy(r, true);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("objective"), std::string::npos);
  // binary tail after the JSON header part
  r.body = std::string(R"({"parameters":{"residency":"eu"}})") + std::string("\x01\x02\xff", 3);
  r.headers = {{"inference-header-content-length", std::to_string(r.body.size() - 3)}};
  p = RequestPolicy(r, true);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->residency, "eu");
  EXPECT_EQ(HeaderSafe(std::string(300, 'a') + "\n").size(), 200u);
}

// The whole gateway over two nodes with residency classes.
TEST(Gateway, RoutesFailsClosedAndFallsBack) {
  std::atomic<int> eu_hits{0}, us_hits{0};
  auto eu = std::make_unique<TestNode>(Answer(200, "eu", &eu_hits));
  TestNode us(Answer(200, "us", &us_hits));
  std::string topo = R"({"schema_version":1,"nodes":[
    {"name":"edge","url":")" +
                     eu->url + R"(","tier":"edge","jurisdiction":["eu"],"cost_per_compute_second":0.1,
     "models":[{"name":"m","versions":[1]}]},
    {"name":"cloud","url":")" +
                     us.url + R"(","tier":"cloud","jurisdiction":["us"],"cost_per_compute_second":0.1,
     "models":[{"name":"m","versions":[1]}]}],
    "links":[{"from":"gateway","to":"edge","rtt_ms":1,"bandwidth_mbps":1000},
             {"from":"gateway","to":"cloud","rtt_ms":40,"bandwidth_mbps":1000}]})";
  auto t = router::ParseTopology(topo);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  router::Router router(*t);
  router::DecisionLog log;
  Gateway gw(&router, &log);
  auto call = [&](std::string path, std::string body,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request r;
    r.method = "POST";
    r.path = std::move(path);
    r.body = std::move(body);
    r.headers = std::move(headers);
    std::promise<http::Response> p;
    gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
    return p.get_future().get();
  };
  auto r = call("/v2/models/m/infer", R"({"parameters":{"residency":"eu"}})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "eu");
  EXPECT_EQ(HeaderOf(r, "X-Continuum-Node"), "edge");
  EXPECT_EQ(HeaderOf(r, "X-Continuum-Tier"), "edge");
  EXPECT_EQ(HeaderOf(r, "X-Continuum-Fallback-Step"), "0");
  EXPECT_NE(HeaderOf(r, "X-Continuum-Reason"), "<missing>");

  r = call("/v2/models/m/infer", "{}", {{"x-continuum-policy", "residency=mars"}});
  EXPECT_EQ(r.status, 400);
  r = call("/v2/models/m/infer", "{}", {{"x-continuum-policy", "hedge=maybe"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("hedge"), std::string::npos);

  eu.reset();  // the edge node dies
  for (int i = 0; i < 5; ++i) {
    r = call("/v2/models/m/infer", R"({"parameters":{"residency":"eu"}})");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_NE(r.body.find("error"), std::string::npos);
  }
  EXPECT_EQ(us_hits.load(), 0);  // never sent outside the class
  for (int i = 0; i < 5; ++i) {
    r = call("/v2/models/m/infer", "{}");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "us");
    EXPECT_EQ(HeaderOf(r, "X-Continuum-Node"), "cloud");
  }
  EXPECT_EQ(us_hits.load(), 5);
  EXPECT_TRUE(router::VerifyDecisionLog(log.contents()).ok());
  EXPECT_NE(log.contents().find("\"outcome\":\"ok\""), std::string::npos);
}

// Every candidate of the residency class is down (the router has not noticed yet): the answer
// says which class could not be served, how many candidates were tried and why each failed, and
// its routing headers name no node, since none answered.
TEST(Gateway, AllCandidatesFailedNamesTheClassAndNoNode) {
  TestNode us(Answer(200, "us"));
  std::string dead_b;
  {
    TestNode gone(Answer(200, "gone"));  // a port that was just closed
    dead_b = gone.url;
  }
  std::string topo = R"({"schema_version":1,"nodes":[
    {"name":"edge-a","url":"http://127.0.0.1:1","tier":"edge","jurisdiction":["eu"],
     "cost_per_compute_second":0.1,"models":[{"name":"m","versions":[1]}]},
    {"name":"edge-b","url":")" +
                     dead_b + R"(","tier":"edge","jurisdiction":["eu"],"cost_per_compute_second":0.1,
     "models":[{"name":"m","versions":[1]}]},
    {"name":"cloud","url":")" +
                     us.url + R"(","tier":"cloud","jurisdiction":["us"],"cost_per_compute_second":0.1,
     "models":[{"name":"m","versions":[1]}]}],
    "links":[{"from":"gateway","to":"edge-a","rtt_ms":1,"bandwidth_mbps":1000},
             {"from":"gateway","to":"edge-b","rtt_ms":2,"bandwidth_mbps":1000},
             {"from":"gateway","to":"cloud","rtt_ms":40,"bandwidth_mbps":1000}]})";
  auto t = router::ParseTopology(topo);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  router::Router router(*t);
  Gateway gw(&router, nullptr);
  http::Request req;
  req.method = "POST";
  req.path = "/v2/models/m/infer";
  req.body = R"({"parameters":{"residency":"eu"}})";
  std::promise<http::Response> p;
  gw.Handle(std::move(req), [&p](http::Response resp) { p.set_value(std::move(resp)); });
  http::Response r = p.get_future().get();
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("no node of residency class 'eu' could serve the request"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("2 of 2 candidates tried"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("edge-a: "), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("edge-b: "), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("refused"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("cloud"), std::string::npos) << r.body;
  EXPECT_EQ(HeaderOf(r, "X-Continuum-Node"), "none");
  EXPECT_EQ(HeaderOf(r, "X-Continuum-Tier"), "none");
  EXPECT_EQ(HeaderOf(r, "X-Continuum-Fallback-Step"), "none");
}

// Many requests at once, while the preferred node dies part way: none is lost, and the dead node
// is ejected. `a` must stay preferred under eight concurrent senders until it dies, else it may
// take no request after its death and never be found dead here (light probes would find it
// later): so its compute is seeded small (eight in flight predict a queue of under 1 ms, not 80),
// and `b` answers after 5 ms, so it stays slower than `a` once its real round trip is learned.
TEST(Gateway, ConcurrentRequestsSurviveANodeDying) {
  std::atomic<int> a_hits{0}, b_hits{0};
  auto a = std::make_unique<TestNode>(Answer(200, "a", &a_hits));
  TestNode b([&b_hits, slow = Slow(5ms, "b")](http::Request&& r, http::Responder w) {
    b_hits.fetch_add(1);
    slow(std::move(r), std::move(w));
  });
  std::string topo = R"({"schema_version":1,"nodes":[
    {"name":"a","url":")" +
                     a->url + R"(","tier":"edge","models":[{"name":"m","versions":[1],"compute_ms":0.1}]},
    {"name":"b","url":")" +
                     b.url + R"(","tier":"cloud","models":[{"name":"m","versions":[1],"compute_ms":0.1}]}],
    "links":[{"from":"gateway","to":"a","rtt_ms":1,"bandwidth_mbps":1000},
             {"from":"gateway","to":"b","rtt_ms":30,"bandwidth_mbps":1000}]})";
  auto t = router::ParseTopology(topo);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  router::Router router(*t);
  Gateway gw(&router, nullptr);
  constexpr int kThreads = 8, kPerThread = 40;
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kPerThread; ++j) {
        http::Request r;
        r.method = "POST";
        r.path = "/v2/models/m/versions/1/infer";
        r.body = "{}";
        std::promise<http::Response> p;
        gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
        (p.get_future().get().status == 200 ? ok : bad).fetch_add(1);
      }
    });
  }
  while (ok.load() + bad.load() < kThreads * kPerThread / 4) std::this_thread::sleep_for(1ms);
  a.reset();
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(a_hits.load(), 0);
  EXPECT_GT(b_hits.load(), 0);
  EXPECT_FALSE(router.IsHealthy("a")) << a_hits.load() << " answered by a, " << b_hits.load() << " by b";
}

// The topology changes (the hub's rollouts) while requests are routed from several threads and
// the prober runs: each request is answered by the node its plan named, removed or not.
TEST(Gateway, ConcurrentRequestsFollowTopologyUpdates) {
  TestNode a(Answer(200, "a")), b(Answer(200, "b"));
  auto only = [](const std::string& name, const std::string& url) {
    auto t = router::ParseTopology(R"({"schema_version":1,"nodes":[{"name":")" + name + R"(","url":")" + url +
                                   R"(","tier":"edge","models":[{"name":"m","versions":[1]}]}]})");
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : router::Topology{};
  };
  router::Router router(only("a", a.url));
  telemetry::Registry registry;
  GatewayOptions o;
  o.metrics = &registry;
  o.probe_period = std::chrono::milliseconds(1);
  Gateway gw(&router, nullptr, o);
  auto infer = [&gw] {
    http::Request r;
    r.method = "POST";
    r.path = "/v2/models/m/infer";
    r.body = "{}";
    std::promise<http::Response> p;
    gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
    return p.get_future().get();
  };
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0};
  std::mutex bad_mu;
  std::string bad_answer;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        http::Response r = infer();
        bool good = r.status == 200 && (r.body == "a" || r.body == "b");
        (good ? ok : bad).fetch_add(1);
        if (!good) {
          std::lock_guard<std::mutex> l(bad_mu);
          bad_answer = std::to_string(r.status) + " " + r.body;
        }
      }
    });
  }
  constexpr int kUpdates = 40;
  for (int i = 1; i <= kUpdates; ++i) {
    const int before = ok.load() + bad.load();
    ASSERT_TRUE(gw.SetTopology(i % 2 ? only("b", b.url) : only("a", a.url)).ok());
    ASSERT_TRUE(Eventually([&] { return ok.load() + bad.load() > before + 2; }));
  }
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0) << bad_answer;
  EXPECT_EQ(infer().body, "a");  // the last topology: "a" only
  const std::string metrics = registry.Render();
  EXPECT_NE(metrics.find("continuum_gateway_topology_updates_total 40"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("continuum_gateway_topology_nodes 1"), std::string::npos) << metrics;
}

// Two nodes holding model "m" (version 1, compute seeded at `compute_ms`): `a` on the edge tier
// and `b` in the cloud, at the given round trips from the gateway.
router::Topology TwoNodes(const std::string& a, const std::string& a_url, double a_rtt_ms,
                          const std::string& b, const std::string& b_url, double b_rtt_ms,
                          double compute_ms = 1) {
  auto node = [compute_ms](const std::string& name, const std::string& url, const char* tier) {
    return R"({"name":")" + name + R"(","url":")" + url + R"(","tier":")" + tier +
           R"(","models":[{"name":"m","versions":[1],"compute_ms":)" + std::to_string(compute_ms) + "}]}";
  };
  auto link = [](const std::string& to, double rtt_ms) {
    return R"({"from":"gateway","to":")" + to + R"(","rtt_ms":)" + std::to_string(rtt_ms) +
           R"(,"bandwidth_mbps":1000})";
  };
  auto t = router::ParseTopology(R"({"schema_version":1,"nodes":[)" + node(a, a_url, "edge") + "," +
                                 node(b, b_url, "cloud") + R"(],"links":[)" + link(a, a_rtt_ms) + "," +
                                 link(b, b_rtt_ms) + "]}");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : router::Topology{};
}

// A choice that stalls (a partition that swallows packets) fails after its per-attempt timeout,
// in time for the fallback, long before the deadline; with the timeout off it holds the request.
TEST(Gateway, StalledChoiceFallsBackAfterItsAttemptTimeout) {
  std::atomic<int> fast_hits{0};
  TestNode stalled(Slow(1500ms, "late"));
  TestNode fast(Answer(200, "fallback", &fast_hits));
  const router::Topology topology = TwoNodes("edge", stalled.url, 1, "cloud", fast.url, 20);
  auto call = [](Gateway& gw) {
    http::Request r;
    r.method = "POST";
    r.path = "/v2/models/m/infer";
    r.body = "{}";
    std::promise<http::Response> p;
    auto t0 = std::chrono::steady_clock::now();
    gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
    auto resp = p.get_future().get();
    return std::make_pair(
        resp, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  };
  {
    router::Router router(topology);
    GatewayOptions o;
    o.request_timeout = 400ms;  // no latency target: the first attempt may wait 200 ms
    Gateway gw(&router, nullptr, o);
    auto [resp, ms] = call(gw);
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, "fallback");
    EXPECT_GE(ms, 190);
    EXPECT_LT(ms, 1000);  // the stalled node answers after 1.5 s
    EXPECT_GE(fast_hits.load(), 1);
  }
  {
    router::Router router(topology);
    GatewayOptions o;
    o.attempt_timeout_factor = 0;  // off: the first attempt may use the whole deadline
    Gateway gw(&router, nullptr, o);
    auto [resp, ms] = call(gw);
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, "late");
    EXPECT_GE(ms, 1400);
  }
}

// A hedge that falls due, goes out and wins is counted at each step, and so is the answer it won.
TEST(Gateway, MetricsCountTheHedgeAndTheAnswerItWon) {
  TestNode slow(Slow(300ms, "late"));
  TestNode fast(Answer(200, "hedged"));
  const router::Topology topology = TwoNodes("edge", slow.url, 1, "cloud", fast.url, 20);
  router::RouterOptions ro;
  ro.hedge_fraction = 1;  // a token per decision: the first hedge may go
  router::Router router(topology, ro);
  telemetry::Registry registry;
  GatewayOptions o;
  o.metrics = &registry;
  Gateway gw(&router, nullptr, o);
  http::Request r;
  r.method = "POST";
  r.path = "/v2/models/m/infer";
  r.body = "{}";
  r.headers.emplace_back("x-continuum-policy", "hedge=on");
  std::promise<http::Response> p;
  gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
  http::Response resp = p.get_future().get();
  EXPECT_EQ(resp.body, "hedged");
  EXPECT_EQ(HeaderOf(resp, "X-Continuum-Fallback-Step"), "hedge");
  const std::string text = registry.Render();
  for (const char* sample :
       {"continuum_gateway_hedges_total{result=\"due\"} 1",
        "continuum_gateway_hedges_total{result=\"sent\"} 1",
        "continuum_gateway_hedges_total{result=\"won\"} 1",
        "continuum_gateway_hedges_total{result=\"no_budget\"} 0",
        "continuum_gateway_answers_total{node=\"cloud\",tier=\"cloud\",step=\"hedge\"} 1",
        "continuum_gateway_answers_total{node=\"edge\",tier=\"edge\",step=\"first\"} 0",
        "continuum_gateway_request_duration_seconds_count{node=\"cloud\",tier=\"cloud\"} 1",
        "continuum_router_node_up{node=\"edge\"} 1"}) {
    EXPECT_NE(text.find(sample), std::string::npos) << sample << " missing in\n" << text;
  }
}

// A large request also goes, at once, to a node whose bandwidth estimate went stale (declared at
// 1 Mbit/s here, loopback in truth) while its round trip improved. That copy loses (the node answers 100 ms
// later), but its answer is still learned from: the estimate moves, so the node can win large requests back.
// The copy is awaited even where hedge losers are cancelled at once (--await-hedge-losers=false).
TEST(Gateway, AStaleLinkGetsAnExplorationCopyLearnedFromEvenWhenItLoses) {
  for (bool await : {true, false}) {
    SCOPED_TRACE(await ? "hedge losers awaited" : "hedge losers cancelled");
    std::atomic<int> edge_hits{0}, cloud_hits{0};
    TestNode edge(Answer(200, "edge", &edge_hits));
    TestNode cloud([&cloud_hits, slow = Slow(100ms, "cloud")](http::Request&& r, http::Responder w) {
      if (r.method == "POST") cloud_hits.fetch_add(1);  // not the light probes
      slow(std::move(r), std::move(w));
    });
    auto t =
        router::ParseTopology(R"({"schema_version":1,"nodes":[
    {"name":"edge","url":")" + edge.url +
                              R"(","tier":"edge","models":[{"name":"m","versions":[1],"compute_ms":1}]},
    {"name":"cloud","url":")" +
                              cloud.url +
                              R"(","tier":"cloud","models":[{"name":"m","versions":[1],"compute_ms":1}]}],
    "links":[{"from":"gateway","to":"edge","rtt_ms":1,"bandwidth_mbps":1000},
             {"from":"gateway","to":"cloud","rtt_ms":20,"bandwidth_mbps":1}]})");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    router::RouterOptions ro;
    ro.explore_after = 200ms;
    router::Router router(*t, ro);
    telemetry::Registry registry;
    GatewayOptions o;
    o.metrics = &registry;
    o.await_hedge_losers = await;  // an exploration copy is awaited either way
    Gateway gw(&router, nullptr, o);
    auto call = [&gw](std::string body) {
      http::Request r;
      r.method = "POST";
      r.path = "/v2/models/m/infer";
      r.body = std::move(body);
      std::promise<http::Response> p;
      gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
      return p.get_future().get();
    };
    const std::string large = R"({"pad":")" + std::string(size_t{100} * 1024, 'x') + R"("})";
    for (int i = 0; i < 20; ++i) EXPECT_EQ(call("{}").body, "edge");  // they earn a token
    EXPECT_EQ(call(large).body, "edge");                              // the declared links are fresh: no copy
    std::this_thread::sleep_for(250ms);                               // now the cloud's is stale
    EXPECT_EQ(cloud_hits.load(), 0);
    for (int i = 0; i < 9; ++i) router.ObserveRtt("cloud", 0.5);  // and its link got better (probes)
    http::Response resp = call(large);
    EXPECT_EQ(resp.body, "edge");
    EXPECT_EQ(HeaderOf(resp, "X-Continuum-Fallback-Step"), "0");
    EXPECT_NE(HeaderOf(resp, "X-Continuum-Reason").find("explore cloud"), std::string::npos)
        << HeaderOf(resp, "X-Continuum-Reason");
    // The copy reaches the cloud (maybe after the edge answered) and its answer, dropped, arrives
    // about 100 ms later; the estimate (seeded at 1 Mbit/s) then moves.
    for (int i = 0; i < 200 && router.EstimatedBandwidthMbps("cloud") <= 1; ++i)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(cloud_hits.load(), 1);
    EXPECT_GT(router.EstimatedBandwidthMbps("cloud"), 2);
    EXPECT_EQ(call(large).body, "edge");  // explored: not again for explore_after
    EXPECT_EQ(cloud_hits.load(), 1);
    const std::string text = registry.Render();
    EXPECT_NE(text.find("continuum_gateway_hedges_total{result=\"explore\"} 1"), std::string::npos) << text;
    EXPECT_NE(text.find("continuum_gateway_hedges_total{result=\"due\"} 0"), std::string::npos) << text;
  }
}

// The node's report of its engine run (X-Continuum-Run-Ms) is the compute sample; the queue wait in
// its time on the node (X-Continuum-Compute-Ms) is not (the node reports its queue depth instead).
TEST(Gateway, ComputeIsLearnedFromTheRunNotTheQueueWait) {
  auto node_handler = [](const char* run_ms) {
    return [run_ms](http::Request&&, http::Responder w) {
      std::this_thread::sleep_for(51ms);  // as long as it says it held the request
      http::Response r;
      r.body = "{}";
      r.headers = {{"X-Continuum-Compute-Ms", "50.000"}, {"X-Continuum-Queue-Depth", "0"}};
      if (run_ms) r.headers.emplace_back("X-Continuum-Run-Ms", run_ms);
      w(std::move(r));
    };
  };
  TestNode reports_run(node_handler("2.000"));
  TestNode older(node_handler(nullptr));
  const router::Topology topology = TwoNodes("new", reports_run.url, 1, "old", older.url, 1, 10);
  router::Router router(topology);
  Gateway gw(&router, nullptr, GatewayOptions{});
  for (const char* prefer : {"edge", "cloud"}) {
    for (int i = 0; i < 12; ++i) {
      http::Request r;
      r.method = "POST";
      r.path = "/v2/models/m/infer";
      r.body = "{}";
      r.headers.emplace_back("x-continuum-policy", std::string("prefer_tier=") + prefer);
      std::promise<http::Response> p;
      gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
      http::Response resp = p.get_future().get();
      ASSERT_EQ(resp.status, 200);
      std::string expected = prefer == std::string("edge") ? "new" : "old";
      ASSERT_EQ(HeaderOf(resp, "X-Continuum-Node"), expected) << HeaderOf(resp, "X-Continuum-Reason");
    }
  }
  EXPECT_NEAR(router.EstimatedComputeMs("new", "m"), 2.0, 1e-9);
  EXPECT_NEAR(router.EstimatedComputeMs("old", "m"), 50.0, 1e-9);  // no run reported: time on the node
}

// With a shared loop (the HTTP server's), a request handled on the loop is forwarded and answered
// without leaving the loop's thread; the gateway stops the loop when it goes.
TEST(Gateway, SharedLoopKeepsAForwardedRequestOnOneThread) {
  TestNode node(Answer(200, "ok"));
  auto t = router::ParseTopology(R"({"schema_version":1,"nodes":[{"name":"n","url":")" + node.url +
                                 R"(","tier":"edge","models":[{"name":"m","versions":[1]}]}]})");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  router::Router router(*t);
  auto loop = http::IoLoop::Start();
  ASSERT_TRUE(loop.ok());
  GatewayOptions o;
  o.loops = {*loop};
  auto gw = std::make_unique<Gateway>(&router, nullptr, o);
  std::promise<std::pair<http::Response, bool>> p;
  boost::asio::post((*loop)->context(), [&] {
    http::Request r;
    r.method = "POST";
    r.path = "/v2/models/m/infer";
    r.body = "{}";
    gw->Handle(std::move(r), [&p, l = *loop](http::Response resp) {
      p.set_value({std::move(resp), l->InLoopThread()});
    });
  });
  auto [resp, on_loop] = p.get_future().get();
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "ok");
  EXPECT_TRUE(on_loop);
  gw.reset();
  // Stopped with the gateway's upstream client: nothing posted now runs.
  std::atomic<bool> ran{false};
  boost::asio::post((*loop)->context(), [&ran] { ran = true; });
  std::this_thread::sleep_for(50ms);  // that nothing runs can only be seen by giving it time to
  EXPECT_FALSE(ran.load());
}

// With several HTTP I/O threads, each running a loop shared with the upstream client: a request
// is forwarded and answered on the thread that accepted it, whichever loop that is.
TEST(Gateway, SharedLoopsKeepEachForwardedRequestOnTheThreadThatAcceptedIt) {
  constexpr int kLoops = 3, kConnections = 4 * kLoops;
  TestNode node(Answer(200, "ok"));
  auto t = router::ParseTopology(R"({"schema_version":1,"nodes":[{"name":"n","url":")" + node.url +
                                 R"(","tier":"edge","models":[{"name":"m","versions":[1]}]}]})");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  router::Router router(*t);
  std::vector<std::shared_ptr<http::IoLoop>> loops;
  for (int i = 0; i < kLoops; ++i) loops.push_back(http::IoLoop::Start().value());
  GatewayOptions o;
  o.loops = loops;
  o.probe_period = 0ms;
  Gateway gw(&router, nullptr, o);
  std::mutex mu;
  std::vector<std::pair<std::thread::id, std::thread::id>> seen;  // accepted on, answered on
  http::ServerOptions so;
  so.address = "127.0.0.1";
  so.port = 0;
  so.io_threads = kLoops;
  so.loops = loops;
  auto server = http::Server::Start(so, [&](http::Request&& r, http::Responder w) {
    gw.Handle(std::move(r), [&, accepted = std::this_thread::get_id(), w](http::Response resp) {
      {
        std::lock_guard<std::mutex> lock(mu);
        seen.emplace_back(accepted, std::this_thread::get_id());
      }
      w(std::move(resp));
    });
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  {
    // A client each, so that every request comes on a connection of its own: the server hands
    // connections to its loops in turn.
    std::vector<std::unique_ptr<http::Client>> clients;
    std::vector<std::future<StatusOr<http::ClientResponse>>> answers;
    const std::string url = "http://127.0.0.1:" + std::to_string((*server)->port());
    for (int i = 0; i < kConnections; ++i) {
      clients.push_back(std::make_unique<http::Client>());
      answers.push_back(std::async(std::launch::async, [&c = *clients.back(), url] {
        http::ClientRequest req;
        req.target = "/v2/models/m/infer";
        req.body = "{}";
        return http::SendAndWait(c, url, std::move(req), std::chrono::steady_clock::now() + 30s);
      }));
    }
    for (auto& a : answers) {
      auto r = a.get();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->body, "ok");
    }
  }
  (*server)->Stop();
  std::set<std::thread::id> accepting;
  ASSERT_EQ(seen.size(), static_cast<size_t>(kConnections));
  for (const auto& [accepted, answered] : seen) {
    EXPECT_EQ(accepted, answered);
    accepting.insert(accepted);
  }
  EXPECT_EQ(accepting.size(), static_cast<size_t>(kLoops)) << "every loop accepted some of the connections";
}

// A client that leaves while the gateway waits on a slow node: the gateway cancels its call, its
// upstream connection closes, and the node's server sets the node-side request's token (a model
// scheduler would drop the queued request then, unrun).
TEST(Gateway, AClientLeavingCancelsTheRequestOnTheNode) {
  HoldsUntilCancelled slow;
  TestNode node(slow.handler());
  auto t = router::ParseTopology(R"({"schema_version":1,"nodes":[{"name":"n","url":")" + node.url +
                                 R"(","tier":"edge","models":[{"name":"m","versions":[1]}]}]})");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  router::Router router(*t);
  auto loop = http::IoLoop::Start();
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  GatewayOptions o;
  o.loops = {*loop};
  o.probe_period = 0ms;
  Gateway gw(&router, nullptr, o);
  http::ServerOptions so;
  so.address = "127.0.0.1";
  so.port = 0;
  so.loops = {*loop};
  auto server =
      http::Server::Start(so, [&gw](http::Request&& r, http::Responder w) { gw.Handle(std::move(r), w); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  {
    http::Client client;
    http::ClientRequest req;
    req.target = "/v2/models/m/infer";
    req.body = "{}";
    std::promise<Status> ended;
    auto call =
        client.Send("http://127.0.0.1:" + std::to_string((*server)->port()), std::move(req),
                    std::chrono::steady_clock::now() + 30s,
                    [&ended](const StatusOr<http::ClientResponse>& r) { ended.set_value(r.status()); });
    ASSERT_TRUE(Eventually([&] { return slow.received() == 1; }));
    EXPECT_EQ(slow.cancelled(), 0);
    call->Cancel();  // the client goes: its connection closes
    EXPECT_FALSE(ended.get_future().get().ok());
    EXPECT_TRUE(Eventually([&] { return slow.cancelled() == 1; }));
  }
  (*server)->Stop();
}

}  // namespace
}  // namespace continuum::gateway
