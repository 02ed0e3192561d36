// The end of a routed request: the answer time against the choice's prediction, the metrics, the
// decision log record, and the answer itself (the node's, forwarded, or the gateway's own when
// no candidate served the request). Internal to the gateway.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "gateway/dispatcher.h"
#include "gateway/gateway.h"
#include "gateway/internal/feedback.h"
#include "http/message.h"
#include "router/decision_log.h"
#include "router/router.h"

namespace continuum::gateway::internal {

// The answer when no candidate served the request: which residency class (if any) could not be
// served, how many of the `planned` candidates were tried, and why each failed (briefly). A
// request the gateway could not write (InvalidArgument) keeps its own message: no node was at
// fault.
std::string NoNodeServed(const Outcome& o, const std::optional<std::string>& residency, size_t planned);

// What a dispatched request's end needs to know of it. `reports`, `topology`, and `log` and
// `metrics` when not null, must outlive the dispatch.
struct Finish {
  NodeReports* reports = nullptr;
  std::shared_ptr<const router::Topology> topology;  // the request's snapshot
  router::DecisionLog* log = nullptr;
  GatewayMetrics* metrics = nullptr;
  router::DecisionRecord record;  // RecordFromDecision when `log`; its choice, step and outcome are set here
  std::string reason;             // the decision's, for X-Continuum-Reason
  std::optional<std::string> residency;
  size_t planned = 0;  // candidates in the plan's chain
  std::string choice;
  double choice_p95_ms = 0;
  std::chrono::steady_clock::time_point sent;  // when the dispatch started

  // The answer to the client for `o`, the dispatch having ended at `now`. A served answer's time
  // is observed against the choice's predicted p95 (its hedge delay adapts to it) and counted by
  // node and step; a failure is counted. The routing headers name the node that answered (tier,
  // node, step: 0, k or "hedge"), or "none" when none did; the answer then is the gateway's own,
  // its status from the dispatch's error (503, 504 past the deadline, 400 not writable) and its
  // error NoNodeServed. The record is appended to the log (an append failure is logged).
  http::Response operator()(Outcome o, std::chrono::steady_clock::time_point now);
};

// The record of a request the router refused (no candidate, unknown residency), appended to `log`
// when not null.
void LogRefusal(router::DecisionLog* log, std::string request_id, TimePoint time,
                const router::Request& request, const Status& refusal);

}  // namespace continuum::gateway::internal
