// Router::SetTopology: what a node keeps, what a new one starts with, what a removed one leaves.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "router/router.h"

namespace continuum::router {
namespace {

struct FakeClock {
  std::chrono::system_clock::time_point now{std::chrono::seconds(1'700'000'000)};
  Clock fn() {
    return [this] { return now; };
  }
};

// A node holding model "m" version 1, with a declared link from the gateway.
std::string NodeJson(const std::string& name, const std::string& url, double compute_ms) {
  return "{\"name\": \"" + name + "\", \"url\": \"" + url +
         "\", \"tier\": \"edge\", \"jurisdiction\": [\"eu\"], \"models\": [{\"name\": \"m\", \"versions\": "
         "[1], "
         "\"compute_ms\": " +
         std::to_string(compute_ms) + "}]}";
}

Topology Topo(const std::vector<std::string>& nodes, const std::string& links = "") {
  std::string json = R"({"schema_version": 1, "nodes": [)";
  for (size_t i = 0; i < nodes.size(); ++i) json += (i ? "," : "") + nodes[i];
  json += R"(], "links": [)" + links + "]}";
  auto t = ParseTopology(json);
  EXPECT_TRUE(t.ok()) << t.status().ToString() << "\n" << json;
  return t.ok() ? *t : Topology{};
}

Request Req() {
  Request r;
  r.model = "m";
  r.version = 1;
  return r;
}

TEST(TopologyUpdate, AStayingNodeKeepsItsEstimatesHealthAndAnswerTimesEvenWithANewUrl) {
  FakeClock clock;
  Router r(Topo({NodeJson("a", "http://a:1", 10), NodeJson("b", "http://b:1", 10)},
                R"({"from": "gateway", "to": "a", "rtt_ms": 5, "bandwidth_mbps": 100})"),
           RouterOptions{.clock = clock.fn()});
  for (int i = 0; i < 24; ++i) r.ObserveCompute("a", "m", 30);
  for (int i = 0; i < 9; ++i) r.ObserveRtt("a", 40);
  for (int i = 0; i < 40; ++i) r.ObserveAnswer("a", 20, 10);  // answers take twice the p95
  r.ReportFailure("b");
  r.ReportFailure("b");
  const double scale = r.HedgeDelayScale("a");
  ASSERT_NEAR(scale, 2.0, 1e-9);

  // "a" moves to another url and declares another link and seed; "b" stays.
  r.SetTopology(Topo({NodeJson("a", "http://a:2", 1), NodeJson("b", "http://b:1", 10)},
                     R"({"from": "gateway", "to": "a", "rtt_ms": 1, "bandwidth_mbps": 100})"));
  EXPECT_DOUBLE_EQ(r.EstimatedComputeMs("a", "m"), 30);
  EXPECT_DOUBLE_EQ(r.EstimatedRttMs("a"), 40);
  EXPECT_DOUBLE_EQ(r.HedgeDelayScale("a"), scale);
  r.ReportFailure("b");  // the third consecutive failure: its count was kept
  EXPECT_TRUE(r.IsEjected("b"));
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->choice, "a");
  EXPECT_EQ(d->url, "http://a:2");
  EXPECT_EQ(r.topology()->FindNode("a")->url, "http://a:2");
}

TEST(TopologyUpdate, ANewNodeStartsFromItsDeclarationsAndIsUsed) {
  FakeClock clock;
  Router r(Topo({NodeJson("a", "http://a", 50)}), RouterOptions{.clock = clock.fn()});
  auto before = r.topology();
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "a");

  r.SetTopology(Topo({NodeJson("a", "http://a", 50), NodeJson("c", "http://c", 2)},
                     R"({"from": "gateway", "to": "c", "rtt_ms": 3, "bandwidth_mbps": 1000})"));
  EXPECT_DOUBLE_EQ(r.EstimatedComputeMs("c", "m"), 2);
  EXPECT_DOUBLE_EQ(r.EstimatedRttMs("c"), 3);
  EXPECT_TRUE(r.IsHealthy("c"));
  d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "c");
  EXPECT_EQ(d->url, "http://c");
  // The snapshot taken before is unchanged, and still alive.
  EXPECT_EQ(before->nodes.size(), 1u);
  EXPECT_EQ(r.topology()->nodes.size(), 2u);
}

TEST(TopologyUpdate, ANodeRemovedWhileARequestToItIsInFlightIsForgottenAndItsAnswerIgnored) {
  FakeClock clock;
  Router r(Topo({NodeJson("a", "http://a", 1), NodeJson("b", "http://b", 10)}),
           RouterOptions{.clock = clock.fn()});
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->choice, "a");
  r.ReportOutstanding("a", clock.now + std::chrono::milliseconds(5), 1);  // the request is out

  r.SetTopology(Topo({NodeJson("b", "http://b", 10)}));
  // The answer of the request in flight comes back: every report about "a" is ignored.
  r.ReportSuccess("a");
  r.ReportFailure("a");
  r.ObserveTransfer("a", 100, 3);
  r.ObserveTransfer("a", 1 << 20, 30);
  r.ObserveRtt("a", 3);
  r.ObserveCompute("a", "m", 1);
  r.ObserveAnswer("a", 3, 5);
  r.ReportQueueDepth("a", 2);
  r.ReportOutstanding("a", std::nullopt, 0);
  r.ProbeResult("a", true, 2.0);
  EXPECT_FALSE(r.IsHealthy("a"));
  EXPECT_FALSE(r.IsEjected("a"));
  EXPECT_DOUBLE_EQ(r.EstimatedComputeMs("a", "m"), 0);  // nothing kept, nothing learned
  EXPECT_TRUE(r.NodesToProbe().empty());
  clock.now += std::chrono::seconds(10);
  EXPECT_EQ(r.NodesToRefresh(), std::vector<std::string>{"b"});
  d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "b");
  EXPECT_TRUE(d->fallbacks.empty());

  // Back again later: it starts fresh, from its declared seed.
  r.SetTopology(Topo({NodeJson("a", "http://a", 1), NodeJson("b", "http://b", 10)}));
  EXPECT_DOUBLE_EQ(r.EstimatedComputeMs("a", "m"), 1);
  EXPECT_TRUE(r.IsHealthy("a"));
}

TEST(TopologyUpdate, AModelNoLongerHeldIsNotRoutedThere) {
  Router r(Topo({NodeJson("a", "http://a", 1)}));
  ASSERT_TRUE(r.Decide(Req()).ok());
  std::string other = NodeJson("a", "http://a", 1);
  other.replace(other.find(R"("name": "m")"), 11, R"("name": "other")");
  r.SetTopology(Topo({other}));
  auto d = r.Decide(Req());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
}

// Decisions, reports and topology updates from several threads at once (run under TSan).
TEST(TopologyUpdate, ConcurrentDecideAndSetTopology) {
  Router r(Topo({NodeJson("a", "http://a", 1), NodeJson("b", "http://b", 2)}));
  const Topology with_c =
      Topo({NodeJson("a", "http://a", 1), NodeJson("b", "http://b", 2), NodeJson("c", "http://c", 1)});
  const Topology without_a = Topo({NodeJson("b", "http://b2", 2), NodeJson("c", "http://c", 1)});
  std::atomic<bool> stop{false};
  std::atomic<int> decided{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        auto d = r.Decide(Req());
        if (!d.ok()) continue;
        decided++;
        const std::string node = d->choice;
        r.ReportOutstanding(node, std::nullopt, 1);
        r.ObserveTransfer(node, 1000, 2);
        r.ObserveCompute(node, "m", 1);
        r.ObserveAnswer(node, 1, 2);
        r.ReportSuccess(node);
        (void)r.PickHedge(Req(), {node});
        auto snapshot = r.topology();
        EXPECT_NE(snapshot->FindNode("b"), nullptr);
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    r.SetTopology(i % 2 ? with_c : without_a);
    (void)r.NodesToRefresh();
    (void)r.NodesToProbe();
  }
  // Poll until the deciders have been running: at least some decisions were made.
  for (int i = 0; i < 100000 && decided.load() < 100; ++i) std::this_thread::yield();
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_GE(decided.load(), 1);
  EXPECT_EQ(r.topology()->nodes.size(), 3u);  // the last one applied: with_c
}

}  // namespace
}  // namespace continuum::router
