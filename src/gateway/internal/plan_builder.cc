#include "gateway/internal/plan_builder.h"

#include <algorithm>
#include <utility>

namespace continuum::gateway::internal {

std::chrono::milliseconds RequestBudget(const router::Policy& policy, const GatewayOptions& options) {
  auto budget = options.request_timeout;
  if (policy.latency_target_ms) {
    auto t = std::chrono::milliseconds(
        static_cast<int64_t>(*policy.latency_target_ms * options.latency_target_factor));
    budget = std::min(budget, std::max(t, options.min_deadline));
  }
  return budget;
}

Plan BuildPlan(const router::Decision& decision, const router::Topology& topology,
               const GatewayOptions& options, std::chrono::steady_clock::time_point now) {
  const auto budget = RequestBudget(decision.policy, options);
  auto target_of = [&](const std::string& name) -> std::optional<Target> {
    const router::Node* n = topology.FindNode(name);
    if (!n) return std::nullopt;
    // Residency fails closed: never send outside the class, whatever the decision says.
    if (decision.policy.residency && !n->Satisfies(*decision.policy.residency)) return std::nullopt;
    Target t{n->name, n->url};
    if (options.attempt_timeout_factor > 0) {
      for (const auto& c : decision.candidates) {
        if (c.node != name) continue;
        const double ms = std::max(options.attempt_timeout_factor * c.p95_ms,
                                   options.attempt_budget_share * static_cast<double>(budget.count()));
        t.timeout = std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, 1e9)));
      }
    }
    return t;
  };
  Plan plan;
  plan.chain.reserve(1 + decision.fallbacks.size());
  if (auto t = target_of(decision.choice)) plan.chain.push_back(std::move(*t));
  for (const auto& f : decision.fallbacks)
    if (auto t = target_of(f)) plan.chain.push_back(std::move(*t));
  if (!plan.chain.empty()) plan.chain.back().timeout = std::chrono::milliseconds(0);  // what remains
  if (decision.hedge) {
    plan.hedge = target_of(decision.hedge->node);
    plan.hedge_delay =
        std::chrono::microseconds(static_cast<int64_t>(std::max(0.0, decision.hedge->delay_ms) * 1000.0));
  }
  plan.deadline = now + budget;
  // An exploration copy that loses is awaited whatever the setting: its answer is what it is for.
  plan.await_losers = options.await_hedge_losers || (decision.hedge && decision.hedge->explore);
  return plan;
}

std::function<std::optional<Target>(const std::vector<std::string>& busy)> HedgeTargetWhenDue(
    router::Router* router, router::Request request, std::optional<std::string> residency,
    GatewayMetrics* m) {
  return [router, rr = std::move(request), residency = std::move(residency),
          m](const std::vector<std::string>& busy) -> std::optional<Target> {
    if (m) m->hedge_due->Increment();
    auto node = router->PickHedge(rr, busy);
    const auto topology = router->topology();
    const router::Node* n = node ? topology->FindNode(*node) : nullptr;
    if (!n || (residency && !n->Satisfies(*residency))) {  // fails closed
      if (m) m->hedge_no_target->Increment();
      return std::nullopt;
    }
    if (!router->TryStartHedge()) {
      if (m) m->hedge_no_budget->Increment();
      return std::nullopt;
    }
    if (m) m->hedge_sent->Increment();
    return Target{n->name, n->url};  // it may use what remains of the deadline
  };
}

}  // namespace continuum::gateway::internal
