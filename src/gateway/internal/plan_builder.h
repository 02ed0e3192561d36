// The plan of one routed request, built from the router's decision: the deadline, the chain of
// candidates with their per-attempt timeouts, the hedge, and the residency class checked again on
// every target. Internal to the gateway.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gateway/dispatcher.h"
#include "gateway/gateway.h"
#include "router/router.h"

namespace continuum::gateway::internal {

// The request's time budget: latency target x latency_target_factor (at least min_deadline, at
// most request_timeout) when the policy sets a target, else request_timeout.
std::chrono::milliseconds RequestBudget(const router::Policy& policy, const GatewayOptions& options);

// The plan of `decision`, deadline `now` + RequestBudget. Pure: reads only its arguments.
// The chain is the choice then the fallbacks, each only if the topology knows it and (residency
// fails closed) it satisfies the decision's residency class, whatever the decision says. Each
// but the last may wait max(attempt_timeout_factor x its predicted p95, attempt_budget_share x
// the budget) (factor 0: no per-attempt bound); the last gets what remains. The hedge target is
// checked the same way (its delay: the decision's, microsecond-grained). The losers of a hedge
// race are awaited with await_hedge_losers, and always for an exploration copy. An empty chain:
// no candidate inside the residency class. Plan::local is left to the caller.
Plan BuildPlan(const router::Decision& decision, const router::Topology& topology,
               const GatewayOptions& options, std::chrono::steady_clock::time_point now);

// DispatchHooks::hedge_target for a request whose hedge is chosen when due: the best node of that
// moment other than the busy ones (Router::PickHedge), inside the residency class (fails closed),
// and only if the hedge budget has a token. Counts due / no_target / no_budget / sent in
// `metrics` when not null.
std::function<std::optional<Target>(const std::vector<std::string>& busy)> HedgeTargetWhenDue(
    router::Router* router, router::Request request, std::optional<std::string> residency,
    GatewayMetrics* metrics);

}  // namespace continuum::gateway::internal
