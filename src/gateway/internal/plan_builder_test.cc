#include "gateway/internal/plan_builder.h"

#include <gtest/gtest.h>

#include <chrono>

#include "telemetry/metrics.h"

namespace continuum::gateway::internal {
namespace {

using namespace std::chrono_literals;

router::Node NodeIn(std::string name, std::string jurisdiction) {
  router::Node n;
  n.url = "http://" + name;
  n.name = std::move(name);
  n.jurisdiction = {std::move(jurisdiction)};
  return n;
}

router::Topology ThreeNodes() {
  router::Topology t;
  t.nodes = {NodeIn("edge-eu", "eu"), NodeIn("cloud-eu", "eu"), NodeIn("cloud-us", "us")};
  return t;
}

router::Candidate Cand(std::string node, double p95_ms) {
  router::Candidate c;
  c.node = std::move(node);
  c.p95_ms = p95_ms;
  return c;
}

router::Decision ChoiceAndFallbacks() {
  router::Decision d;
  d.choice = "edge-eu";
  d.fallbacks = {"cloud-eu", "cloud-us"};
  d.candidates = {Cand("edge-eu", 100), Cand("cloud-eu", 3000), Cand("cloud-us", 50)};
  return d;
}

const auto kNow = std::chrono::steady_clock::time_point(1000s);

TEST(RequestBudgetTest, LatencyTargetTimesFactorBetweenMinDeadlineAndRequestTimeout) {
  GatewayOptions o;  // 30 s, x20, at least 1 s
  router::Policy p;
  EXPECT_EQ(RequestBudget(p, o), 30000ms);
  p.latency_target_ms = 100;
  EXPECT_EQ(RequestBudget(p, o), 2000ms);
  p.latency_target_ms = 10;  // 200 ms: raised to min_deadline
  EXPECT_EQ(RequestBudget(p, o), 1000ms);
  p.latency_target_ms = 5000;  // 100 s: capped at the request timeout
  EXPECT_EQ(RequestBudget(p, o), 30000ms);
  o.request_timeout = 500ms;  // the cap wins over the minimum
  p.latency_target_ms = 10;
  EXPECT_EQ(RequestBudget(p, o), 500ms);
}

TEST(BuildPlanTest, ChainInOrderEachButTheLastBoundedTheLastGetsWhatRemains) {
  GatewayOptions o;
  router::Decision d = ChoiceAndFallbacks();
  d.policy.latency_target_ms = 100;  // budget 2 s
  const router::Topology t = ThreeNodes();
  Plan plan = BuildPlan(d, t, o, kNow);
  ASSERT_EQ(plan.chain.size(), 3u);
  EXPECT_EQ(plan.chain[0].node, "edge-eu");
  EXPECT_EQ(plan.chain[0].url, "http://edge-eu");
  EXPECT_EQ(plan.chain[0].timeout, 1000ms);   // max(4 x 100, 0.5 x 2000)
  EXPECT_EQ(plan.chain[1].timeout, 12000ms);  // max(4 x 3000, 0.5 x 2000)
  EXPECT_EQ(plan.chain[2].timeout, 0ms);      // the last: what remains
  EXPECT_EQ(plan.deadline, kNow + 2000ms);
  EXPECT_FALSE(plan.hedge);
  EXPECT_EQ(plan.local, nullptr);
  EXPECT_TRUE(plan.await_losers);
}

TEST(BuildPlanTest, NoPerAttemptBoundWhenTheFactorIsZero) {
  GatewayOptions o;
  o.attempt_timeout_factor = 0;
  const router::Topology t = ThreeNodes();
  Plan plan = BuildPlan(ChoiceAndFallbacks(), t, o, kNow);
  ASSERT_EQ(plan.chain.size(), 3u);
  for (const Target& target : plan.chain) EXPECT_EQ(target.timeout, 0ms) << target.node;
  EXPECT_EQ(plan.deadline, kNow + 30000ms);
}

TEST(BuildPlanTest, ResidencyIsCheckedAgainOnEveryTargetWhateverTheDecisionSays) {
  GatewayOptions o;
  router::Decision d = ChoiceAndFallbacks();
  d.policy.residency = "eu";
  d.fallbacks.push_back("unknown-node");
  d.hedge = router::Hedge{.node = "cloud-us", .delay_ms = 5, .explore = false};
  const router::Topology t = ThreeNodes();
  Plan plan = BuildPlan(d, t, o, kNow);
  ASSERT_EQ(plan.chain.size(), 2u);
  EXPECT_EQ(plan.chain[0].node, "edge-eu");
  EXPECT_EQ(plan.chain[1].node, "cloud-eu");
  EXPECT_EQ(plan.chain[1].timeout, 0ms);  // the last inside the class
  EXPECT_FALSE(plan.hedge);               // outside the class

  d.choice = "cloud-us";
  d.fallbacks = {"cloud-us"};
  EXPECT_TRUE(BuildPlan(d, t, o, kNow).chain.empty());  // no candidate inside the class
}

TEST(BuildPlanTest, HedgeDelayIsMicrosecondGrainedAndAnExplorationCopyIsAlwaysAwaited) {
  GatewayOptions o;
  o.await_hedge_losers = false;
  router::Decision d = ChoiceAndFallbacks();
  d.hedge = router::Hedge{.node = "cloud-eu", .delay_ms = 0.25, .explore = false};
  const router::Topology t = ThreeNodes();
  Plan plan = BuildPlan(d, t, o, kNow);
  ASSERT_TRUE(plan.hedge);
  EXPECT_EQ(plan.hedge->node, "cloud-eu");
  EXPECT_EQ(plan.hedge->timeout, 15000ms);  // a candidate: its own bound, max(4 x 3000, 0.5 x 30000)
  EXPECT_EQ(plan.hedge_delay, 250us);
  EXPECT_FALSE(plan.await_losers);
  d.hedge->delay_ms = -3;
  EXPECT_EQ(BuildPlan(d, t, o, kNow).hedge_delay, 0us);
  // An exploration copy that loses is awaited whatever the setting: its answer is what it is for.
  d.hedge->explore = true;
  EXPECT_TRUE(BuildPlan(d, t, o, kNow).await_losers);
}

// Two nodes holding model "m": "near" (eu) and "far" (us).
router::Topology TwoHolders() {
  auto t = router::ParseTopology(R"({"schema_version":1,"nodes":[
    {"name":"near","url":"http://near","tier":"edge","jurisdiction":["eu"],"models":[{"name":"m","versions":[1]}]},
    {"name":"far","url":"http://far","tier":"cloud","jurisdiction":["us"],"models":[{"name":"m","versions":[1]}]}],
    "links":[{"from":"gateway","to":"near","rtt_ms":1,"bandwidth_mbps":1000},
             {"from":"gateway","to":"far","rtt_ms":20,"bandwidth_mbps":1000}]})");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : router::Topology{};
}

TEST(HedgeTargetWhenDueTest, FailsClosedOutsideTheClassAndNeedsAToken) {
  router::RouterOptions ro;
  ro.hedge_fraction = 1;  // a token per decision
  router::Router router(TwoHolders(), ro);
  telemetry::Registry registry;
  GatewayMetrics m(registry, *router.topology());
  router::Request rr;
  rr.model = "m";

  // "near" is busy: the router picks "far", outside the class the request was planned in.
  auto outside = HedgeTargetWhenDue(&router, rr, "eu", &m);
  EXPECT_FALSE(outside({"near"}));
  EXPECT_EQ(m.hedge_no_target->value(), 1u);

  auto hook = HedgeTargetWhenDue(&router, rr, std::nullopt, &m);
  EXPECT_FALSE(hook({"near"}));  // the bucket starts empty
  EXPECT_EQ(m.hedge_no_budget->value(), 1u);
  ASSERT_TRUE(router.Decide(rr).ok());  // earns a token
  auto target = hook({"near"});
  ASSERT_TRUE(target);
  EXPECT_EQ(target->node, "far");
  EXPECT_EQ(target->url, "http://far");
  EXPECT_EQ(target->timeout, 0ms);  // what remains of the deadline
  EXPECT_EQ(m.hedge_sent->value(), 1u);
  EXPECT_EQ(m.hedge_due->value(), 3u);
  EXPECT_FALSE(hook({"near", "far"}));  // nowhere else to go
  EXPECT_EQ(m.hedge_no_target->value(), 2u);
  EXPECT_FALSE(HedgeTargetWhenDue(&router, rr, std::nullopt, nullptr)({"near"}));  // no metrics: fine
}

}  // namespace
}  // namespace continuum::gateway::internal
