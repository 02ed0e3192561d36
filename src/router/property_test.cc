// Property test: over thousands of random topologies, policies and failure sequences, nothing
// is ever dispatched outside the residency class, and "no candidate" is returned exactly when
// no node qualifies.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <set>

#include "router/router.h"

namespace continuum::router {
namespace {

const std::vector<std::string> kClasses = {"eu", "eu-de", "eu-fr", "us", "us-ca", "apac"};
const std::vector<std::string> kModels = {"a", "b", "c"};

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(uint64_t seed) : rng(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
  double Real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
  bool Coin(double p = 0.5) { return std::bernoulli_distribution(p)(rng); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Int(0, static_cast<int>(v.size()) - 1)];
  }
};

Policy RandomPolicy(Gen& g, bool allow_unknown) {
  Policy p;
  if (g.Coin(0.7)) p.residency = allow_unknown && g.Coin(0.05) ? std::string("mars") : g.Pick(kClasses);
  if (g.Coin(0.5)) p.latency_target_ms = g.Real(1, 300);
  if (g.Coin(0.7)) p.objective = static_cast<Objective>(g.Int(0, 2));
  if (g.Coin(0.3)) p.prefer_tier = static_cast<Tier>(g.Int(0, 2));
  if (g.Coin(0.6)) p.hedge = g.Coin(0.9);
  return p;
}

Topology RandomTopology(Gen& g) {
  Topology t;
  t.residency_classes = kClasses;
  int n = g.Int(1, 8);
  for (int i = 0; i < n; ++i) {
    Node node;
    node.name = "n" + std::to_string(i);
    node.url = "http://" + node.name;
    node.tier = static_cast<Tier>(g.Int(0, 2));
    for (const auto& c : kClasses) {
      if (g.Coin(0.45)) node.jurisdiction.push_back(c);
    }
    node.cost_per_compute_second = g.Coin(0.2) ? 0 : g.Real(0, 0.01);
    node.energy_per_compute_second = g.Real(0, 300);
    for (const auto& m : kModels) {
      if (!g.Coin(0.75)) continue;
      ModelHolding h;
      h.name = m;
      for (int v = 1; v <= 3; ++v) {
        if (g.Coin(0.6)) h.versions.push_back(v);
      }
      if (h.versions.empty()) h.versions.push_back(g.Int(1, 3));
      h.instances = g.Int(1, 4);
      h.compute_ms = g.Real(0.5, 100);
      node.models.push_back(h);
    }
    t.nodes.push_back(node);
  }
  for (const auto& node : t.nodes) {
    if (g.Coin(0.8)) t.links.push_back({t.origin, node.name, g.Real(0, 150), g.Real(1, 10'000)});
  }
  for (const auto& m : kModels) {
    if (g.Coin(0.3)) t.model_defaults[m] = RandomPolicy(g, false);
  }
  return t;
}

// The oracle reads the rules as the README states them, on purpose without the router's own
// `MergePolicy`, `Node::Satisfies` or `Node::FindModel`, so a mistake there is not copied into
// the expectation: the request's residency class if it names one, else its model's default;
// a node qualifies when its jurisdiction lists that class and it holds the version (0: any).
std::optional<std::string> DefaultResidency(const Topology& t, const std::string& model) {
  for (const auto& [name, policy] : t.model_defaults) {
    if (name == model) return policy.residency;
  }
  return std::nullopt;
}

std::optional<std::string> OracleResidency(const Topology& t, const Request& r) {
  return r.policy.residency ? r.policy.residency : DefaultResidency(t, r.model);
}

bool OracleInClass(const Node& n, const std::optional<std::string>& cls) {
  if (!cls) return true;
  for (const std::string& j : n.jurisdiction) {
    if (j == *cls) return true;
  }
  return false;
}

bool OracleHolds(const Node& n, const std::string& model, int64_t version) {
  for (const ModelHolding& h : n.models) {
    if (h.name != model) continue;
    if (version == 0) return true;
    for (int64_t v : h.versions) {
      if (v == version) return true;
    }
  }
  return false;
}

TEST(RouterProperty, ResidencyNeverViolatedAndNoCandidateExactlyWhenNoneQualifies) {
  Gen g(0xC0471A11u);
  int decisions = 0, refusals = 0, dispatches = 0, hedges = 0, overrides = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Topology topo = RandomTopology(g);
    RouterOptions opts;
    opts.eject_after_failures = g.Int(1, 3);
    opts.hedge_fraction = g.Coin() ? 0.05 : 0.5;  // exercise hedging often
    Router router(topo, opts);
    // Random observed state.
    for (const auto& node : topo.nodes) {
      if (g.Coin(0.5)) router.ReportQueueDepth(node.name, g.Int(0, 20));
      if (g.Coin(0.3)) router.ObserveRtt(node.name, g.Real(0, 200));
      if (g.Coin(0.3)) router.ObserveTransfer(node.name, g.Int(1, 1 << 20), g.Real(1, 500));
      for (const auto& m : node.models) {
        if (g.Coin(0.3)) router.ObserveCompute(node.name, m.name, g.Real(0.1, 200));
      }
      int failures = g.Coin(0.3) ? g.Int(1, 4) : 0;
      for (int f = 0; f < failures; ++f) router.ReportFailure(node.name);
    }
    for (int req = 0; req < 8; ++req) {
      Request r;
      r.model = g.Pick(kModels);
      r.version = g.Int(0, 3);
      r.input_bytes = g.Int(0, 4 << 20);
      r.expected_output_bytes = g.Int(0, 1 << 20);
      r.policy = RandomPolicy(g, true);
      const std::optional<std::string> cls = OracleResidency(topo, r);
      if (r.policy.residency && DefaultResidency(topo, r.model) &&
          *r.policy.residency != *DefaultResidency(topo, r.model))
        ++overrides;

      // The oracle, straight from the topology data.
      auto resident = [&](const Node& n) { return OracleInClass(n, cls); };
      std::set<std::string> qualifying;
      for (const auto& n : topo.nodes) {
        if (OracleHolds(n, r.model, r.version) && resident(n) && router.IsHealthy(n.name))
          qualifying.insert(n.name);
      }
      auto d = router.Decide(r);
      ++decisions;
      if (qualifying.empty()) {
        ASSERT_FALSE(d.ok()) << "iter " << iter << ": a decision although no node qualifies";
        ++refusals;
        continue;
      }
      ASSERT_TRUE(d.ok()) << "iter " << iter << ": " << d.status().ToString();
      ASSERT_EQ(d->policy.residency, cls) << "iter " << iter << ": the effective residency class";
      // Choice, fallbacks and hedge: all qualifying, no repeats, and together every qualifying node.
      std::vector<std::string> order = {d->choice};
      order.insert(order.end(), d->fallbacks.begin(), d->fallbacks.end());
      std::set<std::string> seen(order.begin(), order.end());
      ASSERT_EQ(seen.size(), order.size()) << "iter " << iter << ": repeated node";
      ASSERT_EQ(seen, qualifying) << "iter " << iter;
      for (const auto& name : order) {
        ASSERT_TRUE(resident(*topo.FindNode(name)))
            << "iter " << iter << ": " << name << " outside residency";
      }
      if (d->hedge) {
        ++hedges;
        ASSERT_EQ(d->hedge->node, d->fallbacks.at(0));
        ASSERT_TRUE(resident(*topo.FindNode(d->hedge->node)));
        ASSERT_GE(d->hedge->delay_ms, d->candidates[0].predicted_ms);
      }
      ASSERT_EQ(d->candidates.size(), order.size());
      ASSERT_FALSE(d->reason.empty());
      // Walk the fallback list under random failures, as the gateway would.
      for (const auto& name : order) {
        ++dispatches;
        ASSERT_TRUE(resident(*topo.FindNode(name)));
        if (g.Coin(0.6)) {
          router.ReportFailure(name);
        } else {
          router.ReportSuccess(name);
          break;
        }
      }
      // Failures on random nodes (anywhere), and sometimes a successful probe.
      if (g.Coin(0.3)) router.ReportFailure(g.Pick(topo.nodes).name);
      if (g.Coin(0.2)) router.ProbeResult(g.Pick(topo.nodes).name, g.Coin(0.7), g.Real(0, 100));
    }
  }
  // The generator exercises both outcomes and the hedge.
  EXPECT_GT(refusals, decisions / 20);
  EXPECT_LT(refusals, decisions * 7 / 10);
  EXPECT_GT(hedges, 100);
  EXPECT_GT(dispatches, (decisions - refusals) / 2);
  EXPECT_GT(overrides, 100) << "requests whose class differs from their model's default";
  std::printf("decisions %d, refusals %d, dispatches %d, hedges %d\n", decisions, refusals, dispatches,
              hedges);
}

// Over random topologies, at most 5% of the decisions that reach placement carry a hedge.
TEST(RouterProperty, HedgeBudgetNeverExceedsFivePercent) {
  Gen g(7);
  for (int iter = 0; iter < 200; ++iter) {
    Topology topo = RandomTopology(g);
    Router router(topo);
    int hedged = 0, n = 0;
    for (int i = 0; i < 200; ++i) {
      Request r;
      r.model = g.Pick(kModels);
      r.policy.hedge = true;
      auto d = router.Decide(r);
      if (!d.ok()) continue;  // a refusal never reaches the bucket
      ++n;
      // The worst case for the budget: every hedge falls due (the choice is always slow).
      if (d->hedge && router.TryStartHedge()) ++hedged;
      ASSERT_LE(hedged, 0.05 * n + 1e-9);
    }
  }
}

}  // namespace
}  // namespace continuum::router
