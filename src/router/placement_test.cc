#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "router/estimators.h"
#include "router/router.h"

namespace continuum::router {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::system_clock::time_point now{std::chrono::seconds(1'700'000'000)};
  Clock fn() {
    return [this] { return now; };
  }
};

TEST(Estimators, WindowQuantiles) {
  WindowQuantile w(5);
  EXPECT_FALSE(w.has_value());
  EXPECT_DOUBLE_EQ(w.value(), 0);
  w.Observe(10);
  EXPECT_DOUBLE_EQ(w.value(), 10);
  w.Observe(20);
  EXPECT_DOUBLE_EQ(w.value(), 15);  // the median of an even count is the midpoint
  for (double x : {30, 40, 50}) w.Observe(x);
  EXPECT_DOUBLE_EQ(w.Quantile(0), 10);
  EXPECT_DOUBLE_EQ(w.Quantile(1), 50);
  EXPECT_DOUBLE_EQ(w.Quantile(0.5), 30);
  EXPECT_DOUBLE_EQ(w.Quantile(0.95), 48);  // 0.95 * 4 = 3.8: 40 + 0.8 * 10
  w.Observe(60);                           // the window slides: 10 leaves
  EXPECT_EQ(w.count(), 5u);
  EXPECT_DOUBLE_EQ(w.Quantile(0), 20);
  const auto both = w.Quantiles<3>({0.0, 0.5, 0.95});  // one sort, the same answers
  EXPECT_DOUBLE_EQ(both[0], w.Quantile(0));
  EXPECT_DOUBLE_EQ(both[1], w.Quantile(0.5));
  EXPECT_DOUBLE_EQ(both[2], w.Quantile(0.95));
  w.Seed(7);  // clears the window
  EXPECT_EQ(w.count(), 1u);
  EXPECT_DOUBLE_EQ(w.Quantile(0.95), 7);
}

// The window kept sorted as samples come and go gives what sorting the last `window` samples
// gives, through slides, repeated values and reseeding.
TEST(Estimators, WindowQuantilesMatchASortOfTheLastSamples) {
  for (size_t window : {1u, 2u, 5u, 24u, 32u}) {
    WindowQuantile w(window);
    std::vector<double> all;
    uint32_t x = 12345;
    for (int i = 0; i < 400; ++i) {
      x = x * 1103515245u + 12345u;
      const double v = static_cast<double>((x >> 16) % 50);  // repeats are common
      if (i % 97 == 96) {
        w.Seed(v);
        all.assign(1, v);
      } else {
        w.Observe(v);
        all.push_back(v);
      }
      std::vector<double> last(all.end() - static_cast<std::ptrdiff_t>(std::min(all.size(), window)),
                               all.end());
      std::sort(last.begin(), last.end());
      ASSERT_EQ(w.count(), last.size());
      for (double q : {0.0, 0.25, 0.5, 0.95, 1.0}) {
        const double pos = q * static_cast<double>(last.size() - 1);
        const size_t lo = static_cast<size_t>(pos), hi = std::min(lo + 1, last.size() - 1);
        const double want = last[lo] + (last[hi] - last[lo]) * (pos - static_cast<double>(lo));
        ASSERT_DOUBLE_EQ(w.Quantile(q), want) << "window " << window << ", sample " << i << ", q " << q;
      }
    }
  }
}

TEST(Estimators, ComputeP95IgnoresOneStragglerAndFollowsARealChange) {
  FakeClock clock;
  Estimators e(24, 50, 100, clock.fn());
  for (int i = 0; i < 30; ++i) e.ObserveCompute("a", "m", 4 + 0.1 * (i % 5));
  const auto before = e.Compute("a", "m", 0);
  EXPECT_NEAR(before.median_ms, 4.2, 1e-9);
  EXPECT_NEAR(before.p95_ms, 4.4, 1e-9);
  // One run held 200 ms: neither the median nor the p95 moves (a mean + 1.645 sd estimate
  // would have jumped to well over 100 ms).
  e.ObserveCompute("a", "m", 204);
  EXPECT_NEAR(e.Compute("a", "m", 0).median_ms, 4.2, 1e-9);
  EXPECT_NEAR(e.Compute("a", "m", 0).p95_ms, 4.4, 1e-9);
  // The node becomes 4x slower for good: the median follows once half the window is new.
  for (int i = 0; i < 10; ++i) e.ObserveCompute("a", "m", 16);
  EXPECT_LT(e.Compute("a", "m", 0).median_ms, 10);
  e.ObserveCompute("a", "m", 16);
  e.ObserveCompute("a", "m", 16);
  EXPECT_DOUBLE_EQ(e.Compute("a", "m", 0).median_ms, 16);
  EXPECT_GE(e.Compute("a", "m", 0).p95_ms, 16);
}

TEST(Estimators, ComputeSeedHasATenPercentSpreadUntilRunsArrive) {
  FakeClock clock;
  Estimators e(24, 50, 100, clock.fn());
  e.SeedCompute("a", "m", 40);
  EXPECT_DOUBLE_EQ(e.Compute("a", "m", 0).median_ms, 40);
  EXPECT_NEAR(e.Compute("a", "m", 0).p95_ms, 40 * 1.1644854, 1e-9);
  // Unseen (node, model): the caller's fallback, with the same spread.
  EXPECT_DOUBLE_EQ(e.Compute("a", "other", 99).median_ms, 99);
  EXPECT_NEAR(e.Compute("a", "other", 99).p95_ms, 99 * 1.1644854, 1e-9);
  // With enough real runs the p95 is theirs alone.
  for (size_t i = 0; i < Estimators::kFewRuns + 24; ++i) e.ObserveCompute("a", "m", 10);
  EXPECT_DOUBLE_EQ(e.Compute("a", "m", 0).p95_ms, 10);
}

TEST(Estimators, LinkTransferAndQueue) {
  FakeClock clock;
  Estimators e(24, 50, 100, clock.fn());
  auto d = e.Link("a");
  EXPECT_DOUBLE_EQ(d.rtt_ms, 50);  // defaults for an unseen node
  EXPECT_DOUBLE_EQ(d.bandwidth_mbps, 100);
  e.SeedLink("a", 10, 200);
  e.ObserveRtt("a", 20);
  EXPECT_DOUBLE_EQ(e.Link("a").rtt_ms, 15);
  // 1 MB in 95 ms with 15 ms rtt: 80 ms of transfer -> 100 Mbps; the median with the seed 200: 150.
  e.ObserveTransfer("a", 1'000'000, 95);
  EXPECT_NEAR(e.Link("a").bandwidth_mbps, 150, 1e-9);
  e.ObserveTransfer("a", 0, 10);    // ignored
  e.ObserveTransfer("a", 10, -1);   // ignored
  e.ObserveRtt("a", std::nan(""));  // ignored
  EXPECT_NEAR(e.Link("a").bandwidth_mbps, 150, 1e-9);
  EXPECT_DOUBLE_EQ(e.Link("a").rtt_ms, 15);
  EXPECT_DOUBLE_EQ(e.QueueDepth("a"), 0);
  clock.now += 3s;
  e.ReportQueueDepth("a", 4);
  EXPECT_DOUBLE_EQ(e.QueueDepth("a"), 4);
  EXPECT_EQ(e.LastUpdate("a"), clock.now);
  e.SeedCompute("a", "m", 30);
  e.ObserveCompute("a", "m", 10);
  EXPECT_DOUBLE_EQ(e.Compute("a", "m", 99).median_ms, 20);  // the seed is one of two samples
  EXPECT_DOUBLE_EQ(e.Compute("a", "other", 99).median_ms, 99);
}

// Whatever finite, non-negative times a node reports, the estimates stay finite: a transfer that
// took a denormal time is no bandwidth sample (its rate would be infinite, and the window's
// interpolation of it NaN).
TEST(Estimators, ExtremeSamplesKeepTheEstimatesFinite) {
  FakeClock clock;
  Estimators e(24, 50, 100, clock.fn());
  e.ObserveTransfer("a", 1'000'000, 1e-320);
  EXPECT_TRUE(std::isfinite(e.Link("a").bandwidth_mbps));
  EXPECT_DOUBLE_EQ(e.Link("a").bandwidth_mbps, 100);
  e.ObserveCompute("a", "m", 1e308);
  const auto c = e.Compute("a", "m", 1);
  EXPECT_DOUBLE_EQ(c.median_ms, 1e308);
  EXPECT_TRUE(std::isfinite(c.p95_ms));
  EXPECT_GE(c.p95_ms, c.median_ms);
}

TEST(Estimators, ThreadSafe) {
  FakeClock clock;
  Estimators e(24, 50, 100, clock.fn());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&e, t] {
      for (int i = 0; i < 2000; ++i) {
        e.ObserveCompute("n" + std::to_string(i % 3), "m", 5 + t);
        e.ObserveRtt("n" + std::to_string(i % 3), 10);
        e.ReportQueueDepth("n0", i % 7);
        (void)e.Compute("n1", "m", 1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_NEAR(e.Link("n0").rtt_ms, 10, 1e-9);
  double m = e.Compute("n2", "m", 0).median_ms;
  EXPECT_GE(m, 5);
  EXPECT_LE(m, 8);
}

// Three nodes: a fast but pricey edge, a cheap slow cloud, a frugal device.
const char* kTopo = R"({
  "schema_version": 1,
  "nodes": [
    {"name": "edge-paris", "url": "http://edge-paris", "tier": "edge", "jurisdiction": ["eu", "eu-fr"],
     "cost_per_compute_second": 0.01, "energy_per_compute_second": 100,
     "models": [{"name": "m", "versions": [1], "compute_ms": 4}]},
    {"name": "cloud-eu", "url": "http://cloud-eu", "tier": "cloud", "jurisdiction": ["eu", "eu-de"],
     "cost_per_compute_second": 0.001, "energy_per_compute_second": 300,
     "models": [{"name": "m", "versions": [1, 2], "compute_ms": 11}]},
    {"name": "cloud-us", "url": "http://cloud-us", "tier": "cloud", "jurisdiction": ["us"],
     "cost_per_compute_second": 0.0001, "energy_per_compute_second": 300,
     "models": [{"name": "m", "versions": [1], "compute_ms": 10}]},
    {"name": "phone", "url": "local://", "tier": "device", "jurisdiction": ["eu", "eu-fr"],
     "cost_per_compute_second": 0, "energy_per_compute_second": 2,
     "models": [{"name": "m", "versions": [1], "compute_ms": 60}]}
  ],
  "links": [
    {"from": "gateway", "to": "edge-paris", "rtt_ms": 8, "bandwidth_mbps": 1000},
    {"from": "gateway", "to": "cloud-eu", "rtt_ms": 20, "bandwidth_mbps": 1000},
    {"from": "gateway", "to": "cloud-us", "rtt_ms": 90, "bandwidth_mbps": 1000},
    {"from": "gateway", "to": "phone", "rtt_ms": 0, "bandwidth_mbps": 10000}
  ]
})";

Topology Topo(const char* json = kTopo) {
  auto t = ParseTopology(json);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

Request Req(Policy p = {}) {
  Request r;
  r.model = "m";
  r.version = 1;
  r.policy = std::move(p);
  return r;
}

Policy Pol(std::string_view header) {
  auto p = ParsePolicyHeader(header);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}

TEST(Placement, FastestPredictsEndToEnd) {
  Router r(Topo());
  Request req = Req();
  req.input_bytes = 1'000'000;  // 1 MB at 1000 Mbps = 8 ms
  auto d = r.Decide(req);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->choice, "edge-paris");
  EXPECT_EQ(d->url, "http://edge-paris");
  const Candidate& c = d->candidates[0];
  EXPECT_DOUBLE_EQ(c.rtt_ms, 8);
  EXPECT_NEAR(c.transfer_ms, 8, 1e-9);
  EXPECT_DOUBLE_EQ(c.compute_ms, 4);
  EXPECT_NEAR(c.predicted_ms, 20, 1e-9);
  EXPECT_EQ(d->fallbacks, (std::vector<std::string>{"cloud-eu", "phone", "cloud-us"}));
  EXPECT_EQ(d->reason.rfind("edge-paris: predicted 20 ms (rtt 8 + transfer 8 + compute 4) vs cloud-eu 39 ms; "
                            "objective fastest",
                            0),
            0u)
      << d->reason;
  EXPECT_FALSE(d->hedge.has_value());
}

TEST(Placement, QueueDepthAndInstances) {
  Router r(Topo());
  r.ReportQueueDepth("edge-paris", 10);  // 10 * 4 ms / 1 instance = 40 ms of waiting
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-eu");
  EXPECT_NE(d->reason.find("vs edge-paris 52 ms"), std::string::npos) << d->reason;
  for (const auto& c : d->candidates) {
    if (c.node == "edge-paris") {
      EXPECT_DOUBLE_EQ(c.queue_ms, 40);
    }
  }
}

TEST(Placement, AnOverdueOutstandingRequestHoldsANodeUp) {
  for (double weight : {1.0, 4.0}) {
    SCOPED_TRACE(weight);
    FakeClock clock;
    RouterOptions o;
    o.clock = clock.fn();
    o.overdue_weight = weight;
    Router r(Topo(), o);
    ASSERT_EQ(r.Decide(Req())->choice, "edge-paris");  // predicted 12 ms
    // A request to the edge due (its p95) in 5 ms: nothing changes.
    r.ReportEarliestDue("edge-paris", clock.now + 5ms);
    ASSERT_EQ(r.Decide(Req())->choice, "edge-paris");
    // Due 200 ms ago and still unanswered: the edge is held up (a straggler in its queue).
    r.ReportEarliestDue("edge-paris", clock.now - 200ms);
    auto d = r.Decide(Req());
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->choice, "cloud-eu");
    for (const auto& c : d->candidates) {
      if (c.node == "edge-paris") {
        EXPECT_NEAR(c.queue_ms, 200 * weight, 1e-6);
      }
    }
    // It answered: the edge is back.
    r.ReportEarliestDue("edge-paris", std::nullopt);
    EXPECT_EQ(r.Decide(Req())->choice, "edge-paris");
  }
}

// A long run of another model in flight on a node is what a new request waits behind, not the
// in-flight count times its own (short) run.
TEST(Placement, OutstandingWorkIsTheQueueWhenItExceedsDepthTimesTheRun) {
  FakeClock clock;
  RouterOptions o;
  o.clock = clock.fn();
  Router r(Topo(), o);
  ASSERT_EQ(r.Decide(Req())->choice, "edge-paris");  // predicted 12 ms: compute 4
  r.ReportQueueDepth("edge-paris", 1);
  r.ReportOutstanding("edge-paris", clock.now + 60ms, 55);  // a 55 ms run of another model
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-eu");
  for (const auto& c : d->candidates) {
    if (c.node == "edge-paris") {
      EXPECT_NEAR(c.queue_ms, 55, 1e-9);
    }
  }
  // Little work outstanding: depth x the run decides, as before.
  r.ReportQueueDepth("edge-paris", 2);
  r.ReportOutstanding("edge-paris", clock.now + 60ms, 1);
  d = r.Decide(Req());
  for (const auto& c : d->candidates) {
    if (c.node == "edge-paris") {
      EXPECT_NEAR(c.queue_ms, 2 * c.compute_ms, 1e-9);
    }
  }
  // Nothing outstanding.
  r.ReportQueueDepth("edge-paris", 0);
  r.ReportOutstanding("edge-paris", std::nullopt, 0);
  EXPECT_EQ(r.Decide(Req())->choice, "edge-paris");
}

TEST(Estimators, SmallTransfersFeedTheRtt) {
  FakeClock clock;
  Estimators e(24, 50, 100, clock.fn());
  e.SeedLink("a", 6, 80);
  // 4 KB in 30 ms: at 80 Mbps the bytes take 0.4096 ms, the rest is latency; bandwidth unchanged.
  e.ObserveTransfer("a", 4000, 30);
  EXPECT_NEAR(e.Link("a").rtt_ms, (6 + (30 - 0.4)) / 2, 1e-9);  // median of the seed and the sample
  EXPECT_DOUBLE_EQ(e.Link("a").bandwidth_mbps, 80);
  for (int i = 0; i < 30; ++i) e.ObserveTransfer("a", 4000, 30);
  EXPECT_NEAR(e.Link("a").rtt_ms, 29.6, 1e-6);
  // A large transfer is a bandwidth sample after the (now learned) rtt: 1 MB in 29.6 + 80 ms.
  e.ObserveTransfer("a", 1'000'000, 29.6 + 80);
  EXPECT_NEAR(e.Link("a").bandwidth_mbps, (80 + 100) / 2.0, 1e-6);  // median of seed and sample
  EXPECT_NEAR(e.Link("a").rtt_ms, 29.6, 1e-6);
}

TEST(Estimators, RttIgnoresAStalledAnswerButFollowsARealChange) {
  FakeClock clock;
  Estimators e(24, 50, 100, clock.fn());
  e.SeedLink("a", 6, 100);
  for (int i = 0; i < 6; ++i) e.ObserveRtt("a", 6);
  e.ObserveRtt("a", 2000);  // an answer held for 2 s by a partition
  e.ObserveRtt("a", 1500);
  EXPECT_DOUBLE_EQ(e.Link("a").rtt_ms, 6);
  for (int i = 0; i < 3; ++i) e.ObserveRtt("a", 30);  // the link really changed
  EXPECT_DOUBLE_EQ(e.Link("a").rtt_ms, 30);           // 5 of the last 9 samples are >= 30
  for (int i = 0; i < 9; ++i) e.ObserveRtt("a", 8);
  EXPECT_DOUBLE_EQ(e.Link("a").rtt_ms, 8);
}

TEST(Placement, LearnsComputeOnline) {
  Router r(Topo());
  for (int i = 0; i < 50; ++i) r.ObserveCompute("edge-paris", "m", 40);
  EXPECT_NEAR(r.EstimatedComputeMs("edge-paris", "m"), 40, 0.01);
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-eu");
  for (int i = 0; i < 5; ++i) r.ObserveRtt("cloud-eu", 200);
  EXPECT_GT(r.EstimatedRttMs("cloud-eu"), 100);
  d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "edge-paris");
}

TEST(Placement, CheapestWithinTargetElseFastest) {
  Router r(Topo());
  // Within 40 ms: edge-paris (12) and cloud-eu (31); cloud-us (100) and phone (60) are not.
  auto d = r.Decide(Req(Pol("objective=cheapest; latency_target_ms=40")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-eu");
  EXPECT_TRUE(d->candidates[0].within_target);
  EXPECT_NE(d->reason.find("objective cheapest"), std::string::npos);
  // No target: the cheapest node anywhere (cloud-us costs less than phone? phone is free).
  d = r.Decide(Req(Pol("objective=cheapest")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "phone");
  // Nobody within 5 ms: the fastest.
  d = r.Decide(Req(Pol("objective=cheapest; latency_target_ms=5")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "edge-paris");
  EXPECT_FALSE(d->candidates[0].within_target);
  EXPECT_NE(d->reason.find("no node within target 5 ms"), std::string::npos) << d->reason;
}

TEST(Placement, LeastEnergyWithinTarget) {
  Router r(Topo());
  auto d = r.Decide(Req(Pol("objective=least_energy; latency_target_ms=100")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "phone");  // 60 ms * 2 W = 0.12 J
  d = r.Decide(Req(Pol("objective=least_energy; latency_target_ms=35")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "edge-paris");  // 0.4 J vs cloud-eu 3.3 J
  EXPECT_NEAR(d->candidates[0].energy_j, 0.4, 1e-9);
}

TEST(Placement, PreferTier) {
  Router r(Topo());
  auto d = r.Decide(Req(Pol("prefer_tier=cloud")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-eu");
  EXPECT_EQ(d->fallbacks[0], "cloud-us");
  // With a target, only nodes within it get the preference.
  d = r.Decide(Req(Pol("prefer_tier=device; latency_target_ms=40")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "edge-paris");
}

TEST(Placement, ModelDefaultsMergeUnderRequest) {
  std::string json = kTopo;
  json.insert(json.rfind('}'), R"(, "model_defaults": {"m": {"objective": "cheapest", "residency": "eu"}})");
  Router r(Topo(json.c_str()));
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->choice, "phone");  // cheapest within eu
  EXPECT_EQ(d->policy.residency, "eu");
  d = r.Decide(Req(Pol("objective=fastest")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "edge-paris");
  EXPECT_EQ(d->policy.residency, "eu");
}

TEST(Placement, RequestResidencyOverridesTheModelDefault) {
  std::string json = kTopo;
  json.insert(json.rfind('}'), R"(, "model_defaults": {"m": {"residency": "eu-fr"}})");
  Router r(Topo(json.c_str()));
  // The default alone: only the eu-fr nodes.
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->policy.residency, "eu-fr");
  EXPECT_EQ(d->choice, "edge-paris");
  EXPECT_EQ(d->fallbacks, (std::vector<std::string>{"phone"}));
  // The request's class replaces the default's, it does not narrow it: us has no eu-fr node,
  // and only cloud-us is a candidate.
  d = r.Decide(Req(Pol("residency=us")));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->policy.residency, "us");
  EXPECT_EQ(d->choice, "cloud-us");
  EXPECT_TRUE(d->fallbacks.empty());
  // eu-de: cloud-eu only, although edge-paris (eu-fr, the default) is faster.
  d = r.Decide(Req(Pol("residency=eu-de")));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->policy.residency, "eu-de");
  EXPECT_EQ(d->choice, "cloud-eu");
  EXPECT_TRUE(d->fallbacks.empty());
  for (const Candidate& c : d->candidates) EXPECT_EQ(c.node, "cloud-eu");
  // The override also holds where the request sets other fields beside it.
  d = r.Decide(Req(Pol("residency=us; objective=cheapest; hedge=on")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-us");
  EXPECT_FALSE(d->hedge.has_value()) << "no second node in us to hedge to";
}

TEST(Placement, ResidencyFailsClosed) {
  Router r(Topo());
  auto d = r.Decide(Req(Pol("residency=eu-de")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-eu");
  EXPECT_TRUE(d->fallbacks.empty());
  d = r.Decide(Req(Pol("residency=us; objective=fastest")));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-us");
  // Version 2 only on cloud-eu: residency us cannot be served -> refusal, never a foreign node.
  Request v2 = Req(Pol("residency=us"));
  v2.version = 2;
  auto none = r.Decide(v2);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(none.status().message().find("no candidate"), std::string::npos);
  EXPECT_NE(none.status().message().find("residency class 'us'"), std::string::npos);
  // The only eu-de node ejected: refusal as well.
  for (int i = 0; i < 3; ++i) r.ReportFailure("cloud-eu");
  auto ejected = r.Decide(Req(Pol("residency=eu-de")));
  ASSERT_FALSE(ejected.ok());
  EXPECT_EQ(ejected.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(ejected.status().message().find("ejected"), std::string::npos);
}

TEST(Placement, UnknownResidencyClassIsRefused) {
  Router r(Topo());
  auto d = r.Decide(Req(Pol("residency=mars")));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(
                "policy.residency: unknown residency class 'mars' (known: eu, eu-fr, eu-de, us)"),
            std::string::npos)
      << d.status().message();
}

TEST(Placement, UnknownModelOrVersion) {
  Router r(Topo());
  Request q = Req();
  q.model = "nope";
  EXPECT_EQ(r.Decide(q).status().code(), StatusCode::kNotFound);
  q = Req();
  q.version = 7;
  auto d = r.Decide(q);
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
  EXPECT_NE(d.status().message().find("version 7"), std::string::npos);
  q.version = 0;  // any version
  EXPECT_TRUE(r.Decide(q).ok());
}

TEST(Health, EjectAfterConsecutiveFailuresAndReadmitOnProbe) {
  FakeClock clock;
  RouterOptions o;
  o.clock = clock.fn();
  o.eject_after_failures = 3;
  o.probe_interval = 5s;
  Router r(Topo(), o);
  r.ObserveTransfer("edge-paris", 1'000'000, 8 + 800);  // a congested link: 10 Mbit/s
  EXPECT_NEAR(r.EstimatedBandwidthMbps("edge-paris"), (1000 + 10) / 2.0, 1e-6);  // median of seed and sample
  r.ReportFailure("edge-paris");
  r.ReportFailure("edge-paris");
  r.ReportSuccess("edge-paris");  // resets the count
  r.ReportFailure("edge-paris");
  r.ReportFailure("edge-paris");
  EXPECT_TRUE(r.IsHealthy("edge-paris"));
  EXPECT_EQ(r.Decide(Req())->choice, "edge-paris");
  r.ReportFailure("edge-paris");
  EXPECT_FALSE(r.IsHealthy("edge-paris"));
  auto d = r.Decide(Req());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "cloud-eu");
  for (const auto& f : d->fallbacks) EXPECT_NE(f, "edge-paris");
  EXPECT_TRUE(r.NodesToProbe().empty());  // just ejected
  clock.now += 6s;
  EXPECT_EQ(r.NodesToProbe(), (std::vector<std::string>{"edge-paris"}));
  EXPECT_TRUE(r.NodesToProbe().empty());  // marked as probed
  r.ProbeResult("edge-paris", false);
  EXPECT_FALSE(r.IsHealthy("edge-paris"));
  r.ProbeResult("edge-paris", true, 6.0);
  EXPECT_TRUE(r.IsHealthy("edge-paris"));
  // Back from an outage, the link is learned anew: the probe's rtt, the declared bandwidth.
  EXPECT_DOUBLE_EQ(r.EstimatedRttMs("edge-paris"), 6.0);
  EXPECT_DOUBLE_EQ(r.EstimatedBandwidthMbps("edge-paris"), 1000);
  r.ProbeResult("edge-paris", true, 7.0);                 // a healthy node's probe is one more observation
  EXPECT_DOUBLE_EQ(r.EstimatedRttMs("edge-paris"), 6.5);  // the median of both
  EXPECT_EQ(r.Decide(Req())->choice, "edge-paris");
  // Unknown names are ignored.
  r.ReportFailure("ghost");
  EXPECT_FALSE(r.IsHealthy("ghost"));
}

TEST(Health, IdleHealthyNodesAreListedForLightProbes) {
  FakeClock clock;
  RouterOptions o;
  o.clock = clock.fn();
  o.refresh_interval = 2s;
  Router r(Topo(), o);
  auto all = r.NodesToRefresh();  // nothing heard from anyone yet
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"cloud-eu", "cloud-us", "edge-paris", "phone"}));
  EXPECT_TRUE(r.NodesToRefresh().empty());  // marked
  clock.now += 1s;
  r.ReportSuccess("edge-paris");
  clock.now += 1500ms;
  all = r.NodesToRefresh();
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"cloud-eu", "cloud-us", "phone"}));  // edge answered 1.5 s ago
  // Ejected nodes are the prober's, not listed here.
  for (int i = 0; i < 3; ++i) r.ReportFailure("edge-paris");
  clock.now += 5s;
  all = r.NodesToRefresh();
  EXPECT_EQ(std::count(all.begin(), all.end(), "edge-paris"), 0);
  // Zero disables.
  o.refresh_interval = 0s;
  Router quiet(Topo(), o);
  EXPECT_TRUE(quiet.NodesToRefresh().empty());
}

TEST(Hedge, TargetIsRunnerUpAfterP95AndBudgetCapsAtFivePercent) {
  Router r(Topo());
  Policy hedge = Pol("hedge=on");
  int started = 0;
  const int n = 10'000;
  for (int i = 1; i <= n; ++i) {
    auto d = r.Decide(Req(hedge));
    ASSERT_TRUE(d.ok());
    // Every hedge=on decision carries the hedge; the budget is charged only when one goes out.
    ASSERT_TRUE(d->hedge.has_value());
    EXPECT_EQ(d->hedge->node, d->fallbacks[0]);
    EXPECT_EQ(d->hedge->node, "cloud-eu");
    EXPECT_NEAR(d->hedge->delay_ms, 8 + 4 + 1.6448536 * 0.4, 1e-6);  // seed spread 10%
    EXPECT_NE(d->reason.find("hedge cloud-eu after"), std::string::npos);
    if (r.TryStartHedge()) ++started;  // every hedge due: the bucket alone caps them
    ASSERT_LE(started, 0.05 * i + 1e-9) << "after " << i << " decisions";
  }
  EXPECT_GE(started, n * 5 / 100 - 1);
  // Without hedge in the policy, no hedge; decisions still earn tokens, up to the burst.
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(r.Decide(Req())->hedge.has_value());
  int burst = 0;
  while (r.TryStartHedge()) ++burst;
  EXPECT_EQ(burst, 30);  // RouterOptions::hedge_burst
  auto d = r.Decide(Req());
  EXPECT_FALSE(d->hedge.has_value());
  // A single candidate has nobody to hedge to.
  Router single(Topo());
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(single.Decide(Req(Pol("hedge=on; residency=us")))->hedge.has_value());
}

// The hedge delay adapts so that the set share of hedges falls due, whatever the predictions miss
// by: answers of the choice taking uniformly 0-4x the predicted p95 make its scale the 97.5 %
// quantile of that ratio (3.9), so that about 2.5 % of hedges fall due.
TEST(Hedge, DelayScaleIsTheDueShareQuantileOfRecentAnswers) {
  Router r(Topo());
  const auto first = r.Decide(Req(Pol("hedge=on")));
  const double p95 = first->hedge->delay_ms;
  const std::string d0 = first->choice;
  uint64_t state = 12345;
  auto uniform = [&state] {  // a fixed LCG: the test draws the same numbers every run
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) / static_cast<double>(1ull << 53);
  };
  // Until 32 answers are in, the delay is the predicted p95 itself.
  for (int i = 0; i < 31; ++i) r.ObserveAnswer(d0, 4.0 * p95, p95);
  EXPECT_DOUBLE_EQ(r.HedgeDelayScale(d0), 1.0);
  int due = 0;
  const int n = 20'000;
  for (int i = 0; i < n; ++i) {
    auto d = r.Decide(Req(Pol("hedge=on")));
    const double answer_ms = 4.0 * p95 * uniform();
    if (i >= 1000) due += answer_ms > d->hedge->delay_ms;
    ASSERT_EQ(d->choice, d0);
    r.ObserveAnswer(d0, answer_ms, p95);
  }
  EXPECT_NEAR(r.HedgeDelayScale(d0), 3.9, 0.1);
  EXPECT_NEAR(static_cast<double>(due) / (n - 1000), 0.025, 0.006);
  EXPECT_NEAR(r.Decide(Req(Pol("hedge=on")))->hedge->delay_ms, p95 * r.HedgeDelayScale(d0), 1e-9);
  // Bounded both ways; nonsense is ignored.
  for (int i = 0; i < 300; ++i) r.ObserveAnswer(d0, 1000.0 * p95, p95);
  EXPECT_DOUBLE_EQ(r.HedgeDelayScale(d0), 64.0);
  for (int i = 0; i < 300; ++i) r.ObserveAnswer(d0, 0, p95);
  EXPECT_DOUBLE_EQ(r.HedgeDelayScale(d0), 0.25);
  r.ObserveAnswer(d0, -1, p95);
  r.ObserveAnswer(d0, 1, 0);
  r.ObserveAnswer(d0, std::nan(""), p95);
  EXPECT_DOUBLE_EQ(r.HedgeDelayScale(d0), 0.25);
  // A node with fewer than 32 answers of its own takes the scale of all answers (here d0's alone);
  // then its own.
  const std::string other = first->fallbacks[0];
  EXPECT_DOUBLE_EQ(r.HedgeDelayScale(other), 0.25);
  for (int i = 0; i < 32; ++i) r.ObserveAnswer(other, 2.0 * p95, p95);
  EXPECT_DOUBLE_EQ(r.HedgeDelayScale(other), 2.0);
  EXPECT_DOUBLE_EQ(r.HedgeDelayScale(d0), 0.25);
}

TEST(Hedge, PickedAtSendTimeAmongTheNodesNotHeldUp) {
  FakeClock clock;
  RouterOptions o;
  o.clock = clock.fn();
  Router r(Topo(), o);
  auto d = r.Decide(Req(Pol("hedge=on")));
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->choice, "edge-paris");
  ASSERT_EQ(d->hedge->node, "cloud-eu");
  // When the hedge is due, the choice is busy serving: the runner-up is the best of the rest.
  EXPECT_EQ(r.PickHedge(Req(Pol("hedge=on")), {"edge-paris"}), "cloud-eu");
  // The runner-up has since been held up by an overdue request: the next best takes its place.
  r.ReportEarliestDue("cloud-eu", clock.now - 500ms);
  auto h = r.PickHedge(Req(Pol("hedge=on")), {"edge-paris"});
  ASSERT_TRUE(h.has_value());
  EXPECT_NE(*h, "cloud-eu");
  EXPECT_NE(*h, "edge-paris");
  // Residency still fails closed: in eu-fr, with the edge busy, only the phone qualifies; in
  // eu-de only cloud-eu does, and it is busy.
  EXPECT_EQ(r.PickHedge(Req(Pol("residency=eu-fr")), {"edge-paris"}), "phone");
  EXPECT_FALSE(r.PickHedge(Req(Pol("residency=eu-de")), {"cloud-eu"}).has_value());
}

// A link whose bandwidth estimate went stale (nothing large was sent there for explore_after) and
// whose round trip has improved since gets, from the hedge budget, a copy of a large request along
// with its choice; never outside the residency class, never for small requests, once per
// explore_after per node.
TEST(Explore, AStaleBandwidthEstimateGetsACopyOfALargeRequest) {
  const char* topo = R"({"schema_version": 1, "nodes": [
    {"name": "edge", "url": "http://edge", "tier": "edge", "jurisdiction": ["eu"],
     "models": [{"name": "m", "versions": [1], "compute_ms": 5}]},
    {"name": "cloud", "url": "http://cloud", "tier": "cloud", "jurisdiction": ["eu"],
     "models": [{"name": "m", "versions": [1], "compute_ms": 5}]},
    {"name": "cloud-us", "url": "http://cloud-us", "tier": "cloud", "jurisdiction": ["us"],
     "models": [{"name": "m", "versions": [1], "compute_ms": 5}]}],
    "links": [{"from": "gateway", "to": "edge", "rtt_ms": 10, "bandwidth_mbps": 100},
              {"from": "gateway", "to": "cloud", "rtt_ms": 5, "bandwidth_mbps": 4},
              {"from": "gateway", "to": "cloud-us", "rtt_ms": 1, "bandwidth_mbps": 4}]})";
  FakeClock clock;
  RouterOptions o;
  o.clock = clock.fn();
  Router r(Topo(topo), o);
  Request large = Req(Pol("residency=eu"));
  large.input_bytes = 1'000'000;  // 80 ms at 100 Mbit/s, 2 s at 4
  Request small = large;
  small.input_bytes = 1000;
  // Fresh estimates (declared at start): no exploration, however much budget there is.
  for (int i = 0; i < 100; ++i) {
    auto d = r.Decide(large);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->choice, "edge");
    EXPECT_FALSE(d->hedge.has_value());
  }
  clock.now += 11s;
  r.ObserveTransfer("edge", 1'000'000, 90);  // the choice's link is sampled by its own traffic
  // Stale, but nothing says the cloud's link got better: no copy over a link maybe still slow.
  auto d = r.Decide(large);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->hedge.has_value());
  // The light probes find its round trip down from 5 to 1 ms (and cloud-us's from 1 to 0.2).
  for (int i = 0; i < 9; ++i) {
    r.ObserveRtt("cloud", 1);
    r.ObserveRtt("cloud-us", 0.2);
  }
  EXPECT_FALSE(r.Decide(small)->hedge.has_value());
  d = r.Decide(large);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->choice, "edge");
  ASSERT_TRUE(d->hedge.has_value());
  EXPECT_EQ(d->hedge->node, "cloud");  // cloud-us is staler and nearer, but outside eu
  EXPECT_TRUE(d->hedge->explore);
  EXPECT_EQ(d->hedge->delay_ms, 0);
  EXPECT_NE(d->reason.find("explore cloud"), std::string::npos) << d->reason;
  EXPECT_FALSE(r.Decide(large)->hedge.has_value());  // explored: not again for explore_after
  // Without residency, cloud-us (not explored yet) is the one.
  Request anywhere = large;
  anywhere.policy = {};
  d = r.Decide(anywhere);
  ASSERT_TRUE(d->hedge.has_value());
  EXPECT_EQ(d->hedge->node, "cloud-us");
  // The copy's answer shows the cloud's link is fast now: as the answer to an exploration, it
  // replaces what was learned of the old link (the median with the 4 Mbit/s seed would be 212),
  // and large requests go there.
  r.ObserveTransfer("cloud", 1'000'000, 20, /*explored=*/true);
  EXPECT_NEAR(r.EstimatedBandwidthMbps("cloud"), 8.0 / 0.019, 1e-6);  // 8 Mbit in 20 ms - rtt 1 ms
  EXPECT_EQ(r.Decide(large)->choice, "cloud");
  // A request with a hedge of its own is not explored from.
  clock.now += 11s;
  Request hedged = large;
  hedged.policy = Pol("residency=eu; hedge=on");
  d = r.Decide(hedged);
  ASSERT_TRUE(d->hedge.has_value());
  EXPECT_FALSE(d->hedge->explore);
  // The budget pays: spent, no exploration until decisions earn a token again.
  for (int i = 0; i < 9; ++i) r.ObserveRtt("edge", 2);  // the edge's link got better too
  while (r.TryStartHedge()) {
  }
  EXPECT_FALSE(r.Decide(large)->hedge.has_value());
  for (int i = 0; i < 19; ++i) (void)r.Decide(small);
  d = r.Decide(large);  // the 20th decision earns the token
  ASSERT_TRUE(d->hedge.has_value());
  EXPECT_EQ(d->hedge->node, "edge");
  // Off with explore_after = 0.
  o.explore_after = std::chrono::milliseconds(0);
  Router off(Topo(topo), o);
  clock.now += 60s;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(off.Decide(large)->hedge.has_value());
}

TEST(Router, ConcurrentDecisionsAndReports) {
  Router r(Topo());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (r.Decide(Req(Pol("residency=eu; hedge=on"))).ok()) ++ok;
        if (t == 0) r.ReportFailure("edge-paris");
        if (t == 1) r.ProbeResult("edge-paris", true, 8);
        if (t == 2) r.ObserveCompute("cloud-eu", "m", 12);
        if (t == 3) r.ReportQueueDepth("phone", i % 4);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 2000);
}

}  // namespace
}  // namespace continuum::router
